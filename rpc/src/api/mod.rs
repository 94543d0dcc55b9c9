//! The whole JSON-RPC surface, declared as jsonrpsee traits: one file per group of namespaces,
//! one trait per namespace, one doc line per method. The handlers that implement them live in
//! their own modules ([`crate::eth`], [`crate::dev`], [`crate::inspect`], [`crate::network`],
//! …) and delegate to the node; the server merges them in [`crate::server::rpc_module`].
//!
//! - [`eth`]: `eth_`, `eth_subscribe`, `net_`, `web3_`, `personal_`;
//! - [`dev`]: `anvil_` (and `hardhat_` aliases), `evm_`;
//! - [`inspect`]: `txpool_`, `debug_`, `trace_`, `ots_`;
//! - [`ir3`]: the `ir3_` namespace (network, node status, storage, native apps, peer apps).

pub mod dev;
pub mod eth;
pub mod inspect;
pub mod ir3;

pub use dev::{AnvilApiServer, EvmApiServer, TestingApiServer};
pub use eth::{
    AccountInfo, EthApiServer, EthPubSubApiServer, NetApiServer, PersonalApiServer, Web3ApiServer,
};
pub use inspect::{DebugApiServer, OtsApiServer, TraceApiServer, TxPoolApiServer};
pub use ir3::{
    AppsApiServer, DevAccount, Ir3ApiServer, LoanRequest, MintRequest, NodeInfo, OfferRequest,
    OpReceipt, PeerAppsApiServer, SeriesStatus, StatusApiServer, StorageApiServer, TransferRequest,
    ValidatorChangeRequest,
};
