//! Restarting from the derived store instead of replaying the whole series.
//!
//! Each flush of the store writes, in the same transaction as the state it moved, a
//! [`Checkpoint`]: the chain's position in the series (the first entry not reflected), the
//! last sealed block's entry and hash, the state revision and trie root of that flush, and what
//! the chain keeps only in memory (configuration, dev settings, snapshots). A restart reads it,
//! takes the recent blocks and the tries from the store, and re-applies only the series entries
//! after that position. Anything that moves the store back (a revert below the last flush,
//! removed blocks, a reset) forgets the checkpoint in its own transaction, so a checkpoint
//! always describes exactly what the store holds.

use std::sync::Arc;

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

use crate::{
    chain::Chain,
    config::ChainConfig,
    dev::{DevSettings, PooledRaw, Snapshot},
};

/// What a restart needs beyond the store's tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    /// Hash of the series' first `Genesis` event payload (the chain's identity).
    pub(crate) origin: B256,
    /// The first series entry the store does not reflect.
    pub(crate) series_next: u64,
    /// The last `BlockSealed` entry reflected: position and block hash.
    pub(crate) sealed: Option<(u64, B256)>,
    /// The head block's number and hash.
    pub(crate) head: u64,
    /// Hash of the head block.
    pub(crate) head_hash: B256,
    /// The state revision the store holds everything up to.
    pub(crate) revision: u64,
    /// Root of the account trie at `revision`.
    pub(crate) trie_root: B256,
    /// Number of the chain's first block (the fork block of a fork).
    pub(crate) first_number: u64,
    /// The chain's configuration (the latest genesis, after resets).
    pub(crate) config: ChainConfig,
    /// Dev settings in force.
    pub(crate) settings: DevSettings,
    /// Live snapshots.
    pub(crate) snapshots: Vec<SnapshotRecord>,
    /// The id the next snapshot gets.
    pub(crate) next_snapshot_id: u64,
}

/// A snapshot as a checkpoint keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SnapshotRecord {
    id: u64,
    head: u64,
    head_hash: B256,
    revision: u64,
    settings: DevSettings,
    pool: Vec<PooledRaw>,
}

impl SnapshotRecord {
    pub(crate) fn of(id: u64, snapshot: &Snapshot) -> Self {
        Self {
            id,
            head: snapshot.head,
            head_hash: snapshot.head_hash,
            revision: snapshot.revision,
            settings: snapshot.settings.clone(),
            pool: snapshot.pool.iter().map(|tx| PooledRaw::of(tx)).collect(),
        }
    }

    /// The snapshot back, with its id.
    pub(crate) fn restore(&self) -> crate::error::Result<(u64, Snapshot)> {
        let pool =
            self.pool.iter().map(|p| p.decode().map(Arc::new)).collect::<Result<Vec<_>, _>>()?;
        Ok((
            self.id,
            Snapshot {
                head: self.head,
                head_hash: self.head_hash,
                revision: self.revision,
                settings: self.settings.clone(),
                pool,
            },
        ))
    }
}

impl Checkpoint {
    /// The checkpoint of `chain` as it stands (its state flushed up to its revision); `None`
    /// when the chain does not know its series position (network mode).
    pub(crate) fn of(chain: &Chain) -> Option<Vec<u8>> {
        let next = chain.series.next?;
        let checkpoint = Self {
            origin: chain.series.origin,
            series_next: next,
            sealed: chain.series.sealed,
            head: chain.head_number(),
            head_hash: chain.head().hash,
            revision: chain.revision,
            trie_root: chain.state.trie_root(),
            first_number: chain.first_number(),
            config: chain.config().clone(),
            settings: chain.settings.clone(),
            snapshots: chain
                .snapshots
                .iter()
                .map(|(id, snapshot)| SnapshotRecord::of(*id, snapshot))
                .collect(),
            next_snapshot_id: chain.next_snapshot_id,
        };
        postcard::to_allocvec(&checkpoint)
            .map_err(|error| tracing::error!(%error, "checkpoint could not be encoded"))
            .ok()
    }

    /// Decodes a stored checkpoint.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("undecodable checkpoint: {e}"))
    }
}
