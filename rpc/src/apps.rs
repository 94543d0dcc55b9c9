//! The native apps' methods: `ir3_money_*`, `ir3_lending_*` and `ir3_apps_*`.
//!
//! A write is a signed operation ([`SignedOp`]): send one signed by any key with
//! `ir3_apps_submit`, or name a dev account of the node as `from` in `ir3_money_mint` and the
//! like, and the node signs it (as `eth_sendTransaction` does). Each returns at once with the
//! operation's id and its outcome so far (tentative until its epoch is final).

use std::{collections::BTreeMap, sync::Arc};

use alloy_primitives::{Address, B256};
use ir3_apps::{
    AppError, NativeApps, Outcome, SignedOp,
    lending::{LENDING_APP, Loan},
    money::{Currency, MONEY_APP},
};
use ir3_evm::EvmNode;
use ir3_foundation::order::now_ms;
use jsonrpsee::core::RpcResult;
use serde::Serialize;
use serde_json::Value;

use crate::{
    api::{AppsApiServer, LoanRequest, MintRequest, OfferRequest, OpReceipt, TransferRequest},
    error::{RpcError, ok},
};

/// Handler of the native apps' methods.
#[derive(Debug)]
pub struct AppsHandler {
    node: Arc<EvmNode>,
    apps: Arc<NativeApps>,
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

    /// Builds the operation `op` of `app` from a request, signs it with the dev account
    /// `from` and orders it.
    fn signed_by_node(
        &self,
        app: &str,
        op: &str,
        from: Address,
        request: &impl Serialize,
    ) -> Result<OpReceipt, RpcError> {
        if !self.apps.is_enabled(app) {
            return Err(AppError::Disabled(app.into()).into());
        }
        let Ok(Value::Object(mut fields)) = serde_json::to_value(request) else {
            return Err(RpcError::InvalidParams(format!("{app} {op}: fields are not an object")));
        };
        fields.insert("app".into(), app.into());
        fields.insert("op".into(), op.into());
        let sign = |message: &[u8]| self.node.accounts().sign_message(from, message).ok();
        self.submit(SignedOp::sign_with(from, self.apps.next_seq(from), fields, sign)?)
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

    fn money_mint(&self, mut request: MintRequest) -> RpcResult<OpReceipt> {
        request.to.get_or_insert(request.from);
        ok(self.signed_by_node(MONEY_APP, "mint", request.from, &request))
    }

    fn money_transfer(&self, request: TransferRequest) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(MONEY_APP, "transfer", request.from, &request))
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

    fn money_balances(&self, account: Address) -> RpcResult<BTreeMap<String, String>> {
        Ok(self.apps.view().money.balances_of(account))
    }

    fn money_currencies(&self) -> RpcResult<Vec<Currency>> {
        Ok(self.apps.view().money.currencies())
    }

    fn lending_offer(&self, request: OfferRequest) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(LENDING_APP, "offer", request.from, &request))
    }

    fn lending_accept(&self, request: LoanRequest) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(LENDING_APP, "accept", request.from, &request))
    }

    fn lending_repay(&self, request: LoanRequest) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(LENDING_APP, "repay", request.from, &request))
    }

    fn lending_cancel(&self, request: LoanRequest) -> RpcResult<OpReceipt> {
        ok(self.signed_by_node(LENDING_APP, "cancel", request.from, &request))
    }

    fn lending_loans(&self) -> RpcResult<Vec<Loan>> {
        let view = self.apps.view();
        Ok(view.lending.loans_at(now_ms().max(view.now_ms)))
    }
}
