//! Versioned world state, derived from the series block by block.
//!
//! Every account field and storage slot keeps the list of values it took, each tagged with the
//! *revision* that set it, so any past state can be read without replaying: a read at revision
//! `r` takes the last value set at or before `r`. A revision is one step of the chain's state:
//! each sealed block is one, and so is each dev-mode state change (`anvil_setBalance`, a loaded
//! state, ...). The chain maps block numbers to revisions; reverting to a snapshot forgets
//! every revision after the snapshot's. The latest value is the common case and is the last
//! element of each list. [`StateAt`] adapts a view at one revision to revm's `DatabaseRef`.
//!
//! Recent versions live in memory; in batches they move to the derived store on disk
//! ([`StateStore`], redb), where a read at any revision is one seek, so memory stays flat however
//! long the chain grows. Every change is also logged under its revision, so moving back to a revision (a revert, a
//! failed seal, a network-mode rebuild) costs the number of changes undone, not the size of the
//! state. The state root is a real Merkle-Patricia root kept incrementally ([`trie`]): sealing a
//! block re-hashes only the paths of the accounts and slots changed since the last root.

mod block_store;
mod store;
mod trie;
mod writer;

pub(crate) use block_store::touched_addresses;

use store::FlushBatch;
pub use store::{DEFAULT_CACHE_MB, STORE_SCHEMA, StateStore};
use writer::StoreWriter;
pub(crate) use writer::Written;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use crate::fork::ForkSource;
use alloy_primitives::{Address, B256, U256};
use alloy_trie::KECCAK_EMPTY;
use revm::{
    bytecode::Bytecode,
    database_interface::{DBErrorMarker, DatabaseRef},
    state::{AccountInfo, EvmState},
};
pub(crate) use trie::SpeculativeAccount;
use trie::StateTrie;
pub use trie::TrieUpdateError;

/// Error type of state reads. Reads from memory cannot fail; the type exists for revm.
#[derive(Debug, Clone, thiserror::Error)]
#[error("state read failed: {0}")]
pub struct StateReadError(pub String);

impl DBErrorMarker for StateReadError {}

/// The values one item took over the chain's history, oldest first.
#[derive(Debug, Clone)]
struct Versions<T> {
    entries: Vec<(u64, T)>,
}

impl<T> Versions<T> {
    fn new(revision: u64, value: T) -> Self {
        Self { entries: vec![(revision, value)] }
    }

    /// The value in force at revision `revision`.
    fn at(&self, revision: u64) -> Option<&T> {
        match self.entries.last() {
            Some((set_at, value)) if *set_at <= revision => Some(value),
            _ => {
                let index = self.entries.partition_point(|(set_at, _)| *set_at <= revision);
                index.checked_sub(1).and_then(|i| self.entries.get(i)).map(|(_, value)| value)
            }
        }
    }

    fn latest(&self) -> Option<&T> {
        self.entries.last().map(|(_, value)| value)
    }

    fn set(&mut self, revision: u64, value: T) {
        match self.entries.last_mut() {
            Some((set_at, current)) if *set_at == revision => *current = value,
            _ => self.entries.push((revision, value)),
        }
    }

    /// Forgets every value set after `revision`; returns whether nothing is left.
    fn truncate_after(&mut self, revision: u64) -> bool {
        let keep = self.entries.partition_point(|(set_at, _)| *set_at <= revision);
        self.entries.truncate(keep);
        self.entries.is_empty()
    }
}

/// Proofs of one account and some of its slots (see [`VersionedState::latest_proof`]).
#[derive(Debug, Clone)]
pub struct LatestProof {
    /// The root the proofs lead to.
    pub state_root: B256,
    /// The account trie's nodes on the account's path.
    pub account: Vec<Vec<u8>>,
    /// The account's storage root.
    pub storage_root: B256,
    /// Each slot's nodes in the storage trie, in the order asked.
    pub storage: Vec<Vec<Vec<u8>>>,
}

/// An account's scalar fields. `None` in a version list means the account did not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRecord {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Hash of the account's code, [`KECCAK_EMPTY`] without code.
    pub code_hash: B256,
}

