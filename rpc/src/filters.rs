//! Installed filters (`eth_newFilter` and friends): each remembers how far it was polled.
//! Filters not polled for [`FILTER_TIMEOUT`] are removed, as geth does.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::{B256, U256};
use alloy_rpc_types_eth::{Filter, FilterBlockOption, FilterChanges};
use ir3_evm::{EvmNode, queries::logs_in_range};
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use crate::error::{RpcError, RpcResult};

/// How long an unpolled filter lives.
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(300);
/// Most pending-transaction hashes a filter buffers between polls.
pub const MAX_BUFFERED_HASHES: usize = 10_000;
/// Most filters installed at once.
pub const MAX_FILTERS: usize = 10_000;

/// The last block a filter reported, and how many chain rewinds it has accounted for.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    block: u64,
    rewinds: usize,
}

impl Cursor {
    fn at_head(node: &EvmNode) -> Self {
        node.with_chain(|chain| Self { block: chain.head_number(), rewinds: chain.rewind_count() })
    }

    /// Moves back below any rewind (`evm_revert`, `anvil_reset`) since the last poll, so the
    /// blocks that replace the reverted ones are reported.
    fn follow_rewinds(&mut self, chain: &ir3_evm::chain::Chain) {
        if let Some(lowest) = chain.lowest_rewind_since(self.rewinds) {
            self.block = self.block.min(lowest);
        }
        self.rewinds = chain.rewind_count();
    }
}

enum FilterKind {
    Blocks { cursor: Cursor },
    Logs { filter: Box<Filter>, cursor: Cursor },
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
        let cursor = Cursor::at_head(&self.node);
        self.install(FilterKind::Logs { filter: Box::new(filter), cursor })
    }

    /// Installs a new-block filter.
    pub fn new_block_filter(&self) -> RpcResult<U256> {
        let cursor = Cursor::at_head(&self.node);
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
                let (head, hashes) = self.node.with_chain(|chain| {
                    cursor.follow_rewinds(chain);
                    let from = cursor.block + 1;
                    let head = chain.head_number();
                    let hashes: Vec<B256> =
                        (from..=head).filter_map(|n| chain.block(n).map(|b| b.hash)).collect();
                    (head, hashes)
                });
                cursor.block = head.max(cursor.block);
                Ok(FilterChanges::Hashes(hashes))
            }
            FilterKind::Logs { filter, cursor } => {
                let (head, logs) = self.node.with_chain(|chain| {
                    cursor.follow_rewinds(chain);
                    let from = cursor.block + 1;
                    let head = chain.head_number();
                    let (lower, upper) = match filter.block_option {
                        FilterBlockOption::Range { from_block, to_block } => (
                            from_block.and_then(|b| b.as_number()).unwrap_or(0),
                            to_block.and_then(|b| b.as_number()).unwrap_or(u64::MAX),
                        ),
                        FilterBlockOption::AtBlockHash(_) => (0, u64::MAX),
                    };
                    let logs = logs_in_range(chain, filter, from.max(lower), head.min(upper));
                    (head, logs)
                });
                cursor.block = head.max(cursor.block);
                Ok(FilterChanges::Logs(logs?))
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
