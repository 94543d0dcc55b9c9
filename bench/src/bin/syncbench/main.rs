//! `ir3-syncbench`: how fast a new node syncs the finalized history from chunks, and how fast
//! the storage app moves files. Starts five ir3 gateways in network mode on loopback, fills
//! the chain with `--txs` pre-signed transfers from many senders (as fast as the gateways take
//! them) until all are final everywhere, then, for 5, 3 and 1 live providers (the others
//! SIGKILLed), times a fresh observer with an empty data directory from its process start
//! until it has the providers' finalized head, and checks its blocks and balances. Last, on
//! three fresh nodes, puts files with `ir3 store put` on one and gets them with `ir3 store get`
//! on another. See `bench/README.md`.
//!
//! Exits non-zero if a transfer is refused for good, the fill or a sync times out, an
//! observer's blocks or balances differ from a provider's, or a file comes back different.

mod fill;
mod observe;
mod report;
mod storage;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use ir3_bench::{
    cluster::{self, NetConfig, NetNode, node_problems},
    error::{BenchError, Result},
    node::{run_to_exit, workspace_root},
    rpc::Conn,
    wallet::derive_signers,
};

use crate::{
    fill::{FillConfig, FillResult},
    observe::SyncResult,
    storage::StoreResult,
};

/// Gateways in the set the history is filled on.
const GATEWAYS: usize = 5;
/// Last octet of the first gateway's address.
const GATEWAY_OCTET: usize = 61;
/// Last octet of the first observer's address.
const OBSERVER_OCTET: usize = 71;
/// Last octet of the first storage node's address.
const STORAGE_OCTET: usize = 81;
/// Nodes of the storage network.
const STORAGE_NODES: usize = 3;

/// Benchmarks history sync from chunks (1, 3, 5 providers) and the storage app's throughput.
#[derive(Debug, Clone, Parser)]
#[command(name = "ir3-syncbench", version)]
struct Cli {
    /// The ir3 binary [default: <workspace>/target/release/ir3].
    #[arg(long, value_name = "PATH")]
    ir3_bin: Option<PathBuf>,

    /// Transfers the history is filled with.
    #[arg(long, default_value_t = 100_000)]
    txs: usize,

    /// Senders (dev accounts 0..N, funded with `--accounts N`); sender `s` sends to gateway
    /// `s mod 5`.
    #[arg(long, default_value_t = 500)]
    senders: usize,

    /// Transactions per `eth_sendRawTransaction` JSON-RPC batch.
    #[arg(long, default_value_t = 200)]
    batch: usize,

    /// Concurrent sending connections per gateway (each waits for its batch's answers).
    #[arg(long, default_value_t = 2)]
    conns: usize,

    /// `--epoch-ms` of `ir3 network init`.
    #[arg(long, default_value_t = 200)]
    epoch_ms: u64,

    /// `--grace-ms` of `ir3 network init` (time after an epoch's end before it is closed).
    #[arg(long, default_value_t = 100)]
    grace_ms: u64,

    /// `--segment-blocks` of the nodes.
    #[arg(long, default_value_t = 256)]
    segment_blocks: u64,

    /// Live providers of each sync, in the order run (descending: providers are killed
    /// between runs).
    #[arg(long, value_delimiter = ',', default_value = "5,3,1")]
    providers: Vec<usize>,

    /// How long the fill (sending and finality everywhere) may take, in seconds.
    #[arg(long, default_value_t = 1800)]
    fill_timeout_secs: u64,

    /// How long one observer may take to sync, in seconds.
    #[arg(long, default_value_t = 900)]
    sync_timeout_secs: u64,

    /// File sizes of the storage run, in MiB (`0`: no storage run).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    store_mib: Vec<u64>,

    /// `--replication` of the storage nodes (1: the get really fetches from the put node).
    #[arg(long, default_value_t = 1)]
    store_replication: usize,

    /// `--log` filter of the gateways (their output is scanned for WARN/ERROR lines).
    #[arg(long, value_name = "FILTER")]
    node_log: Option<String>,

    /// `--log` filter of the observers; it must keep `ir3_evm::network::history` at `info`
    /// (the segment bytes are read from its `history sync` lines).
    #[arg(long, value_name = "FILTER", default_value = observe::OBSERVER_LOG)]
    observer_log: String,

    /// Keep the temp directory (data directories and node logs) instead of removing it.
    #[arg(long)]
    keep_dir: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    run_to_exit(run(&cli)).await
}

