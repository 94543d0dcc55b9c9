//! How a node decides on its peers' intents: any [`Decider`], and the per-peer
//! [`RateLimiter`] that answers NO with a retry-after once a peer is over its budget.

use std::{collections::HashMap, time::Instant};

use libp2p::PeerId;

use alloy_primitives::B256;

use super::protocol::{Answer, Direct, IntentMessage, Page, Pull};
use crate::intent::IntentId;

/// How a node decides on the intents its peers declare (`None` is silence), and how it takes
/// part in catch-up: what it serves to a peer's pull, what it does with a page it pulled, and
/// where its own pulls start. Runs on the network task: every method must return quickly.
pub trait Decider: Send + 'static {
    /// Decides on one intent from `from`.
    fn decide(&mut self, from: &PeerId, message: &IntentMessage) -> Option<Answer>;

    /// Serves a peer's pull; `None` answers busy.
    fn serve_pull(&mut self, _from: &PeerId, _pull: &Pull) -> Option<Page> {
        Some(Page::default())
    }

    /// A page this node pulled from `from`.
    fn on_page(&mut self, _from: &PeerId, _page: Page) {}

    /// Where this node's next catch-up pull starts; `None`: it does not pull.
    fn pull_cursor(&mut self) -> Option<Pull> {
        None
    }

    /// A peer answered an intent this node declared. `Ok(Some(request))` sends a direct
    /// request to that peer (e.g. fetch the chunk it has); `Err` refuses the answer (forged)
    /// and counts it against the peer.
    fn on_reply(
        &mut self,
        _from: &PeerId,
        _intent: &IntentId,
        _answer: &Answer,
    ) -> Result<Option<Direct>, String> {
        Ok(None)
    }

    /// Serves a chunk a peer asked for; `None` answers busy.
    fn serve_chunk(&mut self, _from: &PeerId, _id: &B256) -> Option<Vec<u8>> {
        None
    }

    /// Serves an app's history index; `None` answers busy.
    fn serve_index(&mut self, _from: &PeerId, _app: &str) -> Option<Vec<u8>> {
        None
    }

    /// An app's history index a peer sent.
    fn on_index(&mut self, _from: &PeerId, _app: &str, _data: &[u8]) {}

    /// A chunk a peer sent; `Err` refuses it (bytes not matching the id) and counts it
    /// against the peer.
    fn on_chunk(&mut self, _from: &PeerId, _id: &B256, _data: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// Two deciders as one: intents go to the first, then to the second if the first stays silent;
/// pulls and pages go to the first; replies to both.
#[derive(Debug)]
pub struct Both<A, B>(pub A, pub B);

impl<A: Decider, B: Decider> Decider for Both<A, B> {
    fn decide(&mut self, from: &PeerId, message: &IntentMessage) -> Option<Answer> {
        self.0.decide(from, message).or_else(|| self.1.decide(from, message))
    }

    fn serve_pull(&mut self, from: &PeerId, pull: &Pull) -> Option<Page> {
        self.0.serve_pull(from, pull)
    }

    fn on_page(&mut self, from: &PeerId, page: Page) {
        self.0.on_page(from, page);
    }

    fn pull_cursor(&mut self) -> Option<Pull> {
        self.0.pull_cursor()
    }

    fn on_reply(
        &mut self,
        from: &PeerId,
        intent: &IntentId,
        answer: &Answer,
    ) -> Result<Option<Direct>, String> {
        match self.0.on_reply(from, intent, answer)? {
            Some(request) => Ok(Some(request)),
            None => self.1.on_reply(from, intent, answer),
        }
    }

    fn serve_chunk(&mut self, from: &PeerId, id: &B256) -> Option<Vec<u8>> {
        self.0.serve_chunk(from, id).or_else(|| self.1.serve_chunk(from, id))
    }

    fn serve_index(&mut self, from: &PeerId, app: &str) -> Option<Vec<u8>> {
        self.0.serve_index(from, app).or_else(|| self.1.serve_index(from, app))
    }

    fn on_index(&mut self, from: &PeerId, app: &str, data: &[u8]) {
        self.0.on_index(from, app, data);
        self.1.on_index(from, app, data);
    }

    fn on_chunk(&mut self, from: &PeerId, id: &B256, data: &[u8]) -> Result<(), String> {
        self.0.on_chunk(from, id, data)?;
        self.1.on_chunk(from, id, data)
    }
}

impl<F> Decider for F
where
    F: FnMut(&PeerId, &IntentMessage) -> Option<Answer> + Send + 'static,
{
    fn decide(&mut self, from: &PeerId, message: &IntentMessage) -> Option<Answer> {
        self(from, message)
    }
}

/// Peers a [`RateLimiter`] keeps buckets for before it forgets the idle ones.
pub const MAX_RATE_BUCKETS: usize = 4096;

/// A per-peer token bucket: YES while the peer is within its budget, NO with the time until the
/// next token otherwise (the seeds' load signal). Buckets of idle peers (full again) are
/// forgotten once [`MAX_RATE_BUCKETS`] peers are tracked: a new bucket starts full, so this
/// loses nothing.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: HashMap<PeerId, (f64, Instant)>,
}

impl RateLimiter {
    /// Allows `per_second` intents per peer on average, `burst` at once.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second: per_second.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            buckets: HashMap::new(),
        }
    }

    /// YES if `peer` has a token left now, else NO with a retry-after.
    pub fn check(&mut self, peer: &PeerId, now: Instant) -> Answer {
        if self.buckets.len() >= MAX_RATE_BUCKETS && !self.buckets.contains_key(peer) {
            let (per_second, burst) = (self.per_second, self.burst);
            self.buckets.retain(|_, (tokens, last)| {
                *tokens + now.saturating_duration_since(*last).as_secs_f64() * per_second < burst
            });
        }
        let (tokens, last) = self.buckets.entry(*peer).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * self.per_second;
        *tokens = (*tokens + refill).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Answer::Yes { detail: Vec::new() }
        } else {
            let wait = (1.0 - *tokens) / self.per_second;
            Answer::No {
                reason: "rate limited".into(),
                retry_after_ms: (wait * 1000.0).ceil() as u64,
            }
        }
    }

    /// Whether `peer` is within its budget now (takes a token if so).
    pub fn allows(&mut self, peer: &PeerId, now: Instant) -> bool {
        matches!(self.check(peer, now), Answer::Yes { .. })
    }

    /// Peers tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}
