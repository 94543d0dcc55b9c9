//! Network mode: the EVM gateway on the peer-to-peer foundation.
//!
//! A transaction sent to any gateway is validated, stamped with the gateway's hybrid logical
//! clock into an [`Envelope`], recorded in the series, admitted to the local epoch builder
//! (which rebuilds the tentative tip of the chain at once, so the sender gets a receipt), and
//! declared to the peers as an `execute_eth_tx` intent — fire and forget. Envelopes from peers
//! take the same path without the declaration.
//!
//! Once an epoch is closed (`grace_ms` after its end), each gateway of the set votes on the
//! block it derived from it; the votes are signed, recorded and declared as `epoch_vote`
//! intents. A majority of the same outcome makes the epoch final everywhere: its content is
//! fixed, envelopes that missed it are late (their gateway stamps them again into an open
//! epoch), and the `finalized` tag moves. See `docs/ARCHITECTURE.md` for the rule and its
//! failure modes.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering as AtomicOrdering},
    },
    time::Duration,
};

use alloy_primitives::B256;
use ir3_foundation::{
    Intent, IntentId, append_blocking,
    finality::{EPOCH_VOTE, ORDER_APP, Perspective, SeatAgreement, SignedVote},
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
mod height_history;
mod history;
#[cfg(test)]
mod hostile_tests;
mod ordering;
mod peer;
#[cfg(test)]
mod sim_tests;

pub use decided::{DecidedEpoch, DecidedHeight, Decision, MAX_DECISION_AHEAD_MS};
pub use height_history::{
    DecisionVerifier, HeightSegment, MAX_OFFERS, SEGMENT_TIMEOUT, SegmentHeight,
};
pub use history::{
    HistoryIndex, INDEX_WAIT, MAX_SYNC_WANTS, Outcome, SEGMENT_BLOCKS, SEGMENT_TARGET_BYTES,
    SYNC_ROUND, Segment, SegmentEpoch, run_history_sync,
};
pub(crate) use ordering::Ordering;
pub use ordering::{MAX_PAGE_ENVELOPES, MAX_PAGE_VOTES};
pub use peer::{
    EvmDecider, GLOBAL_TX_RATE, Inbound, MAX_BATCH, PEER_TX_BURST, PEER_TX_RATE, RECEIVED_CAPACITY,
    run_receiver, run_ticker,
};

/// Default time after an epoch's end before a gateway votes on it.
pub const DEFAULT_GRACE_MS: u64 = 500;
/// How often a gateway checks for epochs to vote on.
pub const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// Network-mode options.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// Length of an epoch, in milliseconds (one block per non-empty epoch).
    pub epoch_ms: u64,
    /// Time after an epoch's end before this gateway votes on it, in milliseconds.
    pub grace_ms: u64,
    /// This gateway's number (tie-break between equal stamps; its seat in the gateway set).
    pub gateway: u64,
    /// Size of the gateway set: gateways `0..gateways` vote; a node numbered outside the set
    /// follows as an observer.
    pub gateways: u64,
    /// The key votes are signed with (the node's peer identity).
    pub keypair: Keypair,
    /// Most blocks in one history segment (the same on every gateway: it fixes the chunks).
    pub segment_blocks: u64,
    /// Agreement runs on the BFT engine (`--network`): epochs become final by decided heights
    /// ([`Decision`]), this node casts no votes and counts none.
    pub engine: bool,
}

/// A network-mode fact replayed from the series.
#[derive(Debug, Clone)]
pub enum NetworkEvent {
    /// An envelope admitted.
    Envelope(Envelope),
    /// A vote recorded.
    Vote(SignedVote),
    /// A final outcome from a history segment.
    Checkpoint(Outcome),
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
    /// This gateway's block hash per open epoch, for answering peers' votes without waiting.
    outcomes: RwLock<HashMap<u64, B256>>,
    /// Where catch-up pulls start.
    pull_from: AtomicU64,
    /// The intent each locally declared transaction went out as.
    intents: Mutex<HashMap<B256, IntentId>>,
    /// The chunk service history segments are stored in.
    pub(crate) chunks: OnceLock<Arc<ir3_foundation::bt::ChunkService>>,
    /// History segments: this node's and a sync's.
    pub(crate) history: Mutex<history::History>,
    /// A history sync is running: catch-up pulls and votes wait for it.
    pub(crate) syncing: std::sync::atomic::AtomicBool,
    /// The checks of native apps' envelopes (set when the apps start).
    pub(crate) app_check: OnceLock<Arc<dyn ir3_foundation::apps::EnvelopeCheck>>,
    /// Heights decided by the BFT engine, lowest first (engine mode).
    pub(crate) decided: Mutex<Vec<DecidedHeight>>,
    /// How decided heights from other nodes are checked (engine mode; set by the binary).
    pub(crate) verifier: OnceLock<Arc<dyn DecisionVerifier>>,
    /// Heights this node took from history segments (engine mode).
    pub(crate) history_heights: AtomicU64,
    /// Engine mode: each validator's count of decided heights it precommitted (read from the
    /// certificates), and how many decided heights are counted.
    pub(crate) agreement: Mutex<(usize, std::collections::BTreeMap<u64, SeatAgreement>)>,
}

