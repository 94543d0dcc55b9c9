//! The wire messages of the peer-to-peer layer and what the series keeps of them.

use serde::{Deserialize, Serialize};

use crate::{
    intent::{Intent, IntentId},
    order::{Envelope, HlcStamp},
};

/// A peer's answer to an intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// The peer will do it / has it; app-defined detail.
    Yes {
        /// App-defined detail (e.g. a state root).
        detail: Vec<u8>,
    },
    /// The peer has it but will not now (rate-limited, busy): try again later.
    No {
        /// Why.
        reason: String,
        /// When to try again, in milliseconds.
        retry_after_ms: u64,
    },
}

/// Details longer than this are kept in the series by digest only (chunk data, for one, lives
/// in the chunk store).
pub const MAX_RECORDED_DETAIL: usize = 64;

impl Answer {
    /// The answer as the series keeps it: a long YES detail is replaced by its keccak-256.
    pub fn recorded(&self) -> Self {
        match self {
            Self::Yes { detail } if detail.len() > MAX_RECORDED_DETAIL => {
                Self::Yes { detail: alloy_primitives::keccak256(detail).to_vec() }
            }
            other => other.clone(),
        }
    }
}

/// An intent as declared on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentMessage {
    /// The intent.
    pub intent: Intent,
    /// When the declaring node stamped it.
    pub stamp: HlcStamp,
}

/// A direct message from one peer to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direct {
    /// An answer to an intent the receiver declared.
    Reply {
        /// The intent answered.
        intent: IntentId,
        /// YES or NO.
        answer: Answer,
    },
    /// Catch-up: "I want the envelopes you hold from this epoch on".
    Pull(Pull),
    /// "Send me this chunk": sent to a peer that answered YES to a want.
    GetChunk(alloy_primitives::B256),
    /// "What is your index of this app's history?" (the chunks a new node syncs from).
    Index(String),
    /// An intent declared to this peer alone (to the providers of a chunk, say), not by
    /// gossip; answered like a gossiped one.
    Declare(IntentMessage),
}

/// A catch-up request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pull {
    /// The first epoch wanted.
    pub from_epoch: u64,
}

/// One page of a peer's ordering state: the envelopes of a range of epochs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Envelopes, by epoch ascending.
    pub envelopes: Vec<Envelope>,
    /// Where the next page starts, when this one was cut short.
    pub next_epoch: Option<u64>,
}

/// The response to a direct message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ack {
    /// Received (the answer to a `Reply`).
    Received,
    /// A page of what was pulled.
    Page(Page),
    /// A chunk's bytes (byte string on the wire).
    Chunk {
        /// The chunk asked for.
        id: alloy_primitives::B256,
        /// Its bytes.
        data: alloy_primitives::Bytes,
    },
    /// An app's history index (app-defined bytes).
    Index {
        /// The app.
        app: String,
        /// The index.
        data: alloy_primitives::Bytes,
    },
    /// The peer will not serve the pull now (rate-limited): try again later.
    Busy {
        /// When to try again, in milliseconds.
        retry_after_ms: u64,
    },
}

/// What the series keeps of the peer-to-peer layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum P2pRecord {
    /// This node declared an intent; `expected` are the peers subscribed at that moment.
    IntentSent {
        /// The intent.
        id: IntentId,
        /// Its app.
        app: String,
        /// Its kind.
        kind: String,
        /// Peers expected to answer or stay silent.
        expected: Vec<String>,
    },
    /// A peer declared an intent to this node.
    IntentReceived {
        /// The intent.
        id: IntentId,
        /// The declaring peer.
        from: String,
        /// Its app.
        app: String,
        /// Its kind.
        kind: String,
    },
    /// This node answered a peer's intent.
    Answered {
        /// The intent.
        id: IntentId,
        /// The declaring peer.
        to: String,
        /// The answer.
        answer: Answer,
    },
    /// This node chose to stay silent on a peer's intent.
    StayedSilent {
        /// The intent.
        id: IntentId,
        /// The declaring peer.
        to: String,
    },
    /// A peer answered one of this node's intents.
    ReplyReceived {
        /// The intent.
        id: IntentId,
        /// The answering peer.
        from: String,
        /// The answer.
        answer: Answer,
    },
    /// An expected peer did not answer within the reply window.
    Silence {
        /// The intent.
        id: IntentId,
        /// The silent peer.
        peer: String,
    },
    /// A peer sent something refused (malformed, oversized, forged): counted against it.
    PeerRefused {
        /// The peer.
        peer: String,
        /// What was wrong.
        reason: String,
    },
}