/// An item of the state: an account's fields or one storage slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateKey {
    Account(Address),
    Slot(Address, U256),
}

/// Changes held in memory before they are moved to the store.
const FLUSH_AT_CHANGES: usize = 16_384;
/// Longest time changes stay in memory only: bounds what a restart after `kill -9` replays
/// (the series suffix after the store's last checkpoint) to about this much work.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How much larger batches are in bulk mode ([`VersionedState::set_bulk`]).
pub(crate) const BULK_FACTOR: usize = 16;

/// The whole world state with its history.
#[derive(Debug)]
pub struct VersionedState {
    /// Versions set after revision `flushed` (older ones are in the store).
    accounts: HashMap<Address, Versions<Option<AccountRecord>>>,
    storage: HashMap<Address, HashMap<U256, Versions<U256>>>,
    /// Code by hash: everything this process has seen (contracts are few next to accounts);
    /// code written before a restart is read from the store and kept here.
    code: parking_lot::RwLock<HashMap<B256, Bytecode>>,
    /// Code first seen since the last flush, to be written to the store.
    unflushed_code: Vec<(B256, alloy_primitives::Bytes)>,
    /// What each revision after `flushed` changed, so that moving back costs the changes
    /// undone.
    changes: BTreeMap<u64, Vec<StateKey>>,
    /// Number of keys in `changes`.
    change_count: usize,
    /// `change_count` at which versions move to the store.
    flush_at: usize,
    /// The derived store: versions, change sets and trie nodes up to revision `flushed`.
    store: Arc<StateStore>,
    /// The highest revision whose versions are in the store.
    flushed: u64,
    /// The latest state as Merkle-Patricia tries.
    trie: StateTrie,
    /// Accounts changed since the last root.
    dirty_accounts: HashSet<Address>,
    /// Slots changed since the last root, by account.
    dirty_slots: HashMap<Address, HashSet<U256>>,
    /// The parent chain of a forked chain: what this state has not written is read there.
    fork: Option<Arc<ForkSource>>,
    /// How many times the tries had to be rebuilt after a failed update (a bug if not 0).
    trie_failures: u32,
    /// When versions last moved to the store.
    last_flush: std::time::Instant,
    /// Longest time versions stay in memory only ([`FLUSH_EVERY`]).
    flush_every: std::time::Duration,
    /// Writes batches to the store on its own thread.
    writer: StoreWriter,
    /// Batches the writer finished, for the chain (its blocks) to take.
    written: Vec<Written>,
    /// Batches handed to the writer so far.
    batches: u64,
    /// Bulk mode ([`Self::set_bulk`]).
    bulk: bool,
}

impl Default for VersionedState {
    fn default() -> Self {
        Self::new(StateStore::in_memory())
    }
}

impl VersionedState {
    /// An empty state whose history goes to `store` (emptied first).
    pub fn new(store: Arc<StateStore>) -> Self {
        if let Err(error) = store.clear() {
            tracing::error!(%error, "the state store could not be emptied");
        }
        let trie = StateTrie::new(store.clone());
        Self::over(store, trie, 0, None)
    }

    /// The state the store holds at `revision` (its last flush), whose tries have root
    /// `trie_root`: a restarted node resumes from it instead of replaying its whole series.
    pub(crate) fn resume(
        store: Arc<StateStore>,
        fork: Option<Arc<ForkSource>>,
        revision: u64,
        trie_root: B256,
    ) -> Result<Self, StateReadError> {
        let trie = StateTrie::resume(store.clone(), trie_root, store.storage_roots()?);
        Ok(Self::over(store, trie, revision, fork))
    }

