//! The ordering state of a gateway: the epoch builder (envelopes → blocks), the votes of the
//! gateway set, and which final outcomes have been applied. A pure state machine: the same
//! envelopes and votes, fed in the same order, give the same state (replay relies on it), and
//! gateways fed the same sets converge on the same final chain.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use alloy_primitives::B256;
use ir3_foundation::{
    finality::{FinalEpoch, Finality, Perspective, SignedVote, Vote, VoteError, VoteOutcome},
    net::Page,
    order::{Envelope, HlcStamp},
};

use super::history::{Outcome, SegmentEpoch};
use crate::{
    block::StoredBlock,
    chain::{Chain, FinalityTags},
    epoch_chain::{Admitted, EpochBuilder},
};

/// Most envelopes in one catch-up page.
pub const MAX_PAGE_ENVELOPES: usize = 4096;
/// Most votes in one catch-up page.
pub const MAX_PAGE_VOTES: usize = 8192;

/// What applying votes or envelopes changed.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Blocks rebuilt (tentative tip).
    pub(crate) blocks: Vec<Arc<StoredBlock>>,
    /// Envelopes left out of final epochs (or stamped into one).
    pub(crate) late: Vec<Envelope>,
}

impl Applied {
    fn extend(&mut self, other: Applied) {
        self.blocks.extend(other.blocks);
        self.late.extend(other.late);
    }
}

/// The ordering state.
#[derive(Debug)]
pub(crate) struct Ordering {
    pub(crate) builder: EpochBuilder,
    pub(crate) finality: Finality,
    /// This gateway's number; `None` for an observer outside the gateway set.
    me: Option<u64>,
    epoch_ms: u64,
    grace_ms: u64,
    /// The last final epoch applied to the book.
    applied: Option<u64>,
    /// The last final epoch whose derived block matched the majority's.
    verified: Option<u64>,
    /// Set when a final outcome does not match what this gateway derives from its content.
    pub(crate) diverged: Option<String>,
    /// The epoch whose envelopes or votes are missing (where catch-up pulls start).
    pub(crate) wanted: Option<u64>,
    /// Final outcomes taken from history segments (a node that synced from chunks).
    checkpoints: BTreeMap<u64, Outcome>,
}

impl Ordering {
    pub(crate) fn new(epoch_ms: u64, grace_ms: u64, gateways: u64, me: Option<u64>) -> Self {
        Self {
            builder: EpochBuilder::new(epoch_ms),
            finality: Finality::new(gateways),
            me,
            epoch_ms: epoch_ms.max(1),
            grace_ms,
            applied: None,
            verified: None,
            diverged: None,
            wanted: None,
            checkpoints: BTreeMap::new(),
        }
    }

    /// The last final epoch applied.
    pub(crate) fn applied(&self) -> Option<u64> {
        self.applied
    }

    /// The first epoch not final yet.
    pub(crate) fn first_open_epoch(&self) -> u64 {
        let by_book = self.builder.book().final_through().map_or(0, |f| f + 1);
        let by_votes = self.finality.last_final().map_or(0, |f| f + 1);
        by_book.max(by_votes)
    }

    /// Where this gateway's catch-up pulls start.
    pub(crate) fn pull_from(&self) -> u64 {
        self.wanted.unwrap_or_else(|| self.applied.map_or(0, |a| a + 1))
    }

    /// Keeps what this gateway has not seen yet: envelopes not admitted already (nor stamped
    /// into a final epoch) and votes not counted already, each once.
    pub(crate) fn only_new(
        &self,
        envelopes: Vec<Envelope>,
        votes: Vec<SignedVote>,
    ) -> (Vec<Envelope>, Vec<SignedVote>) {
        let book = self.builder.book();
        let mut seen = std::collections::HashSet::new();
        let envelopes = envelopes
            .into_iter()
            .filter(|e| {
                let epoch = book.epoch_of(e.stamp);
                let digest = e.digest();
                !book.is_final(epoch)
                    && book.find_digest(epoch, &digest).is_none()
                    && seen.insert(digest)
            })
            .collect();
        let votes = votes
            .into_iter()
            .filter(|v| {
                self.finality.vote_of(v.vote.epoch, v.vote.round, v.vote.gateway).is_none()
                    && seen.insert(
                        v.vote.outcome() ^ B256::from(alloy_primitives::U256::from(v.vote.gateway)),
                    )
                    && v.verify().is_ok()
            })
            .collect();
        (envelopes, votes)
    }