/// A progress line on stderr.
pub(crate) fn progress(message: &str) {
    eprintln!("[syncbench] {message}");
}

/// Everything the report prints.
pub(crate) struct Measured {
    /// `web3_clientVersion` of gateway 0.
    pub(crate) version: Option<String>,
    /// Time until the full mesh.
    pub(crate) mesh: Duration,
    /// The fill.
    pub(crate) fill: FillResult,
    /// `historySegments` of each gateway after the fill.
    pub(crate) segments: Vec<u64>,
    /// Data directory size of each gateway after the fill.
    pub(crate) data_bytes: Vec<u64>,
    /// One sync per `--providers` entry.
    pub(crate) syncs: Vec<SyncResult>,
    /// One entry per `--store-mib` size.
    pub(crate) stores: Vec<StoreResult>,
    /// Exits and WARN/ERROR lines of the nodes.
    pub(crate) problems: Vec<String>,
}

async fn run(cli: &Cli) -> Result<()> {
    if cli.txs == 0 || cli.senders == 0 || cli.batch == 0 || cli.conns == 0 {
        return Err(BenchError::Setup(
            "--txs, --senders, --batch, --conns must be positive".into(),
        ));
    }
    if cli.providers.is_empty()
        || cli.providers.windows(2).any(|w| w[0] < w[1])
        || cli.providers.iter().any(|k| *k == 0 || *k > GATEWAYS)
    {
        return Err(BenchError::Setup(format!(
            "--providers must be descending, each in 1..={GATEWAYS}"
        )));
    }
    let bin = cli.ir3_bin.clone().unwrap_or_else(|| workspace_root().join("target/release/ir3"));
    if !bin.is_file() {
        return Err(BenchError::Setup(format!(
            "{} not found: build it with `cargo build --release -p ir3` or pass --ir3-bin",
            bin.display()
        )));
    }
    let senders = cli.senders as u32;
    progress(&format!("deriving {senders} sender keys"));
    let signers = tokio::task::spawn_blocking(move || derive_signers(senders)).await??;
    // Declared before the nodes so it is removed after they are killed.
    let scratch = tempfile::Builder::new().prefix("ir3-syncbench-").tempdir()?;
    // With --keep-dir only the path is kept (nothing removes it); else the guard removes it.
    let (scratch, dir) = if cli.keep_dir {
        let dir = scratch.keep();
        progress(&format!("keeping {}", dir.display()));
        (None, dir)
    } else {
        let dir = scratch.path().to_path_buf();
        (Some(scratch), dir)
    };
    let flags = [
        "--epoch-ms".into(),
        cli.epoch_ms.to_string(),
        "--grace-ms".into(),
        cli.grace_ms.to_string(),
    ];
    let config = NetConfig {
        bin: bin.clone(),
        gateways: GATEWAYS,
        epoch_ms: cli.epoch_ms,
        grace_ms: cli.grace_ms,
        accounts: cli.senders.max(10),
        segment_blocks: Some(cli.segment_blocks),
        extra: Vec::new(),
        network: cluster::init_network(&bin, GATEWAYS, &dir, &flags)?,
        log: cli.node_log.clone(),
    };
    progress(&format!("starting {GATEWAYS} gateways of {}", bin.display()));
    let mut gateways = cluster::start_gateways(&config, &dir, "gw", GATEWAY_OCTET).await?;
    for g in &gateways {
        progress(&format!(
            "{} pid {} rpc {} p2p {}",
            g.node.name,
            g.node.pid(),
            g.node.addr,
            g.p2p
        ));
    }
    let mut problems = Vec::new();
    let outcome = history(cli, &config, &dir, &mut gateways, &signers, &mut problems).await;
    problems.extend(node_problems(&mut gateways));
    drop(gateways);
    let mut measured = match outcome {
        Ok(measured) => measured,
        Err(error) => {
            problems.iter().for_each(|line| progress(line));
            return Err(error);
        }
    };
    if cli.store_mib.iter().any(|mib| *mib > 0) {
        measured.stores = store(cli, &config, &dir, &mut problems).await?;
    }
    measured.problems = problems;
    drop(scratch);
    report::print(cli, &bin, &config, &measured);
    Ok(())
}

