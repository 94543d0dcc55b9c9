//! A hostile peer against a real gateway (in-process swarms on loopback TCP): malformed
//! envelopes, a transaction signed by someone else than its envelope claims, an envelope whose
//! payload is no transaction, a malformed native-app envelope and an envelope stamped in the
//! gateway's name (front-running) are refused and counted against the peer; a transaction
//! that cannot pay is not admitted; a flood of history-index
//! requests is refused past its budget, counted, and gets the peer banned; the gateway's chain
//! and series are unharmed and it still works.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use ir3_foundation::{
    DEFAULT_OUTBOX_CAPACITY, Intent, MemorySeries, Outbox, SeriesHandle,
    apps::{ORDER_APP, ORDER_ENVELOPE},
    net::{self, Answer, IntentMessage, Keypair, P2pConfig, P2pRecord, PeerId, p2p_records},
    order::HlcStamp,
};

use super::{EvmDecider, NetworkOptions, run_receiver};
use crate::{
    DevAccounts, EvmNode, NodeOptions,
    config::{ChainConfig, DEFAULT_MNEMONIC},
    epoch_chain::{evm_envelope, tests::signed},
    events::{EVM_APP, EXECUTE_ETH_TX},
};

fn records(series: &MemorySeries) -> Vec<P2pRecord> {
    p2p_records(series).unwrap()
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_declarations_are_refused_and_counted() {
    let accounts = DevAccounts::from_mnemonic(DEFAULT_MNEMONIC, 2).unwrap();
    let alloc =
        accounts.addresses().into_iter().map(|a| (a, U256::from(10u64).pow(U256::from(20))));
    let keypair = Keypair::generate_ed25519();
    let options = NodeOptions {
        chain: ChainConfig::dev(1337, alloc.collect(), 0),
        accounts: accounts.clone(),
        mining: Some(crate::MiningMode::Manual),
        network: Some(NetworkOptions {
            epoch_ms: 200,
            grace_ms: 100,
            keypair: keypair.clone(),
            identity: B256::ZERO,
            validators: vec![super::key_of(&keypair)],
            segment_blocks: super::SEGMENT_BLOCKS,
        }),
        state_store: None,
    };
    let memory = Arc::new(MemorySeries::new());
    let series: SeriesHandle = memory.clone();
    let outbox = Outbox::spawn(DEFAULT_OUTBOX_CAPACITY, |_| {});
    let node =
        tokio::task::block_in_place(|| EvmNode::open(options, series.clone(), outbox)).unwrap();
    let (queue, received) = tokio::sync::mpsc::channel(16);
    let config = P2pConfig {
        keypair,
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        also_listen: Vec::new(),
        bootstrap: Vec::new(),
        reply_window: Duration::from_millis(500),
        network: None,
    };
    let gateway = net::spawn(config, series, EvmDecider::new(node.clone(), queue)).unwrap();
    node.attach_p2p(gateway.clone());
    tokio::spawn(run_receiver(node.clone(), received));
    let deadline = Instant::now() + Duration::from_secs(20);
    let addrs = loop {
        let addrs = gateway.listen_addrs().await;
        if !addrs.is_empty() {
            break addrs;
        }
        assert!(Instant::now() < deadline, "no listen address");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // The hostile peer: a bare foundation node that declares whatever it likes.
    let hostile_series = Arc::new(MemorySeries::new());
    let hostile_key = Keypair::generate_ed25519();
    let hostile_id = hostile_key.public().to_peer_id();
    let hostile = net::spawn(
        P2pConfig {
            keypair: hostile_key.clone(),
            listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            also_listen: Vec::new(),
            bootstrap: addrs,
            reply_window: Duration::from_millis(500),
            network: None,
        },
        hostile_series.clone(),
        |_: &PeerId, _: &IntentMessage| None,
    )
    .unwrap();
    while gateway.subscribed_peers().await.len() != 1 || hostile.subscribed_peers().await.len() != 1
    {
        assert!(Instant::now() < deadline + Duration::from_secs(20), "peers did not meet");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let sender = accounts.addresses()[0];
    let tx = signed(&accounts, sender, 0, TxKind::Call(Address::repeat_byte(1)), 1, Bytes::new());
    let mut lying = evm_envelope(&tx, HlcStamp::default(), 0);
    lying.account = Address::repeat_byte(7).to_vec();
    let mut not_a_tx = evm_envelope(&tx, HlcStamp::default(), 0);
    not_a_tx.payload = vec![0x02, 0xc0];
    let declarations = [
        Intent::new(EVM_APP, EXECUTE_ETH_TX, vec![0xde, 0xad]),
        Intent::new(EVM_APP, EXECUTE_ETH_TX, postcard::to_allocvec(&lying).unwrap()),
        Intent::new(EVM_APP, EXECUTE_ETH_TX, postcard::to_allocvec(&not_a_tx).unwrap()),
        Intent::new(ORDER_APP, ORDER_ENVELOPE, vec![1, 2, 3]),
    ];
    for intent in declarations {
        hostile.push_intent(intent, HlcStamp::default()).unwrap();
    }
    until("four refusals", || {
        records(&memory)
            .iter()
            .filter(|r| matches!(r, P2pRecord::PeerRefused { peer, .. } if *peer == hostile_id.to_string()))
            .count()
            >= 4
    })
    .await;
    // The peer was told NO (never retry), and the gateway's history counts it.
    until("the hostile peer to hear its NOs", || {
        records(&hostile_series)
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    P2pRecord::ReplyReceived {
                        answer: Answer::No { retry_after_ms: net::NEVER, .. },
                        ..
                    }
                )
            })
            .count()
            >= 4
    })
    .await;
    let peers = gateway.peers();
    let insight = peers.iter().find(|p| p.peer == hostile_id.to_string()).unwrap();
    assert!(insight.refused >= 4, "{insight:?}");

    // A transaction from an account with nothing cannot pay: not admitted (whoever stamped
    // it; a decided height would carry it if it were ever decided).
    let unfunded = DevAccounts::from_mnemonic(
        "legal winner thank year wave sausage worth useful legal winner thank yellow",
        1,
    )
    .unwrap();
    let pauper = unfunded.addresses()[0];
    let cannot_pay =
        signed(&unfunded, pauper, 0, TxKind::Call(Address::repeat_byte(2)), 1, Bytes::new());
    let unpayable = evm_envelope(&cannot_pay, HlcStamp::default(), 0);
    assert!(
        matches!(node.check_envelope(&unpayable), Err(crate::EvmError::InsufficientFunds { .. })),
        "an unpayable envelope passed the checks"
    );
    // A valid, funded transaction declared by the hostile peer in the gateway's name (an
    // earlier stamp to front-run with): refused, counted, not admitted.
    let funded = accounts.addresses()[1];
    let victim =
        signed(&accounts, funded, 0, TxKind::Call(Address::repeat_byte(3)), 1, Bytes::new());
    let restamped = evm_envelope(&victim, HlcStamp::default(), 0);
    let before = gateway.peers().iter().find(|p| p.peer == hostile_id.to_string()).unwrap().refused;
    hostile
        .push_intent(
            Intent::new(EVM_APP, EXECUTE_ETH_TX, postcard::to_allocvec(&restamped).unwrap()),
            HlcStamp::default(),
        )
        .unwrap();
    until("the restamped envelope to be refused", || {
        gateway
            .peers()
            .iter()
            .find(|p| p.peer == hostile_id.to_string())
            .is_some_and(|p| p.refused > before)
    })
    .await;
    assert!(!node.with_chain(|c| c.contains_tx(&victim.hash)), "a restamped tx admitted");

    // A flood of history-index requests: past the budget each is answered busy and refused;
    // at MAX_REFUSALS the peer is banned and disconnected.
    for _ in 0..(net::DIRECT_REQUEST_BURST as usize + net::MAX_REFUSALS as usize + 50) {
        hostile.request_index(EVM_APP);
    }
    until("the flooding peer to be banned", || {
        gateway
            .peers()
            .iter()
            .find(|p| p.peer == hostile_id.to_string())
            .is_some_and(|p| p.refused >= net::MAX_REFUSALS)
            && !gateway.connected_now().contains(&hostile_id)
    })
    .await;
    assert!(
        records(&memory).iter().any(|r| matches!(r,
            P2pRecord::PeerRefused { peer, reason } if *peer == hostile_id.to_string()
                && reason.contains("history index"))),
        "the flood is not in the series"
    );

    // Nothing of it reached the chain, and the gateway still takes real transactions.
    assert_eq!(node.with_chain(|c| c.head_number()), 0);
    let hash = node.submit(Arc::new(tx)).await.unwrap();
    assert!(node.with_chain(|c| c.contains_tx(&hash)));
}
