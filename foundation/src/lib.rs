//! # iR³ foundation
//!
//! The layer every iR³ app stands on. It holds:
//!
//! - the [`series`]: each node's durable, append-only event log. Every fact an app learns is
//!   appended to it, and every piece of app state is derived from it by replay;
//! - the [`intent`] types and the [`outbox`] through which apps declare intents to peers, fire and
//!   forget (pure flux: pushing never waits on a network);
//! - the [`order`]ing machinery: hybrid-logical-clock stamps, epochs, and a deterministic total
//!   order of any app's signed intents, so gateways that saw the same intents agree;
//! - the peer-to-peer layer, [`net`] (rust-libp2p): intents declared over gossipsub, YES/NO
//!   answers sent directly, silences recorded, catch-up pulls between peers.
//!
//! - [`chunks`] and [`bt`]: content-addressed chunks, wants, offers and replication;
//! - [`apps`]: the seam through which native apps' signed operations ride the same ordering.
//!
//! It knows nothing about Ethereum: apps (the EVM gateway first) store their own events as opaque
//! payloads tagged with the app's name.

pub mod apps;
pub mod bt;
pub mod chunks;
pub mod error;
pub mod intent;
pub mod net;
pub mod order;
pub mod outbox;
pub mod series;

pub use error::{FoundationError, Result};
pub use intent::{Intent, IntentId, IntentRecord};
pub use outbox::{DEFAULT_OUTBOX_CAPACITY, Outbox};
pub use series::{
    Entry, EntryBody, MemorySeries, RawEntry, Seq, Series, SeriesConfig, SeriesHandle, SeriesLog,
    append, append_blocking,
};
