//! Calls and estimates at `pending` run in the block the miner would seal next (number, dev
//! clock, base fee) over the latest state with the pool's executable transactions; an estimate
//! at `latest` runs in that next block's context too; other blocks are their own context.

use std::sync::Arc;

use alloy_eips::BlockId;
use alloy_primitives::{Address, Bytes, U256};
use alloy_rpc_types_eth::TransactionRequest;
use ir3_foundation::{MemorySeries, SeriesHandle};

use crate::EvmNode;

/// Runtime code returning one word computed by `op` (e.g. NUMBER, TIMESTAMP): `op` PUSH1 0
/// MSTORE PUSH1 32 PUSH1 0 RETURN.
fn returns(op: &[u8]) -> Bytes {
    [op, &[0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]].concat().into()
}

async fn word(node: &Arc<EvmNode>, to: Address, block: BlockId) -> u64 {
    let request = TransactionRequest::default().to(to);
    let output = node.call(request, Some(block), None).await.unwrap();
    U256::from_be_slice(&output).to()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_calls_run_in_the_next_block_over_the_pool() {
    let series: SeriesHandle = Arc::new(MemorySeries::new());
    let node = crate::test_node::open(&series).unwrap();
    node.set_automine(false).await.unwrap();
    let target = Address::repeat_byte(0x22);
    let (balance_of, number, timestamp) =
        (Address::repeat_byte(0x31), Address::repeat_byte(0x32), Address::repeat_byte(0x33));
    // PUSH20 target BALANCE
    let balance_op = [&[0x73][..], target.as_slice(), &[0x31]].concat();
    node.set_code(balance_of, returns(&balance_op)).await.unwrap();
    node.set_code(number, returns(&[0x43])).await.unwrap();
    node.set_code(timestamp, returns(&[0x42])).await.unwrap();
    node.mine(1, None, None).await.unwrap();

    // A pooled transfer (manual mining): the pending state has it, the latest does not.
    let from = node.accounts().addresses()[0];
    let transfer = TransactionRequest::default().from(from).to(target).value(U256::from(5));
    node.send_transaction(transfer).await.unwrap();
    assert_eq!(word(&node, balance_of, BlockId::pending()).await, 5);
    assert_eq!(word(&node, balance_of, BlockId::latest()).await, 0);

    // The pending block's number and timestamp are the next block's, under the dev clock.
    let head = node.block_number();
    assert_eq!(word(&node, number, BlockId::pending()).await, head + 1);
    assert_eq!(word(&node, number, BlockId::latest()).await, head);
    let next = node.with_chain(|c| c.head().header.timestamp) + 1_000;
    node.set_next_block_timestamp(next).await.unwrap();
    assert_eq!(word(&node, timestamp, BlockId::pending()).await, next);
    let mined = node.mine(1, None, None).await.unwrap();
    assert_eq!(mined[0].header.timestamp, next, "the miner chose the pending block's timestamp");
    assert_eq!(word(&node, balance_of, BlockId::latest()).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_estimate_at_latest_runs_in_the_next_block() {
    let series: SeriesHandle = Arc::new(MemorySeries::new());
    let node = crate::test_node::open(&series).unwrap();
    // Halts unless it runs in the next block: PUSH1 head+1 NUMBER EQ PUSH1 8 JUMPI INVALID
    // JUMPDEST STOP.
    let next = u8::try_from(node.block_number() + 1).unwrap();
    let code = Bytes::from(vec![0x60, next, 0x43, 0x14, 0x60, 0x08, 0x57, 0xfe, 0x5b, 0x00]);
    let contract = Address::repeat_byte(0x44);
    node.set_code(contract, code).await.unwrap();
    let request = TransactionRequest::default().to(contract);
    let estimate = node.estimate_gas(request.clone(), None, None).await.unwrap();
    assert!(estimate > 21_000, "{estimate}");
    let pending = node.estimate_gas(request.clone(), Some(BlockId::pending()), None).await;
    assert_eq!(pending.unwrap(), estimate);
    // At the head's number, the estimate runs in the head block, where the code halts.
    let head = Some(BlockId::number(node.block_number()));
    let at_head = node.estimate_gas(request.clone(), head, None).await;
    assert!(at_head.is_err(), "{at_head:?}");
    // A call at latest runs in the latest block.
    assert!(node.call(request, None, None).await.is_err());
}
