//! Handlers of `txpool_`, `debug_`, `trace_` and `ots_`: parameter defaults and result shapes;
//! the work is done by the EVM app.

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, map::HashSet};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_eth::TransactionTrait as _;
use alloy_rpc_types_trace::{
    geth::{GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace, TraceResult},
    otterscan::{
        BlockDetails, ContractCreator, InternalOperation, OtsBlockTransactions,
        TransactionsWithReceipts,
    },
    parity::{LocalizedTransactionTrace, TraceResults, TraceType},
};
use ir3_evm::{EvmError, EvmNode, SignedTx, otterscan::OTS_API_LEVEL};
use jsonrpsee::core::{RpcResult, async_trait};
use serde_json::{Map, Value, json};

use crate::{
    api::{DebugApiServer, OtsApiServer, TraceApiServer, TxPoolApiServer},
    error::{RpcError, ok},
    params::{PrefixedHash, Quantity},
};

/// Handler of the inspection namespaces.
#[derive(Debug, Clone)]
pub struct InspectApi {
    node: Arc<EvmNode>,
}

impl InspectApi {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>) -> Self {
        Self { node }
    }

    /// Groups pooled transactions by sender, then nonce (decimal string keys, as geth).
    fn grouped(&self, txs: &[Arc<SignedTx>], render: impl Fn(&SignedTx) -> Value) -> Value {
        let mut by_sender: Map<String, Value> = Map::new();
        for tx in txs {
            let entry = by_sender
                .entry(tx.sender.to_checksum(None))
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(by_nonce) = entry {
                by_nonce.insert(tx.nonce().to_string(), render(tx));
            }
        }
        Value::Object(by_sender)
    }

    fn transaction_json(&self, tx: &SignedTx) -> Value {
        self.node
            .transaction_by_hash(tx.hash)
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or(Value::Null)
    }
}

/// Geth's one-line summary: `to: value wei + gas gas × price wei`.
fn summary(tx: &SignedTx) -> String {
    let envelope = &tx.envelope;
    let to = match envelope.kind() {
        TxKind::Call(to) => to.to_checksum(None),
        TxKind::Create => "contract creation".to_string(),
    };
    format!(
        "{to}: {} wei + {} gas × {} wei",
        envelope.value(),
        envelope.gas_limit(),
        envelope.max_fee_per_gas()
    )
}

fn block_id_of(number: BlockNumberOrTag) -> BlockId {
    BlockId::Number(number)
}

fn not_found(what: String) -> jsonrpsee::types::ErrorObjectOwned {
    RpcError::from(EvmError::BlockNotFound(what)).into()
}

impl TxPoolApiServer for InspectApi {
    fn status(&self) -> RpcResult<Value> {
        let content = self.node.pool_content(None);
        Ok(json!({
            "pending": format!("{:#x}", content.pending.len()),
            "queued": format!("{:#x}", content.queued.len()),
        }))
    }

    fn inspect(&self) -> RpcResult<Value> {
        let content = self.node.pool_content(None);
        let render = |tx: &SignedTx| Value::String(summary(tx));
        Ok(json!({
            "pending": self.grouped(&content.pending, render),
            "queued": self.grouped(&content.queued, render),
        }))
    }

    fn content(&self) -> RpcResult<Value> {
        let content = self.node.pool_content(None);
        let render = |tx: &SignedTx| self.transaction_json(tx);
        Ok(json!({
            "pending": self.grouped(&content.pending, render),
            "queued": self.grouped(&content.queued, render),
        }))
    }

    fn content_from(&self, address: Address) -> RpcResult<Value> {
        let content = self.node.pool_content(Some(address));
        let by_nonce = |txs: &[Arc<SignedTx>]| {
            let map: Map<String, Value> =
                txs.iter().map(|tx| (tx.nonce().to_string(), self.transaction_json(tx))).collect();
            Value::Object(map)
        };
        Ok(json!({ "pending": by_nonce(&content.pending), "queued": by_nonce(&content.queued) }))
    }
}

