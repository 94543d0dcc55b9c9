//! Finality: gateways vote on each epoch's outcome, and an epoch is final once a majority of the
//! gateway set voted the same outcome.
//!
//! The gateway set is explicit: `size` gateways numbered `0..size`. A gateway's number is bound
//! to the first peer key that signs a vote for it (trust on first use, kept in the series with
//! the vote), so a later impostor is refused. Each gateway votes at most once per epoch (it
//! records its vote durably before sending it), so two majorities always share an honest
//! gateway and no two nodes can finalize different outcomes for the same epoch.
//!
//! A split vote (no outcome can reach a majority whatever the missing votes say) moves to the
//! next round, where each gateway votes for the envelopes every vote of the round held (their
//! intersection); contents only shrink from round to round, so the rounds end.
//!
//! A vote names the epoch, the hash of the block the voter derived from it (zero for an epoch
//! it derives no block from), the state root, the exact envelopes the block was built from (by
//! digest), and the epoch of its parent block. A final vote therefore fixes the epoch's content
//! and, through the parent epoch, marks every epoch in between as final and empty. Nothing here
//! knows what the apps' blocks mean: hashes are opaque.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{B256, keccak256};
use libp2p::{PeerId, identity::Keypair, identity::PublicKey};
use serde::{Deserialize, Serialize};

use crate::order::HlcStamp;

/// The app name of the ordering machinery's own intents.
pub const ORDER_APP: &str = "order";
/// The intent kind of a gateway's vote on an epoch (the seeds' `eth_state_update`).
pub const EPOCH_VOTE: &str = "epoch_vote";

/// A gateway's view of one epoch's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Vote {
    /// The epoch voted on.
    pub epoch: u64,
    /// The voting round: 0 first; a gateway votes in round `r + 1` only once it can prove that
    /// no outcome can reach a majority in round `r`.
    pub round: u32,
    /// The epoch of the block this one builds on (`None`: the genesis).
    pub parent_epoch: Option<u64>,
    /// Hash of the block derived from the epoch; zero when the epoch derives no block.
    pub block_hash: B256,
    /// The state root after that block (the seeds' `eth_state_update` perspective).
    pub state_root: B256,
    /// Digests of the envelopes the block was built from, ascending.
    pub digests: Vec<B256>,
    /// The voting gateway.
    pub gateway: u64,
    /// The voter's clock when it voted.
    pub stamp: HlcStamp,
}

impl Vote {
    /// The outcome this vote is for: the block hash together with the content it was built from.
    pub fn outcome(&self) -> B256 {
        let mut bytes = self.block_hash.to_vec();
        for digest in &self.digests {
            bytes.extend_from_slice(digest.as_slice());
        }
        keccak256(bytes)
    }

    fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = b"ir3/vote/1".to_vec();
        bytes.extend_from_slice(&postcard::to_allocvec(self).unwrap_or_default());
        bytes
    }
}

/// A vote signed by the gateway's peer key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// The signer's public key (libp2p protobuf encoding).
    pub public_key: Vec<u8>,
    /// The signature over the vote.
    pub signature: Vec<u8>,
}

impl SignedVote {
    /// Signs a vote.
    pub fn sign(vote: Vote, keypair: &Keypair) -> Result<Self, VoteError> {
        let signature =
            keypair.sign(&vote.signing_bytes()).map_err(|e| VoteError::Signing(e.to_string()))?;
        Ok(Self { public_key: keypair.public().encode_protobuf(), signature, vote })
    }

    /// Checks the signature; returns the signer's peer id.
    pub fn verify(&self) -> Result<PeerId, VoteError> {
        let key = PublicKey::try_decode_protobuf(&self.public_key)
            .map_err(|_| VoteError::BadSignature)?;
        if !key.verify(&self.vote.signing_bytes(), &self.signature) {
            return Err(VoteError::BadSignature);
        }
        Ok(key.to_peer_id())
    }
}

