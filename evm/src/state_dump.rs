//! State dumps in Anvil's format (`anvil_dumpState`, `anvil_loadState`, `--state`), so a dump
//! taken from one node loads into the other.
//!
//! The format is Anvil's `SerializableState`: every account (nonce, balance, code, storage).
//! Anvil also writes its block environment, best block number, blocks and transactions; they
//! are accepted on load and ignored (the accounts are the state), and not written, because
//! Anvil resolves them against its own chain. Over
//! JSON-RPC the JSON is gzip-compressed and hex-encoded; on disk (`--state`) it is plain JSON.

use std::{collections::BTreeMap, io::Read, sync::Arc};

use alloy_primitives::{Address, B256, Bytes, U256};
use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use revm::context::BlockEnv;
use serde::{Deserialize, Serialize};

use crate::{
    dev::{DevEvent, LoadedAccount},
    error::{EvmError, Result},
    events::EvmEvent,
    node::EvmNode,
};

/// Most bytes a decompressed state dump may have.
pub const MAX_STATE_DUMP_BYTES: u64 = 1 << 30;

/// One account of a dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpedAccount {
    /// Nonce.
    pub nonce: u64,
    /// Balance.
    pub balance: U256,
    /// Code.
    #[serde(default)]
    pub code: Bytes,
    /// Storage slots.
    #[serde(default)]
    pub storage: BTreeMap<B256, B256>,
}

/// A whole state dump (Anvil's `SerializableState`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDump {
    /// The head's block environment.
    #[serde(default)]
    pub block: Option<BlockEnv>,
    /// Every account.
    pub accounts: BTreeMap<Address, DumpedAccount>,
    /// The head's number.
    #[serde(default)]
    pub best_block_number: Option<u64>,
    /// Anvil's blocks (ignored on load; none are written).
    #[serde(default)]
    pub blocks: Vec<serde_json::Value>,
    /// Anvil's transactions (ignored on load; none are written).
    #[serde(default)]
    pub transactions: Vec<serde_json::Value>,
}

impl StateDump {
    /// Parses a dump given as JSON or gzip-compressed JSON.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let json = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            GzDecoder::new(bytes)
                .take(MAX_STATE_DUMP_BYTES)
                .read_to_end(&mut out)
                .map_err(|e| EvmError::InvalidParams(format!("invalid gzip state: {e}")))?;
            out
        } else {
            bytes.to_vec()
        };
        serde_json::from_slice(&json)
            .map_err(|e| EvmError::InvalidParams(format!("invalid state dump: {e}")))
    }

    /// Plain JSON.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| EvmError::Internal(e.to_string()))
    }

    /// Gzip-compressed JSON, as `anvil_dumpState` returns it.
    pub fn to_gzip(&self) -> Result<Vec<u8>> {
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&self.to_json()?).map_err(|e| EvmError::Internal(e.to_string()))?;
        encoder.finish().map_err(|e| EvmError::Internal(e.to_string()))
    }
}

impl EvmNode {
    /// The latest state as a dump.
    pub fn dump_state(&self) -> StateDump {
        self.with_chain(|chain| {
            let state = chain.state();
            let accounts = state
                .latest_accounts()
                .into_iter()
                .map(|(address, record)| {
                    let code = state
                        .code(record.code_hash)
                        .map(|c| c.original_bytes())
                        .unwrap_or_default();
                    let storage = state
                        .latest_storage(address)
                        .into_iter()
                        .map(|(slot, value)| (B256::from(slot), B256::from(value)))
                        .collect();
                    let account = DumpedAccount {
                        nonce: record.nonce,
                        balance: record.balance,
                        code,
                        storage,
                    };
                    (address, account)
                })
                .collect();
            StateDump {
                // Anvil resolves a block environment or best number against its own blocks
                // (which a dump does not carry), so a loadable dump gives the accounts only.
                block: None,
                accounts,
                best_block_number: None,
                blocks: Vec::new(),
                transactions: Vec::new(),
            }
        })
    }

    /// Writes a dump's accounts over the latest state (one series event). Refused in network
    /// mode before the dump is looked at (callers decoding raw bytes check
    /// [`EvmNode::refuse_in_network_mode`] before decompressing them).
    pub async fn load_state(self: &Arc<Self>, dump: StateDump) -> Result<()> {
        self.refuse_in_network_mode()?;
        let accounts = dump
            .accounts
            .into_iter()
            .map(|(address, account)| {
                revm::bytecode::Bytecode::new_raw_checked(account.code.clone()).map_err(|e| {
                    EvmError::InvalidParams(format!("invalid code for {address}: {e}"))
                })?;
                Ok(LoadedAccount {
                    address,
                    balance: account.balance,
                    nonce: account.nonce,
                    code: account.code,
                    storage: account
                        .storage
                        .into_iter()
                        .map(|(slot, value)| {
                            (U256::from_be_bytes(slot.0), U256::from_be_bytes(value.0))
                        })
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let event = EvmEvent::Dev(DevEvent::LoadAccounts(accounts));
        self.record(move |_, _| Ok((vec![event], ()))).await
    }
}
