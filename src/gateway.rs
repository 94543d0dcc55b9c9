//! The gateway: network mode's agreement on the Malachite BFT engine (`--network`).
//!
//! The glue between the engine adapter (`ir3-consensus`, which knows nothing of the EVM) and
//! the EVM node (which knows nothing of Malachite): a [`ValueSource`] over [`EvmNode`] whose
//! values are encoded [`Decision`]s — propose the closed epochs this gateway holds, check a
//! peer's proposal, record and apply each decided height — and the start-up that hands the
//! engine the heights already in the series. See `docs/CONSENSUS.md`.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use async_trait::async_trait;
use bytes::Bytes;
use ir3_consensus::{
    ConsensusNode, Decided, DecidedRecord, NetworkFile, NodeOptions, RawCertificate, Value,
    ValueSource,
};
use ir3_evm::{
    EvmNode,
    network::{DecidedHeight, Decision, DecisionVerifier, ValidatorKey},
};
use tracing::{info, warn};

use crate::NodeError;

/// Most envelope bytes one height carries (the engine's gossip limit is 4 MiB; one part).
pub const MAX_DECISION_BYTES: usize = 1 << 20;

/// How often a proposer with nothing to decide looks again.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// The values of the engine come from, and go back to, the EVM node.
struct EvmValueSource {
    node: Arc<EvmNode>,
    /// The network file (validators' powers for the sets after membership changes).
    network: NetworkFile,
    /// How long a proposer with nothing to decide waits for content (half the propose
    /// timeout: the others wait for the proposal that long and more).
    idle_wait: std::time::Duration,
}

#[async_trait]
impl ValueSource for EvmValueSource {
    async fn propose(&self, height: u64, round: u32) -> Bytes {
        // With nothing to decide yet, wait a little for an epoch with content to close rather
        // than decide an empty height at once: an idle network records fewer empty heights,
        // and a transaction that arrives meanwhile is proposed as soon as its epoch closes.
        let waiting_since = tokio::time::Instant::now();
        let decision = loop {
            let node = self.node.clone();
            let decision =
                tokio::task::spawn_blocking(move || node.propose_decision(MAX_DECISION_BYTES))
                    .await
                    .ok()
                    .and_then(|d| d.ok())
                    .unwrap_or_default();
            if !decision.epochs.is_empty() || waiting_since.elapsed() >= self.idle_wait {
                break decision;
            }
            tokio::time::sleep(IDLE_POLL).await;
        };
        match decision.encode() {
            Ok(bytes) => Bytes::from(bytes),
            Err(error) => {
                warn!(height, round, %error, "proposing an empty height");
                Bytes::from(Decision::default().encode().unwrap_or_default())
            }
        }
    }

    fn check(&self, height: u64, payload: &[u8]) -> bool {
        match tokio::task::block_in_place(|| self.node.check_decision(payload)) {
            Ok(()) => true,
            Err(error) => {
                warn!(height, %error, "proposal refused");
                false
            }
        }
    }

    async fn commit(&self, decided: &Decided) -> Result<(), String> {
        let record = DecidedRecord::of(decided);
        let certificate = postcard::to_allocvec(&record.certificate).map_err(|e| e.to_string())?;
        let height = DecidedHeight {
            height: record.height,
            round: record.round,
            parent: record.value.parent,
            payload: record.value.payload.to_vec(),
            certificate,
        };
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || node.commit_decided(height))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    fn validator_set(&self, height: u64) -> Option<ir3_consensus::ValidatorSet> {
        let keys = self.node.validators_at(height);
        match self.network.set_of_keys(&keys) {
            Ok(set) if !keys.is_empty() => Some(set),
            Ok(_) => None,
            Err(error) => {
                warn!(height, %error, "validator set unreadable; the network file's is used");
                None
            }
        }
    }
}

/// Where and how the engine runs.
pub struct GatewayOptions {
    /// The network file.
    pub network: NetworkFile,
    /// This node's key (a key outside the set runs an observer).
    pub key: ir3_consensus::KeyFile,
    /// The engine's listen address.
    pub listen: SocketAddr,
    /// Other validators' engine addresses.
    pub peers: Vec<SocketAddr>,
    /// The engine's directory (write-ahead log).
    pub home: PathBuf,
}

