//! Finalized history as chunks: every gateway cuts its finalized blocks into *segments* — for
//! each block's epoch, its final outcome and exact envelopes — in a deterministic way (same
//! finalized chain, same cut points, same bytes), so every gateway holds and announces the same
//! chunks and a new node can fetch each one from whoever answers YES.
//!
//! A node started with an empty data directory asks a peer for the history index (the list of
//! segment ids), declares wants for the segments (at most [`MAX_SYNC_WANTS`] at a time), checks
//! each arriving chunk against its id (the chunk layer does), and applies the segments in order:
//! their envelopes and outcomes are recorded in its series and its chain is rebuilt from them;
//! every block must hash to the outcome's block hash. The rest (and the proof that the tip is
//! the one the gateway set signed) comes from the normal catch-up pulls: the next signed
//! majority vote builds on the last segment's block, so a forged segment makes the chain
//! diverge from the votes and is reported.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::Ordering as AtomicOrdering},
    time::{Duration, Instant},
};

use alloy_primitives::B256;
use ir3_foundation::{
    append_blocking,
    bt::ChunkService,
    chunks::{ChunkId, MAX_CHUNK_SIZE, chunk_id},
    order::Envelope,
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::NetworkState;
use crate::{
    error::{EvmError, Result},
    events::{EVM_APP, EvmEvent},
    node::EvmNode,
};

/// Default most blocks in one history segment (`--segment-blocks`).
pub const SEGMENT_BLOCKS: u64 = 256;
/// A segment is cut once its encoding reaches this size (well under a chunk's limit).
pub const SEGMENT_TARGET_BYTES: usize = MAX_CHUNK_SIZE / 2;
/// Most segment wants in flight at once during a sync.
pub const MAX_SYNC_WANTS: usize = 64;
/// How often a syncing node declares again what it still misses.
pub const SYNC_ROUND: Duration = Duration::from_millis(300);
/// How long a new node waits for a history index before catching up by pulls alone.
pub const INDEX_WAIT: Duration = Duration::from_secs(3);

/// An epoch's final outcome, as history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The epoch.
    pub epoch: u64,
    /// The voting round it was decided in.
    pub round: u32,
    /// The epoch of its parent block.
    pub parent_epoch: Option<u64>,
    /// Its block's hash.
    pub block_hash: B256,
    /// Its block's state root.
    pub state_root: B256,
    /// Digests of its envelopes, ascending.
    pub digests: Vec<B256>,
}

impl Outcome {
    /// The outcome a final vote stands for.
    pub fn of_vote(vote: &ir3_foundation::finality::Vote) -> Self {
        Self {
            epoch: vote.epoch,
            round: vote.round,
            parent_epoch: vote.parent_epoch,
            block_hash: vote.block_hash,
            state_root: vote.state_root,
            digests: vote.digests.clone(),
        }
    }
}

/// One epoch of a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEpoch {
    /// The final outcome.
    pub outcome: Outcome,
    /// The envelopes, by digest ascending.
    pub envelopes: Vec<Envelope>,
}

/// Consecutive finalized blocks of history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The first block.
    pub first_block: u64,
    /// The last block.
    pub last_block: u64,
    /// The epochs that derived them, in order.
    pub epochs: Vec<SegmentEpoch>,
}

/// The list of a gateway's history segments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryIndex {
    /// The segments: chunk id and last block (engine mode: last height), in order.
    pub segments: Vec<(ChunkId, u64)>,
    /// Engine mode: the decided record of the last segment's last height, with its commit
    /// certificate (what a syncing node checks the whole chain of segments against).
    pub top: Option<super::DecidedHeight>,
}

/// A history sync in progress.
#[derive(Debug, Clone)]
pub(crate) struct SyncProgress {
    index: HistoryIndex,
    applied: usize,
    bytes: u64,
    started: Instant,
}

/// The history state of a gateway.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// The segments cut from this gateway's finalized chain.
    pub(crate) own: HistoryIndex,
    /// The longest index a peer sent.
    pub(crate) offered: Option<HistoryIndex>,
    /// Engine mode: the distinct indexes peers sent (bounded), tried longest first.
    pub(crate) offers: Vec<HistoryIndex>,
    /// The sync in progress.
    pub(crate) sync: Option<SyncProgress>,
}

impl NetworkState {
    /// The chunk service (set when the node joins a network).
    fn chunks(&self) -> Option<&Arc<ChunkService>> {
        self.chunks.get()
    }
}

