//! Replay of recorded state roots and senders: older series (without them) still replay to the
//! same chain, and a recorded fact that does not match re-execution is caught.

use std::sync::Arc;

use alloy_primitives::{Address, U256};
use ir3_foundation::{MemorySeries, SeriesHandle, append_blocking};

use crate::{EvmNode, events::EvmEvent, test_node::open};

/// A copy of `series` with every EVM event passed through `rewrite`.
fn rewritten(series: &SeriesHandle, rewrite: &mut dyn FnMut(EvmEvent) -> EvmEvent) -> SeriesHandle {
    let mut bodies = Vec::new();
    series
        .replay(&mut |entry| {
            bodies.push(match EvmEvent::from_body(&entry.body) {
                Some(Ok(event)) => rewrite(event).to_body().expect("encodes"),
                _ => entry.body,
            });
            Ok(())
        })
        .unwrap();
    let copy: SeriesHandle = Arc::new(MemorySeries::new());
    tokio::task::block_in_place(|| append_blocking(&*copy, bodies)).unwrap();
    copy
}

fn head(node: &EvmNode) -> alloy_primitives::B256 {
    node.with_chain(|c| c.head().hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_roots_and_senders_replay_like_older_series_and_are_checked() {
    let series: SeriesHandle = Arc::new(MemorySeries::new());
    let node = open(&series).unwrap();
    let from = node.accounts().addresses()[0];
    let to = Address::repeat_byte(0x11);
    for value in 1..=3u64 {
        let transfer = alloy_rpc_types_eth::TransactionRequest::default()
            .from(from)
            .to(to)
            .value(U256::from(value));
        node.send_transaction(transfer).await.unwrap();
        // A dev event between blocks: the recorded root is checked before it applies.
        node.set_balance(Address::repeat_byte(0x22), U256::from(value)).await.unwrap();
    }
    assert_eq!(node.block_number(), 3);

    // Today's series replays.
    assert_eq!(head(&open(&series).unwrap()), head(&node));

    // A series written before roots and senders were recorded replays to the same chain.
    let legacy = rewritten(&series, &mut |event| match event {
        EvmEvent::TxExecuted { block, index, raw, .. } => {
            EvmEvent::LegacyTxExecuted { block, index, raw }
        }
        EvmEvent::BlockSealed { context, tx_count, hash, .. } => {
            EvmEvent::LegacyBlockSealed { context, tx_count, hash }
        }
        other => other,
    });
    let replayed = open(&legacy).unwrap();
    assert_eq!(head(&replayed), head(&node));
    assert_eq!(replayed.balance(to, None).unwrap(), U256::from(6));

    // A recorded sender that did not sign: the block's hash still matches (it covers the
    // signature, not the sender), but the state differs and its recorded root catches it.
    let other = node.accounts().addresses()[1];
    let mut first = true;
    let forged = rewritten(&series, &mut |event| match event {
        EvmEvent::TxExecuted { block, index, raw, .. } if std::mem::take(&mut first) => {
            EvmEvent::TxExecuted { block, index, raw, sender: other }
        }
        other => other,
    });
    let error = open(&forged).unwrap_err().to_string();
    assert!(error.contains("state root"), "{error}");

    // A recorded root that is not the block's: its hash no longer matches.
    let wrong_root = rewritten(&series, &mut |event| match event {
        EvmEvent::BlockSealed { context, tx_count, hash, .. } => {
            EvmEvent::BlockSealed { context, tx_count, hash, state_root: Default::default() }
        }
        other => other,
    });
    let error = open(&wrong_root).unwrap_err().to_string();
    assert!(error.contains("recorded"), "{error}");
}

/// A rebuild sends blocks to the store on their own (no state) between state batches: the
/// genesis state must still be there afterwards, at block 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_replay_keeps_the_genesis_state() {
    let series: SeriesHandle = Arc::new(MemorySeries::new());
    let node = open(&series).unwrap();
    let from = node.accounts().addresses()[0];
    let funded = U256::from(10u64.pow(18));
    // More blocks than a replay's bulk block batch (2 048).
    node.mine(2_100, None, None).await.unwrap();
    let replayed = open(&series).unwrap();
    assert_eq!(head(&replayed), head(&node));
    let genesis = Some(alloy_eips::BlockId::number(0));
    assert_eq!(replayed.balance(from, genesis).unwrap(), funded);
    assert_eq!(replayed.balance(from, None).unwrap(), funded);
}
