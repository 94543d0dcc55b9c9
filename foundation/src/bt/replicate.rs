//! Replication of the chunks a client stores: each is offered (`bt/offer_chunk`, declared
//! directly to chosen peers) until `replication` nodes hold it, this one included. A peer that
//! takes the offer answers YES (and fetches the bytes from the offerer) or NO when its storage
//! budget is spent; one that already holds it answers YES without fetching.
//!
//! Choosing peers: the connected peers that are not holders and did not decline, by XOR
//! distance between the hash of their peer id and the chunk id — the same order on every
//! node, so two holders that both see a copy missing offer it to the same peer — rarest chunks
//! (fewest holders) first, at most [`MAX_OFFERS_PER_ROUND`] per round.
//!
//! Holders stay holders while they are connected and confirm it: every [`HOLDER_CHECK`] each
//! is offered the chunk again (a holder answers YES at once); one disconnected, or silent for
//! [`HOLDER_EXPIRY`], is dropped, and the missing copy is made on another peer. A peer that
//! accepted an offer keeps the copies too (it knows the offerer holds one), so the copies
//! outlive the node the chunk was stored on. The tracking lives in memory: a restarted node
//! answers YES to offers of what it holds, and so is a holder again for its peers.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use alloy_primitives::keccak256;

use super::{BT_APP, ChunkService, OFFER_CHUNK};
use crate::{
    chunks::ChunkId,
    intent::Intent,
    net::{P2pHandle, PeerId},
    order::{HlcStamp, now_ms},
};

/// How often the holders of a copy are asked to confirm they still hold it.
pub const HOLDER_CHECK: Duration = Duration::from_secs(10);
/// A holder that has not confirmed its copy for this long is dropped (and replaced).
pub const HOLDER_EXPIRY: Duration = Duration::from_secs(35);
/// How long an offer to new peers waits for their answers before the next one.
pub const OFFER_WAIT: Duration = Duration::from_secs(3);
/// Most offers declared in one replication round (the rest wait for the next round).
pub const MAX_OFFERS_PER_ROUND: usize = 512;

/// The copies of one chunk this node keeps in the network.
#[derive(Debug)]
pub(super) struct Replica {
    /// Peers that said YES to holding it, and when they last did.
    holders: HashMap<PeerId, Instant>,
    /// Peers that said NO (budget spent) since the last check.
    declined: HashSet<PeerId>,
    /// When the holders were last asked to confirm.
    checked: Instant,
    /// Offers made while short of copies (turns the choice past silent peers).
    turns: usize,
    /// When it was last offered to new peers.
    offered: Option<Instant>,
}

impl Replica {
    fn new() -> Self {
        Self {
            holders: HashMap::new(),
            declined: HashSet::new(),
            checked: Instant::now(),
            turns: 0,
            offered: None,
        }
    }

    /// The holders' peer ids, sorted.
    pub(super) fn holder_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.holders.keys().map(ToString::to_string).collect();
        names.sort();
        names
    }
}

/// Peers ordered by XOR distance of their id's hash to the chunk id.
fn by_distance(id: &ChunkId, mut peers: Vec<PeerId>) -> Vec<PeerId> {
    peers.sort_by_cached_key(|peer| keccak256(peer.to_bytes()) ^ *id);
    peers
}

impl ChunkService {
    /// Starts keeping copies of a chunk held here (`from`: the peer that offered it, a holder).
    pub(super) fn keep_copies(&self, id: ChunkId, from: Option<PeerId>) {
        if self.config.replication <= 1 {
            return;
        }
        {
            let mut replicas = self.replicas.lock();
            let replica = replicas.entry(id).or_insert_with(Replica::new);
            if let Some(peer) = from {
                replica.holders.insert(peer, Instant::now());
            }
        }
        self.replicate_chunks(Some(id));
    }

    /// A peer answered an offer: YES, it holds a copy; NO, it will not take one now.
    pub(super) fn on_offer_answer(&self, id: &ChunkId, from: PeerId, yes: bool) {
        let mut replicas = self.replicas.lock();
        let Some(replica) = replicas.get_mut(id) else { return };
        if yes {
            replica.holders.insert(from, Instant::now());
            replica.declined.remove(&from);
        } else {
            replica.declined.insert(from);
        }
    }

