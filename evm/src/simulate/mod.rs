//! `eth_simulateV1` (execution-apis; geth's behaviour is the reference): calls executed in a
//! chain of simulated blocks built on a block of the node's chain, each block with its own
//! block and state overrides, without changing the chain.
//!
//! The blocks are complete: header fields as geth fills them (state root included), the
//! transactions the calls become (unsigned, so their hashes are geth's), receipts, withdrawals
//! and the system calls of the block's fork (EIP-4788, EIP-2935, EIP-7002, EIP-7251). `BLOCKHASH`
//! in a simulated block sees the earlier simulated blocks.

mod block;
mod precompiles;
mod tracer;

use std::sync::Arc;

use alloy_eips::{BlockId, eip4895::Withdrawal};
use alloy_rpc_types_eth::{
    BlockOverrides, TransactionRequest, simulate::SimulatedBlock, state::StateOverride,
};
use serde::{Deserialize, Serialize};

pub use tracer::ETH_TRANSFER_ADDRESS;

use crate::{
    chain::Chain,
    error::{EvmError, Result, SimulateErrorKind},
    node::EvmNode,
};

/// Most blocks one request may simulate (counted from the base block, gaps included).
pub const MAX_SIMULATE_BLOCKS: u64 = 256;
/// Most calls in one simulated block.
pub const MAX_CALLS_PER_BLOCK: usize = 5_000;
/// Most calls in one request.
pub const MAX_TOTAL_CALLS: usize = 10_000;
/// Gas all the calls of one request may use together (geth's default RPC gas cap): a call
/// without a gas limit gets what is left of it, at most what is left of its block's gas.
pub const SIMULATE_GAS_CAP: u64 = 50_000_000;
/// Seconds between a block and the next when the request does not set the time.
const TIMESTAMP_INCREMENT: u64 = 12;

/// The first parameter of `eth_simulateV1`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatePayload {
    /// The blocks to simulate, in order.
    #[serde(default)]
    pub block_state_calls: Vec<SimBlock>,
    /// Report ETH transfers as ERC-7528 `Transfer` logs.
    #[serde(default)]
    pub trace_transfers: bool,
    /// Validate the calls as transactions (nonces, base fee) instead of as `eth_call`s.
    #[serde(default)]
    pub validation: bool,
    /// Return transaction objects rather than hashes.
    #[serde(default)]
    pub return_full_transactions: bool,
}

/// One simulated block of the request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimBlock {
    /// Header fields to set.
    #[serde(default)]
    pub block_overrides: Option<SimBlockOverrides>,
    /// Accounts to change before the block's calls.
    #[serde(default)]
    pub state_overrides: Option<StateOverride>,
    /// The calls, executed in order as the block's transactions.
    #[serde(default)]
    pub calls: Vec<TransactionRequest>,
}

/// `blockOverrides` of `eth_simulateV1`: those of `eth_call` and the block's withdrawals.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimBlockOverrides {
    /// Number, time, gas limit, fee recipient, prevRandao, base fee, blob base fee, ...
    #[serde(flatten)]
    pub block: BlockOverrides,
    /// Withdrawals credited at the end of the block.
    #[serde(default)]
    pub withdrawals: Option<Vec<Withdrawal>>,
}

impl EvmNode {
    /// `eth_simulateV1`: the simulated blocks, with the result of every call.
    pub async fn simulate_v1(
        self: &Arc<Self>,
        payload: SimulatePayload,
        block: Option<BlockId>,
    ) -> Result<Vec<SimulatedBlock>> {
        self.blocking(move |chain| simulate(chain, &payload, block)).await
    }
}

