//! Intents: declarations an app makes to its peers ("execute this transaction", "I want chunk
//! X"). An intent is pushed, never awaited; replies, when peers send any, come back later as
//! series entries of their own.

use alloy_primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};

/// Content-derived identifier of an intent: the keccak-256 of its app, kind and payload.
pub type IntentId = B256;

/// A declaration pushed to peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The app the intent belongs to, e.g. `evm`.
    pub app: String,
    /// What is declared, e.g. `execute_eth_tx`.
    pub kind: String,
    /// The app-defined payload (for `execute_eth_tx`, the raw signed transaction).
    pub payload: Vec<u8>,
}

impl Intent {
    /// Creates an intent.
    pub fn new(app: impl Into<String>, kind: impl Into<String>, payload: Vec<u8>) -> Self {
        Self { app: app.into(), kind: kind.into(), payload }
    }

    /// The intent's content-derived id.
    pub fn id(&self) -> IntentId {
        let mut buf = Vec::with_capacity(self.app.len() + self.kind.len() + self.payload.len() + 2);
        buf.extend_from_slice(self.app.as_bytes());
        buf.push(0);
        buf.extend_from_slice(self.kind.as_bytes());
        buf.push(0);
        buf.extend_from_slice(&self.payload);
        keccak256(buf)
    }

    /// The record of this intent kept in the series. The payload itself is not repeated there:
    /// apps already store it in their own events, so the record names it by digest.
    pub fn record(&self) -> IntentRecord {
        IntentRecord {
            id: self.id(),
            app: self.app.clone(),
            kind: self.kind.clone(),
            payload_digest: keccak256(&self.payload),
            payload_len: self.payload.len() as u64,
        }
    }
}

/// What the series keeps of a pushed intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentRecord {
    /// The intent's id.
    pub id: IntentId,
    /// The app that pushed it.
    pub app: String,
    /// Its kind.
    pub kind: String,
    /// keccak-256 of its payload.
    pub payload_digest: B256,
    /// Length of its payload in bytes.
    pub payload_len: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_depends_on_every_field() {
        let a = Intent::new("evm", "execute_eth_tx", vec![1, 2, 3]);
        assert_ne!(a.id(), Intent::new("evm", "execute_eth_tx", vec![1, 2]).id());
        assert_ne!(a.id(), Intent::new("evm", "other", vec![1, 2, 3]).id());
        assert_ne!(a.id(), Intent::new("money", "execute_eth_tx", vec![1, 2, 3]).id());
        assert_eq!(a.record().payload_len, 3);
    }
}
