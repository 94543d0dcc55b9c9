//! Network mode: the EVM gateway on the peer-to-peer foundation.
//!
//! A transaction sent to any gateway is validated, stamped with the gateway's hybrid logical
//! clock into an [`Envelope`], recorded in the series, admitted to the local epoch builder
//! (which rebuilds the tentative tip of the chain at once, so the sender gets a receipt), and
//! declared to the peers as an `execute_eth_tx` intent — fire and forget. Envelopes from peers
//! take the same path without the declaration.
//!
//! Once an epoch is closed (`grace_ms` after its end), the BFT engine (driven by the binary)
//! decides it: a decided height names closed epochs with their exact envelopes
//! ([`Decision`]), is recorded in the series with its commit certificate, and makes those
//! epochs final everywhere: their content is fixed, envelopes that missed them are late (their
//! gateway stamps them again into an open epoch), and the `finalized` tag moves. See
//! `docs/ARCHITECTURE.md` for the rules.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering as AtomicOrdering},
    },
};

use alloy_primitives::B256;
use ir3_foundation::{
    Intent, IntentId, append_blocking,
    apps::SeatAgreement,
    net::{IntentInsight, Keypair, P2pHandle, PeerInsight},
    order::{Envelope, HlcStamp, HybridClock, now_ms},
};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tracing::{debug, error, warn};

use crate::{
    block::SignedTx,
    chain::Chain,
    epoch_chain::evm_envelope,
    error::{EvmError, Result},
    events::{EVM_APP, EXECUTE_ETH_TX, EvmEvent},
    node::EvmNode,
};

mod apps;
mod decided;
#[cfg(test)]
mod decided_tests;
mod history;
#[cfg(test)]
mod hostile_tests;
mod membership;
mod ordering;
mod peer;

pub use decided::{DecidedEpoch, DecidedHeight, Decision, MAX_DECISION_AHEAD_MS};
pub use history::{
    DecisionVerifier, HeightSegment, HistoryIndex, INDEX_WAIT, MAX_OFFERS, MAX_SYNC_WANTS,
    SEGMENT_BLOCKS, SEGMENT_TARGET_BYTES, SEGMENT_TIMEOUT, SYNC_ROUND, SegmentHeight,
    run_history_sync,
};
pub use membership::{
    Approval, MEMBERSHIP_APP, Membership, MembershipChange, ValidatorKey, approval_bytes,
};
pub use ordering::MAX_PAGE_ENVELOPES;
pub(crate) use ordering::Ordering;
pub use peer::{
    EvmDecider, GLOBAL_TX_RATE, Inbound, MAX_BATCH, PEER_TX_BURST, PEER_TX_RATE, RECEIVED_CAPACITY,
    run_receiver,
};

/// Network-mode options.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// Length of an epoch, in milliseconds (one block per non-empty epoch).
    pub epoch_ms: u64,
    /// Time after an epoch's end before it is closed (proposed and accepted), in
    /// milliseconds.
    pub grace_ms: u64,
    /// This node's key: its validator key and peer identity (it signs membership approvals).
    /// A key outside the validator set follows as an observer.
    pub keypair: Keypair,
    /// The network's identity (the network file's hash): approvals are bound to it.
    pub identity: B256,
    /// The network file's validators, in its order (seats `0..`).
    pub validators: Vec<ValidatorKey>,
    /// Most heights in one history segment (the same on every gateway: it fixes the chunks).
    pub segment_blocks: u64,
}

/// A network-mode fact replayed from the series.
#[derive(Debug, Clone)]
pub enum NetworkEvent {
    /// An envelope admitted.
    Envelope(Envelope),
    /// A height decided by the BFT engine.
    Decided(DecidedHeight),
}

