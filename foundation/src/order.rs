//! Deterministic ordering of apps' signed intents across gateways.
//!
//! Every gateway that first receives an intent wraps it in an [`Envelope`] stamped with its
//! [`HybridClock`]. Time is cut into epochs of `epoch_ms` milliseconds; an envelope belongs to the
//! epoch of its stamp. Inside an epoch the order is a pure function of the set of envelopes
//! ([`EpochBook::ordered`]): by stamp, then gateway, then content id, with each account's
//! envelopes put back in ascending sequence order in the positions they occupy. So gateways that
//! have seen the same envelopes derive the same order, whatever the order of arrival.
//!
//! The same content reaching two gateways gets two stamps; the smallest `(stamp, gateway)` wins
//! everywhere, which may move it to an earlier epoch ([`Admission::Moved`]). Two different
//! envelopes with the same account and sequence conflict: the first in epoch order is kept,
//! the others are reported as conflicts. Nothing here knows what an app's payload means.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy_primitives::{B256, keccak256};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Default length of an epoch (one block per non-empty epoch).
pub const DEFAULT_EPOCH_MS: u64 = 500;
/// Farthest a peer's stamp may be ahead of the local clock before it is refused.
pub const MAX_CLOCK_DRIFT_MS: u64 = 5_000;

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A hybrid logical clock stamp: wall-clock milliseconds and a logical counter that orders
/// events within the same millisecond.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct HlcStamp {
    /// Milliseconds since the Unix epoch.
    pub wall_ms: u64,
    /// Logical counter.
    pub logical: u32,
}

/// A hybrid logical clock: stamps never go backwards and follow the latest stamp observed.
#[derive(Debug, Default)]
pub struct HybridClock {
    last: Mutex<HlcStamp>,
}

impl HybridClock {
    /// A stamp for a local event at wall-clock time `wall_ms`.
    pub fn tick(&self, wall_ms: u64) -> HlcStamp {
        let mut last = self.last.lock();
        *last = if wall_ms > last.wall_ms {
            HlcStamp { wall_ms, logical: 0 }
        } else {
            HlcStamp { wall_ms: last.wall_ms, logical: last.logical.saturating_add(1) }
        };
        *last
    }

    /// Moves the clock up to a stamp it issued or accepted before (replay): later stamps come
    /// after it, whatever the wall clock says.
    pub fn witness(&self, stamp: HlcStamp) {
        let mut last = self.last.lock();
        if stamp > *last {
            *last = stamp;
        }
    }

    /// Takes a peer's stamp into account; refuses one more than [`MAX_CLOCK_DRIFT_MS`] ahead of
    /// `wall_ms`.
    pub fn observe(&self, remote: HlcStamp, wall_ms: u64) -> Result<HlcStamp, ClockDrift> {
        if remote.wall_ms > wall_ms.saturating_add(MAX_CLOCK_DRIFT_MS) {
            return Err(ClockDrift { remote: remote.wall_ms, local: wall_ms });
        }
        let mut last = self.last.lock();
        let top = last.wall_ms.max(remote.wall_ms).max(wall_ms);
        let logical = match (top == last.wall_ms, top == remote.wall_ms) {
            (true, true) => last.logical.max(remote.logical).saturating_add(1),
            (true, false) => last.logical.saturating_add(1),
            (false, true) => remote.logical.saturating_add(1),
            (false, false) => 0,
        };
        *last = HlcStamp { wall_ms: top, logical };
        Ok(*last)
    }
}

/// A peer's stamp too far in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stamp {remote} ms is too far ahead of local time {local} ms")]
pub struct ClockDrift {
    /// The peer's wall time.
    pub remote: u64,
    /// Ours.
    pub local: u64,
}

/// An app's signed intent as the ordering machinery carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The app, e.g. `evm`.
    pub app: String,
    /// Who orders it: the signer (for the EVM, the sender's address).
    pub account: Vec<u8>,
    /// The account's sequence number (for the EVM, the nonce).
    pub sequence: u64,
    /// The app's signed bytes (for the EVM, the raw transaction).
    pub payload: Vec<u8>,
    /// When the stamping gateway first received it.
    pub stamp: HlcStamp,
    /// The stamping gateway (tie-break between equal stamps).
    pub gateway: u64,
}

