//! # iR³ EVM app
//!
//! The Ethereum gateway app of iR³: revm execution, block building, the transaction pool, fee
//! rules, and the chain state derived from the foundation's series (accounts, code, storage,
//! blocks, receipts and logs, at every height).
//!
//! It is not the JSON-RPC server (that is `ir3-rpc`) and it holds no network code: locally
//! executed transactions are pushed as `execute_eth_tx` intents into the foundation's outbox.

pub mod accounts;
pub mod block;
pub mod build;
pub mod call;
#[cfg(test)]
mod call_tests;
pub mod chain;
pub mod cheats;
pub mod config;
pub mod dev;
pub mod epoch_chain;
pub mod error;
pub mod events;
pub mod execute;
mod fees;
pub mod filters;
pub mod fork;
pub mod fork_config;
pub mod genesis;
pub mod import;
#[cfg(test)]
mod import_tests;
pub mod network;
pub mod node;
pub mod otterscan;
pub mod pool;
pub mod proof;
pub mod queries;
pub mod raw;
pub mod replay;
#[cfg(test)]
mod replay_tests;
mod resume;
#[cfg(test)]
mod rollback_tests;
pub mod schedule;
pub mod simulate;
pub mod state;
pub mod state_dump;
pub mod submit;
#[cfg(test)]
mod test_node;
pub mod trace;

pub use accounts::DevAccounts;
pub use block::{SignedTx, StoredBlock};
pub use config::ChainConfig;
pub use dev::MiningMode;
pub use error::{EvmError, Result};
pub use node::{EvmNode, NodeOptions};
pub use state::StateStore;