    /// Admits envelopes and rebuilds `chain` (or only the book, during replay).
    pub(crate) fn admit(
        &mut self,
        chain: Option<&mut Chain>,
        envelopes: Vec<Envelope>,
    ) -> crate::Result<Applied> {
        // Envelopes a pending final outcome names by digest go in as they are, in place of any
        // other stamp of the same content held here.
        let required = self.required_digests();
        let (exact, envelopes): (Vec<Envelope>, Vec<Envelope>) =
            envelopes.into_iter().partition(|e| required.contains(&e.digest()));
        let completes = !exact.is_empty();
        let changed = if completes { self.builder.replace_unbuilt(exact) } else { None };
        let mut chain = chain;
        let rebuilt = match (chain.as_deref_mut(), changed) {
            (Some(chain), Some(epoch)) => self.builder.rebuild_from_epoch(chain, epoch),
            _ => Vec::new(),
        };
        let mut applied = match chain.as_deref_mut() {
            Some(chain) => {
                let Admitted { blocks, late } = self.builder.admit(chain, envelopes)?;
                Applied { blocks, late }
            }
            None => {
                let mut late = Vec::new();
                for envelope in envelopes {
                    if self.builder.admit_unbuilt(envelope.clone()) {
                        late.push(envelope);
                    }
                }
                Applied { blocks: Vec::new(), late }
            }
        };
        applied.blocks.splice(0..0, rebuilt);
        if completes || self.wanted.is_some() {
            // What a pending final outcome waited for may be here now.
            applied.extend(self.apply_finals(chain));
        }
        Ok(applied)
    }

    /// Digests named by final outcomes not applied yet (what this gateway waits for).
    fn required_digests(&self) -> HashSet<B256> {
        if self.wanted.is_none() {
            return HashSet::new();
        }
        let from = self.applied.map_or(0, |a| a + 1);
        self.finality.finals_from(from).flat_map(|f| f.vote.digests.iter().copied()).collect()
    }

    /// Counts a vote, then applies whatever became final.
    pub(crate) fn record_vote(
        &mut self,
        chain: Option<&mut Chain>,
        vote: SignedVote,
    ) -> Result<Applied, VoteError> {
        let outcome = self.finality.record(vote)?;
        match outcome {
            VoteOutcome::Final(_) => Ok(self.apply_finals(chain)),
            VoteOutcome::Counted | VoteOutcome::Duplicate => Ok(Applied::default()),
        }
    }

    /// Applies final outcomes in epoch order, as far as this gateway holds their envelopes
    /// and their parents are applied; then checks the rebuilt blocks against them.
    pub(crate) fn apply_finals(&mut self, mut chain: Option<&mut Chain>) -> Applied {
        let mut applied = Applied::default();
        let mut newly: Vec<FinalEpoch> = Vec::new();
        self.wanted = None;
        loop {
            let from = self.applied.map_or(0, |a| a + 1);
            let Some(next) = self.finality.finals_from(from).next().cloned() else { break };
            if let Some(parent) = next.vote.parent_epoch
                && parent >= from
            {
                // Its parent is final too but its votes have not reached us yet.
                self.wanted = Some(parent.min(self.wanted.unwrap_or(u64::MAX)));
                break;
            }
            let book = self.builder.book();
            let found: Vec<Option<Envelope>> = next
                .vote
                .digests
                .iter()
                .map(|d| book.find_digest(next.epoch, d).cloned())
                .collect();
            if found.iter().any(Option::is_none) {
                self.wanted = Some(next.epoch);
                break;
            }
            let envelopes: Vec<Envelope> = found.into_iter().flatten().collect();
            match chain.as_deref_mut() {
                Some(chain) => {
                    let (blocks, late) = self.builder.finalize(chain, next.epoch, envelopes);
                    applied.extend(Applied { blocks, late });
                }
                None => {
                    let late = self.builder.finalize_unbuilt(next.epoch, envelopes);
                    applied.late.extend(late);
                }
            }
            self.applied = Some(next.epoch);
            newly.push(next);
        }
        if chain.is_some() {
            for done in &newly {
                self.verify(done);
            }
        }
        applied
    }

