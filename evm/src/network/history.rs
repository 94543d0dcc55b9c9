//! History as chunks: decided heights cut into segments that every gateway holds and
//! announces, and that a node with an empty disk fetches from any provider (whoever answers
//! YES to its wants) and verifies by itself.
//!
//! A commit certificate is any set of precommits of more than ⅔ of the power, so two nodes may
//! hold different certificates for one height; segments therefore carry only what every node
//! holds alike — each height's parent and payload — and are cut every `segment_blocks`
//! heights (or at [`SEGMENT_TARGET_BYTES`]), so every gateway cuts the same chunks. The index
//! a provider offers carries the decided record of its last height *with* its certificate
//! ([`HistoryIndex::top`]). A syncing node checks that certificate (the binary's
//! [`DecisionVerifier`], over the engine's signatures and the validator set) and the parent
//! links of every height from the network identity up to the certified value: the values form
//! a hash chain, so a changed, missing or reordered height anywhere breaks it. An index whose
//! top does not verify, or whose segments do not link up, is dropped and the next provider's
//! is tried; nothing is applied before the whole chain checked out.

use std::{
    sync::{Arc, atomic::Ordering as AtomicOrdering},
    time::{Duration, Instant},
};

use alloy_primitives::{B256, keccak256};
use ir3_foundation::{
    bt::ChunkService,
    chunks::{ChunkId, MAX_CHUNK_SIZE, chunk_id},
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{DecidedHeight, Decision, Membership, NetworkState, ValidatorKey};
use crate::{error::Result, events::EVM_APP, node::EvmNode};

/// Default most heights in one history segment (`--segment-blocks`).
pub const SEGMENT_BLOCKS: u64 = 256;
/// A segment is cut once its encoding reaches this size (well under a chunk's limit).
pub const SEGMENT_TARGET_BYTES: usize = MAX_CHUNK_SIZE / 2;
/// Most segment wants in flight at once during a sync.
pub const MAX_SYNC_WANTS: usize = 64;
/// How often a syncing node declares again what it still misses.
pub const SYNC_ROUND: Duration = Duration::from_millis(300);
/// How long a new node waits for history indexes before it starts the engine without them.
pub const INDEX_WAIT: Duration = Duration::from_secs(3);

/// How long a sync waits for one provider's segments without progress before trying another.
pub const SEGMENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Most history indexes kept from distinct offers.
pub const MAX_OFFERS: usize = 16;

/// Checks decided heights against the network (the engine's signatures, the validator set).
pub trait DecisionVerifier: std::fmt::Debug + Send + Sync + 'static {
    /// The parent of height 1 (the network identity).
    fn genesis_parent(&self) -> B256;
    /// Whether the record's certificate is a valid commit of its value (`keccak(parent ‖
    /// payload)`) at its height by `validators` (the set deciding that height).
    fn verify(
        &self,
        record: &DecidedHeight,
        validators: &[ValidatorKey],
    ) -> std::result::Result<(), String>;
    /// The engine addresses of the validators whose precommits the record's certificate
    /// holds. Empty for a record without a certificate.
    fn signers(&self, _record: &DecidedHeight) -> Vec<Vec<u8>> {
        Vec::new()
    }
    /// The engine address of a validator key (what certificates name).
    fn address_of(&self, _key: &ValidatorKey) -> Vec<u8> {
        Vec::new()
    }
}

/// The list of a gateway's history segments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryIndex {
    /// The segments: chunk id and last height, in order.
    pub segments: Vec<(ChunkId, u64)>,
    /// The decided record of the last segment's last height, with its commit certificate
    /// (what a syncing node checks the whole chain of segments against).
    pub top: Option<DecidedHeight>,
}

/// A history sync in progress: the height it has verified up to and the one it syncs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncProgress {
    current: u64,
    highest: u64,
}