/// Starts the engine over the node; decided heights are recorded and applied as they come.
pub async fn start(
    node: Arc<EvmNode>,
    options: GatewayOptions,
) -> Result<ConsensusNode, NodeError> {
    let key = options.key.key().map_err(engine_error)?;
    let history = node
        .decided_heights()
        .into_iter()
        .map(into_decided)
        .collect::<Result<Vec<Decided>, NodeError>>()?;
    let held = history.len();
    let idle_wait = std::time::Duration::from_millis(options.network.engine.propose_ms / 2);
    let source = Arc::new(EvmValueSource { node, network: options.network.clone(), idle_wait });
    let consensus = ConsensusNode::start(
        NodeOptions {
            network: options.network,
            key,
            listen: options.listen,
            peers: options.peers,
            home: options.home,
            history,
            peer_key: None,
        },
        source,
    )
    .await
    .map_err(engine_error)?;
    info!(validator = consensus.is_validator(), held, "consensus engine started");
    Ok(consensus)
}

/// Drains the engine's decided heights (already recorded and applied by the source's commit)
/// and its misbehaviour reports, which are held against the sender in `ir3_peers` (a
/// validator's key is its peer id on both networks).
pub async fn follow(node: Arc<EvmNode>, mut consensus: ConsensusNode) {
    if let Some(mut reports) = consensus.take_misbehaviour() {
        tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                let peer = report.peer.clone().or_else(|| {
                    report.validator.and_then(|address| node.peer_of_engine_address(&address.0))
                });
                let (Some(peer), Some(p2p)) = (peer, node.p2p()) else { continue };
                if let Ok(peer) = peer.parse() {
                    p2p.report_refusal(peer, format!("consensus: {}", report.reason));
                }
            }
        });
    }
    while let Some(decided) = consensus.next_decided().await {
        tracing::debug!(height = decided.height, round = decided.round, "height decided");
    }
}

fn into_decided(height: DecidedHeight) -> Result<Decided, NodeError> {
    let value = Value { parent: height.parent, payload: Bytes::from(height.payload) };
    // A height taken from a history segment has no certificate of its own (its value was
    // checked through the hash chain up to a certified later height).
    let certificate = if height.certificate.is_empty() {
        RawCertificate::uncertified(height.height, height.round, value.id())
    } else {
        postcard::from_bytes(&height.certificate).map_err(|e| {
            NodeError::InvalidArgument(format!(
                "height {}: unreadable certificate: {e}",
                height.height
            ))
        })?
    };
    DecidedRecord { height: height.height, round: height.round, value, certificate }
        .into_decided()
        .map_err(engine_error)
}

/// Checks decided heights from history segments: each certificate against the validator set
/// that decided its height, with the engine's own signature checks.
#[derive(Debug)]
struct EngineVerifier {
    identity: alloy_primitives::B256,
    network: NetworkFile,
    verifier: ir3_consensus::Ir3Verifier,
}

impl DecisionVerifier for EngineVerifier {
    fn genesis_parent(&self) -> alloy_primitives::B256 {
        self.identity
    }

    fn verify(&self, record: &DecidedHeight, validators: &[ValidatorKey]) -> Result<(), String> {
        let raw: RawCertificate =
            postcard::from_bytes(&record.certificate).map_err(|e| format!("unreadable: {e}"))?;
        let value = Value { parent: record.parent, payload: Bytes::from(record.payload.clone()) };
        if raw.height.0 != record.height || raw.value_id != value.id() {
            return Err("the certificate is for another height or value".into());
        }
        let set = self.network.set_of_keys(validators).map_err(|e| e.to_string())?;
        let certificate = raw.into_commit().map_err(|e| e.to_string())?;
        let check = self.verifier.verify_certificate(&certificate, &set);
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(check))
            .map_err(|e| e.to_string())
    }

    fn signers(&self, record: &DecidedHeight) -> Vec<Vec<u8>> {
        let Ok(raw) = postcard::from_bytes::<RawCertificate>(&record.certificate) else {
            return Vec::new();
        };
        raw.signatures.iter().map(|(address, _, _)| address.0.to_vec()).collect()
    }

    fn address_of(&self, key: &ValidatorKey) -> Vec<u8> {
        ir3_consensus::Address::of_key_bytes(key).map(|a| a.0.to_vec()).unwrap_or_default()
    }
}

/// The verifier of decided heights for this network (set on the node before it syncs).
pub fn verifier(network: &NetworkFile) -> Result<Arc<dyn DecisionVerifier>, NodeError> {
    let identity = network.identity();
    Ok(Arc::new(EngineVerifier {
        identity,
        network: network.clone(),
        verifier: ir3_consensus::Ir3Verifier::new(identity),
    }))
}

fn engine_error(error: ir3_consensus::ConsensusError) -> NodeError {
    NodeError::Consensus(error)
}
