//! Chunk exchange, the seeds' `iR3BitTorrent`: a node stores chunks (through its storage
//! budget) and announces them as Kademlia provider records (re-announced every
//! [`PROVIDER_REPUBLISH_INTERVAL`](crate::net::PROVIDER_REPUBLISH_INTERVAL), expiring after
//! [`PROVIDER_RECORD_TTL`](crate::net::PROVIDER_RECORD_TTL)); a node that wants a chunk
//! declares the want (`bt/want_chunk` intent, fire and forget) to the chunk's known providers
//! — those found in the DHT and those that said YES before — or to every peer when it knows
//! none (and every [`BROADCAST_EVERY`]th time, for providers not announced yet). Each peer
//! decides on its own: YES if it holds the chunk and the requester is within its serve rate,
//! NO with a retry-after if it holds it but is rate-limited, silence if it does not hold it.
//! The requester then asks one YES peer for the bytes directly (one provider per chunk at a
//! time, the next one after [`FETCH_TIMEOUT`]) and checks them against the chunk's id (a
//! mismatch is refused and counted against the peer, which stops being a provider of it, and
//! the want stays open for the others); what matches is stored. Every want, YES, NO and silence
//! is in the series (the net layer records them; chunk bytes by digest).
//!
//! Replication ([`replicate`](ChunkService::replicate), see `replicate.rs`): the chunks a
//! client stores are offered (`bt/offer_chunk`) to chosen peers until `replication` nodes hold
//! them; the holders are checked again and a lost copy is made again elsewhere.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use serde::Serialize;

use crate::{
    chunks::{ChunkId, ChunkRefusal, ChunkStore, Manifest, Stored, split},
    error::{FoundationError, Result},
    intent::{Intent, IntentId},
    net::{P2pHandle, PeerId, RateLimiter},
    order::{HlcStamp, now_ms},
};

mod decider;
mod replicate;
#[cfg(test)]
mod tests;

pub use decider::{BUDGET_RETRY_MS, ChunkDecider, GRANT_TTL, MAX_GRANTS, OFFER_RATE};
use replicate::Replica;
pub use replicate::{HOLDER_CHECK, HOLDER_EXPIRY, MAX_OFFERS_PER_ROUND, OFFER_WAIT};

/// The app name of chunk intents.
pub const BT_APP: &str = "bt";
/// The intent kind of a want.
pub const WANT_CHUNK: &str = "want_chunk";
/// The intent kind of an offer: "store a copy of this chunk" (replication).
pub const OFFER_CHUNK: &str = "offer_chunk";
/// Default number of copies of a stored chunk the network keeps (this node's included).
pub const DEFAULT_REPLICATION: usize = 3;
/// How often chunks short of their copies are offered again and open wants declared again.
pub const REPLICATION_ROUND: Duration = Duration::from_secs(2);
/// Default chunks a peer may be served per second on average (`--serve-rate`).
pub const DEFAULT_SERVE_RATE: f64 = 100.0;
/// Chunks a peer may be served at once (the serve rate's burst is this many seconds of it).
pub const SERVE_BURST_SECS: f64 = 4.0;
/// Default most wants in flight at once (`--max-wants`); past it, new wants wait their turn
/// (rarest first) or, declared one by one, push the oldest out.
pub const DEFAULT_MAX_WANTS: usize = 4096;
/// Known providers a want is declared to at once.
pub const WANT_FANOUT: usize = 3;
/// Every this many declarations of the same want, it goes to every peer (a provider may hold
/// the chunk without being known as one yet).
pub const BROADCAST_EVERY: u32 = 4;
/// After this long without the bytes, a chunk is asked from the next provider that says YES.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Most chunks fetched from one provider at once (the others wait for its next YES).
pub const MAX_FETCHES_PER_PEER: usize = 128;
/// An open want is not declared again sooner than this, nor while its bytes are being
/// fetched (callers that poll — a client asking for a file, a sync round — ask more often).
pub const REDECLARE_AFTER: Duration = Duration::from_secs(1);
/// Most chunks whose providers this node remembers from their answers.
pub const MAX_KNOWN_CHUNKS: usize = 1 << 16;

/// The chunk service's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkConfig {
    /// Copies of each chunk a client stores that the network keeps (this node's included).
    pub replication: usize,
    /// Chunks a peer may be served per second on average.
    pub serve_rate: f64,
    /// Most wants in flight at once.
    pub max_wants: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            replication: DEFAULT_REPLICATION,
            serve_rate: DEFAULT_SERVE_RATE,
            max_wants: DEFAULT_MAX_WANTS,
        }
    }
}

