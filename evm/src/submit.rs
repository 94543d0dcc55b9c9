//! Admission of transactions: the checks geth and Anvil make before pooling, and
//! `eth_sendTransaction` for the dev accounts (filling nonce, gas and fees, then signing).

use std::sync::Arc;

use alloy_consensus::{SignableTransaction, Transaction as _, TxEnvelope, TypedTransaction};
use alloy_network::TxSignerSync;
use alloy_primitives::B256;
use alloy_rpc_types_eth::TransactionRequest;

use crate::{
    block::SignedTx,
    chain::Chain,
    config::DEFAULT_PRIORITY_FEE,
    error::{EvmError, Result},
    node::EvmNode,
};

/// Stateless and state checks a transaction must pass to enter the pool.
pub fn validate(chain: &Chain, tx: &SignedTx) -> Result<()> {
    let config = chain.config();
    let envelope = &tx.envelope;
    if let Some(chain_id) = envelope.chain_id()
        && chain_id != config.chain_id
    {
        return Err(EvmError::WrongChainId { got: chain_id, expected: config.chain_id });
    }
    if chain.contains_tx(&tx.hash) {
        return Err(EvmError::AlreadyKnown);
    }
    if envelope.gas_limit() > chain.settings().gas_limit {
        return Err(EvmError::GasLimitTooHigh);
    }
    if let Some(tip) = envelope.max_priority_fee_per_gas()
        && tip > envelope.max_fee_per_gas()
    {
        return Err(EvmError::TipAboveFeeCap);
    }
    if let Some(min) = chain.settings().min_gas_price
        && envelope.max_fee_per_gas() < min
    {
        return Err(EvmError::FeeCapTooLow {
            max_fee: envelope.max_fee_per_gas(),
            base_fee: u64::try_from(min).unwrap_or(u64::MAX),
        });
    }
    let base_fee = chain.next_base_fee();
    if envelope.max_fee_per_gas() < u128::from(base_fee) {
        return Err(EvmError::FeeCapTooLow { max_fee: envelope.max_fee_per_gas(), base_fee });
    }
    let state_nonce = chain.latest_nonce(tx.sender);
    if tx.nonce() < state_nonce {
        return Err(EvmError::NonceTooLow { got: tx.nonce(), expected: state_nonce });
    }
    let balance = chain.latest_balance(tx.sender);
    let cost = tx.max_cost();
    if balance < cost {
        return Err(EvmError::InsufficientFunds { balance, cost });
    }
    Ok(())
}

impl EvmNode {
    /// `eth_sendTransaction`: fills the request for a dev account, signs it and submits it.
    /// An impersonated account's transaction gets a placeholder signature instead.
    pub async fn send_transaction(
        self: &std::sync::Arc<Self>,
        mut request: TransactionRequest,
    ) -> Result<B256> {
        let from =
            request.from.ok_or_else(|| EvmError::InvalidParams("missing \"from\" field".into()))?;
        let signer = match self.accounts.signer(from) {
            Ok(signer) => Some(signer.clone()),
            Err(_) if self.with_chain(|c| c.settings().is_impersonated(from)) => None,
            Err(error) => return Err(error),
        };
        let (chain_id, base_fee) =
            self.with_chain(|chain| (chain.config().chain_id, chain.next_base_fee()));
        request.to.get_or_insert(alloy_primitives::TxKind::Create);
        if request.nonce.is_none() {
            request.nonce = Some(self.pending_nonce(from));
        }
        request.chain_id.get_or_insert(chain_id);
        if request.gas_price.is_none() {
            let tip = request.max_priority_fee_per_gas.unwrap_or(DEFAULT_PRIORITY_FEE);
            request.max_priority_fee_per_gas = Some(tip);
            request
                .max_fee_per_gas
                .get_or_insert(u128::from(base_fee).saturating_mul(2).saturating_add(tip));
        }
        if request.gas.is_none() {
            request.gas = Some(self.estimate_gas(request.clone(), None, None).await?);
        }
        let mut typed: TypedTransaction = request
            .build_typed_tx()
            .map_err(|_| EvmError::InvalidParams("incomplete transaction request".into()))?;
        let Some(signer) = signer else {
            let envelope: TxEnvelope = typed.into_signed(impersonation_signature()).into();
            return self.submit(Arc::new(SignedTx::impersonated(envelope, from))).await;
        };
        let signature = signer
            .sign_transaction_sync(&mut typed)
            .map_err(|e| EvmError::Signing(e.to_string()))?;
        let envelope: TxEnvelope = typed.into_signed(signature).into();
        self.submit(Arc::new(SignedTx::from_envelope(envelope, from))).await
    }
}

/// The placeholder signature of impersonated transactions (r = s = 1, as Anvil uses).
fn impersonation_signature() -> alloy_primitives::Signature {
    alloy_primitives::Signature::new(
        alloy_primitives::U256::from(1),
        alloy_primitives::U256::from(1),
        false,
    )
}