    /// A state with nothing in memory over what `store` holds up to revision `flushed`.
    fn over(
        store: Arc<StateStore>,
        trie: StateTrie,
        flushed: u64,
        fork: Option<Arc<ForkSource>>,
    ) -> Self {
        Self {
            accounts: HashMap::new(),
            storage: HashMap::new(),
            code: Default::default(),
            unflushed_code: Vec::new(),
            changes: BTreeMap::new(),
            change_count: 0,
            flush_at: FLUSH_AT_CHANGES,
            flushed,
            trie,
            dirty_accounts: HashSet::new(),
            dirty_slots: HashMap::new(),
            fork,
            trie_failures: 0,
            last_flush: std::time::Instant::now(),
            flush_every: FLUSH_EVERY,
            writer: StoreWriter::spawn(store.clone()),
            written: Vec::new(),
            batches: 0,
            bulk: false,
            store,
        }
    }

    /// An empty state whose unwritten accounts and slots are read from a forked parent.
    pub fn forked(store: Arc<StateStore>, fork: Arc<ForkSource>) -> Self {
        Self { fork: Some(fork), ..Self::new(store) }
    }

    /// The derived store this state writes its history to.
    pub fn store(&self) -> &Arc<StateStore> {
        &self.store
    }

    /// An account's fields as this chain last set them at or before `revision` (`None`: never
    /// written here).
    fn local_account(
        &self,
        address: Address,
        revision: u64,
    ) -> Result<Option<Option<AccountRecord>>, StateReadError> {
        match self.accounts.get(&address).and_then(|v| v.at(revision)) {
            Some(record) => Ok(Some(*record)),
            None => self.store.account_at(address, revision),
        }
    }

    /// A slot as this chain last set it at or before `revision` (`None`: never written here).
    fn local_slot(
        &self,
        address: Address,
        slot: U256,
        revision: u64,
    ) -> Result<Option<U256>, StateReadError> {
        let recent = self
            .storage
            .get(&address)
            .and_then(|slots| slots.get(&slot))
            .and_then(|v| v.at(revision));
        match recent {
            Some(value) => Ok(Some(*value)),
            None => self.store.storage_at(address, slot, revision),
        }
    }

    /// Account fields at revision `revision`; a store or forked parent's read can fail.
    pub fn try_account_at(
        &self,
        address: Address,
        revision: u64,
    ) -> Result<Option<AccountRecord>, StateReadError> {
        match (self.local_account(address, revision)?, &self.fork) {
            (Some(record), _) => Ok(record),
            (None, Some(fork)) => fork.account(address).map_err(|e| StateReadError(e.to_string())),
            (None, None) => Ok(None),
        }
    }

    /// Account fields at revision `revision` (a failed fork read counts as absent and is
    /// logged).
    pub fn account_at(&self, address: Address, revision: u64) -> Option<AccountRecord> {
        self.try_account_at(address, revision).unwrap_or_else(|error| {
            tracing::warn!(%error, %address, "state read failed");
            None
        })
    }

    /// A storage slot at revision `revision`; a forked parent's read can fail.
    pub fn try_storage_at(
        &self,
        address: Address,
        slot: U256,
        revision: u64,
    ) -> Result<U256, StateReadError> {
        match (self.local_slot(address, slot, revision)?, &self.fork) {
            (Some(value), _) => Ok(value),
            (None, Some(fork)) => {
                fork.storage(address, slot).map_err(|e| StateReadError(e.to_string()))
            }
            (None, None) => Ok(U256::ZERO),
        }
    }

    /// A storage slot at revision `revision` (a failed fork read counts as zero and is
    /// logged).
    pub fn storage_at(&self, address: Address, slot: U256, revision: u64) -> U256 {
        self.try_storage_at(address, slot, revision).unwrap_or_else(|error| {
            tracing::warn!(%error, %address, "state read failed");
            U256::ZERO
        })
    }

    /// Code by hash (including code fetched from a forked parent).
    pub fn code(&self, hash: B256) -> Option<Bytecode> {
        if hash == KECCAK_EMPTY {
            return None;
        }
        if let Some(code) = self.code.read().get(&hash) {
            return Some(code.clone());
        }
        let stored = self.store.code(hash).unwrap_or_else(|error| {
            tracing::error!(%error, %hash, "code read failed");
            None
        });
        if let Some(raw) = stored {
            let code = Bytecode::new_raw(raw.into());
            self.code.write().insert(hash, code.clone());
            return Some(code);
        }
        self.fork.as_ref().and_then(|fork| fork.code(hash))
    }

