//! The chain derived from the series: versioned state, sealed blocks and their indexes.
//!
//! The most recent blocks are kept in memory ([`RECENT_BLOCKS`]); older ones, with the hash and
//! transaction indexes, are read from the derived store.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header, constants::EMPTY_WITHDRAWALS, proofs};
use alloy_eips::{BlockId, BlockNumberOrTag, eip7685::EMPTY_REQUESTS_HASH};
use alloy_primitives::{B64, B256, U256, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::KECCAK_EMPTY;
use revm::primitives::hardfork::SpecId;

use crate::{
    block::{SignedTx, StoredBlock},
    config::ChainConfig,
    dev::{DevSettings, MiningMode, Snapshots},
    error::{EvmError, Result},
    events::BlockContext,
    execute::BlockExecution,
    fork::ForkSource,
    state::{AccountRecord, BULK_FACTOR, BlockHashes, StateAt, StateStore, VersionedState},
};

/// Blocks kept in memory behind the head (older ones are read from the store).
pub const RECENT_BLOCKS: usize = 256;
/// Blocks gathered in memory before they are written to the store together.
const BLOCK_BATCH: u64 = 128;

/// The chain: configuration, world state with history, and every sealed block.
#[derive(Debug)]
pub struct Chain {
    config: ChainConfig,
    pub(crate) state: VersionedState,
    /// The most recent blocks, consecutive, ending with the head.
    recent: VecDeque<Arc<StoredBlock>>,
    /// The state revision of each block in `recent` (older ones are in the store).
    recent_revisions: VecDeque<u64>,
    /// Number of the first block not yet handed to the store writer.
    unstored_from: u64,
    /// Number of the first block the store does not hold yet (blocks before it may leave
    /// the recent window).
    committed_from: u64,
    /// Hashes and transaction positions of the blocks in `recent`.
    by_hash: HashMap<B256, u64>,
    tx_index: HashMap<B256, (u64, u32)>,
    /// Number of the first block (non-zero for a fork).
    first_number: u64,
    /// The head each rewind (revert or reset) left, in order: lets readers that remember a
    /// block number (filters) notice the chain moved back.
    pub(crate) rewinds: Vec<u64>,
    /// The state revision readers see at the head (blocks and dev-mode changes).
    pub(crate) revision: u64,
    /// Where the chain stands in its series, for the store's resume checkpoints.
    pub(crate) series: SeriesPosition,
    pub(crate) settings: DevSettings,
    pub(crate) snapshots: Snapshots,
    pub(crate) next_snapshot_id: u64,
    /// Network mode: the `safe` and `finalized` block numbers (`None`: the head, as a single
    /// node's blocks are final once durable).
    finality_tags: Option<FinalityTags>,
    /// Replay: the state root recorded for a block sealed without computing it, until checked.
    recorded_root: RecordedRoot,
    /// Bulk mode (replay): larger write batches ([`Chain::set_bulk`]).
    bulk: bool,
}

/// A replayed block's recorded state root waiting to be checked against the state's
/// ([`Chain::seal_recorded`]).
#[derive(Debug, Default)]
struct RecordedRoot {
    /// The block's number and recorded root, while unchecked.
    unchecked: Option<(u64, B256)>,
    /// A check made by a flush that failed: the block and why.
    diverged: Option<(u64, String)>,
}

/// Where a chain stands in the series it is derived from. A single node's chain records it so
/// that the store's checkpoints say from which entry a restart resumes; network mode (whose
/// chain is rebuilt from epochs) leaves `next` unset and writes none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesPosition {
    /// The first series entry not yet reflected in the chain.
    pub next: Option<u64>,
    /// The last `BlockSealed` entry applied: its position and block hash (a resume checks that
    /// the series still holds it there).
    pub sealed: Option<(u64, B256)>,
    /// Hash of the payload of the series' first `Genesis` event: the chain's identity.
    pub origin: B256,
}

/// The block numbers the `safe` and `finalized` tags resolve to in network mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinalityTags {
    /// The `safe` block: in network mode the same as `finalized` (nothing is safe short of a
    /// decided height).
    pub safe: u64,
    /// The last block of the epochs the decided heights made final.
    pub finalized: u64,
}

