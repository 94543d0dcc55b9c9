//! Shared pieces of the two benchmark programs of this crate: `ir3-bench` (ir3 against Anvil,
//! one node each) and `ir3-netbench` (five ir3 gateways in network mode).
//!
//! - [`rpc`]: a minimal HTTP/1.1 JSON-RPC client on one keep-alive connection;
//! - [`wallet`]: the dev mnemonic's signers and pre-signed EIP-1559 transfers;
//! - [`node`]: starting, probing and killing node processes;
//! - [`error`]: the error type of both programs.

pub mod error;
pub mod node;
pub mod rpc;
pub mod wallet;