    /// Peers confirmed holding a copy of a chunk this node keeps copies of.
    pub fn copies_of(&self, id: &ChunkId) -> usize {
        self.replicas.lock().get(id).map_or(0, |r| r.holders.len())
    }

    /// One round, each [`REPLICATION_ROUND`](super::REPLICATION_ROUND): drops lost holders,
    /// offers chunks short of copies to new peers (rarest first), asks holders to confirm, and
    /// declares again every want still open (a fetch that failed, a YES that never came).
    pub fn replicate(&self) {
        self.replicate_chunks(None);
        let open: Vec<ChunkId> = {
            let mut wants = self.wants.lock();
            let store = &self.store;
            wants.by_intent.retain(|_, id| !store.has(id));
            wants.fetching.retain(|_, (_, since)| since.elapsed() < super::FETCH_TIMEOUT);
            wants.by_intent.values().copied().collect()
        };
        let _ = self.push_wants(&open);
    }

    /// Plans and sends offers, for one chunk or all.
    fn replicate_chunks(&self, only: Option<ChunkId>) {
        let Some(p2p) = self.p2p.get() else { return };
        let plan = self.plan_offers(p2p, only);
        for (id, peers) in plan {
            let intent = Intent::new(BT_APP, OFFER_CHUNK, id.to_vec());
            self.offers.lock().insert(intent.id(), id);
            let stamp = HlcStamp { wall_ms: now_ms(), logical: 0 };
            let _ = p2p.push_intent_to(intent, stamp, peers);
        }
    }

    /// Which peers each chunk is offered to this round.
    fn plan_offers(&self, p2p: &P2pHandle, only: Option<ChunkId>) -> Vec<(ChunkId, Vec<PeerId>)> {
        let connected = p2p.connected_now();
        let now = Instant::now();
        let wanted = self.config.replication.saturating_sub(1);
        let mut replicas = self.replicas.lock();
        let mut ids: Vec<(usize, ChunkId)> = Vec::new();
        for (id, replica) in replicas.iter_mut() {
            if only.is_some_and(|o| o != *id) {
                continue;
            }
            replica.holders.retain(|peer, seen| {
                connected.binary_search(peer).is_ok() && now.duration_since(*seen) < HOLDER_EXPIRY
            });
            ids.push((replica.holders.len(), *id));
        }
        // Rarest first.
        ids.sort();
        let mut plan = Vec::new();
        for (holders, id) in ids {
            if plan.len() >= MAX_OFFERS_PER_ROUND {
                break;
            }
            let Some(replica) = replicas.get_mut(&id) else { continue };
            if now.duration_since(replica.checked) >= HOLDER_CHECK {
                replica.checked = now;
                replica.declined.clear();
                if holders > 0 {
                    plan.push((id, replica.holders.keys().copied().collect()));
                }
            }
            let needed = wanted.saturating_sub(holders);
            if needed == 0 || replica.offered.is_some_and(|at| now.duration_since(at) < OFFER_WAIT)
            {
                continue;
            }
            let candidates: Vec<PeerId> = connected
                .iter()
                .filter(|p| !replica.holders.contains_key(p) && !replica.declined.contains(p))
                .copied()
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let candidates = by_distance(&id, candidates);
            let start = replica.turns % candidates.len();
            replica.turns += 1;
            replica.offered = Some(now);
            let chosen = candidates.iter().cycle().skip(start).take(needed.min(candidates.len()));
            plan.push((id, chosen.copied().collect()));
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node ranks the candidates for a chunk the same way, whatever order it lists them
    /// in, and different chunks spread over different peers.
    #[test]
    fn candidates_rank_the_same_everywhere() {
        let peers: Vec<PeerId> = (0..8).map(|_| PeerId::random()).collect();
        let id = keccak256(b"chunk");
        let mut shuffled = peers.clone();
        shuffled.reverse();
        shuffled.swap(1, 5);
        assert_eq!(by_distance(&id, peers.clone()), by_distance(&id, shuffled));
        let firsts: HashSet<PeerId> =
            (0..64u8).map(|i| by_distance(&keccak256([i]), peers.clone())[0]).collect();
        assert!(firsts.len() > 1, "every chunk went to the same peer");
    }
}