/// Why a vote was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    /// The signature does not verify.
    #[error("vote signature does not verify")]
    BadSignature,
    /// The vote names a gateway outside the set.
    #[error("gateway {gateway} is not in the gateway set of {size}")]
    NotMember {
        /// The gateway named.
        gateway: u64,
        /// The set's size.
        size: u64,
    },
    /// The gateway number is bound to another key.
    #[error("gateway {gateway} is bound to peer {bound}, not {claimed}")]
    Impostor {
        /// The gateway named.
        gateway: u64,
        /// The peer it is bound to.
        bound: String,
        /// The peer that signed.
        claimed: String,
    },
    /// The gateway voted twice on the same epoch with different outcomes.
    #[error("gateway {gateway} voted twice on epoch {epoch}")]
    Equivocation {
        /// The gateway.
        gateway: u64,
        /// The epoch.
        epoch: u64,
    },
    /// This node's key could not sign.
    #[error("cannot sign a vote: {0}")]
    Signing(String),
}

/// How a gateway's votes compare with what became final.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatAgreement {
    /// The gateway's seat.
    pub seat: u64,
    /// The peer id bound to the seat.
    pub peer: Option<String>,
    /// Final epochs it voted the final outcome of.
    pub agreed: u64,
    /// Final epochs it voted another outcome of.
    pub disagreed: u64,
}

/// An epoch's final outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalEpoch {
    /// The epoch.
    pub epoch: u64,
    /// The vote the majority cast (any one of them: they agree on everything but the voter).
    pub vote: Vote,
    /// The gateways that voted it.
    pub voters: Vec<u64>,
}

/// What recording a vote changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteOutcome {
    /// Counted; no majority yet (or the epoch was already final).
    Counted,
    /// Already known.
    Duplicate,
    /// This vote completed a majority: the epoch is final.
    Final(FinalEpoch),
}

/// One epoch's votes grouped by outcome: the perspectives of the gateway set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Perspective {
    /// The round.
    pub round: u32,
    /// The block hash voted.
    pub block_hash: B256,
    /// The state root voted.
    pub state_root: B256,
    /// The gateways that voted it.
    pub gateways: Vec<u64>,
}

/// The votes of the gateway set and the epochs they made final.
#[derive(Debug, Clone)]
pub struct Finality {
    size: u64,
    members: HashMap<u64, PeerId>,
    /// Votes by epoch, then by (round, gateway).
    votes: BTreeMap<u64, BTreeMap<(u32, u64), SignedVote>>,
    finalized: BTreeMap<u64, FinalEpoch>,
}

impl Finality {
    /// No votes yet, for a gateway set of `size` (at least 1).
    pub fn new(size: u64) -> Self {
        Self {
            size: size.max(1),
            members: HashMap::new(),
            votes: BTreeMap::new(),
            finalized: BTreeMap::new(),
        }
    }

    /// Size of the gateway set.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Votes needed for finality: a strict majority.
    pub fn majority(&self) -> usize {
        (self.size / 2 + 1) as usize
    }

    /// The peer each gateway number is bound to.
    pub fn members(&self) -> &HashMap<u64, PeerId> {
        &self.members
    }

    /// Records a signed vote (checked first).
    pub fn record(&mut self, signed: SignedVote) -> Result<VoteOutcome, VoteError> {
        let signer = signed.verify()?;
        let vote = &signed.vote;
        if vote.gateway >= self.size {
            return Err(VoteError::NotMember { gateway: vote.gateway, size: self.size });
        }
        match self.members.get(&vote.gateway) {
            Some(bound) if *bound != signer => {
                return Err(VoteError::Impostor {
                    gateway: vote.gateway,
                    bound: bound.to_string(),
                    claimed: signer.to_string(),
                });
            }
            Some(_) => {}
            None => {
                self.members.insert(vote.gateway, signer);
            }
        }
        let epoch = vote.epoch;
        let majority = self.majority();
        let round = vote.round;
        let key = (round, vote.gateway);
        let votes = self.votes.entry(epoch).or_default();
        if let Some(previous) = votes.get(&key) {
            if previous.vote.outcome() == vote.outcome() {
                return Ok(VoteOutcome::Duplicate);
            }
            return Err(VoteError::Equivocation { gateway: vote.gateway, epoch });
        }
        let outcome = vote.outcome();
        votes.insert(key, signed);
        if self.finalized.contains_key(&epoch) {
            return Ok(VoteOutcome::Counted);
        }
        let voters: Vec<u64> = votes
            .range((round, 0)..=(round, u64::MAX))
            .filter(|(_, v)| v.vote.outcome() == outcome)
            .map(|(_, v)| v.vote.gateway)
            .collect();
        if voters.len() < majority {
            return Ok(VoteOutcome::Counted);
        }
        let vote = votes[&(round, voters[0])].vote.clone();
        let final_epoch = FinalEpoch { epoch, vote, voters };
        self.finalized.insert(epoch, final_epoch.clone());
        Ok(VoteOutcome::Final(final_epoch))
    }

