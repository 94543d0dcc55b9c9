//! The native apps' state, derived from ordered envelopes: one reducer over every native
//! app's operations in epoch order, so an operation of one app sees the effects of the others
//! (lending moves money).
//!
//! Rules common to all apps: the envelope's payload is a [`SignedOp`] whose signature
//! recovers to its `from`, its ordering account is `from`'s ([`account_of`]) and its sequence
//! is `seq`; `seq` must be the account's next (an operation out of sequence is refused and
//! does not use the sequence); an operation that breaks its app's rule is recorded as rejected
//! and uses the sequence (as a reverted transaction uses its nonce). Two operations with the
//! same account and sequence in one epoch: the first in order is applied, the other is a
//! conflict.

use std::collections::HashMap;

use alloy_primitives::{Address, B256};
use ir3_foundation::order::Envelope;
use serde::Serialize;

use crate::{
    error::{AppError, Result},
    lending::{LENDING_APP, Lending},
    money::{MONEY_APP, Money},
    op::{Op, SignedOp, account_of},
};

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The app.
    pub app: String,
    /// The operation.
    pub op: String,
    /// The signer.
    pub from: Address,
    /// Its sequence.
    pub seq: u64,
    /// `<op>_accepted`, `<op>_rejected`, or `conflict` (another operation took the sequence).
    pub status: String,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The epoch it was ordered in.
    pub epoch: u64,
    /// Whether that epoch is final.
    pub is_final: bool,
}

/// Every native app's state.
#[derive(Debug, Clone, Default)]
pub struct NativeState {
    /// Next sequence per account.
    next_seq: HashMap<Address, u64>,
    /// Outcome per operation id.
    outcomes: HashMap<B256, Outcome>,
    /// The money app.
    pub money: Money,
    /// The lending app.
    pub lending: Lending,
    /// The start of the last epoch applied (the apps' clock).
    pub now_ms: u64,
}

/// Checks an envelope carries a signed operation of its account and sequence; returns the op.
pub fn check_envelope(envelope: &Envelope) -> Result<Op> {
    let signed = SignedOp::decode(&envelope.payload)?;
    let op = signed.verify()?;
    if op.app != envelope.app {
        return Err(AppError::Invalid(format!(
            "envelope of app {} carries an operation of {}",
            envelope.app, op.app
        )));
    }
    if envelope.account != account_of(op.from) || envelope.sequence != op.seq {
        return Err(AppError::Invalid("envelope does not match its operation".into()));
    }
    Ok(op)
}

impl NativeState {
    /// The next sequence of `account`.
    pub fn next_seq(&self, account: Address) -> u64 {
        self.next_seq.get(&account).copied().unwrap_or(0)
    }

    /// An operation's outcome.
    pub fn outcome(&self, id: &B256) -> Option<&Outcome> {
        self.outcomes.get(id)
    }

    /// Checks what applying `op` now would do, without changing anything: `Ok` if it would be
    /// accepted.
    pub fn dry_run(&self, op: &Op) -> Result<()> {
        let next = self.next_seq(op.from);
        if op.seq != next {
            return Err(AppError::Rule(format!(
                "sequence {} of {} is not its next ({next})",
                op.seq, op.from
            )));
        }
        // Only the apps' balances and loans are copied, not the outcomes of all history.
        let (mut money, mut lending) = (self.money.clone(), self.lending.clone());
        apply_op(op, self.now_ms, &mut money, &mut lending)
    }

    /// Applies one epoch's envelopes (in order) and its conflicts.
    pub fn apply_epoch(
        &mut self,
        epoch: u64,
        start_ms: u64,
        is_final: bool,
        envelopes: &[Envelope],
        conflicts: &[Envelope],
    ) {
        self.now_ms = self.now_ms.max(start_ms);
        for envelope in envelopes {
            // Envelopes were checked before they were admitted; one that does not decode here
            // is skipped the same way on every node.
            let Ok(op) = check_envelope(envelope) else { continue };
            if op.seq != self.next_seq(op.from) || self.outcomes.contains_key(&op.id) {
                continue;
            }
            let result = apply_op(&op, self.now_ms, &mut self.money, &mut self.lending);
            self.next_seq.insert(op.from, op.seq + 1);
            let (status, reason) = match result {
                Ok(()) => (format!("{}_accepted", op.op), None),
                Err(error) => (format!("{}_rejected", op.op), Some(error.to_string())),
            };
            self.record(&op, status, reason, epoch, is_final);
        }
        for envelope in conflicts {
            if let Ok(op) = check_envelope(envelope)
                && !self.outcomes.contains_key(&op.id)
            {
                let reason = Some(format!("sequence {} was taken by another operation", op.seq));
                self.record(&op, "conflict".into(), reason, epoch, is_final);
            }
        }
    }

    fn record(
        &mut self,
        op: &Op,
        status: String,
        reason: Option<String>,
        epoch: u64,
        is_final: bool,
    ) {
        let outcome = Outcome {
            app: op.app.clone(),
            op: op.op.clone(),
            from: op.from,
            seq: op.seq,
            status,
            reason,
            epoch,
            is_final,
        };
        self.outcomes.insert(op.id, outcome);
    }
}

/// Applies one operation to the app it belongs to, at the apps' clock `now_ms`.
fn apply_op(op: &Op, now_ms: u64, money: &mut Money, lending: &mut Lending) -> Result<()> {
    match op.app.as_str() {
        MONEY_APP => money.apply(op),
        LENDING_APP => lending.apply(op, now_ms, money),
        other => Err(AppError::Invalid(format!("no native app {other:?}"))),
    }
}
