//! `ir3-bench`: starts an ir3 node (durable, fsync on) and an Anvil node side by side, runs the
//! same JSON-RPC workloads against each and prints every figure for both with the ratio
//! ir3/anvil.
//!
//! Workloads: closed-loop transfers (send, poll the receipt, send the next) with 10 and 100
//! senders, an open-loop burst of pre-signed transfers from 100 senders, `eth_call` and
//! `eth_getBalance` on 64 keep-alive connections, and the resident memory of each node after
//! the load and after an idle period. See `bench/README.md`.

mod report;
mod workloads;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use alloy_primitives::U256;
use alloy_signer_local::PrivateKeySigner;
use clap::Parser;
use hyper::body::Bytes;
use ir3_bench::{error, figures, node, rpc, wallet};
use serde_json::json;

use crate::{
    error::{BenchError, Result},
    node::{Node, Which, cpu_model, require_binaries, rss_kib, workspace_root},
    report::NodeReport,
    rpc::Conn,
    wallet::{MAX_FEE_PER_GAS, TRANSFER_GAS, derive_signers},
};

/// Mnemonic indexes both nodes fund at genesis (the closed loop with 10 senders uses them).
const FUNDED: usize = 10;
/// Senders of the 100-sender closed loop and of the burst (indexes 10..110, funded by index 0).
const MANY: usize = 100;

/// Benchmarks ir3 against Anvil with identical JSON-RPC workloads.
#[derive(Debug, Clone, Parser)]
#[command(name = "ir3-bench", version)]
struct Cli {
    /// The ir3 binary [default: <workspace>/target/release/ir3].
    #[arg(long, value_name = "PATH")]
    ir3_bin: Option<PathBuf>,

    /// The Anvil binary [default: <workspace>/scripts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil].
    #[arg(long, value_name = "PATH")]
    anvil_bin: Option<PathBuf>,

    /// Benchmark only this node.
    #[arg(long, value_enum)]
    only: Option<Which>,

    /// Closed loop: transactions each sender sends (with 10 and with 100 senders).
    #[arg(long, default_value_t = 50)]
    txs_per_sender: usize,

    /// Burst: pre-signed transactions per sender (100 senders).
    #[arg(long, default_value_t = 30)]
    burst_per_sender: usize,

    /// Duration of each read test, in seconds.
    #[arg(long, default_value_t = 5.0)]
    read_secs: f64,

    /// Keep-alive connections of the read tests.
    #[arg(long, default_value_t = 64)]
    read_connections: usize,

    /// Idle period before the second memory sample, in seconds.
    #[arg(long, default_value_t = 30.0)]
    idle_secs: f64,

    /// How long the burst (and the funding) may take to be mined, in seconds.
    #[arg(long, default_value_t = 180.0)]
    mine_timeout_secs: f64,

    /// Closed loop: receipt polling interval, in milliseconds.
    #[arg(long, default_value_t = 1.0)]
    poll_ms: f64,

    /// Closed loop: how long one receipt may take, in seconds.
    #[arg(long, default_value_t = 60.0)]
    receipt_timeout_secs: f64,

    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Leaving `run` (normally, by error, by panic or by Ctrl-C) drops the nodes: killed.
    node::run_to_exit(run(&cli)).await
}

fn progress(node: &str, message: &str) {
    eprintln!("[{node}] {message}");
}

