//! The Ethereum namespaces: `eth_` and its `eth_subscribe` pair, `net_`, `web3_` and
//! `personal_`. Implemented in [`crate::eth`], [`crate::pubsub`] and [`crate::misc`].

use crate::params::{StorageSlot, TypedDataParam};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    AccessListResult, Block, FeeHistory, Filter, FilterChanges, Log, SyncStatus, Transaction,
    TransactionReceipt, TransactionRequest,
    pubsub::{Params, SubscriptionKind},
    state::StateOverride,
};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde::Serialize;

/// The answer of `eth_getAccountInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: U64,
    /// Code.
    pub code: Bytes,
}

/// The `eth_` namespace.
#[rpc(server, namespace = "eth")]
pub trait EthApi {
    /// Chain id (EIP-695).
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;
    /// Latest block number.
    #[method(name = "blockNumber")]
    fn block_number(&self) -> RpcResult<U64>;
    /// Dev accounts.
    #[method(name = "accounts")]
    fn accounts(&self) -> RpcResult<Vec<Address>>;
    /// Suggested legacy gas price.
    #[method(name = "gasPrice")]
    fn gas_price(&self) -> RpcResult<U256>;
    /// The next block's blob gas price (EIP-4844).
    #[method(name = "blobBaseFee")]
    fn blob_base_fee(&self) -> RpcResult<U256>;
    /// Base fee of the next block.
    #[method(name = "baseFee")]
    fn base_fee(&self) -> RpcResult<U256>;
    /// What history the node serves (oldest block per resource).
    #[method(name = "capabilities")]
    fn capabilities(&self) -> RpcResult<serde_json::Value>;
    /// The fork configuration (EIP-7910).
    #[method(name = "config")]
    fn config(&self) -> RpcResult<ir3_evm::fork_config::ChainForkConfig>;
    /// An account and storage slots with Merkle proofs (EIP-1186), at the head.
    #[method(name = "getProof")]
    fn get_proof(
        &self,
        address: Address,
        keys: Vec<alloy_serde::storage::JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<alloy_rpc_types_eth::EIP1186AccountProofResponse>;
    /// Many storage slots of many accounts at one block.
    #[method(name = "getStorageValues")]
    fn get_storage_values(
        &self,
        requests: std::collections::BTreeMap<Address, Vec<B256>>,
        block: Option<BlockId>,
    ) -> RpcResult<std::collections::BTreeMap<Address, Vec<B256>>>;
    /// Suggested priority fee.
    #[method(name = "maxPriorityFeePerGas")]
    fn max_priority_fee_per_gas(&self) -> RpcResult<U256>;
    /// Fee history.
    #[method(name = "feeHistory")]
    fn fee_history(
        &self,
        block_count: U64,
        newest_block: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory>;
    /// Sync status (always not syncing for a single node).
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<SyncStatus>;
    /// Coinbase of sealed blocks.
    #[method(name = "coinbase")]
    fn coinbase(&self) -> RpcResult<Address>;
    /// Whether the node mines.
    #[method(name = "mining")]
    fn mining(&self) -> RpcResult<bool>;
    /// Hash rate (always 0).
    #[method(name = "hashrate")]
    fn hashrate(&self) -> RpcResult<U256>;
    /// Balance at a block.
    #[method(name = "getBalance")]
    fn get_balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;
    /// Nonce at a block.
    #[method(name = "getTransactionCount")]
    fn get_transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;
    /// Balance, nonce and code at a block in one call (as forge asks for them).
    #[method(name = "getAccountInfo")]
    fn get_account_info(&self, address: Address, block: Option<BlockId>) -> RpcResult<AccountInfo>;
    /// Code at a block.
    #[method(name = "getCode")]
    fn get_code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// Storage slot at a block.
    #[method(name = "getStorageAt")]
    fn get_storage_at(
        &self,
        address: Address,
        slot: StorageSlot,
        block: Option<BlockId>,
    ) -> RpcResult<B256>;
    /// Block by number.
    #[method(name = "getBlockByNumber")]
    fn get_block_by_number(&self, number: BlockNumberOrTag, full: bool)
    -> RpcResult<Option<Block>>;
    /// Block by hash.
    #[method(name = "getBlockByHash")]
    fn get_block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>>;
    /// Transaction count of a block by number.
    #[method(name = "getBlockTransactionCountByNumber")]
    fn get_block_transaction_count_by_number(
        &self,
        number: BlockNumberOrTag,
    ) -> RpcResult<Option<U256>>;
    /// Transaction count of a block by hash.
    #[method(name = "getBlockTransactionCountByHash")]
    fn get_block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U256>>;
    /// Uncle count by number (always 0).
    #[method(name = "getUncleCountByBlockNumber")]
    fn get_uncle_count_by_block_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U256>>;
    /// Uncle count by hash (always 0).
    #[method(name = "getUncleCountByBlockHash")]
    fn get_uncle_count_by_block_hash(&self, hash: B256) -> RpcResult<Option<U256>>;
    /// Transaction by hash.
    #[method(name = "getTransactionByHash")]
    fn get_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>>;
    /// Transaction by block hash and index.
    #[method(name = "getTransactionByBlockHashAndIndex")]
    fn get_transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: U64,
    ) -> RpcResult<Option<Transaction>>;
    /// Transaction by block number and index.
    #[method(name = "getTransactionByBlockNumberAndIndex")]
    fn get_transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>>;
    /// Receipt by transaction hash.
    #[method(name = "getTransactionReceipt")]
    fn get_transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>>;
    /// All receipts of a block.
    #[method(name = "getBlockReceipts")]
    fn get_block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>>;
    /// Submits a signed transaction; answers once it is durable.
    #[method(name = "sendRawTransaction")]
    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256>;
    /// Signs and submits a transaction from a dev account.
    #[method(name = "sendTransaction")]
    async fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256>;
    /// EIP-191 signature by a dev account.
    #[method(name = "sign")]
    fn sign(&self, address: Address, message: Bytes) -> RpcResult<Bytes>;
    /// EIP-712 signature by a dev account.
    #[method(name = "signTypedData_v4")]
    fn sign_typed_data_v4(&self, address: Address, data: TypedDataParam) -> RpcResult<Bytes>;
    /// Executes a call without creating a transaction.
    #[method(name = "call")]
    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<Bytes>;
    /// Estimates the gas a transaction needs.
    #[method(name = "estimateGas")]
    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<U64>;
    /// Simulates calls in a chain of blocks built on `block` (latest by default).
    #[method(name = "simulateV1")]
    async fn simulate_v1(
        &self,
        payload: ir3_evm::simulate::SimulatePayload,
        block: Option<BlockId>,
    ) -> RpcResult<Vec<alloy_rpc_types_eth::simulate::SimulatedBlock>>;
    /// Builds the access list of a call.
    #[method(name = "createAccessList")]
    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<AccessListResult>;
    /// Logs matching a filter.
    #[method(name = "getLogs")]
    fn get_logs(&self, filter: Filter) -> RpcResult<Vec<Log>>;
    /// Installs a log filter.
    #[method(name = "newFilter")]
    fn new_filter(&self, filter: Filter) -> RpcResult<U256>;
    /// Installs a new-block filter.
    #[method(name = "newBlockFilter")]
    fn new_block_filter(&self) -> RpcResult<U256>;
    /// Installs a pending-transaction filter.
    #[method(name = "newPendingTransactionFilter")]
    fn new_pending_transaction_filter(&self) -> RpcResult<U256>;
    /// What a filter saw since it was last polled.
    #[method(name = "getFilterChanges")]
    fn get_filter_changes(&self, id: U256) -> RpcResult<FilterChanges>;
    /// Every log a log filter matches.
    #[method(name = "getFilterLogs")]
    fn get_filter_logs(&self, id: U256) -> RpcResult<Vec<Log>>;
    /// Removes a filter.
    #[method(name = "uninstallFilter")]
    fn uninstall_filter(&self, id: U256) -> RpcResult<bool>;
}

/// The `eth_subscribe` / `eth_unsubscribe` pair (WebSocket only).
#[rpc(server, namespace = "eth")]
pub trait EthPubSubApi {
    /// Subscribes to `newHeads`, `logs` (with a filter), `newPendingTransactions` or
    /// `syncing`; `transactionReceipts` is refused.
    #[subscription(
        name = "subscribe" => "subscription",
        unsubscribe = "unsubscribe",
        item = serde_json::Value
    )]
    async fn subscribe(
        &self,
        kind: SubscriptionKind,
        params: Option<Params>,
    ) -> jsonrpsee::core::SubscriptionResult;
}

/// The `net_` namespace.
#[rpc(server, namespace = "net")]
pub trait NetApi {
    /// Network id (the chain id, in decimal).
    #[method(name = "version")]
    fn version(&self) -> RpcResult<String>;
    /// Whether the node listens for peers.
    #[method(name = "listening")]
    fn listening(&self) -> RpcResult<bool>;
    /// Number of peers.
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<U64>;
}

/// The `web3_` namespace.
#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    /// Client name and version.
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;
    /// keccak-256 of the input.
    #[method(name = "sha3")]
    fn sha3(&self, input: Bytes) -> RpcResult<B256>;
}

/// The `personal_` namespace (signing with dev keys only).
#[rpc(server, namespace = "personal")]
pub trait PersonalApi {
    /// EIP-191 signature: `personal_sign(data, address)`.
    #[method(name = "sign")]
    fn sign(&self, message: Bytes, address: Address, password: Option<String>) -> RpcResult<Bytes>;
}
