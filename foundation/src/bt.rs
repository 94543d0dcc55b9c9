//! Chunk exchange, the seeds' `iR3BitTorrent`: a node stores chunks (through its storage
//! budget) and announces them as Kademlia provider records; a node that wants a chunk declares
//! the want (`bt/want_chunk` intent, fire and forget); each peer decides on its own: YES if it
//! holds the chunk and the requester is within its serve rate, NO with a retry-after if it
//! holds it but is rate-limited, silence if it does not hold it. The requester then asks one
//! YES peer for the bytes directly (one provider per chunk at a time, the next one after
//! [`FETCH_TIMEOUT`]) and checks them against the chunk's id (a mismatch is refused and counted
//! against the peer, and the want stays open for the others); what matches is stored. Every want, YES,
//! NO and silence is in the series (the net layer records them; chunk bytes by digest).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, OnceLock},
    time::Instant,
};

use parking_lot::Mutex;
use serde::Serialize;
use tracing::warn;

use crate::{
    chunks::{
        ChunkId, ChunkRefusal, ChunkStore, MAX_CHUNK_SIZE, Manifest, Stored, chunk_id, split,
    },
    error::{FoundationError, Result},
    intent::{Intent, IntentId},
    net::{Answer, Decider, Direct, IntentMessage, NEVER, P2pHandle, PeerId, RateLimiter},
    order::HlcStamp,
};

/// The app name of chunk intents.
pub const BT_APP: &str = "bt";
/// The intent kind of a want.
pub const WANT_CHUNK: &str = "want_chunk";
/// The intent kind of an offer: "store a copy of this chunk" (replication).
pub const OFFER_CHUNK: &str = "offer_chunk";
/// Default number of copies of a stored chunk the network keeps (this node's included).
pub const DEFAULT_REPLICATION: usize = 3;
/// How often chunks short of their copies are offered again.
pub const REPLICATION_ROUND: std::time::Duration = std::time::Duration::from_secs(2);
/// Chunks a peer may be served per second on average.
pub const DEFAULT_SERVE_RATE: f64 = 100.0;
/// Chunks a peer may be served at once.
pub const DEFAULT_SERVE_BURST: f64 = 400.0;
/// Most wants in flight at once; older ones are forgotten past it (declare them again).
pub const MAX_WANTS_IN_FLIGHT: usize = 4096;

/// The node's chunks and its wants.
#[derive(Debug)]
pub struct ChunkService {
    store: Arc<ChunkStore>,
    p2p: OnceLock<P2pHandle>,
    wants: Mutex<Wants>,
    replication: usize,
    /// Chunks stored here by a client, and the peers that said YES to holding a copy.
    copies: Mutex<HashMap<ChunkId, std::collections::HashSet<String>>>,
    /// The chunk each offer declared.
    offers: Mutex<HashMap<IntentId, ChunkId>>,
}

#[derive(Debug, Default)]
struct Wants {
    by_intent: HashMap<IntentId, ChunkId>,
    order: VecDeque<IntentId>,
    /// Chunks asked from a provider, since when.
    fetching: HashMap<ChunkId, Instant>,
}

/// After this long without the bytes, a chunk is asked from the next provider that says YES.
pub const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where an object (a manifest and its chunks) stands here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// `complete`, or `fetching` (wants declared; ask again).
    pub status: &'static str,
    /// The object's bytes, when complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<alloy_primitives::Bytes>,
    /// Chunks held (the manifest counts as one).
    pub have: usize,
    /// Chunks in all (known once the manifest is held).
    pub total: Option<usize>,
}

impl ChunkService {
    /// A service over a store.
    pub fn new(store: Arc<ChunkStore>) -> Arc<Self> {
        Self::with_replication(store, DEFAULT_REPLICATION)
    }

    /// A service keeping `replication` copies (this node's included) of what clients store.
    pub fn with_replication(store: Arc<ChunkStore>, replication: usize) -> Arc<Self> {
        Arc::new(Self {
            store,
            p2p: OnceLock::new(),
            wants: Mutex::new(Wants::default()),
            replication: replication.max(1),
            copies: Mutex::new(HashMap::new()),
            offers: Mutex::new(HashMap::new()),
        })
    }

