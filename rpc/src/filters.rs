//! Installed filters (`eth_newFilter` and friends): ids, each with its cursor in the EVM app
//! ([`FilterCursor`]: what a poll reports is computed there) or its buffer of pending
//! transaction hashes. Filters not polled for [`FILTER_TIMEOUT`] are removed, as geth does.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::{B256, U256};
use alloy_rpc_types_eth::{Filter, FilterChanges};
use ir3_evm::{EvmNode, filters::FilterCursor};
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use crate::error::{RpcError, RpcResult};

/// How long an unpolled filter lives.
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(300);
/// Most pending-transaction hashes a filter buffers between polls.
pub const MAX_BUFFERED_HASHES: usize = 10_000;
/// Most filters installed at once.
pub const MAX_FILTERS: usize = 10_000;

enum FilterKind {
    Blocks { cursor: FilterCursor },
    Logs { filter: Box<Filter>, cursor: FilterCursor },
    PendingTransactions { buffer: Arc<Mutex<VecDeque<B256>>>, feeder: JoinHandle<()> },
}

struct InstalledFilter {
    kind: FilterKind,
    last_poll: Instant,
}

impl Drop for InstalledFilter {
    fn drop(&mut self) {
        if let FilterKind::PendingTransactions { feeder, .. } = &self.kind {
            feeder.abort();
        }
    }
}

/// The filters installed on this node.
pub struct Filters {
    node: Arc<EvmNode>,
    installed: Mutex<HashMap<U256, InstalledFilter>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filters").field("installed", &self.installed.lock().len()).finish()
    }
}

impl Filters {
    /// Creates the filter table and starts its reaper.
    pub fn new(node: Arc<EvmNode>) -> Arc<Self> {
        let filters = Arc::new(Self {
            node,
            installed: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        });
        let weak = Arc::downgrade(&filters);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                let Some(filters) = weak.upgrade() else { return };
                filters.installed.lock().retain(|_, f| f.last_poll.elapsed() < FILTER_TIMEOUT);
            }
        });
        filters
    }

    fn install(&self, kind: FilterKind) -> RpcResult<U256> {
        let mut installed = self.installed.lock();
        if installed.len() >= MAX_FILTERS {
            return Err(RpcError::InvalidParams("too many filters installed".into()));
        }
        let id = U256::from(self.next_id.fetch_add(1, Ordering::Relaxed));
        installed.insert(id, InstalledFilter { kind, last_poll: Instant::now() });
        Ok(id)
    }

    /// Installs a log filter; changes start after the current head.
    pub fn new_log_filter(&self, filter: Filter) -> RpcResult<U256> {
        let cursor = self.node.filter_cursor();
        self.install(FilterKind::Logs { filter: Box::new(filter), cursor })
    }

    /// Installs a new-block filter.
    pub fn new_block_filter(&self) -> RpcResult<U256> {
        let cursor = self.node.filter_cursor();
        self.install(FilterKind::Blocks { cursor })
    }

    /// Installs a pending-transaction filter.
    pub fn new_pending_transaction_filter(&self) -> RpcResult<U256> {
        let buffer = Arc::new(Mutex::new(VecDeque::new()));
        let mut hashes = self.node.subscribe_transactions();
        let sink = buffer.clone();
        let feeder = tokio::spawn(async move {
            loop {
                match hashes.recv().await {
                    Ok(hash) => {
                        let mut buffer = sink.lock();
                        if buffer.len() >= MAX_BUFFERED_HASHES {
                            buffer.pop_front();
                        }
                        buffer.push_back(hash);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        self.install(FilterKind::PendingTransactions { buffer, feeder })
    }

    /// Removes a filter; `false` when it was not installed.
    pub fn uninstall(&self, id: U256) -> bool {
        self.installed.lock().remove(&id).is_some()
    }

    /// What the filter saw since the last poll.
    pub fn changes(&self, id: U256) -> RpcResult<FilterChanges> {
        let mut installed = self.installed.lock();
        let filter = installed.get_mut(&id).ok_or(RpcError::FilterNotFound)?;
        filter.last_poll = Instant::now();
        match &mut filter.kind {
            FilterKind::Blocks { cursor } => {
                Ok(FilterChanges::Hashes(self.node.new_block_hashes(cursor)))
            }
            FilterKind::Logs { filter, cursor } => {
                Ok(FilterChanges::Logs(self.node.new_logs(cursor, filter)?))
            }
            FilterKind::PendingTransactions { buffer, .. } => {
                Ok(FilterChanges::Hashes(buffer.lock().drain(..).collect()))
            }
        }
    }

    /// Every log a log filter matches.
    pub fn logs(&self, id: U256) -> RpcResult<Vec<alloy_rpc_types_eth::Log>> {
        let filter = {
            let mut installed = self.installed.lock();
            let installed = installed.get_mut(&id).ok_or(RpcError::FilterNotFound)?;
            installed.last_poll = Instant::now();
            match &installed.kind {
                FilterKind::Logs { filter, .. } => filter.clone(),
                _ => return Err(RpcError::FilterNotFound),
            }
        };
        Ok(self.node.logs(&filter)?)
    }
}
