//! Membership changes of the validator set, decided like everything else.
//!
//! A change (keys to add, keys to remove) is approved by validators one by one: each approval
//! is an envelope of app [`MEMBERSHIP_APP`] whose account is the approving validator's Ed25519
//! key and whose payload is the change with that key's signature (over the network identity
//! and the change's id). Approvals travel, are checked and are decided like transactions;
//! [`Membership::apply`] counts the ones in each decided height, in order, and a change that
//! more than two thirds of the set deciding height `h` approved takes effect at height
//! `h + 1`. Every node applies the same decided heights in the same order, so every node
//! holds the same set at every height — the engine is given it for each height it starts
//! (`ValueSource::validator_set`), and a node syncing from history segments derives it from
//! the segments before it checks the certified top height. Validators have equal power.
//!
//! A seat is a key's position in the order keys joined (the network file's first); seats are
//! never reused, so an envelope's `gateway` number keeps naming the same gateway.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{B256, keccak256};
use ir3_foundation::{net::identity, order::Envelope};
use serde::{Deserialize, Serialize};

use super::Decision;

/// The app name of membership approvals in envelopes.
pub const MEMBERSHIP_APP: &str = "validators";

/// An Ed25519 public key: a validator.
pub type ValidatorKey = [u8; 32];

/// A change of the validator set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    /// Keys that join the set.
    pub add: Vec<ValidatorKey>,
    /// Keys that leave it.
    pub remove: Vec<ValidatorKey>,
}

impl MembershipChange {
    /// The same change with its keys sorted and deduplicated (what is signed and counted).
    pub fn normalized(mut self) -> Self {
        self.add.sort_unstable();
        self.add.dedup();
        self.remove.sort_unstable();
        self.remove.dedup();
        self
    }

    /// The change's id (of its normalized form).
    pub fn id(&self) -> B256 {
        let normalized = self.clone().normalized();
        keccak256(postcard::to_allocvec(&normalized).unwrap_or_default())
    }
}

/// One validator's signed approval of a change (an envelope's payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The change approved.
    pub change: MembershipChange,
    /// The approver's Ed25519 signature over [`approval_bytes`].
    pub signature: Vec<u8>,
}

/// The bytes an approval's signature covers: bound to one network and one change.
pub fn approval_bytes(identity: B256, change: &MembershipChange) -> Vec<u8> {
    let mut bytes = b"ir3/membership/approve".to_vec();
    bytes.extend_from_slice(identity.as_slice());
    bytes.extend_from_slice(change.id().as_slice());
    bytes
}

/// The validator set over the decided heights.
#[derive(Debug, Clone)]
pub struct Membership {
    identity: B256,
    /// Every key that was ever in the set, in the order it joined: a seat is a position here.
    seats: Vec<ValidatorKey>,
    /// The sets in force, each from its first height on; the first from height 1.
    sets: Vec<(u64, Vec<ValidatorKey>)>,
    /// Approvals of pending changes, by change id: the change and its approvers.
    approvals: BTreeMap<B256, (MembershipChange, BTreeSet<ValidatorKey>)>,
}

impl Membership {
    /// The set of the network file (`initial`, in the file's order) for network `identity`.
    pub fn new(identity: B256, initial: Vec<ValidatorKey>) -> Self {
        Self {
            identity,
            seats: initial.clone(),
            sets: vec![(1, initial)],
            approvals: BTreeMap::new(),
        }
    }

    /// The set that decides `height`.
    pub fn set_at(&self, height: u64) -> &[ValidatorKey] {
        self.sets
            .iter()
            .rev()
            .find(|(from, _)| *from <= height)
            .or_else(|| self.sets.first())
            .map_or(&[][..], |(_, set)| set)
    }

    /// The set in force after the last decided height.
    pub fn current(&self) -> &[ValidatorKey] {
        self.sets.last().map_or(&[][..], |(_, set)| set)
    }

    /// The seat of a key (its position in the order keys joined), if it ever joined.
    pub fn seat_of(&self, key: &ValidatorKey) -> Option<u64> {
        self.seats.iter().position(|k| k == key).map(|i| i as u64)
    }