    /// Stores a chunk a client gave this node, and keeps offering it to peers until the
    /// network holds `replication` copies.
    pub fn store_local(
        &self,
        id: &ChunkId,
        data: &[u8],
    ) -> Result<std::result::Result<Stored, ChunkRefusal>> {
        let outcome = self.store_chunk(id, data)?;
        if outcome.is_ok() && self.replication > 1 {
            self.copies.lock().entry(*id).or_default();
            self.offer(*id);
        }
        Ok(outcome)
    }

    fn offer(&self, id: ChunkId) {
        let Some(p2p) = self.p2p.get() else { return };
        let intent = Intent::new(BT_APP, OFFER_CHUNK, id.to_vec());
        self.offers.lock().insert(intent.id(), id);
        let _ = p2p.push_intent(intent, HlcStamp { wall_ms: now_ms(), logical: 0 });
    }

    /// Offers again every chunk short of its copies, and declares again every want still
    /// open (a fetch that failed, a YES that never came), each [`REPLICATION_ROUND`].
    pub fn replicate(&self) {
        let short: Vec<ChunkId> = {
            let mut copies = self.copies.lock();
            copies.retain(|_, holders| holders.len() + 1 < self.replication);
            copies.keys().copied().collect()
        };
        for id in short {
            self.offer(id);
        }
        let open: Vec<ChunkId> = {
            let mut wants = self.wants.lock();
            let store = &self.store;
            wants.by_intent.retain(|_, id| !store.has(id));
            let mut ids: Vec<ChunkId> = wants.by_intent.values().copied().collect();
            ids.sort();
            ids.dedup();
            ids
        };
        for id in open {
            let _ = self.push_want_chunk(id);
        }
    }

    /// Peers known to hold a copy of a chunk this node stored for a client.
    pub fn copies_of(&self, id: &ChunkId) -> usize {
        self.copies.lock().get(id).map_or(0, |h| h.len())
    }

    /// Connects the service to the network.
    pub fn attach(&self, p2p: P2pHandle) {
        let _ = self.p2p.set(p2p);
    }

    /// The store.
    pub fn store(&self) -> &ChunkStore {
        &self.store
    }

    /// Stores a chunk through the store's checks (id, size, budget) and, when kept, announces
    /// it on the DHT.
    pub fn store_chunk(
        &self,
        id: &ChunkId,
        data: &[u8],
    ) -> Result<std::result::Result<Stored, ChunkRefusal>> {
        let outcome = self.store.put(id, data)?;
        if let (Ok(_), Some(p2p)) = (&outcome, self.p2p.get()) {
            p2p.provide(*id);
        }
        Ok(outcome)
    }

    /// Declares a want for a chunk not held; returns at once (the bytes arrive later, or not).
    pub fn push_want_chunk(&self, id: ChunkId) -> Result<Option<IntentId>> {
        if self.store.has(&id) {
            return Ok(None);
        }
        let p2p = self
            .p2p
            .get()
            .ok_or_else(|| FoundationError::Network("not connected to a network".into()))?;
        let intent = Intent::new(BT_APP, WANT_CHUNK, id.to_vec());
        let intent_id = intent.id();
        {
            let mut wants = self.wants.lock();
            if wants.by_intent.insert(intent_id, id).is_none() {
                wants.order.push_back(intent_id);
            }
            while wants.order.len() > MAX_WANTS_IN_FLIGHT {
                if let Some(oldest) = wants.order.pop_front() {
                    wants.by_intent.remove(&oldest);
                }
            }
        }
        // The want's id is the same each time: declaring again is a new gossip message only
        // if the stamp differs, so stamp with the time.
        let stamp = HlcStamp { wall_ms: now_ms(), logical: 0 };
        p2p.push_intent(intent, stamp)?;
        Ok(Some(intent_id))
    }

    /// Stores data as an object: its chunks and its manifest; returns the manifest's id.
    pub fn put_object(&self, data: &[u8], chunk_size: usize) -> Result<ChunkId> {
        let (manifest, id, chunks) = split(data, chunk_size);
        for (chunk, bytes) in &chunks {
            if let Err(refusal) = self.store_local(chunk, bytes)? {
                return Err(FoundationError::Network(refusal.to_string()));
            }
        }
        if let Err(refusal) = self.store_local(&id, &manifest.encode())? {
            return Err(FoundationError::Network(refusal.to_string()));
        }
        Ok(id)
    }

