//! The incremental state root: the account trie and every account's storage trie kept as
//! Merkle-Patricia tries (eth_trie) over one node store, so that sealing a block re-hashes only
//! the nodes on the paths of the accounts and slots it changed — O(k log n) for k changes in a
//! state of n accounts, where a from-scratch root costs O(n).
//!
//! The tries hold only the latest state: a change replaces the nodes of its path and the nodes
//! no longer reachable are dropped from the store (eth_trie prunes on commit). Past states are
//! served by the versioned values, not by the tries; moving back (a revert, a failed seal) writes
//! the older values into the tries again, which costs the number of changes undone.
//!
//! The nodes live in the derived store ([`StateStore`]); those written since the last flush are
//! held in memory until the next one. Storage tries share the node store with the account trie; their node keys are prefixed with
//! the account's hashed address, so that pruning one trie never drops a node another trie uses.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use eth_trie::{EthTrie, Trie, TrieError};
use parking_lot::RwLock;

use super::{AccountRecord, StateStore, store::FlushBatch};

/// Trie nodes by (optional owner prefix ‖ node hash): the account trie's and every storage
/// trie's. Nodes written or removed since the last flush are held here; the rest are read from
/// the derived store.
#[derive(Debug)]
pub(crate) struct NodeStore {
    /// Pending writes (`Some`) and removals (`None`).
    pending: RwLock<PendingNodes>,
    /// The batch being written to the store: its nodes (sorted by key) are read from it until
    /// the store holds them.
    in_flight: RwLock<Option<Arc<FlushBatch>>>,
    store: Arc<StateStore>,
}

/// The nodes written or removed since the last batch.
#[derive(Debug, Default)]
struct PendingNodes {
    /// Writes (`Some`) and removals (`None`) by key.
    nodes: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Keys first written since the last batch. A block's root replaces the nodes of the
    /// paths it changed, so most nodes written while sealing one block are removed again by
    /// the next; a removal of such a node is dropped here instead of reaching the store (a
    /// delete of a key it never held). Dropping a removal can at worst leave an unreachable
    /// node in the store, never lose a reachable one.
    fresh: HashSet<Vec<u8>>,
}

impl PendingNodes {
    fn write(&mut self, key: Vec<u8>, node: Vec<u8>) {
        if !self.nodes.contains_key(&key) {
            self.fresh.insert(key.clone());
        }
        self.nodes.insert(key, Some(node));
    }

    fn remove(&mut self, key: Vec<u8>) {
        if self.fresh.remove(&key) {
            self.nodes.remove(&key);
        } else {
            self.nodes.insert(key, None);
        }
    }
}

impl NodeStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, NodeStoreError> {
        if let Some(node) = self.pending.read().nodes.get(key) {
            return Ok(node.clone());
        }
        if let Some(batch) = self.in_flight.read().as_ref()
            && let Ok(index) = batch.trie.binary_search_by(|(k, _)| k.as_slice().cmp(key))
        {
            return Ok(batch.trie[index].1.clone());
        }
        self.store.trie_node(key).map_err(|e| NodeStoreError(e.to_string()))
    }
}

/// One trie's view of the [`NodeStore`]: its node keys carry its owner's prefix.
#[derive(Debug)]
struct TrieNodes {
    store: Arc<NodeStore>,
    /// The hashed address of the storage trie's account; empty for the account trie.
    prefix: Vec<u8>,
}

impl TrieNodes {
    fn key(&self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key);
        full
    }
}

/// A node store read that failed (the derived store could not be read).
#[derive(Debug, thiserror::Error)]
#[error("trie node store: {0}")]
pub(crate) struct NodeStoreError(String);

impl eth_trie::DB for TrieNodes {
    type Error = NodeStoreError;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error> {
        self.store.get(&self.key(key))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), Self::Error> {
        self.store.pending.write().write(self.key(key), value);
        Ok(())
    }