/// Network mode's state inside the node.
#[derive(Debug)]
pub(crate) struct NetworkState {
    options: NetworkOptions,
    order: Mutex<Ordering>,
    clock: HybridClock,
    p2p: OnceLock<P2pHandle>,
    /// Where catch-up pulls start.
    pull_from: AtomicU64,
    /// The intent each locally declared transaction went out as.
    intents: Mutex<HashMap<B256, IntentId>>,
    /// The chunk service history segments are stored in.
    pub(crate) chunks: OnceLock<Arc<ir3_foundation::bt::ChunkService>>,
    /// History segments: this node's and a sync's.
    pub(crate) history: Mutex<history::History>,
    /// A history sync is running: catch-up pulls and the engine wait for it.
    pub(crate) syncing: std::sync::atomic::AtomicBool,
    /// The checks of native apps' envelopes (set when the apps start).
    pub(crate) app_check: OnceLock<Arc<dyn ir3_foundation::apps::EnvelopeCheck>>,
    /// Heights decided by the BFT engine, lowest first.
    pub(crate) decided: Mutex<Vec<DecidedHeight>>,
    /// How decided heights from other nodes are checked (set by the binary).
    pub(crate) verifier: OnceLock<Arc<dyn DecisionVerifier>>,
    /// Heights this node took from history segments.
    pub(crate) history_heights: AtomicU64,
    /// Each validator's count of decided heights it precommitted (read from the
    /// certificates), and how many decided heights are counted.
    pub(crate) agreement: Mutex<(usize, std::collections::BTreeMap<u64, SeatAgreement>)>,
    /// The validator set over the decided heights.
    pub(crate) membership: RwLock<Membership>,
    /// What a node joining without the network file is given (set by the binary).
    pub(crate) join_info: OnceLock<Vec<u8>>,
    /// This node's key.
    me: ValidatorKey,
}

impl NetworkState {
    /// Rebuilds the ordering state from the series' network events and derives the chain.
    pub(crate) fn replay(
        options: NetworkOptions,
        chain: &mut Chain,
        events: Vec<NetworkEvent>,
    ) -> Self {
        let mut order = Ordering::new(options.epoch_ms);
        let clock = HybridClock::default();
        let mut decided = Vec::new();
        let mut membership = Membership::new(options.identity, options.validators.clone());
        for event in events {
            match event {
                NetworkEvent::Envelope(envelope) => {
                    clock.witness(envelope.stamp);
                    let _ = order.admit(None, vec![envelope]);
                }
                NetworkEvent::Decided(record) => {
                    match Decision::decode(&record.payload) {
                        Ok(decision) => {
                            for item in &decision.epochs {
                                for envelope in &item.envelopes {
                                    clock.witness(envelope.stamp);
                                }
                            }
                            order.apply_decision(None, &decision);
                            membership.apply(record.height, &decision);
                        }
                        Err(error) => {
                            error!(height = record.height, %error, "decided height unreadable")
                        }
                    }
                    decided.push(record);
                }
            }
        }
        order.builder.rebuild_all(chain);
        chain.set_finality_tags(order.tags());
        // A node with nothing yet syncs its history from chunks before it pulls or decides.
        let fresh =
            order.applied().is_none() && order.builder.book().is_empty() && decided.is_empty();
        Self {
            pull_from: AtomicU64::new(order.pull_from()),
            order: Mutex::new(order),
            clock,
            p2p: OnceLock::new(),
            intents: Mutex::new(HashMap::new()),
            chunks: OnceLock::new(),
            history: Mutex::new(history::History::default()),
            syncing: std::sync::atomic::AtomicBool::new(fresh),
            app_check: OnceLock::new(),
            decided: Mutex::new(decided),
            verifier: OnceLock::new(),
            history_heights: AtomicU64::new(0),
            agreement: Mutex::new((0, std::collections::BTreeMap::new())),
            membership: RwLock::new(membership),
            join_info: OnceLock::new(),
            me: key_of(&options.keypair),
            options,
        }
    }

    /// This node's seat while its key is in the current validator set (`None`: an observer).
    pub(crate) fn seat(&self) -> Option<u64> {
        let membership = self.membership.read();
        membership.current().contains(&self.me).then(|| membership.seat_of(&self.me)).flatten()
    }

    /// This node's seat if its key was ever in the set (its envelopes carry it).
    pub(crate) fn own_seat(&self) -> Option<u64> {
        self.membership.read().seat_of(&self.me)
    }

    /// This node's seat, or an observer's refusal of `what`.
    pub(crate) fn seat_or_refuse(&self, what: &str) -> Result<u64> {
        self.seat().ok_or_else(|| {
            EvmError::InvalidParams(format!(
                "this node is an observer (its key is not in the network's validator set of {}): \
                 send {what} to a validator",
                self.membership.read().current().len()
            ))
        })
    }

