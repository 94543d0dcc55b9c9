//! `ir3-netbench`: starts a set of ir3 gateways in network mode on loopback (five by default,
//! 127.0.0.21 .. 127.0.0.25), sends pre-signed transfers to them round-robin at a steady
//! open-loop rate, and prints how long each transaction takes to be accepted and to be final on
//! every gateway, and how many P2P bytes the gateways sent per transaction and per second idle
//! (from the kernel's per-socket counters, `ss -tinpH`). See `bench/README.md`.
//!
//! Exits non-zero if any transaction is rejected, dropped, or not final on every gateway within
//! `--final-timeout-secs` of its send.

mod load;
mod wire;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use ir3_bench::{
    cluster::{self, NetConfig, NetNode},
    error::{BenchError, Result},
    figures::percentile_ms,
    node::{cpu_model, run_to_exit, workspace_root},
    rpc::{Conn, quantity},
    wallet::{RECIPIENT, derive_signers},
};
use serde_json::json;

use crate::{
    load::{LoadConfig, LoadResult},
    wire::{Owners, Traffic},
};

/// Dev accounts every ir3 node funds at genesis by default.
const DEFAULT_ACCOUNTS: usize = 10;
/// Last octet of the first gateway's address (`127.0.0.<FIRST_OCTET + i>`).
const FIRST_OCTET: usize = 21;

/// Benchmarks ir3's network mode: latency to finality on every gateway, P2P bytes per
/// transaction.
#[derive(Debug, Clone, Parser)]
#[command(name = "ir3-netbench", version)]
struct Cli {
    /// The ir3 binary [default: <workspace>/target/release/ir3].
    #[arg(long, value_name = "PATH")]
    ir3_bin: Option<PathBuf>,

    /// Gateways in the set (at 127.0.0.21, .22, ...).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(2..=100))]
    gateways: u8,

    /// Transactions to send.
    #[arg(long, default_value_t = 300)]
    txs: usize,

    /// Send rate in transactions per second (open loop).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,

    /// Senders (dev accounts 0..N of the mnemonic), each with its own nonce sequence.
    #[arg(long, default_value_t = 10)]
    senders: usize,

    /// `--epoch-ms` of `ir3 network init`.
    #[arg(long, default_value_t = 200)]
    epoch_ms: u64,

    /// `--grace-ms` of `ir3 network init` (time after an epoch's end before it is closed).
    #[arg(long, default_value_t = 100)]
    grace_ms: u64,

    /// `--propose-ms` of `ir3 network init` (the propose timeout) [400].
    #[arg(long)]
    propose_ms: Option<u64>,

    /// `--target-block-ms` of `ir3 network init` (least time between two heights) [100].
    #[arg(long)]
    target_block_ms: Option<u64>,

    /// Interval between two `ir3_transactionStatus` polls of one gateway, in milliseconds.
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,

    /// How long a transaction may take from its send to be final on every gateway, in seconds.
    #[arg(long, default_value_t = 60.0)]
    final_timeout_secs: f64,

    /// Quiet time after the mesh is up, before the idle measurement, in seconds.
    #[arg(long, default_value_t = 3.0)]
    settle_secs: f64,

    /// Length of the idle measurement (two socket snapshots this far apart), in seconds.
    #[arg(long, default_value_t = 5.0)]
    idle_secs: f64,

    /// `--log` filter of the gateways (their output is scanned for WARN/ERROR lines).
    #[arg(long, value_name = "FILTER")]
    node_log: Option<String>,

    /// Gateways killed (SIGKILL, the last ones) after the mesh is up and before the load: the
    /// load goes round-robin over the others, finality is awaited on the others.
    #[arg(long, default_value_t = 0)]
    down: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Leaving `run` (normally, by error, by panic or by Ctrl-C) drops the gateways: killed,
    // and their temp directory removed.
    run_to_exit(run(&cli)).await
}

fn progress(message: &str) {
    eprintln!("[netbench] {message}");
}