    /// The final outcome of an epoch, if it has one.
    pub fn final_epoch(&self, epoch: u64) -> Option<&FinalEpoch> {
        self.finalized.get(&epoch)
    }

    /// Final epochs from `from` on, ascending.
    pub fn finals_from(&self, from: u64) -> impl Iterator<Item = &FinalEpoch> + '_ {
        self.finalized.range(from..).map(|(_, f)| f)
    }

    /// The highest final epoch.
    pub fn last_final(&self) -> Option<u64> {
        self.finalized.keys().next_back().copied()
    }

    /// The vote a gateway cast on an epoch in a round.
    pub fn vote_of(&self, epoch: u64, round: u32, gateway: u64) -> Option<&SignedVote> {
        self.votes.get(&epoch).and_then(|v| v.get(&(round, gateway)))
    }

    /// The vote a gateway cast in its latest round on an epoch.
    pub fn last_vote_of(&self, epoch: u64, gateway: u64) -> Option<&SignedVote> {
        self.votes.get(&epoch)?.iter().rev().find(|((_, g), _)| *g == gateway).map(|(_, v)| v)
    }

    /// How often each gateway's vote (its last round on an epoch) named the outcome that
    /// became final, and how often another one, over every final epoch.
    pub fn agreement(&self) -> Vec<SeatAgreement> {
        let mut seats: BTreeMap<u64, SeatAgreement> = BTreeMap::new();
        for (epoch, final_epoch) in &self.finalized {
            for gateway in 0..self.size {
                let Some(vote) = self.last_vote_of(*epoch, gateway) else { continue };
                let seat = seats.entry(gateway).or_insert_with(|| SeatAgreement {
                    seat: gateway,
                    peer: self.members.get(&gateway).map(ToString::to_string),
                    agreed: 0,
                    disagreed: 0,
                });
                if vote.vote.block_hash == final_epoch.vote.block_hash {
                    seat.agreed += 1;
                } else {
                    seat.disagreed += 1;
                }
            }
        }
        seats.into_values().collect()
    }

    /// The highest epoch a gateway voted on.
    pub fn last_epoch_voted_by(&self, gateway: u64) -> Option<u64> {
        self.votes
            .iter()
            .rev()
            .find(|(_, votes)| votes.keys().any(|(_, g)| *g == gateway))
            .map(|(epoch, _)| *epoch)
    }

    /// The votes of one round on an epoch.
    pub fn round_votes(&self, epoch: u64, round: u32) -> Vec<&Vote> {
        self.votes
            .get(&epoch)
            .into_iter()
            .flat_map(|v| v.range((round, 0)..=(round, u64::MAX)))
            .map(|(_, v)| &v.vote)
            .collect()
    }

    /// Whether no outcome can reach a majority in this round any more, whatever the gateways
    /// that have not voted in it yet vote: the votes seen are split too widely. Votes are
    /// never taken back, so once true for one node's view it is true for everyone's.
    pub fn undecidable(&self, epoch: u64, round: u32) -> bool {
        let votes = self.round_votes(epoch, round);
        let mut counts: HashMap<B256, usize> = HashMap::new();
        for vote in &votes {
            *counts.entry(vote.outcome()).or_default() += 1;
        }
        let best = counts.values().copied().max().unwrap_or(0);
        let missing = (self.size as usize).saturating_sub(votes.len());
        best + missing < self.majority()
    }

    /// Epochs that have votes, from `from` on, ascending.
    pub fn voted_epochs_from(&self, from: u64) -> impl Iterator<Item = u64> + '_ {
        self.votes.range(from..).map(|(epoch, _)| *epoch)
    }

    /// Every vote on epochs from `from` on (for a peer that catches up), at most `limit`.
    pub fn votes_from(&self, from: u64, limit: usize) -> Vec<SignedVote> {
        self.votes.range(from..).flat_map(|(_, v)| v.values().cloned()).take(limit).collect()
    }

    /// An epoch's votes grouped by round and outcome.
    pub fn perspectives(&self, epoch: u64) -> Vec<Perspective> {
        let mut groups: BTreeMap<(u32, B256), Perspective> = BTreeMap::new();
        for signed in self.votes.get(&epoch).into_iter().flat_map(|v| v.values()) {
            let vote = &signed.vote;
            groups
                .entry((vote.round, vote.outcome()))
                .or_insert_with(|| Perspective {
                    round: vote.round,
                    block_hash: vote.block_hash,
                    state_root: vote.state_root,
                    gateways: Vec::new(),
                })
                .gateways
                .push(vote.gateway);
        }
        groups.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(epoch: u64, gateway: u64, hash: u8) -> Vote {
        Vote {
            epoch,
            round: 0,
            parent_epoch: None,
            block_hash: B256::repeat_byte(hash),
            state_root: B256::repeat_byte(hash),
            digests: vec![B256::repeat_byte(hash)],
            gateway,
            stamp: HlcStamp::default(),
        }
    }

    #[test]
    fn a_majority_of_the_same_outcome_is_final() {
        let keys: Vec<Keypair> = (0..5).map(|_| Keypair::generate_ed25519()).collect();
        let mut finality = Finality::new(5);
        let cast = |f: &mut Finality, g: u64, h: u8| {
            f.record(SignedVote::sign(vote(7, g, h), &keys[g as usize]).unwrap()).unwrap()
        };
        assert_eq!(cast(&mut finality, 0, 1), VoteOutcome::Counted);
        assert_eq!(cast(&mut finality, 1, 2), VoteOutcome::Counted);
        assert_eq!(cast(&mut finality, 2, 1), VoteOutcome::Counted);
        assert_eq!(cast(&mut finality, 3, 2), VoteOutcome::Counted);
        let VoteOutcome::Final(done) = cast(&mut finality, 4, 1) else { panic!("not final") };
        assert_eq!(done.voters, vec![0, 2, 4]);
        assert_eq!(done.vote.block_hash, B256::repeat_byte(1));
        assert_eq!(finality.perspectives(7).len(), 2);
        // A duplicate counts nothing; a second, different vote is an equivocation.
        assert_eq!(cast(&mut finality, 4, 1), VoteOutcome::Duplicate);
        let twice = SignedVote::sign(vote(7, 4, 2), &keys[4]).unwrap();
        assert_eq!(finality.record(twice), Err(VoteError::Equivocation { gateway: 4, epoch: 7 }));
    }

    #[test]
    fn forged_impostor_and_outsider_votes_are_refused() {
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let mut finality = Finality::new(3);
        let mut forged = SignedVote::sign(vote(1, 0, 1), &key).unwrap();
        forged.vote.block_hash = B256::repeat_byte(9);
        assert_eq!(finality.record(forged), Err(VoteError::BadSignature));
        finality.record(SignedVote::sign(vote(1, 0, 1), &key).unwrap()).unwrap();
        let impostor = SignedVote::sign(vote(2, 0, 1), &other).unwrap();
        assert!(matches!(finality.record(impostor), Err(VoteError::Impostor { .. })));
        let outsider = SignedVote::sign(vote(2, 3, 1), &other).unwrap();
        assert!(matches!(finality.record(outsider), Err(VoteError::NotMember { .. })));
    }
}