    /// This gateway's envelopes among `late` that no block includes: the ones it stamps again.
    pub(crate) fn own_unincluded(&self, chain: &Chain, late: &[Envelope]) -> Vec<Envelope> {
        let seat = self.own_seat();
        late.iter()
            .filter(|e| Some(e.gateway) == seat)
            .filter(|e| e.app != EVM_APP || !chain.contains_tx(&keccak(&e.payload)))
            .cloned()
            .collect()
    }

    /// A stamp for a local envelope: never in an epoch that is already final.
    pub(crate) fn local_stamp(&self, order: &Ordering) -> HlcStamp {
        let open_from = order.first_open_epoch().saturating_mul(self.options.epoch_ms);
        self.clock.tick(now_ms().max(open_from))
    }

    pub(crate) fn declare(&self, intent: Intent, stamp: HlcStamp) -> Option<IntentId> {
        let p2p = self.p2p.get()?;
        match p2p.push_intent(intent, stamp) {
            Ok(id) => Some(id),
            Err(error) => {
                warn!(%error, "intent not declared");
                None
            }
        }
    }
}

/// Where a transaction stands in network mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionStatus {
    /// `final`, `tentative`, `dropped` or `unknown`.
    pub status: &'static str,
    /// The block that includes it.
    pub block_number: Option<u64>,
    /// Why it was dropped.
    pub reason: Option<String>,
}

/// A network-mode node's view of the validator set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    /// This node's peer id.
    pub peer_id: Option<String>,
    /// Its seat in the validator set (equal to `gateways` for an observer).
    pub gateway: u64,
    /// The validator set's size.
    pub gateways: u64,
    /// Validators whose precommits decide a height (more than two thirds of the set).
    pub majority: usize,
    /// Whether this node is a validator (it proposes, prevotes and precommits).
    pub voting: bool,
    /// Epoch length in milliseconds.
    pub epoch_ms: u64,
    /// The last epoch a decided height made final here.
    pub final_epoch: Option<u64>,
    /// The last height decided (and applied) here.
    pub decided_height: Option<u64>,
    /// The `latest`, `safe` and `finalized` block numbers.
    pub latest_block: u64,
    /// See `latest_block`.
    pub safe_block: u64,
    /// See `latest_block`.
    pub finalized_block: u64,
    /// The current validators: seat and peer id.
    pub members: Vec<(u64, String)>,
    /// Membership changes being approved.
    pub pending_changes: Vec<PendingChange>,
    /// History segments this node holds and serves.
    pub history_segments: usize,
    /// Decided heights this node took from history segments (it synced from chunks).
    pub heights_from_history: usize,
}

/// A membership change being approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingChange {
    /// The change's id.
    pub id: B256,
    /// Peer ids of the keys it adds.
    pub add: Vec<String>,
    /// Peer ids of the keys it removes.
    pub remove: Vec<String>,
    /// Validators that approved it so far (decided approvals).
    pub approvals: usize,
}

/// One decided height, as `ir3_height` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeightView {
    /// The height.
    pub height: u64,
    /// The round it was decided in.
    pub round: u32,
    /// The value id of the height before (the network identity for height 1).
    pub parent: B256,
    /// Its value id (`keccak(parent ‖ payload)`): what the certificate's precommits sign.
    pub value_id: B256,
    /// The proposer's clock when it proposed, in milliseconds.
    pub time_ms: u64,
    /// The epochs it made final and how many envelopes each holds.
    pub epochs: Vec<(u64, usize)>,
    /// The validators whose precommits its certificate holds: seat and peer id (empty for a
    /// height taken from history segments without its certificate).
    pub signers: Vec<(u64, String)>,
    /// Size of its commit certificate in bytes.
    pub certificate_bytes: usize,
}

impl EvmNode {
    /// Whether the node runs in network mode.
    pub fn is_networked(&self) -> bool {
        self.network.is_some()
    }

    pub(crate) fn network_state(&self) -> Result<&NetworkState> {
        self.network
            .as_ref()
            .ok_or_else(|| EvmError::InvalidParams("this node is not in network mode".into()))
    }

