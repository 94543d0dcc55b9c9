//! # ir3
//!
//! The `ir3` node binary's library half: command-line options, wiring of the layers
//! (foundation ← evm ← rpc), the start-up banner, and shutdown. `main.rs` only parses the
//! command line and calls [`run`].

pub mod app_cli;
pub mod banner;
pub mod cli;
pub mod compute;
pub mod gateway;
pub mod join;
pub mod network_cli;
pub mod store_cli;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use alloy_primitives::U256;
use ir3_evm::{
    ChainConfig, DevAccounts, EvmNode, MiningMode, NodeOptions, config::parse_hardfork,
    node::unix_now,
};
use ir3_foundation::{
    DEFAULT_OUTBOX_CAPACITY, MemorySeries, Outbox, SeriesConfig, SeriesHandle, SeriesLog,
    bt::{ChunkConfig, ChunkService},
    chunks::ChunkStore,
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
    /// The native apps could not be replayed.
    #[error("native apps: {0}")]
    Apps(#[from] ir3_apps::AppError),
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
    /// A network file or key could not be written or read.
    #[error(transparent)]
    Consensus(#[from] ir3_consensus::ConsensusError),
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

async fn run_async(mut cli: Cli) -> Result<(), NodeError> {
    let shutdown = Shutdown::register();
    if cli.p2p_port().is_some() && cli.network.is_none() {
        // The design notes' command line: join as an observer with the bootstrap peers' file.
        let (network, key, peers) = join::join(&cli).await?;
        cli.network = Some(network);
        cli.key = Some(key);
        if cli.consensus_peer.is_empty() {
            cli.consensus_peer = peers;
        }
    }
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
    if cli.import.is_none() {
        // An imported chain starts from its genesis file's state alone.
        chain.alloc = alloc;
    }
    if let Some(url) = &cli.fork_url {
        let fork = tokio::task::block_in_place(|| {
            ir3_evm::fork::ForkSource::connect(url, cli.fork_block_number)
        })?;
        info!(url, block = fork.block_number, "forking");
        chain.chain_id = fork.chain_id;
        chain.fork = Some(fork);
    }
    let engine = engine_setup(&cli)?;
    if engine.is_some() && cli.p2p_port().is_none() {
        return Err(NodeError::InvalidArgument(
            "--network needs a peer-to-peer port: --p2p-port (or --dht-port / --bt-port)".into(),
        ));
    }
    if let Some(setup) = &engine {
        if !setup.network.genesis.is_null() {
            return Err(NodeError::InvalidArgument(
                "network files with an embedded genesis are not supported yet: write the \
                 network with the dev genesis (no --genesis) and start it with --init"
                    .into(),
            ));
        }
        chain.chain_id = setup.network.chain_id;
    }
    let network = match (cli.p2p_port(), &engine) {
        (Some(_), Some(setup)) => Some(network_options(&cli, setup)?),
        (Some(_), None) => {
            return Err(NodeError::InvalidArgument(
                "a network node needs --network NETWORK_JSON and --key KEY_JSON: write them with \
                 `ir3 network init --gateways N --out DIR` and give every gateway the same \
                 network file and its own key"
                    .into(),
            ));
        }
        (None, _) => None,
    };
    if network.is_some() {
        // Every gateway must derive the same genesis.
        chain.genesis_timestamp = 0;
    }
    let known = |app: &str| app == "evm" || ir3_apps::NATIVE_APPS.contains(&app);
    if let Some(app) = cli.apps.iter().find(|a| !known(a)) {
        return Err(NodeError::InvalidArgument(format!(
            "unknown app {app} (available: evm, {})",
            ir3_apps::NATIVE_APPS.join(", ")
        )));
    }
    if !(cli.serve_rate.is_finite() && cli.serve_rate > 0.0) {
        return Err(NodeError::InvalidArgument(format!(
            "--serve-rate must be a positive number of chunks per second, got {}",
            cli.serve_rate
        )));
    }
    if cli.max_wants == 0 || cli.replication == 0 {
        return Err(NodeError::InvalidArgument(
            "--max-wants and --replication must be at least 1".into(),
        ));
    }
    let mining = if network.is_some() { Some(MiningMode::Manual) } else { mining_mode(&cli)? };
    let network_key = network.as_ref().map(|n| n.keypair.clone());

    let series: SeriesHandle = if cli.ephemeral {
        Arc::new(MemorySeries::new())
    } else {
        let dir = cli.data_dir();
        info!(dir = %dir.display(), "opening the series");
        Arc::new(SeriesLog::open(&SeriesConfig { dir, fsync: true })?)
    };
    // The derived state store lives next to the series (whose lock makes it this process's
    // alone). A single node resumes from it; network mode (whose chain is rebuilt from
    // epochs) rebuilds it at every start.
    let state_store = if cli.ephemeral {
        None
    } else {
        let path = cli.data_dir().join("state").join("derived.redb");
        let store = match network {
            Some(_) => ir3_evm::StateStore::create(&path, cli.cache_mb),
            None => ir3_evm::StateStore::open(&path, cli.cache_mb),
        };
        Some(store.map_err(|e| {
            NodeError::InvalidArgument(format!("state store {}: {e}", path.display()))
        })?)
    };
    let options = NodeOptions { chain, accounts, mining, network, state_store };
    // A single node declares its intents to no one: the outbox drains them (network mode sends
    // them through the peer-to-peer task instead).
    let outbox = Outbox::spawn(DEFAULT_OUTBOX_CAPACITY, |_intent| {});
    // Replaying the series is CPU and disk work: keep it off the async workers.
    let new_chain = series.is_empty();
    // One pass over the series at start feeds the chain, the native apps and the peer facts.
    let mut native_ops = ir3_apps::local::LocalLogReplay::default();
    let mut peer_facts = ir3_apps::peer::PeerFactsReplay::default();
    let node = tokio::task::block_in_place(|| {
        EvmNode::open_observed(options, series, outbox, &mut |entry| {
            native_ops.observe(entry);
            peer_facts.observe(entry);
        })
    })?;
    if let Some(path) = &cli.state {
        load_state_file(&node, path, new_chain).await?;
    }
    if let Some(path) = &cli.import {
        let blocks = ir3_evm::import::read_chain_file(path)?;
        let started = std::time::Instant::now();
        let summary = tokio::task::block_in_place(|| node.import_blocks(&blocks))?;
        info!(
            file = %path.display(),
            imported = summary.imported,
            already_held = summary.already_held,
            head = summary.head,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "chain file imported"
        );
    }

    let store = Arc::new(if cli.ephemeral {
        ChunkStore::in_memory(cli.storage_budget)
    } else {
        ChunkStore::open(&cli.data_dir().join("chunks"), cli.storage_budget)?
    });
    let chunks = ChunkService::with_config(
        store,
        ChunkConfig {
            replication: cli.replication,
            serve_rate: cli.serve_rate,
            max_wants: cli.max_wants,
        },
    );
    let native: Vec<String> = cli.apps.iter().filter(|a| a.as_str() != "evm").cloned().collect();
    let apps = if network_key.is_some() {
        let apps = ir3_apps::NativeApps::new(node.clone(), native);
        node.set_app_check(apps.clone());
        apps
    } else {
        ir3_apps::NativeApps::new(Arc::new(native_ops.open(node.series_handle())), native)
    };
    let peers = peer_facts.open(node.series_handle());
    peers.set_evaluator(Arc::new(compute::EvmEvaluator(node.clone())));
    if let Some(setup) = &engine {
        // Before the history sync starts: it checks segments against certified heights.
        node.set_decision_verifier(gateway::verifier(&setup.network)?);
    }
    let p2p = match (cli.p2p_port(), &network_key) {
        (Some(port), Some(keypair)) => {
            let tag = engine.as_ref().map(|s| ir3_consensus::network_tag(&s.network.identity()));
            Some(
                start_p2p(&cli, port, keypair.clone(), &node, &chunks, &peers, tag.as_deref())
                    .await?,
            )
        }
        _ => None,
    };
    if let (Some(setup), Some(port)) = (engine, cli.p2p_port()) {
        // The set as of the decided heights held (membership changes included).
        let role = match node.network_status().is_ok_and(|s| s.voting) {
            true => "validator",
            false => "observer (its key is not in the validator set)",
        };
        let name = cli.node_id.clone().unwrap_or_else(|| setup.key.name.clone());
        let address = ir3_consensus::Address::from_public_key(&setup.key.key()?.public_key());
        let tag = ir3_consensus::network_tag(&setup.network.identity());
        let options = gateway_options(&cli, setup, port)?;
        let listen = options.listen;
        // What a node joining without the network file is handed.
        let consensus = (listen.port() != 0).then_some(listen);
        node.set_join_info(
            join::JoinInfo { network: options.network.clone(), consensus }.to_bytes(),
        );
        let syncing = node.needs_history();
        println!(
            "Consensus: node {name}, {role} {address} on {listen} (network {tag}){}",
            if syncing { ", starting after the history sync" } else { "" }
        );
        if syncing {
            // The engine starts once the node's history came from chunks (it is handed the
            // heights the node holds, and catches up on the rest by its value sync).
            let node = node.clone();
            tokio::spawn(async move {
                while node.needs_history() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                match gateway::start(node.clone(), options).await {
                    Ok(consensus) => gateway::follow(node, consensus).await,
                    Err(error) => tracing::error!(%error, "the consensus engine did not start"),
                }
            });
        } else {
            let consensus = gateway::start(node.clone(), options).await?;
            tokio::spawn(gateway::follow(node.clone(), consensus));
        }
    }
    let addr = SocketAddr::new(cli.host, cli.port);
    let (local, handle) = ir3_rpc::serve(addr, node.clone(), chunks.clone(), apps, peers).await?;
    if let Some(p2p) = &p2p {
        for addr in p2p.listen_addrs().await {
            println!("P2P listening on {addr}/p2p/{}", p2p.peer_id());
        }
    }
    banner::print(&cli, &node, local);

    shutdown.wait().await;
    info!("shutting down");
    let _ = handle.stop();
    handle.stopped().await;
    if p2p.is_none() {
        let flushing = node.clone();
        tokio::task::spawn_blocking(move || flushing.flush_store()).await.ok();
    }
    if let Some(path) = &cli.state {
        write_state_file(&node, path)?;
    }
    Ok(())
}

/// The network file and key of a network whose agreement runs on the engine (`--network`).
struct EngineSetup {
    network: ir3_consensus::NetworkFile,
    key: ir3_consensus::KeyFile,
}

fn engine_setup(cli: &Cli) -> Result<Option<EngineSetup>, NodeError> {
    let (Some(network), Some(key)) = (&cli.network, &cli.key) else { return Ok(None) };
    let network = ir3_consensus::NetworkFile::load(network)?;
    let key = ir3_consensus::KeyFile::load(key)?;
    Ok(Some(EngineSetup { network, key }))
}

/// The engine's addresses and directory.
fn gateway_options(
    cli: &Cli,
    setup: EngineSetup,
    p2p_port: u16,
) -> Result<gateway::GatewayOptions, NodeError> {
    use std::net::ToSocketAddrs;
    let port = cli.consensus_port.unwrap_or(if p2p_port == 0 { 0 } else { p2p_port + 1 });
    let host = cli.p2p_host.unwrap_or(cli.host);
    let resolve = |peer: &str| -> Result<SocketAddr, NodeError> {
        peer.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| {
            NodeError::InvalidArgument(format!("consensus peer {peer}: expected host:port"))
        })
    };
    let peers = if cli.consensus_peer.is_empty() {
        // Each bootstrap peer's engine listens on the port after its p2p port.
        cli.bootstrap
            .iter()
            .filter(|b| !b.starts_with('/'))
            .filter_map(|b| {
                let (host, port) = b.rsplit_once(':')?;
                let port: u16 = port.parse().ok()?;
                Some(format!("{host}:{}", port.checked_add(1)?))
            })
            .map(|peer| resolve(&peer))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        cli.consensus_peer.iter().map(|p| resolve(p)).collect::<Result<Vec<_>, _>>()?
    };
    let home = if cli.ephemeral {
        std::env::temp_dir().join(format!("ir3-consensus-{}", std::process::id()))
    } else {
        cli.data_dir().join("consensus")
    };
    Ok(gateway::GatewayOptions {
        network: setup.network,
        key: setup.key,
        listen: SocketAddr::new(host, port),
        peers,
        home,
    })
}

/// Network mode's options: the network file's validators and epochs (every gateway uses the
/// same) and this node's key.
fn network_options(
    cli: &Cli,
    setup: &EngineSetup,
) -> Result<ir3_evm::network::NetworkOptions, NodeError> {
    Ok(ir3_evm::network::NetworkOptions {
        epoch_ms: setup.network.engine.epoch_ms,
        grace_ms: setup.network.engine.grace_ms,
        keypair: peer_keypair(setup)?,
        identity: setup.network.identity(),
        validators: setup.network.validator_keys()?,
        segment_blocks: cli.segment_blocks,
    })
}

/// The node's peer identity: its validator key, so that it has one peer id on the iR³ swarm
/// and on the engine's network.
fn peer_keypair(setup: &EngineSetup) -> Result<ir3_foundation::net::Keypair, NodeError> {
    let mut seed = setup.key.key()?.inner().to_bytes();
    ir3_foundation::net::Keypair::ed25519_from_bytes(&mut seed)
        .map_err(|e| NodeError::InvalidArgument(format!("--key: not an Ed25519 key: {e}")))
}

/// Starts the peer-to-peer layer: identity from the data directory, listener, bootstrap peers,
/// the queue that feeds peers' envelopes into the node, and the chunk service's wants.
async fn start_p2p(
    cli: &Cli,
    port: u16,
    keypair: ir3_foundation::net::Keypair,
    node: &Arc<EvmNode>,
    chunks: &Arc<ChunkService>,
    peers: &Arc<ir3_apps::peer::PeerApps>,
    engine: Option<&str>,
) -> Result<ir3_foundation::net::P2pHandle, NodeError> {
    use ir3_foundation::net::{self, Multiaddr, P2pConfig};
    let host = cli.p2p_host.unwrap_or(cli.host);
    let listen: Multiaddr = multiaddr(&host.to_string(), port)?;
    let also_listen = cli
        .p2p_ports()
        .into_iter()
        .filter(|p| *p != port)
        .map(|p| multiaddr(&host.to_string(), p))
        .collect::<Result<Vec<_>, _>>()?;
    let bootstrap = bootstrap_addrs(cli)?;
    let (queue, received) = tokio::sync::mpsc::channel(ir3_evm::network::RECEIVED_CAPACITY);
    // With the engine, peers of another network file are refused at connect time.
    let network = engine.map(|tag| tag.to_string());
    let config = P2pConfig {
        keypair,
        listen,
        also_listen,
        bootstrap,
        reply_window: net::DEFAULT_REPLY_WINDOW,
        network,
    };
    let series = node.series_handle();
    let decider = net::Both(
        net::Both(ir3_evm::network::EvmDecider::new(node.clone(), queue), chunks.decider()),
        peers.decider(),
    );
    let handle = net::spawn(config, series, decider)?;
    node.attach_p2p(handle.clone());
    chunks.attach(handle.clone());
    peers.attach(handle.clone());
    for id in chunks.store().ids() {
        handle.provide(id);
    }
    let replicating = chunks.clone();
    tokio::spawn(async move {
        let mut round = tokio::time::interval(ir3_foundation::bt::REPLICATION_ROUND);
        loop {
            round.tick().await;
            replicating.replicate();
        }
    });
    let cutting = node.clone();
    let service = chunks.clone();
    tokio::task::spawn_blocking(move || cutting.attach_chunks(service)).await.ok();
    if node.needs_history() {
        // An empty node: its history comes as chunks from its peers first.
        tokio::spawn(ir3_evm::network::run_history_sync(node.clone()));
    }
    tokio::spawn(ir3_evm::network::run_receiver(node.clone(), received));
    let restamp = node.clone();
    tokio::task::spawn_blocking(move || restamp.restamp_own_late()).await.ok();
    // Wait (briefly) for the listener so the banner can print it.
    for _ in 0..50 {
        if !handle.listen_addrs().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(handle)
}

/// The `--bootstrap` peers as multiaddrs (`host:port` or a multiaddr each).
fn bootstrap_addrs(cli: &Cli) -> Result<Vec<ir3_foundation::net::Multiaddr>, NodeError> {
    use ir3_foundation::net::Multiaddr;
    cli.bootstrap
        .iter()
        .map(|peer| match peer.starts_with('/') {
            true => peer.parse::<Multiaddr>().map_err(|e| {
                NodeError::InvalidArgument(format!("invalid --bootstrap {peer}: {e}"))
            }),
            false => {
                let (host, port) = peer.rsplit_once(':').ok_or_else(|| {
                    NodeError::InvalidArgument(format!("--bootstrap {peer}: expected host:port"))
                })?;
                let port = port.parse().map_err(|_| {
                    NodeError::InvalidArgument(format!("--bootstrap {peer}: bad port"))
                })?;
                multiaddr(host, port)
            }
        })
        .collect()
}

fn multiaddr(host: &str, port: u16) -> Result<ir3_foundation::net::Multiaddr, NodeError> {
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| NodeError::InvalidArgument(format!("{host}: expected an IP address")))?;
    let proto = if ip.is_ipv4() { "ip4" } else { "ip6" };
    format!("/{proto}/{ip}/tcp/{port}")
        .parse()
        .map_err(|e| NodeError::InvalidArgument(format!("{host}:{port}: {e}")))
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

/// SIGTERM and SIGINT, caught from the start of the node (before anything is served): a
/// signal that arrives while the node is still starting is kept and stops it cleanly (state
/// file written, store flushed) once it is up, instead of killing it on the spot.
struct Shutdown {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    fn register() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            Self { signals }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut interrupt)) = self.signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
