//! The derived state store: the state's history, trie nodes and sealed blocks on disk, in redb.
//!
//! The series is the source of truth; this store is a cache of what replay computes, so it can
//! be deleted at any time. It holds what would otherwise grow in memory for ever with the chain:
//! every value each account and slot took (keyed by item and revision, so a read at any past
//! revision is one B-tree seek), the per-revision change sets that let the chain move back, and
//! the nodes of the state tries. Recent changes stay in memory ([`super::VersionedState`]) and
//! are moved here in batches ([`StateStore::flush`]); commits are not fsynced (the series is),
//! so the hot path never waits on this store's disk.
//!
//! Why redb: an embedded ACID B-tree store in pure Rust (no C toolchain), with MVCC readers that
//! never block the writer, ordered keys (the "last value at or before revision r" read is a
//! reverse range seek), non-durable commits for a cache that may lag its source, and a bounded
//! page cache (`--cache-mb`).

use std::{path::Path, sync::Arc};

use alloy_primitives::{Address, B256, U256};
use parking_lot::RwLock;
use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction, backends::InMemoryBackend,
};

use super::{
    AccountRecord, StateKey, StateReadError,
    block_store::{ADDRESS_TXS, BLOCK_HASHES, BLOCK_NUMBERS, BLOCKS, SENDER_NONCES, TX_POSITIONS},
};

/// Account versions: address ‖ revision (big endian) → encoded `Option<AccountRecord>`.
const ACCOUNTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("account_history");
/// Slot versions: address ‖ slot ‖ revision → value (32 bytes, big endian).
const STORAGE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("storage_history");
/// What each revision changed: revision → encoded list of state keys.
const CHANGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("revision_changes");
/// Trie nodes: owner prefix ‖ node hash → encoded node.
const TRIE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("trie_nodes");
/// Contract code: code hash → raw bytecode.
const CODE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("code");
/// Storage roots of the accounts with storage: address → root.
const STORAGE_ROOTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("storage_roots");
/// The store's own records: its schema version and the chain's resume checkpoint.
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
/// Key of the schema version in [`META`].
const SCHEMA_KEY: &str = "schema";
/// Key of the resume checkpoint in [`META`].
const CHECKPOINT_KEY: &str = "checkpoint";
/// Version of the tables' layout; a store written with another one is rebuilt.
pub const STORE_SCHEMA: u32 = 3;

/// Default size of the store's page cache, in MiB.
pub const DEFAULT_CACHE_MB: usize = 64;

type Table = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// A snapshot of the store's tables as of its last commit, opened once per commit rather than
/// once per read.
pub(super) struct Reader {
    accounts: Table,
    storage: Table,
    trie: Table,
    code: Table,
    pub(super) block_hashes: ReadOnlyTable<u64, &'static [u8]>,
    pub(super) blocks: ReadOnlyTable<u64, &'static [u8]>,
    pub(super) block_numbers: ReadOnlyTable<&'static [u8], u64>,
    pub(super) tx_positions: Table,
    pub(super) address_txs: ReadOnlyTable<&'static [u8], ()>,
    pub(super) sender_nonces: Table,
}

/// Everything one flush moves from memory to the store.
#[derive(Debug, Default)]
pub(crate) struct FlushBatch {
    /// (address, revision, record).
    pub(crate) accounts: Vec<(Address, u64, Option<AccountRecord>)>,
    /// (address, slot, revision, value).
    pub(crate) storage: Vec<(Address, U256, u64, U256)>,
    /// What each revision changed.
    pub(crate) changes: Vec<(u64, Vec<StateKey>)>,
    /// Trie nodes written (`Some`) or removed (`None`).
    pub(crate) trie: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Code first seen since the last flush: hash and raw bytecode.
    pub(crate) code: Vec<(B256, alloy_primitives::Bytes)>,
    /// Storage roots changed since the last flush (`None`: the account has no storage left).
    pub(crate) storage_roots: Vec<(Address, Option<B256>)>,
    /// The chain's resume checkpoint as of this flush, written in the same transaction.
    pub(crate) checkpoint: Option<Vec<u8>>,
    /// Sealed blocks not yet stored, each with the revision of its post-state.
    pub(crate) blocks: Vec<(Arc<crate::block::StoredBlock>, u64)>,
    /// The highest revision whose versions this batch carries.
    pub(crate) revision: u64,
    /// Whether the commit is fsynced (see [`StateStore::begin_write`]); a rebuild's batches
    /// are not, but for one in [`DURABLE_BULK_EVERY`] and its last.
    pub(crate) durable: bool,
    /// Blocks only: the stored checkpoint is left as it is (it still matches the state the
    /// store holds; blocks past its head are removed on resume).
    pub(crate) blocks_only: bool,
}