/// Everything the report prints.
struct Measured {
    version: Option<String>,
    majority: Option<u64>,
    mesh: Duration,
    idle: Traffic,
    load: LoadResult,
    traffic: Traffic,
    balances: Vec<u64>,
    finalized: Vec<Option<u64>>,
}

async fn run(cli: &Cli) -> Result<()> {
    if cli.txs == 0 || cli.senders == 0 || !cli.rate.is_finite() || cli.rate <= 0.0 {
        return Err(BenchError::Setup("--txs, --senders and --rate must be positive".into()));
    }
    let bin = cli.ir3_bin.clone().unwrap_or_else(|| workspace_root().join("target/release/ir3"));
    if !bin.is_file() {
        return Err(BenchError::Setup(format!(
            "{} not found: build it with `cargo build --release -p ir3` or pass --ir3-bin",
            bin.display()
        )));
    }
    let senders = cli.senders;
    let signers = tokio::task::spawn_blocking(move || derive_signers(senders as u32)).await??;
    // Declared before the gateways so it is removed after they are killed.
    let scratch = tempfile::Builder::new().prefix("ir3-netbench-").tempdir()?;
    if cli.down >= usize::from(cli.gateways) {
        return Err(BenchError::Setup("--down must leave at least one gateway up".into()));
    }
    let (epoch_ms, grace_ms) = (cli.epoch_ms, cli.grace_ms);
    let mut flags =
        vec!["--epoch-ms".into(), epoch_ms.to_string(), "--grace-ms".into(), grace_ms.to_string()];
    if let Some(ms) = cli.propose_ms {
        flags.extend(["--propose-ms".into(), ms.to_string()]);
    }
    if let Some(ms) = cli.target_block_ms {
        flags.extend(["--target-block-ms".into(), ms.to_string()]);
    }
    let network = cluster::init_network(&bin, usize::from(cli.gateways), scratch.path(), &flags)?;
    let config = NetConfig {
        bin: bin.clone(),
        gateways: usize::from(cli.gateways),
        epoch_ms,
        grace_ms,
        accounts: cli.senders.max(DEFAULT_ACCOUNTS),
        segment_blocks: None,
        extra: Vec::new(),
        log: cli.node_log.clone(),
        network,
    };
    progress(&format!("starting {} gateways of {}", config.gateways, bin.display()));
    let mut gateways = cluster::start_gateways(&config, scratch.path(), "gw", FIRST_OCTET).await?;
    let outcome = measure(cli, &mut gateways, &signers).await;
    let problems = cluster::node_problems(&mut gateways);
    if let Err(error) = &outcome {
        progress(&format!("FAILED: {error}"));
        for line in &problems {
            progress(line);
        }
    }
    let measured = outcome?;
    drop(gateways);
    drop(scratch);
    print_report(cli, &bin, &config, &measured, &problems);
    Ok(())
}