    /// The forked parent, if any.
    pub fn fork(&self) -> Option<&Arc<ForkSource>> {
        self.fork.as_ref()
    }

    /// The latest non-zero storage of an account (slot, value), for dumps and tests.
    pub fn latest_storage(&self, address: Address) -> Vec<(U256, U256)> {
        let mut latest: HashMap<U256, U256> = self
            .store
            .latest_storage(address)
            .unwrap_or_else(|error| {
                tracing::error!(%error, %address, "state store read failed");
                Vec::new()
            })
            .into_iter()
            .collect();
        if let Some(slots) = self.storage.get(&address) {
            for (slot, versions) in slots {
                if let Some(value) = versions.latest() {
                    latest.insert(*slot, *value);
                }
            }
        }
        latest.into_iter().filter(|(_, value)| !value.is_zero()).collect()
    }

    /// Sets an account's fields at `revision` (genesis, commits and dev-mode changes).
    pub fn set_account(&mut self, address: Address, revision: u64, record: Option<AccountRecord>) {
        match self.accounts.get_mut(&address) {
            Some(versions) => versions.set(revision, record),
            None => {
                self.accounts.insert(address, Versions::new(revision, record));
            }
        }
        self.changes.entry(revision).or_default().push(StateKey::Account(address));
        self.change_count += 1;
        self.dirty_accounts.insert(address);
    }

    /// Sets a storage slot at `revision`.
    pub fn set_storage(&mut self, address: Address, slot: U256, revision: u64, value: U256) {
        let slots = self.storage.entry(address).or_default();
        match slots.get_mut(&slot) {
            Some(versions) => versions.set(revision, value),
            None => {
                slots.insert(slot, Versions::new(revision, value));
            }
        }
        self.changes.entry(revision).or_default().push(StateKey::Slot(address, slot));
        self.change_count += 1;
        self.dirty_slots.entry(address).or_default().insert(slot);
        self.dirty_accounts.insert(address);
    }

    /// Stores code under its hash.
    pub fn insert_code(&mut self, code: Bytecode) -> B256 {
        let hash = code.hash_slow();
        if let std::collections::hash_map::Entry::Vacant(entry) = self.code.get_mut().entry(hash) {
            self.unflushed_code.push((hash, code.original_bytes()));
            entry.insert(code);
        }
        hash
    }

    fn clear_storage(&mut self, address: Address, revision: u64) {
        for (slot, _) in self.latest_storage(address) {
            self.set_storage(address, slot, revision, U256::ZERO);
        }
    }

    /// Applies the changes of one executed block, tagging them with `revision`.
    pub fn commit(&mut self, revision: u64, changes: EvmState) {
        self.commit_with(revision, changes, true);
    }

