//! Handlers of the dev-node namespaces `anvil_` and `evm_` (and their `hardhat_` aliases):
//! parameter decoding and Anvil's result shapes; the work is done by the EVM app.

use std::sync::Arc;

use alloy_eips::BlockNumberOrTag;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use ir3_evm::{EvmNode, MiningMode, state_dump::StateDump};
use jsonrpsee::core::{RpcResult, async_trait};
use serde_json::{Value, json};

use crate::{
    api::{AnvilApiServer, EvmApiServer, TestingApiServer},
    error::{RpcError, ok},
    params::{MineOptions, Quantity, ResetOptions},
};

/// Handler of the `anvil_` and `evm_` namespaces.
#[derive(Debug, Clone)]
pub struct DevApi {
    node: Arc<EvmNode>,
    instance_id: B256,
}

impl DevApi {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>) -> Self {
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        Self { node, instance_id: keccak256(seed) }
    }
}

fn to_u64(value: Quantity, what: &str) -> RpcResult<u64> {
    u64::try_from(value.0)
        .map_err(|_| RpcError::InvalidParams(format!("{what} does not fit in 64 bits")).into())
}

fn to_u128(value: Quantity, what: &str) -> RpcResult<u128> {
    u128::try_from(value.0)
        .map_err(|_| RpcError::InvalidParams(format!("{what} does not fit in 128 bits")).into())
}

#[async_trait]
impl TestingApiServer for DevApi {
    async fn build_block_v1(
        &self,
        parent: B256,
        attributes: ir3_evm::build::PayloadAttributes,
        transactions: Option<Vec<Bytes>>,
        extra_data: Option<Bytes>,
    ) -> RpcResult<serde_json::Value> {
        let node = self.node.clone();
        ok(tokio::task::block_in_place(|| {
            node.build_payload(parent, attributes, transactions, extra_data)
        }))
    }
}

#[async_trait]
impl AnvilApiServer for DevApi {
    async fn set_balance(&self, address: Address, balance: Quantity) -> RpcResult<()> {
        ok(self.node.set_balance(address, balance.0).await)
    }

    async fn add_balance(&self, address: Address, amount: Quantity) -> RpcResult<()> {
        ok(self.node.add_balance(address, amount.0).await)
    }

    async fn set_code(&self, address: Address, code: Bytes) -> RpcResult<()> {
        ok(self.node.set_code(address, code).await)
    }

    async fn set_nonce(&self, address: Address, nonce: Quantity) -> RpcResult<()> {
        ok(self.node.set_nonce(address, to_u64(nonce, "nonce")?).await)
    }

    async fn set_storage_at(
        &self,
        address: Address,
        slot: Quantity,
        value: B256,
    ) -> RpcResult<bool> {
        ok(self.node.set_storage(address, slot.0, U256::from_be_bytes(value.0)).await)?;
        Ok(true)
    }

    async fn impersonate_account(&self, address: Address) -> RpcResult<()> {
        ok(self.node.impersonate(address, true).await)
    }

    async fn stop_impersonating_account(&self, address: Address) -> RpcResult<()> {
        ok(self.node.impersonate(address, false).await)
    }

    async fn auto_impersonate_account(&self, enabled: bool) -> RpcResult<()> {
        ok(self.node.auto_impersonate(enabled).await)
    }

    fn get_automine(&self) -> RpcResult<bool> {
        Ok(self.node.mining() == MiningMode::Auto)
    }

    fn get_interval_mining(&self) -> RpcResult<Option<u64>> {
        Ok(match self.node.mining() {
            MiningMode::Interval(every) => Some(every.as_secs()),
            _ => None,
        })
    }

    async fn mine(&self, blocks: Option<Quantity>, interval: Option<Quantity>) -> RpcResult<()> {
        let count = blocks.map(|b| to_u64(b, "block count")).transpose()?.unwrap_or(1);
        let interval = interval.map(|i| to_u64(i, "interval")).transpose()?;
        ok(self.node.mine(count, interval, None).await)?;
        Ok(())
    }

    async fn drop_transaction(&self, hash: B256) -> RpcResult<Option<B256>> {
        ok(self.node.drop_transaction(hash).await)
    }

    async fn drop_all_transactions(&self) -> RpcResult<()> {
        ok(self.node.drop_all_transactions().await)
    }

    async fn remove_pool_transactions(&self, address: Address) -> RpcResult<()> {
        ok(self.node.remove_pool_transactions(address).await)
    }

    async fn reset(&self, options: Option<ResetOptions>) -> RpcResult<()> {
        let Some(forking) = options.and_then(|o| o.forking) else {
            return ok(self.node.reset(None).await);
        };
        let block = forking.block_number.map(|b| to_u64(b, "fork block number")).transpose()?;
        ok(self.node.reset_fork(forking.json_rpc_url, block).await)
    }

    async fn set_time(&self, timestamp: Quantity) -> RpcResult<u64> {
        ok(self.node.set_time(to_u64(timestamp, "timestamp")?).await)
    }

    async fn set_block_timestamp_interval(&self, seconds: Quantity) -> RpcResult<()> {
        ok(self.node.set_block_timestamp_interval(to_u64(seconds, "interval")?).await)
    }

    async fn remove_block_timestamp_interval(&self) -> RpcResult<bool> {
        ok(self.node.remove_block_timestamp_interval().await)
    }

