//! The transaction pool: transactions accepted but not yet mined, per sender and nonce.

use std::{
    cmp::Ordering,
    collections::{BTreeMap, BinaryHeap, HashMap},
    sync::Arc,
};

use alloy_consensus::Transaction as _;
use alloy_primitives::{Address, B256};

use crate::{
    block::SignedTx,
    error::{EvmError, Result},
};

/// Most transactions the pool holds before refusing new ones.
pub const DEFAULT_POOL_CAPACITY: usize = 100_000;
/// Percentage by which a same-nonce replacement must raise both fee fields (geth's rule).
pub const REPLACEMENT_FEE_BUMP_PERCENT: u128 = 10;

#[derive(Debug, Clone)]
struct PoolEntry {
    tx: Arc<SignedTx>,
    arrival: u64,
}

/// Transactions waiting to be mined.
#[derive(Debug)]
pub struct Pool {
    by_sender: HashMap<Address, BTreeMap<u64, PoolEntry>>,
    by_hash: HashMap<B256, (Address, u64)>,
    next_arrival: u64,
    capacity: usize,
}

impl Default for Pool {
    fn default() -> Self {
        Self::new(DEFAULT_POOL_CAPACITY)
    }
}

impl Pool {
    /// An empty pool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Self { by_sender: HashMap::new(), by_hash: HashMap::new(), next_arrival: 0, capacity }
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether a transaction is pooled.
    pub fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// A pooled transaction by hash.
    pub fn get(&self, hash: &B256) -> Option<Arc<SignedTx>> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.by_sender.get(sender)?.get(nonce).map(|e| e.tx.clone())
    }

    /// Adds a transaction; returns the same-nonce transaction it replaced, if any.
    pub fn insert(&mut self, tx: Arc<SignedTx>) -> Result<Option<Arc<SignedTx>>> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(EvmError::AlreadyKnown);
        }
        let nonce = tx.nonce();
        let existing = self.by_sender.get(&tx.sender).and_then(|m| m.get(&nonce)).cloned();
        if let Some(old) = &existing {
            if !is_sufficient_bump(&old.tx, &tx) {
                return Err(EvmError::ReplacementUnderpriced);
            }
        } else if self.by_hash.len() >= self.capacity {
            return Err(EvmError::PoolFull);
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.by_hash.insert(tx.hash, (tx.sender, nonce));
        let replaced = self
            .by_sender
            .entry(tx.sender)
            .or_default()
            .insert(nonce, PoolEntry { tx, arrival })
            .map(|old| old.tx);
        if let Some(old) = &replaced {
            self.by_hash.remove(&old.hash);
        }
        Ok(replaced)
    }

    /// Removes a transaction by hash.
    pub fn remove(&mut self, hash: &B256) -> Option<Arc<SignedTx>> {
        let (sender, nonce) = self.by_hash.remove(hash)?;
        let by_nonce = self.by_sender.get_mut(&sender)?;
        let entry = by_nonce.remove(&nonce);
        if by_nonce.is_empty() {
            self.by_sender.remove(&sender);
        }
        entry.map(|e| e.tx)
    }

    /// Removes every transaction whose nonce is below its sender's current nonce (mined or
    /// made stale by another transaction), returning them.
    pub fn prune(&mut self, nonce_of: impl Fn(Address) -> u64) -> Vec<Arc<SignedTx>> {
        let mut removed = Vec::new();
        for (sender, by_nonce) in self.by_sender.iter_mut() {
            let current = nonce_of(*sender);
            let stale: Vec<u64> = by_nonce.range(..current).map(|(n, _)| *n).collect();
            for nonce in stale {
                if let Some(entry) = by_nonce.remove(&nonce) {
                    self.by_hash.remove(&entry.tx.hash);
                    removed.push(entry.tx);
                }
            }
        }
        self.by_sender.retain(|_, m| !m.is_empty());
        removed
    }

    /// The next nonce a sender would use: its state nonce followed by its gapless pooled ones.
    pub fn pending_nonce(&self, sender: Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(by_nonce) = self.by_sender.get(&sender) {
            for nonce in by_nonce.range(state_nonce..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next += 1;
            }
        }
        next
    }

    /// Transactions ready for the next block: each sender's gapless run from its state nonce,
    /// merged across senders by priority fee (then arrival), keeping each sender's nonce order.
    pub fn best(&self, nonce_of: impl Fn(Address) -> u64, base_fee: u64) -> Vec<Arc<SignedTx>> {
        struct Head {
            tip: u128,
            arrival: u64,
            sender: Address,
            nonce: u64,
        }
        impl PartialEq for Head {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == Ordering::Equal
            }
        }
        impl Eq for Head {}
        impl PartialOrd for Head {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for Head {
            fn cmp(&self, other: &Self) -> Ordering {
                self.tip.cmp(&other.tip).then_with(|| other.arrival.cmp(&self.arrival))
            }
        }
        let head_of = |sender: Address, nonce: u64| -> Option<Head> {
            let entry = self.by_sender.get(&sender)?.get(&nonce)?;
            let tip = entry.tx.envelope.effective_tip_per_gas(base_fee)?;
            Some(Head { tip, arrival: entry.arrival, sender, nonce })
        };
        let mut heap: BinaryHeap<Head> = self
            .by_sender
            .keys()
            .filter_map(|sender| head_of(*sender, nonce_of(*sender)))
            .collect();
        let mut out = Vec::new();
        while let Some(head) = heap.pop() {
            if let Some(entry) = self.by_sender.get(&head.sender).and_then(|m| m.get(&head.nonce)) {
                out.push(entry.tx.clone());
            }
            if let Some(next) = head_of(head.sender, head.nonce + 1) {
                heap.push(next);
            }
        }
        out
    }

    /// Every pooled transaction split into pending (executable now) and queued (behind a
    /// nonce gap), for the txpool namespace.
    pub fn content(
        &self,
        nonce_of: impl Fn(Address) -> u64,
    ) -> (Vec<Arc<SignedTx>>, Vec<Arc<SignedTx>>) {
        let mut pending = Vec::new();
        let mut queued = Vec::new();
        for (sender, by_nonce) in &self.by_sender {
            let mut next = nonce_of(*sender);
            for (nonce, entry) in by_nonce {
                if *nonce == next {
                    pending.push(entry.tx.clone());
                    next += 1;
                } else {
                    queued.push(entry.tx.clone());
                }
            }
        }
        (pending, queued)
    }
}

fn is_sufficient_bump(old: &SignedTx, new: &SignedTx) -> bool {
    let bumped = |old: u128| old.saturating_mul(100 + REPLACEMENT_FEE_BUMP_PERCENT) / 100;
    let old_tip = old.envelope.max_priority_fee_per_gas().unwrap_or(old.envelope.max_fee_per_gas());
    let new_tip = new.envelope.max_priority_fee_per_gas().unwrap_or(new.envelope.max_fee_per_gas());
    new.envelope.max_fee_per_gas() >= bumped(old.envelope.max_fee_per_gas())
        && new_tip >= bumped(old_tip)
}
