//! Read methods over the derived chain: accounts at any block, blocks, transactions, receipts,
//! logs and fees.

use alloy_consensus::Transaction as _;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rpc_types_eth::{self as rpc, Filter, FilterBlockOption};

use crate::{
    chain::Chain,
    config::DEFAULT_PRIORITY_FEE,
    error::{EvmError, Result},
    node::EvmNode,
};

/// Widest block range one `eth_getLogs` may scan.
pub const DEFAULT_MAX_LOG_BLOCK_RANGE: u64 = 100_000;
/// Most logs one `eth_getLogs` may return.
pub const DEFAULT_MAX_LOGS: usize = 100_000;
/// Most blocks one `eth_feeHistory` may cover.
pub const MAX_FEE_HISTORY_BLOCKS: u64 = 1024;

impl EvmNode {
    /// Balance at a block. (State reads go through [`EvmNode::read_state`]: a forked
    /// parent is never waited on under the chain lock.)
    pub fn balance(&self, address: Address, block: Option<BlockId>) -> Result<U256> {
        self.read_state(|chain| {
            let number = chain.resolve(block)?;
            Ok(chain.account(address, number).map(|a| a.balance).unwrap_or_default())
        })
    }

    /// Nonce at a block (`pending` counts pooled transactions).
    pub fn transaction_count(&self, address: Address, block: Option<BlockId>) -> Result<u64> {
        if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
            return Ok(self.pending_nonce(address));
        }
        self.read_state(|chain| {
            let number = chain.resolve(block)?;
            Ok(chain.account(address, number).map(|a| a.nonce).unwrap_or_default())
        })
    }

    /// Code at a block.
    pub fn code(&self, address: Address, block: Option<BlockId>) -> Result<Bytes> {
        self.read_state(|chain| {
            let number = chain.resolve(block)?;
            Ok(chain
                .account(address, number)
                .and_then(|a| chain.state().code(a.code_hash))
                .map(|code| code.original_bytes())
                .unwrap_or_default())
        })
    }

    /// Balance, nonce and code of an account at one block (`eth_getAccountInfo`): all three
    /// at the same block, even if a new head lands while they are read.
    pub fn account_info(
        &self,
        address: Address,
        block: Option<BlockId>,
    ) -> Result<(U256, u64, Bytes)> {
        self.read_state(|chain| {
            let number = chain.resolve(block)?;
            let Some(account) = chain.account(address, number) else {
                return Ok(Default::default());
            };
            let code = chain.state().code(account.code_hash).map(|c| c.original_bytes());
            Ok((account.balance, account.nonce, code.unwrap_or_default()))
        })
    }

    /// A storage slot at a block.
    pub fn storage_at(&self, address: Address, slot: U256, block: Option<BlockId>) -> Result<B256> {
        self.read_state(|chain| {
            let number = chain.resolve(block)?;
            Ok(chain.storage(address, slot, number).into())
        })
    }

    /// Number of the latest block.
    pub fn block_number(&self) -> u64 {
        self.with_chain(Chain::head_number)
    }

    /// A block by id, `None` when it does not exist.
    pub fn block(&self, id: BlockId, full: bool) -> Option<rpc::Block> {
        self.with_chain(|chain| chain.block_by_id(id).map(|b| b.rpc_block(full)))
    }

    /// Number of transactions in a block.
    pub fn block_transaction_count(&self, id: BlockId) -> Option<u64> {
        self.with_chain(|chain| chain.block_by_id(id).map(|b| b.transactions.len() as u64))
    }

    /// A transaction by hash, mined or pooled.
    pub fn transaction_by_hash(&self, hash: B256) -> Option<rpc::Transaction> {
        if let Some(tx) = self.with_chain(|chain| {
            chain.locate_tx(hash).and_then(|(block, index)| block.rpc_transaction(index))
        }) {
            return Some(tx);
        }
        self.pooled_transaction(&hash).map(|tx| rpc::Transaction {
            inner: alloy_consensus::transaction::Recovered::new_unchecked(
                tx.envelope.clone(),
                tx.sender,
            ),
            block_hash: None,
            block_number: None,
            transaction_index: None,
            // As geth: a pending transaction's gas price is its fee cap.
            effective_gas_price: Some(alloy_consensus::Transaction::max_fee_per_gas(&tx.envelope)),
            block_timestamp: None,
        })
    }

    /// A transaction by block and index.
    pub fn transaction_by_block_and_index(
        &self,
        id: BlockId,
        index: usize,
    ) -> Option<rpc::Transaction> {
        self.with_chain(|chain| chain.block_by_id(id).and_then(|b| b.rpc_transaction(index)))
    }

    /// The raw bytes of a mined or pooled transaction.
    pub fn raw_transaction(&self, hash: B256) -> Option<Bytes> {
        self.with_chain(|chain| {
            chain.locate_tx(hash).and_then(|(b, i)| b.transactions.get(i).map(|t| t.raw.clone()))
        })
        .or_else(|| self.pooled_transaction(&hash).map(|tx| tx.raw.clone()))
    }

    /// A receipt by transaction hash.
    pub fn receipt(&self, hash: B256) -> Option<rpc::TransactionReceipt> {
        self.with_chain(|chain| {
            chain.locate_tx(hash).and_then(|(block, index)| {
                block.rpc_receipt(index, chain.blob_gas_price(&block.header))
            })
        })
    }

    /// All receipts of a block.
    pub fn block_receipts(&self, id: BlockId) -> Option<Vec<rpc::TransactionReceipt>> {
        self.with_chain(|chain| {
            chain.block_by_id(id).map(|block| {
                let blob_gas_price = chain.blob_gas_price(&block.header);
                (0..block.transactions.len())
                    .filter_map(|i| block.rpc_receipt(i, blob_gas_price))
                    .collect()
            })
        })
    }

    /// Logs matching a filter.
    pub fn logs(&self, filter: &Filter) -> Result<Vec<rpc::Log>> {
        self.with_chain(|chain| {
            let (from, to) = match filter.block_option {
                FilterBlockOption::AtBlockHash(hash) => {
                    let block = chain
                        .block_by_hash(hash)
                        .ok_or_else(|| EvmError::BlockNotFound("unknown block".into()))?;
                    (block.number(), block.number())
                }
                FilterBlockOption::Range { from_block, to_block } => {
                    let head = chain.head_number();
                    let resolve = |tag: Option<BlockNumberOrTag>| match tag {
                        Some(BlockNumberOrTag::Number(n)) => n,
                        Some(BlockNumberOrTag::Earliest) => 0,
                        _ => head,
                    };
                    let (from, to) = (resolve(from_block), resolve(to_block));
                    // geth's checks and wording.
                    if from > to {
                        return Err(EvmError::InvalidParams("invalid block range params".into()));
                    }
                    if to > head {
                        return Err(EvmError::InvalidParams(
                            "block range extends beyond current head block".into(),
                        ));
                    }
                    (from, to)
                }
            };
            logs_in_range(chain, filter, from, to)
        })
    }

    /// `eth_gasPrice`: next base fee plus the suggested tip.
    pub fn gas_price(&self) -> u128 {
        u128::from(self.with_chain(Chain::next_base_fee)) + DEFAULT_PRIORITY_FEE
    }

    /// `eth_blobBaseFee`: the blob gas price at the head (EIP-4844), from its excess blob gas
    /// under the blob parameters of its fork (as geth answers); 0 before Cancun, which has no
    /// blob gas market.
    pub fn blob_base_fee(&self) -> u128 {
        self.with_chain(|chain| chain.blob_gas_price(&chain.head().header).unwrap_or_default())
    }

    /// `eth_capabilities`: what history the node serves. Everything from the first block on
    /// (the store keeps every block and state version), proofs at the head only (the tries
    /// hold the latest state).
    pub fn capabilities(&self) -> serde_json::Value {
        self.with_chain(|chain| {
            let head = chain.head();
            let all = serde_json::json!({
                "disabled": false,
                "oldestBlock": format!("{:#x}", chain.first_number()),
            });
            serde_json::json!({
                "head": { "number": format!("{:#x}", head.number()), "hash": head.hash },
                "state": all, "tx": all, "logs": all, "receipts": all, "blocks": all,
                "stateproofs": { "disabled": false, "oldestBlock": format!("{:#x}", head.number()) },
            })
        })
    }

    /// `eth_config` (EIP-7910): the head's fork, the next and the last scheduled.
    pub fn fork_config(&self) -> crate::fork_config::ChainForkConfig {
        self.with_chain(|chain| {
            let head = chain.head();
            let genesis = chain.block(chain.first_number()).map(|b| b.hash).unwrap_or_default();
            crate::fork_config::fork_config(
                chain.config(),
                genesis,
                head.number(),
                head.header.timestamp,
            )
        })
    }

    /// `eth_maxPriorityFeePerGas`.
    pub fn max_priority_fee(&self) -> u128 {
        DEFAULT_PRIORITY_FEE
    }

    /// `eth_feeHistory`.
    pub fn fee_history(
        &self,
        block_count: u64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> Result<rpc::FeeHistory> {
        if let Some(p) = &percentiles {
            let ordered = p.windows(2).all(|w| w[0] <= w[1]);
            if !ordered || p.iter().any(|x| !(0.0..=100.0).contains(x)) {
                return Err(EvmError::InvalidParams("invalid reward percentiles".into()));
            }
        }
        self.with_chain(|chain| {
            let newest = chain.resolve_number(newest)?;
            let available = newest + 1 - chain.first_number();
            let count = block_count.clamp(0, MAX_FEE_HISTORY_BLOCKS).min(available);
            let oldest = newest + 1 - count;
            let mut history = rpc::FeeHistory { oldest_block: oldest, ..Default::default() };
            if count == 0 {
                return Ok(history);
            }
            for number in oldest..=newest {
                let Some(block) = chain.block(number) else { break };
                let header = &block.header;
                let base_fee = header.base_fee_per_gas.unwrap_or_default();
                history.base_fee_per_gas.push(u128::from(base_fee));
                history.gas_used_ratio.push(header.gas_used as f64 / header.gas_limit as f64);
                history.base_fee_per_blob_gas.push(1);
                history.blob_gas_used_ratio.push(0.0);
                if let Some(percentiles) = &percentiles {
                    let mut tips: Vec<(u128, u64)> = block
                        .transactions
                        .iter()
                        .zip(&block.receipts)
                        .map(|(tx, r)| {
                            (
                                tx.envelope.effective_tip_per_gas(base_fee).unwrap_or_default(),
                                r.gas_used,
                            )
                        })
                        .collect();
                    tips.sort_unstable();
                    let total: u64 = tips.iter().map(|(_, gas)| gas).sum();
                    let rewards = percentiles
                        .iter()
                        .map(|p| {
                            let threshold = (total as f64 * p / 100.0) as u64;
                            let mut cumulative = 0u64;
                            for (tip, gas) in &tips {
                                cumulative += gas;
                                if cumulative >= threshold {
                                    return *tip;
                                }
                            }
                            tips.last().map(|(tip, _)| *tip).unwrap_or_default()
                        })
                        .collect();
                    history.reward.get_or_insert_with(Vec::new).push(rewards);
                }
            }
            let next = if newest == chain.head_number() {
                chain.next_base_fee()
            } else {
                chain.block(newest + 1).and_then(|b| b.header.base_fee_per_gas).unwrap_or_default()
            };
            history.base_fee_per_gas.push(u128::from(next));
            history.base_fee_per_blob_gas.push(1);
            Ok(history)
        })
    }
}

/// Logs of blocks `from..=to` matching the filter's addresses and topics.
pub fn logs_in_range(chain: &Chain, filter: &Filter, from: u64, to: u64) -> Result<Vec<rpc::Log>> {
    if from > to {
        return Ok(Vec::new());
    }
    if to - from > DEFAULT_MAX_LOG_BLOCK_RANGE {
        return Err(EvmError::LimitExceeded(format!(
            "query exceeds max block range {DEFAULT_MAX_LOG_BLOCK_RANGE}"
        )));
    }
    let mut out = Vec::new();
    for number in from.max(chain.first_number())..=to {
        let Some(block) = chain.block(number) else { break };
        if !filter.matches_bloom(block.header.logs_bloom) {
            continue;
        }
        for index in 0..block.transactions.len() {
            for log in block.rpc_logs(index) {
                if filter.matches(&log.inner) {
                    out.push(log);
                }
            }
        }
        if out.len() > DEFAULT_MAX_LOGS {
            return Err(EvmError::LimitExceeded(format!(
                "query returned more than {DEFAULT_MAX_LOGS} results"
            )));
        }
    }
    Ok(out)
}