    /// Applies a height decided by the BFT engine: each of its epochs, in order, takes exactly
    /// the decided envelopes (put in place of any other stamp of the same content held here)
    /// and becomes final, with every open epoch before it; the chain (when given) is rebuilt
    /// from the first epoch whose content changed. A decided block needs no check against a
    /// vote: it is derived from decided content only.
    pub(crate) fn apply_decision(
        &mut self,
        mut chain: Option<&mut Chain>,
        decision: &super::Decision,
    ) -> Applied {
        let mut applied = Applied::default();
        for item in &decision.epochs {
            if self.applied.is_some_and(|a| item.epoch <= a) {
                continue;
            }
            // Only what this gateway does not hold as decided changes the book (and the chain).
            let book = self.builder.book();
            let missing: Vec<Envelope> = item
                .envelopes
                .iter()
                .filter(|e| book.find_digest(item.epoch, &e.digest()).is_none())
                .cloned()
                .collect();
            let changed = self.builder.replace_unbuilt(missing);
            match chain.as_deref_mut() {
                Some(chain) => {
                    if let Some(epoch) = changed {
                        applied.blocks.extend(self.builder.rebuild_from_epoch(chain, epoch));
                    }
                    let (blocks, late) =
                        self.builder.finalize(chain, item.epoch, item.envelopes.clone());
                    applied.extend(Applied { blocks, late });
                }
                None => {
                    applied
                        .late
                        .extend(self.builder.finalize_unbuilt(item.epoch, item.envelopes.clone()));
                }
            }
            self.applied = Some(item.epoch);
            self.verified = Some(item.epoch);
        }
        applied
    }

    /// How many final outcomes came from history segments.
    pub(crate) fn checkpoint_count(&self) -> usize {
        self.checkpoints.len()
    }

    /// An epoch's final outcome: from the votes, or from a history segment.
    pub(crate) fn final_outcome(&self, epoch: u64) -> Option<Outcome> {
        if let Some(done) = self.finality.final_epoch(epoch) {
            return Some(Outcome::of_vote(&done.vote));
        }
        self.checkpoints.get(&epoch).cloned()
    }

    /// Applies final outcomes from history segments, in order, after the applied ones: their
    /// envelopes are admitted and fixed, the chain rebuilt (when given) and each block checked
    /// against its outcome's hash.
    pub(crate) fn apply_checkpoints(
        &mut self,
        mut chain: Option<&mut Chain>,
        epochs: Vec<SegmentEpoch>,
    ) -> Vec<Arc<StoredBlock>> {
        let mut applied = Vec::new();
        for item in epochs {
            let epoch = item.outcome.epoch;
            if self.applied.is_some_and(|a| epoch <= a) {
                continue;
            }
            for envelope in item.envelopes {
                self.builder.admit_unbuilt(envelope);
            }
            let book = self.builder.book();
            let envelopes: Vec<Envelope> = item
                .outcome
                .digests
                .iter()
                .filter_map(|d| book.find_digest(epoch, d).cloned())
                .collect();
            if envelopes.len() != item.outcome.digests.len() {
                self.diverged = Some(format!("history epoch {epoch} lacks envelopes"));
                break;
            }
            self.builder.finalize_unbuilt(epoch, envelopes);
            self.checkpoints.insert(epoch, item.outcome);
            self.applied = Some(epoch);
            applied.push(epoch);
        }
        let blocks = match (chain.as_deref_mut(), applied.first()) {
            (Some(chain), Some(first)) => self.builder.rebuild_from_epoch(chain, *first),
            _ => Vec::new(),
        };
        if chain.is_some() {
            for epoch in applied {
                self.verify_checkpoint(epoch);
            }
        }
        blocks
    }

