//! The derived store's writer: batches move from memory to the store on a thread of their own,
//! so that the chain's owner (the miner, a replay) hands a batch over and goes on; it never
//! waits for a commit or an fsync. One batch is in flight at a time. Until it is committed, what
//! it carries stays readable where it was (versions and blocks in memory, trie nodes in the
//! batch itself); the owner drops them from memory only once the store's readers see them.

use std::{
    sync::{Arc, mpsc},
    thread::JoinHandle,
};

use super::{StateReadError, StateStore, store::FlushBatch};

/// A batch the writer is done with.
#[derive(Debug)]
pub(crate) struct Written {
    /// The batch.
    pub(crate) batch: Arc<FlushBatch>,
    /// Whether the store took it (it is then visible to the store's readers).
    pub(crate) result: Result<(), StateReadError>,
}

/// The writer thread of one state and its one batch in flight.
#[derive(Debug)]
pub(super) struct StoreWriter {
    /// Batches for the thread (`None`: no thread, batches are written inline).
    jobs: Option<mpsc::Sender<Arc<FlushBatch>>>,
    finished: mpsc::Sender<Written>,
    /// Finished batches (behind a lock only so that the chain stays `Sync`).
    done: parking_lot::Mutex<mpsc::Receiver<Written>>,
    store: Arc<StateStore>,
    thread: Option<JoinHandle<()>>,
    in_flight: Option<Arc<FlushBatch>>,
}

impl StoreWriter {
    /// Starts the writer of `store`.
    pub(super) fn spawn(store: Arc<StateStore>) -> Self {
        let (jobs, receiver) = mpsc::channel::<Arc<FlushBatch>>();
        let (finished, done) = mpsc::channel();
        let (thread_store, thread_finished) = (store.clone(), finished.clone());
        let spawned =
            std::thread::Builder::new().name("ir3-store-writer".into()).spawn(move || {
                for batch in receiver {
                    // A store that panics (redb on a damaged file) fails the batch, not the
                    // thread: the owner waiting for it must hear back.
                    let flush = std::panic::AssertUnwindSafe(|| thread_store.flush(&batch));
                    let result = std::panic::catch_unwind(flush).unwrap_or_else(|_| {
                        Err(StateReadError("the store panicked while writing".into()))
                    });
                    if thread_finished.send(Written { batch, result }).is_err() {
                        break;
                    }
                }
            });
        let thread = spawned
            .map_err(|error| tracing::warn!(%error, "no store writer thread: writes go inline"))
            .ok();
        let jobs = thread.is_some().then_some(jobs);
        Self { jobs, finished, done: parking_lot::Mutex::new(done), store, thread, in_flight: None }
    }

    /// The batch being written, if any.
    pub(super) fn in_flight(&self) -> Option<&Arc<FlushBatch>> {
        self.in_flight.as_ref()
    }

    /// Hands `batch` to the writer. Only one batch is in flight: the caller checks
    /// [`Self::in_flight`] first.
    pub(super) fn send(&mut self, batch: FlushBatch) -> Arc<FlushBatch> {
        let batch = Arc::new(batch);
        self.in_flight = Some(batch.clone());
        let sent = self.jobs.as_ref().is_some_and(|jobs| jobs.send(batch.clone()).is_ok());
        if !sent {
            // No thread, or it is gone: write here.
            self.jobs = None;
            let result = self.store.flush(&batch);
            let _ = self.finished.send(Written { batch: batch.clone(), result });
        }
        batch
    }

    /// The batch in flight, if the writer is done with it.
    pub(super) fn poll(&mut self) -> Option<Written> {
        self.in_flight.as_ref()?;
        let written = self.done.get_mut().try_recv().ok()?;
        self.in_flight = None;
        Some(written)
    }

    /// Waits until the batch in flight, if any, is written.
    pub(super) fn wait(&mut self) -> Option<Written> {
        self.in_flight.as_ref()?;
        let written = self.done.get_mut().recv().unwrap_or_else(|_| Written {
            batch: self.in_flight.clone().unwrap_or_default(),
            result: Err(StateReadError("the store writer stopped".into())),
        });
        self.in_flight = None;
        Some(written)
    }
}

impl Drop for StoreWriter {
    /// Lets the batch in flight finish before the state goes (a chain reset empties the same
    /// store next).
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
