//! iR³'s instantiation of Malachite's `Context`: heights, addresses, values, proposals, votes
//! and the validator set, signed with Ed25519.
//!
//! A height's [`Value`] is `(parent, payload)`: the id of the value decided at the previous
//! height (the network identity for height 1) and opaque bytes supplied by the caller (iR³ puts
//! the ordered batch of admitted envelopes there). Its id is the keccak-256 of both, so a decided
//! id commits to the whole chain of decisions before it.

use std::fmt;
use std::sync::Arc;

use alloy_primitives::{B256, keccak256};
use bytes::Bytes;
use malachitebft_app_channel::app::types::core::{
    self as core, LinearTimeouts, NilOrVal, Round, SignedExtension, VoteType, VotingPower,
};
use malachitebft_signing_ed25519::{Ed25519, PublicKey};
use serde::{Deserialize, Serialize};

/// A validator's address: the first 20 bytes of the keccak-256 of its Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The address of a raw Ed25519 public key (`None`: not a valid key).
    pub fn of_key_bytes(bytes: &[u8; 32]) -> Option<Self> {
        PublicKey::from_bytes(*bytes).ok().map(|key| Self::from_public_key(&key))
    }

    /// The address of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let hash = keccak256(key.as_bytes());
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash[12..]);
        Self(out)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", alloy_primitives::hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl core::Address for Address {}

/// A consensus height (the first decided height is 1).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl core::Height for Height {
    const ZERO: Self = Self(0);
    const INITIAL: Self = Self(1);

    fn increment_by(&self, n: u64) -> Self {
        Self(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Self)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// The id of a [`Value`]: keccak-256 of its parent and payload.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ValueId(pub B256);

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What the validators agree on at one height.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Value {
    /// Id of the value decided at the previous height (the network identity at height 1).
    pub parent: B256,
    /// Opaque content supplied by the proposer's [`crate::ValueSource`].
    pub payload: Bytes,
}

impl Value {
    /// A value on `parent` carrying `payload`.
    pub fn new(parent: B256, payload: impl Into<Bytes>) -> Self {
        Self { parent, payload: payload.into() }
    }

    /// The value's id (what votes and certificates name).
    pub fn id(&self) -> ValueId {
        let mut bytes = Vec::with_capacity(32 + self.payload.len());
        bytes.extend_from_slice(self.parent.as_slice());
        bytes.extend_from_slice(&self.payload);
        ValueId(keccak256(bytes))
    }
}

impl core::Value for Value {
    type Id = ValueId;

    fn id(&self) -> ValueId {
        Value::id(self)
    }
}

/// One validator of the set: address, Ed25519 public key and voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Derived from the public key.
    pub address: Address,
    /// Verifies the validator's votes and proposals.
    pub public_key: PublicKey,
    /// Weight in the ⅔ quorum.
    pub voting_power: VotingPower,
}

impl Validator {
    /// A validator with the given key and power.
    pub fn new(public_key: PublicKey, voting_power: VotingPower) -> Self {
        Self { address: Address::from_public_key(&public_key), public_key, voting_power }
    }
}

impl core::Validator<Ir3Context> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// The validator set, sorted by power (descending) then address, as Malachite requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Arc<Vec<Validator>>,
}

impl ValidatorSet {
    /// A set of the given validators (sorted; duplicates by address removed).
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators
            .sort_by(|a, b| b.voting_power.cmp(&a.voting_power).then(a.address.cmp(&b.address)));
        validators.dedup_by(|a, b| a.address == b.address);
        Self { validators: Arc::new(validators) }
    }

    /// The validators in set order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Sum of the voting powers.
    pub fn total_power(&self) -> VotingPower {
        self.validators.iter().map(|v| v.voting_power).sum()
    }
}

impl core::ValidatorSet<Ir3Context> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.total_power()
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A proposal: the proposer's value for a height and round (signed by the engine's signer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Height proposed for.
    pub height: Height,
    /// Round proposed in.
    pub round: Round,
    /// The proposed value.
    pub value: Value,
    /// Proof-of-lock round (nil for a fresh value).
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

impl core::Proposal<Ir3Context> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &Value {
        &self.value
    }

    fn take_value(self) -> Value {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// The one part a proposal is streamed in: the value with its height, round and proposer,
/// signed by the proposer (see [`crate::signing::part_signing_bytes`]).
///
/// Values are small (a batch of envelope bytes), so a stream has a single part. A part whose
/// signature does not verify against its proposer's key is dropped on arrival, so a relay can
/// neither inject values nor fill the node's slots for the current height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalPart {
    /// Height proposed for.
    pub height: Height,
    /// Round proposed in.
    pub round: Round,
    /// Proof-of-lock round.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
    /// The proposed value.
    pub value: Value,
    /// The proposer's Ed25519 signature over the part (64 bytes; empty for a value that came
    /// with a commit certificate through value sync).
    pub signature: Bytes,
}

impl core::ProposalPart<Ir3Context> for ProposalPart {
    fn is_first(&self) -> bool {
        true
    }

    fn is_last(&self) -> bool {
        true
    }
}

/// A prevote or precommit. Vote extensions are not used; `extension` exists for the trait and
/// is left out of equality and of the signed bytes, as Malachite requires.
#[derive(Clone, Debug)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height voted at.
    pub height: Height,
    /// Round voted in.
    pub round: Round,
    /// The value voted for, or nil.
    pub value: NilOrVal<ValueId>,
    /// The voter.
    pub validator: Address,
    /// Unused vote extension.
    pub extension: Option<SignedExtension<Ir3Context>>,
}

impl PartialEq for Vote {
    fn eq(&self, other: &Self) -> bool {
        self.vote_type == other.vote_type
            && self.height == other.height
            && self.round == other.round
            && self.value == other.value
            && self.validator == other.validator
    }
}

impl Eq for Vote {}

impl core::Vote<Ir3Context> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<ValueId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<ValueId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<Ir3Context>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<Ir3Context>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<Ir3Context>) -> Self {
        Self { extension: Some(extension), ..self }
    }
}

/// The context: iR³'s types plus round-robin proposer selection.
#[derive(Clone, Debug, Default)]
pub struct Ir3Context;

impl core::Context for Ir3Context {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = Value;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519;

    /// Round-robin over the set: `(height - 1 + round) mod n`, so every validator proposes in
    /// turn and a silent proposer is skipped by the next round.
    fn select_proposer<'a>(
        &self,
        set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let n = set.validators.len() as u64;
        assert!(n > 0, "empty validator set");
        let round = round.as_u32().unwrap_or(0) as u64;
        let index = (height.0.saturating_sub(1).wrapping_add(round)) % n;
        &set.validators[index as usize]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: Value,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer: address }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<ValueId>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value,
            validator: address,
            extension: None,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<ValueId>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value,
            validator: address,
            extension: None,
        }
    }
}
