//! The handle apps hold: declare intents (to all or to chosen peers), look providers up, and
//! read what the network task publishes — all without waiting on the network.

use std::{sync::atomic::Ordering as AtomicOrdering, time::Instant};

use alloy_primitives::B256;
use tokio::sync::oneshot;

use super::{
    Command, FOUND_PROVIDER_TTL, IntentInsight, IntentMessage, Multiaddr, P2pHandle, PeerId,
    PeerInsight,
};
use crate::{
    error::{FoundationError, Result},
    intent::{Intent, IntentId},
    order::HlcStamp,
};

impl P2pHandle {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Declares an intent to the peers, fire and forget: returns its id at once. Answers and
    /// silences arrive in the series.
    pub fn push_intent(&self, intent: Intent, stamp: HlcStamp) -> Result<IntentId> {
        let id = intent.id();
        self.commands
            .try_send(Command::Push(IntentMessage { intent, stamp }))
            .map_err(|_| FoundationError::Network("network task is busy or stopped".into()))?;
        Ok(id)
    }

    /// Declares an intent to the chosen peers only (directly, not by gossip), fire and forget;
    /// those of them connected are expected to answer. With none connected, it is declared
    /// to all.
    pub fn push_intent_to(
        &self,
        intent: Intent,
        stamp: HlcStamp,
        peers: Vec<PeerId>,
    ) -> Result<IntentId> {
        let id = intent.id();
        self.commands
            .try_send(Command::PushTo(IntentMessage { intent, stamp }, peers))
            .map_err(|_| FoundationError::Network("network task is busy or stopped".into()))?;
        Ok(id)
    }

    /// Looks `key`'s providers up in the DHT, fire and forget: those found are then in
    /// [`providers_of`](Self::providers_of).
    pub fn find_providers(&self, key: B256) {
        let _ = self.commands.try_send(Command::FindProviders(key));
    }

    /// Providers of `key` found by DHT lookups in the last [`FOUND_PROVIDER_TTL`].
    pub fn providers_of(&self, key: &B256) -> Vec<PeerId> {
        let now = Instant::now();
        let mut providers = self.shared.providers.lock();
        let Some(found) = providers.get_mut(key) else { return Vec::new() };
        found.retain(|_, at| now.duration_since(*at) < FOUND_PROVIDER_TTL);
        let mut peers: Vec<PeerId> = found.keys().copied().collect();
        peers.sort();
        peers
    }

    /// The peers connected now (banned ones excluded), without asking the network task.
    pub fn connected_now(&self) -> Vec<PeerId> {
        self.shared.peers.lock().clone()
    }

    /// The addresses the node listens on.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::ListenAddrs(tx)).await;
        rx.await.unwrap_or_default()
    }

    /// The peers currently connected.
    pub async fn connected_peers(&self) -> Vec<PeerId> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Peers(tx)).await;
        rx.await.unwrap_or_default()
    }

    /// The peers listening on the intent topic (those expected to answer).
    pub async fn subscribed_peers(&self) -> Vec<PeerId> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Subscribed(tx)).await;
        rx.await.unwrap_or_default()
    }

    /// Dials a peer.
    pub async fn dial(&self, addr: Multiaddr) {
        let _ = self.commands.send(Command::Dial(addr)).await;
    }

    /// Announces on the DHT that this node provides `key` (a Kademlia provider record, fire
    /// and forget; re-published by Kademlia while the node runs).
    pub fn provide(&self, key: B256) {
        let _ = self.commands.try_send(Command::Provide(key));
    }

    /// Asks one connected peer (in turn) for an app's history index; the answer reaches the
    /// decider's `on_index` (fire and forget).
    pub fn request_index(&self, app: &str) {
        let _ = self.commands.try_send(Command::Index(app.to_string()));
    }

    /// Holds misbehaviour seen elsewhere (e.g. by the consensus engine, which runs under the
    /// same peer ids) against a peer: recorded as a refused message, counted in its insight,
    /// and the peer is banned past the limit, like a refusal on this network.
    pub fn report_refusal(&self, peer: PeerId, reason: String) {
        let _ = self.commands.try_send(Command::Refuse(peer, reason));
    }

    /// Asks the network task to pull from a peer now (fire and forget).
    pub fn pull_now(&self) {
        let _ = self.commands.try_send(Command::PullNow);
    }

    /// Who answered what to an intent this node declared.
    pub fn intent_responses(&self, id: &IntentId) -> Option<IntentInsight> {
        self.insights.lock().intent(id)
    }

    /// How many peers are connected now.
    pub fn connected_count(&self) -> usize {
        self.connected.load(AtomicOrdering::Relaxed)
    }

    /// The peers this node knows and their YES/NO/SILENCE history.
    pub fn peers(&self) -> Vec<PeerInsight> {
        self.insights.lock().peers()
    }
}