    async fn set_next_block_base_fee_per_gas(&self, base_fee: Quantity) -> RpcResult<()> {
        ok(self.node.set_next_block_base_fee(to_u64(base_fee, "base fee")?).await)
    }

    async fn set_min_gas_price(&self, price: Quantity) -> RpcResult<()> {
        ok(self.node.set_min_gas_price(to_u128(price, "gas price")?).await)
    }

    async fn set_coinbase(&self, address: Address) -> RpcResult<()> {
        ok(self.node.set_coinbase(address).await)
    }

    fn node_info(&self) -> RpcResult<Value> {
        let config = self.node.config();
        let head = self
            .node
            .block(BlockNumberOrTag::Latest.into(), false)
            .ok_or_else(|| RpcError::InvalidParams("no head block".into()))?;
        let mining = self.node.mining();
        Ok(json!({
            "currentBlockNumber": format!("{:#x}", head.header.number),
            "currentBlockTimestamp": head.header.timestamp,
            "currentBlockHash": head.header.hash,
            "hardFork": <&'static str>::from(config.spec),
            "transactionOrder": "fees",
            "environment": {
                "baseFee": format!("{:#x}", self.node.with_chain(|c| c.next_base_fee())),
                "chainId": config.chain_id,
                "gasLimit": format!("{:#x}", self.node.with_chain(|c| c.settings().gas_limit)),
                "gasPrice": format!("{:#x}", self.node.gas_price()),
            },
            "forkConfig": {
                "forkUrl": config.fork.as_ref().map(|f| f.url.clone()),
                "forkBlockNumber": config.fork.as_ref().map(|f| f.block_number),
                "forkRetryBackoff": Value::Null,
            },
            "mining": match mining {
                MiningMode::Auto => json!("automine"),
                MiningMode::Manual => json!("manual"),
                MiningMode::Interval(every) => json!({ "interval": every.as_secs_f64() }),
            },
        }))
    }

    fn metadata(&self) -> RpcResult<Value> {
        let config = self.node.config();
        let (number, hash, snapshots) = self.node.with_chain(|chain| {
            let snapshots: serde_json::Map<String, Value> = chain
                .snapshots()
                .map(|(id, number, hash)| (format!("{id:#x}"), json!([number, hash])))
                .collect();
            (chain.head_number(), chain.head().hash, snapshots)
        });
        let version = env!("CARGO_PKG_VERSION");
        Ok(json!({
            "clientVersion": format!("ir3/v{version}"),
            "clientSemver": version,
            "clientCommitSha": Value::Null,
            "chainId": config.chain_id,
            "instanceId": self.instance_id,
            "latestBlockNumber": number,
            "latestBlockHash": hash,
            "forkedNetwork": config.fork.as_ref().map(|f| json!({
                "chainId": f.chain_id,
                "forkBlockNumber": f.block_number,
                "forkBlockHash": f.block_hash,
            })),
            "snapshots": snapshots,
        }))
    }

    async fn dump_state(&self, _preserve_historical: Option<bool>) -> RpcResult<Bytes> {
        let dump = self.node.dump_state();
        Ok(ok(dump.to_gzip())?.into())
    }

    async fn load_state(&self, state: Bytes) -> RpcResult<bool> {
        ok(self.node.refuse_in_network_mode())?;
        let dump = ok(StateDump::decode(&state))?;
        ok(self.node.load_state(dump).await)?;
        Ok(true)
    }

    fn set_logging_enabled(&self, _enabled: bool) -> RpcResult<()> {
        Ok(())
    }
}

#[async_trait]
impl EvmApiServer for DevApi {
    async fn mine(&self, options: Option<MineOptions>) -> RpcResult<String> {
        let options = options.unwrap_or_default();
        let timestamp = options.timestamp.map(|t| to_u64(t, "timestamp")).transpose()?;
        let blocks = options.blocks.map(|b| to_u64(b, "block count")).transpose()?.unwrap_or(1);
        ok(self.node.mine(blocks, None, timestamp).await)?;
        Ok("0x0".into())
    }

    async fn snapshot(&self) -> RpcResult<U256> {
        Ok(U256::from(ok(self.node.snapshot().await)?))
    }

    async fn revert(&self, id: Quantity) -> RpcResult<bool> {
        match u64::try_from(id.0) {
            Ok(id) => ok(self.node.revert(id).await),
            Err(_) => Ok(false),
        }
    }

    async fn set_automine(&self, enabled: bool) -> RpcResult<()> {
        ok(self.node.set_automine(enabled).await)
    }

    async fn set_interval_mining(&self, seconds: Quantity) -> RpcResult<()> {
        ok(self.node.set_interval_mining(to_u64(seconds, "interval")?).await)
    }

    async fn increase_time(&self, seconds: Quantity) -> RpcResult<i64> {
        let seconds = i64::try_from(seconds.0)
            .map_err(|_| RpcError::InvalidParams(format!("invalid seconds: {}", seconds.0)))?;
        ok(self.node.increase_time(seconds).await)
    }

    async fn set_next_block_timestamp(&self, timestamp: Quantity) -> RpcResult<()> {
        ok(self.node.set_next_block_timestamp(to_u64(timestamp, "timestamp")?).await)
    }

    async fn set_block_gas_limit(&self, gas_limit: Quantity) -> RpcResult<bool> {
        ok(self.node.set_block_gas_limit(to_u64(gas_limit, "gas limit")?).await)?;
        Ok(true)
    }
}
