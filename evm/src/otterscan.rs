//! Otterscan's `ots_` namespace (API level 8), so Otterscan can browse the chain: internal
//! operations and errors from re-execution under revm-inspectors' tracer, block details and
//! per-address transaction search over the chain's blocks.

use std::sync::Arc;

use alloy_eips::BlockId;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rpc_types_eth::{self as rpc};
use alloy_rpc_types_trace::otterscan::{
    BlockDetails, ContractCreator, InternalIssuance, InternalOperation, OperationType, OtsBlock,
    OtsBlockTransactions, OtsReceipt, OtsSlimBlock, OtsTransactionReceipt,
    TransactionsWithReceipts,
};
use revm::{InspectEvm, context::result::ExecutionResult};
use revm_inspectors::tracing::{TracingInspector, TracingInspectorConfig, types::CallKind};

use crate::{
    block::StoredBlock,
    chain::Chain,
    error::{EvmError, Result},
    execute::{build_evm, evm_error, tx_env},
    node::EvmNode,
    trace::replay_block,
};

/// The Otterscan API level served.
pub const OTS_API_LEVEL: u64 = 8;
/// Largest page `ots_searchTransactions*` and `ots_getBlockTransactions` return.
pub const MAX_OTS_PAGE_SIZE: usize = 1_000;

/// Re-executes a mined transaction under the call tracer: the trace nodes and the result.
fn traced(chain: &Chain, hash: B256) -> Result<Option<(TracingInspector, ExecutionResult)>> {
    let Some((block, index)) = chain.locate_tx(hash) else { return Ok(None) };
    let mut out = None;
    replay_block(chain, &block, index, |step| {
        if step.index < index {
            return Ok(None);
        }
        let mut inspector = TracingInspector::new(TracingInspectorConfig::default_parity());
        let mut evm =
            build_evm(&mut *step.db, step.cfg.clone(), step.block_env.clone(), &mut inspector);
        let result = evm.inspect_tx(tx_env(step.tx)).map_err(evm_error)?;
        out = Some((inspector, result.result));
        Ok(Some(result.state))
    })?;
    Ok(out)
}

fn ots_receipt(block: &StoredBlock, index: usize) -> Option<OtsTransactionReceipt> {
    let receipt = block.rpc_receipt(index, None)?;
    let status = receipt.status();
    let cumulative_gas_used = receipt.inner.cumulative_gas_used();
    let receipt = receipt.map_inner(|_| OtsReceipt {
        status,
        cumulative_gas_used,
        logs: None,
        logs_bloom: None,
        r#type: block.transactions[index].envelope.tx_type() as u8,
    });
    Some(OtsTransactionReceipt { receipt, timestamp: Some(block.header.timestamp) })
}

fn total_fees(block: &StoredBlock) -> U256 {
    block
        .receipts
        .iter()
        .map(|r| U256::from(r.gas_used) * U256::from(r.effective_gas_price))
        .fold(U256::ZERO, |a, b| a + b)
}

impl EvmNode {
    /// `ots_hasCode`.
    pub fn ots_has_code(&self, address: Address, block: Option<BlockId>) -> Result<bool> {
        Ok(!self.code(address, block)?.is_empty())
    }

    /// `ots_getInternalOperations`: value transfers, creations and self-destructs inside a
    /// transaction (not its top-level call).
    pub async fn ots_internal_operations(
        self: &Arc<Self>,
        hash: B256,
    ) -> Result<Vec<InternalOperation>> {
        self.blocking(move |chain| {
            let Some((inspector, _)) = traced(chain, hash)? else {
                return Err(EvmError::BlockNotFound(format!("transaction {hash} not found")));
            };
            let mut operations = Vec::new();
            for node in inspector.traces().nodes() {
                let trace = &node.trace;
                if let (Some(target), Some(value)) =
                    (trace.selfdestruct_refund_target, trace.selfdestruct_transferred_value)
                {
                    operations.push(InternalOperation {
                        r#type: OperationType::OpSelfDestruct,
                        from: trace.selfdestruct_address.unwrap_or(trace.address),
                        to: target,
                        value,
                    });
                }
                if trace.depth == 0 {
                    continue;
                }
                let kind = match trace.kind {
                    CallKind::Call if !trace.value.is_zero() => OperationType::OpTransfer,
                    CallKind::Create => OperationType::OpCreate,
                    CallKind::Create2 => OperationType::OpCreate2,
                    _ => continue,
                };
                operations.push(InternalOperation {
                    r#type: kind,
                    from: trace.caller,
                    to: trace.address,
                    value: trace.value,
                });
            }
            Ok(operations)
        })
        .await
    }

    /// `ots_getTransactionError`: the revert data of a failed transaction (`0x` otherwise).
    pub async fn ots_transaction_error(self: &Arc<Self>, hash: B256) -> Result<Bytes> {
        self.blocking(move |chain| {
            let Some((_, result)) = traced(chain, hash)? else {
                return Err(EvmError::BlockNotFound(format!("transaction {hash} not found")));
            };
            Ok(match result {
                ExecutionResult::Revert { output, .. } => output,
                _ => Bytes::new(),
            })
        })
        .await
    }