/// The history state of a gateway.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// The segments cut from this gateway's decided heights.
    pub(crate) own: HistoryIndex,
    /// The distinct indexes peers sent (bounded), tried longest first.
    pub(crate) offers: Vec<HistoryIndex>,
    /// The sync in progress.
    pub(crate) sync: Option<SyncProgress>,
}

/// One height in a segment: what every node holds alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentHeight {
    /// The height.
    pub height: u64,
    /// The previous height's value id.
    pub parent: B256,
    /// The value payload (an encoded [`Decision`]).
    pub payload: Vec<u8>,
}

impl SegmentHeight {
    /// The value id: `keccak(parent ‖ payload)` (the engine's definition).
    pub fn value_id(&self) -> B256 {
        value_id(self.parent, &self.payload)
    }
}

/// A height's value id: `keccak(parent ‖ payload)` (the engine's definition).
pub(crate) fn value_id(parent: B256, payload: &[u8]) -> B256 {
    let mut bytes = Vec::with_capacity(32 + payload.len());
    bytes.extend_from_slice(parent.as_slice());
    bytes.extend_from_slice(payload);
    keccak256(bytes)
}

/// Consecutive decided heights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeightSegment {
    /// The heights, ascending and contiguous.
    pub heights: Vec<SegmentHeight>,
}

impl EvmNode {
    /// Sets how decided heights from other nodes are checked.
    pub fn set_decision_verifier(&self, verifier: Arc<dyn DecisionVerifier>) {
        if let Some(network) = &self.network {
            let _ = network.verifier.set(verifier);
        }
    }

    /// Connects the node to the chunk service: its decided history is cut into segments.
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

    /// A peer's history index (every distinct one is kept, a bounded number).
    pub fn offer_index(&self, index: HistoryIndex) {
        if let Some(network) = &self.network {
            network.keep_offer(index);
        }
    }

    /// `(current, highest)` of a history sync in progress, in decided heights.
    pub fn sync_progress(&self) -> Option<(u64, u64)> {
        let network = self.network.as_ref()?;
        let sync = network.history.lock().sync?;
        Some((sync.current, sync.highest))
    }

    /// Whether this node started empty and syncs its history from chunks first (catch-up
    /// pulls and the engine wait until [`run_history_sync`] is done).
    pub fn needs_history(&self) -> bool {
        self.network.as_ref().is_some_and(|n| n.syncing.load(AtomicOrdering::Relaxed))
    }

    /// Cuts the decided heights not yet in a segment into segments, stored as chunks (and so
    /// announced to peers).
    pub(crate) fn cut_segments(&self) {
        let Some(network) = &self.network else { return };
        let Some(chunks) = network.chunks.get() else { return };
        let per_segment = network.options.segment_blocks.max(1) as usize;
        loop {
            let next_first = network.history.lock().own.segments.last().map_or(1, |(_, l)| l + 1);
            let (segment, top) = {
                let decided = network.decided.lock();
                let from = (next_first - 1) as usize;
                let mut heights = Vec::new();
                let mut size = 0;
                for record in decided.iter().skip(from).take(per_segment) {
                    size += record.payload.len() + 48;
                    heights.push(SegmentHeight {
                        height: record.height,
                        parent: record.parent,
                        payload: record.payload.clone(),
                    });
                    if size >= SEGMENT_TARGET_BYTES {
                        break;
                    }
                }
                // Only whole segments, so every gateway cuts at the same heights.
                if heights.is_empty()
                    || (heights.len() < per_segment && size < SEGMENT_TARGET_BYTES)
                {
                    return;
                }
                let last = heights.last().map_or(0, |h| h.height);
                (HeightSegment { heights }, decided.get((last - 1) as usize).cloned())
            };
            let Ok(bytes) = postcard::to_allocvec(&segment) else { return };
            let id = chunk_id(&bytes);
            if !matches!(chunks.store_chunk(&id, &bytes), Ok(Ok(_))) {
                warn!("history segment not stored");
                return;
            }
            let last = segment.heights.last().map_or(0, |h| h.height);
            let mut history = network.history.lock();
            history.own.segments.push((id, last));
            if top.as_ref().is_some_and(|t| !t.certificate.is_empty()) {
                history.own.top = top;
            }
        }
    }

