//! What a validator's node accepts from a proposer (engine mode), and what a decided height
//! does: a hostile or mistaken proposal is refused before the engine votes for it, a decided
//! height makes its transactions final, and a restart replays it to the same chain.

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use ir3_foundation::{
    DEFAULT_OUTBOX_CAPACITY, MemorySeries, Outbox, SeriesHandle,
    order::{Envelope, HlcStamp, now_ms},
};

use super::{DecidedEpoch, DecidedHeight, Decision, NetworkOptions};
use crate::{
    DevAccounts, EvmNode, NodeOptions,
    config::{ChainConfig, DEFAULT_MNEMONIC},
    epoch_chain::{evm_envelope, tests::signed},
};

const EPOCH_MS: u64 = 200;
const GRACE_MS: u64 = 100;

/// A validator's key (the node under test is validator 1 of two).
fn validator(n: u8) -> ir3_foundation::net::Keypair {
    ir3_foundation::net::Keypair::ed25519_from_bytes([n; 32]).unwrap()
}

fn open(series: SeriesHandle, accounts: &DevAccounts) -> Arc<EvmNode> {
    let alloc =
        accounts.addresses().into_iter().map(|a| (a, U256::from(10u64).pow(U256::from(20))));
    let options = NodeOptions {
        chain: ChainConfig::dev(1337, alloc.collect(), 0),
        accounts: accounts.clone(),
        mining: Some(crate::MiningMode::Manual),
        network: Some(NetworkOptions {
            epoch_ms: EPOCH_MS,
            grace_ms: GRACE_MS,
            keypair: validator(1),
            identity: B256::ZERO,
            validators: vec![super::key_of(&validator(1)), super::key_of(&validator(2))],
            segment_blocks: super::SEGMENT_BLOCKS,
        }),
        state_store: None,
    };
    let outbox = Outbox::spawn(DEFAULT_OUTBOX_CAPACITY, |_| {});
    tokio::task::block_in_place(|| EvmNode::open(options, series, outbox)).unwrap()
}

fn encoded(decision: &Decision) -> Vec<u8> {
    decision.encode().unwrap()
}