/// The node's chunks and its wants.
#[derive(Debug)]
pub struct ChunkService {
    store: Arc<ChunkStore>,
    p2p: OnceLock<P2pHandle>,
    config: ChunkConfig,
    wants: Mutex<Wants>,
    /// Chunks this node keeps copies of in the network, and who holds them.
    replicas: Mutex<HashMap<ChunkId, Replica>>,
    /// The chunk each offer declared.
    offers: Mutex<HashMap<IntentId, ChunkId>>,
    /// Peers that said YES to a want of a chunk (or offered it), and when.
    known: Mutex<HashMap<ChunkId, HashMap<PeerId, Instant>>>,
}

#[derive(Debug, Default)]
struct Wants {
    by_intent: HashMap<IntentId, ChunkId>,
    order: VecDeque<IntentId>,
    /// Chunks asked from a provider: which, since when.
    fetching: HashMap<ChunkId, (PeerId, Instant)>,
    /// How often each open want was declared, and when last.
    declared: HashMap<ChunkId, (u32, Instant)>,
}

impl Wants {
    fn forget(&mut self, id: &ChunkId) {
        self.by_intent.retain(|_, w| w != id);
        self.declared.remove(id);
        self.fetching.remove(id);
    }
}

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

/// Where one chunk stands here: held or not, who is known to provide it, who holds the
/// copies this node keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkStatus {
    /// Whether this node holds it.
    pub held: bool,
    /// Copies the network keeps (this node's included).
    pub replication: usize,
    /// Whether this node keeps its copies (it was stored here by a client or offered here).
    pub replicated: bool,
    /// Peers confirmed holding a copy (for a replicated chunk), sorted.
    pub holders: Vec<String>,
    /// Peers known to provide it (DHT lookups, earlier answers), sorted.
    pub providers: Vec<String>,
    /// Whether a want for it is open.
    pub wanted: bool,
}

impl ChunkService {
    /// A service over a store, with the default limits.
    pub fn new(store: Arc<ChunkStore>) -> Arc<Self> {
        Self::with_config(store, ChunkConfig::default())
    }

    /// A service over a store with the given limits.
    pub fn with_config(store: Arc<ChunkStore>, config: ChunkConfig) -> Arc<Self> {
        let config = ChunkConfig {
            replication: config.replication.max(1),
            serve_rate: config.serve_rate.max(f64::MIN_POSITIVE),
            max_wants: config.max_wants.max(1),
        };
        Arc::new(Self {
            store,
            p2p: OnceLock::new(),
            config,
            wants: Mutex::new(Wants::default()),
            replicas: Mutex::new(HashMap::new()),
            offers: Mutex::new(HashMap::new()),
            known: Mutex::new(HashMap::new()),
        })
    }

    /// The service's limits.
    pub fn config(&self) -> &ChunkConfig {
        &self.config
    }

    /// Connects the service to the network.
    pub fn attach(&self, p2p: P2pHandle) {
        let _ = self.p2p.set(p2p);
    }

    /// The store.
    pub fn store(&self) -> &ChunkStore {
        &self.store
    }

    /// Stores a chunk a client gave this node, and keeps offering it to peers until the
    /// network holds `replication` copies.
    pub fn store_local(
        &self,
        id: &ChunkId,
        data: &[u8],
    ) -> Result<std::result::Result<Stored, ChunkRefusal>> {
        let outcome = self.store_chunk(id, data)?;
        if outcome.is_ok() {
            self.keep_copies(*id, None);
        }
        Ok(outcome)
    }