/// In bulk mode (replay), one batch in this many is committed durably; redb reuses the pages
/// earlier commits freed only after a durable one.
pub(crate) const DURABLE_BULK_EVERY: u64 = 8;

/// The redb database of one chain's derived state.
pub struct StateStore {
    pub(super) db: Database,
    pub(super) reader: RwLock<Reader>,
    /// Set when a write moved the store back and dropped its checkpoint; cleared by the next
    /// flush that writes one.
    checkpoint_forgotten: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore").finish_non_exhaustive()
    }
}

pub(super) fn store_error(error: impl std::fmt::Display) -> StateReadError {
    StateReadError(format!("state store: {error}"))
}

fn account_key(address: Address, revision: u64) -> [u8; 28] {
    let mut key = [0u8; 28];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&revision.to_be_bytes());
    key
}

fn slot_key(address: Address, slot: U256, revision: u64) -> [u8; 60] {
    let mut key = [0u8; 60];
    key[..20].copy_from_slice(address.as_slice());
    key[20..52].copy_from_slice(&slot.to_be_bytes::<32>());
    key[52..].copy_from_slice(&revision.to_be_bytes());
    key
}

fn encode_record(record: Option<AccountRecord>) -> Vec<u8> {
    let Some(record) = record else { return Vec::new() };
    let mut out = Vec::with_capacity(72);
    out.extend_from_slice(&record.balance.to_be_bytes::<32>());
    out.extend_from_slice(&record.nonce.to_be_bytes());
    out.extend_from_slice(record.code_hash.as_slice());
    out
}

fn decode_record(bytes: &[u8]) -> Result<Option<AccountRecord>, StateReadError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.len() != 72 {
        return Err(store_error(format!("account record of {} bytes", bytes.len())));
    }
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&bytes[32..40]);
    Ok(Some(AccountRecord {
        balance: U256::from_be_slice(&bytes[..32]),
        nonce: u64::from_be_bytes(nonce),
        code_hash: B256::from_slice(&bytes[40..]),
    }))
}

/// Encodes a revision's change list: per key a tag (0 account, 1 slot), the address and, for a
/// slot, the slot.
fn encode_changes(keys: &[StateKey]) -> Vec<u8> {
    let mut out = Vec::with_capacity(keys.len() * 53);
    for key in keys {
        match key {
            StateKey::Account(address) => {
                out.push(0);
                out.extend_from_slice(address.as_slice());
            }
            StateKey::Slot(address, slot) => {
                out.push(1);
                out.extend_from_slice(address.as_slice());
                out.extend_from_slice(&slot.to_be_bytes::<32>());
            }
        }
    }
    out
}

fn decode_changes(mut bytes: &[u8]) -> Result<Vec<StateKey>, StateReadError> {
    let mut keys = Vec::new();
    while let Some((&tag, rest)) = bytes.split_first() {
        let (key, len) = match (tag, rest.len()) {
            (0, n) if n >= 20 => (StateKey::Account(Address::from_slice(&rest[..20])), 20),
            (1, n) if n >= 52 => (
                StateKey::Slot(
                    Address::from_slice(&rest[..20]),
                    U256::from_be_slice(&rest[20..52]),
                ),
                52,
            ),
            _ => return Err(store_error("malformed change list")),
        };
        keys.push(key);
        bytes = &rest[len..];
    }
    Ok(keys)
}

