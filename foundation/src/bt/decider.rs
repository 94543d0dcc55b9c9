//! How a node answers its peers' wants and offers, serves chunk bytes, and takes in the
//! answers and bytes for its own wants.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tracing::warn;

use super::{BT_APP, ChunkService, FETCH_TIMEOUT, MAX_FETCHES_PER_PEER, OFFER_CHUNK, WANT_CHUNK};
use crate::{
    chunks::{ChunkId, MAX_CHUNK_SIZE, chunk_id},
    intent::IntentId,
    net::{Answer, Decider, Direct, IntentMessage, NEVER, PeerId, RateLimiter},
};

/// How long a peer whose storage budget is spent asks offerers to wait.
pub const BUDGET_RETRY_MS: u64 = 60_000;
/// Offers one peer may make per second on average (a round offers at most
/// [`MAX_OFFERS_PER_ROUND`](super::MAX_OFFERS_PER_ROUND) chunks to all peers together).
pub const OFFER_RATE: f64 = 256.0;
/// How long a YES to a want lets the peer get the chunk's bytes.
pub const GRANT_TTL: Duration = Duration::from_secs(30);
/// Most open grants (a YES whose bytes were not fetched yet) kept at once.
pub const MAX_GRANTS: usize = 65_536;

/// Answers wants (YES, NO rate-limited, silence when not held) and offers (YES: held or taken;
/// NO: budget spent), serves the bytes to the peers it said YES to, and checks the bytes peers
/// send for this node's wants.
#[derive(Debug)]
pub struct ChunkDecider {
    service: Arc<ChunkService>,
    limiter: RateLimiter,
    /// Per-peer budget of offers.
    offers: RateLimiter,
    /// The wants this node said YES to, whose bytes the peer may get (until they expire).
    grants: HashMap<(PeerId, ChunkId), Instant>,
}

impl ChunkDecider {
    /// A decider for `service`, serving each peer within `limiter`.
    pub fn new(service: Arc<ChunkService>, limiter: RateLimiter) -> Self {
        Self {
            service,
            limiter,
            offers: RateLimiter::new(OFFER_RATE, OFFER_RATE * 4.0),
            grants: HashMap::new(),
        }
    }

    /// Lets `peer` get the chunk's bytes (a YES to its want); expired grants go first.
    fn grant(&mut self, peer: PeerId, id: ChunkId, now: Instant) {
        if self.grants.len() >= MAX_GRANTS {
            self.grants.retain(|_, at| now.saturating_duration_since(*at) < GRANT_TTL);
        }
        if self.grants.len() < MAX_GRANTS {
            self.grants.insert((peer, id), now);
        }
    }

    fn decide_offer(&mut self, from: &PeerId, id: ChunkId) -> Option<Answer> {
        if let no @ Answer::No { .. } = self.offers.check(from, Instant::now()) {
            return Some(no);
        }
        let service = &self.service;
        if service.store.has(&id) {
            service.keep_copies(id, Some(*from));
            return Some(Answer::Yes { detail: Vec::new() });
        }
        if service.store.used() + MAX_CHUNK_SIZE as u64 > service.store.budget() {
            return Some(Answer::No {
                reason: "storage budget spent".into(),
                retry_after_ms: BUDGET_RETRY_MS,
            });
        }
        // Take a copy: the offerer holds it, so the want goes to it first.
        service.learn_provider(id, *from);
        match service.push_want_chunk(id) {
            Ok(_) => {
                service.keep_copies(id, Some(*from));
                Some(Answer::Yes { detail: Vec::new() })
            }
            Err(_) => None,
        }
    }
}

impl Decider for ChunkDecider {
    /// A want: YES (no bytes: the requester then asks for them directly) when the chunk is held
    /// and the requester is within its serve rate; NO with a retry-after when it is not;
    /// silence when the chunk is not held. An offer: see [`ChunkDecider`].
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
            return self.decide_offer(from, id);
        }
        if !self.service.store.has(&id) {
            return None;
        }
        let now = Instant::now();
        let answer = self.limiter.check(from, now);
        if matches!(answer, Answer::Yes { .. }) {
            self.grant(*from, id, now);
        }
        Some(answer)
    }

    /// A YES to one of this node's wants: ask that peer for the bytes, unless they are being
    /// fetched from another already. A YES or NO to an offer: a holder, or not.
    fn on_reply(
        &mut self,
        from: &PeerId,
        intent: &IntentId,
        answer: &Answer,
    ) -> std::result::Result<Option<Direct>, String> {
        let yes = matches!(answer, Answer::Yes { .. });
        let offered = self.service.offers.lock().get(intent).copied();
        if let Some(id) = offered {
            self.service.on_offer_answer(&id, *from, yes);
            return Ok(None);
        }
        if !yes {
            return Ok(None);
        }
        let Some(id) = self.service.wants.lock().by_intent.get(intent).copied() else {
            return Ok(None);
        };
        self.service.learn_provider(id, *from);
        let mut wants = self.service.wants.lock();
        let now = Instant::now();
        let live = |since: &Instant| now.duration_since(*since) < FETCH_TIMEOUT;
        if wants.fetching.get(&id).is_some_and(|(_, since)| live(since))
            || self.service.store.has(&id)
        {
            return Ok(None);
        }
        let from_peer =
            wants.fetching.values().filter(|(p, since)| p == from && live(since)).count();
        if from_peer >= MAX_FETCHES_PER_PEER {
            return Ok(None);
        }
        wants.fetching.insert(id, (*from, now));
        Ok(Some(Direct::GetChunk(id)))
    }

    /// The bytes of a chunk this node said YES to `from`'s want of (within [`GRANT_TTL`]);
    /// nothing otherwise, so a peer cannot make it read chunks past its serve rate.
    fn serve_chunk(&mut self, from: &PeerId, id: &ChunkId) -> Option<Vec<u8>> {
        let granted = self.grants.remove(&(*from, *id))?;
        if granted.elapsed() > GRANT_TTL {
            return None;
        }
        self.service.store.get(id)
    }

    /// Bytes a peer sent: kept if they match the id; refused (the peer is no longer a provider
    /// of it, and the want stays open for the others) if not.
    fn on_chunk(
        &mut self,
        from: &PeerId,
        id: &ChunkId,
        data: &[u8],
    ) -> std::result::Result<(), String> {
        let wanted = {
            let mut wants = self.service.wants.lock();
            wants.fetching.remove(id);
            wants.declared.contains_key(id)
        };
        if !wanted {
            return Ok(());
        }
        if chunk_id(data) != *id {
            self.service.forget_provider(id, from);
            return Err(format!("chunk bytes do not match chunk id {id}"));
        }
        match self.service.store_chunk(id, data) {
            Ok(Ok(_)) => {}
            Ok(Err(refusal)) => warn!(%from, %refusal, "received chunk not stored"),
            Err(error) => warn!(%from, %error, "received chunk not stored"),
        }
        Ok(())
    }
}
