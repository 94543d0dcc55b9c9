//! # iR³ native apps
//!
//! Small state machines on the foundation, each following the seeds' pattern: a signed
//! operation is pushed, ordered (a gateway network's epochs and finality, or a single node's
//! own log — [`OrderedLog`]), appended to the series, and the call returns at once; peers
//! answer YES, or NO with the reason when it breaks a rule as they see it; every node derives
//! the same state from the same ordered operations ([`NativeState`]).
//!
//! - [`money`]: currencies with an issuer, mints and transfers;
//! - [`lending`]: loans in a money currency, with interest and a deadline; defaults derived;
//! - [`reputation`]: a score per peer derived from its answers, precommits and refused messages;
//! - [`peer`] apps, between peers rather than in the ordered log: messaging, territory
//!   (reputation-weighted observations) and compute (a pure function run on several peers).
//!
//! Layers: this crate stands on `ir3-foundation` only; the EVM gateway carries its envelopes
//! through the same ordering, and `ir3-rpc` serves it as `ir3_money_*`, `ir3_lending_*`.

pub mod error;
pub mod lending;
pub mod local;
pub mod money;
pub mod op;
pub mod peer;
pub mod peer_api;
pub mod reputation;
pub mod state;

use std::{collections::BTreeSet, sync::Arc};

use alloy_primitives::{Address, B256};
use ir3_foundation::{
    apps::{EnvelopeCheck, OrderedLog, Verdict},
    order::Envelope,
};
use parking_lot::{Mutex, RwLock};

pub use error::{AppError, Result};
pub use local::LocalLog;
pub use op::{Op, SignedOp, account_of};
pub use state::{NativeState, Outcome};

/// Every native app this crate has.
pub const NATIVE_APPS: &[&str] = &[
    money::MONEY_APP,
    lending::LENDING_APP,
    reputation::REPUTATION_APP,
    peer::TERRITORY_APP,
    peer::COMPUTE_APP,
    peer::MESSAGING_APP,
];

/// The native apps of a node: their ordering, and the state derived from it.
#[derive(Debug)]
pub struct NativeApps {
    log: Arc<dyn OrderedLog>,
    enabled: BTreeSet<String>,
    /// The state of the final epochs, and the first epoch not in it.
    finals: Mutex<(Arc<NativeState>, u64)>,
    /// The last state read (for peers' envelopes: checked without touching the ordering).
    last: RwLock<Arc<NativeState>>,
}

impl NativeApps {
    /// The apps in `enabled` (of [`NATIVE_APPS`]) over an ordering.
    pub fn new(log: Arc<dyn OrderedLog>, enabled: impl IntoIterator<Item = String>) -> Arc<Self> {
        Arc::new(Self {
            log,
            enabled: enabled.into_iter().collect(),
            finals: Mutex::new((Arc::new(NativeState::default()), 0)),
            last: RwLock::new(Arc::new(NativeState::default())),
        })
    }

    /// Whether `app` is enabled here.
    pub fn is_enabled(&self, app: &str) -> bool {
        self.enabled.contains(app)
    }

    /// The state now: final epochs and the tentative ones after them.
    pub fn view(&self) -> Arc<NativeState> {
        let mut finals = self.finals.lock();
        let mut tentative = None;
        for epoch in self.log.app_epochs(finals.1) {
            if epoch.is_final && tentative.is_none() {
                Arc::make_mut(&mut finals.0).apply_epoch(
                    epoch.epoch,
                    epoch.start_ms,
                    true,
                    &epoch.envelopes,
                    &epoch.conflicts,
                );
                finals.1 = epoch.epoch + 1;
            } else {
                let state = tentative.get_or_insert_with(|| NativeState::clone(&finals.0));
                state.apply_epoch(
                    epoch.epoch,
                    epoch.start_ms,
                    false,
                    &epoch.envelopes,
                    &epoch.conflicts,
                );
            }
        }
        // Without tentative epochs the final state is the view: shared, not copied.
        let view = tentative.map_or_else(|| finals.0.clone(), Arc::new);
        *self.last.write() = view.clone();
        view
    }

    /// The state as of the end of `epoch` (history: balances at any point).
    pub fn state_at(&self, epoch: u64) -> NativeState {
        let mut state = NativeState::default();
        for e in self.log.app_epochs(0).into_iter().take_while(|e| e.epoch <= epoch) {
            state.apply_epoch(e.epoch, e.start_ms, e.is_final, &e.envelopes, &e.conflicts);
        }
        state
    }

    /// Checks a signed operation against the current state and orders it; returns its id.
    /// A bad signature, a malformed field, a sequence that is not the next or a broken rule is
    /// an error and leaves no trace.
    pub fn submit(&self, signed: SignedOp) -> Result<B256> {
        let op = signed.verify()?;
        if !self.is_enabled(&op.app) {
            return Err(AppError::Disabled(op.app));
        }
        self.view().dry_run(&op)?;
        self.log
            .submit(&op.app, account_of(op.from), op.seq, signed.encode())
            .map_err(AppError::Ordering)?;
        Ok(op.id)
    }

    /// How each validator's precommits compare with the decided heights.
    pub fn agreement(&self) -> Vec<ir3_foundation::apps::SeatAgreement> {
        self.log.agreement()
    }

    /// The next sequence of `account` (for signing its next operation).
    pub fn next_seq(&self, account: Address) -> u64 {
        self.view().next_seq(account)
    }
}

/// The apps whose operations are ordered (the others live between peers).
pub const ORDERED_APPS: &[&str] = &[money::MONEY_APP, lending::LENDING_APP];

impl EnvelopeCheck for NativeApps {
    /// Every ordered app, enabled here or not: the gateway set must order the same envelopes
    /// whatever each node serves (`--apps` only decides what this node accepts from clients).
    fn handles(&self, app: &str) -> bool {
        ORDERED_APPS.contains(&app)
    }

    fn check(&self, envelope: &Envelope) -> std::result::Result<Verdict, String> {
        let op = state::check_envelope(envelope).map_err(|e| e.to_string())?;
        let last = self.last.read().clone();
        Ok(match last.dry_run(&op) {
            Ok(()) => Verdict::Valid,
            Err(error) => Verdict::BreaksRule(error.to_string()),
        })
    }
}
#[cfg(test)]
mod tests;
