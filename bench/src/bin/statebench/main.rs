//! `ir3-statebench`: how the node holds up as its state grows. Ten senders in a closed loop
//! (sign locally, send, poll the receipt, send the next) first send a short fixed-recipient
//! baseline, then `--txs` transfers each to a fresh address (optionally a share of ERC-20
//! transfers to new holders of a token deployed at the start), reported per `--slice`: mined
//! tx/s, p50/p99 latency, the node's RSS and data directory size. Then the node is stopped
//! cleanly, restarted, killed with SIGKILL, restarted (and optionally restarted with its derived
//! store deleted), each timed until `eth_blockNumber` answers the head; last, reads on the big
//! chain: a historical balance, traces of the first transaction, Otterscan's address search.
//! See `bench/README.md` (issue 12's acceptance figures).

mod growth;
mod reads;
mod report;
mod restart;
mod token;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use alloy_primitives::{Address, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;
use clap::Parser;
use ir3_bench::{
    cluster::dir_bytes,
    error::{BenchError, Result},
    node::{Node, Which, require_binaries, run_to_exit, workspace_root},
    rpc::Conn,
    wallet::{RECIPIENT, derive_signers, sign_call},
};
use serde::Serialize;
use serde_json::json;

use crate::{
    growth::{LoopConfig, LoopResult, Target},
    reads::{ReadFigure, ReadPlan},
    restart::{Launcher, Restart, RestartPlan},
};

/// Senders of every closed loop: dev accounts 0..9, funded at genesis by both nodes.
const SENDERS: usize = 10;

/// Measures state growth (fresh-address transfers per slice), restarts and reads on a big chain.
#[derive(Debug, Clone, Parser)]
#[command(name = "ir3-statebench", version)]
pub(crate) struct Cli {
    /// The ir3 binary [default: <workspace>/target/release/ir3].
    #[arg(long, value_name = "PATH")]
    ir3_bin: Option<PathBuf>,

    /// The Anvil binary [default: <workspace>/scripts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil].
    #[arg(long, value_name = "PATH")]
    anvil_bin: Option<PathBuf>,

    /// Benchmark only this node [default: ir3].
    #[arg(long, value_enum, conflicts_with = "with_anvil")]
    only: Option<Which>,

    /// Also run the whole benchmark on Anvil (after ir3; never both at once).
    #[arg(long)]
    with_anvil: bool,

    /// Transactions of the growth phase, each to a fresh address.
    #[arg(long, default_value_t = 1_000_000)]
    txs: u64,

    /// Transactions per reported slice of the growth phase.
    #[arg(long, default_value_t = 100_000)]
    slice: u64,

    /// Transactions of the fixed-recipient baseline, run before the growth (0: none).
    #[arg(long, default_value_t = 20_000)]
    baseline: u64,

    /// Share (0..1) of the growth transactions that are ERC-20 `transfer`s of 1 token to a
    /// fresh holder of a token deployed at the start (the others: 1 wei to a fresh address).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    erc20_share: f64,

    /// Receipt polling interval, in milliseconds.
    #[arg(long, default_value_t = 1.0)]
    poll_ms: f64,

    /// How long one receipt may take, in seconds.
    #[arg(long, default_value_t = 60.0)]
    receipt_timeout_secs: f64,

    /// Interval of the progress lines on stderr, in seconds.
    #[arg(long, default_value_t = 5.0)]
    progress_secs: f64,

    /// How long a stop, or a restart until the head is served, may take, in seconds.
    #[arg(long, default_value_t = 600.0)]
    restart_timeout_secs: f64,

    /// Skip the restarts (ir3).
    #[arg(long)]
    no_restart: bool,

    /// Also delete the node's derived store (`--store-subdir` of the data directory) and time
    /// the rebuild from the series (skipped with a note if there is none).
    #[arg(long)]
    rebuild: bool,

    /// The derived store's path under the data directory (a directory or a file).
    #[arg(long, default_value = "state", value_name = "PATH")]
    store_subdir: PathBuf,

    /// `eth_getBalance` calls at the historical block.
    #[arg(long, default_value_t = 2000)]
    balance_calls: usize,

    /// `debug_traceTransaction` calls per tracer.
    #[arg(long, default_value_t = 50)]
    trace_calls: usize,

    /// `ots_searchTransactionsBefore` calls.
    #[arg(long, default_value_t = 200)]
    search_calls: usize,

