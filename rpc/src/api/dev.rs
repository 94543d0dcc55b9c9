//! The dev-node namespaces as Anvil 1.7.1 serves them: `anvil_` (with its `hardhat_`
//! aliases) and `evm_` (with its `anvil_` aliases). Implemented in [`crate::dev`].

use alloy_primitives::{Address, B256, Bytes, U256};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};

use crate::params::{MineOptions, Quantity, ResetOptions};

/// The `anvil_` namespace (Hardhat's names are accepted as aliases).
#[rpc(server, namespace = "anvil")]
pub trait AnvilApi {
    /// Sets an account's balance.
    #[method(name = "setBalance", aliases = ["hardhat_setBalance"])]
    async fn set_balance(&self, address: Address, balance: Quantity) -> RpcResult<()>;
    /// Adds to an account's balance.
    #[method(name = "addBalance")]
    async fn add_balance(&self, address: Address, amount: Quantity) -> RpcResult<()>;
    /// Sets an account's code.
    #[method(name = "setCode", aliases = ["hardhat_setCode"])]
    async fn set_code(&self, address: Address, code: Bytes) -> RpcResult<()>;
    /// Sets an account's nonce.
    #[method(name = "setNonce", aliases = ["hardhat_setNonce"])]
    async fn set_nonce(&self, address: Address, nonce: Quantity) -> RpcResult<()>;
    /// Sets a storage slot.
    #[method(name = "setStorageAt", aliases = ["hardhat_setStorageAt"])]
    async fn set_storage_at(
        &self,
        address: Address,
        slot: Quantity,
        value: B256,
    ) -> RpcResult<bool>;
    /// Lets `eth_sendTransaction` send from this account without its key.
    #[method(name = "impersonateAccount", aliases = ["hardhat_impersonateAccount"])]
    async fn impersonate_account(&self, address: Address) -> RpcResult<()>;
    /// Stops impersonating an account.
    #[method(name = "stopImpersonatingAccount", aliases = ["hardhat_stopImpersonatingAccount"])]
    async fn stop_impersonating_account(&self, address: Address) -> RpcResult<()>;
    /// Impersonates every account.
    #[method(name = "autoImpersonateAccount")]
    async fn auto_impersonate_account(&self, enabled: bool) -> RpcResult<()>;
    /// Whether automine is on.
    #[method(name = "getAutomine", aliases = ["hardhat_getAutomine"])]
    fn get_automine(&self) -> RpcResult<bool>;
    /// The interval of interval mining, in seconds, if on.
    #[method(name = "getIntervalMining")]
    fn get_interval_mining(&self) -> RpcResult<Option<u64>>;
    /// Mines `blocks` blocks (default 1), `interval` seconds apart.
    #[method(name = "mine", aliases = ["hardhat_mine"])]
    async fn mine(&self, blocks: Option<Quantity>, interval: Option<Quantity>) -> RpcResult<()>;
    /// Removes a pooled transaction; its hash if it was pooled.
    #[method(name = "dropTransaction", aliases = ["hardhat_dropTransaction"])]
    async fn drop_transaction(&self, hash: B256) -> RpcResult<Option<B256>>;
    /// Removes every pooled transaction.
    #[method(name = "dropAllTransactions", aliases = ["hardhat_dropAllTransactions"])]
    async fn drop_all_transactions(&self) -> RpcResult<()>;
    /// Removes every pooled transaction of a sender.
    #[method(name = "removePoolTransactions")]
    async fn remove_pool_transactions(&self, address: Address) -> RpcResult<()>;
    /// Starts a new chain from the same genesis (or from a fork).
    #[method(name = "reset", aliases = ["hardhat_reset"])]
    async fn reset(&self, options: Option<ResetOptions>) -> RpcResult<()>;
    /// Moves the chain clock; returns how far it jumped forward.
    #[method(name = "setTime")]
    async fn set_time(&self, timestamp: Quantity) -> RpcResult<u64>;
    /// Spaces block timestamps by a fixed interval.
    #[method(name = "setBlockTimestampInterval")]
    async fn set_block_timestamp_interval(&self, seconds: Quantity) -> RpcResult<()>;
    /// Removes the fixed timestamp interval; whether one was set.
    #[method(name = "removeBlockTimestampInterval")]
    async fn remove_block_timestamp_interval(&self) -> RpcResult<bool>;
    /// Sets the base fee of the next block.
    #[method(name = "setNextBlockBaseFeePerGas", aliases = ["hardhat_setNextBlockBaseFeePerGas"])]
    async fn set_next_block_base_fee_per_gas(&self, base_fee: Quantity) -> RpcResult<()>;
    /// Sets the lowest accepted gas price (pre-London chains only).
    #[method(name = "setMinGasPrice", aliases = ["hardhat_setMinGasPrice"])]
    async fn set_min_gas_price(&self, price: Quantity) -> RpcResult<()>;
    /// Sets the coinbase of new blocks.
    #[method(name = "setCoinbase", aliases = ["hardhat_setCoinbase"])]
    async fn set_coinbase(&self, address: Address) -> RpcResult<()>;
    /// Node information (Anvil's shape).
    #[method(name = "nodeInfo")]
    fn node_info(&self) -> RpcResult<serde_json::Value>;
    /// Node metadata (Anvil's shape, as Hardhat's `hardhat_metadata`).
    #[method(name = "metadata", aliases = ["hardhat_metadata"])]
    fn metadata(&self) -> RpcResult<serde_json::Value>;
    /// The whole latest state, gzip-compressed JSON in Anvil's format, hex-encoded.
    #[method(name = "dumpState", aliases = ["hardhat_dumpState"])]
    async fn dump_state(&self, preserve_historical: Option<bool>) -> RpcResult<Bytes>;
    /// Loads a state dumped by `anvil_dumpState` (this node's or Anvil's).
    #[method(name = "loadState", aliases = ["hardhat_loadState"])]
    async fn load_state(&self, state: Bytes) -> RpcResult<bool>;
    /// Turns logging of RPC calls on or off (accepted for compatibility; logs go by `--log`).
    #[method(name = "setLoggingEnabled", aliases = ["hardhat_setLoggingEnabled"])]
    fn set_logging_enabled(&self, enabled: bool) -> RpcResult<()>;
}

