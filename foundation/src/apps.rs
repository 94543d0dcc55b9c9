//! The seam between the ordering machinery and native apps (money, lending, …): an app's
//! signed operations travel as [`Envelope`]s through the same epochs and decided heights as the
//! EVM's transactions; the app checks envelopes of its own ([`EnvelopeCheck`]) and derives its
//! state from the epochs in order ([`OrderedLog`]). Nothing here knows what an app's payload
//! means.

use crate::order::Envelope;

/// The app name of the ordering machinery's own intents.
pub const ORDER_APP: &str = "order";

/// The intent kind under which a native app's envelope is declared to peers (app
/// [`ORDER_APP`]).
pub const ORDER_ENVELOPE: &str = "envelope";

/// How a validator's signatures compare with what was decided: the decided heights whose
/// commit certificate holds its precommit (reputation's agreement component).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatAgreement {
    /// The validator's seat (its index in the validator set).
    pub seat: u64,
    /// Its peer id.
    pub peer: Option<String>,
    /// Decided heights it precommitted.
    pub agreed: u64,
    /// Decided heights it is known to have voted against (not counted yet: a commit
    /// certificate holds only the precommits for the decided value).
    pub disagreed: u64,
}

/// What a node thinks of a peer's envelope of a native app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Well formed, signed, and valid against this node's current state.
    Valid,
    /// Well formed and signed, but it breaks a rule as of this node's state (answered NO with
    /// the reason; it is still ordered, and the app's reducer decides once it is in order).
    BreaksRule(String),
}

/// Checks envelopes of native apps arriving from peers.
pub trait EnvelopeCheck: Send + Sync + std::fmt::Debug {
    /// Whether this checks envelopes of `app`.
    fn handles(&self, app: &str) -> bool;

    /// Checks an envelope: `Err` when it is malformed or not signed by its account (refused,
    /// counted against the peer).
    fn check(&self, envelope: &Envelope) -> std::result::Result<Verdict, String>;
}

/// One epoch of native-app envelopes, in the order every node derives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEpoch {
    /// The epoch.
    pub epoch: u64,
    /// Its start, in milliseconds since the Unix epoch (the apps' clock).
    pub start_ms: u64,
    /// Whether the gateway set finalized it (its content can no longer change).
    pub is_final: bool,
    /// The native-app envelopes to apply, in order.
    pub envelopes: Vec<Envelope>,
    /// Envelopes that reused an account's sequence taken earlier in the epoch.
    pub conflicts: Vec<Envelope>,
}

/// Where native apps' envelopes are ordered: a gateway network's epochs, or a single node's
/// own log.
pub trait OrderedLog: Send + Sync + std::fmt::Debug {
    /// The epochs holding native-app envelopes from `from_epoch` on, in order; final ones
    /// first, then the tentative ones.
    fn app_epochs(&self, from_epoch: u64) -> Vec<AppEpoch>;

    /// Orders a signed envelope made on this node (stamped, recorded, declared to the peers):
    /// returns once it is recorded, never waiting on the network. It waits for the series'
    /// write: call it from a blocking context (`tokio::task::block_in_place`).
    fn submit(
        &self,
        app: &str,
        account: Vec<u8>,
        sequence: u64,
        payload: Vec<u8>,
    ) -> Result<(), String>;

    /// How each validator's precommits compare with the decided heights (none outside a
    /// network).
    fn agreement(&self) -> Vec<SeatAgreement> {
        Vec::new()
    }
}
