//! The engine adapter: starts a Malachite node (channel app, Malachite's own libp2p network)
//! for one validator and drives it — values to propose come from the caller's
//! [`ValueSource`], decided heights go back to the caller as [`Decided`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::B256;
use async_trait::async_trait;
use bytes::Bytes;
use malachitebft_app_channel::app::config::{
    ChannelNames, ConsensusConfig, GossipSubConfig, NodeConfig, P2pConfig, ProtocolNames,
    PubSubProtocol, ValuePayload, ValueSyncConfig,
};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{CommitCertificate, HeightParams};
use malachitebft_app_channel::{
    Channels, ConsensusContext, EngineBuilder, EngineHandle, NetworkContext, NetworkIdentity,
    RequestContext, Signer, SyncContext, WalContext,
};
use malachitebft_signing_ed25519::PrivateKey;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::codec::Ir3Codec;
use crate::context::{Address, Ir3Context, ValidatorSet, Value};
use crate::error::{ConsensusError, Result};
use crate::network_file::NetworkFile;
use crate::signing::{Ir3Signer, Ir3Verifier};

/// Where the values a validator proposes come from.
#[async_trait]
pub trait ValueSource: Send + Sync + 'static {
    /// The payload to propose at `height` (asked only when this validator is the round's
    /// proposer; it must answer within the propose timeout).
    async fn propose(&self, height: u64, round: u32) -> Bytes;

    /// Whether a payload another validator proposed at `height` is acceptable (a validator
    /// prevotes nil on a value it refuses). The parent link is checked by the adapter.
    fn check(&self, _height: u64, _payload: &[u8]) -> bool {
        true
    }

    /// Makes a decided height durable (iR³: appends it, with its certificate, to the series).
    /// Called before the engine is told the height is committed — only then does the engine
    /// advertise it to syncing peers — and before the height is yielded by
    /// [`ConsensusNode::next_decided`]. An error stops the node: a decision that cannot be
    /// stored must not be acknowledged.
    async fn commit(&self, _decided: &Decided) -> std::result::Result<(), String> {
        Ok(())
    }

    /// The validator set that decides `height`, when membership changes decided below it made
    /// it differ from the network file's; `None`: the network file's set. Asked after the
    /// height below was committed, so a change decided at `h` applies from `h + 1` on every
    /// node alike.
    fn validator_set(&self, _height: u64) -> Option<ValidatorSet> {
        None
    }
}

/// A decided height, as handed to the caller.
#[derive(Clone, Debug)]
pub struct Decided {
    /// The height.
    pub height: u64,
    /// The round it was decided in.
    pub round: u32,
    /// The decided value (its `parent` is the previous height's value id).
    pub value: Value,
    /// The commit certificate: precommits of more than ⅔ of the voting power for `value`.
    pub certificate: CommitCertificate<Ir3Context>,
}

/// Misbehaviour the engine or the adapter saw, for the caller to hold against the sender
/// (iR³ counts it in `ir3_peers`: a validator's key is its peer id on both networks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misbehaviour {
    /// The validator it is evidence against (equivocation), when known.
    pub validator: Option<Address>,
    /// The libp2p peer that delivered the offending message, when known.
    pub peer: Option<String>,
    /// What it did.
    pub reason: String,
}

/// Most misbehaviour reports waiting for the caller (more are dropped, and logged).
const MISBEHAVIOUR_CAPACITY: usize = 1024;

/// How to run one validator.
#[derive(Clone)]
pub struct NodeOptions {
    /// The network file every node shares.
    pub network: NetworkFile,
    /// This validator's key (must be in the network file).
    pub key: PrivateKey,
    /// Address the engine's libp2p network listens on (TCP).
    pub listen: SocketAddr,
    /// Other validators' engine addresses, dialled and kept connected.
    pub peers: Vec<SocketAddr>,
    /// Directory of the engine's write-ahead log.
    pub home: PathBuf,
    /// Heights this node already holds (from its own storage), lowest first, contiguous from 1:
    /// the engine starts after the last one and serves them to peers that sync.
    pub history: Vec<Decided>,
    /// The engine network's peer identity when it is not `key` (`None`: `key`, so that a
    /// validator has one peer id on every network). Tests set it to run a double-signer: a
    /// second machine signing with a validator's key under its own identity.
    pub peer_key: Option<PrivateKey>,
}