impl Envelope {
    /// The content id: the same payload of the same app has the same id, whoever stamped it.
    pub fn id(&self) -> B256 {
        let mut bytes = Vec::with_capacity(self.app.len() + 1 + self.payload.len());
        bytes.extend_from_slice(self.app.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&self.payload);
        keccak256(bytes)
    }

    /// The digest of the whole envelope, stamp and gateway included: what a decided epoch names.
    pub fn digest(&self) -> B256 {
        keccak256(postcard::to_allocvec(self).unwrap_or_default())
    }

    /// The position of the envelope in its epoch's order: stamp, then gateway, then id.
    pub fn order_key(&self) -> (HlcStamp, u64, B256) {
        (self.stamp, self.gateway, self.id())
    }
}

/// What admitting an envelope changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A new envelope in this epoch.
    New {
        /// Its epoch.
        epoch: u64,
    },
    /// Known already with an equal or earlier stamp: nothing changed.
    Duplicate,
    /// Stamped into an epoch that is already final: not admitted (the stamping gateway stamps
    /// it again into an open epoch).
    Late {
        /// The final epoch it was stamped into.
        epoch: u64,
    },
    /// Known with a later stamp: the earlier stamp wins, possibly moving it between epochs.
    Moved {
        /// The epoch it was in.
        from: u64,
        /// The epoch it is in now.
        to: u64,
    },
}

impl Admission {
    /// The earliest epoch whose order changed, if any.
    pub fn changed_epoch(&self) -> Option<u64> {
        match self {
            Self::New { epoch } => Some(*epoch),
            Self::Duplicate | Self::Late { .. } => None,
            Self::Moved { from, to } => Some((*from).min(*to)),
        }
    }
}

/// One epoch in its deterministic order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderedEpoch {
    /// The envelopes to apply, in order.
    pub envelopes: Vec<Envelope>,
    /// Envelopes that reuse an account's sequence already taken in this epoch.
    pub conflicts: Vec<Envelope>,
}

/// Every envelope known, by epoch.
#[derive(Debug, Clone)]
pub struct EpochBook {
    epoch_ms: u64,
    epochs: BTreeMap<u64, BTreeMap<B256, Envelope>>,
    epoch_of_id: HashMap<B256, u64>,
    /// Content id of each admitted envelope, by digest.
    by_digest: HashMap<B256, B256>,
    /// Every epoch up to this one is final: its content is fixed.
    final_through: Option<u64>,
}

impl EpochBook {
    /// An empty book with epochs of `epoch_ms` milliseconds.
    pub fn new(epoch_ms: u64) -> Self {
        Self {
            epoch_ms: epoch_ms.max(1),
            epochs: BTreeMap::new(),
            epoch_of_id: HashMap::new(),
            by_digest: HashMap::new(),
            final_through: None,
        }
    }

    /// Length of an epoch in milliseconds.
    pub fn epoch_ms(&self) -> u64 {
        self.epoch_ms
    }

    /// The epoch a stamp falls in.
    pub fn epoch_of(&self, stamp: HlcStamp) -> u64 {
        stamp.wall_ms / self.epoch_ms
    }

    /// Number of distinct envelopes.
    pub fn len(&self) -> usize {
        self.epoch_of_id.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.epoch_of_id.is_empty()
    }

    /// Adds an envelope (deduplicated by content id; the earliest stamp wins).
    /// An envelope stamped into a final epoch is refused ([`Admission::Late`]) unless it is
    /// already there.
    pub fn admit(&mut self, envelope: Envelope) -> Admission {
        let id = envelope.id();
        let epoch = self.epoch_of(envelope.stamp);
        if let Some(&current_epoch) = self.epoch_of_id.get(&id) {
            let current = &self.epochs[&current_epoch][&id];
            if envelope.order_key() >= current.order_key() || self.is_final(current_epoch) {
                return Admission::Duplicate;
            }
            if self.is_final(epoch) {
                return Admission::Late { epoch };
            }
            self.take(&id);
            self.put(epoch, envelope);
            return Admission::Moved { from: current_epoch, to: epoch };
        }
        if self.is_final(epoch) {
            return Admission::Late { epoch };
        }
        self.put(epoch, envelope);
        Admission::New { epoch }
    }

