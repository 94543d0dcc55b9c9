//! Joining a network without its file, as the design notes' command line does:
//! `ir3 --node-id my_node --dht-port 7001 --bt-port 6001 --p2p-port 6002 --bootstrap host:7001
//! --apps money,reputation,territory,evm --evm-rpc-port 8545` (no `--network`, no `--key`).
//!
//! The node asks its bootstrap peers for the network file and where their engines listen (a
//! short-lived peer-to-peer client announcing the `join` network, which gateways let in for
//! that question only), keeps the file in its data directory with a fresh key of its own, and
//! runs as an observer; a later start uses what it kept. The file comes from the peers the user
//! chose to bootstrap from — as any bootstrap is trusted to lead to the right network — and its
//! identity is printed so that it can be checked against the one the network's operators give.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use ir3_consensus::{KeyFile, NetworkFile};
use ir3_foundation::{
    MemorySeries,
    net::{self, Decider, IntentMessage, JOIN_APP, JOIN_NETWORK, Keypair, P2pConfig, PeerId},
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{NodeError, cli::Cli};

/// How long a joining node asks its bootstrap peers before it gives up.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What a gateway hands a joining node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinInfo {
    /// The network file.
    pub network: NetworkFile,
    /// Where the gateway's engine listens (`host:port`), for the joining node's engine.
    pub consensus: Option<SocketAddr>,
}

impl JoinInfo {
    /// The bytes a gateway serves (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Where a joined node keeps what it was given, and its key.
fn kept(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("network.json"), dir.join("node.key.json"), dir.join("consensus-peers.json"))
}

/// The network file, key and engine peers a node started without `--network` runs with: kept
/// in its data directory from an earlier join, or asked of its bootstrap peers now.
pub async fn join(cli: &Cli) -> Result<(PathBuf, PathBuf, Vec<String>), NodeError> {
    let dir = if cli.ephemeral {
        std::env::temp_dir().join(format!("ir3-join-{}", std::process::id()))
    } else {
        cli.data_dir()
    };
    let (network_path, key_path, peers_path) = kept(&dir);
    if network_path.exists() && key_path.exists() {
        let peers = std::fs::read(&peers_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        return Ok((network_path, key_path, peers));
    }
    if cli.bootstrap.is_empty() {
        return Err(NodeError::InvalidArgument(
            "a network node needs --network NETWORK_JSON and --key KEY_JSON (write them with \
             `ir3 network init --gateways N --out DIR`), or a --bootstrap peer of the network \
             to join as an observer"
                .into(),
        ));
    }
    let info = ask(cli).await?;
    info.network.check()?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| NodeError::InvalidArgument(format!("{}: {e}", dir.display())))?;
    info.network.save(&network_path)?;
    KeyFile::generate(cli.node_id.clone().unwrap_or_else(|| "observer".into())).save(&key_path)?;
    let peers: Vec<String> = match info.consensus {
        Some(addr) if addr.ip().is_unspecified() => cli
            .bootstrap
            .iter()
            .filter_map(|b| b.rsplit_once(':').map(|(host, _)| format!("{host}:{}", addr.port())))
            .collect(),
        Some(addr) => vec![addr.to_string()],
        None => Vec::new(),
    };
    let bytes = serde_json::to_vec(&peers).unwrap_or_default();
    std::fs::write(&peers_path, bytes)
        .map_err(|e| NodeError::InvalidArgument(format!("{}: {e}", peers_path.display())))?;
    println!(
        "Joined network {} (chain id {}, {} validators) from {}; kept in {}",
        info.network.identity(),
        info.network.chain_id,
        info.network.validators.len(),
        cli.bootstrap.join(", "),
        network_path.display()
    );
    Ok((network_path, key_path, peers))
}

/// Keeps the first join answer.
#[derive(Debug, Default)]
struct JoinAnswer(Arc<Mutex<Option<Vec<u8>>>>);

impl Decider for JoinAnswer {
    fn decide(&mut self, _from: &PeerId, _message: &IntentMessage) -> Option<net::Answer> {
        None
    }

    fn on_index(&mut self, _from: &PeerId, app: &str, data: &[u8]) {
        if app == JOIN_APP {
            self.0.lock().get_or_insert_with(|| data.to_vec());
        }
    }
}

/// Asks the bootstrap peers for the join information until one answers.
async fn ask(cli: &Cli) -> Result<JoinInfo, NodeError> {
    let got = Arc::new(Mutex::new(None));
    let host = cli.p2p_host.unwrap_or(cli.host);
    let config = P2pConfig {
        keypair: Keypair::generate_ed25519(),
        listen: crate::multiaddr(&host.to_string(), 0)?,
        also_listen: Vec::new(),
        bootstrap: crate::bootstrap_addrs(cli)?,
        reply_window: net::DEFAULT_REPLY_WINDOW,
        network: Some(JOIN_NETWORK.into()),
    };
    let handle = net::spawn(config, Arc::new(MemorySeries::new()), JoinAnswer(got.clone()))?;
    let started = Instant::now();
    let answer = loop {
        if let Some(bytes) = got.lock().take() {
            break bytes;
        }
        if started.elapsed() > JOIN_TIMEOUT {
            return Err(NodeError::InvalidArgument(format!(
                "no --bootstrap peer ({}) handed over its network file within {} s: start with \
                 --network NETWORK_JSON and --key KEY_JSON",
                cli.bootstrap.join(", "),
                JOIN_TIMEOUT.as_secs()
            )));
        }
        handle.request_index(JOIN_APP);
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    drop(handle);
    serde_json::from_slice(&answer).map_err(|e| {
        NodeError::InvalidArgument(format!("the bootstrap peer's network file is unreadable: {e}"))
    })
}
