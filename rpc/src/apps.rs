//! The native apps' methods: `ir3_money_*`, `ir3_lending_*` and `ir3_apps_*`.
//!
//! A write is a signed operation ([`SignedOp`]): send one signed by any key with
//! `ir3_apps_submit`, or name a dev account of the node as `from` in `ir3_money_mint` and the
//! like, and the node signs it (as `eth_sendTransaction` does). Each returns at once with the
//! operation's id and its outcome so far (tentative until its epoch is final).

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use ir3_apps::{
    AppError, NativeApps, Outcome, SignedOp,
    lending::{LENDING_APP, Loan},
    money::{Currency, MONEY_APP},
};
use ir3_evm::EvmNode;
use ir3_foundation::order::now_ms;
use jsonrpsee::core::RpcResult;
use serde_json::{Map, Value};

use crate::{
    api::{AppsApiServer, OpFields, OpReceipt},
    error::{RpcError, ok},
};

/// Handler of the native apps' methods.
#[derive(Debug)]
pub struct AppsHandler {
    node: Arc<EvmNode>,
    apps: Arc<NativeApps>,
}

/// Signs an operation's fields for the dev account `from`: adds `from` and `seq`, encodes the
/// message and signs it with EIP-191.
pub fn sign_for(
    node: &EvmNode,
    from: Address,
    seq: u64,
    mut fields: Map<String, Value>,
) -> Result<SignedOp, AppError> {
    fields.insert("from".into(), format!("{from:#x}").into());
    fields.insert("seq".into(), seq.into());
    let message = Value::Object(fields).to_string();
    let signature = node.accounts().sign_message(from, message.as_bytes()).map_err(|_| {
        AppError::Invalid(format!(
            "{from:#x} is not a dev account of this node: sign the operation and send it with \
             ir3_apps_submit"
        ))
    })?;
    Ok(SignedOp { message, signature })
}

impl AppsHandler {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>, apps: Arc<NativeApps>) -> Self {
        Self { node, apps }
    }

    fn submit(&self, signed: SignedOp) -> Result<OpReceipt, RpcError> {
        let message = signed.message.clone();
        // Ordering writes the series: off the async workers' fast path.
        let id = tokio::task::block_in_place(|| self.apps.submit(signed))?;
        let outcome = self.apps.view().outcome(&id).cloned();
        Ok(OpReceipt { id, message, outcome })
    }

    /// Builds, signs (with the dev account `from`) and orders an operation.
    fn signed_by_node(&self, app: &str, op: &str, fields: OpFields) -> Result<OpReceipt, RpcError> {
        if !self.apps.is_enabled(app) {
            return Err(AppError::Disabled(app.into()).into());
        }
        let mut fields = fields;
        let from: Address = fields
            .remove("from")
            .and_then(|v| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| RpcError::InvalidParams("missing or invalid field `from`".into()))?;
        for reserved in ["app", "op", "seq"] {
            if fields.contains_key(reserved) {
                return Err(RpcError::InvalidParams(format!(
                    "field `{reserved}` is set by the node"
                )));
            }
        }
        let mut message = Map::new();
        message.insert("app".into(), app.into());
        message.insert("op".into(), op.into());
        message.extend(fields);
        let signed = sign_for(&self.node, from, self.apps.next_seq(from), message)?;
        self.submit(signed)
    }
}

impl AppsApiServer for AppsHandler {
    fn apps_submit(&self, op: SignedOp) -> RpcResult<OpReceipt> {
        ok(self.submit(op))
    }

    fn apps_next_seq(&self, account: Address) -> RpcResult<u64> {
        Ok(self.apps.next_seq(account))
    }

    fn apps_outcome(&self, id: B256) -> RpcResult<Option<Outcome>> {
        Ok(self.apps.view().outcome(&id).cloned())
    }

    fn money_mint(&self, mut fields: OpFields) -> RpcResult<OpReceipt> {
        if !fields.contains_key("to")
            && let Some(from) = fields.get("from").cloned()
        {
            fields.insert("to".into(), from);
        }
        ok(self.signed_by_node(MONEY_APP, "mint", fields))
    }

    fn money_transfer(&self, fields: OpFields) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(MONEY_APP, "transfer", fields))
    }

    fn money_balance(
        &self,
        account: Address,
        currency: String,
        at_epoch: Option<u64>,
    ) -> RpcResult<String> {
        let amount = match at_epoch {
            Some(epoch) => self.apps.state_at(epoch).money.balance(account, &currency),
            None => self.apps.view().money.balance(account, &currency),
        };
        Ok(amount.to_string())
    }

    fn money_balances(&self, account: Address) -> RpcResult<Map<String, Value>> {
        let balances = self.apps.view().money.balances_of(account);
        Ok(balances.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    }

    fn money_currencies(&self) -> RpcResult<Vec<Currency>> {
        Ok(self.apps.view().money.currencies())
    }

    fn lending_offer(&self, fields: OpFields) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(LENDING_APP, "offer", fields))
    }

    fn lending_accept(&self, fields: OpFields) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(LENDING_APP, "accept", fields))
    }

    fn lending_repay(&self, fields: OpFields) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(LENDING_APP, "repay", fields))
    }

    fn lending_cancel(&self, fields: OpFields) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(LENDING_APP, "cancel", fields))
    }

    fn lending_loans(&self) -> RpcResult<Vec<Loan>> {
        let view = self.apps.view();
        Ok(view.lending.loans_at(now_ms().max(view.now_ms)))
    }
}