    /// `ots_getBlockDetails` / `ots_getBlockDetailsByHash`.
    pub fn ots_block_details(&self, id: BlockId) -> Option<BlockDetails> {
        self.with_chain(|chain| {
            let block = chain.block_by_id(id)?;
            Some(BlockDetails {
                block: OtsSlimBlock::from(block.rpc_block(false)),
                issuance: InternalIssuance::default(),
                total_fees: total_fees(&block),
            })
        })
    }

    /// `ots_getBlockTransactions`: one page of a block's transactions with slim receipts.
    pub fn ots_block_transactions(
        &self,
        number: u64,
        page: usize,
        page_size: usize,
    ) -> Result<OtsBlockTransactions> {
        let page_size = page_size.clamp(1, MAX_OTS_PAGE_SIZE);
        self.with_chain(|chain| {
            let block = chain
                .block(number)
                .ok_or_else(|| EvmError::BlockNotFound(format!("block {number} not found")))?;
            let mut full = block.rpc_block(true);
            let start = page.saturating_mul(page_size).min(block.transactions.len());
            let end = start.saturating_add(page_size).min(block.transactions.len());
            if let rpc::BlockTransactions::Full(txs) = &mut full.transactions {
                *txs = txs[start..end].to_vec();
            }
            let mut fullblock = OtsBlock::from(full);
            fullblock.transaction_count = block.transactions.len();
            let receipts = (start..end).filter_map(|i| ots_receipt(&block, i)).collect();
            Ok(OtsBlockTransactions { fullblock, receipts })
        })
    }

    /// `ots_searchTransactionsBefore` (`after = false`) / `ots_searchTransactionsAfter`:
    /// transactions sent by, sent to or creating `address`, newest first, one page from
    /// `block` (exclusive; 0 means from the head / from genesis).
    pub fn ots_search_transactions(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
        after: bool,
    ) -> TransactionsWithReceipts {
        let page_size = page_size.clamp(1, MAX_OTS_PAGE_SIZE);
        self.with_chain(|chain| {
            let head = chain.head_number();
            let (from, to) = if after {
                (block.saturating_add(1), head)
            } else {
                let top = if block == 0 { head } else { block.saturating_sub(1).min(head) };
                (chain.first_number(), top)
            };
            let positions = chain.address_positions(address, from, to, !after, page_size + 1);
            let exhausted = positions.len() <= page_size;
            let mut found: Vec<(rpc::Transaction, OtsTransactionReceipt)> = Vec::new();
            let mut current: Option<Arc<StoredBlock>> = None;
            for (number, index) in positions.into_iter().take(page_size) {
                if current.as_ref().is_none_or(|b| b.number() != number) {
                    current = chain.block(number);
                }
                let Some(stored) = &current else { continue };
                if let (Some(tx), Some(receipt)) =
                    (stored.rpc_transaction(index), ots_receipt(stored, index))
                {
                    found.push((tx, receipt));
                }
            }
            if after {
                found.reverse();
            }
            let (txs, receipts) = found.into_iter().unzip();
            let at_head = if after { exhausted } else { block == 0 };
            let at_genesis = if after { block == 0 } else { exhausted };
            TransactionsWithReceipts { txs, receipts, first_page: at_head, last_page: at_genesis }
        })
    }

    /// `ots_getTransactionBySenderAndNonce`.
    pub fn ots_transaction_by_sender_and_nonce(&self, sender: Address, nonce: u64) -> Option<B256> {
        self.with_chain(|chain| chain.tx_by_sender_nonce(sender, nonce))
    }

    /// `ots_getContractCreator`: the transaction and account that created a contract (a
    /// top-level creation, or a CREATE/CREATE2 inside a transaction). Accounts given code by
    /// `anvil_setCode` or a loaded state have no creator.
    pub async fn ots_contract_creator(
        self: &Arc<Self>,
        address: Address,
    ) -> Result<Option<ContractCreator>> {
        if self.code(address, None)?.is_empty() {
            return Ok(None);
        }
        self.blocking(move |chain| {
            // The first block after which the account has code: binary search over history.
            let has_code = |n: u64| {
                chain.account(address, n).is_some_and(|a| a.code_hash != alloy_trie::KECCAK_EMPTY)
            };
            let (mut low, mut high) = (chain.first_number(), chain.head_number());
            while low < high {
                let mid = low + (high - low) / 2;
                if has_code(mid) { high = mid } else { low = mid + 1 }
            }
            let Some(block) = chain.block(low) else { return Ok(None) };
            for (index, tx) in block.transactions.iter().enumerate() {
                if block.receipts[index].contract_address == Some(address) {
                    return Ok(Some(ContractCreator { hash: tx.hash, creator: tx.sender }));
                }
            }
            // Created by a contract: find the CREATE inside the block's transactions.
            for tx in &block.transactions {
                let Some((inspector, _)) = traced(chain, tx.hash)? else { continue };
                let created = inspector.traces().nodes().iter().find(|node| {
                    matches!(node.trace.kind, CallKind::Create | CallKind::Create2)
                        && node.trace.address == address
                });
                if let Some(node) = created {
                    return Ok(Some(ContractCreator { hash: tx.hash, creator: node.trace.caller }));
                }
            }
            Ok(None)
        })
        .await
    }
}