impl NetworkState {
    /// Rebuilds the ordering state from the series' network events and derives the chain.
    pub(crate) fn replay(
        options: NetworkOptions,
        chain: &mut Chain,
        events: Vec<NetworkEvent>,
    ) -> Self {
        let me = (options.gateway < options.gateways).then_some(options.gateway);
        let mut order = Ordering::new(options.epoch_ms, options.grace_ms, options.gateways, me);
        let clock = HybridClock::default();
        let mut decided = Vec::new();
        for event in events {
            match event {
                NetworkEvent::Envelope(envelope) => {
                    clock.witness(envelope.stamp);
                    let _ = order.admit(None, vec![envelope]);
                }
                NetworkEvent::Vote(vote) => {
                    clock.witness(vote.vote.stamp);
                    if let Err(error) = order.record_vote(None, vote) {
                        debug!(%error, "replayed vote not counted");
                    }
                }
                NetworkEvent::Checkpoint(outcome) => {
                    order
                        .apply_checkpoints(None, vec![SegmentEpoch { outcome, envelopes: vec![] }]);
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
        order.verify_all();
        chain.set_finality_tags(order.tags());
        // A node with nothing yet syncs its history from chunks before it pulls or votes.
        let fresh =
            order.applied().is_none() && order.builder.book().is_empty() && decided.is_empty();
        let state = Self {
            pull_from: AtomicU64::new(order.pull_from()),
            outcomes: RwLock::new(order.open_outcomes().into_iter().collect()),
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
            options,
        };
        if let Some(reason) = &state.order.lock().diverged {
            error!(%reason, "replayed chain diverges from the finalized one");
        }
        state
    }

    /// This gateway's envelopes among `late` that no block includes: the ones it stamps again.
    pub(crate) fn own_unincluded(&self, chain: &Chain, late: &[Envelope]) -> Vec<Envelope> {
        late.iter()
            .filter(|e| e.gateway == self.options.gateway)
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

/// A network-mode node's view of the gateway set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    /// This node's peer id.
    pub peer_id: Option<String>,
    /// Its number in the gateway set.
    pub gateway: u64,
    /// The gateway set's size.
    pub gateways: u64,
    /// Votes needed for finality.
    pub majority: usize,
    /// Whether this node votes (its number is inside the set).
    pub voting: bool,
    /// Epoch length in milliseconds.
    pub epoch_ms: u64,
    /// The last final epoch applied here.
    pub final_epoch: Option<u64>,
    /// The `latest`, `safe` and `finalized` block numbers.
    pub latest_block: u64,
    /// See `latest_block`.
    pub safe_block: u64,
    /// See `latest_block`.
    pub finalized_block: u64,
    /// Set when this gateway's derived chain differs from the finalized one.
    pub diverged: Option<String>,
    /// The peer bound to each gateway number (by its first signed vote).
    pub members: Vec<(u64, String)>,
    /// History segments this node holds and serves.
    pub history_segments: usize,
    /// Final epochs this node took from history segments (it synced from chunks).
    pub epochs_from_history: usize,
}

/// The votes on one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochView {
    /// The epoch.
    pub epoch: u64,
    /// Whether it is final here.
    pub is_final: bool,
    /// The votes, grouped by outcome.
    pub perspectives: Vec<PerspectiveView>,
}

/// One outcome and who voted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerspectiveView {
    /// The voting round.
    pub round: u32,
    /// The block hash voted (zero: no block).
    pub block_hash: B256,
    /// The state root voted.
    pub state_root: B256,
    /// The gateways that voted it.
    pub gateways: Vec<u64>,
}

impl From<Perspective> for PerspectiveView {
    fn from(p: Perspective) -> Self {
        Self {
            round: p.round,
            block_hash: p.block_hash,
            state_root: p.state_root,
            gateways: p.gateways,
        }
    }
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
        if network.options.gateway >= network.options.gateways {
            return Err(EvmError::InvalidParams(format!(
                "this node is an observer (--node-id {} is outside the gateway set of {}): send \
                 transactions to a gateway",
                network.options.gateway, network.options.gateways
            )));
        }
        self.with_chain(|chain| crate::submit::validate(chain, &tx))?;
        let hash = tx.hash;
        tokio::task::block_in_place(|| self.admit_local(&tx))?;
        let _ = self.new_transactions.send(hash);
        Ok(hash)
    }

    /// Stamps a local transaction, records and admits it, and declares it to the peers.
    fn admit_local(&self, tx: &SignedTx) -> Result<()> {
        let network = self.network_state()?;
        let _mutation = self.mutation.lock();
        let stamp = network.local_stamp(&network.order.lock());
        let envelope = evm_envelope(tx, stamp, network.options.gateway);
        self.apply_inbound(vec![envelope.clone()], Vec::new())?;
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
    /// account, from a gateway of the set, with a stamp not too far ahead.
    pub(crate) fn check_envelope(&self, envelope: &Envelope) -> Result<()> {
        let network = self.network_state()?;
        self.check_envelope_content(envelope)?;
        network
            .clock
            .observe(envelope.stamp, now_ms())
            .map(|_| ())
            .map_err(|e| EvmError::InvalidParams(e.to_string()))
    }

    /// The checks of [`EvmNode::check_envelope`] that do not involve the clock.
    pub(crate) fn check_envelope_content(&self, envelope: &Envelope) -> Result<()> {
        let network = self.network_state()?;
        if envelope.gateway >= network.options.gateways {
            return Err(EvmError::InvalidParams(format!(
                "envelope stamped by gateway {} outside the set of {}",
                envelope.gateway, network.options.gateways
            )));
        }
        if envelope.app != EVM_APP {
            return self.check_app_envelope(envelope);
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
        Ok(())
    }

    /// Checks a peer's vote stamp against the local clock (and follows it, as any peer stamp).
    pub(crate) fn check_vote(&self, vote: &SignedVote) -> Result<()> {
        let network = self.network_state()?;
        network
            .clock
            .observe(vote.vote.stamp, now_ms())
            .map(|_| ())
            .map_err(|e| EvmError::InvalidParams(e.to_string()))
    }

    /// Envelopes and votes from peers (already checked): recorded durably, then applied.
    pub(crate) fn receive(&self, envelopes: Vec<Envelope>, votes: Vec<SignedVote>) -> Result<()> {
        let _mutation = self.mutation.lock();
        self.apply_inbound(envelopes, votes)?;
        self.vote_due()
    }

    /// Records envelopes and votes in the series (one durable batch), admits the envelopes,
    /// counts the votes, applies what became final, publishes the rebuilt blocks and stamps
    /// again this gateway's own late envelopes. The caller holds the mutation lock, so the
    /// series' order is the order of application.
    pub(crate) fn apply_inbound(
        &self,
        envelopes: Vec<Envelope>,
        votes: Vec<SignedVote>,
    ) -> Result<()> {
        let network = self.network_state()?;
        // With the engine, agreement is its business: votes of the old protocol are not counted.
        let votes = if network.options.engine { Vec::new() } else { votes };
        let (envelopes, votes) = {
            let order = network.order.lock();
            order.only_new(envelopes, votes)
        };
        if envelopes.is_empty() && votes.is_empty() {
            return Ok(());
        }
        let mut bodies = Vec::with_capacity(envelopes.len() + votes.len());
        for envelope in &envelopes {
            bodies.push(EvmEvent::Envelope(envelope.clone()).to_body()?);
        }
        for vote in &votes {
            bodies.push(EvmEvent::Vote(vote.clone()).to_body()?);
        }
        append_blocking(&*self.series, bodies)?;
        let mut restamp = Vec::new();
        let finalized_before = self.chain.read().finality_tags().finalized;
        let applied = {
            let mut chain = self.chain.write();
            let mut order = network.order.lock();
            let mut applied = order.admit(Some(&mut chain), envelopes)?;
            for vote in votes {
                match order.record_vote(Some(&mut chain), vote) {
                    Ok(more) => {
                        applied.blocks.extend(more.blocks);
                        applied.late.extend(more.late);
                    }
                    Err(error) => warn!(%error, "vote refused"),
                }
            }
            chain.set_finality_tags(order.tags());
            restamp.extend(network.own_unincluded(&chain, &applied.late));
            self.refresh_outcomes(network, &order);
            applied
        };
        self.after_applied(applied, finalized_before, restamp)
    }

    /// Stamps this gateway's late envelopes again into an open epoch and declares them anew.
    fn restamp(&self, late: Vec<Envelope>) -> Result<()> {
        let network = self.network_state()?;
        let fresh: Vec<Envelope> = {
            let order = network.order.lock();
            late.into_iter().map(|e| Envelope { stamp: network.local_stamp(&order), ..e }).collect()
        };
        debug!(count = fresh.len(), "late envelopes stamped again");
        self.apply_inbound(fresh.clone(), Vec::new())?;
        for envelope in &fresh {
            self.declare_envelope(keccak(&envelope.payload), envelope);
        }
        Ok(())
    }

    fn refresh_outcomes(&self, network: &NetworkState, order: &Ordering) {
        *network.outcomes.write() = order.open_outcomes().into_iter().collect();
        network.pull_from.store(order.pull_from(), AtomicOrdering::Relaxed);
    }

    /// One round of the vote loop: casts this gateway's vote on the next closed epoch, if due.
    pub fn network_tick(&self) -> Result<()> {
        let _mutation = self.mutation.lock();
        self.vote_due()
    }

    /// Casts the vote due now, if any (the caller holds the mutation lock). Called every tick,
    /// and at once after peers' votes or envelopes were applied, so that an epoch's vote
    /// follows its predecessor's finality at the speed of the network, not of the tick.
    fn vote_due(&self) -> Result<()> {
        let network = self.network_state()?;
        if network.options.engine || network.syncing.load(AtomicOrdering::Relaxed) {
            return Ok(());
        }
        let next = {
            let mut chain = self.chain.write();
            let mut order = network.order.lock();
            let next = order.next_vote(Some(&mut chain), now_ms(), || network.clock.tick(now_ms()));
            if next.as_ref().is_some_and(|(_, applied)| !applied.blocks.is_empty()) {
                chain.set_finality_tags(order.tags());
                self.refresh_outcomes(network, &order);
            }
            next
        };
        let Some((vote, applied)) = next else { return Ok(()) };
        for block in applied.blocks {
            let _ = self.new_blocks.send(block);
        }
        let mine: Vec<Envelope> =
            applied.late.into_iter().filter(|e| e.gateway == network.options.gateway).collect();
        if !mine.is_empty() {
            self.restamp(mine)?;
        }
        let signed = SignedVote::sign(vote, &network.options.keypair)
            .map_err(|e| EvmError::Internal(e.to_string()))?;
        // Recorded (durably) before it is sent: a restarted gateway never votes twice.
        self.apply_inbound(Vec::new(), vec![signed.clone()])?;
        let payload =
            postcard::to_allocvec(&signed).map_err(|e| EvmError::Internal(e.to_string()))?;
        network.declare(Intent::new(ORDER_APP, EPOCH_VOTE, payload), signed.vote.stamp);
        Ok(())
    }

    /// At start: this gateway's own envelopes that are late and in no block are stamped again
    /// (a crash may have come between a finality and the new stamp).
    pub fn restamp_own_late(&self) -> Result<()> {
        let network = self.network_state()?;
        let _mutation = self.mutation.lock();
        let late: Vec<Envelope> = {
            let chain = self.chain.read();
            let order = network.order.lock();
            order
                .builder
                .late_envelopes()
                .filter(|e| e.gateway == network.options.gateway)
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

    /// The node's view of the gateway set.
    pub fn network_status(&self) -> Result<NetworkStatus> {
        let network = self.network_state()?;
        let chain = self.chain.read();
        let order = network.order.lock();
        let tags = chain.finality_tags();
        let mut members: Vec<(u64, String)> =
            order.finality.members().iter().map(|(g, p)| (*g, p.to_string())).collect();
        members.sort();
        Ok(NetworkStatus {
            peer_id: network.p2p.get().map(|p| p.peer_id().to_string()),
            gateway: network.options.gateway,
            gateways: network.options.gateways,
            // With the engine: more than two thirds of the (equal-power) validators.
            majority: match network.options.engine {
                true => (network.options.gateways as usize * 2) / 3 + 1,
                false => order.finality.majority(),
            },
            voting: network.options.gateway < network.options.gateways,
            epoch_ms: network.options.epoch_ms,
            final_epoch: order.applied(),
            latest_block: chain.head_number(),
            safe_block: tags.safe,
            finalized_block: tags.finalized,
            diverged: order.diverged.clone(),
            members,
            history_segments: network.history.lock().own.segments.len(),
            epochs_from_history: match network.options.engine {
                true => network.history_heights.load(AtomicOrdering::Relaxed) as usize,
                false => order.checkpoint_count(),
            },
        })
    }

    /// The votes on an epoch (`None`: the last final one).
    pub fn epoch_view(&self, epoch: Option<u64>) -> Result<EpochView> {
        let network = self.network_state()?;
        let order = network.order.lock();
        let epoch = epoch.or(order.applied()).unwrap_or_default();
        Ok(EpochView {
            epoch,
            is_final: order.applied().is_some_and(|a| epoch <= a),
            perspectives: order.perspectives(epoch).into_iter().map(Into::into).collect(),
        })
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