impl EvmNode {
    /// Connects the node to the chunk service: its finalized history is cut into segments.
    pub fn attach_chunks(&self, chunks: Arc<ChunkService>) {
        if let Some(network) = &self.network {
            let _ = network.chunks.set(chunks);
        }
        self.cut_segments();
    }

    /// The history index this node serves.
    pub fn history_index(&self) -> Option<HistoryIndex> {
        self.network.as_ref().map(|n| n.history.lock().own.clone())
    }

    /// A peer's history index (kept if longer than any before).
    pub fn offer_index(&self, index: HistoryIndex) {
        let Some(network) = &self.network else { return };
        if network.options.engine {
            return network.keep_offer(index);
        }
        let mut history = network.history.lock();
        let longer =
            history.offered.as_ref().is_none_or(|o| o.segments.len() < index.segments.len());
        if longer {
            history.offered = Some(index);
        }
    }

    /// `(current, highest)` block of a history sync in progress.
    pub fn sync_progress(&self) -> Option<(u64, u64)> {
        let network = self.network.as_ref()?;
        let history = network.history.lock();
        let sync = history.sync.as_ref()?;
        let highest = sync.index.segments.last().map_or(0, |(_, last)| *last);
        Some((self.with_chain(|c| c.head_number()), highest))
    }

    /// Cuts the finalized blocks not yet in a segment into segments and stores them as chunks
    /// (announced to peers).
    pub(crate) fn cut_segments(&self) {
        let Some(network) = &self.network else { return };
        let Some(chunks) = network.chunks() else { return };
        if network.options.engine {
            return self.cut_height_segments(network, chunks);
        }
        let per_segment = network.options.segment_blocks.max(1);
        loop {
            let (finalized, next_first) = {
                let chain = self.chain.read();
                let history = network.history.lock();
                let next = history.own.segments.last().map_or(1, |(_, last)| last + 1);
                (chain.finality_tags().finalized, next)
            };
            if finalized < next_first {
                return;
            }
            let segment = {
                let order = network.order.lock();
                let mut epochs = Vec::new();
                let mut size = 0;
                let mut last_block = next_first - 1;
                let blocks = order.builder.blocks_numbered(next_first, finalized);
                for (epoch, block) in blocks {
                    let Some(outcome) = order.final_outcome(epoch) else { break };
                    let mut envelopes: Vec<Envelope> =
                        order.builder.book().envelopes_of(epoch).cloned().collect();
                    envelopes.sort_by_cached_key(Envelope::digest);
                    let item = SegmentEpoch { outcome, envelopes };
                    size += postcard::to_allocvec(&item).map_or(0, |b| b.len());
                    epochs.push(item);
                    last_block = block.number;
                    if size >= SEGMENT_TARGET_BYTES || last_block + 1 - next_first >= per_segment {
                        break;
                    }
                }
                // Only whole segments: the last one waits until it is full, so every gateway
                // cuts at the same blocks.
                let full =
                    size >= SEGMENT_TARGET_BYTES || last_block + 1 - next_first >= per_segment;
                if epochs.is_empty() || !full {
                    return;
                }
                Segment { first_block: next_first, last_block, epochs }
            };
            let Ok(bytes) = postcard::to_allocvec(&segment) else { return };
            let id = chunk_id(&bytes);
            match chunks.store_chunk(&id, &bytes) {
                Ok(Ok(_)) => {}
                Ok(Err(refusal)) => {
                    warn!(%refusal, "history segment not stored");
                    return;
                }
                Err(error) => {
                    warn!(%error, "history segment not stored");
                    return;
                }
            }
            network.history.lock().own.segments.push((id, segment.last_block));
        }
    }

    /// Whether this node started empty and syncs its history from chunks first (catch-up
    /// pulls and votes wait until [`run_history_sync`] is done).
    pub fn needs_history(&self) -> bool {
        self.network.as_ref().is_some_and(|n| n.syncing.load(AtomicOrdering::Relaxed))
    }