/// The `evm_` namespace (Anvil's `anvil_` names are accepted as aliases).
#[rpc(server, namespace = "evm")]
pub trait EvmApi {
    /// Mines one block, optionally at a timestamp (`evm_mine(timestamp)` or
    /// `evm_mine({timestamp, blocks})`).
    #[method(name = "mine")]
    async fn mine(&self, options: Option<MineOptions>) -> RpcResult<String>;
    /// Takes a snapshot; its id.
    #[method(name = "snapshot", aliases = ["anvil_snapshot"])]
    async fn snapshot(&self) -> RpcResult<U256>;
    /// Reverts to a snapshot; whether it existed.
    #[method(name = "revert", aliases = ["anvil_revert"])]
    async fn revert(&self, id: Quantity) -> RpcResult<bool>;
    /// Turns automine on or off.
    #[method(name = "setAutomine", aliases = ["anvil_setAutomine"])]
    async fn set_automine(&self, enabled: bool) -> RpcResult<()>;
    /// Mines a block every `seconds` (0 turns it off).
    #[method(name = "setIntervalMining", aliases = ["anvil_setIntervalMining"])]
    async fn set_interval_mining(&self, seconds: Quantity) -> RpcResult<()>;
    /// Moves the chain clock forward; the total offset in seconds.
    #[method(name = "increaseTime", aliases = ["anvil_increaseTime"])]
    async fn increase_time(&self, seconds: Quantity) -> RpcResult<i64>;
    /// Sets the timestamp of the next block.
    #[method(name = "setNextBlockTimestamp", aliases = ["anvil_setNextBlockTimestamp"])]
    async fn set_next_block_timestamp(&self, timestamp: Quantity) -> RpcResult<()>;
    /// Sets the gas limit of new blocks.
    #[method(name = "setBlockGasLimit", aliases = ["anvil_setBlockGasLimit"])]
    async fn set_block_gas_limit(&self, gas_limit: Quantity) -> RpcResult<bool>;
}

/// The `testing_` namespace (execution-apis): building a block without importing it.
#[rpc(server, namespace = "testing")]
pub trait TestingApi {
    /// Builds a block on the head (`parent`) from `transactions` (raw; `null`: the pool's) and
    /// payload attributes, and returns it as an execution payload; the chain is left as it was.
    #[method(name = "buildBlockV1")]
    async fn build_block_v1(
        &self,
        parent: B256,
        attributes: ir3_evm::build::PayloadAttributes,
        transactions: Option<Vec<Bytes>>,
        extra_data: Option<Bytes>,
    ) -> RpcResult<serde_json::Value>;
}