/// The engine's configuration (Malachite's `NodeConfig`).
#[derive(Clone, Debug)]
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }

    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

/// The first 8 bytes of the network identity, hex: the network's name on the wire.
pub fn network_tag(identity: &B256) -> String {
    alloy_primitives::hex::encode(&identity[..8])
}

fn tcp_multiaddr(addr: SocketAddr) -> Multiaddr {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) => format!("/ip4/{ip}"),
        std::net::IpAddr::V6(ip) => format!("/ip6/{ip}"),
    };
    format!("{ip}/tcp/{}", addr.port()).parse().expect("a socket address is a valid multiaddr")
}

/// Static facts about the network that the app loop needs.
pub(crate) struct NetworkInfo {
    pub(crate) identity: B256,
    pub(crate) validators: ValidatorSet,
    pub(crate) params: HeightParams<Ir3Context>,
    pub(crate) address: Address,
    pub(crate) signer: Ir3Signer,
}

/// A running validator.
pub struct ConsensusNode {
    decided: mpsc::Receiver<Decided>,
    misbehaviour: Option<mpsc::Receiver<Misbehaviour>>,
    engine: EngineHandle,
    app: JoinHandle<()>,
    address: Address,
    identity: B256,
    validators: ValidatorSet,
    is_validator: bool,
}

impl ConsensusNode {
    /// Starts the engine for `options.key`, proposing values from `source`.
    ///
    /// A key in the network file's validator set runs a validator; any other key runs an
    /// **observer**: it follows the decided heights (from gossip and value sync) and yields
    /// them like a validator does ([`ConsensusNode::is_validator`] tells), and it signs only
    /// once a membership change ([`ValueSource::validator_set`]) puts its key in the set.
    pub async fn start(options: NodeOptions, source: Arc<dyn ValueSource>) -> Result<Self> {
        let network = &options.network;
        network.check()?;
        let identity = network.identity();
        let validators = network.validator_set()?;
        let public_key = options.key.public_key();
        let address = Address::from_public_key(&public_key);
        let (moniker, is_validator) = match network.entry_of(&options.key) {
            Ok(entry) => (entry.name.clone(), true),
            Err(_) => (format!("observer-{address}"), false),
        };

        let mut p2p = P2pConfig {
            listen_addr: tcp_multiaddr(options.listen),
            persistent_peers: options.peers.iter().copied().map(tcp_multiaddr).collect(),
            ..P2pConfig::default()
        };
        p2p.discovery.enabled = false;
        // Gossipsub with Malachite's peer scoring by node type (validators and persistent
        // peers ranked above other full nodes when the mesh is formed and kept, so observers
        // cannot crowd validators out of each other's mesh) and the persistent peers as
        // explicit peers (consensus messages always go to them, mesh or not).
        p2p.protocol =
            PubSubProtocol::GossipSub(GossipSubConfig::new(6, 12, 4, 2, true, true, true));
        // Protocol and topic names carry the network identity: a peer started with another
        // network file fails protocol negotiation at connect time instead of talking past us.
        let tag = network_tag(&identity);
        p2p.protocol_names = ProtocolNames {
            consensus: format!("/ir3/{tag}/consensus/1"),
            discovery_kad: format!("/ir3/{tag}/kad/1"),
            discovery_regres: format!("/ir3/{tag}/discovery/1"),
            sync: format!("/ir3/{tag}/sync/1"),
            validator_proof: format!("/ir3/{tag}/validator-proof/1"),
        };
        p2p.channel_names = ChannelNames {
            consensus: format!("/ir3/{tag}/consensus"),
            proposal_parts: format!("/ir3/{tag}/proposal_parts"),
            sync: format!("/ir3/{tag}/sync"),
            liveness: format!("/ir3/{tag}/liveness"),
        };
        let config = EngineConfig {
            moniker: moniker.clone(),
            consensus: ConsensusConfig {
                p2p,
                value_payload: ValuePayload::ProposalAndParts,
                ..ConsensusConfig::default()
            },
            value_sync: ValueSyncConfig {
                enabled: true,
                status_update_interval: Duration::from_secs(1),
                request_timeout: Duration::from_secs(5),
                ..ValueSyncConfig::default()
            },
        };

        // The libp2p identity is the validator key itself: a peer id names one validator.
        let peer_key = options.peer_key.as_ref().unwrap_or(&options.key);
        let keypair = Keypair::ed25519_from_bytes(peer_key.inner().to_bytes())
            .map_err(|e| ConsensusError::Engine(format!("libp2p key: {e}")))?;
        let signer = Ir3Signer::new(options.key.clone(), identity);
        let verifier = Box::new(Ir3Verifier::new(identity));
        // Every node can sign: the engine votes only at heights whose validator set holds its
        // address, so an observer starts voting once a decided membership change adds it.
        let proof = signer
            .sign_validator_proof(
                public_key.as_bytes().to_vec(),
                keypair.public().to_peer_id().to_bytes(),
            )
            .await
            .map_err(|e| ConsensusError::Engine(format!("validator proof: {e}")))?;
        let proof_bytes = Ir3Codec.encode(&proof)?;
        let net_identity =
            NetworkIdentity::new_validator(moniker, keypair, address.to_string(), proof_bytes);
        let consensus =
            ConsensusContext::new_validator(address, verifier, Box::new(signer.clone()));

        let wal_path = options.home.join("wal").join("consensus.wal");
        let (channels, engine) = EngineBuilder::new(Ir3Context, config)
            .with_default_wal(WalContext::new(wal_path, Ir3Codec))
            .with_default_network(NetworkContext::new(net_identity, Ir3Codec))
            .with_default_consensus(consensus)
            .with_default_sync(SyncContext::new(Ir3Codec))
            .with_default_request(RequestContext::new(100))
            .build()
            .await
            .map_err(|e| ConsensusError::Engine(e.to_string()))?;

        let info = NetworkInfo {
            identity,
            validators: validators.clone(),
            params: HeightParams::new(
                validators.clone(),
                network.engine.timeouts(),
                network.engine.target_time(),
            ),
            address,
            signer,
        };
        let (tx, decided) = mpsc::channel(1024);
        let (misbehaviour_tx, misbehaviour) = mpsc::channel(MISBEHAVIOUR_CAPACITY);
        std::fs::create_dir_all(&options.home)
            .map_err(|source| ConsensusError::Io { path: options.home.clone(), source })?;
        let seen_path = options.home.join("undecided.postcard");
        let state =
            AppState::new(info, source, options.history, tx, seen_path).reporting(misbehaviour_tx);
        let app = tokio::spawn(run_app(state, channels));
        Ok(Self {
            decided,
            misbehaviour: Some(misbehaviour),
            engine,
            app,
            address,
            identity,
            validators,
            is_validator,
        })
    }

