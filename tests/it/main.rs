//! End-to-end tests: the real `ir3` binary driven by real clients (cast, forge, viem, ethers,
//! and raw HTTP for what Metamask and hostile callers send).

mod anvil;
mod apps;
mod clients;
mod dashboard;
mod dev_refusals;
mod dev_tools;
mod durability;
mod fork_init_state;
mod fork_slow;
mod membership;
mod network;
mod partition;
mod rpc_compat;
mod rpc_surface;
mod schedule;
mod storage;
mod sync;
mod tracing;
mod tx_types;
mod utils;