    /// An object's bytes if every chunk is held; otherwise declares wants for what is missing
    /// and says how far it is (pure flux: nothing here waits on the network).
    pub fn get_object(&self, id: ChunkId) -> Result<ObjectStatus> {
        let Some(manifest_bytes) = self.store.get(&id) else {
            self.push_want_chunk(id)?;
            return Ok(ObjectStatus { status: "fetching", data: None, have: 0, total: None });
        };
        let manifest = Manifest::decode(&manifest_bytes)
            .ok_or_else(|| FoundationError::Network(format!("{id} is not a manifest")))?;
        let mut data = Vec::with_capacity(manifest.total_len as usize);
        let mut missing = Vec::new();
        for chunk in &manifest.chunks {
            match self.store.get(chunk) {
                Some(bytes) if missing.is_empty() => data.extend_from_slice(&bytes),
                Some(_) => {}
                None => missing.push(*chunk),
            }
        }
        let total = manifest.chunks.len() + 1;
        if missing.is_empty() {
            return Ok(ObjectStatus {
                status: "complete",
                data: Some(data.into()),
                have: total,
                total: Some(total),
            });
        }
        for chunk in &missing {
            self.push_want_chunk(*chunk)?;
        }
        Ok(ObjectStatus {
            status: "fetching",
            data: None,
            have: total - missing.len(),
            total: Some(total),
        })
    }