/// Creates every table (a read transaction can open only tables that exist).
fn create_tables(txn: &WriteTransaction) -> Result<(), StateReadError> {
    txn.open_table(ACCOUNTS).map_err(store_error)?;
    txn.open_table(STORAGE).map_err(store_error)?;
    txn.open_table(CHANGES).map_err(store_error)?;
    txn.open_table(TRIE).map_err(store_error)?;
    txn.open_table(CODE).map_err(store_error)?;
    txn.open_table(STORAGE_ROOTS).map_err(store_error)?;
    txn.open_table(BLOCK_HASHES).map_err(store_error)?;
    txn.open_table(BLOCKS).map_err(store_error)?;
    txn.open_table(BLOCK_NUMBERS).map_err(store_error)?;
    txn.open_table(TX_POSITIONS).map_err(store_error)?;
    txn.open_table(ADDRESS_TXS).map_err(store_error)?;
    txn.open_table(SENDER_NONCES).map_err(store_error)?;
    let mut meta = txn.open_table(META).map_err(store_error)?;
    if meta.get(SCHEMA_KEY).map_err(store_error)?.is_none() {
        meta.insert(SCHEMA_KEY, &STORE_SCHEMA.to_le_bytes()[..]).map_err(store_error)?;
    }
    Ok(())
}

/// The schema version a database was written with (`None`: none recorded, or unreadable).
fn schema_of(db: &Database) -> Option<u32> {
    let txn = db.begin_read().ok()?;
    let meta = txn.open_table(META).ok()?;
    let bytes = meta.get(SCHEMA_KEY).ok()??;
    <[u8; 4]>::try_from(bytes.value()).ok().map(u32::from_le_bytes)
}

/// Opens an existing database file. redb asserts (panics) on some damaged files, e.g. one cut
/// shorter than its header says; a damaged derived store is an error that leads to a rebuild,
/// so the panic is caught here, with the panic message kept out of the log.
fn open_guarded(path: &Path, cache_mb: usize) -> Result<Database, StateReadError> {
    let open = || Database::builder().set_cache_size(cache_mb.max(1) * 1024 * 1024).open(path);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(open);
    std::panic::set_hook(hook);
    match opened {
        Ok(result) => result.map_err(store_error),
        Err(_) => Err(store_error("the file is damaged (redb refused its layout)")),
    }
}