impl Chain {
    /// Builds the genesis block of a chain. A forked chain starts from its parent's fork
    /// block, whose header it takes as its first block.
    pub fn genesis(config: ChainConfig, mining: MiningMode) -> Result<Self> {
        Self::genesis_in(config, mining, StateStore::in_memory())
    }

    /// Builds the genesis block of a chain whose state history goes to `store` (emptied
    /// first).
    pub fn genesis_in(
        config: ChainConfig,
        mining: MiningMode,
        store: Arc<StateStore>,
    ) -> Result<Self> {
        let fork_header = config.fork.as_ref().map(ForkSource::header).transpose()?;
        let mut state = match &config.fork {
            Some(fork) => VersionedState::forked(store, Arc::new(ForkSource::new(fork.clone()))),
            None => VersionedState::new(store),
        };
        for (address, balance) in &config.alloc {
            // A fork keeps the parent's nonce and code of a funded account (as Anvil does).
            let parent = match state.fork() {
                Some(fork) => fork.account(*address)?,
                None => None,
            };
            let (nonce, code_hash) = parent.map_or((0, KECCAK_EMPTY), |a| (a.nonce, a.code_hash));
            state.set_account(
                *address,
                0,
                Some(AccountRecord { balance: *balance, nonce, code_hash }),
            );
        }
        // Code was validated when the genesis was read; an account that still fails is skipped.
        for account in &config.genesis_accounts {
            let _ = crate::dev::load_accounts(&mut state, std::slice::from_ref(account), 0);
        }
        let settings = DevSettings::new(&config, mining);
        let mut chain = Self {
            config,
            state,
            revision: 0,
            series: SeriesPosition::default(),
            settings,
            snapshots: Snapshots::new(),
            next_snapshot_id: 0,
            recent: VecDeque::new(),
            recent_revisions: VecDeque::new(),
            unstored_from: fork_header.as_ref().map_or(0, |h| h.number),
            committed_from: fork_header.as_ref().map_or(0, |h| h.number),
            by_hash: HashMap::new(),
            tx_index: HashMap::new(),
            first_number: fork_header.as_ref().map_or(0, |h| h.number),
            rewinds: Vec::new(),
            finality_tags: None,
            recorded_root: RecordedRoot::default(),
            bulk: false,
        };
        if let (Some(header), Some(fork)) = (fork_header, &chain.config.fork) {
            let size = block_size(&header, &[]);
            let hash = fork.block_hash;
            let block = StoredBlock { header, hash, size, ..StoredBlock::default() };
            chain.publish(block);
            return Ok(chain);
        }
        let context = BlockContext {
            number: 0,
            timestamp: chain.config.genesis_timestamp,
            base_fee: chain.config.initial_base_fee,
            gas_limit: chain.config.gas_limit,
            coinbase: chain.config.coinbase,
            prevrandao: B256::ZERO,
        };
        let genesis = match chain.config.schedule.as_ref().map(|s| s.genesis_header()) {
            // A geth genesis file: its header as geth builds it, with this state's root.
            Some(header) => {
                let mut header = header?;
                header.state_root = chain.state.state_root();
                let hash = header.hash_slow();
                let size = block_size(&header, &[]);
                StoredBlock { header, hash, size, ..StoredBlock::default() }
            }
            None => chain.seal(&context, BlockExecution::default()),
        };
        chain.publish(genesis);
        Ok(chain)
    }

