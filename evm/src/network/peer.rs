//! How an EVM gateway meets its peers: the [`EvmDecider`] answers their intents on the
//! network task (YES, NO with a retry-after, or silence) and serves their catch-up pulls;
//! [`run_receiver`] checks and applies what they sent, in batches, off the network task.

use std::{
    sync::{Arc, atomic::Ordering as AtomicOrdering},
    time::{Duration, Instant},
};

use ir3_foundation::{
    apps::{ORDER_APP, ORDER_ENVELOPE, Verdict},
    net::{Answer, Decider, IntentMessage, NEVER, Page, PeerId, Pull, RateLimiter},
    order::Envelope,
};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::{
    events::{EVM_APP, EXECUTE_ETH_TX},
    node::EvmNode,
};

/// Capacity of the queue of what peers sent, waiting to be applied.
pub const RECEIVED_CAPACITY: usize = 10_000;
/// Most items applied in one batch (one series write, one rebuild).
pub const MAX_BATCH: usize = 2048;
/// Transactions a peer may declare per second on average before this node answers NO.
pub const PEER_TX_RATE: f64 = 2_000.0;
/// Transactions a peer may declare at once.
pub const PEER_TX_BURST: f64 = 10_000.0;
/// Transactions all peers together may declare per second before this node answers NO.
pub const GLOBAL_TX_RATE: f64 = 10_000.0;
/// Fill of the receive queue above which new declarations are answered NO (busy).
const QUEUE_HIGH_WATER: f64 = 0.9;
/// How long serving a pull may wait for the ordering state before answering busy.
const SERVE_WAIT: Duration = Duration::from_millis(50);

/// What a peer sent, waiting to be applied.
#[derive(Debug)]
pub enum Inbound {
    /// An envelope declared in an `execute_eth_tx` intent.
    Envelope(Envelope),
    /// A page this node pulled, and the peer that served it.
    Page(PeerId, Page),
}

/// The decider of an EVM gateway: YES to a valid envelope it will apply; NO with a
/// retry-after when the peer is over its rate, all peers together are over the node's rate, or
/// the receive queue is nearly full; NO-never (a refusal, counted against the peer) for
/// malformed or forged declarations; silence for intents of other apps.
#[derive(Debug)]
pub struct EvmDecider {
    node: Arc<EvmNode>,
    queue: mpsc::Sender<Inbound>,
    /// Load signal, per peer.
    limiter: RateLimiter,
    /// Load signal, all peers together (one bucket under this node's own id).
    global: RateLimiter,
}

impl EvmDecider {
    /// A decider feeding `queue` (drained by [`run_receiver`]).
    pub fn new(node: Arc<EvmNode>, queue: mpsc::Sender<Inbound>) -> Self {
        Self {
            node,
            queue,
            limiter: RateLimiter::new(PEER_TX_RATE, PEER_TX_BURST),
            global: RateLimiter::new(GLOBAL_TX_RATE, GLOBAL_TX_RATE),
        }
    }

    fn busy() -> Answer {
        Answer::No { reason: "busy: receive queue full".into(), retry_after_ms: 500 }
    }

    fn refused(reason: impl Into<String>) -> Answer {
        Answer::No { reason: reason.into(), retry_after_ms: NEVER }
    }

    /// YES to a well-formed envelope within the peer's budget (queued for admission); a
    /// malformed one, or one whose transaction is not signed by its account, is refused.
    fn decide_envelope(&mut self, from: &PeerId, payload: &[u8]) -> Answer {
        let Ok(envelope) = postcard::from_bytes::<Envelope>(payload) else {
            return Self::refused("malformed envelope");
        };
        // A stamp is the declaring gateway's own: gossip is signed by its author, so an
        // envelope declared by anyone but the gateway it names was restamped by someone else.
        if !self.node.stamped_by(&envelope, from) {
            return Self::refused("envelope stamped in another gateway's name");
        }
        // A native app's envelope: the app checks it; one that breaks a rule as of this node's
        // state is answered NO with the reason, and still ordered (the app's reducer decides).
        let mut verdict = Verdict::Valid;
        if envelope.app == EVM_APP {
            match crate::block::SignedTx::decode(&envelope.payload) {
                Ok(tx) if tx.sender.as_slice() == envelope.account.as_slice() => {}
                Ok(_) => return Self::refused("transaction not signed by the envelope's account"),
                Err(error) => return Self::refused(format!("invalid transaction: {error}")),
            }
        } else {
            match self.node.app_verdict(&envelope) {
                Ok(v) => verdict = v,
                Err(reason) => return Self::refused(reason),
            }
        }
        // The seeds' signals: this peer's load, everyone's load, and the node's own backlog.
        let now = Instant::now();
        if let no @ Answer::No { .. } = self.limiter.check(from, now) {
            return no;
        }
        let me = self.node.p2p().map(|p| p.peer_id()).unwrap_or(*from);
        if let Answer::No { retry_after_ms, .. } = self.global.check(&me, now) {
            return Answer::No { reason: "overloaded".into(), retry_after_ms };
        }
        let fill = 1.0 - self.queue.capacity() as f64 / self.queue.max_capacity() as f64;
        if fill >= QUEUE_HIGH_WATER {
            return Self::busy();
        }
        match (self.queue.try_send(Inbound::Envelope(envelope)), verdict) {
            (Err(_), _) => Self::busy(),
            (Ok(()), Verdict::Valid) => Answer::Yes { detail: Vec::new() },
            (Ok(()), Verdict::BreaksRule(reason)) => Answer::No { reason, retry_after_ms: 0 },
        }
    }
}