/// Forgets the resume checkpoint in a write transaction that moves the store back (a revert,
/// removed blocks, a reset): until the next flush writes a new one, a restart rebuilds.
pub(super) fn forget_checkpoint(
    store: &StateStore,
    txn: &WriteTransaction,
) -> Result<(), StateReadError> {
    txn.open_table(META).map_err(store_error)?.remove(CHECKPOINT_KEY).map_err(store_error)?;
    store.checkpoint_forgotten.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Appends `(key, value)` to `latest`, or replaces the last value when it has the same key: over
/// rows sorted by key then revision, this keeps each key's latest value.
fn keep_latest<K: PartialEq, V>(latest: &mut Vec<(K, V)>, key: K, value: V) {
    match latest.last_mut() {
        Some((last, current)) if *last == key => *current = value,
        _ => latest.push((key, value)),
    }
}

impl StateStore {
    /// Creates a new, empty store at `path` (an existing file is replaced: the store is derived
    /// from the series, which the caller replays into it). `cache_mb` bounds its page cache.
    pub fn create(path: &Path, cache_mb: usize) -> Result<Arc<Self>, StateReadError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(store_error)?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(store_error(e)),
        }
        let db = Database::builder()
            .set_cache_size(cache_mb.max(1) * 1024 * 1024)
            .create(path)
            .map_err(store_error)?;
        Self::init(db)
    }

    /// Opens the store at `path` as the last run left it, for a restart that resumes from its
    /// checkpoint. A file that cannot be opened (missing, corrupt, another format) or that
    /// holds another schema is replaced by a new, empty store; the caller then rebuilds it.
    pub fn open(path: &Path, cache_mb: usize) -> Result<Arc<Self>, StateReadError> {
        if path.exists() {
            let opened = open_guarded(path, cache_mb).map(|db| (schema_of(&db), db));
            match opened {
                Ok((Some(STORE_SCHEMA), db)) => return Self::init(db),
                Ok((schema, db)) => {
                    drop(db);
                    tracing::warn!(path = %path.display(), ?schema,
                        "the derived store has another schema; it is rebuilt from the series");
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error,
                        "the derived store cannot be opened; it is rebuilt from the series");
                }
            }
        }
        Self::create(path, cache_mb)
    }

    /// The resume checkpoint the last flush wrote, if the store has one.
    pub(crate) fn checkpoint(&self) -> Result<Option<Vec<u8>>, StateReadError> {
        let txn = self.db.begin_read().map_err(store_error)?;
        let meta = txn.open_table(META).map_err(store_error)?;
        Ok(meta.get(CHECKPOINT_KEY).map_err(store_error)?.map(|v| v.value().to_vec()))
    }

    /// Every storage root the store holds (read once, when a chain resumes).
    pub(crate) fn storage_roots(&self) -> Result<Vec<(Address, B256)>, StateReadError> {
        let txn = self.db.begin_read().map_err(store_error)?;
        let table = txn.open_table(STORAGE_ROOTS).map_err(store_error)?;
        let mut roots = Vec::new();
        for entry in table.range::<&[u8]>(..).map_err(store_error)? {
            let (key, value) = entry.map_err(store_error)?;
            if key.value().len() != 20 || value.value().len() != 32 {
                return Err(store_error("malformed storage root"));
            }
            roots.push((Address::from_slice(key.value()), B256::from_slice(value.value())));
        }
        Ok(roots)
    }

    /// Contract code by hash.
    pub(crate) fn code(&self, hash: B256) -> Result<Option<Vec<u8>>, StateReadError> {
        let reader = self.reader.read();
        Ok(reader.code.get(hash.as_slice()).map_err(store_error)?.map(|v| v.value().to_vec()))
    }

    /// Makes everything committed so far durable (a clean shutdown).
    pub(crate) fn make_durable(&self) -> Result<(), StateReadError> {
        let mut txn = self.db.begin_write().map_err(store_error)?;
        txn.set_durability(Durability::Immediate).map_err(store_error)?;
        txn.set_quick_repair(true);
        txn.commit().map_err(store_error)?;
        Ok(())
    }

    /// A store held in memory (ephemeral nodes, tests).
    pub fn in_memory() -> Arc<Self> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("an in-memory redb database opens");
        Self::init(db).expect("an in-memory redb database initializes")
    }

    fn init(db: Database) -> Result<Arc<Self>, StateReadError> {
        let txn = db.begin_write().map_err(store_error)?;
        create_tables(&txn)?;
        txn.commit().map_err(store_error)?;
        let reader = Self::open_reader(&db)?;
        Ok(Arc::new(Self {
            db,
            reader: RwLock::new(reader),
            checkpoint_forgotten: Default::default(),
        }))
    }

    fn open_reader(db: &Database) -> Result<Reader, StateReadError> {
        let txn = db.begin_read().map_err(store_error)?;
        Ok(Reader {
            accounts: txn.open_table(ACCOUNTS).map_err(store_error)?,
            storage: txn.open_table(STORAGE).map_err(store_error)?,
            trie: txn.open_table(TRIE).map_err(store_error)?,
            code: txn.open_table(CODE).map_err(store_error)?,
            block_hashes: txn.open_table(BLOCK_HASHES).map_err(store_error)?,
            blocks: txn.open_table(BLOCKS).map_err(store_error)?,
            block_numbers: txn.open_table(BLOCK_NUMBERS).map_err(store_error)?,
            tx_positions: txn.open_table(TX_POSITIONS).map_err(store_error)?,
            address_txs: txn.open_table(ADDRESS_TXS).map_err(store_error)?,
            sender_nonces: txn.open_table(SENDER_NONCES).map_err(store_error)?,
        })
    }

    /// A write transaction, committed durably with redb's quick-repair allocator state.
    /// Every commit is: batches are written by the store writer's thread, so the fsync is never
    /// on the miner's path, and a store reopened after `kill -9` then needs no repair walk over
    /// the whole file (a non-durable commit after the last durable one made redb walk it:
    /// seconds on a store of a few GB).
    pub(super) fn begin_write(&self) -> Result<WriteTransaction, StateReadError> {
        let mut txn = self.db.begin_write().map_err(store_error)?;
        txn.set_durability(Durability::Immediate).map_err(store_error)?;
        txn.set_quick_repair(true);
        Ok(txn)
    }

    pub(super) fn refresh(&self) -> Result<(), StateReadError> {
        *self.reader.write() = Self::open_reader(&self.db)?;
        Ok(())
    }

    /// Empties every table (a chain reset).
    pub(crate) fn clear(&self) -> Result<(), StateReadError> {
        let txn = self.db.begin_write().map_err(store_error)?;
        txn.delete_table(ACCOUNTS).map_err(store_error)?;
        txn.delete_table(STORAGE).map_err(store_error)?;
        txn.delete_table(CHANGES).map_err(store_error)?;
        txn.delete_table(TRIE).map_err(store_error)?;
        txn.delete_table(CODE).map_err(store_error)?;
        txn.delete_table(STORAGE_ROOTS).map_err(store_error)?;
        txn.delete_table(BLOCK_HASHES).map_err(store_error)?;
        txn.delete_table(META).map_err(store_error)?;
        self.checkpoint_forgotten.store(true, std::sync::atomic::Ordering::Relaxed);
        txn.delete_table(BLOCKS).map_err(store_error)?;
        txn.delete_table(BLOCK_NUMBERS).map_err(store_error)?;
        txn.delete_table(TX_POSITIONS).map_err(store_error)?;
        txn.delete_table(ADDRESS_TXS).map_err(store_error)?;
        txn.delete_table(SENDER_NONCES).map_err(store_error)?;
        create_tables(&txn)?;
        txn.commit().map_err(store_error)?;
        self.refresh()
    }

    /// An account's fields as last set at or before `revision`: `None` if the store has no
    /// version of it, `Some(None)` if it did not exist then.
    pub(crate) fn account_at(
        &self,
        address: Address,
        revision: u64,
    ) -> Result<Option<Option<AccountRecord>>, StateReadError> {
        let reader = self.reader.read();
        let (low, high) = (account_key(address, 0), account_key(address, revision));
        let mut range = reader.accounts.range(&low[..]..=&high[..]).map_err(store_error)?;
        match range.next_back() {
            Some(entry) => {
                let (_, value) = entry.map_err(store_error)?;
                Ok(Some(decode_record(value.value())?))
            }
            None => Ok(None),
        }
    }

    /// A slot's value as last set at or before `revision`, `None` if the store has none.
    pub(crate) fn storage_at(
        &self,
        address: Address,
        slot: U256,
        revision: u64,
    ) -> Result<Option<U256>, StateReadError> {
        let reader = self.reader.read();
        let (low, high) = (slot_key(address, slot, 0), slot_key(address, slot, revision));
        let mut range = reader.storage.range(&low[..]..=&high[..]).map_err(store_error)?;
        match range.next_back() {
            Some(entry) => {
                let (_, value) = entry.map_err(store_error)?;
                Ok(Some(U256::from_be_slice(value.value())))
            }
            None => Ok(None),
        }
    }

    /// A trie node.
    pub(crate) fn trie_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateReadError> {
        let reader = self.reader.read();
        Ok(reader.trie.get(key).map_err(store_error)?.map(|v| v.value().to_vec()))
    }

    /// The latest version of every account the store holds (for dumps and trie rebuilds).
    pub(crate) fn latest_accounts(
        &self,
    ) -> Result<Vec<(Address, Option<AccountRecord>)>, StateReadError> {
        let reader = self.reader.read();
        let mut latest: Vec<(Address, Option<AccountRecord>)> = Vec::new();
        for entry in reader.accounts.range::<&[u8]>(..).map_err(store_error)? {
            let (key, value) = entry.map_err(store_error)?;
            let address = Address::from_slice(&key.value()[..20]);
            keep_latest(&mut latest, address, decode_record(value.value())?);
        }
        Ok(latest)
    }

    /// The latest value of every slot of `address` the store holds.
    pub(crate) fn latest_storage(
        &self,
        address: Address,
    ) -> Result<Vec<(U256, U256)>, StateReadError> {
        let reader = self.reader.read();
        let low = slot_key(address, U256::ZERO, 0);
        let high = slot_key(address, U256::MAX, u64::MAX);
        let mut latest: Vec<(U256, U256)> = Vec::new();
        for entry in reader.storage.range(&low[..]..=&high[..]).map_err(store_error)? {
            let (key, value) = entry.map_err(store_error)?;
            let slot = U256::from_be_slice(&key.value()[20..52]);
            keep_latest(&mut latest, slot, U256::from_be_slice(value.value()));
        }
        Ok(latest)
    }

    /// Every address with storage in the store.
    pub(crate) fn storage_owners(&self) -> Result<Vec<Address>, StateReadError> {
        let reader = self.reader.read();
        let mut owners: Vec<Address> = Vec::new();
        for entry in reader.storage.range::<&[u8]>(..).map_err(store_error)? {
            let (key, _) = entry.map_err(store_error)?;
            let address = Address::from_slice(&key.value()[..20]);
            if owners.last() != Some(&address) {
                owners.push(address);
            }
        }
        Ok(owners)
    }

    /// Writes a batch of blocks, versions, change sets and trie nodes in one transaction (not
    /// fsynced: the series is the durable copy).
    pub(crate) fn flush(&self, batch: &FlushBatch) -> Result<(), StateReadError> {
        let mut txn = self.begin_write()?;
        if !batch.durable {
            txn.set_durability(Durability::None).map_err(store_error)?;
        }
        Self::write_blocks(&txn, &batch.blocks)?;
        {
            let mut accounts = txn.open_table(ACCOUNTS).map_err(store_error)?;
            for (address, revision, record) in &batch.accounts {
                let key = account_key(*address, *revision);
                accounts.insert(&key[..], &encode_record(*record)[..]).map_err(store_error)?;
            }
            let mut storage = txn.open_table(STORAGE).map_err(store_error)?;
            for (address, slot, revision, value) in &batch.storage {
                let key = slot_key(*address, *slot, *revision);
                storage.insert(&key[..], &value.to_be_bytes::<32>()[..]).map_err(store_error)?;
            }
            let mut changes = txn.open_table(CHANGES).map_err(store_error)?;
            for (revision, keys) in &batch.changes {
                changes.insert(*revision, &encode_changes(keys)[..]).map_err(store_error)?;
            }
            let mut trie = txn.open_table(TRIE).map_err(store_error)?;
            for (key, node) in &batch.trie {
                match node {
                    Some(node) => trie.insert(&key[..], &node[..]).map_err(store_error)?,
                    None => trie.remove(&key[..]).map_err(store_error)?,
                };
            }
            let mut code = txn.open_table(CODE).map_err(store_error)?;
            for (hash, bytes) in &batch.code {
                code.insert(hash.as_slice(), &bytes[..]).map_err(store_error)?;
            }
            let mut roots = txn.open_table(STORAGE_ROOTS).map_err(store_error)?;
            for (address, root) in &batch.storage_roots {
                match root {
                    Some(root) => roots.insert(address.as_slice(), root.as_slice()),
                    None => roots.remove(address.as_slice()),
                }
                .map_err(store_error)?;
            }
            let mut meta = txn.open_table(META).map_err(store_error)?;
            match &batch.checkpoint {
                _ if batch.blocks_only => None,
                Some(checkpoint) => {
                    meta.insert(CHECKPOINT_KEY, &checkpoint[..]).map_err(store_error)?
                }
                None => meta.remove(CHECKPOINT_KEY).map_err(store_error)?,
            };
        }
        txn.commit().map_err(store_error)?;
        if batch.checkpoint.is_some() {
            self.checkpoint_forgotten.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        self.refresh()
    }

    /// Whether a write moved the store back since its last checkpoint (which it dropped).
    pub(crate) fn checkpoint_forgotten(&self) -> bool {
        self.checkpoint_forgotten.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Removes every version set after `revision`; returns the keys they belonged to. Costs the
    /// number of changes removed.
    pub(crate) fn truncate_after(&self, revision: u64) -> Result<Vec<StateKey>, StateReadError> {
        let txn = self.begin_write()?;
        let mut undone = Vec::new();
        forget_checkpoint(self, &txn)?;
        {
            let mut changes = txn.open_table(CHANGES).map_err(store_error)?;
            let mut accounts = txn.open_table(ACCOUNTS).map_err(store_error)?;
            let mut storage = txn.open_table(STORAGE).map_err(store_error)?;
            let removed =
                changes.extract_from_if((revision + 1).., |_, _| true).map_err(store_error)?;
            for entry in removed {
                let (at, keys) = entry.map_err(store_error)?;
                let at = at.value();
                for key in decode_changes(keys.value())? {
                    match key {
                        StateKey::Account(address) => {
                            accounts.remove(&account_key(address, at)[..]).map_err(store_error)?;
                        }
                        StateKey::Slot(address, slot) => {
                            storage
                                .remove(&slot_key(address, slot, at)[..])
                                .map_err(store_error)?;
                        }
                    }
                    undone.push(key);
                }
            }
        }
        txn.commit().map_err(store_error)?;
        self.refresh()?;
        Ok(undone)
    }
}