    /// Applies heights fetched from history segments (already verified): recorded in one
    /// durable write and applied in order. The last one carries its certificate (from the
    /// index), the others none.
    fn apply_synced_heights(&self, records: Vec<DecidedHeight>) -> Result<()> {
        let count = records.len() as u64;
        self.record_and_apply(records)?;
        if let Some(network) = &self.network {
            network.history_heights.fetch_add(count, AtomicOrdering::Relaxed);
        }
        Ok(())
    }
}

/// Why an index was given up.
fn give_up(why: String) -> Option<Vec<DecidedHeight>> {
    warn!(%why, "history index refused; trying another provider");
    None
}

/// Fetches every segment of `index` and checks the chain of values up to its certified top;
/// returns the heights to apply, or `None` (logged) if the index does not hold up.
async fn fetch_and_verify(
    chunks: &ChunkService,
    verifier: &dyn DecisionVerifier,
    mut membership: Membership,
    index: &HistoryIndex,
    progress: impl Fn(u64),
) -> Option<Vec<DecidedHeight>> {
    let Some(top) = index.top.clone() else { return give_up("no certified top".into()) };
    let last = index.segments.last().map_or(0, |(_, l)| *l);
    if top.height != last {
        return give_up(format!("top {} is not the last height {last}", top.height));
    }
    // Fetch everything (the chunk layer checks each chunk against its id).
    let ids: Vec<ChunkId> = index.segments.iter().map(|(id, _)| *id).collect();
    let mut last_progress = Instant::now();
    let mut held = 0;
    loop {
        let missing: Vec<ChunkId> =
            ids.iter().filter(|id| chunks.store().get(id).is_none()).copied().collect();
        // Progress is logged before the loop ends, so the last line counts every segment.
        if ids.len() - missing.len() > held {
            held = ids.len() - missing.len();
            last_progress = Instant::now();
            progress(
                index
                    .segments
                    .iter()
                    .take_while(|(id, _)| !missing.contains(id))
                    .last()
                    .map_or(0, |(_, l)| *l),
            );
            let bytes: usize = ids
                .iter()
                .filter(|id| !missing.contains(id))
                .filter_map(|id| chunks.store().get(id))
                .map(|chunk| chunk.len())
                .sum();
            info!(chunks = format!("{held}/{}", ids.len()), bytes, "history sync");
        }
        if missing.is_empty() {
            break;
        }
        if last_progress.elapsed() > SEGMENT_TIMEOUT {
            return give_up(format!("{} segments not served in time", missing.len()));
        }
        let _ = chunks.push_wants(&missing[..missing.len().min(MAX_SYNC_WANTS)]);
        tokio::time::sleep(SYNC_ROUND).await;
    }
    // The hash chain from the network identity up to the certified value.
    let mut parent = verifier.genesis_parent();
    let mut records = Vec::new();
    for (id, segment_last) in &index.segments {
        let bytes = chunks.store().get(id)?;
        let Ok(segment) = postcard::from_bytes::<HeightSegment>(&bytes) else {
            return give_up("a segment does not decode".into());
        };
        for item in segment.heights {
            let expected = records.len() as u64 + 1;
            if item.height != expected || item.parent != parent {
                return give_up(format!("height {} does not link up", item.height));
            }
            parent = item.value_id();
            records.push(DecidedHeight {
                height: item.height,
                round: 0,
                parent: item.parent,
                payload: item.payload,
                certificate: Vec::new(),
            });
        }
        if records.len() as u64 != *segment_last {
            return give_up(format!("a segment does not end at height {segment_last}"));
        }
    }
    let Some((last_record, below)) = records.split_last_mut() else {
        return give_up("empty".into());
    };
    if last_record.parent != top.parent || last_record.payload != top.payload {
        return give_up("the segments do not lead to the certified value".into());
    }
    // The set that decided the top height follows from the membership changes below it.
    for record in below.iter() {
        if let Ok(decision) = Decision::decode(&record.payload) {
            membership.apply(record.height, &decision);
        }
    }
    if let Err(why) = verifier.verify(&top, membership.set_at(top.height)) {
        return give_up(format!("top certificate: {why}"));
    }
    *last_record = top;
    Some(records)
}

