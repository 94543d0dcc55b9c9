//! What the peer-to-peer records say: for each intent, who answered YES, who answered NO and
//! who stayed silent (the seeds' `derive_insights`), and for each peer its history. Derived from
//! [`P2pRecord`]s, the same way whether they are read back from the series or just appended.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;

use super::protocol::{Answer, P2pRecord};
use crate::{
    error::Result,
    intent::IntentId,
    series::{EntryBody, Series},
};

/// Every peer-to-peer record of a series, in order.
pub fn p2p_records(series: &dyn Series) -> Result<Vec<P2pRecord>> {
    let mut out = Vec::new();
    series.replay(&mut |entry| {
        if let EntryBody::P2p(record) = entry.body {
            out.push(record);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Most intents whose answers are kept in memory (older ones stay in the series only).
pub const MAX_TRACKED_INTENTS: usize = 100_000;

/// Who answered what to one intent this node declared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentInsight {
    /// The intent's app.
    pub app: String,
    /// Its kind.
    pub kind: String,
    /// The peers expected to answer.
    pub expected: Vec<String>,
    /// Peers that answered YES.
    pub yes: Vec<String>,
    /// Peers that answered NO, with the reason and retry-after (ms).
    pub no: Vec<NoAnswer>,
    /// Peers that stayed silent through the reply window.
    pub silence: Vec<String>,
    /// The seeds' derived figures: available (YES), congested (NO), unknown (silence).
    pub available_from: usize,
    /// Number of NO answers.
    pub congested: usize,
    /// Number of silences.
    pub unknown: usize,
}

/// One NO answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoAnswer {
    /// The peer.
    pub peer: String,
    /// Why.
    pub reason: String,
    /// When to try again, in milliseconds.
    pub retry_after_ms: u64,
}

/// One peer's history with this node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInsight {
    /// The peer id.
    pub peer: String,
    /// YES answers it gave to this node's intents.
    pub yes: u64,
    /// NO answers it gave.
    pub no: u64,
    /// Times it stayed silent.
    pub silence: u64,
    /// Intents it declared to this node.
    pub intents_received: u64,
    /// Messages of its that were refused (malformed, forged, oversized).
    pub refused: u64,
    /// The last refusal's reason.
    pub last_refusal: Option<String>,
}

/// The index of answers and peers.
#[derive(Debug, Default)]
pub struct Insights {
    intents: HashMap<IntentId, IntentInsight>,
    order: VecDeque<IntentId>,
    peers: BTreeMap<String, PeerInsight>,
}

impl IntentInsight {
    /// Drops a peer's earlier answer (or silence).
    fn forget(&mut self, peer: &str) {
        self.yes.retain(|p| p != peer);
        self.no.retain(|n| n.peer != peer);
        self.silence.retain(|p| p != peer);
    }

    fn count(&mut self) {
        self.available_from = self.yes.len();
        self.congested = self.no.len();
        self.unknown = self.silence.len();
    }
}

impl Insights {
    /// Takes one record into account.
    pub fn apply(&mut self, record: &P2pRecord) {
        match record {
            P2pRecord::IntentSent { id, app, kind, expected } => {
                if self.intents.len() >= MAX_TRACKED_INTENTS
                    && let Some(oldest) = self.order.pop_front()
                {
                    self.intents.remove(&oldest);
                }
                if !self.intents.contains_key(id) {
                    self.order.push_back(*id);
                }
                let entry = self.intents.entry(*id).or_default();
                entry.app = app.clone();
                entry.kind = kind.clone();
                entry.expected = expected.clone();
            }
            P2pRecord::IntentReceived { from, .. } => self.peer(from).intents_received += 1,
            P2pRecord::ReplyReceived { id, from, answer } => {
                // A peer's latest answer to an intent (declared again) replaces its earlier one.
                let intent = self.intents.entry(*id).or_default();
                intent.forget(from);
                match answer {
                    Answer::Yes { .. } => intent.yes.push(from.clone()),
                    Answer::No { reason, retry_after_ms } => intent.no.push(NoAnswer {
                        peer: from.clone(),
                        reason: reason.clone(),
                        retry_after_ms: *retry_after_ms,
                    }),
                }
                intent.count();
                let peer = self.peer(from);
                match answer {
                    Answer::Yes { .. } => peer.yes += 1,
                    Answer::No { .. } => peer.no += 1,
                }
            }
            P2pRecord::Silence { id, peer } => {
                let intent = self.intents.entry(*id).or_default();
                intent.forget(peer);
                intent.silence.push(peer.clone());
                intent.count();
                self.peer(peer).silence += 1;
            }
            P2pRecord::PeerRefused { peer, reason } => {
                let peer = self.peer(peer);
                peer.refused += 1;
                peer.last_refusal = Some(reason.clone());
            }
            P2pRecord::Answered { .. } | P2pRecord::StayedSilent { .. } => {}
        }
    }

    fn peer(&mut self, peer: &str) -> &mut PeerInsight {
        self.peers
            .entry(peer.to_string())
            .or_insert_with(|| PeerInsight { peer: peer.to_string(), ..Default::default() })
    }

    /// Who answered what to an intent this node declared.
    pub fn intent(&self, id: &IntentId) -> Option<IntentInsight> {
        self.intents.get(id).cloned()
    }

    /// Every peer this node has heard from or about.
    pub fn peers(&self) -> Vec<PeerInsight> {
        self.peers.values().cloned().collect()
    }

    /// One peer's history.
    pub fn peer_insight(&self, peer: &str) -> Option<PeerInsight> {
        self.peers.get(peer).cloned()
    }
}
