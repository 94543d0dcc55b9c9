//! What an installed filter (`eth_newBlockFilter`, `eth_newFilter`) saw since it was last
//! polled. A [`FilterCursor`] remembers the last block reported and the chain rewinds
//! (`evm_revert`, `anvil_reset`) already accounted for; each poll reads the new blocks under
//! the chain's lock and moves the cursor to the head. The blocks that replace reverted ones
//! are new blocks, so they are reported too. The RPC layer keeps only filter ids, their
//! cursors and their expiry.

use alloy_primitives::B256;
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log};

use crate::{EvmNode, Result, chain::Chain, queries::logs_in_range};

/// Where a filter stands: the last block it reported, and how many chain rewinds it has
/// accounted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterCursor {
    block: u64,
    rewinds: usize,
}

impl FilterCursor {
    /// A cursor at `chain`'s head: changes are the blocks sealed after it.
    pub fn at_head(chain: &Chain) -> Self {
        Self { block: chain.head_number(), rewinds: chain.rewind_count() }
    }

    /// The last block reported.
    pub fn block(&self) -> u64 {
        self.block
    }

    /// Moves back below any rewind since the last poll, so that the blocks that replace the
    /// reverted ones are reported; returns the first block to report.
    fn follow_rewinds(&mut self, chain: &Chain) -> u64 {
        if let Some(lowest) = chain.lowest_rewind_since(self.rewinds) {
            self.block = self.block.min(lowest);
        }
        self.rewinds = chain.rewind_count();
        self.block + 1
    }

    /// Records that everything up to `head` was reported.
    fn advance_to(&mut self, head: u64) {
        self.block = self.block.max(head);
    }

    /// The hashes of the blocks sealed since the cursor, oldest first; moves it to the head.
    pub fn new_block_hashes(&mut self, chain: &Chain) -> Vec<B256> {
        let from = self.follow_rewinds(chain);
        let head = chain.head_number();
        let hashes = (from..=head).filter_map(|n| chain.block(n).map(|b| b.hash)).collect();
        self.advance_to(head);
        hashes
    }

    /// The logs matching `filter` (within its block range) in the blocks sealed since the
    /// cursor; moves it to the head, even when the query is refused (too many blocks or logs).
    pub fn new_logs(&mut self, chain: &Chain, filter: &Filter) -> Result<Vec<Log>> {
        let from = self.follow_rewinds(chain);
        let head = chain.head_number();
        let (lower, upper) = match filter.block_option {
            FilterBlockOption::Range { from_block, to_block } => (
                from_block.and_then(|b| b.as_number()).unwrap_or(0),
                to_block.and_then(|b| b.as_number()).unwrap_or(u64::MAX),
            ),
            FilterBlockOption::AtBlockHash(_) => (0, u64::MAX),
        };
        let logs = logs_in_range(chain, filter, from.max(lower), head.min(upper));
        self.advance_to(head);
        logs
    }
}

impl EvmNode {
    /// A filter cursor at the current head.
    pub fn filter_cursor(&self) -> FilterCursor {
        self.with_chain(FilterCursor::at_head)
    }

    /// The hashes of the blocks sealed since `cursor` (see [`FilterCursor::new_block_hashes`]).
    pub fn new_block_hashes(&self, cursor: &mut FilterCursor) -> Vec<B256> {
        self.with_chain(|chain| cursor.new_block_hashes(chain))
    }

    /// The logs `filter` matches since `cursor` (see [`FilterCursor::new_logs`]).
    pub fn new_logs(&self, cursor: &mut FilterCursor, filter: &Filter) -> Result<Vec<Log>> {
        self.with_chain(|chain| cursor.new_logs(chain, filter))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ir3_foundation::{MemorySeries, SeriesHandle};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cursors_report_new_blocks_and_the_blocks_that_replace_reverted_ones() {
        let series: SeriesHandle = Arc::new(MemorySeries::new());
        let node = crate::test_node::open(&series).unwrap();
        let mut cursor = node.filter_cursor();
        assert!(node.new_block_hashes(&mut cursor).is_empty());

        let snapshot = node.snapshot().await.unwrap();
        let mined = node.mine(2, None, None).await.unwrap();
        let hashes: Vec<_> = mined.iter().map(|b| b.hash).collect();
        assert_eq!(node.new_block_hashes(&mut cursor), hashes);
        assert_eq!(cursor.block(), 2);
        assert!(node.new_block_hashes(&mut cursor).is_empty());

        // Reverted below the cursor: the replacing block is new.
        assert!(node.revert(snapshot).await.unwrap());
        let again = node.mine(1, None, None).await.unwrap();
        assert_eq!(node.new_block_hashes(&mut cursor), vec![again[0].hash]);
        assert_eq!(cursor.block(), 1);

        let mut logs_cursor = node.filter_cursor();
        node.mine(1, None, None).await.unwrap();
        assert!(node.new_logs(&mut logs_cursor, &Default::default()).unwrap().is_empty());
        assert_eq!(logs_cursor.block(), 2);
    }
}