/// Mesh, idle traffic, the load and its traffic, and the end-state checks.
async fn measure(
    cli: &Cli,
    gateways: &mut [NetNode],
    signers: &[alloy_signer_local::PrivateKeySigner],
) -> Result<Measured> {
    let addrs: Vec<_> = gateways.iter().map(|g| g.node.addr).collect();
    for gateway in gateways.iter() {
        progress(&format!(
            "{} pid {} rpc {} p2p {}",
            gateway.node.name,
            gateway.node.pid(),
            gateway.node.addr,
            gateway.p2p
        ));
    }
    let mesh = cluster::wait_mesh(gateways).await?;
    progress(&format!("full mesh after {:.2} s", mesh.as_secs_f64()));
    let up = gateways.len() - cli.down;
    for gateway in &mut gateways[up..] {
        progress(&format!("killing {} (SIGKILL): it stays down", gateway.node.name));
        gateway.node.kill_now();
    }
    let gateways = &mut gateways[..up];
    let addrs = &addrs[..up];
    let status = cluster::network_status(addrs[0]).await?;
    let majority = status["majority"].as_u64();
    let version = Conn::connect(addrs[0]).await?.client_version().await.ok();

    let owners =
        Owners { gateways: gateways.iter().map(|g| (g.node.pid(), g.node.addr.port())).collect() };
    tokio::time::sleep(Duration::from_secs_f64(cli.settle_secs)).await;
    let s0 = wire::snapshot(&owners)?;
    tokio::time::sleep(Duration::from_secs_f64(cli.idle_secs)).await;
    let s1 = wire::snapshot(&owners)?;
    let idle = wire::traffic(&s0, &s1, &owners);
    progress(&format!(
        "idle: {:.0} B/s over {:.1} s on {} P2P sockets",
        idle.per_sec(),
        idle.elapsed.as_secs_f64(),
        idle.sockets
    ));

    let balance_before = balances(addrs).await?;
    let mut conn = Conn::connect(addrs[0]).await?;
    let mut nonces = Vec::with_capacity(signers.len());
    for signer in signers {
        nonces.push(conn.nonce(signer.address()).await?);
    }
    let (plan_signers, txs, n) = (signers.to_vec(), cli.txs, addrs.len());
    let planned =
        tokio::task::spawn_blocking(move || load::plan(&plan_signers, &nonces, txs, n)).await??;
    progress(&format!("sending {} txs at {} tx/s round-robin", cli.txs, cli.rate));
    let config = LoadConfig {
        rate: cli.rate,
        poll: Duration::from_millis(cli.poll_ms),
        final_timeout: Duration::from_secs_f64(cli.final_timeout_secs),
    };
    let load = load::run(addrs, planned, config).await?;
    let s2 = wire::snapshot(&owners)?;
    let traffic = wire::traffic(&s1, &s2, &owners);
    progress(&format!(
        "all {} final on every gateway {:.2} s after the first send",
        cli.txs,
        load.total.as_secs_f64()
    ));

    let balance_after = balances(addrs).await?;
    let gained: Vec<u64> =
        balance_after.iter().zip(&balance_before).map(|(a, b)| a.saturating_sub(*b)).collect();
    if let Some((index, got)) = gained.iter().enumerate().find(|(_, g)| **g != cli.txs as u64) {
        return Err(BenchError::Setup(format!(
            "gw{index}: the recipient gained {got} wei, expected {} (one per transfer)",
            cli.txs
        )));
    }
    let mut finalized = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let status = cluster::network_status(addr).await?;
        finalized.push(status["finalizedBlock"].as_u64());
    }
    Ok(Measured { version, majority, mesh, idle, load, traffic, balances: gained, finalized })
}

/// `eth_getBalance(RECIPIENT, "latest")` on every gateway.
async fn balances(addrs: &[std::net::SocketAddr]) -> Result<Vec<u64>> {
    let mut all = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let mut conn = Conn::connect(addr).await?;
        all.push(quantity(&conn.call("eth_getBalance", json!([RECIPIENT, "latest"])).await?)?);
    }
    Ok(all)
}