    /// Sets what a node joining without the network file is handed when it asks (the network
    /// file and where this node's engine listens); opaque to this crate.
    pub fn set_join_info(&self, info: Vec<u8>) {
        if let Some(network) = &self.network {
            let _ = network.join_info.set(info);
        }
    }

    /// Connects the node to its peer-to-peer handle (network mode).
    pub fn attach_p2p(&self, handle: P2pHandle) {
        if let Some(network) = &self.network {
            let _ = network.p2p.set(handle);
        }
    }

    /// The peer-to-peer handle, once attached.
    pub fn p2p(&self) -> Option<&P2pHandle> {
        self.network.as_ref().and_then(|n| n.p2p.get())
    }

    /// Network mode's `eth_sendRawTransaction`: validate, stamp, record, admit, declare.
    pub(crate) async fn submit_networked(&self, tx: Arc<SignedTx>) -> Result<B256> {
        let network = self.network_state()?;
        network.seat_or_refuse("transactions")?;
        self.with_chain(|chain| crate::submit::validate(chain, &tx))?;
        let hash = tx.hash;
        tokio::task::block_in_place(|| self.admit_local(&tx))?;
        let _ = self.new_transactions.send(hash);
        Ok(hash)
    }

    /// Stamps a local transaction, records and admits it, and declares it to the peers.
    fn admit_local(&self, tx: &SignedTx) -> Result<()> {
        let network = self.network_state()?;
        let seat = network.seat_or_refuse("transactions")?;
        let _mutation = self.mutation.lock();
        let stamp = network.local_stamp(&network.order.lock());
        let envelope = evm_envelope(tx, stamp, seat);
        self.apply_inbound(vec![envelope.clone()])?;
        self.declare_envelope(tx.hash, &envelope);
        Ok(())
    }

    fn declare_envelope(&self, hash: B256, envelope: &Envelope) {
        let Some(network) = &self.network else { return };
        let Ok(payload) = postcard::to_allocvec(envelope) else { return };
        let intent = Intent::new(EVM_APP, EXECUTE_ETH_TX, payload);
        if let Some(id) = network.declare(intent, envelope.stamp) {
            network.intents.lock().insert(hash, id);
        }
    }

    /// Checks an envelope from a peer: it must carry a transaction of this chain signed by its
    /// account that can pay for itself at this gateway's tip, from a gateway of the set, with a
    /// stamp not too far ahead. (One that cannot pay here loses nothing by staying out of the
    /// tentative book: if it is decided, the decided height carries it.)
    pub(crate) fn check_envelope(&self, envelope: &Envelope) -> Result<()> {
        let network = self.network_state()?;
        if let Some(tx) = self.check_envelope_content(envelope)? {
            let (balance, cost) =
                self.with_chain(|chain| (chain.latest_balance(tx.sender), tx.max_cost()));
            if balance < cost {
                return Err(EvmError::InsufficientFunds { balance, cost });
            }
        }
        network
            .clock
            .observe(envelope.stamp, now_ms())
            .map(|_| ())
            .map_err(|e| EvmError::InvalidParams(e.to_string()))
    }

    /// Whether `peer` is the gateway whose seat the envelope names (its stamper).
    pub(crate) fn stamped_by(
        &self,
        envelope: &Envelope,
        peer: &ir3_foundation::net::PeerId,
    ) -> bool {
        let Some(network) = &self.network else { return false };
        let membership = network.membership.read();
        membership
            .key_of(envelope.gateway)
            .and_then(peer_id_of)
            .is_some_and(|stamper| stamper == peer.to_string())
    }