    /// Arguments passed on to ir3 (repeatable; each value is split at whitespace, so
    /// `--extra-arg "--cache-mb 64"` or `--extra-arg=--cache-mb --extra-arg=64`).
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    extra_arg: Vec<String>,

    /// Work in DIR (node data directory `DIR/ir3-data`, node logs `DIR/*.log`) and keep it,
    /// instead of a temp directory removed at the end.
    #[arg(long, value_name = "DIR")]
    keep_data: Option<PathBuf>,

    /// Print JSON (figures, per-node results and notes) instead of the tables.
    #[arg(long)]
    json: bool,
}

impl Cli {
    fn nodes(&self) -> Vec<Which> {
        match (self.only, self.with_anvil) {
            (Some(only), _) => vec![only],
            (None, true) => vec![Which::Ir3, Which::Anvil],
            (None, false) => vec![Which::Ir3],
        }
    }

    fn extra_args(&self) -> Vec<OsString> {
        self.extra_arg.iter().flat_map(|a| a.split_whitespace()).map(OsString::from).collect()
    }

    fn loop_config(
        &self,
        name: &'static str,
        (txs, slice): (u64, u64),
        node: &Node,
        data_dir: Option<PathBuf>,
    ) -> LoopConfig {
        LoopConfig {
            name,
            txs,
            slice: slice.max(1),
            poll: Duration::from_secs_f64(self.poll_ms / 1e3),
            receipt_timeout: Duration::from_secs_f64(self.receipt_timeout_secs),
            progress_every: Duration::from_secs_f64(self.progress_secs.max(0.1)),
            pid: node.pid(),
            data_dir,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Leaving `run` (normally, by error, by panic or by Ctrl-C) kills the node.
    run_to_exit(run(&cli)).await
}

/// A progress line on stderr.
pub(crate) fn progress(message: &str) {
    eprintln!("[statebench] {message}");
}

/// Everything measured on one node.
#[derive(Debug, Serialize)]
pub(crate) struct NodeRun {
    /// `ir3` or `anvil`.
    pub(crate) name: &'static str,
    /// The first command line.
    pub(crate) command: String,
    /// `web3_clientVersion`.
    pub(crate) version: Option<String>,
    /// RSS once the node answered, KiB.
    pub(crate) rss_start_kib: Option<u64>,
    /// The ERC-20's address (mixed mode).
    pub(crate) token: Option<Address>,
    /// The fixed-recipient closed loop.
    pub(crate) baseline: Option<LoopResult>,
    /// The fresh-address closed loop.
    pub(crate) growth: Option<LoopResult>,
    /// Head block after the growth.
    pub(crate) head: Option<u64>,
    /// Transactions in the chain (the senders' nonces).
    pub(crate) chain_txs: Option<u64>,
    /// Data directory size after the growth, bytes (ir3).
    pub(crate) data_bytes: Option<u64>,
    /// The restarts (ir3).
    pub(crate) restarts: Vec<Restart>,
    /// The reads.
    pub(crate) reads: Vec<ReadFigure>,
    /// RSS after the reads, KiB.
    pub(crate) rss_end_kib: Option<u64>,
    /// Errors and anything else worth knowing.
    pub(crate) notes: Vec<String>,
}

async fn run(cli: &Cli) -> Result<()> {
    if !(0.0..=1.0).contains(&cli.erc20_share) {
        return Err(BenchError::Setup("--erc20-share must be between 0 and 1".into()));
    }
    let root = workspace_root();
    let ir3_bin = cli.ir3_bin.clone().unwrap_or_else(|| root.join("target/release/ir3"));
    let anvil_bin = cli.anvil_bin.clone().unwrap_or_else(|| {
        root.join("scripts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    });
    let nodes = cli.nodes();
    require_binaries(&nodes, &ir3_bin, &anvil_bin)?;
    // Declared before the nodes so it is removed after they are killed.
    let scratch;
    let work: PathBuf = match &cli.keep_data {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            if dir.join("ir3-data").exists() {
                return Err(BenchError::Setup(format!(
                    "{} already holds ir3-data: give a new --keep-data directory",
                    dir.display()
                )));
            }
            dir.clone()
        }
        None => {
            scratch = tempfile::Builder::new().prefix("ir3-statebench-").tempdir()?;
            scratch.path().to_path_buf()
        }
    };
    let signers = tokio::task::spawn_blocking(|| derive_signers(SENDERS as u32)).await??;

    let mut runs = Vec::new();
    for kind in nodes {
        progress(&format!("=== {} ===", kind.name()));
        let run = match kind {
            Which::Ir3 => {
                let launcher = Launcher {
                    bin: ir3_bin.clone(),
                    data_dir: work.join("ir3-data"),
                    extra: cli.extra_args(),
                    log_dir: work.clone(),
                };
                let node = launcher.spawn("start")?;
                run_node(cli, node, Some(&launcher), &signers).await?
            }
            Which::Anvil => {
                let node = Node::spawn(
                    "anvil",
                    &anvil_bin,
                    vec!["--chain-id".into(), "1337".into()],
                    work.join("anvil.log"),
                )?;
                run_node(cli, node, None, &signers).await?
            }
        };
        runs.push(run);
    }
    report::print(cli, &ir3_bin, &anvil_bin, &runs);
    if let Some(dir) = &cli.keep_data {
        progress(&format!("data and logs kept in {}", dir.display()));
    }
    Ok(())
}

/// Runs every phase on one node (ir3 when `launcher` is given: it can be restarted).
async fn run_node(
    cli: &Cli,
    mut node: Node,
    launcher: Option<&Launcher>,
    signers: &[PrivateKeySigner],
) -> Result<NodeRun> {
    node.wait_ready().await?;
    progress(&format!("{} ready on {} (pid {})", node.name, node.addr, node.pid()));
    let mut run = NodeRun {
        name: node.name,
        command: node.command.clone(),
        version: Conn::connect(node.addr).await?.client_version().await.ok(),
        rss_start_kib: node.rss_kib(),
        token: None,
        baseline: None,
        growth: None,
        head: None,
        chain_txs: None,
        data_bytes: None,
        restarts: Vec::new(),
        reads: Vec::new(),
        rss_end_kib: None,
        notes: Vec::new(),
    };
    let data_dir = launcher.map(|l| l.data_dir.clone());

    // Set-up (not timed): the token, and tokens for every sender.
    let mut erc20 = None;
    if cli.erc20_share > 0.0 {
        let token = deploy_token(node.addr, signers, cli).await?;
        progress(&format!("ERC-20 deployed at {token}; senders 1..9 funded with tokens"));
        run.token = Some(token);
        erc20 = Some((token, cli.erc20_share));
    }

    // 1. Fixed-recipient baseline.
    if cli.baseline > 0 {
        progress(&format!("baseline: {} transfers to {RECIPIENT}", cli.baseline));
        let config =
            cli.loop_config("baseline", (cli.baseline, cli.baseline), &node, data_dir.clone());
        let result = growth::run(node.addr, signers, Target::Fixed(RECIPIENT), config).await?;
        note_loop(&mut run, "baseline", &result);
        run.baseline = Some(result);
        alive(&mut node, &mut run, "baseline")?;
    }

    // 2. State growth.
    progress(&format!(
        "growth: {} transactions to fresh addresses (ERC-20 share {}), slices of {}",
        cli.txs, cli.erc20_share, cli.slice
    ));
    let config = cli.loop_config("growth", (cli.txs, cli.slice), &node, data_dir.clone());
    let result = growth::run(node.addr, signers, Target::Fresh { erc20 }, config).await?;
    note_loop(&mut run, "growth", &result);
    let fresh = result.mined;
    run.growth = Some(result);
    alive(&mut node, &mut run, "growth")?;

    let mut conn = Conn::connect(node.addr).await?;
    let head = conn.block_number().await?;
    let mut chain_txs = 0;
    for signer in signers {
        chain_txs += conn.nonce(signer.address()).await?;
    }
    drop(conn);
    run.head = Some(head);
    run.chain_txs = Some(chain_txs);
    run.data_bytes = data_dir.as_deref().map(dir_bytes);
    progress(&format!("chain: head {head}, {chain_txs} transactions"));

    // 3. Restarts (ir3 only: Anvil keeps its chain in memory).
    let mut node = match launcher {
        Some(launcher) if !cli.no_restart => {
            let plan = RestartPlan {
                head,
                chain_txs,
                timeout: Duration::from_secs_f64(cli.restart_timeout_secs),
                rebuild: cli.rebuild,
                store: launcher.data_dir.join(&cli.store_subdir),
            };
            let (next, restarts) = restart::run(node, launcher, &plan).await;
            for r in &restarts {
                if let Some(note) = &r.note {
                    run.notes.push(format!("{}: {note}", r.kind));
                }
            }
            run.restarts = restarts;
            match next {
                Some(node) => node,
                None => {
                    run.notes.push("no node after the restarts: reads not measured".into());
                    return Ok(run);
                }
            }
        }
        Some(_) => node,
        None => {
            run.notes.push("restarts not measured: Anvil keeps its chain in memory".into());
            node
        }
    };

    // 4. Reads on the big chain.
    let plan = ReadPlan {
        head,
        fresh,
        sender: signers[0].address(),
        balance_calls: cli.balance_calls,
        trace_calls: cli.trace_calls,
        search_calls: cli.search_calls,
    };
    match reads::run(node.addr, &plan).await {
        Ok(figures) => {
            for f in &figures {
                if let Some(error) = &f.first_error {
                    run.notes.push(format!("{}: {} errors; first: {error}", f.what, f.errors));
                }
            }
            run.reads = figures;
        }
        Err(error) => run.notes.push(format!("reads: {error}")),
    }
    run.rss_end_kib = node.rss_kib();
    alive(&mut node, &mut run, "reads")?;
    Ok(run)
}

/// Notes a closed loop's failures.
fn note_loop(run: &mut NodeRun, phase: &str, result: &LoopResult) {
    if let Some(first) = &result.first_error {
        run.notes.push(format!(
            "{phase}: {} sender(s) stopped on an error ({} of {} mined); first: {first}",
            result.failed_senders, result.mined, result.planned
        ));
    }
}

/// Fails if the node process has exited.
fn alive(node: &mut Node, run: &mut NodeRun, step: &str) -> Result<()> {
    match node.exited() {
        Some(status) => Err(BenchError::Setup(format!(
            "{} exited ({status}) during {step}; last output:\n{}",
            run.name,
            node.log_tail(20)
        ))),
        None => Ok(()),
    }
}

/// Deploys the ERC-20 from sender 0 and gives senders 1..9 2^200 tokens each; checks one
/// balance with `balanceOf`. Returns the token's address.
async fn deploy_token(
    addr: std::net::SocketAddr,
    signers: &[PrivateKeySigner],
    cli: &Cli,
) -> Result<Address> {
    let poll = Duration::from_secs_f64(cli.poll_ms / 1e3);
    let timeout = Duration::from_secs_f64(cli.receipt_timeout_secs);
    let mut conn = Conn::connect(addr).await?;
    let deployer = &signers[0];
    let mut nonce = conn.nonce(deployer.address()).await?;
    let tx = sign_call(
        deployer,
        nonce,
        TxKind::Create,
        U256::ZERO,
        token::creation_code(),
        token::DEPLOY_GAS,
    )?;
    let receipt = conn.send_and_wait(&tx, poll, timeout).await?;
    let token: Address = receipt
        .get("contractAddress")
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .filter(|_| receipt["status"] == "0x1")
        .ok_or_else(|| BenchError::Setup(format!("token deployment failed: {receipt}")))?;
    let share = U256::from(1u8) << 200;
    for holder in &signers[1..] {
        nonce += 1;
        let data = token::transfer_data(holder.address(), share);
        let tx =
            sign_call(deployer, nonce, TxKind::Call(token), U256::ZERO, data, token::TRANSFER_GAS)?;
        let receipt = conn.send_and_wait(&tx, poll, timeout).await?;
        if receipt["status"] != "0x1" {
            return Err(BenchError::Setup(format!("token funding failed: {receipt}")));
        }
    }
    let last = signers[signers.len() - 1].address();
    let answer = conn
        .call("eth_call", json!([{ "to": token, "data": token::balance_of_data(last) }, "latest"]))
        .await?;
    let balance: U256 = serde_json::from_value(answer.clone())
        .map_err(|_| BenchError::Protocol(format!("balanceOf returned {answer}")))?;
    if balance != share {
        return Err(BenchError::Setup(format!("balanceOf({last}) = {balance}, expected {share}")));
    }
    Ok(token)
}

/// `path` shown relative to the workspace root when under it.
pub(crate) fn shown(path: &Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root).unwrap_or(path).display().to_string()
}