    /// The next decided height, in height order; `None` once the node stopped.
    pub async fn next_decided(&mut self) -> Option<Decided> {
        self.decided.recv().await
    }

    /// The misbehaviour reports (equivocation evidence from the engine, proposal parts not
    /// signed by their proposer), to be drained by one task; `None` once taken.
    pub fn take_misbehaviour(&mut self) -> Option<mpsc::Receiver<Misbehaviour>> {
        self.misbehaviour.take()
    }

    /// Whether this node is in the network file's validator set (else it started as an
    /// observer).
    pub fn is_validator(&self) -> bool {
        self.is_validator
    }

    /// This node's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The network identity (hash of the network file).
    pub fn identity(&self) -> B256 {
        self.identity
    }

    /// The validator set the node runs with.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// A verifier for this network's signatures and certificates.
    pub fn verifier(&self) -> Ir3Verifier {
        Ir3Verifier::new(self.identity)
    }

    /// Stops the engine (its actors, network and write-ahead log) and the app loop.
    pub async fn stop(self) {
        if let Err(e) = self.engine.actor.kill_and_wait(None).await {
            tracing::warn!("stopping the consensus engine: {e}");
        }
        self.engine.handle.abort();
        self.app.abort();
        let _ = self.app.await;
    }
}

async fn run_app(mut state: AppState, mut channels: Channels<Ir3Context>) {
    while let Some(msg) = channels.consensus.recv().await {
        if let Err(e) = state.handle(msg, &channels.network).await {
            tracing::error!(%e, "consensus app loop stopped");
            return;
        }
    }
    tracing::debug!("consensus channel closed");
}