/// Milliseconds with two decimals, or `-`.
fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// Thousands-separated integer.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_report(
    cli: &Cli,
    bin: &std::path::Path,
    config: &NetConfig,
    m: &Measured,
    problems: &[String],
) {
    let n = config.gateways;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let last = FIRST_OCTET + n - 1;
    println!("ir3-netbench: {n} ir3 gateways in network mode on loopback");
    println!("command:    {command}");
    println!("binary:     {} [{}]", bin.display(), m.version.as_deref().unwrap_or("?"));
    println!("cores:      {cores}{}", cpu_model().map(|c| format!(" ({c})")).unwrap_or_default());
    println!(
        "gateways:   {n} validators (127.0.0.{FIRST_OCTET}..127.0.0.{last}), quorum {}, epoch {} ms, grace {} ms, agreement Malachite{}",
        m.majority.map_or_else(|| "?".into(), |v| v.to_string()),
        config.epoch_ms,
        config.grace_ms,
        if cli.down > 0 { format!(", {} killed before the load", cli.down) } else { String::new() }
    );
    println!(
        "load:       {} EIP-1559 transfers from {} senders, {} tx/s open loop, round-robin over \
         the gateways; status poll every {} ms per gateway",
        cli.txs, cli.senders, cli.rate, cli.poll_ms
    );
    println!("mesh:       full (net_peerCount = {}) after {:.2} s", n - 1, m.mesh.as_secs_f64());
    println!();

    let load = &m.load;
    let rows = [
        ("send -> hash returned (sending gateway)", load.accept_latencies()),
        ("send -> final on the sending gateway", load.final_sender_latencies()),
        ("send -> final on the first gateway", load.final_first_latencies()),
        (&*format!("send -> final on all {n} gateways"), load.final_everywhere_latencies()),
    ];
    println!("{:<44} {:>9} {:>9} {:>9} {:>6}", "latency (ms)", "p50", "p99", "max", "txs");
    for (label, sorted) in &rows {
        println!(
            "{label:<44} {:>9} {:>9} {:>9} {:>6}",
            ms(percentile_ms(sorted, 0.50)),
            ms(percentile_ms(sorted, 0.99)),
            ms(percentile_ms(sorted, 1.0)),
            sorted.len()
        );
    }
    println!();
    let (first_block, last_block, agree) = load.blocks();
    println!(
        "sending:    {} sends in {:.2} s ({:.1} tx/s); all final everywhere {:.2} s after the \
         first send",
        load.times.len(),
        load.send_span.as_secs_f64(),
        (load.times.len().saturating_sub(1)) as f64 / load.send_span.as_secs_f64().max(1e-9),
        load.total.as_secs_f64()
    );
    println!(
        "blocks:     txs final in blocks {}..{}; same block on every gateway for every tx: {}; \
         finalizedBlock now {:?}",
        first_block.map_or_else(|| "?".into(), |b| b.to_string()),
        last_block.map_or_else(|| "?".into(), |b| b.to_string()),
        if agree { "yes" } else { "NO" },
        m.finalized.iter().map(|f| f.map_or(-1, |f| f as i64)).collect::<Vec<_>>()
    );
    let (late, late_sender) = load.late();
    println!(
        "late:       {late} txs were reported dropped as late (their epoch final without them, \
         stamped again) by some gateway, {late_sender} by their sending gateway"
    );
    println!(
        "polls:      {} ir3_transactionStatus calls in {} batches",
        load.polls.0, load.polls.1
    );
    println!(
        "check:      recipient balance grew by {:?} wei per gateway (one wei per transfer)",
        m.balances
    );
    println!();

    let idle = &m.idle;
    let t = &m.traffic;
    let txs = cli.txs as f64;
    let background = idle.per_sec() * t.elapsed.as_secs_f64();
    println!(
        "P2P bytes sent (ss bytes_sent of every TCP socket of the {n} ir3 processes, their RPC \
         port's sockets excluded; all gateways together)"
    );
    println!(
        "  idle:                  {:>12} B/s   ({} B over {:.2} s, {} sockets)",
        grouped(idle.per_sec()),
        grouped(idle.bytes as f64),
        idle.elapsed.as_secs_f64(),
        idle.sockets
    );
    println!(
        "  load, per tx:          {:>12} B/tx  ({} B over {:.2} s from before the first send \
         until all final)",
        grouped(t.bytes as f64 / txs),
        grouped(t.bytes as f64),
        t.elapsed.as_secs_f64()
    );
    println!(
        "  load minus idle rate:  {:>12} B/tx  (subtracting {:.2} s x the idle B/s)",
        grouped((t.bytes as f64 - background) / txs),
        t.elapsed.as_secs_f64()
    );
    println!("  load, per second:      {:>12} B/s", grouped(t.per_sec()));
    let per_gateway: Vec<String> = t
        .per_gateway
        .iter()
        .enumerate()
        .map(|(i, b)| format!("gw{i} {}", grouped(*b as f64 / txs)))
        .collect();
    println!("  per gateway, B/tx:     {}", per_gateway.join(", "));
    println!(
        "  sockets:               {} P2P at the end ({} opened, {} closed during the load)",
        t.sockets, t.opened, t.closed
    );
    println!();
    if problems.is_empty() {
        println!("node logs:  no WARN/ERROR lines");
    } else {
        println!("node logs:");
        for line in problems {
            println!("  {line}");
        }
    }
}