    /// Puts this exact envelope in its epoch in place of any other stamp of the same content
    /// (a final outcome names it by digest); refused into a final epoch. Returns the earliest
    /// epoch whose content changed.
    pub fn replace(&mut self, envelope: Envelope) -> Option<u64> {
        let epoch = self.epoch_of(envelope.stamp);
        if self.is_final(epoch) {
            return None;
        }
        let previous = self.epoch_of_id.get(&envelope.id()).copied();
        if previous.is_some_and(|p| self.is_final(p)) {
            return None;
        }
        self.take(&envelope.id());
        self.put(epoch, envelope);
        Some(previous.map_or(epoch, |p| p.min(epoch)))
    }

    fn put(&mut self, epoch: u64, envelope: Envelope) {
        let id = envelope.id();
        self.by_digest.insert(envelope.digest(), id);
        self.epochs.entry(epoch).or_default().insert(id, envelope);
        self.epoch_of_id.insert(id, epoch);
    }

    fn take(&mut self, id: &B256) -> Option<Envelope> {
        let epoch = self.epoch_of_id.remove(id)?;
        let entries = self.epochs.get_mut(&epoch)?;
        let envelope = entries.remove(id)?;
        if entries.is_empty() {
            self.epochs.remove(&epoch);
        }
        self.by_digest.remove(&envelope.digest());
        Some(envelope)
    }

    /// Whether an epoch is final (its content fixed).
    pub fn is_final(&self, epoch: u64) -> bool {
        self.final_through.is_some_and(|f| epoch <= f)
    }

    /// The final epoch holding this content (by [`Envelope::id`]), if it is final.
    pub fn final_epoch_of(&self, id: &B256) -> Option<u64> {
        self.epoch_of_id.get(id).copied().filter(|epoch| self.is_final(*epoch))
    }

    /// The last final epoch.
    pub fn final_through(&self) -> Option<u64> {
        self.final_through
    }

    /// The envelopes of an epoch (unordered).
    pub fn envelopes_of(&self, epoch: u64) -> impl Iterator<Item = &Envelope> + '_ {
        self.epochs.get(&epoch).into_iter().flat_map(|e| e.values())
    }

    /// The envelope of `epoch` with this digest, if admitted (an envelope always sits in the
    /// epoch of its stamp).
    pub fn find_digest(&self, epoch: u64, digest: &B256) -> Option<&Envelope> {
        let id = self.by_digest.get(digest)?;
        self.epochs.get(&epoch)?.get(id).filter(|e| e.digest() == *digest)
    }

    /// Fixes an epoch's content to exactly `envelopes` (the decided ones) and every earlier
    /// epoch not yet final to nothing: their other envelopes leave the book and are returned
    /// (excluded), the given ones are moved in from wherever they were. Afterwards every epoch
    /// up to `epoch` is final and admits nothing. Epochs are finalized in ascending order.
    pub fn finalize(&mut self, epoch: u64, envelopes: Vec<Envelope>) -> Vec<Envelope> {
        let keep: HashSet<B256> = envelopes.iter().map(Envelope::id).collect();
        let from = self.final_through.map_or(0, |f| f + 1);
        let open: Vec<B256> = self
            .epochs
            .range(from..=epoch)
            .flat_map(|(_, entries)| entries.keys().copied())
            .collect();
        let mut excluded = Vec::new();
        for id in open {
            if let Some(envelope) = self.take(&id)
                && !keep.contains(&id)
            {
                excluded.push(envelope);
            }
        }
        for envelope in envelopes {
            self.take(&envelope.id());
            self.put(epoch, envelope);
        }
        self.final_through = Some(self.final_through.map_or(epoch, |f| f.max(epoch)));
        excluded
    }

    /// The non-empty epochs, ascending.
    pub fn epochs(&self) -> impl Iterator<Item = u64> + '_ {
        self.epochs.keys().copied()
    }

    /// The non-empty epochs from `from` on, ascending.
    pub fn epochs_from(&self, from: u64) -> impl Iterator<Item = u64> + '_ {
        self.epochs.range(from..).map(|(epoch, _)| *epoch)
    }

    /// An epoch's envelopes in their deterministic order.
    pub fn ordered(&self, epoch: u64) -> OrderedEpoch {
        let envelopes: Vec<Envelope> =
            self.epochs.get(&epoch).map(|e| e.values().cloned().collect()).unwrap_or_default();
        order_envelopes(envelopes)
    }
}