    /// The checks of [`EvmNode::check_envelope`] that do not involve the clock.
    /// Returns the decoded transaction of an EVM envelope (its sender recovered once).
    pub(crate) fn check_envelope_content(&self, envelope: &Envelope) -> Result<Option<SignedTx>> {
        let network = self.network_state()?;
        let seats = network.membership.read().seat_count();
        if envelope.gateway >= seats {
            return Err(EvmError::InvalidParams(format!(
                "envelope stamped by gateway {} outside the {seats} seats",
                envelope.gateway
            )));
        }
        if envelope.app == MEMBERSHIP_APP {
            return network
                .membership
                .read()
                .verify_signature(envelope)
                .map(|_| None)
                .map_err(EvmError::InvalidParams);
        }
        if envelope.app != EVM_APP {
            return self.check_app_envelope(envelope).map(|()| None);
        }
        let tx = SignedTx::decode(&envelope.payload)?;
        if tx.sender.as_slice() != envelope.account.as_slice() || tx.nonce() != envelope.sequence {
            return Err(EvmError::InvalidParams("envelope does not match its transaction".into()));
        }
        let expected = self.config().chain_id;
        if let Some(got) = alloy_consensus::Transaction::chain_id(&tx.envelope)
            && got != expected
        {
            return Err(EvmError::WrongChainId { got, expected });
        }
        Ok(Some(tx))
    }

    /// Envelopes from peers (already checked): recorded durably, then applied.
    pub(crate) fn receive(&self, envelopes: Vec<Envelope>) -> Result<()> {
        let _mutation = self.mutation.lock();
        self.apply_inbound(envelopes)
    }

    /// Records envelopes in the series (one durable batch), admits them, publishes the rebuilt
    /// blocks and stamps again this gateway's own envelopes that came too late for their
    /// epoch. The caller holds the mutation lock, so the series' order is the order of
    /// application.
    pub(crate) fn apply_inbound(&self, envelopes: Vec<Envelope>) -> Result<()> {
        let network = self.network_state()?;
        let envelopes = network.order.lock().only_new(envelopes);
        if envelopes.is_empty() {
            return Ok(());
        }
        let bodies = envelopes
            .iter()
            .map(|envelope| EvmEvent::Envelope(envelope.clone()).to_body())
            .collect::<Result<Vec<_>>>()?;
        append_blocking(&*self.series, bodies)?;
        let (applied, restamp) = {
            let mut chain = self.chain.write();
            let mut order = network.order.lock();
            let applied = order.admit(Some(&mut chain), envelopes)?;
            chain.set_finality_tags(order.tags());
            let restamp = network.own_unincluded(&chain, &applied.late);
            self.refresh_pull_from(network, &order);
            (applied, restamp)
        };
        self.after_applied(applied, restamp)
    }

    /// Stamps this gateway's late envelopes again into an open epoch and declares them anew.
    fn restamp(&self, late: Vec<Envelope>) -> Result<()> {
        let network = self.network_state()?;
        let fresh: Vec<Envelope> = {
            let order = network.order.lock();
            late.into_iter().map(|e| Envelope { stamp: network.local_stamp(&order), ..e }).collect()
        };
        debug!(count = fresh.len(), "late envelopes stamped again");
        self.apply_inbound(fresh.clone())?;
        for envelope in &fresh {
            self.declare_envelope(keccak(&envelope.payload), envelope);
        }
        Ok(())
    }

    pub(crate) fn refresh_pull_from(&self, network: &NetworkState, order: &Ordering) {
        network.pull_from.store(order.pull_from(), AtomicOrdering::Relaxed);
    }

    /// At start: this gateway's own envelopes that are late and in no block are stamped again
    /// (a crash may have come between a finality and the new stamp).
    pub fn restamp_own_late(&self) -> Result<()> {
        let network = self.network_state()?;
        let _mutation = self.mutation.lock();
        let late: Vec<Envelope> = {
            let chain = self.chain.read();
            let order = network.order.lock();
            let seat = network.own_seat();
            order
                .builder
                .late_envelopes()
                .filter(|e| Some(e.gateway) == seat)
                .filter(|e| !chain.contains_tx(&keccak(&e.payload)))
                .cloned()
                .collect()
        };
        if late.is_empty() { Ok(()) } else { self.restamp(late) }
    }

    /// Where a transaction stands: final, tentative, dropped (with the reason) or unknown.
    pub fn transaction_status(&self, hash: B256) -> TransactionStatus {
        let chain = self.chain.read();
        if let Some((block, _)) = chain.locate_tx(hash) {
            let number = block.number();
            let status =
                if number <= chain.finality_tags().finalized { "final" } else { "tentative" };
            return TransactionStatus { status, block_number: Some(number), reason: None };
        }
        if let Some(network) = &self.network
            && let Some(reason) = network.order.lock().builder.drop_reason(&hash)
        {
            return TransactionStatus {
                status: "dropped",
                block_number: None,
                reason: Some(reason.to_string()),
            };
        }
        if self.pooled_transaction(&hash).is_some() {
            return TransactionStatus { status: "pending", block_number: None, reason: None };
        }
        TransactionStatus { status: "unknown", block_number: None, reason: None }
    }