    /// The chain as the store's resume checkpoint describes it: state, tries and recent blocks
    /// from the store, the rest from the checkpoint. `Ok(None)`: the store has no checkpoint
    /// (new, or moved back since its last flush). An error says why the store cannot be
    /// resumed from; the caller rebuilds it from the series.
    pub(crate) fn resume(
        store: Arc<StateStore>,
    ) -> std::result::Result<Option<(Self, crate::resume::Checkpoint)>, String> {
        let reason = |e: crate::state::StateReadError| e.to_string();
        let Some(bytes) = store.checkpoint().map_err(reason)? else { return Ok(None) };
        let checkpoint = crate::resume::Checkpoint::decode(&bytes)?;
        let head = checkpoint.head;
        // Blocks written after the checkpoint's flush (a crash between the two commits).
        if store.block_hash_revision(head + 1).map_err(reason)?.is_some() {
            store.remove_blocks_after(head).map_err(reason)?;
        }
        let fork = checkpoint.config.fork.as_ref().map(|f| Arc::new(ForkSource::new(f.clone())));
        let state =
            VersionedState::resume(store.clone(), fork, checkpoint.revision, checkpoint.trie_root)
                .map_err(reason)?;
        let mut recent = VecDeque::new();
        let mut recent_revisions = VecDeque::new();
        let (mut by_hash, mut tx_index) = (HashMap::new(), HashMap::new());
        let from = head.saturating_sub(RECENT_BLOCKS as u64 - 1).max(checkpoint.first_number);
        for number in from..=head {
            let block = store.block(number).map_err(reason)?;
            let hash_revision = store.block_hash_revision(number).map_err(reason)?;
            let (Some(block), Some((_, revision))) = (block, hash_revision) else {
                return Err(format!("block {number} is missing from the store"));
            };
            by_hash.insert(block.hash, number);
            for (index, tx) in block.transactions.iter().enumerate() {
                tx_index.insert(tx.hash, (number, index as u32));
            }
            recent.push_back(Arc::new(block));
            recent_revisions.push_back(revision);
        }
        if recent.back().map(|b| b.hash) != Some(checkpoint.head_hash) {
            return Err(format!("the stored head block {head} is not the checkpoint's"));
        }
        let snapshots = checkpoint
            .snapshots
            .iter()
            .map(|s| s.restore())
            .collect::<Result<_>>()
            .map_err(|e| e.to_string())?;
        let chain = Self {
            config: checkpoint.config.clone(),
            state,
            recent,
            recent_revisions,
            unstored_from: head + 1,
            committed_from: head + 1,
            by_hash,
            tx_index,
            first_number: checkpoint.first_number,
            rewinds: Vec::new(),
            revision: checkpoint.revision,
            series: SeriesPosition {
                next: Some(checkpoint.series_next),
                sealed: checkpoint.sealed,
                origin: checkpoint.origin,
            },
            settings: checkpoint.settings.clone(),
            snapshots,
            next_snapshot_id: checkpoint.next_snapshot_id,
            finality_tags: None,
            recorded_root: RecordedRoot::default(),
            bulk: false,
        };
        Ok(Some((chain, checkpoint)))
    }

    /// Records that the series entry `seq` (a dev event) has been applied.
    pub(crate) fn note_applied(&mut self, seq: u64) {
        if self.series.next.is_some() {
            self.series.next = Some(seq + 1);
            // A revert or reset moved the store back and dropped its checkpoint: write a new
            // one now rather than at the next flush, and wait for it (a batch in flight would
            // make `flush` send nothing), so a crash right after does not rebuild.
            if self.state.store().checkpoint_forgotten() {
                self.flush_and_wait();
            }
        }
    }

    /// Records that the series entry `seq` sealed the block `hash` about to be published.
    pub(crate) fn note_sealed(&mut self, seq: u64, hash: B256) {
        if self.series.next.is_some() {
            self.series.next = Some(seq + 1);
            self.series.sealed = Some((seq, hash));
        }
    }

    /// Number of the chain's first block (0, or the fork block of a forked chain).
    pub fn first_number(&self) -> u64 {
        self.first_number
    }

    /// The revision block `number`'s post-state was sealed at (from memory if recent, else from
    /// the store).
    fn sealed_revision(&self, number: u64) -> Option<u64> {
        let first = self.recent.front()?.number();
        if let Some(offset) = number.checked_sub(first) {
            return usize::try_from(offset)
                .ok()
                .and_then(|n| self.recent_revisions.get(n))
                .copied();
        }
        match self.state.store().block_hash_revision(number) {
            Ok(found) => found.map(|(_, revision)| revision),
            Err(error) => {
                tracing::error!(%error, number, "block revision read failed");
                None
            }
        }
    }

