//! Shared pieces of the three benchmark programs of this crate: `ir3-bench` (ir3 against
//! Anvil, one node each), `ir3-netbench` (five ir3 gateways in network mode) and
//! `ir3-syncbench` (history sync and storage throughput).
//!
//! - [`rpc`]: a minimal HTTP/1.1 JSON-RPC client on one keep-alive connection;
//! - [`wallet`]: the dev mnemonic's signers and pre-signed EIP-1559 transfers;
//! - [`node`]: starting, probing and killing node processes, the programs' `main` and the
//!   host's CPU model;
//! - [`cluster`]: ir3 gateways and observers in network mode on loopback, the full mesh,
//!   network status and the nodes' WARN/ERROR lines;
//! - [`figures`]: figures of ir3 and Anvil side by side, aligned text tables, JSON, percentiles;
//! - [`error`]: the error type of all programs.

pub mod cluster;
pub mod error;
pub mod figures;
pub mod node;
pub mod rpc;
pub mod wallet;