/// Syncs an empty node's decided history from chunks: the indexes offered by
/// peers, longest first, until one verifies; then hands over to the engine.
pub async fn run_history_sync(node: Arc<EvmNode>) {
    let Some(network) = node.network.as_ref() else { return };
    let (Some(p2p), Some(chunks)) = (network.p2p.get().cloned(), network.chunks.get().cloned())
    else {
        network.syncing.store(false, AtomicOrdering::Relaxed);
        return;
    };
    let Some(verifier) = network.verifier.get().cloned() else {
        network.syncing.store(false, AtomicOrdering::Relaxed);
        return;
    };
    let asked = Instant::now();
    while asked.elapsed() < INDEX_WAIT {
        p2p.request_index(EVM_APP);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (some, none) = {
            let history = network.history.lock();
            // Peers answered and hold nothing yet (a new network): nothing to sync.
            (
                history.offers.iter().any(|o| !o.segments.is_empty()),
                !history.offers.is_empty() && asked.elapsed() > Duration::from_secs(1),
            )
        };
        if some {
            // Give the other providers a moment to answer too.
            tokio::time::sleep(Duration::from_millis(300)).await;
            break;
        }
        if none {
            break;
        }
    }
    let mut offers = std::mem::take(&mut network.history.lock().offers);
    offers.retain(|o| !o.segments.is_empty());
    offers.sort_by_key(|o| std::cmp::Reverse(o.segments.len()));
    for index in offers {
        info!(segments = index.segments.len(), "syncing history from chunks");
        let highest = index.segments.last().map_or(0, |(_, last)| *last);
        let report =
            |current| network.history.lock().sync = Some(SyncProgress { current, highest });
        report(0);
        let membership =
            Membership::new(network.options.identity, network.options.validators.clone());
        let Some(records) =
            fetch_and_verify(&chunks, verifier.as_ref(), membership, &index, report).await
        else {
            continue;
        };
        let count = records.len();
        let applying = node.clone();
        match tokio::task::spawn_blocking(move || applying.apply_synced_heights(records)).await {
            Ok(Ok(())) => {
                info!(heights = count, "decided heights applied from chunks");
                network.history.lock().own = index;
                break;
            }
            _ => warn!("synced heights not applied"),
        }
    }
    network.history.lock().sync = None;
    network.syncing.store(false, AtomicOrdering::Relaxed);
}

impl NetworkState {
    /// Keeps a peer's history index (every distinct one, a bounded number).
    pub(crate) fn keep_offer(&self, index: HistoryIndex) {
        let mut history = self.history.lock();
        if history.offers.len() < MAX_OFFERS && !history.offers.contains(&index) {
            history.offers.push(index);
        }
    }
}

#[cfg(test)]
mod tests {
    //! A lying provider's index or segments are refused before anything is applied.

    use ir3_foundation::chunks::ChunkStore;

    use super::*;

    /// Stands in for the engine's certificate check (the real one is `ir3-consensus`'s,
    /// tested there): a certificate is valid when it reads `ok`.
    #[derive(Debug)]
    struct Fake;

    const IDENTITY: B256 = B256::repeat_byte(0x11);

    impl DecisionVerifier for Fake {
        fn genesis_parent(&self) -> B256 {
            IDENTITY
        }
        fn verify(
            &self,
            record: &DecidedHeight,
            _validators: &[ValidatorKey],
        ) -> std::result::Result<(), String> {
            (record.certificate == b"ok").then_some(()).ok_or_else(|| "bad certificate".into())
        }
    }