    /// Block hashes for the BLOCKHASH opcode.
    pub(crate) fn block_hashes(&self) -> BlockHashes<'_> {
        BlockHashes { recent: &self.recent, first_block: self.first_number }
    }

    /// The chain's configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The latest sealed block, `None` only while the genesis block is being sealed.
    pub(crate) fn latest_block(&self) -> Option<&Arc<StoredBlock>> {
        self.recent.back()
    }

    /// The latest sealed block.
    pub fn head(&self) -> &Arc<StoredBlock> {
        self.recent.back().expect("the genesis block always exists")
    }

    /// Number of the latest sealed block.
    pub fn head_number(&self) -> u64 {
        self.head().number()
    }

    /// The world state with its history.
    pub fn state(&self) -> &VersionedState {
        &self.state
    }

    /// The state revision of block `number`'s post-state. The head reads the latest revision,
    /// which includes dev-mode changes made since it was sealed.
    pub fn revision_of(&self, number: u64) -> u64 {
        if number >= self.head_number() {
            return self.revision;
        }
        self.sealed_revision(number).unwrap_or(self.revision)
    }

    /// A revm-readable view of the state after block `number`.
    pub fn state_at(&self, number: u64) -> StateAt<'_> {
        StateAt {
            state: &self.state,
            revision: self.revision_of(number),
            block_hashes: self.block_hashes(),
        }
    }

    /// A revm-readable view of the state block `number` was executed on: its parent's
    /// post-state with every dev-mode change (`anvil_setCode`, `setBalance`, ...) made before it
    /// was sealed. Traces and re-executions of the block's transactions read this.
    pub fn pre_state_of(&self, number: u64) -> StateAt<'_> {
        let sealed_at = self.sealed_revision(number).unwrap_or(self.revision + 1);
        StateAt {
            state: &self.state,
            revision: sealed_at.saturating_sub(1),
            block_hashes: self.block_hashes(),
        }
    }

    /// An account after block `number`.
    pub fn account(
        &self,
        address: alloy_primitives::Address,
        number: u64,
    ) -> Option<AccountRecord> {
        self.state.account_at(address, self.revision_of(number))
    }

    /// A storage slot after block `number`.
    pub fn storage(&self, address: alloy_primitives::Address, slot: U256, number: u64) -> U256 {
        self.state.storage_at(address, slot, self.revision_of(number))
    }

    /// The context of the next block, sealed at wall-clock time `now` (seconds), under the
    /// dev settings (time offset, exact or spaced timestamps, gas limit, base fee, coinbase).
    pub fn next_context(&self, now: u64) -> BlockContext {
        let head = self.head();
        let settings = &self.settings;
        let parent_time = head.header.timestamp;
        let timestamp = match (settings.next_timestamp, settings.timestamp_interval) {
            (Some(exact), _) => exact,
            (None, Some(interval)) => parent_time.saturating_add(interval),
            (None, None) => {
                now.saturating_add_signed(settings.time_offset).max(parent_time.saturating_add(1))
            }
        };
        BlockContext {
            number: head.number() + 1,
            timestamp,
            base_fee: self.next_base_fee(),
            gas_limit: settings.gas_limit,
            coinbase: settings.coinbase,
            prevrandao: keccak256(head.hash),
        }
    }

    /// Commits an executed block's state changes and builds its header. The block is not visible
    /// to readers until [`Chain::publish`]; [`Chain::rollback`] undoes the commit.
    pub fn seal(&mut self, context: &BlockContext, mut execution: BlockExecution) -> StoredBlock {
        self.state.commit(self.revision + 1, std::mem::take(&mut execution.changes));
        let state_root = self.state.state_root();
        self.build_block(context, execution, state_root)
    }

    /// [`Chain::seal`] for a replayed block whose state root the series recorded: the header
    /// carries the recorded root (so the block's hash checks everything else) and the root is
    /// checked when the state is next flushed, before the next dev event, or at the end of
    /// replay ([`Chain::check_recorded_root`]), not computed for every block.
    pub(crate) fn seal_recorded(
        &mut self,
        context: &BlockContext,
        mut execution: BlockExecution,
        state_root: B256,
    ) -> StoredBlock {
        self.state.commit(self.revision + 1, std::mem::take(&mut execution.changes));
        self.recorded_root.unchecked = Some((context.number, state_root));
        self.build_block(context, execution, state_root)
    }

    /// Bulk mode, for replay: blocks and state versions move to the store in batches
    /// [`BULK_FACTOR`] times larger (a rebuild writes fewer, larger transactions); the window
    /// of blocks kept in memory grows accordingly while it lasts.
    pub(crate) fn set_bulk(&mut self, bulk: bool) {
        self.bulk = bulk;
        self.state.set_bulk(bulk);
    }

    /// Checks the root recorded for the last block sealed by [`Chain::seal_recorded`] (if still
    /// unchecked) against the state's, and reports a failed check made by a flush.
    pub(crate) fn check_recorded_root(&mut self) -> Result<()> {
        if self.recorded_root.unchecked.is_some() {
            let root = self.state.state_root();
            self.compare_recorded_root(root);
        }
        self.recorded_root_diverged()
    }

    /// Compares the unchecked recorded root, if any, with the state's `root`, keeping a
    /// mismatch for [`Chain::recorded_root_diverged`].
    fn compare_recorded_root(&mut self, root: B256) {
        if let Some((number, recorded)) = self.recorded_root.unchecked.take()
            && root != recorded
        {
            self.recorded_root.diverged =
                Some((number, format!("state root {root}, recorded {recorded}")));
        }
    }

    /// Reports a recorded root that a flush found wrong (without computing one).
    pub(crate) fn recorded_root_diverged(&mut self) -> Result<()> {
        match self.recorded_root.diverged.take() {
            Some((number, reason)) => Err(EvmError::ReplayDiverged { number, reason }),
            None => Ok(()),
        }
    }

    fn build_block(
        &self,
        context: &BlockContext,
        execution: BlockExecution,
        state_root: B256,
    ) -> StoredBlock {
        let spec = self.config.spec_at(context.number, context.timestamp);
        let (transactions, receipts): (Vec<_>, Vec<_>) = execution.included.into_iter().unzip();
        let envelopes: Vec<_> =
            transactions.iter().map(|tx: &Arc<SignedTx>| &tx.envelope).collect();
        let receipt_envelopes: Vec<_> = receipts.iter().map(|r| &r.envelope).collect();
        let logs_bloom = crate::execute::logs_bloom(receipt_envelopes.iter().copied());
        let header = Header {
            parent_hash: self.recent.back().map(|b| b.hash).unwrap_or_default(),
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: context.coinbase,
            state_root,
            transactions_root: proofs::calculate_transaction_root(&envelopes),
            receipts_root: proofs::calculate_receipt_root(&receipt_envelopes),
            logs_bloom,
            difficulty: U256::ZERO,
            number: context.number,
            gas_limit: context.gas_limit,
            gas_used: execution.gas_used,
            timestamp: context.timestamp,
            extra_data: Default::default(),
            mix_hash: context.prevrandao,
            nonce: B64::ZERO,
            base_fee_per_gas: (spec >= SpecId::LONDON).then_some(context.base_fee),
            withdrawals_root: (spec >= SpecId::SHANGHAI).then_some(EMPTY_WITHDRAWALS),
            blob_gas_used: (spec >= SpecId::CANCUN)
                .then(|| crate::execute::blob_gas_used(&transactions)),
            excess_blob_gas: (spec >= SpecId::CANCUN)
                .then(|| self.next_excess_blob_gas(context.timestamp)),
            parent_beacon_block_root: (spec >= SpecId::CANCUN).then_some(B256::ZERO),
            requests_hash: (spec >= SpecId::PRAGUE).then_some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        };
        let hash = header.hash_slow();
        let size = block_size(&header, &transactions);
        StoredBlock { header, hash, transactions, receipts, size, ..StoredBlock::default() }
    }

    /// Makes a sealed block the new head.
    pub fn publish(&mut self, block: StoredBlock) -> Arc<StoredBlock> {
        let number = block.number();
        for (index, tx) in block.transactions.iter().enumerate() {
            self.tx_index.insert(tx.hash, (number, index as u32));
        }
        self.by_hash.insert(block.hash, number);
        self.revision += 1;
        self.settings.next_timestamp = None;
        self.settings.next_base_fee = None;
        let block = Arc::new(block);
        self.recent.push_back(block.clone());
        self.recent_revisions.push_back(self.revision);
        self.poll_store();
        let batch = if self.bulk { BLOCK_BATCH * BULK_FACTOR as u64 } else { BLOCK_BATCH };
        let unsent = self.head_number() + 1 - self.unstored_from;
        let state_due = self.state.wants_flush();
        if state_due || unsent >= batch {
            // Back-pressure: a writer two batches behind is waited for, so memory stays
            // bounded when blocks come faster than the store takes them (a replay).
            if self.state.write_in_flight()
                && (unsent >= 2 * batch || self.state.changes_behind() >= 2)
            {
                self.wait_store();
            }
            // Blocks alone when only they are due: no state root, no versions.
            self.send_batch(state_due);
        }
        block
    }

    /// Hands everything held in memory to the store writer, as one transaction: the blocks not
    /// yet sent, the state's versions and tries, and a resume checkpoint (when the chain knows
    /// its series position). Returns at once; while the previous batch is still being written
    /// nothing is sent and a later call sends it all.
    pub(crate) fn flush(&mut self) {
        self.send_batch(true);
    }

    /// [`Chain::flush`]; with `with_state` false, only the blocks not yet stored (no state
    /// root is computed and no checkpoint written).
    fn send_batch(&mut self, with_state: bool) {
        self.poll_store();
        if self.state.write_in_flight() {
            return;
        }
        if with_state {
            let root = self.state.state_root();
            // A replayed block's recorded root is checked now that the root is computed; a
            // store is never checkpointed past a root that did not match.
            self.compare_recorded_root(root);
        }
        let head = self.head_number();
        let first = self.recent.front().map_or(head, |b| b.number());
        let from = usize::try_from(self.unstored_from.saturating_sub(first)).unwrap_or(usize::MAX);
        let blocks: Vec<_> = self
            .recent
            .iter()
            .cloned()
            .zip(self.recent_revisions.iter().copied())
            .skip(from)
            .collect();
        // The batch carries every block up to the head, so the checkpoint matches the store.
        let checkpoint = (with_state && self.recorded_root.diverged.is_none())
            .then(|| crate::resume::Checkpoint::of(self))
            .flatten();
        let sent = if with_state {
            self.state.flush(self.revision, checkpoint, blocks)
        } else {
            self.state.flush_blocks(blocks)
        };
        if sent {
            self.unstored_from = self.unstored_from.max(head + 1);
        }
    }

    /// [`Chain::flush`], waiting until the store holds everything (a clean stop).
    pub(crate) fn flush_and_wait(&mut self) {
        self.wait_store();
        self.flush();
        self.wait_store();
    }

    /// Takes in the batches the store writer finished: blocks the store now holds leave the
    /// window of recent blocks; those of a refused batch are sent again with the next one.
    fn poll_store(&mut self) {
        self.state.poll_written();
        self.after_writes();
    }

    /// Waits until the batch in flight, if any, is written (before the store moves back).
    pub(crate) fn wait_store(&mut self) {
        self.state.wait_written();
        self.after_writes();
    }

    fn after_writes(&mut self) {
        for written in self.state.take_written() {
            let blocks = &written.batch.blocks;
            let (Some((first, _)), Some((last, _))) = (blocks.first(), blocks.last()) else {
                continue;
            };
            match written.result {
                Ok(()) => self.committed_from = self.committed_from.max(last.number() + 1),
                Err(_) => self.unstored_from = self.unstored_from.min(first.number()),
            }
        }
        while self.recent.len() > RECENT_BLOCKS
            && self.recent.front().is_some_and(|b| b.number() < self.committed_from)
        {
            let Some(old) = self.recent.pop_front() else { break };
            self.recent_revisions.pop_front();
            self.by_hash.remove(&old.hash);
            for tx in &old.transactions {
                self.tx_index.remove(&tx.hash);
            }
        }
    }

    /// Undoes the state commit of a block that was sealed but not published.
    pub fn rollback(&mut self) {
        self.state.truncate_after(self.revision);
    }

    /// Moves the chain back to block `head` and state revision `revision` (a snapshot's).
    pub(crate) fn truncate_to(&mut self, head: u64, revision: u64) {
        self.wait_store();
        while self.recent.back().is_some_and(|b| b.number() > head) {
            let Some(block) = self.recent.pop_back() else { break };
            self.recent_revisions.pop_back();
            self.by_hash.remove(&block.hash);
            for tx in &block.transactions {
                self.tx_index.remove(&tx.hash);
            }
        }
        if head < self.unstored_from.saturating_sub(1) {
            if let Err(error) = self.state.store().remove_blocks_after(head) {
                tracing::error!(%error, head, "blocks could not be removed from the store");
            }
            self.unstored_from = head + 1;
        }
        self.committed_from = self.committed_from.min(head + 1);
        if self.recent.is_empty() {
            // Moved back past the recent window: the new head comes from the store.
            let store = self.state.store();
            match (store.block(head), store.block_hash_revision(head)) {
                (Ok(Some(block)), Ok(Some((_, sealed_at)))) => {
                    self.by_hash.insert(block.hash, head);
                    for (index, tx) in block.transactions.iter().enumerate() {
                        self.tx_index.insert(tx.hash, (head, index as u32));
                    }
                    self.recent.push_back(Arc::new(block));
                    self.recent_revisions.push_back(sealed_at);
                }
                other => tracing::error!(?other, head, "the new head is missing from the store"),
            }
        }
        self.state.truncate_after(revision);
        self.revision = revision;
        self.rewinds.push(self.head_number());
    }

    /// How many rewinds (reverts, resets) the chain went through.
    pub fn rewind_count(&self) -> usize {
        self.rewinds.len()
    }

    /// The lowest head left by the rewinds after the first `seen` ones, if any happened.
    pub fn lowest_rewind_since(&self, seen: usize) -> Option<u64> {
        self.rewinds.get(seen..).and_then(|r| r.iter().min().copied())
    }

    /// Sets the block numbers of the `safe` and `finalized` tags (network mode).
    pub fn set_finality_tags(&mut self, tags: FinalityTags) {
        self.finality_tags = Some(tags);
    }

    /// The block numbers of the `safe` and `finalized` tags.
    pub fn finality_tags(&self) -> FinalityTags {
        let head = self.head_number();
        self.finality_tags
            .map(|t| FinalityTags { safe: t.safe.min(head), finalized: t.finalized.min(head) })
            .unwrap_or(FinalityTags { safe: head, finalized: head })
    }

    /// Resolves a block tag or number to a block number that exists.
    pub fn resolve_number(&self, tag: BlockNumberOrTag) -> Result<u64> {
        let head = self.head_number();
        match tag {
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => Ok(head),
            BlockNumberOrTag::Safe => Ok(self.finality_tags().safe),
            BlockNumberOrTag::Finalized => Ok(self.finality_tags().finalized),
            BlockNumberOrTag::Earliest => Ok(self.first_number),
            BlockNumberOrTag::Number(n) if n < self.first_number => Err(EvmError::BlockNotFound(
                format!("block {n} is before the fork block {}", self.first_number),
            )),
            BlockNumberOrTag::Number(n) if n <= head => Ok(n),
            BlockNumberOrTag::Number(_) => Err(EvmError::BlockNotFound("header not found".into())),
        }
    }

    /// Resolves a block id (tag, number or EIP-1898 hash) to a block number that exists.
    pub fn resolve(&self, id: Option<BlockId>) -> Result<u64> {
        match id.unwrap_or_default() {
            BlockId::Number(tag) => self.resolve_number(tag),
            BlockId::Hash(hash) => self.number_of(hash.block_hash).ok_or_else(|| {
                EvmError::BlockNotFound(format!("block {} not found", hash.block_hash))
            }),
        }
    }

    /// The block with this number (from memory if recent, else from the store).
    pub fn block(&self, number: u64) -> Option<Arc<StoredBlock>> {
        if number > self.head_number() {
            return None;
        }
        let first = self.recent.front().map_or(0, |b| b.number());
        if let Some(offset) = number.checked_sub(first) {
            return usize::try_from(offset).ok().and_then(|n| self.recent.get(n)).cloned();
        }
        if number < self.first_number {
            return None;
        }
        self.state
            .store()
            .block(number)
            .unwrap_or_else(|error| {
                tracing::error!(%error, number, "block read failed");
                None
            })
            .map(Arc::new)
    }

    /// The number of the block with this hash.
    fn number_of(&self, hash: B256) -> Option<u64> {
        if let Some(number) = self.by_hash.get(&hash) {
            return Some(*number);
        }
        let number = self.state.store().block_number(hash).ok().flatten()?;
        // A stale entry of a block reverted away is not this chain's.
        (number < self.recent.front().map_or(0, |b| b.number())).then_some(number)
    }

    /// The block with this hash.
    pub fn block_by_hash(&self, hash: B256) -> Option<Arc<StoredBlock>> {
        self.number_of(hash).and_then(|n| self.block(n))
    }

    /// The block a resolvable id designates, or `None` (for methods that answer null).
    pub fn block_by_id(&self, id: BlockId) -> Option<Arc<StoredBlock>> {
        self.resolve(Some(id)).ok().and_then(|n| self.block(n))
    }

    /// Where a mined transaction sits: block number and index.
    fn tx_position(&self, hash: &B256) -> Option<(u64, u32)> {
        if let Some(position) = self.tx_index.get(hash) {
            return Some(*position);
        }
        let (number, index) = self.state.store().tx_position(*hash).ok().flatten()?;
        (number < self.recent.front().map_or(0, |b| b.number())).then_some((number, index))
    }

    /// Where a mined transaction sits: its block and index.
    pub fn locate_tx(&self, hash: B256) -> Option<(Arc<StoredBlock>, usize)> {
        let (number, index) = self.tx_position(&hash)?;
        Some((self.block(number)?, index as usize))
    }

    /// Positions (block number, index) of the transactions sent by, sent to or creating
    /// `address` in blocks `from..=to`, newest first when `newest_first`, at most `limit`: from
    /// the recent window, and from the store's address index below it (no scan of history).
    pub fn address_positions(
        &self,
        address: alloy_primitives::Address,
        from: u64,
        to: u64,
        newest_first: bool,
        limit: usize,
    ) -> Vec<(u64, usize)> {
        let recent_first = self.recent.front().map_or(0, |b| b.number());
        let mut recent: Vec<(u64, usize)> = self
            .recent
            .iter()
            .filter(|b| (from..=to).contains(&b.number()))
            .flat_map(|b| {
                (0..b.transactions.len())
                    .filter(|i| crate::state::touched_addresses(b, *i).contains(&address))
                    .map(|i| (b.number(), i))
                    .collect::<Vec<_>>()
            })
            .collect();
        let stored = match recent_first.checked_sub(1) {
            Some(below) if from <= below => self
                .state
                .store()
                .address_positions(address, from, to.min(below), newest_first, limit)
                .unwrap_or_else(|error| {
                    tracing::error!(%error, "address index read failed");
                    Vec::new()
                }),
            _ => Vec::new(),
        };
        let stored = stored.into_iter().map(|(n, i)| (n, i as usize));
        if newest_first {
            recent.reverse();
            recent.into_iter().chain(stored).take(limit).collect()
        } else {
            stored.chain(recent).take(limit).collect()
        }
    }

    /// The hash of the transaction `sender` sent with `nonce`, if mined.
    pub fn tx_by_sender_nonce(
        &self,
        sender: alloy_primitives::Address,
        nonce: u64,
    ) -> Option<B256> {
        let recent = self.recent.iter().rev().find_map(|b| {
            b.transactions
                .iter()
                .find_map(|tx| (tx.sender == sender && tx.nonce() == nonce).then_some(tx.hash))
        });
        recent.or_else(|| {
            let hash = self.state.store().tx_by_sender_nonce(sender, nonce).ok().flatten()?;
            self.contains_tx(&hash).then_some(hash)
        })
    }

    /// Whether a transaction with this hash is mined.
    pub fn contains_tx(&self, hash: &B256) -> bool {
        self.tx_position(hash).is_some()
    }

    /// Latest nonce of an account.
    pub fn latest_nonce(&self, address: alloy_primitives::Address) -> u64 {
        self.state.account_at(address, self.revision).map(|a| a.nonce).unwrap_or_default()
    }

    /// Latest balance of an account.
    pub fn latest_balance(&self, address: alloy_primitives::Address) -> U256 {
        self.state.account_at(address, self.revision).map(|a| a.balance).unwrap_or_default()
    }

    /// Total of the `cumulative_gas_used` of a block's receipts (its gas used).
    pub fn block_gas_used(block: &StoredBlock) -> u64 {
        block.receipts.last().map(|r| r.envelope.cumulative_gas_used()).unwrap_or_default()
    }
}

/// Length of the RLP-encoded block: header, transactions, empty ommers and (after Shanghai)
/// empty withdrawals, as `debug_getRawBlock` returns it.
fn block_size(header: &Header, transactions: &[Arc<SignedTx>]) -> u64 {
    let list_length = |payload_length: usize| {
        alloy_rlp::Header { list: true, payload_length }.length_with_payload()
    };
    let txs = transactions.iter().map(|tx| tx.envelope.length()).sum::<usize>();
    let withdrawals = if header.withdrawals_root.is_some() { list_length(0) } else { 0 };
    let payload = header.length() + list_length(txs) + list_length(0) + withdrawals;
    list_length(payload) as u64
}