async fn run(cli: &Cli) -> Result<()> {
    let root = workspace_root();
    let ir3_bin = cli.ir3_bin.clone().unwrap_or_else(|| root.join("target/release/ir3"));
    let anvil_bin = cli.anvil_bin.clone().unwrap_or_else(|| {
        root.join("scripts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    });
    let which = match cli.only {
        Some(only) => vec![only],
        None => vec![Which::Ir3, Which::Anvil],
    };
    require_binaries(&which, &ir3_bin, &anvil_bin)?;

    let signers = tokio::task::spawn_blocking(|| derive_signers((FUNDED + MANY) as u32)).await??;
    // Declared before the nodes so it is removed after they are killed.
    let scratch = tempfile::Builder::new().prefix("ir3-bench-").tempdir()?;

    let mut nodes: Vec<(Node, NodeReport)> = Vec::new();
    for kind in &which {
        let node = match kind {
            Which::Ir3 => {
                let data: OsString = scratch.path().join("ir3-data").into();
                Node::spawn(
                    "ir3",
                    &ir3_bin,
                    vec!["--data-dir".into(), data],
                    scratch.path().join("ir3.log"),
                )?
            }
            Which::Anvil => Node::spawn(
                "anvil",
                &anvil_bin,
                vec!["--chain-id".into(), "1337".into()],
                scratch.path().join("anvil.log"),
            )?,
        };
        let report = NodeReport {
            name: node.name.into(),
            command: node.command.clone(),
            ..Default::default()
        };
        nodes.push((node, report));
    }
    for (node, report) in &mut nodes {
        node.wait_ready().await?;
        report.rss_start_kib = node.rss_kib();
        report.version = Conn::connect(node.addr).await?.client_version().await.ok();
        progress(node.name, &format!("ready on {} (pid {})", node.addr, node.pid()));
    }

    let idle = Duration::from_secs_f64(cli.idle_secs);
    let mut idle_samples = Vec::new();
    for (node, report) in &mut nodes {
        run_workloads(node, report, &signers, cli).await;
        report.rss_after_load_kib = node.rss_kib();
        let pid = node.pid();
        idle_samples.push(tokio::spawn(async move {
            tokio::time::sleep(idle).await;
            rss_kib(pid)
        }));
        progress(
            node.name,
            &format!("load done; memory sampled again after {:.0} s idle", cli.idle_secs),
        );
    }
    for ((node, report), sample) in nodes.iter_mut().zip(idle_samples) {
        report.rss_after_idle_kib = sample.await?;
        if let Some(status) = node.exited() {
            report
                .notes
                .push(format!("process exited ({status}); last output:\n{}", node.log_tail(20)));
        }
    }
    // Stop the nodes before printing.
    let reports: Vec<NodeReport> = nodes.into_iter().map(|(_node, report)| report).collect();
    drop(scratch);

    print_results(cli, &which, &reports, &ir3_bin, &anvil_bin);
    Ok(())
}

/// Records a failed step; returns whether the node is still running.
fn check(node: &mut Node, report: &mut NodeReport, step: &str, error: Option<BenchError>) -> bool {
    if let Some(error) = error {
        progress(node.name, &format!("{step} FAILED: {error}"));
        report.notes.push(format!("{step}: {error}"));
    }
    if let Some(status) = node.exited() {
        report.notes.push(format!(
            "process exited ({status}) after {step}; last output:\n{}",
            node.log_tail(20)
        ));
        progress(
            node.name,
            &format!("process exited ({status}); skipping the remaining workloads"),
        );
        return false;
    }
    true
}

/// Runs every workload on one node, recording results and failures in `report`.
async fn run_workloads(
    node: &mut Node,
    report: &mut NodeReport,
    signers: &[PrivateKeySigner],
    cli: &Cli,
) {
    let addr = node.addr;
    let name = node.name;
    let receipt_timeout = Duration::from_secs_f64(cli.receipt_timeout_secs);
    let poll = Duration::from_secs_f64(cli.poll_ms / 1e3);
    let mine_timeout = Duration::from_secs_f64(cli.mine_timeout_secs);

    // 1. Closed loop with the 10 genesis-funded senders, then with 100 freshly funded ones.
    let mut funded = false;
    for senders in [FUNDED, MANY] {
        let keys = if senders == FUNDED {
            &signers[..FUNDED]
        } else {
            progress(
                name,
                &format!(
                    "funding mnemonic indexes {FUNDED}..{} from index 0 (not timed)",
                    FUNDED + MANY
                ),
            );
            let outcome =
                workloads::fund(addr, &signers[0], &signers[FUNDED..], funding(cli), mine_timeout)
                    .await;
            let failed = outcome.is_err();
            if !check(node, report, "funding the 100 senders", outcome.err()) {
                return;
            }
            if failed {
                break;
            }
            funded = true;
            &signers[FUNDED..]
        };
        let step = format!("closed loop, {senders} senders x {} txs", cli.txs_per_sender);
        progress(name, &step);
        let outcome =
            workloads::closed_loop(addr, keys, cli.txs_per_sender, poll, receipt_timeout).await;
        let error = match outcome {
            Ok(result) => {
                progress(
                    name,
                    &format!(
                        "  {}/{} mined, {:.1} tx/s, p50 {:.2} ms, p99 {:.2} ms",
                        result.mined,
                        result.planned,
                        result.mined_per_sec,
                        result.p50_ms.unwrap_or(f64::NAN),
                        result.p99_ms.unwrap_or(f64::NAN)
                    ),
                );
                if let Some(first) = &result.first_error {
                    report.notes.push(format!(
                        "{step}: {} sender(s) stopped on an error; first: {first}",
                        result.failed_senders
                    ));
                }
                report.closed_loop.push(result);
                None
            }
            Err(error) => Some(error),
        };
        if !check(node, report, &step, error) {
            return;
        }
    }

    // 2. Open-loop burst from the 100 funded senders.
    if funded {
        let step = format!("burst, {MANY} senders x {} txs", cli.burst_per_sender);
        progress(name, &step);
        let outcome =
            workloads::burst(addr, &signers[FUNDED..], cli.burst_per_sender, mine_timeout).await;
        let error = match outcome {
            Ok(result) => {
                progress(
                    name,
                    &format!(
                        "  accepted {}/{} at {:.1} tx/s; mined {} in {} ({} blocks)",
                        result.accepted,
                        result.sent,
                        result.accepted_per_sec,
                        result.mined,
                        result.mined_secs.map_or_else(
                            || format!("NOT ALL after {:.0} s", result.timeout_secs),
                            |s| format!("{s:.2} s")
                        ),
                        result.blocks
                    ),
                );
                if let Some(first) = &result.first_error {
                    report
                        .notes
                        .push(format!("{step}: {} rejected; first: {first}", result.rejected));
                }
                if !result.all_mined {
                    report.notes.push(format!(
                        "{step}: only {} of {} mined after {:.0} s",
                        result.mined, result.sent, result.timeout_secs
                    ));
                }
                report.burst = Some(result);
                None
            }
            Err(error) => Some(error),
        };
        if !check(node, report, &step, error) {
            return;
        }
    }

    // 3. Reads on keep-alive connections.
    let read_time = Duration::from_secs_f64(cli.read_secs);
    let data = format!("0x{}", "ab".repeat(32));
    let reads = [
        (
            "eth_call",
            json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_call",
                    "params": [{ "to": "0x0000000000000000000000000000000000000004", "data": data }, "latest"] }),
        ),
        (
            "eth_getBalance",
            json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_getBalance",
                    "params": [signers[1].address(), "latest"] }),
        ),
    ];
    for (method, request) in reads {
        let step =
            format!("{method}, {} connections x {:.0} s", cli.read_connections, cli.read_secs);
        progress(name, &step);
        let body = Bytes::from(request.to_string());
        if method == "eth_call" {
            // Sanity check: the identity precompile echoes its input.
            match Conn::connect(addr).await {
                Ok(mut conn) => match conn.call_raw(body.clone()).await {
                    Ok(answer) if answer == json!(data) => {}
                    Ok(answer) => {
                        report.notes.push(format!("eth_call returned {answer}, expected {data}"))
                    }
                    Err(error) => report.notes.push(format!("eth_call sanity check: {error}")),
                },
                Err(error) => report.notes.push(format!("eth_call sanity check: {error}")),
            }
        }
        let outcome = workloads::reads(addr, body, cli.read_connections, read_time).await;
        let error = match outcome {
            Ok(result) => {
                progress(name, &format!("  {:.0} req/s, {} errors", result.per_sec, result.errors));
                if let Some(first) = &result.first_error {
                    report.notes.push(format!("{step}: {} errors; first: {first}", result.errors));
                }
                match method {
                    "eth_call" => report.eth_call = Some(result),
                    _ => report.eth_get_balance = Some(result),
                }
                None
            }
            Err(error) => Some(error),
        };
        if !check(node, report, &step, error) {
            return;
        }
    }
}