    /// Heights 1..=n linked from the identity, with distinct payloads.
    fn chain(n: u64) -> Vec<SegmentHeight> {
        let mut parent = IDENTITY;
        (1..=n)
            .map(|height| {
                let item = SegmentHeight { height, parent, payload: vec![height as u8; 3] };
                parent = item.value_id();
                item
            })
            .collect()
    }

    /// Stores the heights as segments of `per` and returns the index (top certified `ok`).
    fn index_of(chunks: &ChunkService, heights: &[SegmentHeight], per: usize) -> HistoryIndex {
        let mut segments = Vec::new();
        for part in heights.chunks(per) {
            let bytes = postcard::to_allocvec(&HeightSegment { heights: part.to_vec() }).unwrap();
            let id = chunk_id(&bytes);
            chunks.store_chunk(&id, &bytes).unwrap().unwrap();
            segments.push((id, part.last().unwrap().height));
        }
        let last = heights.last().unwrap();
        let top = DecidedHeight {
            height: last.height,
            round: 0,
            parent: last.parent,
            payload: last.payload.clone(),
            certificate: b"ok".to_vec(),
        };
        HistoryIndex { segments, top: Some(top) }
    }

    async fn fetch_and_verify_quietly(
        chunks: &ChunkService,
        index: &HistoryIndex,
    ) -> Option<Vec<DecidedHeight>> {
        fetch_and_verify(chunks, &Fake, Membership::new(IDENTITY, Vec::new()), index, |_| {}).await
    }

    #[tokio::test]
    async fn a_verified_chain_is_accepted_and_every_lie_is_refused() {
        let chunks = ChunkService::new(Arc::new(ChunkStore::in_memory(1 << 30)));
        let honest = chain(12);
        let index = index_of(&chunks, &honest, 4);
        let records = fetch_and_verify_quietly(&chunks, &index).await.expect("honest index");
        assert_eq!(records.len(), 12);
        assert!(records[..11].iter().all(|r| r.certificate.is_empty()));
        assert_eq!(records[11].certificate, b"ok");

        // A changed payload in the middle (stored under its own id, so the chunk checks out).
        let mut forged = honest.clone();
        forged[5].payload = vec![0xee; 3];
        let lying = index_of(&chunks, &forged, 4);
        let lying = HistoryIndex { top: index.top.clone(), ..lying };
        assert!(fetch_and_verify_quietly(&chunks, &lying).await.is_none(), "forged segment");

        // A consistent forged chain, re-linked all the way up, but no valid certificate.
        let mut parent = IDENTITY;
        let relinked: Vec<SegmentHeight> = forged
            .iter()
            .map(|h| {
                let item = SegmentHeight { parent, ..h.clone() };
                parent = item.value_id();
                item
            })
            .collect();
        let mut uncertified = index_of(&chunks, &relinked, 4);
        uncertified.top.as_mut().unwrap().certificate = b"forged".to_vec();
        assert!(fetch_and_verify_quietly(&chunks, &uncertified).await.is_none(), "bad top");

        // A certified top that is not the segments' last height, a missing top, a dropped
        // segment, a reordered pair of segments.
        let mut shifted = index.clone();
        shifted.top.as_mut().unwrap().height = 11;
        assert!(fetch_and_verify_quietly(&chunks, &shifted).await.is_none(), "top height");
        let bare = HistoryIndex { top: None, ..index.clone() };
        assert!(fetch_and_verify_quietly(&chunks, &bare).await.is_none(), "no top");
        let mut dropped = index.clone();
        dropped.segments.remove(1);
        assert!(fetch_and_verify_quietly(&chunks, &dropped).await.is_none(), "dropped segment");
        let mut reordered = index.clone();
        reordered.segments.swap(0, 1);
        assert!(fetch_and_verify_quietly(&chunks, &reordered).await.is_none(), "reordered");
    }
}