    /// The decider that answers peers' wants and takes in their answers to ours.
    pub fn decider(self: &Arc<Self>) -> ChunkDecider {
        ChunkDecider {
            service: self.clone(),
            limiter: RateLimiter::new(DEFAULT_SERVE_RATE, DEFAULT_SERVE_BURST),
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Answers wants (YES, NO rate-limited, silence when not held), serves the bytes to the peers
/// it said YES to, and checks the bytes peers send for this node's wants.
#[derive(Debug)]
pub struct ChunkDecider {
    service: Arc<ChunkService>,
    limiter: RateLimiter,
}

impl Decider for ChunkDecider {
    /// YES (no bytes: the requester then asks for them directly) when the chunk is held and
    /// the requester is within its serve rate; NO with a retry-after when it is not; silence
    /// when the chunk is not held.
    fn decide(&mut self, from: &PeerId, message: &IntentMessage) -> Option<Answer> {
        let intent = &message.intent;
        if intent.app != BT_APP || (intent.kind != WANT_CHUNK && intent.kind != OFFER_CHUNK) {
            return None;
        }
        if intent.payload.len() != 32 {
            return Some(Answer::No { reason: "malformed chunk id".into(), retry_after_ms: NEVER });
        }
        let id = ChunkId::from_slice(&intent.payload);
        if intent.kind == OFFER_CHUNK {
            // An offer: YES if this node holds a copy or takes one (it fetches it), NO when its
            // storage budget is spent.
            if self.service.store.has(&id) {
                return Some(Answer::Yes { detail: Vec::new() });
            }
            if self.service.store.used() + MAX_CHUNK_SIZE as u64 > self.service.store.budget() {
                return Some(Answer::No {
                    reason: "storage budget spent".into(),
                    retry_after_ms: 60_000,
                });
            }
            return match self.service.push_want_chunk(id) {
                Ok(_) => Some(Answer::Yes { detail: Vec::new() }),
                Err(_) => None,
            };
        }
        if !self.service.store.has(&id) {
            return None;
        }
        Some(self.limiter.check(from, Instant::now()))
    }

    /// A YES to one of this node's wants: ask that peer for the bytes, unless they are being
    /// fetched from another already.
    fn on_reply(
        &mut self,
        from: &PeerId,
        intent: &IntentId,
        answer: &Answer,
    ) -> std::result::Result<Option<Direct>, String> {
        let Answer::Yes { .. } = answer else { return Ok(None) };
        if let Some(id) = self.service.offers.lock().get(intent).copied() {
            if let Some(holders) = self.service.copies.lock().get_mut(&id) {
                holders.insert(from.to_string());
            }
            return Ok(None);
        }
        let mut wants = self.service.wants.lock();
        let Some(id) = wants.by_intent.get(intent).copied() else { return Ok(None) };
        let now = Instant::now();
        if wants.fetching.get(&id).is_some_and(|since| now.duration_since(*since) < FETCH_TIMEOUT)
            || self.service.store.has(&id)
        {
            return Ok(None);
        }
        wants.fetching.insert(id, now);
        Ok(Some(Direct::GetChunk(id)))
    }

    fn serve_chunk(&mut self, _from: &PeerId, id: &ChunkId) -> Option<Vec<u8>> {
        self.service.store.get(id)
    }

    /// Bytes a peer sent: kept if they match the id; refused (and the want left open for the
    /// other providers) if not.
    fn on_chunk(
        &mut self,
        from: &PeerId,
        id: &ChunkId,
        data: &[u8],
    ) -> std::result::Result<(), String> {
        let wanted = {
            let mut wants = self.service.wants.lock();
            wants.fetching.remove(id);
            wants.by_intent.values().any(|w| w == id)
        };
        if !wanted {
            return Ok(());
        }
        if chunk_id(data) != *id {
            return Err(format!("chunk bytes do not match chunk id {id}"));
        }
        match self.service.store_chunk(id, data) {
            Ok(Ok(_)) => {
                let mut wants = self.service.wants.lock();
                wants.by_intent.retain(|_, w| w != id);
            }
            Ok(Err(refusal)) => warn!(%from, %refusal, "received chunk not stored"),
            Err(error) => warn!(%from, %error, "received chunk not stored"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        MemorySeries,
        net::{self, Keypair, Multiaddr, P2pConfig, P2pRecord},
    };

    /// Answers YES to every want and serves garbage.
    struct Liar;

    impl Decider for Liar {
        fn decide(&mut self, _: &PeerId, message: &IntentMessage) -> Option<Answer> {
            (message.intent.app == BT_APP).then(|| Answer::Yes { detail: Vec::new() })
        }

        fn serve_chunk(&mut self, _: &PeerId, _: &ChunkId) -> Option<Vec<u8>> {
            Some(b"not the chunk you want".to_vec())
        }
    }

    async fn addrs(handle: &P2pHandle) -> Vec<Multiaddr> {
        loop {
            let addrs = handle.listen_addrs().await;
            if !addrs.is_empty() {
                return addrs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn config(bootstrap: Vec<Multiaddr>) -> P2pConfig {
        P2pConfig {
            keypair: Keypair::generate_ed25519(),
            listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            bootstrap,
            reply_window: Duration::from_millis(500),
        }
    }

    /// A provider that serves bytes not matching the chunk is refused and counted; the chunk
    /// is then fetched from an honest provider.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lying_provider_is_caught_and_the_chunk_comes_from_another() {
        let liar = net::spawn(config(Vec::new()), Arc::new(MemorySeries::new()), Liar).unwrap();
        let series = Arc::new(MemorySeries::new());
        let requester = ChunkService::new(Arc::new(ChunkStore::in_memory(1 << 20)));
        let handle =
            net::spawn(config(addrs(&liar).await), series.clone(), requester.decider()).unwrap();
        requester.attach(handle.clone());

        let data = b"the real bytes".to_vec();
        let id = chunk_id(&data);
        let refused = |series: &MemorySeries| {
            net::p2p_records(series)
                .unwrap()
                .iter()
                .filter(|r| matches!(r, P2pRecord::PeerRefused { reason, .. } if reason.contains("do not match")))
                .count()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while refused(&series) == 0 {
            assert!(std::time::Instant::now() < deadline, "the lie was not caught");
            let _ = requester.push_want_chunk(id);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(!requester.store().has(&id));

        // An honest provider joins; the want is declared again until the bytes are here.
        let honest = ChunkService::new(Arc::new(ChunkStore::in_memory(1 << 20)));
        assert_eq!(honest.store_chunk(&id, &data).unwrap(), Ok(Stored::Kept));
        let honest_handle =
            net::spawn(config(Vec::new()), Arc::new(MemorySeries::new()), honest.decider())
                .unwrap();
        honest.attach(honest_handle.clone());
        for addr in addrs(&honest_handle).await {
            handle.dial(addr).await;
        }
        while !requester.store().has(&id) {
            assert!(std::time::Instant::now() < deadline + Duration::from_secs(20), "not fetched");
            let _ = requester.push_want_chunk(id);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(requester.store().get(&id), Some(data));
        let liar_id = liar.peer_id().to_string();
        let insight = handle.peers().into_iter().find(|p| p.peer == liar_id).unwrap();
        assert!(insight.refused >= 1);
    }
}
