//! # ir3
//!
//! The `ir3` node binary's library half: command-line options, wiring of the layers
//! (foundation ← evm ← rpc), the start-up banner, and shutdown. `main.rs` only parses the
//! command line and calls [`run`].

pub mod banner;
pub mod cli;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use alloy_primitives::U256;
use ir3_evm::{
    ChainConfig, DevAccounts, EvmNode, MiningMode, NodeOptions, config::parse_hardfork,
    node::unix_now,
};
use ir3_foundation::{
    DEFAULT_OUTBOX_CAPACITY, MemorySeries, Outbox, SeriesConfig, SeriesHandle, SeriesLog,
};
use tracing::info;

use crate::cli::Cli;

/// Why the node could not run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A flag had an unusable value.
    #[error("{0}")]
    InvalidArgument(String),
    /// The series could not be opened.
    #[error(transparent)]
    Series(#[from] ir3_foundation::FoundationError),
    /// The chain could not be derived.
    #[error(transparent)]
    Evm(#[from] ir3_evm::EvmError),
    /// The JSON-RPC server could not start.
    #[error(transparent)]
    Rpc(#[from] ir3_rpc::RpcError),
    /// The `--state` file could not be read or written.
    #[error("state file {path}: {reason}")]
    StateFile {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        reason: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the node until it is interrupted.
pub fn run(cli: Cli) -> Result<(), NodeError> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .map_err(|e| NodeError::InvalidArgument(format!("invalid --log filter: {e}")))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ir3-rpc")
        .build()
        .map_err(NodeError::Runtime)?;
    runtime.block_on(run_async(cli))
}

/// The mining mode the command line asks for; `None` keeps the series' (automine when new).
fn mining_mode(cli: &Cli) -> Result<Option<MiningMode>, NodeError> {
    match (cli.no_mining, cli.block_time) {
        (true, _) => Ok(Some(MiningMode::Manual)),
        (false, Some(seconds)) if seconds.is_finite() && seconds > 0.0 => {
            Ok(Some(MiningMode::Interval(Duration::from_secs_f64(seconds))))
        }
        (false, Some(seconds)) => {
            Err(NodeError::InvalidArgument(format!("--block-time must be positive, got {seconds}")))
        }
        (false, None) => Ok(None),
    }
}

async fn run_async(cli: Cli) -> Result<(), NodeError> {
    let spec = parse_hardfork(&cli.hardfork)
        .ok_or_else(|| NodeError::InvalidArgument(format!("unknown hardfork {}", cli.hardfork)))?;
    let accounts = DevAccounts::from_mnemonic(&cli.mnemonic, cli.accounts)?;
    let balance = U256::from(cli.balance).saturating_mul(U256::from(10u64).pow(U256::from(18)));
    let alloc = accounts.addresses().into_iter().map(|a| (a, balance)).collect();
    let mut chain = match &cli.init {
        Some(path) => ir3_evm::genesis::read_genesis_file(path)?,
        None => {
            let mut chain = ChainConfig::dev(cli.chain_id, Vec::new(), unix_now());
            chain.spec = spec;
            chain
        }
    };
    chain.alloc = alloc;
    if let Some(url) = &cli.fork_url {
        let fork = tokio::task::block_in_place(|| {
            ir3_evm::fork::ForkSource::connect(url, cli.fork_block_number)
        })?;
        info!(url, block = fork.block_number, "forking");
        chain.chain_id = fork.chain_id;
        chain.fork = Some(fork);
    }
    let options = NodeOptions { chain, accounts, mining: mining_mode(&cli)? };

    let series: SeriesHandle = if cli.ephemeral {
        Arc::new(MemorySeries::new())
    } else {
        let dir = cli.data_dir();
        info!(dir = %dir.display(), "opening the series");
        Arc::new(SeriesLog::open(&SeriesConfig { dir, fsync: true })?)
    };
    // Until the peer-to-peer layer lands, intents are drained by a no-op consumer.
    let outbox = Outbox::spawn(DEFAULT_OUTBOX_CAPACITY, |_intent| {});
    // Replaying the series is CPU and disk work: keep it off the async workers.
    let new_chain = series.is_empty();
    let node = tokio::task::block_in_place(|| EvmNode::open(options, series, outbox))?;
    if let Some(path) = &cli.state {
        load_state_file(&node, path, new_chain).await?;
    }

    let addr = SocketAddr::new(cli.host, cli.port);
    let (local, handle) = ir3_rpc::serve(addr, node.clone()).await?;
    banner::print(&cli, &node, local);

    shutdown_signal().await;
    info!("shutting down");
    let _ = handle.stop();
    handle.stopped().await;
    if let Some(path) = &cli.state {
        write_state_file(&node, path)?;
    }
    Ok(())
}

/// `--state`: loads the file into a new chain. An existing chain already holds everything
/// the file could say (and maybe more, after a crash), so it is not overwritten.
async fn load_state_file(
    node: &Arc<EvmNode>,
    path: &std::path::Path,
    new_chain: bool,
) -> Result<(), NodeError> {
    if !path.exists() {
        return Ok(());
    }
    if !new_chain {
        info!(path = %path.display(), "chain exists; state file not loaded over it");
        return Ok(());
    }
    let bytes = std::fs::read(path)
        .map_err(|e| NodeError::StateFile { path: path.into(), reason: e.to_string() })?;
    let dump = ir3_evm::state_dump::StateDump::decode(&bytes)?;
    node.load_state(dump).await?;
    info!(path = %path.display(), "state loaded");
    Ok(())
}

/// `--state`: writes the latest state atomically (temporary file, then rename).
fn write_state_file(node: &EvmNode, path: &std::path::Path) -> Result<(), NodeError> {
    let json = node.dump_state().to_json()?;
    let temporary = path.with_extension("tmp");
    let written = std::fs::write(&temporary, json).and_then(|()| std::fs::rename(&temporary, path));
    written.map_err(|e| NodeError::StateFile { path: path.into(), reason: e.to_string() })?;
    info!(path = %path.display(), "state written");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