    /// The node's view of the validator set.
    pub fn network_status(&self) -> Result<NetworkStatus> {
        let network = self.network_state()?;
        let chain = self.chain.read();
        let order = network.order.lock();
        let tags = chain.finality_tags();
        let seat = network.seat();
        let membership = network.membership.read();
        let validators = membership.current().len() as u64;
        let members: Vec<(u64, String)> = membership
            .current()
            .iter()
            .filter_map(|key| Some((membership.seat_of(key)?, peer_id_of(key)?)))
            .collect();
        Ok(NetworkStatus {
            peer_id: network.p2p.get().map(|p| p.peer_id().to_string()),
            gateway: seat.unwrap_or(membership.seat_count()),
            gateways: validators,
            // More than two thirds of the (equal-power) validators.
            majority: (validators as usize * 2) / 3 + 1,
            voting: seat.is_some(),
            epoch_ms: network.options.epoch_ms,
            final_epoch: order.applied(),
            decided_height: network.decided.lock().last().map(|d| d.height),
            latest_block: chain.head_number(),
            safe_block: tags.safe,
            finalized_block: tags.finalized,
            members,
            pending_changes: membership
                .pending()
                .map(|(change, approvals)| PendingChange {
                    id: change.id(),
                    add: change.add.iter().filter_map(peer_id_of).collect(),
                    remove: change.remove.iter().filter_map(peer_id_of).collect(),
                    approvals,
                })
                .collect(),
            history_segments: network.history.lock().own.segments.len(),
            heights_from_history: network.history_heights.load(AtomicOrdering::Relaxed) as usize,
        })
    }

    /// A decided height (`None`: the last one), with the validators its certificate holds.
    pub fn height_view(&self, height: Option<u64>) -> Result<Option<HeightView>> {
        let network = self.network_state()?;
        let record = {
            let decided = network.decided.lock();
            match height {
                None => decided.last().cloned(),
                Some(h) => decided.get((h as usize).wrapping_sub(1)).cloned(),
            }
        };
        let Some(record) = record else { return Ok(None) };
        let decision = Decision::decode(&record.payload)?;
        let signers = network.signer_seats(&record);
        Ok(Some(HeightView {
            height: record.height,
            round: record.round,
            parent: record.parent,
            value_id: record.value_id(),
            time_ms: decision.time_ms,
            epochs: decision.epochs.iter().map(|e| (e.epoch, e.envelopes.len())).collect(),
            signers,
            certificate_bytes: record.certificate.len(),
        }))
    }

    /// Who answered what to an intent this node declared; takes the intent id or the hash of
    /// a transaction this node declared.
    pub fn intent_responses(&self, id: B256) -> Result<Option<IntentInsight>> {
        let network = self.network_state()?;
        let Some(p2p) = network.p2p.get() else { return Ok(None) };
        let intent = network.intents.lock().get(&id).copied().unwrap_or(id);
        Ok(p2p.intent_responses(&intent))
    }

    /// The peers and their YES/NO/SILENCE history.
    pub fn peer_insights(&self) -> Result<Vec<PeerInsight>> {
        let network = self.network_state()?;
        Ok(network.p2p.get().map(|p| p.peers()).unwrap_or_default())
    }
}

fn keccak(bytes: &[u8]) -> B256 {
    alloy_primitives::keccak256(bytes)
}

/// The Ed25519 public key of a node's key pair.
fn key_of(keypair: &Keypair) -> ValidatorKey {
    keypair.public().try_into_ed25519().map(|k| k.to_bytes()).unwrap_or_default()
}

/// The libp2p peer id of a validator key (its peer id on both networks).
pub fn peer_id_of(key: &ValidatorKey) -> Option<String> {
    let key = ir3_foundation::net::identity::ed25519::PublicKey::try_from_bytes(key).ok()?;
    Some(ir3_foundation::net::identity::PublicKey::from(key).to_peer_id().to_string())
}