    fn insert_batch(&self, keys: Vec<Vec<u8>>, values: Vec<Vec<u8>>) -> Result<(), Self::Error> {
        let mut pending = self.store.pending.write();
        for (key, value) in keys.into_iter().zip(values) {
            pending.write(self.key(&key), value);
        }
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> Result<(), Self::Error> {
        self.store.pending.write().remove(self.key(key));
        Ok(())
    }

    fn remove_batch(&self, keys: &[Vec<u8>]) -> Result<(), Self::Error> {
        let mut pending = self.store.pending.write();
        for key in keys {
            pending.remove(self.key(key));
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The latest state as Merkle-Patricia tries, updated with the changes of each block.
#[derive(Debug)]
pub(crate) struct StateTrie {
    store: Arc<NodeStore>,
    /// Root of the account trie.
    root: B256,
    /// Storage roots of the accounts that have storage.
    storage_roots: HashMap<Address, B256>,
    /// Accounts whose storage root changed since the last flush.
    changed_roots: std::collections::HashSet<Address>,
}

impl StateTrie {
    /// Empty tries whose nodes go to `store`.
    pub(crate) fn new(store: Arc<StateStore>) -> Self {
        Self {
            store: Arc::new(NodeStore {
                pending: RwLock::new(PendingNodes::default()),
                in_flight: RwLock::new(None),
                store,
            }),
            root: EMPTY_ROOT_HASH,
            storage_roots: HashMap::new(),
            changed_roots: Default::default(),
        }
    }

    /// The tries the store holds, with account-trie root `root` and these storage roots.
    pub(crate) fn resume(
        store: Arc<StateStore>,
        root: B256,
        storage_roots: impl IntoIterator<Item = (Address, B256)>,
    ) -> Self {
        Self { root, storage_roots: storage_roots.into_iter().collect(), ..Self::new(store) }
    }

    /// Takes the storage roots changed since the last batch (`None`: no storage left), sorted.
    pub(crate) fn take_changed_roots(&mut self) -> Vec<(Address, Option<B256>)> {
        let mut roots: Vec<_> = std::mem::take(&mut self.changed_roots)
            .into_iter()
            .map(|a| (a, self.storage_roots.get(&a).copied()))
            .collect();
        roots.sort_unstable_by_key(|(address, _)| *address);
        roots
    }

    /// Takes the nodes written or removed since the last batch, sorted by key.
    pub(crate) fn take_pending(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let pending = std::mem::take(&mut *self.store.pending.write());
        let mut nodes: Vec<_> = pending.nodes.into_iter().collect();
        nodes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        nodes
    }

    /// The batch being written (its nodes are read from it meanwhile), or none.
    pub(crate) fn set_in_flight(&mut self, batch: Option<Arc<FlushBatch>>) {
        *self.store.in_flight.write() = batch;
    }

    /// Takes back what a batch the store refused carried: its nodes (unless written again
    /// since) and changed storage roots go into the next batch.
    pub(crate) fn restore(&mut self, batch: &FlushBatch) {
        {
            let mut pending = self.store.pending.write();
            for (key, node) in &batch.trie {
                pending.nodes.entry(key.clone()).or_insert_with(|| node.clone());
            }
        }
        self.changed_roots.extend(batch.storage_roots.iter().map(|(address, _)| *address));
        self.set_in_flight(None);
    }
}

/// A trie failure. The tries are built only from values this node wrote, so a failure means a
/// bug; it is reported rather than hidden behind a wrong root.
#[derive(Debug, thiserror::Error)]
#[error("state trie: {0}")]
pub struct TrieUpdateError(String);

impl From<super::StateReadError> for TrieUpdateError {
    fn from(error: super::StateReadError) -> Self {
        Self(error.to_string())
    }
}

impl From<NodeStoreError> for TrieUpdateError {
    fn from(error: NodeStoreError) -> Self {
        Self(error.to_string())
    }
}

impl From<TrieError> for TrieUpdateError {
    fn from(error: TrieError) -> Self {
        Self(error.to_string())
    }
}

fn open(
    store: &Arc<NodeStore>,
    prefix: Vec<u8>,
    root: B256,
) -> Result<EthTrie<TrieNodes>, TrieUpdateError> {
    let nodes = Arc::new(TrieNodes { store: store.clone(), prefix });
    if root == EMPTY_ROOT_HASH {
        return Ok(EthTrie::new(nodes));
    }
    Ok(EthTrie::from(nodes, root)?)
}

/// Removes a key that the trie holds. eth_trie's `remove` of an absent key whose path crosses
/// a stored node drops that node from the store at the next commit (it counts the node as
/// replaced although it was not rewritten), which leaves the trie missing a node; a key that is
/// not there is therefore never removed.
fn remove<D: eth_trie::DB>(trie: &mut EthTrie<D>, key: &[u8]) -> Result<(), TrieUpdateError> {
    if trie.get(key)?.is_some() {
        trie.remove(key)?;
    }
    Ok(())
}

impl StateTrie {
    /// Tries built again from nothing, replacing these: the storage roots they held are
    /// counted as changed, so that the next flush removes those no longer there.
    pub(crate) fn rebuilt(
        previous: &Self,
        stored_owners: impl IntoIterator<Item = Address>,
    ) -> Self {
        let mut trie = Self::new(previous.store.store.clone());
        trie.changed_roots.extend(previous.storage_roots.keys().copied());
        trie.changed_roots.extend(stored_owners);
        trie
    }

    /// Storage root of an account (the empty root without storage).
    pub(crate) fn storage_root(&self, address: &Address) -> B256 {
        self.storage_roots.get(address).copied().unwrap_or(EMPTY_ROOT_HASH)
    }

    /// Writes the latest values of changed slots into an account's storage trie.
    pub(crate) fn update_storage(
        &mut self,
        address: Address,
        slots: impl IntoIterator<Item = (U256, U256)>,
    ) -> Result<(), TrieUpdateError> {
        let hashed = keccak256(address);
        let mut trie = open(&self.store, hashed.to_vec(), self.storage_root(&address))?;
        for (slot, value) in slots {
            let key = keccak256(B256::from(slot));
            if value.is_zero() {
                remove(&mut trie, key.as_slice())?;
            } else {
                trie.insert(key.as_slice(), &alloy_rlp::encode(value))?;
            }
        }
        let root = trie.root_hash()?;
        self.changed_roots.insert(address);
        if root == EMPTY_ROOT_HASH {
            self.storage_roots.remove(&address);
        } else {
            self.storage_roots.insert(address, root);
        }
        Ok(())
    }

    /// Writes the latest fields of changed accounts (`None`: the account no longer exists) and
    /// returns the new state root. Their storage tries must be up to date.
    pub(crate) fn update_accounts(
        &mut self,
        accounts: impl IntoIterator<Item = (Address, Option<AccountRecord>)>,
    ) -> Result<B256, TrieUpdateError> {
        let mut trie = open(&self.store, Vec::new(), self.root)?;
        for (address, record) in accounts {
            let key = keccak256(address);
            match record {
                Some(record) => {
                    let account = TrieAccount {
                        nonce: record.nonce,
                        balance: record.balance,
                        storage_root: self.storage_root(&address),
                        code_hash: record.code_hash,
                    };
                    trie.insert(key.as_slice(), &alloy_rlp::encode(account))?;
                }
                None => {
                    remove(&mut trie, key.as_slice())?;
                }
            }
        }
        self.root = trie.root_hash()?;
        Ok(self.root)
    }

    /// Root of the account trie as last computed.
    pub(crate) fn root(&self) -> B256 {
        self.root
    }

    /// The account trie's nodes on the path of `address` (EIP-1186), from the root.
    pub(crate) fn account_proof(&self, address: Address) -> Result<Vec<Vec<u8>>, TrieUpdateError> {
        let mut trie = open(&self.store, Vec::new(), self.root)?;
        Ok(trie.get_proof(keccak256(address).as_slice())?)
    }

    /// The storage trie's nodes of `address` on the path of `slot`, from its root.
    pub(crate) fn storage_proof(
        &self,
        address: Address,
        slot: U256,
    ) -> Result<Vec<Vec<u8>>, TrieUpdateError> {
        let root = self.storage_root(&address);
        if root == EMPTY_ROOT_HASH {
            return Ok(Vec::new());
        }
        let mut trie = open(&self.store, keccak256(address).to_vec(), root)?;
        Ok(trie.get_proof(keccak256(B256::from(slot)).as_slice())?)
    }
}

/// The nodes of a speculative root ([`StateTrie::speculative_root`]): reads go through the
/// node store, writes stay in `local` and are dropped with it, nothing is removed. The tries of
/// the chain are left exactly as they were.
#[derive(Debug)]
struct OverlayNodes {
    store: Arc<NodeStore>,
    /// The hashed address of the storage trie's account; empty for the account trie.
    prefix: Vec<u8>,
    /// Nodes written by the speculative update, by full key.
    local: Arc<RwLock<HashMap<Vec<u8>, Vec<u8>>>>,
}

impl OverlayNodes {
    fn key(&self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key);
        full
    }
}

impl eth_trie::DB for OverlayNodes {
    type Error = NodeStoreError;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error> {
        let key = self.key(key);
        if let Some(node) = self.local.read().get(&key) {
            return Ok(Some(node.clone()));
        }
        self.store.get(&key)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), Self::Error> {
        self.local.write().insert(self.key(key), value);
        Ok(())
    }

    fn remove(&self, _key: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }

    fn flush(&self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// An account as a speculative root sees it ([`StateTrie::speculative_root`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpeculativeAccount {
    /// The account.
    pub(crate) address: Address,
    /// Its fields (`None`: it does not exist).
    pub(crate) record: Option<AccountRecord>,
    /// Its storage starts empty (replaced, or the account was re-created), rather than from
    /// the storage the tries hold.
    pub(crate) storage_cleared: bool,
    /// Slot values written over that storage (zero: removed).
    pub(crate) slots: Vec<(U256, U256)>,
}

impl StateTrie {
    /// The state root the latest state would have with `accounts` changed, computed without
    /// changing the tries (an `eth_simulateV1` block's root).
    pub(crate) fn speculative_root(
        &self,
        accounts: &[SpeculativeAccount],
    ) -> Result<B256, TrieUpdateError> {
        let local = Arc::new(RwLock::new(HashMap::new()));
        let open_overlay = |prefix: Vec<u8>, root: B256| -> Result<_, TrieUpdateError> {
            let nodes =
                Arc::new(OverlayNodes { store: self.store.clone(), prefix, local: local.clone() });
            if root == EMPTY_ROOT_HASH {
                return Ok(EthTrie::new(nodes));
            }
            Ok(EthTrie::from(nodes, root)?)
        };
        let mut account_trie = open_overlay(Vec::new(), self.root)?;
        for account in accounts {
            let key = keccak256(account.address);
            let Some(record) = account.record else {
                remove(&mut account_trie, key.as_slice())?;
                continue;
            };
            let mut storage_root = if account.storage_cleared {
                EMPTY_ROOT_HASH
            } else {
                self.storage_root(&account.address)
            };
            if !account.slots.is_empty() {
                let mut trie = open_overlay(key.to_vec(), storage_root)?;
                for (slot, value) in &account.slots {
                    let slot_key = keccak256(B256::from(*slot));
                    if value.is_zero() {
                        remove(&mut trie, slot_key.as_slice())?;
                    } else {
                        trie.insert(slot_key.as_slice(), &alloy_rlp::encode(value))?;
                    }
                }
                storage_root = trie.root_hash()?;
            }
            let trie_account = TrieAccount {
                nonce: record.nonce,
                balance: record.balance,
                storage_root,
                code_hash: record.code_hash,
            };
            account_trie.insert(key.as_slice(), &alloy_rlp::encode(trie_account))?;
        }
        Ok(account_trie.root_hash()?)
    }
}