impl Decider for EvmDecider {
    fn decide(&mut self, from: &PeerId, message: &IntentMessage) -> Option<Answer> {
        let intent = &message.intent;
        match (intent.app.as_str(), intent.kind.as_str()) {
            (EVM_APP, EXECUTE_ETH_TX) => Some(self.decide_envelope(from, &intent.payload)),
            (ORDER_APP, ORDER_ENVELOPE) => Some(self.decide_envelope(from, &intent.payload)),
            _ => None,
        }
    }

    fn serve_pull(&mut self, _from: &PeerId, pull: &Pull) -> Option<Page> {
        let network = self.node.network.as_ref()?;
        let order = network.order.try_lock_for(SERVE_WAIT)?;
        Some(order.page(pull.from_epoch))
    }

    fn on_page(&mut self, from: &PeerId, page: Page) {
        if page.envelopes.is_empty() {
            return;
        }
        debug!(%from, envelopes = page.envelopes.len(), "page pulled");
        if self.queue.try_send(Inbound::Page(*from, page)).is_err() {
            warn!("receive queue full; pulled page dropped (pulled again later)");
        }
    }

    fn pull_cursor(&mut self) -> Option<Pull> {
        let network = self.node.network.as_ref()?;
        if network.syncing.load(AtomicOrdering::Relaxed) {
            // History comes as chunks first; pulls take over after.
            return None;
        }
        Some(Pull { from_epoch: network.pull_from.load(AtomicOrdering::Relaxed) })
    }

    fn serve_index(&mut self, _from: &PeerId, app: &str) -> Option<Vec<u8>> {
        if app == ir3_foundation::net::JOIN_APP {
            return self.node.network.as_ref()?.join_info.get().cloned();
        }
        if app != EVM_APP {
            return None;
        }
        postcard::to_allocvec(&self.node.history_index()?).ok()
    }

    fn on_index(&mut self, _from: &PeerId, app: &str, data: &[u8]) {
        if app != EVM_APP {
            return;
        }
        match postcard::from_bytes::<super::HistoryIndex>(data) {
            Ok(index) => self.node.offer_index(index),
            Err(error) => warn!(%error, "malformed history index"),
        }
    }
}

/// Applies what peers sent, in batches (one series write and one rebuild per batch), on
/// blocking threads. Envelopes that fail their checks are refused one by one.
pub async fn run_receiver(node: Arc<EvmNode>, mut queue: mpsc::Receiver<Inbound>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let node = node.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut envelopes = Vec::new();
            let mut take = |envelope: Envelope| match node.check_envelope(&envelope) {
                Ok(()) => envelopes.push(envelope),
                // It may be funded by a transaction this gateway has not seen yet: not an
                // offence, and a decided height would carry it anyway.
                Err(error @ crate::EvmError::InsufficientFunds { .. }) => {
                    debug!(%error, "envelope from a peer cannot pay here; not admitted")
                }
                Err(error) => warn!(%error, "envelope from a peer refused"),
            };
            for item in batch {
                match item {
                    Inbound::Envelope(envelope) => take(envelope),
                    // Only what the serving gateway stamped itself (anything else it may have
                    // restamped; a decided height carries the others' envelopes anyway).
                    Inbound::Page(from, page) => page
                        .envelopes
                        .into_iter()
                        .filter(|e| node.stamped_by(e, &from))
                        .for_each(&mut take),
                }
            }
            node.receive(envelopes)
        })
        .await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(%error, "peer batch not applied"),
            Err(error) => warn!(%error, "peer batch failed"),
        }
    }
}
