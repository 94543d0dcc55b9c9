//! The inspection namespaces: `txpool_`, `debug_` (tracing and raw encodings), `trace_`
//! (parity style) and Otterscan's `ots_`. Implemented in [`crate::inspect`].

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U256, map::HashSet};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_trace::{
    geth::{GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace, TraceResult},
    otterscan::{
        BlockDetails, ContractCreator, InternalOperation, OtsBlockTransactions,
        TransactionsWithReceipts,
    },
    parity::{LocalizedTransactionTrace, TraceResults, TraceType},
};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde_json::Value;

use crate::params::{PrefixedHash, Quantity};

/// The `txpool_` namespace (geth's shapes).
#[rpc(server, namespace = "txpool")]
pub trait TxPoolApi {
    /// Number of pending and queued transactions.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<Value>;
    /// A one-line summary of each pooled transaction.
    #[method(name = "inspect")]
    fn inspect(&self) -> RpcResult<Value>;
    /// Every pooled transaction.
    #[method(name = "content")]
    fn content(&self) -> RpcResult<Value>;
    /// Every pooled transaction of one sender.
    #[method(name = "contentFrom")]
    fn content_from(&self, address: Address) -> RpcResult<Value>;
}

/// The `debug_` namespace: geth tracers and raw encodings.
#[rpc(server, namespace = "debug")]
pub trait DebugApi {
    /// Traces a mined transaction.
    #[method(name = "traceTransaction")]
    async fn trace_transaction(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<GethTrace>;
    /// Traces a call on a block's state.
    #[method(name = "traceCall")]
    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        opts: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace>;
    /// Traces every transaction of a block by number.
    #[method(name = "traceBlockByNumber")]
    async fn trace_block_by_number(
        &self,
        number: BlockNumberOrTag,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>>;
    /// Traces every transaction of a block by hash.
    #[method(name = "traceBlockByHash")]
    async fn trace_block_by_hash(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>>;
    /// EIP-2718 bytes of a transaction.
    #[method(name = "getRawTransaction")]
    fn get_raw_transaction(&self, hash: PrefixedHash) -> RpcResult<Option<Bytes>>;
    /// EIP-2718 bytes of a block's receipts.
    #[method(name = "getRawReceipts")]
    fn get_raw_receipts(&self, block: BlockId) -> RpcResult<Vec<Bytes>>;
    /// RLP of a block header.
    #[method(name = "getRawHeader")]
    fn get_raw_header(&self, block: BlockId) -> RpcResult<Bytes>;
    /// RLP of a whole block.
    #[method(name = "getRawBlock")]
    fn get_raw_block(&self, block: BlockId) -> RpcResult<Bytes>;
}

/// The `trace_` namespace (parity style).
#[rpc(server, namespace = "trace")]
pub trait TraceApi {
    /// Traces of a mined transaction.
    #[method(name = "transaction")]
    async fn transaction(&self, hash: B256) -> RpcResult<Option<Vec<LocalizedTransactionTrace>>>;
    /// Traces of every transaction of a block.
    #[method(name = "block")]
    async fn block(&self, block: BlockId) -> RpcResult<Option<Vec<LocalizedTransactionTrace>>>;
    /// Replays a transaction with the requested trace types.
    #[method(name = "replayTransaction")]
    async fn replay_transaction(
        &self,
        hash: B256,
        types: HashSet<TraceType>,
    ) -> RpcResult<TraceResults>;
}

/// Otterscan's `ots_` namespace.
#[rpc(server, namespace = "ots")]
pub trait OtsApi {
    /// The API level (8).
    #[method(name = "getApiLevel")]
    fn get_api_level(&self) -> RpcResult<u64>;
    /// Whether an address has code.
    #[method(name = "hasCode")]
    fn has_code(&self, address: Address, block: Option<BlockId>) -> RpcResult<bool>;
    /// Transfers, creations and self-destructs inside a transaction.
    #[method(name = "getInternalOperations")]
    async fn get_internal_operations(&self, hash: B256) -> RpcResult<Vec<InternalOperation>>;
    /// The revert data of a failed transaction.
    #[method(name = "getTransactionError")]
    async fn get_transaction_error(&self, hash: B256) -> RpcResult<Bytes>;
    /// A block without its transactions, with fees and issuance.
    #[method(name = "getBlockDetails")]
    fn get_block_details(&self, number: Quantity) -> RpcResult<Option<BlockDetails>>;
    /// The same by hash.
    #[method(name = "getBlockDetailsByHash")]
    fn get_block_details_by_hash(&self, hash: B256) -> RpcResult<Option<BlockDetails>>;
    /// One page of a block's transactions with slim receipts.
    #[method(name = "getBlockTransactions")]
    fn get_block_transactions(
        &self,
        number: Quantity,
        page: usize,
        page_size: usize,
    ) -> RpcResult<OtsBlockTransactions>;
    /// An address's transactions before a block, newest first.
    #[method(name = "searchTransactionsBefore")]
    fn search_transactions_before(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
    ) -> RpcResult<TransactionsWithReceipts>;
    /// An address's transactions after a block, newest first.
    #[method(name = "searchTransactionsAfter")]
    fn search_transactions_after(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
    ) -> RpcResult<TransactionsWithReceipts>;
    /// The hash of a sender's transaction with a nonce.
    #[method(name = "getTransactionBySenderAndNonce")]
    fn get_transaction_by_sender_and_nonce(
        &self,
        sender: Address,
        nonce: U256,
    ) -> RpcResult<Option<B256>>;
    /// Who created a contract, in which transaction.
    #[method(name = "getContractCreator")]
    async fn get_contract_creator(&self, address: Address) -> RpcResult<Option<ContractCreator>>;
}