fn one_epoch(epoch: u64, envelopes: Vec<Envelope>) -> Decision {
    Decision { time_ms: now_ms(), epochs: vec![DecidedEpoch { epoch, envelopes }] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_are_checked_and_decided_heights_are_final_and_replayed() {
    let accounts = DevAccounts::from_mnemonic(DEFAULT_MNEMONIC, 3).unwrap();
    let memory = Arc::new(MemorySeries::new());
    let node = open(memory.clone(), &accounts);
    assert!(node.is_networked());
    let [alice, bob, _] = accounts.addresses()[..] else { panic!("three accounts") };
    let to = TxKind::Call(Address::repeat_byte(9));
    let tx = signed(&accounts, alice, 0, to, 5, Bytes::new());
    let hash = node.submit(Arc::new(tx.clone())).await.unwrap();
    assert_eq!(node.transaction_status(hash).status, "tentative");

    // Nothing is proposed before the epoch has closed; then exactly that envelope.
    let early = node.propose_decision(1 << 20).unwrap();
    assert!(early.epochs.is_empty(), "{early:?}");
    tokio::time::sleep(Duration::from_millis(EPOCH_MS + GRACE_MS + 50)).await;
    let proposal = node.propose_decision(1 << 20).unwrap();
    assert_eq!(proposal.epochs.len(), 1);
    let epoch = proposal.epochs[0].epoch;
    let envelope = proposal.epochs[0].envelopes[0].clone();
    assert_eq!(proposal.epochs[0].envelopes.len(), 1);
    node.check_decision(&encoded(&proposal)).unwrap();

    // What a hostile or mistaken proposer might send, each refused.
    let mut lying = envelope.clone();
    lying.account = bob.to_vec();
    let mut outsider = envelope.clone();
    outsider.gateway = 7;
    let other_chain = {
        let mut tx = alloy_consensus::TxEip1559 {
            chain_id: 1,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: 100_000_000_000,
            to,
            value: U256::from(1),
            ..Default::default()
        };
        use alloy_network::TxSignerSync;
        let signature = accounts.signer(bob).unwrap().sign_transaction_sync(&mut tx).unwrap();
        let raw = alloy_consensus::TxEnvelope::from(
            alloy_consensus::SignableTransaction::into_signed(tx, signature),
        );
        let signed = crate::block::SignedTx::from_envelope(raw, bob);
        evm_envelope(&signed, envelope.stamp, 0)
    };
    let mut elsewhere = envelope.clone();
    elsewhere.stamp = HlcStamp { wall_ms: (epoch + 3) * EPOCH_MS, logical: 0 };
    let open_epoch = now_ms() / EPOCH_MS + 50;
    let mut in_open_epoch = envelope.clone();
    in_open_epoch.stamp = HlcStamp { wall_ms: open_epoch * EPOCH_MS, logical: 0 };
    let refused: Vec<(&str, Vec<u8>)> = vec![
        ("undecodable", vec![0xff; 7]),
        ("account is not the signer", encoded(&one_epoch(epoch, vec![lying]))),
        ("gateway outside the set", encoded(&one_epoch(epoch, vec![outsider]))),
        ("another chain's transaction", encoded(&one_epoch(epoch, vec![other_chain]))),
        ("stamp outside its epoch", encoded(&one_epoch(epoch, vec![elsewhere]))),
        ("epoch still open", encoded(&one_epoch(open_epoch, vec![in_open_epoch]))),
        ("the same envelope twice", encoded(&one_epoch(epoch, vec![envelope.clone(); 2]))),
        (
            "epochs not ascending",
            encoded(&Decision {
                time_ms: now_ms(),
                epochs: vec![
                    DecidedEpoch { epoch, envelopes: vec![envelope] },
                    DecidedEpoch { epoch: epoch - 1, envelopes: Vec::new() },
                ],
            }),
        ),
    ];
    for (what, payload) in &refused {
        assert!(node.check_decision(payload).is_err(), "{what} was accepted");
    }

    // The decided height: recorded, applied, final.
    let record = DecidedHeight {
        height: 1,
        round: 0,
        parent: B256::repeat_byte(1),
        payload: encoded(&proposal),
        certificate: vec![1, 2, 3],
    };
    tokio::task::block_in_place(|| node.commit_decided(record.clone())).unwrap();
    assert_eq!(node.transaction_status(hash).status, "final");
    let (head, finalized) = node.with_chain(|c| (c.head_number(), c.finality_tags().finalized));
    assert_eq!((head, finalized), (1, 1));
    assert_eq!(node.decided_heights(), vec![record.clone()]);
    // The same content again is already final: refused.
    assert!(node.check_decision(&encoded(&proposal)).is_err());
    let block = node.with_chain(|c| c.block(1).map(|b| b.hash));

    // A restart replays the decided height to the same chain.
    drop(node);
    let again = open(memory.clone(), &accounts);
    assert_eq!(again.transaction_status(hash).status, "final");
    assert_eq!(again.with_chain(|c| c.block(1).map(|b| b.hash)), block);
    assert_eq!(again.with_chain(|c| c.finality_tags().finalized), 1);
    assert_eq!(again.decided_heights(), vec![record]);
}

/// Issue 13's point 2, the interleaving that made two honest nodes of the vote counting hold
/// different final contents: a node that learns of a later epoch's finality before it holds an
/// earlier epoch's envelopes (or holds another stamp of the same transaction) must not fix
/// that epoch as empty (or as its own content). With decided heights, every node applies the
/// same values in height order and takes each epoch's content from the value: three nodes that
/// held different things end with the same final chain, and a restart replays it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_holding_different_envelopes_apply_the_same_decisions_to_the_same_chain() {
    let accounts = DevAccounts::from_mnemonic(DEFAULT_MNEMONIC, 3).unwrap();
    let [alice, bob, _] = accounts.addresses()[..] else { panic!("three accounts") };
    let to = TxKind::Call(Address::repeat_byte(9));
    let early_tx = signed(&accounts, alice, 0, to, 5, Bytes::new());
    let late_tx = signed(&accounts, bob, 0, to, 7, Bytes::new());
    // Two closed epochs, E and E + 2 (E + 1 stays empty in the decided chain).
    let epoch = now_ms() / EPOCH_MS - 50;
    let stamp = |epoch: u64| HlcStamp { wall_ms: epoch * EPOCH_MS + 10, logical: 0 };
    let early = evm_envelope(&early_tx, stamp(epoch), 0);
    let late = evm_envelope(&late_tx, stamp(epoch + 2), 1);
    // Another stamp of the early transaction, in the epoch between (as a gateway that stamped
    // it again would hold it).
    let early_restamped = evm_envelope(&early_tx, stamp(epoch + 1), 1);

    let series: Vec<Arc<MemorySeries>> = (0..3).map(|_| Arc::new(MemorySeries::new())).collect();
    let nodes: Vec<Arc<EvmNode>> = series.iter().map(|s| open(s.clone(), &accounts)).collect();
    tokio::task::block_in_place(|| {
        // A holds both; B only the later one and another stamp of the earlier; C nothing.
        nodes[0].receive(vec![early.clone(), late.clone()]).unwrap();
        nodes[1].receive(vec![late.clone(), early_restamped.clone()]).unwrap();
    });
    let first = Decision {
        time_ms: now_ms(),
        epochs: vec![DecidedEpoch { epoch, envelopes: vec![early] }],
    };
    let second = Decision {
        time_ms: now_ms(),
        epochs: vec![DecidedEpoch { epoch: epoch + 2, envelopes: vec![late] }],
    };
    let records: Vec<DecidedHeight> = [first, second]
        .into_iter()
        .enumerate()
        .map(|(i, decision)| DecidedHeight {
            height: i as u64 + 1,
            round: 0,
            parent: B256::repeat_byte(i as u8),
            payload: encoded(&decision),
            certificate: Vec::new(),
        })
        .collect();
    for node in &nodes {
        for record in &records {
            tokio::task::block_in_place(|| node.commit_decided(record.clone())).unwrap();
        }
    }
    let chain_of = |node: &EvmNode| {
        node.with_chain(|c| {
            let finalized = c.finality_tags().finalized;
            (1..=finalized).map(|n| c.block(n).map(|b| b.hash)).collect::<Vec<_>>()
        })
    };
    let reference = chain_of(&nodes[0]);
    assert_eq!(reference.len(), 2, "two non-empty decided epochs, two final blocks");
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(chain_of(node), reference, "node {i} holds another final chain");
        for tx in [&early_tx, &late_tx] {
            assert_eq!(node.transaction_status(tx.hash).status, "final", "node {i}");
        }
    }
    // B's other stamp of the early transaction is not a second inclusion.
    let included = nodes[1].with_chain(|c| c.locate_tx(early_tx.hash).map(|(b, _)| b.number()));
    assert_eq!(included, Some(1));

    // Replayed from their series, the nodes hold the same chain again.
    drop(nodes);
    for (i, memory) in series.iter().enumerate() {
        let again = open(memory.clone(), &accounts);
        assert_eq!(chain_of(&again), reference, "node {i} after a restart");
    }
}
