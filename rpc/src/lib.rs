//! # iR³ JSON-RPC
//!
//! The Ethereum JSON-RPC surface of an iR³ node: the `eth_`, `net_`, `web3_` and `personal_`
//! namespaces and `eth_subscribe`, the dev-node namespaces (`anvil_`, `evm_`, `hardhat_`), and
//! the inspection namespaces (`txpool_`, `debug_`, `trace_`, `ots_`), and the foundation's
//! `ir3_` namespace, served by jsonrpsee over HTTP and WebSocket on one port.
//!
//! Each namespace is declared as a trait in [`api`] and implemented in its own module; every
//! handler delegates to the EVM app (`ir3-evm`). Errors become JSON-RPC error objects in one
//! place: [`error`]. This crate holds no chain logic. The node's web dashboard is served on the
//! same port by [`dashboard`].

pub mod api;
pub mod apps;
pub mod dashboard;
pub mod dev;
pub mod error;
pub mod eth;
pub mod filters;
pub mod inspect;
pub mod misc;
pub mod network;
pub mod param_errors;
pub mod params;
pub mod peer_apps;
pub mod pubsub;
pub mod server;
pub mod status;
pub mod storage;

pub use error::RpcError;
pub use server::{rpc_module, serve};
