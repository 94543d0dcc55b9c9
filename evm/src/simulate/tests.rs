//! Unit tests of `eth_simulateV1`: blocks see each other's state and hashes, validation errors
//! carry the spec's kinds, transfers become ERC-7528 logs, block numbers are planned as geth
//! plans them.

use std::sync::Arc;

use alloy_eips::BlockId;
use alloy_primitives::{Address, B256, U256};
use ir3_foundation::{MemorySeries, SeriesHandle};
use serde_json::json;

use super::{ETH_TRANSFER_ADDRESS, SimBlock, SimulatePayload, plan_blocks};
use crate::{EvmError, EvmNode, error::SimulateErrorKind, simulate::MAX_SIMULATE_BLOCKS};

fn node() -> Arc<EvmNode> {
    let series: SeriesHandle = Arc::new(MemorySeries::new());
    crate::test_node::open(&series).unwrap()
}

fn payload(value: serde_json::Value) -> SimulatePayload {
    serde_json::from_value(value).unwrap()
}

/// Runtime code returning one word computed by `op`: `op` PUSH1 0 MSTORE PUSH1 32 PUSH1 0
/// RETURN.
fn returns(op: &str) -> String {
    format!("0x{op}60005260206000f3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_sees_the_state_and_hash_of_the_one_before() {
    let node = node();
    let head = node.block_number();
    let sender = "0xc000000000000000000000000000000000000000";
    // PUSH20 0xc1.. BALANCE
    let balance_of_c1 = returns("73c10000000000000000000000000000000000000031");
    // PUSH1 1 NUMBER SUB BLOCKHASH
    let parent_hash = returns("6001430340");
    let request = payload(json!({
        "blockStateCalls": [
            {
                "stateOverrides": { sender: { "balance": "0x3e8" } },
                "calls": [{ "from": sender, "to": "0xc100000000000000000000000000000000000000", "value": "0x3e8" }]
            },
            {
                "stateOverrides": {
                    "0xc200000000000000000000000000000000000000": { "code": balance_of_c1 },
                    "0xc300000000000000000000000000000000000000": { "code": parent_hash }
                },
                "calls": [
                    { "to": "0xc200000000000000000000000000000000000000" },
                    { "to": "0xc300000000000000000000000000000000000000" }
                ]
            }
        ]
    }));
    let blocks = node.simulate_v1(request, Some(BlockId::latest())).await.unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].inner.header.number, head + 1);
    assert_eq!(blocks[1].inner.header.number, head + 2);
    assert_eq!(blocks[1].inner.header.timestamp, blocks[0].inner.header.timestamp + 12);
    assert_eq!(blocks[1].inner.header.parent_hash, blocks[0].inner.header.hash);
    let transfer = &blocks[0].calls[0];
    assert!(transfer.status);
    assert_eq!(transfer.gas_used, 21_000);
    assert_eq!(blocks[0].inner.header.gas_used, 21_000);
    let balance = U256::from_be_slice(&blocks[1].calls[0].return_data);
    assert_eq!(balance, U256::from(1000));
    let hash = B256::from_slice(&blocks[1].calls[1].return_data);
    assert_eq!(hash, blocks[0].inner.header.hash);
    // Nothing was written to the chain.
    assert_eq!(node.block_number(), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_block_keeps_the_state_root() {
    let node = node();
    let blocks = node.simulate_v1(payload(json!({"blockStateCalls": [{}]})), None).await.unwrap();
    let head = node.block(BlockId::latest(), false).unwrap();
    assert_eq!(blocks[0].inner.header.state_root, head.header.state_root);
    assert_eq!(blocks[0].inner.header.parent_hash, head.header.hash);
    assert!(blocks[0].calls.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_carry_the_spec_kinds() {
    let node = node();
    let sender = "0xc000000000000000000000000000000000000000";
    let call = json!({ "from": sender, "to": sender, "maxFeePerGas": "0x0" });
    let validated = payload(json!({
        "blockStateCalls": [{ "blockOverrides": { "baseFeePerGas": "0xa" }, "calls": [call] }],
        "validation": true
    }));
    let error = node.simulate_v1(validated, None).await.unwrap_err();
    assert!(
        matches!(error, EvmError::Simulate { kind: SimulateErrorKind::BaseFeeTooLow, .. }),
        "{error:?}"
    );
    // Without validation the same call runs, as an eth_call would.
    let unvalidated = payload(json!({
        "blockStateCalls": [{ "blockOverrides": { "baseFeePerGas": "0xa" }, "calls": [call] }]
    }));
    let blocks = node.simulate_v1(unvalidated, None).await.unwrap();
    assert!(blocks[0].calls[0].status);
    // A nonce ahead of the account's is refused with validation only.
    let ahead = json!({ "from": sender, "to": sender, "nonce": "0x5" });
    let validated = payload(json!({
        "blockStateCalls": [{ "blockOverrides": { "baseFeePerGas": "0x0" }, "calls": [ahead] }],
        "validation": true
    }));
    let error = node.simulate_v1(validated, None).await.unwrap_err();
    assert!(matches!(error, EvmError::Simulate { kind: SimulateErrorKind::NonceTooHigh, .. }));
    // Calls that cannot pay for their value fail either way.
    let broke = json!({ "from": sender, "to": sender, "value": "0x1" });
    let error = node
        .simulate_v1(payload(json!({ "blockStateCalls": [{ "calls": [broke] }] })), None)
        .await
        .unwrap_err();
    assert!(matches!(error, EvmError::Simulate { kind: SimulateErrorKind::InsufficientFunds, .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_are_traced_as_erc7528_logs() {
    let node = node();
    let sender = "0xc000000000000000000000000000000000000000";
    let block = json!({
        "stateOverrides": { sender: { "balance": "0x7d0" } },
        "calls": [{ "from": sender, "to": "0xc100000000000000000000000000000000000000", "value": "0x3e8" }]
    });
    let traced = payload(json!({ "blockStateCalls": [block], "traceTransfers": true }));
    let blocks = node.simulate_v1(traced, None).await.unwrap();
    let logs = &blocks[0].calls[0].logs;
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(log.address(), ETH_TRANSFER_ADDRESS);
    let from: Address = sender.parse().unwrap();
    assert_eq!(log.topics()[1], from.into_word());
    assert_eq!(U256::from_be_slice(&log.data().data), U256::from(1000));
    assert_eq!(log.block_hash, Some(blocks[0].inner.header.hash));
    assert_eq!(log.log_index, Some(0));
    // Not traced by default.
    let untraced = payload(json!({ "blockStateCalls": [block] }));
    let blocks = node.simulate_v1(untraced, None).await.unwrap();
    assert!(blocks[0].calls[0].logs.is_empty());
}

#[test]
fn blocks_are_planned_in_order_with_gaps_filled() {
    let blocks: Vec<SimBlock> = serde_json::from_value(json!([
        { "blockOverrides": { "number": "0xd" } },
        {},
        { "blockOverrides": { "time": "0x3e8" } }
    ]))
    .unwrap();
    let plan = plan_blocks(10, 100, &blocks).unwrap();
    let numbers: Vec<u64> = plan.iter().map(|b| b.number).collect();
    let times: Vec<u64> = plan.iter().map(|b| b.timestamp).collect();
    assert_eq!(numbers, [11, 12, 13, 14, 15]);
    assert_eq!(times, [112, 124, 136, 148, 1000]);

    let backwards: Vec<SimBlock> = serde_json::from_value(json!([
        { "blockOverrides": { "number": "0xd" } },
        { "blockOverrides": { "number": "0xc" } }
    ]))
    .unwrap();
    let error = plan_blocks(10, 100, &backwards).unwrap_err();
    assert!(matches!(
        error,
        EvmError::Simulate { kind: SimulateErrorKind::BlockNumberInvalid, .. }
    ));
    let too_many = vec![SimBlock::default(); MAX_SIMULATE_BLOCKS as usize + 1];
    let error = plan_blocks(10, 100, &too_many).unwrap_err();
    assert!(matches!(
        error,
        EvmError::Simulate { kind: SimulateErrorKind::ClientLimitExceeded, .. }
    ));
}