    /// Stores a chunk through the store's checks (id, size, budget) and, when kept, announces
    /// it on the DHT.
    pub fn store_chunk(
        &self,
        id: &ChunkId,
        data: &[u8],
    ) -> Result<std::result::Result<Stored, ChunkRefusal>> {
        let outcome = self.store.put(id, data)?;
        if outcome.is_ok() {
            if let Some(p2p) = self.p2p.get() {
                p2p.provide(*id);
            }
            self.wants.lock().forget(id);
            self.known.lock().remove(id);
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
        let declared = {
            let mut wants = self.wants.lock();
            if wants.by_intent.insert(intent_id, id).is_none() {
                wants.order.push_back(intent_id);
            }
            while wants.order.len() > self.config.max_wants {
                if let Some(oldest) = wants.order.pop_front()
                    && let Some(chunk) = wants.by_intent.remove(&oldest)
                {
                    wants.declared.remove(&chunk);
                }
            }
            let now = Instant::now();
            let fetching = wants
                .fetching
                .get(&id)
                .is_some_and(|(_, since)| now.duration_since(*since) < FETCH_TIMEOUT);
            let declared = wants.declared.entry(id).or_insert((0, now));
            if declared.0 > 0 && (fetching || now.duration_since(declared.1) < REDECLARE_AFTER) {
                return Ok(Some(intent_id));
            }
            *declared = (declared.0 + 1, now);
            declared.0
        };
        // The want's id is the same each time: declaring again is a new gossip message only
        // if the stamp differs, so stamp with the time.
        let stamp = HlcStamp { wall_ms: now_ms(), logical: 0 };
        let providers = self.providers(&id, p2p);
        if providers.is_empty() || declared.is_multiple_of(BROADCAST_EVERY) {
            if providers.is_empty() {
                p2p.find_providers(id);
            }
            p2p.push_intent(intent, stamp)?;
        } else {
            let start = declared as usize % providers.len();
            let chosen =
                providers.iter().cycle().skip(start).take(WANT_FANOUT.min(providers.len()));
            p2p.push_intent_to(intent, stamp, chosen.copied().collect())?;
        }
        Ok(Some(intent_id))
    }

    /// Declares wants for many chunks, rarest first (fewest known providers), as many as the
    /// in-flight limit leaves room for; the others wait for a later call. Returns how many
    /// were declared.
    pub fn push_wants(&self, ids: &[ChunkId]) -> Result<usize> {
        let Some(p2p) = self.p2p.get() else {
            return Err(FoundationError::Network("not connected to a network".into()));
        };
        let mut missing: Vec<(usize, ChunkId)> = ids
            .iter()
            .filter(|id| !self.store.has(id))
            .map(|id| (self.providers(id, p2p).len(), *id))
            .collect();
        missing.sort();
        missing.dedup_by_key(|(_, id)| *id);
        let room = {
            let wants = self.wants.lock();
            let open = |id: &ChunkId| wants.declared.contains_key(id);
            let new = missing.iter().filter(|(_, id)| !open(id)).count();
            let free = self.config.max_wants.saturating_sub(wants.by_intent.len());
            let already = missing.len() - new;
            already + new.min(free)
        };
        let mut declared = 0;
        for (_, id) in missing.into_iter().take(room) {
            if self.push_want_chunk(id)?.is_some() {
                declared += 1;
            }
        }
        Ok(declared)
    }

    /// Known providers of a chunk that are connected: those that answered YES to a want of it
    /// or offered it, and those a DHT lookup found.
    fn providers(&self, id: &ChunkId, p2p: &P2pHandle) -> Vec<PeerId> {
        let connected = p2p.connected_now();
        let mut providers = p2p.providers_of(id);
        if let Some(known) = self.known.lock().get(id) {
            providers.extend(known.keys().copied());
        }
        providers.sort();
        providers.dedup();
        providers.retain(|p| connected.binary_search(p).is_ok());
        providers
    }

    /// Remembers that `peer` has a chunk (it said YES to a want, or offered it).
    fn learn_provider(&self, id: ChunkId, peer: PeerId) {
        let mut known = self.known.lock();
        if known.len() >= MAX_KNOWN_CHUNKS && !known.contains_key(&id) {
            let store = &self.store;
            known.retain(|chunk, _| !store.has(chunk));
            if known.len() >= MAX_KNOWN_CHUNKS {
                known.clear();
            }
        }
        known.entry(id).or_default().insert(peer, Instant::now());
    }

    /// Forgets `peer` as a provider of a chunk (it sent bytes that do not match).
    fn forget_provider(&self, id: &ChunkId, peer: &PeerId) {
        if let Some(known) = self.known.lock().get_mut(id) {
            known.remove(peer);
        }
    }

    /// Where one chunk stands here.
    pub fn chunk_status(&self, id: &ChunkId) -> ChunkStatus {
        let providers = match self.p2p.get() {
            Some(p2p) => self.providers(id, p2p),
            None => Vec::new(),
        };
        let (replicated, holders) = match self.replicas.lock().get(id) {
            Some(replica) => (true, replica.holder_names()),
            None => (false, Vec::new()),
        };
        ChunkStatus {
            held: self.store.has(id),
            replication: self.config.replication,
            replicated,
            holders,
            providers: providers.iter().map(ToString::to_string).collect(),
            wanted: self.wants.lock().declared.contains_key(id),
        }
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
    /// (rarest first) and says how far it is (pure flux: nothing here waits on the network).
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
        self.push_wants(&missing)?;
        Ok(ObjectStatus {
            status: "fetching",
            data: None,
            have: total - missing.len(),
            total: Some(total),
        })
    }

    /// The decider that answers peers' wants and offers and takes in their answers to ours.
    pub fn decider(self: &Arc<Self>) -> ChunkDecider {
        let rate = self.config.serve_rate;
        ChunkDecider::new(self.clone(), RateLimiter::new(rate, rate * SERVE_BURST_SECS))
    }
}
