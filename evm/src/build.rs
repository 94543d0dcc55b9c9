//! `testing_buildBlockV1`: a block built on the head from given transactions (or the pool's)
//! and payload attributes, executed exactly as an imported block is (system calls, requests,
//! withdrawals) and returned as an execution payload, without becoming part of the chain.

use std::sync::Arc;

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header, Transaction as _, proofs};
use alloy_eips::{eip2718::Encodable2718, eip4895::Withdrawal};
use alloy_primitives::{Address, B64, B256, Bytes, U64, U256};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    block::SignedTx,
    error::{EvmError, Result},
    execute::{blob_gas_used, logs_bloom},
    node::EvmNode,
};

/// geth's default gas ceiling for the blocks its miner builds: each block's gas limit moves
/// toward it by at most 1/1024 of the parent's.
const TARGET_GAS_LIMIT: u64 = 60_000_000;

/// The payload attributes of `testing_buildBlockV1` (as the Engine API's V3 ones).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadAttributes {
    /// The block's timestamp.
    pub timestamp: U64,
    /// Its `prevRandao`.
    pub prev_randao: B256,
    /// Its fee recipient.
    pub suggested_fee_recipient: Address,
    /// Its withdrawals (from Shanghai on).
    pub withdrawals: Option<Vec<Withdrawal>>,
    /// The parent beacon block root (from Cancun on).
    pub parent_beacon_block_root: Option<B256>,
}

/// geth's `CalcGasLimit`: the parent's limit moved toward `desired` by less than 1/1024.
fn next_gas_limit(parent: u64, desired: u64) -> u64 {
    let delta = (parent / 1024).saturating_sub(1);
    if parent < desired {
        (parent + delta).min(desired)
    } else {
        parent.saturating_sub(delta).max(desired)
    }
}

impl EvmNode {
    /// Builds a block on `parent` (which must be the head) from `transactions` (raw; `None`:
    /// the pool's executable ones) and returns it as an execution payload with its value,
    /// blobs bundle and requests. The chain is left as it was.
    pub fn build_payload(
        &self,
        parent: B256,
        attributes: PayloadAttributes,
        transactions: Option<Vec<Bytes>>,
        extra_data: Option<Bytes>,
    ) -> Result<Value> {
        if self.network.is_some() {
            return Err(EvmError::InvalidParams(
                "network mode: blocks come from decided heights, not from a builder".into(),
            ));
        }
        let _mutation = self.mutation.lock();
        let mut chain = self.chain.write();
        let head = chain.head().clone();
        if parent != head.hash {
            return Err(EvmError::Unavailable(format!(
                "parent {parent} is not the head {} (blocks are built on the head only)",
                head.hash
            )));
        }
        let timestamp = attributes.timestamp.to::<u64>();
        let number = head.number() + 1;
        let spec = chain.config().spec_at(number, timestamp);
        use revm::primitives::hardfork::SpecId;
        let cancun = spec >= SpecId::CANCUN;
        let header = Header {
            parent_hash: parent,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: attributes.suggested_fee_recipient,
            number,
            gas_limit: next_gas_limit(head.header.gas_limit, TARGET_GAS_LIMIT),
            timestamp,
            extra_data: extra_data.unwrap_or_default(),
            mix_hash: attributes.prev_randao,
            nonce: B64::ZERO,
            base_fee_per_gas: (spec >= SpecId::LONDON).then(|| chain.next_base_fee()),
            withdrawals_root: None,
            excess_blob_gas: cancun.then(|| chain.next_excess_blob_gas(timestamp)),
            parent_beacon_block_root: attributes.parent_beacon_block_root.filter(|_| cancun),
            ..Default::default()
        };
        let transactions: Vec<Arc<SignedTx>> = match transactions {
            Some(raw) => {
                raw.iter().map(|raw| SignedTx::decode(raw).map(Arc::new)).collect::<Result<_>>()?
            }
            None => self
                .pool
                .lock()
                .best(|a| chain.latest_nonce(a), header.base_fee_per_gas.unwrap_or_default()),
        };
        let withdrawals = attributes.withdrawals.map(alloy_eips::eip4895::Withdrawals::new);
        let executed = chain.execute_body(&header, &transactions, &[], &withdrawals);
        let state_root = executed.as_ref().ok().map(|_| chain.state.state_root());
        // Nothing of the built block stays.
        chain.rollback();
        let executed = executed.map_err(|e| match e {
            EvmError::BlockRejected { reason, .. } => EvmError::Unavailable(reason),
            other => other,
        })?;
        let receipts: Vec<_> = executed.receipts.iter().map(|r| &r.envelope).collect();
        let envelopes: Vec<_> = transactions.iter().map(|t| &t.envelope).collect();
        let logs_bloom = logs_bloom(receipts.iter().copied());
        let header = Header {
            state_root: state_root.unwrap_or_default(),
            transactions_root: proofs::calculate_transaction_root(&envelopes),
            receipts_root: proofs::calculate_receipt_root(&receipts),
            logs_bloom,
            gas_used: executed.gas_used,
            withdrawals_root: withdrawals.as_ref().map(|w| proofs::calculate_withdrawals_root(w)),
            blob_gas_used: cancun.then(|| blob_gas_used(&transactions)),
            requests_hash: executed.requests.as_ref().map(|r| r.requests_hash()),
            ..header
        };
        let base_fee = header.base_fee_per_gas.unwrap_or_default();
        let value: u128 = transactions
            .iter()
            .zip(&executed.receipts)
            .map(|(tx, receipt)| {
                let tip = tx.envelope.effective_tip_per_gas(base_fee).unwrap_or_default();
                tip * u128::from(receipt.gas_used)
            })
            .sum();
        let raw: Vec<Bytes> =
            transactions.iter().map(|t| Bytes::from(t.envelope.encoded_2718())).collect();
        let requests: Vec<Bytes> = executed.requests.map(|r| r.take()).unwrap_or_default();
        Ok(json!({
            "executionPayload": {
                "parentHash": header.parent_hash,
                "feeRecipient": header.beneficiary,
                "stateRoot": header.state_root,
                "receiptsRoot": header.receipts_root,
                "logsBloom": header.logs_bloom,
                "prevRandao": header.mix_hash,
                "blockNumber": U64::from(header.number),
                "gasLimit": U64::from(header.gas_limit),
                "gasUsed": U64::from(header.gas_used),
                "timestamp": U64::from(header.timestamp),
                "extraData": header.extra_data,
                "baseFeePerGas": U256::from(base_fee),
                "blockHash": header.hash_slow(),
                "transactions": raw,
                "withdrawals": withdrawals.map(|w| w.into_inner()).unwrap_or_default(),
                "blobGasUsed": U64::from(header.blob_gas_used.unwrap_or_default()),
                "excessBlobGas": U64::from(header.excess_blob_gas.unwrap_or_default()),
            },
            "blockValue": U256::from(value),
            // Sidecars are checked and dropped when a blob transaction is accepted.
            "blobsBundle": { "commitments": [], "proofs": [], "blobs": [] },
            "executionRequests": requests,
            "shouldOverrideBuilder": false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gas_limit_moves_toward_the_target_as_geth_moves_it() {
        assert_eq!(next_gas_limit(200_000_000, TARGET_GAS_LIMIT), 199_804_689);
        assert_eq!(next_gas_limit(30_000_000, TARGET_GAS_LIMIT), 30_029_295);
        assert_eq!(next_gas_limit(TARGET_GAS_LIMIT, TARGET_GAS_LIMIT), TARGET_GAS_LIMIT);
    }
}
