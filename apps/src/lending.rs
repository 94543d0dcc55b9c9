//! **lending**: loans in a money currency.
//!
//! - `offer {currency, amount, interestBps, durationMs}`: the lender's funds move into the
//!   loan's escrow (money rules: the lender must hold them); the loan's id is the offer's id.
//! - `cancel {loan}`: the lender takes back an offer nobody accepted.
//! - `accept {loan}`: a borrower (not the lender) takes the escrowed funds; the deadline is
//!   the accepting epoch's start plus `durationMs`.
//! - `repay {loan}`: the borrower pays back the amount plus `amount × interestBps / 10 000` to
//!   the lender (money rules: it must hold them).
//!
//! A loan is never declared in default: it is *defaulted* when it is read at a time past its
//! deadline and not repaid (derived, not stored). Intents, events and the YES/NO rule are the
//! money app's (see [`crate::money`]); the clock is the epoch's start, the same on every node.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256};
use serde::Serialize;

use crate::{
    error::{AppError, Result},
    money::Money,
    op::Op,
};

/// The lending app's name.
pub const LENDING_APP: &str = "lending";
/// The escrow account of offered loans (no key can sign for it).
pub const ESCROW: Address = Address::new([0xe5; 20]);
/// Highest interest, in basis points (100 %).
pub const MAX_INTEREST_BPS: u64 = 10_000;

/// A loan as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Loan {
    /// Its id (the offer's operation id).
    pub id: B256,
    /// Who lends.
    pub lender: Address,
    /// Who borrowed, once accepted.
    pub borrower: Option<Address>,
    /// The currency.
    pub currency: String,
    /// The amount lent.
    pub amount: String,
    /// Interest in basis points of the amount.
    pub interest_bps: u64,
    /// How long the borrower has, from acceptance.
    pub duration_ms: u64,
    /// When it must be repaid (ms since the Unix epoch), once accepted.
    pub deadline_ms: Option<u64>,
    /// `offered`, `cancelled`, `active`, `repaid` (stored); `defaulted` is derived on read.
    pub status: String,
}

/// The loans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lending {
    loans: BTreeMap<B256, Loan>,
}

impl Lending {
    /// Applies one lending operation at `now_ms` (the epoch's start), moving funds through
    /// `money`.
    pub fn apply(&mut self, op: &Op, now_ms: u64, money: &mut Money) -> Result<()> {
        match op.op.as_str() {
            "offer" => {
                let currency = op.text("currency")?.to_string();
                crate::money::check_currency(&currency)?;
                let amount = op.amount("amount")?;
                if amount == 0 {
                    return Err(AppError::Invalid("amount must be positive".into()));
                }
                let interest_bps = op.integer("interestBps")?.unwrap_or(0);
                if interest_bps > MAX_INTEREST_BPS {
                    return Err(AppError::Invalid(format!(
                        "interestBps {interest_bps} is above {MAX_INTEREST_BPS}"
                    )));
                }
                let duration_ms = op
                    .integer("durationMs")?
                    .filter(|d| *d > 0)
                    .ok_or_else(|| AppError::Invalid("durationMs must be positive".into()))?;
                money
                    .move_funds(&currency, op.from, ESCROW, amount)
                    .map_err(|e| AppError::Rule(format!("offer_rejected: {e}")))?;
                self.loans.insert(
                    op.id,
                    Loan {
                        id: op.id,
                        lender: op.from,
                        borrower: None,
                        currency,
                        amount: amount.to_string(),
                        interest_bps,
                        duration_ms,
                        deadline_ms: None,
                        status: "offered".into(),
                    },
                );
                Ok(())
            }
            "cancel" => {
                let loan = self.loan_mut(op)?;
                if loan.lender != op.from || loan.status != "offered" {
                    return Err(AppError::Rule(format!(
                        "cancel_rejected: only the lender cancels an offer not accepted (loan is \
                         {})",
                        loan.status
                    )));
                }
                let (currency, amount, lender) =
                    (loan.currency.clone(), amount_of(loan), loan.lender);
                loan.status = "cancelled".into();
                money.move_funds(&currency, ESCROW, lender, amount)
            }
            "accept" => {
                let loan = self.loan_mut(op)?;
                if loan.status != "offered" {
                    return Err(AppError::Rule(format!(
                        "accept_rejected: the loan is {}",
                        loan.status
                    )));
                }
                if loan.lender == op.from {
                    return Err(AppError::Rule(
                        "accept_rejected: a lender cannot borrow its own offer".into(),
                    ));
                }
                loan.borrower = Some(op.from);
                loan.deadline_ms = Some(now_ms.saturating_add(loan.duration_ms));
                loan.status = "active".into();
                let (currency, amount) = (loan.currency.clone(), amount_of(loan));
                money.move_funds(&currency, ESCROW, op.from, amount)
            }
            "repay" => {
                let loan = self.loan_mut(op)?;
                if loan.status != "active" || loan.borrower != Some(op.from) {
                    return Err(AppError::Rule(format!(
                        "repay_rejected: only the borrower repays an active loan (loan is {})",
                        loan.status
                    )));
                }
                let due = amount_due(loan);
                let (currency, lender) = (loan.currency.clone(), loan.lender);
                money
                    .move_funds(&currency, op.from, lender, due)
                    .map_err(|e| AppError::Rule(format!("repay_rejected: {e}")))?;
                if let Some(loan) = self.loans.get_mut(&op.id_field_loan()?) {
                    loan.status = "repaid".into();
                }
                Ok(())
            }
            other => Err(AppError::Invalid(format!("lending has no operation {other:?}"))),
        }
    }

    fn loan_mut(&mut self, op: &Op) -> Result<&mut Loan> {
        let id = op.id_field_loan()?;
        self.loans.get_mut(&id).ok_or_else(|| AppError::Rule(format!("no loan {id}")))
    }

    /// The loans, as they stand at `now_ms` (a loan past its deadline and not repaid reads as
    /// `defaulted`).
    pub fn loans_at(&self, now_ms: u64) -> Vec<Loan> {
        self.loans
            .values()
            .map(|loan| {
                let mut loan = loan.clone();
                if loan.status == "active" && loan.deadline_ms.is_some_and(|d| now_ms > d) {
                    loan.status = "defaulted".into();
                }
                loan
            })
            .collect()
    }
}

fn amount_of(loan: &Loan) -> u128 {
    loan.amount.parse().unwrap_or(0)
}

/// The amount plus interest.
pub fn amount_due(loan: &Loan) -> u128 {
    let amount = amount_of(loan);
    amount.saturating_add(amount.saturating_mul(u128::from(loan.interest_bps)) / 10_000)
}

impl Op {
    /// The `loan` field: a loan id.
    fn id_field_loan(&self) -> Result<B256> {
        self.text("loan")?
            .parse()
            .map_err(|e| AppError::Invalid(format!("{}: `loan` is not a loan id: {e}", self.op)))
    }
}