    fn verify_checkpoint(&mut self, epoch: u64) {
        let Some(outcome) = self.checkpoints.get(&epoch) else { return };
        let derived = self.builder.block_of_epoch(epoch).map_or(B256::ZERO, |b| b.hash);
        if derived == outcome.block_hash {
            self.verified = Some(self.verified.map_or(epoch, |v| v.max(epoch)));
        } else if self.diverged.is_none() {
            self.diverged = Some(format!(
                "history epoch {epoch}: the segment says block {} but its content derives {derived}",
                outcome.block_hash
            ));
        }
    }

    /// Checks every applied final outcome against the blocks built (after replay).
    pub(crate) fn verify_all(&mut self) {
        let finals: Vec<FinalEpoch> = self
            .finality
            .finals_from(0)
            .take_while(|f| self.applied.is_some_and(|a| f.epoch <= a))
            .cloned()
            .collect();
        for done in &finals {
            self.verify(done);
        }
        let checkpoints: Vec<u64> = self.checkpoints.keys().copied().collect();
        for epoch in checkpoints {
            self.verify_checkpoint(epoch);
        }
    }

    fn verify(&mut self, done: &FinalEpoch) {
        let derived = self.builder.block_of_epoch(done.epoch).map_or(B256::ZERO, |b| b.hash);
        if derived == done.vote.block_hash {
            self.verified = Some(done.epoch);
        } else if self.diverged.is_none() {
            self.diverged = Some(format!(
                "epoch {}: the gateway set finalized block {} but this gateway derives {}",
                done.epoch, done.vote.block_hash, derived
            ));
        }
    }

    /// The vote this gateway should cast now, if any, on the first epoch after the applied
    /// ones that has content or votes (epochs are voted on one after another):
    /// - round 0 once the epoch is closed (`grace_ms` after its end), on the content held;
    /// - round `r + 1` once round `r` is proven undecidable, on the envelopes every vote of
    ///   round `r` held (the content here is cut down to them; what leaves is late).
    ///
    /// Returns the vote and what cutting the content changed.
    pub(crate) fn next_vote(
        &mut self,
        chain: Option<&mut Chain>,
        now_ms: u64,
        stamp: impl FnOnce() -> HlcStamp,
    ) -> Option<(Vote, Applied)> {
        let me = self.me?;
        let from = self.applied.map_or(0, |a| a + 1);
        if self.finality.finals_from(from).next().is_some() {
            // A final outcome waits for envelopes: vote after it applies.
            return None;
        }
        let by_content = self.builder.book().epochs_from(from).next();
        let by_votes = self.finality.voted_epochs_from(from).next();
        let epoch = match (by_content, by_votes) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        let mut round = 0;
        while self.finality.undecidable(epoch, round) {
            round += 1;
        }
        if self.finality.vote_of(epoch, round, me).is_some() {
            return None;
        }
        let mut applied = Applied::default();
        if round == 0 {
            let closes_at = (epoch + 1).saturating_mul(self.epoch_ms).saturating_add(self.grace_ms);
            if now_ms < closes_at {
                return None;
            }
        } else {
            let previous = self.finality.round_votes(epoch, round - 1);
            let mut keep: HashSet<B256> =
                previous.first().map(|v| v.digests.iter().copied().collect()).unwrap_or_default();
            for vote in &previous[1..] {
                let theirs: HashSet<B256> = vote.digests.iter().copied().collect();
                keep.retain(|d| theirs.contains(d));
            }
            let (blocks, late) = self.builder.restrict(chain, epoch, &keep);
            applied = Applied { blocks, late };
        }
        // A vote on a later epoch took this one as empty (it was unknown here then): vote it
        // empty, so that this gateway's votes never describe two chains that do not build on
        // each other (two majorities share a gateway; its votes agree).
        if self.finality.last_epoch_voted_by(me).is_some_and(|last| last > epoch) {
            let vote = Vote {
                epoch,
                round,
                parent_epoch: None,
                block_hash: B256::ZERO,
                state_root: B256::ZERO,
                digests: Vec::new(),
                gateway: me,
                stamp: stamp(),
            };
            return Some((vote, applied));
        }
        let block = self.builder.block_of_epoch(epoch);
        let vote = Vote {
            epoch,
            round,
            parent_epoch: self.builder.parent_epoch_of(epoch),
            block_hash: block.map_or(B256::ZERO, |b| b.hash),
            state_root: block.map_or(B256::ZERO, |b| b.state_root),
            digests: self.builder.book().digests_of(epoch),
            gateway: me,
            stamp: stamp(),
        };
        Some((vote, applied))
    }