/// Orders envelopes: by stamp, gateway and id, then each account's envelopes are put back in
/// ascending sequence order into the positions they occupy; a repeated (account, sequence)
/// keeps its first envelope and the others become conflicts.
pub fn order_envelopes(mut envelopes: Vec<Envelope>) -> OrderedEpoch {
    envelopes.sort_by_cached_key(Envelope::order_key);
    let mut conflicts = Vec::new();
    let mut seen: HashMap<(Vec<u8>, u64), ()> = HashMap::new();
    envelopes.retain(|e| {
        let fresh = seen.insert((e.account.clone(), e.sequence), ()).is_none();
        if !fresh {
            conflicts.push(e.clone());
        }
        fresh
    });
    let mut positions: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
    for (index, envelope) in envelopes.iter().enumerate() {
        positions.entry(envelope.account.clone()).or_default().push(index);
    }
    let mut slots: Vec<Option<Envelope>> = envelopes.into_iter().map(Some).collect();
    for indexes in positions.values() {
        let mut mine: Vec<Envelope> = indexes.iter().filter_map(|i| slots[*i].take()).collect();
        mine.sort_by_key(|e| e.sequence);
        for (slot, envelope) in indexes.iter().zip(mine) {
            slots[*slot] = Some(envelope);
        }
    }
    OrderedEpoch { envelopes: slots.into_iter().flatten().collect(), conflicts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(account: u8, sequence: u64, wall_ms: u64, gateway: u64) -> Envelope {
        Envelope {
            app: "test".into(),
            account: vec![account],
            sequence,
            payload: vec![account, sequence as u8, gateway as u8, wall_ms as u8],
            stamp: HlcStamp { wall_ms, logical: 0 },
            gateway,
        }
    }

    #[test]
    fn clock_never_goes_back_and_follows_peers() {
        let clock = HybridClock::default();
        let a = clock.tick(100);
        let b = clock.tick(90);
        assert!(b > a);
        let c = clock.observe(HlcStamp { wall_ms: 200, logical: 5 }, 150).unwrap();
        assert_eq!(c, HlcStamp { wall_ms: 200, logical: 6 });
        assert!(clock.tick(150) > c);
        assert!(clock.observe(HlcStamp { wall_ms: 10_000_000, logical: 0 }, 0).is_err());
    }

    #[test]
    fn order_keeps_each_accounts_sequence() {
        // Account 1's nonce 1 was stamped before its nonce 0.
        let ordered = order_envelopes(vec![
            envelope(1, 1, 10, 0),
            envelope(2, 0, 11, 0),
            envelope(1, 0, 12, 1),
        ]);
        let got: Vec<(u8, u64)> =
            ordered.envelopes.iter().map(|e| (e.account[0], e.sequence)).collect();
        assert_eq!(got, vec![(1, 0), (2, 0), (1, 1)]);
    }

    #[test]
    fn a_reused_sequence_is_a_conflict() {
        let first = envelope(1, 0, 10, 0);
        let second = envelope(1, 0, 11, 1);
        let ordered = order_envelopes(vec![second.clone(), first.clone()]);
        assert_eq!(ordered.envelopes, vec![first]);
        assert_eq!(ordered.conflicts, vec![second]);
    }

    #[test]
    fn the_earliest_stamp_of_the_same_content_wins() {
        let mut book = EpochBook::new(100);
        let late =
            Envelope { stamp: HlcStamp { wall_ms: 250, logical: 0 }, ..envelope(1, 0, 0, 1) };
        let early =
            Envelope { stamp: HlcStamp { wall_ms: 120, logical: 0 }, gateway: 0, ..late.clone() };
        assert_eq!(book.admit(late.clone()), Admission::New { epoch: 2 });
        assert_eq!(book.admit(late), Admission::Duplicate);
        assert_eq!(book.admit(early.clone()), Admission::Moved { from: 2, to: 1 });
        assert_eq!(book.admit(early), Admission::Duplicate);
        assert_eq!(book.epochs().collect::<Vec<_>>(), vec![1]);
        assert_eq!(book.len(), 1);
    }
}
