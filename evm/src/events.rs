//! The EVM app's facts, as kept in the series (postcard-encoded inside
//! [`EntryBody::App`](ir3_foundation::EntryBody::App) with app name [`EVM_APP`]).

use alloy_primitives::{Address, B256, Bytes};
use ir3_foundation::{EntryBody, FoundationError};
use serde::{Deserialize, Serialize};

use crate::{
    config::ChainConfig,
    dev::DevEvent,
    error::{EvmError, Result},
};

/// The app name under which EVM events are stored.
pub const EVM_APP: &str = "evm";
/// The intent kind pushed for every locally executed transaction.
pub const EXECUTE_ETH_TX: &str = "execute_eth_tx";

/// The block context a block ran in: everything besides its transactions that execution
/// depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockContext {
    /// Block number.
    pub number: u64,
    /// Block timestamp (seconds).
    pub timestamp: u64,
    /// Base fee per gas.
    pub base_fee: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Fee recipient.
    pub coinbase: Address,
    /// The `prevrandao` value (mix hash).
    pub prevrandao: B256,
}

/// One EVM fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvmEvent {
    /// The chain was created with this configuration, as series written before fork
    /// schedules recorded it.
    LegacyGenesis(crate::config::LegacyChainConfig),
    /// A transaction was accepted into the pool without being mined yet (future nonce, or
    /// mining off). Replay puts it back in the pool unless a later block included it.
    TxPooled {
        /// EIP-2718 encoding of the signed transaction.
        raw: Bytes,
    },
    /// A transaction was executed in the block being sealed, as series written before
    /// [`EvmEvent::TxExecuted`] recorded the sender: replay recovers it from the signature.
    LegacyTxExecuted {
        /// The block it ran in.
        block: u64,
        /// Its index in that block.
        index: u32,
        /// EIP-2718 encoding of the signed transaction.
        raw: Bytes,
    },
    /// A block was sealed, as series written before [`EvmEvent::BlockSealed`] recorded the
    /// state root: replay computes every such block's root to check its hash.
    LegacyBlockSealed {
        /// The context it ran in.
        context: BlockContext,
        /// Number of transactions in it.
        tx_count: u32,
        /// Its hash, checked again on replay.
        hash: B256,
    },
    /// Pooled transactions were dropped (replaced by a higher-fee one, or evicted).
    TxDropped {
        /// Hashes of the dropped transactions.
        hashes: Vec<B256>,
    },
    /// Like `TxExecuted`, for a transaction sent from an impersonated account: its sender
    /// cannot be recovered from its (placeholder) signature, so it is recorded.
    TxExecutedAs {
        /// The block it ran in.
        block: u64,
        /// Its index in that block.
        index: u32,
        /// EIP-2718 encoding of the transaction with its placeholder signature.
        raw: Bytes,
        /// The impersonated sender.
        sender: Address,
    },
    /// Like `TxPooled`, for a transaction sent from an impersonated account.
    TxPooledAs {
        /// EIP-2718 encoding of the transaction with its placeholder signature.
        raw: Bytes,
        /// The impersonated sender.
        sender: Address,
    },
    /// A dev-mode change: state cheat, setting, snapshot, revert or reset.
    Dev(DevEvent),
    /// Network mode: a transaction envelope admitted (stamped here or received from a peer).
    /// Blocks are derived from the envelopes, not recorded.
    Envelope(ir3_foundation::order::Envelope),
    /// Retired: a vote of the hand-made vote counting that network mode ran on before the BFT
    /// engine. Kept so that the variants after it keep their tags; a series that holds one is
    /// refused at replay with a clear error.
    RetiredVote,
    /// Retired: an epoch outcome from the old mode's history segments (see `RetiredVote`).
    RetiredCheckpoint,
    /// A block was sealed. Its transactions are the `TxExecuted` events just before it.
    /// (Appended last: the variant's position is its tag in the series.)
    BlockSealed {
        /// The context it ran in.
        context: BlockContext,
        /// Number of transactions in it.
        tx_count: u32,
        /// Its hash, checked again on replay.
        hash: B256,
        /// Its state root. A replay checks each block's hash against a header carrying this
        /// root, and the root itself each time the state is flushed and at the end (as reth's
        /// pipeline checks roots per batch): a rebuild does not compute every block's root.
        state_root: B256,
    },
    /// A transaction was executed in the block being sealed. (Appended last: the variant's
    /// position is its tag in the series.)
    TxExecuted {
        /// The block it ran in.
        block: u64,
        /// Its index in that block.
        index: u32,
        /// EIP-2718 encoding of the signed transaction.
        raw: Bytes,
        /// The signer, recovered when the transaction was accepted. Replay takes it from here
        /// rather than recovering it again (the costliest step of a rebuild); a wrong sender
        /// would change the state, which the block's recorded state root checks.
        sender: Address,
    },
    /// Network mode with the BFT engine: a decided height, recorded before the engine is told
    /// it is stored; its decision is applied right after. (Appended last: the variant's
    /// position is its tag in the series.)
    Decided(crate::network::DecidedHeight),
    /// The chain was created with this configuration. Always the first EVM event. (Appended
    /// last: the variant's position is its tag in the series.)
    Genesis(ChainConfig),
    /// A block of an RLP chain file (`--import`), executed and checked against its header
    /// before this was written. Replay executes and checks it again.
    BlockImported {
        /// The block's RLP encoding (header, transactions, ommers, withdrawals).
        raw: Bytes,
    },
}

impl EvmEvent {
    /// Wraps the event into a series entry body.
    pub fn to_body(&self) -> Result<EntryBody> {
        let payload = postcard::to_allocvec(self)
            .map_err(|e| EvmError::Series(FoundationError::Encode(e.to_string())))?;
        Ok(EntryBody::App { app: EVM_APP.to_string(), payload })
    }

    /// Decodes an EVM event from a series entry body; `None` for other apps' entries.
    pub fn from_body(body: &EntryBody) -> Option<Result<Self>> {
        match body {
            EntryBody::App { app, payload } if app == EVM_APP => Some(Self::decode(payload)),
            _ => None,
        }
    }

    /// Decodes an EVM event from an `evm` entry's payload.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        postcard::from_bytes(payload)
            .map_err(|e| EvmError::Internal(format!("undecodable evm event: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_entry_bodies() {
        let event = EvmEvent::TxExecuted {
            block: 7,
            index: 2,
            raw: Bytes::from(vec![2, 3]),
            sender: Address::repeat_byte(1),
        };
        let body = event.to_body().unwrap();
        assert_eq!(EvmEvent::from_body(&body).unwrap().unwrap(), event);
        let other = EntryBody::App { app: "money".into(), payload: vec![] };
        assert!(EvmEvent::from_body(&other).is_none());
    }
}