/// The fill, then one observer sync per `--providers` entry (killing gateways in between).
async fn history(
    cli: &Cli,
    config: &NetConfig,
    dir: &std::path::Path,
    gateways: &mut Vec<NetNode>,
    signers: &[alloy_signer_local::PrivateKeySigner],
    problems: &mut Vec<String>,
) -> Result<Measured> {
    let mesh = cluster::wait_mesh(gateways).await?;
    progress(&format!("full mesh after {:.2} s", mesh.as_secs_f64()));
    let version = Conn::connect(gateways[0].node.addr).await?.client_version().await.ok();
    let addrs: Vec<_> = gateways.iter().map(|g| g.node.addr).collect();
    let (plan_signers, txs) = (signers.to_vec(), cli.txs);
    progress(&format!("signing {txs} transfers from {} senders", signers.len()));
    let plan =
        tokio::task::spawn_blocking(move || fill::plan(&plan_signers, txs, GATEWAYS)).await??;
    let senders = plan.senders.clone();
    progress(&format!(
        "sending {txs} transfers: batches of {}, {} conns/gateway",
        cli.batch, cli.conns
    ));
    let fill_config = FillConfig {
        batch: cli.batch,
        conns: cli.conns,
        timeout: Duration::from_secs(cli.fill_timeout_secs),
    };
    let fill = fill::run(&addrs, plan, fill_config).await?;
    progress(&format!(
        "all {txs} final on every gateway after {:.1} s (head block {})",
        fill.total.as_secs_f64(),
        fill.head.1
    ));
    cluster::check_alive(gateways)?;
    let mut segments = Vec::with_capacity(addrs.len());
    for &addr in &addrs {
        segments
            .push(cluster::network_status(addr).await?["historySegments"].as_u64().unwrap_or(0));
    }
    let data_bytes = gateways.iter().map(|g| cluster::dir_bytes(&g.data_dir)).collect();
    progress(&format!("history segments per gateway: {segments:?}"));

    let mut syncs = Vec::with_capacity(cli.providers.len());
    for (run, &k) in cli.providers.iter().enumerate() {
        while gateways.len() > k {
            let index = gateways.len() - 1;
            problems.extend(node_problems(&mut gateways[index..]));
            // Dropping the node SIGKILLs it and waits for it.
            let killed = gateways.pop().map(|g| g.node.name).unwrap_or("?");
            progress(&format!("killed {killed} (SIGKILL)"));
        }
        let providers: Vec<_> = gateways.iter().map(|g| g.p2p).collect();
        let engines: Vec<_> = gateways.iter().map(|g| g.consensus).collect();
        let sync = observe::sync_once(
            config,
            dir,
            GATEWAYS + run,
            OBSERVER_OCTET + run,
            &providers,
            &engines,
            gateways[0].node.addr,
            &fill.head,
            &senders,
            &cli.observer_log,
            Duration::from_secs(cli.sync_timeout_secs),
        )
        .await?;
        syncs.push(sync);
    }
    Ok(Measured {
        version,
        mesh,
        fill,
        segments,
        data_bytes,
        syncs,
        stores: Vec::new(),
        problems: Vec::new(),
    })
}

/// Three fresh nodes (`--replication` from the command line): put on the first, get on the
/// last.
async fn store(
    cli: &Cli,
    config: &NetConfig,
    dir: &std::path::Path,
    problems: &mut Vec<String>,
) -> Result<Vec<StoreResult>> {
    let store_dir = dir.join("store");
    std::fs::create_dir_all(&store_dir)?;
    let config = NetConfig {
        gateways: STORAGE_NODES,
        accounts: 10,
        extra: vec!["--replication".into(), cli.store_replication.to_string()],
        network: cluster::init_network(&config.bin, STORAGE_NODES, &store_dir, &[])?,
        ..config.clone()
    };
    progress(&format!("starting {STORAGE_NODES} storage nodes"));
    let mut nodes = cluster::start_gateways(&config, &store_dir, "st", STORAGE_OCTET).await?;
    cluster::wait_mesh(&mut nodes).await?;
    let sizes: Vec<u64> = cli.store_mib.iter().copied().filter(|mib| *mib > 0).collect();
    let bin = config.bin.clone();
    let (put, get) = (nodes[0].node.addr, nodes[STORAGE_NODES - 1].node.addr);
    let files = store_dir.clone();
    let timeout = Duration::from_secs(cli.sync_timeout_secs);
    let results =
        tokio::task::spawn_blocking(move || storage::run(&bin, &files, put, get, &sizes, timeout))
            .await?;
    problems.extend(node_problems(&mut nodes));
    results
}