/// Runs a simulation on `chain`, over the post-state of `block` (latest by default).
pub fn simulate(
    chain: &Chain,
    payload: &SimulatePayload,
    block: Option<BlockId>,
) -> Result<Vec<SimulatedBlock>> {
    let base_number = chain.resolve(block)?;
    let base = chain
        .block(base_number)
        .ok_or_else(|| EvmError::BlockNotFound("header not found".into()))?;
    let plan = plan_blocks(base.header.number, base.header.timestamp, &payload.block_state_calls)?;
    let mut simulator = block::Simulator::new(chain, base_number, payload)?;
    let mut parent = block::Parent::of(&base);
    let mut results = Vec::with_capacity(plan.len());
    for planned in &plan {
        let (simulated, next) = simulator.simulate_block(planned, &parent)?;
        results.push(simulated);
        parent = next;
    }
    Ok(results)
}

/// A block to simulate, with its number and time settled (gaps filled with empty blocks).
#[derive(Debug, Clone)]
pub(crate) struct PlannedBlock<'a> {
    /// Block number.
    pub(crate) number: u64,
    /// Timestamp.
    pub(crate) timestamp: u64,
    /// The request's block overrides (none for a block filling a gap).
    pub(crate) overrides: Option<&'a BlockOverrides>,
    /// The request's state overrides.
    pub(crate) state: Option<&'a StateOverride>,
    /// The calls.
    pub(crate) calls: &'a [TransactionRequest],
    /// Withdrawals credited at the end of the block.
    pub(crate) withdrawals: &'a [Withdrawal],
}

/// Settles every block's number and timestamp (geth's `sanitizeChain`): numbers and times
/// default to the previous plus 1 and plus 12 seconds, must increase, and skipped numbers
/// become empty blocks.
pub(crate) fn plan_blocks(
    base_number: u64,
    base_timestamp: u64,
    blocks: &[SimBlock],
) -> Result<Vec<PlannedBlock<'_>>> {
    let total_calls: usize = blocks.iter().map(|b| b.calls.len()).sum();
    if total_calls > MAX_TOTAL_CALLS || blocks.iter().any(|b| b.calls.len() > MAX_CALLS_PER_BLOCK) {
        return Err(EvmError::simulate(SimulateErrorKind::ClientLimitExceeded, "too many calls"));
    }
    let mut plan = Vec::new();
    let (mut previous_number, mut previous_time) = (base_number, base_timestamp);
    for block in blocks {
        let overrides = block.block_overrides.as_ref();
        let number = match overrides.and_then(|o| o.block.number) {
            Some(number) => u64::try_from(number).map_err(|_| {
                EvmError::simulate(SimulateErrorKind::ClientLimitExceeded, "too many blocks")
            })?,
            None => previous_number.saturating_add(1),
        };
        if number <= previous_number {
            return Err(EvmError::simulate(
                SimulateErrorKind::BlockNumberInvalid,
                format!("block numbers must be in order: {number} <= {previous_number}"),
            ));
        }
        if number - base_number > MAX_SIMULATE_BLOCKS {
            return Err(EvmError::simulate(
                SimulateErrorKind::ClientLimitExceeded,
                "too many blocks",
            ));
        }
        for gap in previous_number + 1..number {
            previous_time = previous_time.saturating_add(TIMESTAMP_INCREMENT);
            plan.push(PlannedBlock {
                number: gap,
                timestamp: previous_time,
                overrides: None,
                state: None,
                calls: &[],
                withdrawals: &[],
            });
        }
        let timestamp = match overrides.and_then(|o| o.block.time) {
            Some(time) if time <= previous_time => {
                return Err(EvmError::simulate(
                    SimulateErrorKind::BlockTimestampInvalid,
                    format!("block timestamps must be in order: {time} <= {previous_time}"),
                ));
            }
            Some(time) => time,
            None => previous_time.saturating_add(TIMESTAMP_INCREMENT),
        };
        plan.push(PlannedBlock {
            number,
            timestamp,
            overrides: overrides.map(|o| &o.block),
            state: block.state_overrides.as_ref(),
            calls: &block.calls,
            withdrawals: overrides.and_then(|o| o.withdrawals.as_deref()).unwrap_or(&[]),
        });
        previous_number = number;
        previous_time = timestamp;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