    /// Applies one segment: records its envelopes and outcomes, rebuilds, checks every block.
    fn apply_segment(&self, segment: Segment) -> Result<()> {
        let network = self.network.as_ref().ok_or(EvmError::ShuttingDown)?;
        let _mutation = self.mutation.lock();
        let mut bodies = Vec::new();
        for item in &segment.epochs {
            for envelope in &item.envelopes {
                bodies.push(EvmEvent::Envelope(envelope.clone()).to_body()?);
            }
            bodies.push(EvmEvent::Checkpoint(item.outcome.clone()).to_body()?);
        }
        append_blocking(&*self.series, bodies)?;
        let blocks = {
            let mut chain = self.chain.write();
            let mut order = network.order.lock();
            let blocks = order.apply_checkpoints(Some(&mut chain), segment.epochs);
            chain.set_finality_tags(order.tags());
            // The catch-up pulls that follow the sync start after the segments' epochs (not at
            // the epoch the node started with: that re-fetched the whole history as pages).
            self.refresh_outcomes(network, &order);
            if let Some(reason) = &order.diverged {
                return Err(EvmError::Internal(format!("history segment rejected: {reason}")));
            }
            blocks
        };
        for block in blocks {
            let _ = self.new_blocks.send(block);
        }
        Ok(())
    }
}

/// Syncs a new node's history from chunks, then hands over to the catch-up pulls.
pub async fn run_history_sync(node: Arc<EvmNode>) {
    let Some(network) = node.network.as_ref() else { return };
    let (Some(p2p), Some(chunks)) = (network.p2p.get().cloned(), network.chunks().cloned()) else {
        network.syncing.store(false, AtomicOrdering::Relaxed);
        return;
    };
    if network.options.engine {
        return super::height_history::run_height_sync(node.clone(), p2p, chunks).await;
    }
    let asked = Instant::now();
    let index = loop {
        if let Some(index) = network.history.lock().offered.clone() {
            break Some(index);
        }
        if asked.elapsed() > INDEX_WAIT {
            break None;
        }
        p2p.request_index(EVM_APP);
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let Some(index) = index.filter(|i| !i.segments.is_empty()) else {
        network.syncing.store(false, AtomicOrdering::Relaxed);
        return;
    };
    info!(segments = index.segments.len(), "syncing history from chunks");
    network.history.lock().sync =
        Some(SyncProgress { index: index.clone(), applied: 0, bytes: 0, started: Instant::now() });
    let mut next = 0;
    let mut fetched: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    while next < index.segments.len() {
        let window = index.segments.iter().enumerate().skip(next).take(MAX_SYNC_WANTS);
        let mut missing = Vec::new();
        for (i, (id, _)) in window {
            if fetched.contains_key(&i) {
                continue;
            }
            match chunks.store().get(id) {
                Some(bytes) => {
                    fetched.insert(i, bytes);
                }
                None => missing.push(*id),
            }
        }
        // Rarest first within the window; the chunks arrive in any order and are applied in
        // order.
        let _ = chunks.push_wants(&missing);
        while let Some(bytes) = fetched.remove(&next) {
            let segment: Segment = match postcard::from_bytes(&bytes) {
                Ok(segment) => segment,
                Err(error) => {
                    warn!(%error, "history segment does not decode; catching up by pulls");
                    network.syncing.store(false, AtomicOrdering::Relaxed);
                    return;
                }
            };
            let applying = node.clone();
            let applied =
                tokio::task::spawn_blocking(move || applying.apply_segment(segment)).await;
            if !matches!(applied, Ok(Ok(()))) {
                warn!("history segment not applied; catching up by pulls");
                network.history.lock().sync = None;
                network.syncing.store(false, AtomicOrdering::Relaxed);
                p2p.pull_now();
                return;
            }
            next += 1;
            let mut history = network.history.lock();
            if let Some(sync) = history.sync.as_mut() {
                sync.applied = next;
                sync.bytes += bytes.len() as u64;
                let elapsed = sync.started.elapsed().as_secs_f64().max(0.001);
                let rate = sync.bytes as f64 / elapsed;
                let eta = elapsed / next as f64 * (index.segments.len() - next) as f64;
                info!(
                    chunks = format!("{next}/{}", index.segments.len()),
                    bytes = sync.bytes,
                    rate = format!("{:.0} B/s", rate),
                    eta = format!("{eta:.1} s"),
                    "history sync"
                );
            }
        }
        if next < index.segments.len() {
            tokio::time::sleep(SYNC_ROUND).await;
        }
    }
    {
        // The segments applied are this node's own now (they are cut deterministically, so
        // cutting them again would give the same chunks): only later blocks are still to cut,
        // and they are cut before the sync is reported over.
        let mut history = network.history.lock();
        history.own = index;
        history.sync = None;
    }
    node.cut_segments();
    network.syncing.store(false, AtomicOrdering::Relaxed);
    p2p.pull_now();
}
