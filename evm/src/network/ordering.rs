//! The ordering state of a gateway: the epoch builder (envelopes → blocks) and how far the
//! decided heights have fixed it. A pure state machine: the same envelopes and decisions, fed
//! in the same order, give the same state (replay relies on it), and gateways fed the same
//! decisions hold the same final chain.

use std::sync::Arc;

use ir3_foundation::{net::Page, order::Envelope};

use crate::{
    block::StoredBlock,
    chain::{Chain, FinalityTags},
    epoch_chain::{Admitted, EpochBuilder},
};

/// Most envelopes in one catch-up page.
pub const MAX_PAGE_ENVELOPES: usize = 4096;

/// What applying envelopes or a decision changed.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Blocks rebuilt (tentative tip).
    pub(crate) blocks: Vec<Arc<StoredBlock>>,
    /// Envelopes left out of final epochs (or stamped into one).
    pub(crate) late: Vec<Envelope>,
}

impl Applied {
    pub(crate) fn extend(&mut self, other: Applied) {
        self.blocks.extend(other.blocks);
        self.late.extend(other.late);
    }
}

/// The ordering state.
#[derive(Debug)]
pub(crate) struct Ordering {
    pub(crate) builder: EpochBuilder,
    /// The last epoch a decided height made final.
    applied: Option<u64>,
}

impl Ordering {
    pub(crate) fn new(epoch_ms: u64) -> Self {
        Self { builder: EpochBuilder::new(epoch_ms), applied: None }
    }

    /// The last final epoch applied.
    pub(crate) fn applied(&self) -> Option<u64> {
        self.applied
    }

    /// The first epoch not final yet.
    pub(crate) fn first_open_epoch(&self) -> u64 {
        let by_book = self.builder.book().final_through().map_or(0, |f| f + 1);
        by_book.max(self.applied.map_or(0, |a| a + 1))
    }

    /// Where this gateway's catch-up pulls start: the open epochs' envelopes.
    pub(crate) fn pull_from(&self) -> u64 {
        self.applied.map_or(0, |a| a + 1)
    }

    /// Keeps the envelopes this gateway has not seen yet (not admitted already, nor stamped
    /// into a final epoch), each once.
    pub(crate) fn only_new(&self, envelopes: Vec<Envelope>) -> Vec<Envelope> {
        let book = self.builder.book();
        let mut seen = std::collections::HashSet::new();
        envelopes
            .into_iter()
            .filter(|e| {
                let epoch = book.epoch_of(e.stamp);
                let digest = e.digest();
                !book.is_final(epoch)
                    && book.find_digest(epoch, &digest).is_none()
                    && seen.insert(digest)
            })
            .collect()
    }

    /// Admits envelopes and rebuilds `chain` (or only the book, during replay).
    pub(crate) fn admit(
        &mut self,
        chain: Option<&mut Chain>,
        envelopes: Vec<Envelope>,
    ) -> crate::Result<Applied> {
        match chain {
            Some(chain) => {
                let Admitted { blocks, late } = self.builder.admit(chain, envelopes)?;
                Ok(Applied { blocks, late })
            }
            None => {
                let mut late = Vec::new();
                for envelope in envelopes {
                    if self.builder.admit_unbuilt(envelope.clone()) {
                        late.push(envelope);
                    }
                }
                Ok(Applied { blocks: Vec::new(), late })
            }
        }
    }

    /// Applies a height decided by the BFT engine: each of its epochs, in order, takes exactly
    /// the decided envelopes (put in place of any other stamp of the same content held here)
    /// and becomes final, with every open epoch before it; the chain (when given) is rebuilt
    /// from the first epoch whose content changed. A decided block needs no further check: it
    /// is derived from decided content only.
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
        }
        applied
    }

    /// The block numbers of the `safe` and `finalized` tags: both the last block of the
    /// decided epochs (a decided height is final; nothing is safe short of that).
    pub(crate) fn tags(&self) -> FinalityTags {
        let finalized = self
            .applied
            .and_then(|e| {
                let last = self.builder.parent_epoch_of(e.saturating_add(1))?;
                self.builder.block_of_epoch(last)
            })
            .map_or(0, |b| b.number);
        FinalityTags { safe: finalized, finalized }
    }

    /// A page of envelopes from `from_epoch` on, cut at an epoch boundary.
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
        Page { envelopes, next_epoch }
    }
}