    /// [`Self::commit`]; with `state_clear` false (rules before Spurious Dragon), touched
    /// accounts left empty stay in the state instead of being removed (EIP-161).
    pub fn commit_with(&mut self, revision: u64, changes: EvmState, state_clear: bool) {
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            if account.is_selfdestructed() {
                self.clear_storage(address, revision);
                self.set_account(address, revision, None);
                continue;
            }
            if account.is_created() {
                self.clear_storage(address, revision);
            }
            // Code is stored once per hash: touching a known contract costs no hashing.
            let mut code_hash = account.info.code_hash;
            if !self.code.get_mut().contains_key(&code_hash)
                && let Some(code) = account.info.code.as_ref().filter(|c| !c.is_empty())
            {
                code_hash = self.insert_code(code.clone());
            }
            for (slot, value) in account.storage.iter() {
                if value.is_changed() {
                    self.set_storage(address, *slot, revision, value.present_value());
                }
            }
            let record = AccountRecord {
                balance: account.info.balance,
                nonce: account.info.nonce,
                code_hash,
            };
            // EIP-161: touched accounts left empty are removed.
            let empty = record.balance.is_zero() && record.nonce == 0 && code_hash == KECCAK_EMPTY;
            self.set_account(address, revision, (!(empty && state_clear)).then_some(record));
        }
    }

    /// Forgets everything set after `revision` (a failed seal, or a revert to a snapshot). Costs
    /// the number of changes made after `revision`.
    pub fn truncate_after(&mut self, revision: u64) {
        // The store moves back only once the batch in flight is in it.
        self.wait_written();
        let undone = self.changes.split_off(&(revision + 1));
        let mut undone: Vec<StateKey> = undone.into_values().flatten().collect();
        self.change_count = self.changes.values().map(Vec::len).sum();
        if revision < self.flushed {
            match self.store.truncate_after(revision) {
                Ok(keys) => undone.extend(keys),
                Err(error) => {
                    // The store cannot move back: forget it and start a new one from the
                    // versions still in memory is not possible, so rebuild reads fail loudly.
                    tracing::error!(%error, revision, "state store truncation failed");
                }
            }
            self.flushed = revision;
        }
        for key in undone {
            match key {
                StateKey::Account(address) => {
                    if self.accounts.get_mut(&address).is_some_and(|v| v.truncate_after(revision)) {
                        self.accounts.remove(&address);
                    }
                    self.dirty_accounts.insert(address);
                }
                StateKey::Slot(address, slot) => {
                    if let Some(slots) = self.storage.get_mut(&address) {
                        if slots.get_mut(&slot).is_some_and(|v| v.truncate_after(revision)) {
                            slots.remove(&slot);
                        }
                        if slots.is_empty() {
                            self.storage.remove(&address);
                        }
                    }
                    self.dirty_slots.entry(address).or_default().insert(slot);
                    self.dirty_accounts.insert(address);
                }
            }
        }
    }

    /// The latest value this chain wrote to a slot.
    fn latest_slot(&self, address: &Address, slot: &U256) -> Result<U256, StateReadError> {
        Ok(self.local_slot(*address, *slot, u64::MAX)?.unwrap_or_default())
    }

    /// The latest fields this chain wrote to an account (`None`: it does not exist).
    fn latest_account(&self, address: &Address) -> Result<Option<AccountRecord>, StateReadError> {
        Ok(self.local_account(*address, u64::MAX)?.flatten())
    }

    /// Bulk mode (replay): versions move to the store in batches [`BULK_FACTOR`] times larger
    /// and less often, which a rebuild can afford (a crash only repeats its last batch) and
    /// which halves its write cost; off again for live operation.
    pub(crate) fn set_bulk(&mut self, bulk: bool) {
        self.bulk = bulk;
        let factor = if bulk { BULK_FACTOR } else { 1 };
        self.flush_at = FLUSH_AT_CHANGES * factor;
        self.flush_every = FLUSH_EVERY * factor as u32;
    }

    /// Whether enough changes have gathered in memory, or stayed there long enough, to move
    /// them to the store.
    pub(crate) fn wants_flush(&self) -> bool {
        self.change_count >= self.flush_at
            || (self.change_count > 0 && self.last_flush.elapsed() >= self.flush_every)
    }

    /// Hands the versions of every revision up to `revision` (the latest), the trie nodes, new
    /// code, `blocks` and `checkpoint` to the store writer, to be written in one transaction;
    /// the tries are brought up to date first, so the nodes are those of the state at
    /// `revision`. Returns at once; what the batch carries stays readable here until the store
    /// holds it ([`Self::poll_written`]). Returns `false`, sending nothing, while the previous
    /// batch is still being written (the caller tries again later).
    pub(crate) fn flush(
        &mut self,
        revision: u64,
        checkpoint: Option<Vec<u8>>,
        blocks: Vec<(Arc<crate::block::StoredBlock>, u64)>,
    ) -> bool {
        if !self.writer_idle() {
            return false;
        }
        let _ = self.state_root();
        self.batches += 1;
        let durable = !self.bulk || self.batches.is_multiple_of(store::DURABLE_BULK_EVERY);
        let mut batch =
            FlushBatch { checkpoint, blocks, revision, durable, ..FlushBatch::default() };
        for (address, versions) in &self.accounts {
            for (at, record) in versions.entries.iter().filter(|(at, _)| *at <= revision) {
                batch.accounts.push((*address, *at, *record));
            }
        }
        for (address, slots) in &self.storage {
            for (slot, versions) in slots {
                for (at, value) in versions.entries.iter().filter(|(at, _)| *at <= revision) {
                    batch.storage.push((*address, *slot, *at, *value));
                }
            }
        }
        batch.changes =
            self.changes.range(..=revision).map(|(at, keys)| (*at, keys.clone())).collect();
        batch.trie = self.trie.take_pending();
        batch.storage_roots = self.trie.take_changed_roots();
        batch.code = std::mem::take(&mut self.unflushed_code);
        // In key order: each B-tree page is then written once per batch, not once per key.
        batch.accounts.sort_unstable_by_key(|(address, at, _)| (*address, *at));
        batch.storage.sort_unstable_by_key(|(address, slot, at, _)| (*address, *slot, *at));
        self.hand_over(batch);
        self.last_flush = std::time::Instant::now();
        true
    }

    /// Hands sealed blocks alone to the store writer (no versions, nodes or checkpoint);
    /// `false` while a batch is in flight.
    pub(crate) fn flush_blocks(
        &mut self,
        blocks: Vec<(Arc<crate::block::StoredBlock>, u64)>,
    ) -> bool {
        if !self.writer_idle() {
            return false;
        }
        self.hand_over(FlushBatch {
            blocks,
            revision: self.flushed,
            durable: !self.bulk,
            blocks_only: true,
            ..FlushBatch::default()
        });
        true
    }

    /// Whether no batch is being written (after taking in a finished one).
    fn writer_idle(&mut self) -> bool {
        self.poll_written();
        self.writer.in_flight().is_none()
    }

    /// Sends `batch` to the writer; its trie nodes are read from it until the store holds them.
    /// (A writer without a thread writes it at once: it is taken in here.)
    fn hand_over(&mut self, batch: FlushBatch) {
        let batch = self.writer.send(batch);
        self.trie.set_in_flight(Some(batch));
        self.poll_written();
    }

    /// [`Self::flush`], waiting for the store to hold everything (tests);
    /// returns whether it took it.
    #[cfg(test)]
    pub(crate) fn flush_and_wait(
        &mut self,
        revision: u64,
        checkpoint: Option<Vec<u8>>,
        blocks: Vec<(Arc<crate::block::StoredBlock>, u64)>,
    ) -> bool {
        self.wait_written();
        self.flush(revision, checkpoint, blocks);
        self.wait_written();
        self.written.last().is_some_and(|written| written.result.is_ok())
    }

    /// How many batches' worth of changes wait in memory (see [`Self::wants_flush`]).
    pub(crate) fn changes_behind(&self) -> usize {
        self.change_count / self.flush_at.max(1)
    }

    /// Whether a batch is being written.
    pub(crate) fn write_in_flight(&self) -> bool {
        self.writer.in_flight().is_some()
    }

    /// Takes in the batch in flight if the writer is done with it.
    pub(crate) fn poll_written(&mut self) {
        if let Some(written) = self.writer.poll() {
            self.finish(written);
        }
    }

    /// Waits for the batch in flight, if any, and takes it in.
    pub(crate) fn wait_written(&mut self) {
        if let Some(written) = self.writer.wait() {
            self.finish(written);
        }
    }

    /// The batches the writer finished since the last call (the chain's blocks went with them).
    pub(crate) fn take_written(&mut self) -> Vec<Written> {
        std::mem::take(&mut self.written)
    }

    /// A written batch: what the store now holds leaves memory; a refused one goes into the
    /// next batch again (its versions never left memory).
    fn finish(&mut self, written: Written) {
        let batch = &written.batch;
        match &written.result {
            // Blocks alone: no version left memory.
            Ok(()) if batch.blocks_only => self.trie.set_in_flight(None),
            Ok(()) => {
                let revision = batch.revision;
                self.trie.set_in_flight(None);
                self.accounts.retain(|_, versions| {
                    versions.entries.retain(|(at, _)| *at > revision);
                    !versions.entries.is_empty()
                });
                for slots in self.storage.values_mut() {
                    slots.retain(|_, versions| {
                        versions.entries.retain(|(at, _)| *at > revision);
                        !versions.entries.is_empty()
                    });
                }
                self.storage.retain(|_, slots| !slots.is_empty());
                self.changes = self.changes.split_off(&(revision + 1));
                self.change_count = self.changes.values().map(Vec::len).sum();
                self.flushed = self.flushed.max(revision);
            }
            Err(error) => {
                tracing::warn!(%error, "state store write failed; versions stay in memory");
                self.trie.restore(batch);
                let mut code = batch.code.clone();
                code.append(&mut self.unflushed_code);
                self.unflushed_code = code;
            }
        }
        self.written.push(written);
    }

    /// The accounts and slots whose values at `revision` the tries may not hold: those changed
    /// after it, and those changed since the tries were last updated. `None` when the changes
    /// after `revision` are no longer held in memory (an old revision).
    pub(crate) fn keys_since(&self, revision: u64) -> Option<StaleKeys> {
        if revision < self.flushed {
            return None;
        }
        let mut accounts: HashSet<Address> = self.dirty_accounts.iter().copied().collect();
        let mut slots: HashSet<(Address, U256)> = self
            .dirty_slots
            .iter()
            .flat_map(|(address, slots)| slots.iter().map(|slot| (*address, *slot)))
            .collect();
        for key in self.changes.range(revision + 1..).flat_map(|(_, keys)| keys) {
            match *key {
                StateKey::Account(address) => {
                    accounts.insert(address);
                }
                StateKey::Slot(address, slot) => {
                    accounts.insert(address);
                    slots.insert((address, slot));
                }
            }
        }
        Some(StaleKeys {
            accounts: accounts.into_iter().collect(),
            slots: slots.into_iter().collect(),
        })
    }

    /// The state root of the latest state with `accounts` changed, leaving the tries as they
    /// are (the root of a simulated block).
    pub(crate) fn speculative_root(
        &self,
        accounts: &[SpeculativeAccount],
    ) -> Result<B256, TrieUpdateError> {
        self.trie.speculative_root(accounts)
    }

    /// Root of the account trie as last computed (after [`Self::state_root`]).
    pub(crate) fn trie_root(&self) -> B256 {
        self.trie.root()
    }

    /// The Merkle-Patricia root of the latest state: only what changed since the last root is
    /// re-hashed.
    pub fn state_root(&mut self) -> B256 {
        match self.update_trie() {
            Ok(root) => root,
            Err(error) => {
                // The tries only ever hold values this state wrote: a failure is a bug. Build
                // them again from the latest values rather than answer a wrong root.
                tracing::error!(%error, "state trie update failed; rebuilding the tries");
                self.trie_failures += 1;
                self.rebuild_trie()
            }
        }
    }

    fn update_trie(&mut self) -> Result<B256, TrieUpdateError> {
        let dirty_slots = std::mem::take(&mut self.dirty_slots);
        for (address, slots) in dirty_slots {
            let values = slots
                .into_iter()
                .map(|slot| Ok((slot, self.latest_slot(&address, &slot)?)))
                .collect::<Result<Vec<_>, StateReadError>>()?;
            self.trie.update_storage(address, values)?;
        }
        let dirty_accounts = std::mem::take(&mut self.dirty_accounts);
        let mut accounts = dirty_accounts
            .into_iter()
            .map(|a| Ok((a, self.latest_account(&a)?)))
            .collect::<Result<Vec<_>, StateReadError>>()?;
        if accounts.is_empty() {
            return Ok(self.trie.root());
        }
        accounts.sort_unstable_by_key(|(address, _)| *address);
        self.trie.update_accounts(accounts)
    }

    /// Builds the tries again from the latest values (after a trie failure).
    fn rebuild_trie(&mut self) -> B256 {
        self.wait_written();
        let stored_roots = self.store.storage_roots().unwrap_or_default();
        self.trie = StateTrie::rebuilt(&self.trie, stored_roots.into_iter().map(|(a, _)| a));
        self.dirty_slots.clear();
        self.dirty_accounts.clear();
        let owners = self.store.storage_owners().unwrap_or_default();
        for address in owners.into_iter().chain(self.storage.keys().copied()) {
            let slots = self.latest_storage(address).into_iter().map(|(slot, _)| slot).collect();
            self.dirty_slots.insert(address, slots);
        }
        for (address, _) in self.latest_accounts() {
            self.dirty_accounts.insert(address);
        }
        self.update_trie().unwrap_or_else(|error| {
            tracing::error!(%error, "state trie rebuild failed");
            B256::ZERO
        })
    }

    /// EIP-1186 proofs against the latest state's root (brought up to date first): the
    /// account's path, its storage root, and each slot's path in its storage trie.
    pub fn latest_proof(
        &mut self,
        address: Address,
        slots: &[U256],
    ) -> Result<LatestProof, TrieUpdateError> {
        let state_root = self.state_root();
        let account = self.trie.account_proof(address)?;
        let storage = slots
            .iter()
            .map(|slot| self.trie.storage_proof(address, *slot))
            .collect::<Result<_, _>>()?;
        Ok(LatestProof {
            state_root,
            account,
            storage_root: self.trie.storage_root(&address),
            storage,
        })
    }

    /// Every account that exists at the latest block, for dumps.
    pub fn latest_accounts(&self) -> Vec<(Address, AccountRecord)> {
        let mut latest: HashMap<Address, Option<AccountRecord>> = self
            .store
            .latest_accounts()
            .unwrap_or_else(|error| {
                tracing::error!(%error, "state store read failed");
                Vec::new()
            })
            .into_iter()
            .collect();
        for (address, versions) in &self.accounts {
            if let Some(record) = versions.latest() {
                latest.insert(*address, *record);
            }
        }
        latest.into_iter().filter_map(|(address, record)| record.map(|r| (address, r))).collect()
    }
}