/// Wei each of the 100 senders gets: enough for all its transactions' worst-case fees, plus 1 ETH.
fn funding(cli: &Cli) -> U256 {
    let txs = (cli.txs_per_sender + cli.burst_per_sender + 10) as u128;
    let ether = 1_000_000_000_000_000_000u128;
    let wei = (txs * u128::from(TRANSFER_GAS) * MAX_FEE_PER_GAS + ether).min(90 * ether);
    U256::from(wei)
}

fn print_results(
    cli: &Cli,
    which: &[Which],
    reports: &[NodeReport],
    ir3_bin: &Path,
    anvil_bin: &Path,
) {
    let find = |name: &str| reports.iter().find(|r| r.name == name);
    let rows = report::figures(find("ir3"), find("anvil"), cli.idle_secs);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = cpu_model();
    if cli.json {
        let output = json!({
            "command": command,
            "cores": cores,
            "cpu": cpu,
            "sizes": {
                "txs_per_sender": cli.txs_per_sender,
                "poll_ms": cli.poll_ms,
                "burst_per_sender": cli.burst_per_sender,
                "burst_senders": MANY,
                "read_secs": cli.read_secs,
                "read_connections": cli.read_connections,
                "idle_secs": cli.idle_secs,
                "mine_timeout_secs": cli.mine_timeout_secs,
            },
            "figures": figures::figures_json(&rows),
            "nodes": reports,
        });
        println!("{}", serde_json::to_string_pretty(&output).unwrap_or_default());
        return;
    }
    println!("ir3-bench: ir3 vs anvil");
    println!("command: {command}");
    println!("cores:   {cores}{}", cpu.map(|c| format!(" ({c})")).unwrap_or_default());
    for kind in which {
        let (name, bin) = match kind {
            Which::Ir3 => ("ir3", ir3_bin),
            Which::Anvil => ("anvil", anvil_bin),
        };
        if let Some(r) = find(name) {
            println!(
                "{name:<6} {} [{}]\n       {}",
                bin.display(),
                r.version.as_deref().unwrap_or("?"),
                r.command
            );
        }
    }
    println!(
        "sizes:  closed loop 10 and {MANY} senders x {} txs (receipt poll {} ms); \
         burst {MANY} senders x {} txs; reads {} connections x {} s; idle {} s",
        cli.txs_per_sender,
        cli.poll_ms,
        cli.burst_per_sender,
        cli.read_connections,
        cli.read_secs,
        cli.idle_secs
    );
    println!();
    print!("{}", figures::table(&rows));
    for r in reports {
        for note in &r.notes {
            println!("note [{}]: {note}", r.name);
        }
    }
}
