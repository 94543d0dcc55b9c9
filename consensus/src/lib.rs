//! iR³ network-mode agreement on the [Malachite] BFT engine (Tendermint in Rust).
//!
//! - [`NetworkFile`] and [`KeyFile`]: the configured identity of a network — chain genesis,
//!   the validators' Ed25519 public keys and the engine parameters — and each gateway's private
//!   key. The file's hash ([`NetworkFile::identity`]) names the network and is mixed into every
//!   signature.
//! - [`ConsensusNode`]: starts a Malachite node for one validator (Malachite's channel app with
//!   its own libp2p network), asks the caller's [`ValueSource`] for the payload to propose when
//!   this validator leads a round, and yields every decided height, in order, as [`Decided`]
//!   (height, value, commit certificate).
//! - [`Ir3Context`] and its types: a height's [`Value`] is `(parent, payload)`, the parent being
//!   the previous decided value's id, so a decision commits to the whole chain before it.
//!
//! The design and how iR³'s gateways map onto it are in `docs/CONSENSUS.md`.
//!
//! [Malachite]: https://github.com/circlefin/malachite

mod app;
pub mod codec;
pub mod context;
mod engine;
mod error;
#[cfg(test)]
mod loopback_tests;
pub mod network_file;
pub mod signing;

pub use codec::{DecidedRecord, RawCertificate};
pub use context::{Address, Height, Ir3Context, Validator, ValidatorSet, Value, ValueId};
pub use engine::{ConsensusNode, Decided, Misbehaviour, NodeOptions, ValueSource, network_tag};
pub use error::{ConsensusError, Result};
pub use network_file::{EngineParams, KeyFile, NetworkFile, ValidatorEntry};
pub use signing::{Ir3Signer, Ir3Verifier};

/// Malachite's commit certificate for iR³'s context.
pub type CommitCertificate =
    malachitebft_app_channel::app::types::core::CommitCertificate<Ir3Context>;