/// Accounts and slots whose values at some revision the tries may not hold
/// ([`VersionedState::keys_since`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StaleKeys {
    /// The accounts.
    pub(crate) accounts: Vec<Address>,
    /// The slots, by account.
    pub(crate) slots: Vec<(Address, U256)>,
}

/// A read-only view of the state at one revision, usable as a revm database.
#[derive(Debug, Clone, Copy)]
pub struct StateAt<'a> {
    /// The state.
    pub state: &'a VersionedState,
    /// The revision read.
    pub revision: u64,
    /// Hashes of the chain's blocks, for the BLOCKHASH opcode.
    pub block_hashes: BlockHashes<'a>,
}

/// Where the BLOCKHASH opcode finds block hashes: the chain's recent blocks in memory, older
/// ones in the store, and those before a fork's first block in its parent.
#[derive(Debug, Clone, Copy)]
pub struct BlockHashes<'a> {
    /// The most recent blocks, consecutive, ending with the head.
    pub recent: &'a std::collections::VecDeque<Arc<crate::block::StoredBlock>>,
    /// Number of the chain's first block (the fork block of a fork).
    pub first_block: u64,
}

impl DatabaseRef for StateAt<'_> {
    type Error = StateReadError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.state.try_account_at(address, self.revision)?.map(|record| {
            let code = self.state.code(record.code_hash);
            AccountInfo {
                balance: record.balance,
                nonce: record.nonce,
                code_hash: record.code_hash,
                code,
                ..Default::default()
            }
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.state.code(code_hash).unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.state.try_storage_at(address, index, self.revision)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        let hashes = &self.block_hashes;
        if number < hashes.first_block {
            return match self.state.fork() {
                Some(fork) => fork.block_hash(number).map_err(|e| StateReadError(e.to_string())),
                None => Ok(B256::ZERO),
            };
        }
        let first_recent = hashes.recent.front().map_or(0, |b| b.number());
        if let Some(offset) = number.checked_sub(first_recent) {
            let block = usize::try_from(offset).ok().and_then(|n| hashes.recent.get(n));
            return Ok(block.map(|b| b.hash).unwrap_or_default());
        }
        let stored = self.state.store.block_hash_revision(number)?;
        Ok(stored.map(|(hash, _)| hash).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests;
