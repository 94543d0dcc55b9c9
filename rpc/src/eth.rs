//! Handler of the `eth_` namespace: one line per method, delegating to the EVM app.

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    AccessListResult, Block, FeeHistory, Filter, FilterChanges, Log, SyncStatus, Transaction,
    TransactionReceipt, TransactionRequest, state::StateOverride,
};
use ir3_evm::{EvmNode, MiningMode};
use jsonrpsee::core::{RpcResult, async_trait};
use tracing::trace;

use crate::{
    api::{AccountInfo, EthApiServer},
    error::ok,
    filters::Filters,
    params::{StorageSlot, TypedDataParam},
};

/// Handler of the `eth_` namespace.
#[derive(Debug)]
pub struct EthApi {
    node: Arc<EvmNode>,
    filters: Arc<Filters>,
}

impl EthApi {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>, filters: Arc<Filters>) -> Self {
        Self { node, filters }
    }
}

#[async_trait]
impl EthApiServer for EthApi {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.node.config().chain_id))
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.node.block_number()))
    }

    fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(self.node.accounts().addresses())
    }

    fn gas_price(&self) -> RpcResult<U256> {
        Ok(U256::from(self.node.gas_price()))
    }

    fn blob_base_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(self.node.blob_base_fee()))
    }

    fn base_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(self.node.with_chain(ir3_evm::chain::Chain::next_base_fee)))
    }

    fn capabilities(&self) -> RpcResult<serde_json::Value> {
        Ok(self.node.capabilities())
    }

    fn config(&self) -> RpcResult<ir3_evm::fork_config::ChainForkConfig> {
        Ok(self.node.fork_config())
    }

    fn get_proof(
        &self,
        address: Address,
        keys: Vec<alloy_serde::storage::JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<alloy_rpc_types_eth::EIP1186AccountProofResponse> {
        ok(self.node.proof(address, keys, block))
    }

    fn get_storage_values(
        &self,
        requests: std::collections::BTreeMap<Address, Vec<B256>>,
        block: Option<BlockId>,
    ) -> RpcResult<std::collections::BTreeMap<Address, Vec<B256>>> {
        ok(self.node.storage_values(requests, block))
    }

    fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(U256::from(self.node.max_priority_fee()))
    }

    fn fee_history(
        &self,
        block_count: U64,
        newest_block: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        ok(self.node.fee_history(block_count.to(), newest_block, reward_percentiles))
    }

    fn syncing(&self) -> RpcResult<SyncStatus> {
        Ok(match self.node.sync_progress() {
            Some((current, highest)) => SyncStatus::Info(Box::new(alloy_rpc_types_eth::SyncInfo {
                starting_block: U256::ZERO,
                current_block: U256::from(current),
                highest_block: U256::from(highest),
                ..Default::default()
            })),
            None => SyncStatus::None,
        })
    }

    fn coinbase(&self) -> RpcResult<Address> {
        Ok(self.node.config().coinbase)
    }

    fn mining(&self) -> RpcResult<bool> {
        Ok(self.node.mining() != MiningMode::Manual)
    }

    fn hashrate(&self) -> RpcResult<U256> {
        Ok(U256::ZERO)
    }

    fn get_balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        trace!(%address, ?block, "eth_getBalance");
        ok(self.node.balance(address, block))
    }

    fn get_transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        ok(self.node.transaction_count(address, block).map(U256::from))
    }

    fn get_account_info(&self, address: Address, block: Option<BlockId>) -> RpcResult<AccountInfo> {
        let (balance, nonce, code) = ok(self.node.account_info(address, block))?;
        Ok(AccountInfo { balance, nonce: U64::from(nonce), code })
    }

    fn get_code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        ok(self.node.code(address, block))
    }

    fn get_storage_at(
        &self,
        address: Address,
        slot: StorageSlot,
        block: Option<BlockId>,
    ) -> RpcResult<B256> {
        ok(self.node.storage_at(address, slot.0, block))
    }

    fn get_block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: bool,
    ) -> RpcResult<Option<Block>> {
        Ok(self.node.block(number.into(), full))
    }

    fn get_block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        Ok(self.node.block(hash.into(), full))
    }

    fn get_block_transaction_count_by_number(
        &self,
        number: BlockNumberOrTag,
    ) -> RpcResult<Option<U256>> {
        Ok(self.node.block_transaction_count(number.into()).map(U256::from))
    }

    fn get_block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U256>> {
        Ok(self.node.block_transaction_count(hash.into()).map(U256::from))
    }

    fn get_uncle_count_by_block_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U256>> {
        Ok(self.node.block_transaction_count(number.into()).map(|_| U256::ZERO))
    }

    fn get_uncle_count_by_block_hash(&self, hash: B256) -> RpcResult<Option<U256>> {
        Ok(self.node.block_transaction_count(hash.into()).map(|_| U256::ZERO))
    }

    fn get_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        Ok(self.node.transaction_by_hash(hash))
    }

    fn get_transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        Ok(self.node.transaction_by_block_and_index(hash.into(), index.to()))
    }

    fn get_transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        Ok(self.node.transaction_by_block_and_index(number.into(), index.to()))
    }

    fn get_transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
        Ok(self.node.receipt(hash))
    }

    fn get_block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        Ok(self.node.block_receipts(block))
    }

    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        trace!(bytes = raw.len(), "eth_sendRawTransaction");
        ok(self.node.send_raw_transaction(raw).await)
    }

    async fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256> {
        ok(self.node.send_transaction(request).await)
    }

    fn sign(&self, address: Address, message: Bytes) -> RpcResult<Bytes> {
        ok(self.node.accounts().sign_message(address, &message))
    }

    fn sign_typed_data_v4(&self, address: Address, data: TypedDataParam) -> RpcResult<Bytes> {
        ok(self.node.accounts().sign_typed_data(address, &data.0))
    }

    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<Bytes> {
        ok(self.node.call(request, block, state_overrides).await)
    }

    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<U64> {
        ok(self.node.estimate_gas(request, block, state_overrides).await.map(U64::from))
    }

    async fn simulate_v1(
        &self,
        payload: ir3_evm::simulate::SimulatePayload,
        block: Option<BlockId>,
    ) -> RpcResult<Vec<alloy_rpc_types_eth::simulate::SimulatedBlock>> {
        ok(self.node.simulate_v1(payload, block).await)
    }

    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<AccessListResult> {
        ok(self.node.create_access_list(request, block).await)
    }

    fn get_logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        ok(self.node.logs(&filter))
    }

    fn new_filter(&self, filter: Filter) -> RpcResult<U256> {
        ok(self.filters.new_log_filter(filter))
    }

    fn new_block_filter(&self) -> RpcResult<U256> {
        ok(self.filters.new_block_filter())
    }

    fn new_pending_transaction_filter(&self) -> RpcResult<U256> {
        ok(self.filters.new_pending_transaction_filter())
    }

    fn get_filter_changes(&self, id: U256) -> RpcResult<FilterChanges> {
        ok(self.filters.changes(id))
    }

    fn get_filter_logs(&self, id: U256) -> RpcResult<Vec<Log>> {
        ok(self.filters.logs(id))
    }

    fn uninstall_filter(&self, id: U256) -> RpcResult<bool> {
        Ok(self.filters.uninstall(id))
    }
}
