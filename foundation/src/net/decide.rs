//! How a node decides on its peers' intents: any [`Decider`], and the per-peer
//! [`RateLimiter`] that answers NO with a retry-after once a peer is over its budget.

use std::{collections::HashMap, time::Instant};

use libp2p::PeerId;

use super::protocol::{Answer, IntentMessage, Page, Pull};

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
}

impl<F> Decider for F
where
    F: FnMut(&PeerId, &IntentMessage) -> Option<Answer> + Send + 'static,
{
    fn decide(&mut self, from: &PeerId, message: &IntentMessage) -> Option<Answer> {
        self(from, message)
    }
}

/// A per-peer token bucket: YES while the peer is within its budget, NO with the time until the
/// next token otherwise (the seeds' load signal).
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
}
