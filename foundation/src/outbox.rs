//! The outbox: a bounded, non-blocking queue of intents on their way to peers.
//!
//! Apps push into it and return at once. Until the peer-to-peer layer exists the consumer only
//! counts what it drains; a full outbox drops the intent (and counts the drop) rather than
//! making a request wait.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::mpsc;

use crate::intent::Intent;

/// How many intents may wait in the outbox before new ones are dropped.
pub const DEFAULT_OUTBOX_CAPACITY: usize = 4096;

/// Counters describing what went through the outbox.
#[derive(Debug, Default)]
pub struct OutboxStats {
    /// Intents accepted into the queue.
    pub pushed: AtomicU64,
    /// Intents dropped because the queue was full or closed.
    pub dropped: AtomicU64,
    /// Intents taken off the queue by the consumer.
    pub drained: AtomicU64,
}

/// The sending half of the outbox, cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    sender: mpsc::Sender<Intent>,
    stats: Arc<OutboxStats>,
}

impl Outbox {
    /// Creates an outbox whose consumer is the given closure, run on the current tokio runtime
    /// for every drained intent. Until the network layer lands, nodes pass a no-op.
    pub fn spawn<F>(capacity: usize, mut consumer: F) -> Self
    where
        F: FnMut(Intent) + Send + 'static,
    {
        let (sender, mut receiver) = mpsc::channel(capacity.max(1));
        let stats = Arc::new(OutboxStats::default());
        let task_stats = stats.clone();
        tokio::spawn(async move {
            while let Some(intent) = receiver.recv().await {
                task_stats.drained.fetch_add(1, Ordering::Relaxed);
                consumer(intent);
            }
        });
        Self { sender, stats }
    }

    /// Pushes an intent without waiting. Returns `false` when it was dropped.
    pub fn push(&self, intent: Intent) -> bool {
        match self.sender.try_send(intent) {
            Ok(()) => {
                self.stats.pushed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The outbox counters.
    pub fn stats(&self) -> &OutboxStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_outbox_drops_instead_of_blocking() {
        // On a current-thread runtime the consumer cannot run while this test pushes, so the
        // queue fills exactly as it would under a slow consumer.
        let outbox = Outbox::spawn(1, |_| {});
        let mut accepted = 0;
        for i in 0..10u8 {
            if outbox.push(Intent::new("evm", "execute_eth_tx", vec![i])) {
                accepted += 1;
            }
        }
        assert!(accepted < 10, "a bounded outbox must drop when full");
        assert_eq!(outbox.stats().dropped.load(Ordering::Relaxed), 10 - accepted);
    }
}
