//! **money**: currencies with an issuer, mints and transfers.
//!
//! - `mint {currency, to, amount}`: the account that first mints a currency becomes its issuer;
//!   afterwards only the issuer's mints are accepted (`mint_rejected` otherwise, with the
//!   reason). A currency name is 1–32 letters, digits, `_` or `-`.
//! - `transfer {currency, to, amount}`: moves funds the sender holds (`transfer_rejected` when
//!   it holds less).
//!
//! Balances move only through [`Money::move_funds`], which the lending app uses too.
//!
//! Intents and events: each operation is an envelope in the ordering (network mode: declared
//! as `order/envelope`, recorded as the EVM node's envelope events; a single node: a `native`
//! series entry). A peer answers YES to one that is valid against its state, NO with the rule's
//! reason (`mint_rejected: …`) otherwise; the reducer ([`crate::NativeState`]) decides in the
//! final order and records `<op>_accepted` / `<op>_rejected`.

use std::collections::BTreeMap;

use alloy_primitives::Address;
use serde::Serialize;

use crate::{
    error::{AppError, Result},
    op::Op,
};

/// The money app's name.
pub const MONEY_APP: &str = "money";
/// Longest currency name.
pub const MAX_CURRENCY_LEN: usize = 32;

/// Currencies, issuers, balances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Money {
    issuers: BTreeMap<String, Address>,
    supply: BTreeMap<String, u128>,
    balances: BTreeMap<(String, Address), u128>,
}

/// A currency as queried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Currency {
    /// Its name.
    pub name: String,
    /// Its issuer.
    pub issuer: Address,
    /// Units minted.
    pub supply: String,
}

/// Checks a currency name.
pub fn check_currency(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= MAX_CURRENCY_LEN
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "currency name {name:?}: 1 to {MAX_CURRENCY_LEN} letters, digits, `_` or `-`"
        )))
    }
}

fn positive(amount: u128) -> Result<u128> {
    if amount == 0 {
        return Err(AppError::Invalid("amount must be positive".into()));
    }
    Ok(amount)
}

impl Money {
    /// Applies one money operation (or says why it breaks the rules).
    pub fn apply(&mut self, op: &Op) -> Result<()> {
        match op.op.as_str() {
            "mint" => {
                let currency = op.text("currency")?;
                check_currency(currency)?;
                let to = op.address("to")?;
                let amount = positive(op.amount("amount")?)?;
                self.mint(op.from, currency, to, amount)
            }
            "transfer" => {
                let currency = op.text("currency")?;
                check_currency(currency)?;
                let to = op.address("to")?;
                let amount = positive(op.amount("amount")?)?;
                self.move_funds(currency, op.from, to, amount)
                    .map_err(|e| AppError::Rule(format!("transfer_rejected: {e}")))
            }
            other => Err(AppError::Invalid(format!("money has no operation {other:?}"))),
        }
    }

    fn mint(&mut self, from: Address, currency: &str, to: Address, amount: u128) -> Result<()> {
        if let Some(issuer) = self.issuers.get(currency)
            && *issuer != from
        {
            return Err(AppError::Rule(format!(
                "mint_rejected: {from} is not the issuer of {currency} (its issuer is {issuer})"
            )));
        }
        let supply = self.supply.get(currency).copied().unwrap_or(0);
        let new_supply = supply.checked_add(amount).ok_or_else(|| {
            AppError::Rule(format!("mint_rejected: the supply of {currency} would overflow"))
        })?;
        self.issuers.entry(currency.to_string()).or_insert(from);
        self.supply.insert(currency.to_string(), new_supply);
        *self.balances.entry((currency.to_string(), to)).or_default() += amount;
        Ok(())
    }

    /// Moves `amount` of `currency` from `from` to `to`, if `from` holds it.
    pub fn move_funds(
        &mut self,
        currency: &str,
        from: Address,
        to: Address,
        amount: u128,
    ) -> Result<()> {
        let held = self.balance(from, currency);
        if held < amount {
            return Err(AppError::Rule(format!(
                "insufficient balance: {from} holds {held} {currency}, needs {amount}"
            )));
        }
        self.balances.insert((currency.to_string(), from), held - amount);
        *self.balances.entry((currency.to_string(), to)).or_default() += amount;
        Ok(())
    }

    /// What `account` holds of `currency`.
    pub fn balance(&self, account: Address, currency: &str) -> u128 {
        self.balances.get(&(currency.to_string(), account)).copied().unwrap_or(0)
    }

    /// Every balance of `account`, by currency.
    pub fn balances_of(&self, account: Address) -> BTreeMap<String, String> {
        self.balances
            .iter()
            .filter(|((_, holder), amount)| *holder == account && **amount > 0)
            .map(|((currency, _), amount)| (currency.clone(), amount.to_string()))
            .collect()
    }

    /// The currencies.
    pub fn currencies(&self) -> Vec<Currency> {
        self.issuers
            .iter()
            .map(|(name, issuer)| Currency {
                name: name.clone(),
                issuer: *issuer,
                supply: self.supply.get(name).copied().unwrap_or(0).to_string(),
            })
            .collect()
    }
}