#[async_trait]
impl DebugApiServer for InspectApi {
    async fn trace_transaction(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<GethTrace> {
        ok(self.node.debug_trace_transaction(hash, opts.unwrap_or_default()).await)
    }

    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        opts: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace> {
        ok(self.node.debug_trace_call(request, block, opts.unwrap_or_default()).await)
    }

    async fn trace_block_by_number(
        &self,
        number: BlockNumberOrTag,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>> {
        ok(self.node.debug_trace_block(block_id_of(number), opts.unwrap_or_default()).await)
    }

    async fn trace_block_by_hash(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>> {
        ok(self.node.debug_trace_block(BlockId::from(hash), opts.unwrap_or_default()).await)
    }

    fn get_raw_transaction(&self, hash: PrefixedHash) -> RpcResult<Option<Bytes>> {
        Ok(self.node.raw_transaction(hash.0))
    }

    fn get_raw_receipts(&self, block: BlockId) -> RpcResult<Vec<Bytes>> {
        self.node.raw_receipts(block).ok_or_else(|| not_found(format!("block {block}")))
    }

    fn get_raw_header(&self, block: BlockId) -> RpcResult<Bytes> {
        self.node.raw_header(block).ok_or_else(|| not_found(format!("block {block}")))
    }

    fn get_raw_block(&self, block: BlockId) -> RpcResult<Bytes> {
        self.node.raw_block(block).ok_or_else(|| not_found(format!("block {block}")))
    }
}

#[async_trait]
impl TraceApiServer for InspectApi {
    async fn transaction(&self, hash: B256) -> RpcResult<Option<Vec<LocalizedTransactionTrace>>> {
        ok(self.node.trace_transaction(hash).await)
    }

    async fn block(&self, block: BlockId) -> RpcResult<Option<Vec<LocalizedTransactionTrace>>> {
        ok(self.node.trace_block(block).await)
    }

    async fn replay_transaction(
        &self,
        hash: B256,
        types: HashSet<TraceType>,
    ) -> RpcResult<TraceResults> {
        ok(self.node.trace_replay_transaction(hash, types).await)
    }
}

#[async_trait]
impl OtsApiServer for InspectApi {
    fn get_api_level(&self) -> RpcResult<u64> {
        Ok(OTS_API_LEVEL)
    }

    fn has_code(&self, address: Address, block: Option<BlockId>) -> RpcResult<bool> {
        ok(self.node.ots_has_code(address, block))
    }

    async fn get_internal_operations(&self, hash: B256) -> RpcResult<Vec<InternalOperation>> {
        ok(self.node.ots_internal_operations(hash).await)
    }

    async fn get_transaction_error(&self, hash: B256) -> RpcResult<Bytes> {
        ok(self.node.ots_transaction_error(hash).await)
    }

    fn get_block_details(&self, number: Quantity) -> RpcResult<Option<BlockDetails>> {
        let Ok(number) = u64::try_from(number.0) else { return Ok(None) };
        Ok(self.node.ots_block_details(BlockId::from(number)))
    }

    fn get_block_details_by_hash(&self, hash: B256) -> RpcResult<Option<BlockDetails>> {
        Ok(self.node.ots_block_details(BlockId::from(hash)))
    }

    fn get_block_transactions(
        &self,
        number: Quantity,
        page: usize,
        page_size: usize,
    ) -> RpcResult<OtsBlockTransactions> {
        let number = u64::try_from(number.0).unwrap_or(u64::MAX);
        ok(self.node.ots_block_transactions(number, page, page_size))
    }

    fn search_transactions_before(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
    ) -> RpcResult<TransactionsWithReceipts> {
        Ok(self.node.ots_search_transactions(address, block, page_size, false))
    }

    fn search_transactions_after(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
    ) -> RpcResult<TransactionsWithReceipts> {
        Ok(self.node.ots_search_transactions(address, block, page_size, true))
    }

    fn get_transaction_by_sender_and_nonce(
        &self,
        sender: Address,
        nonce: U256,
    ) -> RpcResult<Option<B256>> {
        let Ok(nonce) = u64::try_from(nonce) else { return Ok(None) };
        Ok(self.node.ots_transaction_by_sender_and_nonce(sender, nonce))
    }

    async fn get_contract_creator(&self, address: Address) -> RpcResult<Option<ContractCreator>> {
        ok(self.node.ots_contract_creator(address).await)
    }
}