    /// How many seats were ever given (every envelope's `gateway` is below this).
    pub fn seat_count(&self) -> u64 {
        self.seats.len() as u64
    }

    /// The key of a seat.
    pub fn key_of(&self, seat: u64) -> Option<&ValidatorKey> {
        self.seats.get(seat as usize)
    }

    /// The changes whose approvals are being counted, with their approvers so far.
    pub fn pending(&self) -> impl Iterator<Item = (&MembershipChange, usize)> + '_ {
        self.approvals.values().map(|(change, by)| (change, by.len()))
    }

    /// Checks that an approval envelope is well formed and signed by its account for this
    /// network: what a proposal may carry (whether it counts is the tally's business, as the
    /// set may change before it is decided).
    pub fn verify_signature(&self, envelope: &Envelope) -> Result<Approval, String> {
        let approval: Approval =
            postcard::from_bytes(&envelope.payload).map_err(|_| "malformed approval")?;
        let approver: ValidatorKey =
            envelope.account.as_slice().try_into().map_err(|_| "account is not a key")?;
        let key = identity::ed25519::PublicKey::try_from_bytes(&approver)
            .map_err(|_| "account is not an Ed25519 key")?;
        if !key.verify(&approval_bytes(self.identity, &approval.change), &approval.signature) {
            return Err("approval signature does not verify".into());
        }
        Ok(approval)
    }

    /// Checks an approval envelope against the current set: signed by its account, which is
    /// a validator of the set, for a sane change (it adds keys not in the set, removes keys
    /// in it, and leaves someone).
    pub fn check(&self, envelope: &Envelope) -> Result<Approval, String> {
        let approval = self.verify_signature(envelope)?;
        self.rules(&envelope.account, &approval.change)?;
        Ok(approval)
    }

    /// The set's rules for an approval whose signature verified: the approver is a validator
    /// of the current set, and the change is sane.
    pub fn rules(&self, approver: &[u8], change: &MembershipChange) -> Result<(), String> {
        let set = self.current();
        if !set.iter().any(|k| k.as_slice() == approver) {
            return Err("the approver is not a validator of the current set".into());
        }
        if change.add.is_empty() && change.remove.is_empty() {
            return Err("an empty change".into());
        }
        if change.add.iter().any(|k| set.contains(k)) {
            return Err("adds a key already in the set".into());
        }
        if change.add.iter().any(|k| identity::ed25519::PublicKey::try_from_bytes(k).is_err()) {
            return Err("adds something that is not an Ed25519 key".into());
        }
        if change.remove.iter().any(|k| !set.contains(k)) {
            return Err("removes a key not in the set".into());
        }
        if Self::changed(set, change).is_empty() {
            return Err("leaves no validator".into());
        }
        Ok(())
    }

    /// `set` with `change` applied (added keys at the end, in the change's order).
    fn changed(set: &[ValidatorKey], change: &MembershipChange) -> Vec<ValidatorKey> {
        let mut next: Vec<ValidatorKey> =
            set.iter().filter(|k| !change.remove.contains(k)).copied().collect();
        next.extend(change.add.iter().filter(|k| !set.contains(k)).copied());
        next
    }

    /// Counts the approvals decided at `height` (in the decision's order, each checked against
    /// the set of that moment); the first change more than two thirds of the set approved
    /// takes effect at `height + 1` (pending approvals are then dropped: they were counted
    /// against a set that no longer holds). Returns the change that took effect, if any.
    pub fn apply(&mut self, height: u64, decision: &Decision) -> Option<MembershipChange> {
        let approvals = decision
            .epochs
            .iter()
            .flat_map(|epoch| &epoch.envelopes)
            .filter(|envelope| envelope.app == MEMBERSHIP_APP);
        for envelope in approvals {
            let Ok(approval) = self.check(envelope) else { continue };
            let Ok(approver) = ValidatorKey::try_from(envelope.account.as_slice()) else {
                continue;
            };
            let change = approval.change.normalized();
            let entry =
                self.approvals.entry(change.id()).or_insert_with(|| (change, BTreeSet::new()));
            entry.1.insert(approver);
            let (approvers, change) = (entry.1.len(), entry.0.clone());
            let set = self.current();
            if approvers * 3 > set.len() * 2 {
                let next = Self::changed(set, &change);
                for key in &change.add {
                    if !self.seats.contains(key) {
                        self.seats.push(*key);
                    }
                }
                self.sets.push((height + 1, next));
                self.approvals.clear();
                return Some(change);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use ir3_foundation::{net::Keypair, order::HlcStamp};

    use super::*;
    use crate::network::DecidedEpoch;

    fn key_of(keypair: &Keypair) -> ValidatorKey {
        keypair.public().try_into_ed25519().unwrap().to_bytes()
    }

    fn approval(identity: B256, by: &Keypair, change: &MembershipChange, seq: u64) -> Envelope {
        let signature = by.sign(&approval_bytes(identity, change)).unwrap();
        let payload = postcard::to_allocvec(&Approval { change: change.clone(), signature });
        Envelope {
            app: MEMBERSHIP_APP.into(),
            account: key_of(by).to_vec(),
            sequence: seq,
            payload: payload.unwrap(),
            stamp: HlcStamp::default(),
            gateway: 0,
        }
    }

    fn decided(envelopes: Vec<Envelope>) -> Decision {
        Decision { time_ms: 0, epochs: vec![DecidedEpoch { epoch: 1, envelopes }] }
    }

    #[test]
    fn more_than_two_thirds_of_the_set_change_it_from_the_next_height() {
        let identity = B256::repeat_byte(7);
        let keys: Vec<Keypair> = (0..5).map(|_| Keypair::generate_ed25519()).collect();
        let initial: Vec<ValidatorKey> = keys[..4].iter().map(key_of).collect();
        let mut membership = Membership::new(identity, initial.clone());
        let add = MembershipChange { add: vec![key_of(&keys[4])], remove: vec![] };

        // Two of four approve at height 3: not enough. A forged approval and one by a key
        // outside the set are not counted.
        let mut forged = approval(identity, &keys[2], &add, 1);
        forged.account = key_of(&keys[3]).to_vec();
        let outsider = approval(identity, &keys[4], &add, 1);
        let other_network = approval(B256::repeat_byte(8), &keys[3], &add, 1);
        let two = vec![
            approval(identity, &keys[0], &add, 1),
            approval(identity, &keys[1], &add, 1),
            forged,
            outsider,
            other_network,
        ];
        assert_eq!(membership.apply(3, &decided(two)), None);
        assert_eq!(membership.current(), &initial[..]);
        // The third approval (at height 5) makes it: the new key votes from height 6.
        let third = approval(identity, &keys[2], &add, 1);
        assert_eq!(membership.apply(5, &decided(vec![third])), Some(add));
        assert_eq!(membership.set_at(5), &initial[..]);
        assert_eq!(membership.set_at(6).len(), 5);
        assert_eq!(membership.seat_of(&key_of(&keys[4])), Some(4));

        // Removing a (dead) validator needs four of the five now.
        let remove = MembershipChange { add: vec![], remove: vec![key_of(&keys[3])] };
        let approvals: Vec<Envelope> =
            [0, 1, 2].iter().map(|i| approval(identity, &keys[*i], &remove, 2)).collect();
        assert_eq!(membership.apply(8, &decided(approvals)), None);
        let fourth = approval(identity, &keys[4], &remove, 1);
        assert_eq!(membership.apply(9, &decided(vec![fourth])), Some(remove));
        let after: Vec<ValidatorKey> = [0, 1, 2, 4].iter().map(|i| key_of(&keys[*i])).collect();
        assert_eq!(membership.set_at(10), &after[..]);
        // The removed key keeps its seat number; approvals by it no longer count.
        assert_eq!(membership.seat_of(&key_of(&keys[3])), Some(3));
        let change = MembershipChange { add: vec![], remove: vec![key_of(&keys[0])] };
        assert!(membership.check(&approval(identity, &keys[3], &change, 3)).is_err());
        // Nonsense changes are refused.
        let empty = MembershipChange::default();
        assert!(membership.check(&approval(identity, &keys[0], &empty, 4)).is_err());
        let everyone = MembershipChange { add: vec![], remove: after };
        assert!(membership.check(&approval(identity, &keys[0], &everyone, 5)).is_err());
    }
}