    /// The block numbers of the `safe` and `finalized` tags.
    pub(crate) fn tags(&self) -> FinalityTags {
        let number_through = |epoch: Option<u64>| {
            epoch
                .and_then(|e| {
                    let last = self.builder.parent_epoch_of(e.saturating_add(1))?;
                    self.builder.block_of_epoch(last)
                })
                .map_or(0, |b| b.number)
        };
        let finalized = number_through(self.verified);
        let mut safe = finalized;
        if let Some(me) = self.me {
            let from = self.applied.map_or(0, |a| a + 1);
            for epoch in self.finality.voted_epochs_from(from).collect::<Vec<_>>() {
                let Some(mine) = self.finality.last_vote_of(epoch, me) else { break };
                let derived = self.builder.block_of_epoch(epoch).map_or(B256::ZERO, |b| b.hash);
                if derived != mine.vote.block_hash {
                    break;
                }
                safe = safe.max(number_through(Some(epoch)));
            }
        }
        FinalityTags { safe, finalized }
    }

    /// This gateway's derived block hash per open epoch (what it compares peers' votes with).
    pub(crate) fn open_outcomes(&self) -> Vec<(u64, B256)> {
        let from = self.applied.map_or(0, |a| a + 1);
        self.builder
            .built_epochs_from(from)
            .filter_map(|e| self.builder.block_of_epoch(e).map(|b| (e, b.hash)))
            .collect()
    }

    /// The votes on an epoch, grouped by outcome.
    pub(crate) fn perspectives(&self, epoch: u64) -> Vec<Perspective> {
        self.finality.perspectives(epoch)
    }

    /// A page of envelopes and votes from `from_epoch` on, cut at an epoch boundary.
    pub(crate) fn page(&self, from_epoch: u64) -> Page {
        let book = self.builder.book();
        let mut envelopes = Vec::new();
        let mut next_epoch = None;
        for epoch in book.epochs_from(from_epoch) {
            if envelopes.len() >= MAX_PAGE_ENVELOPES {
                next_epoch = Some(epoch);
                break;
            }
            envelopes.extend(book.envelopes_of(epoch).cloned());
        }
        let mut votes: Vec<SignedVote> = self.finality.votes_from(from_epoch, MAX_PAGE_VOTES);
        if let Some(cut) = next_epoch {
            votes.retain(|v| v.vote.epoch < cut);
        } else if votes.len() == MAX_PAGE_VOTES
            && let Some(last) = votes.last().map(|v| v.vote.epoch)
        {
            votes.retain(|v| v.vote.epoch < last);
            next_epoch = Some(last);
            envelopes.retain(|e| book.epoch_of(e.stamp) < last);
        }
        Page { envelopes, votes, next_epoch }
    }
}
