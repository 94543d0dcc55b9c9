//! A block the series cannot make durable (a failed fsync) is rolled back and its senders are
//! answered with the error, while other submits take the pool and the waiters concurrently
//! (the rollback takes them in the same order as everyone else: pool, then waiters).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::Duration,
};

use alloy_primitives::{Address, U256};
use alloy_rpc_types_eth::TransactionRequest;
use ir3_foundation::{
    EntryBody, FoundationError, MemorySeries, RawEntry, Result as SeriesResult, Seq, Series,
    SeriesHandle,
};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::error::EvmError;

/// A series whose appends fail (as a failed fsync does) while `failing` is set. With a `gate`,
/// the next failing append announces itself and waits to be released before it fails.
#[derive(Debug, Default)]
struct FlakySeries {
    inner: MemorySeries,
    failing: AtomicBool,
    gate: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl Series for FlakySeries {
    fn submit(&self, bodies: Vec<EntryBody>) -> oneshot::Receiver<SeriesResult<Seq>> {
        if !self.failing.load(Ordering::SeqCst) {
            return self.inner.submit(bodies);
        }
        if let Some((entered, release)) = self.gate.lock().take() {
            let _ = entered.send(());
            let _ = release.recv();
        }
        let (sender, receiver) = oneshot::channel();
        let error = std::io::Error::other("fsync failed");
        let _ = sender.send(Err(FoundationError::io("series.log", error)));
        receiver
    }

    fn replay_raw(
        &self,
        visit: &mut dyn FnMut(&RawEntry<'_>) -> SeriesResult<()>,
    ) -> SeriesResult<()> {
        self.inner.replay_raw(visit)
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }
}

/// A deadlock would hang the runtime (its workers blocked on the locks, so that even its
/// timers stop): the scenario runs on a runtime of its own thread, watched from the test's.
#[test]
fn blocks_that_cannot_be_made_durable_are_rolled_back_under_concurrent_submits() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(rollbacks_under_concurrent_submits());
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(60)) {
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("submits and rollbacks deadlocked")
        }
        // The scenario's own panic fails the test through the closed channel.
        outcome => outcome.expect("the scenario failed"),
    }
}

async fn rollbacks_under_concurrent_submits() {
    let flaky = Arc::new(FlakySeries::default());
    let series: SeriesHandle = flaky.clone();
    let node = crate::test_node::open(&series).unwrap();
    let senders = node.accounts().addresses();
    flaky.failing.store(true, Ordering::SeqCst);
    for round in 0..10u64 {
        let mut sends = Vec::new();
        for (from, nonce) in senders.iter().flat_map(|a| (0..4).map(move |n| (*a, n))) {
            let node = node.clone();
            let request = TransactionRequest::default()
                .from(from)
                .to(Address::repeat_byte(0x11))
                .value(U256::from(round + 1))
                .nonce(nonce);
            sends.push(tokio::spawn(async move { node.send_transaction(request).await }));
        }
        for send in sends {
            let outcome = send.await.unwrap();
            assert!(matches!(outcome, Err(EvmError::Series(_))), "{outcome:?}");
        }
        assert_eq!(node.block_number(), 0, "a block that is not durable is rolled back");
        assert!(node.pool.lock().is_empty(), "what was not made durable left the pool");
    }

    // Once the series writes again, a transaction is mined.
    flaky.failing.store(false, Ordering::SeqCst);
    let request = TransactionRequest::default()
        .from(senders[0])
        .to(Address::repeat_byte(0x11))
        .value(U256::from(1));
    let hash = node.send_transaction(request).await.unwrap();
    assert_eq!(node.block_number(), 1);
    assert!(node.with_chain(|c| c.contains_tx(&hash)));
    let replayed = crate::test_node::open(&series).unwrap();
    assert_eq!(replayed.with_chain(|c| c.head().hash), node.with_chain(|c| c.head().hash));
}

/// The lock order itself, deterministically: while a submit holds the pool, a rollback waits for
/// the pool without holding the waiters (the submit, which takes the waiters next, can go on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_takes_the_pool_before_the_waiters() {
    let flaky = Arc::new(FlakySeries::default());
    let series: SeriesHandle = flaky.clone();
    let node = crate::test_node::open(&series).unwrap();
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    *flaky.gate.lock() = Some((entered_tx, release_rx));
    flaky.failing.store(true, Ordering::SeqCst);
    let request = TransactionRequest::default()
        .from(node.accounts().addresses()[0])
        .to(Address::repeat_byte(0x11))
        .value(U256::from(1));
    let sender = node.clone();
    let send = tokio::spawn(async move { sender.send_transaction(request).await });
    // The miner sealed the block and is appending it.
    tokio::task::block_in_place(|| entered.recv_timeout(Duration::from_secs(10)))
        .expect("the block was not appended");
    let inverted = tokio::task::block_in_place(|| {
        // A submit holds the pool when the append fails: the rollback must wait for the pool
        // first; had it taken the waiters first, the submit could not take them now.
        let pool = node.pool.lock();
        release.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let waiters = node.waiters.try_lock_for(Duration::from_secs(2));
        let inverted = waiters.is_none();
        drop(waiters);
        drop(pool);
        inverted
    });
    assert!(!inverted, "the rollback holds the waiters while it waits for the pool");
    let outcome = send.await.unwrap();
    assert!(matches!(outcome, Err(EvmError::Series(_))), "{outcome:?}");
    assert_eq!(node.block_number(), 0);
}
