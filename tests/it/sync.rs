//! A new node syncs from chunks: five validators (small history segments) take 2 000
//! transfers sent round-robin; a sixth node (a key outside the set) started with an empty
//! data directory fetches the segments of decided heights from whoever holds them — two
//! providers are killed as it starts — checks them against a certified height, applies them,
//! lets its engine catch up on the rest, and then answers exactly as its peers do.

use std::time::Duration;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, TxKind, U256, hex};
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};

use crate::{
    network::{ADDRS, KEYS, outside_key, start_gateways, wait_for},
    utils::{Node, quantity},
};

/// A signed EIP-1559 transfer.
pub(crate) fn transfer(key: &str, nonce: u64, to: &str, value: u64) -> String {
    let signer: PrivateKeySigner = key.parse().unwrap();
    let mut tx = TxEip1559 {
        chain_id: 1337,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 50_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to.parse::<Address>().unwrap()),
        value: U256::from(value),
        ..Default::default()
    };
    let signature = signer.sign_transaction_sync(&mut tx).unwrap();
    let envelope: TxEnvelope = tx.into_signed(signature).into();
    format!("0x{}", hex::encode(envelope.encoded_2718()))
}

fn head(node: &Node, tag: &str) -> Value {
    node.result("eth_getBlockByNumber", json!([tag, false]))["hash"].clone()
}

#[test]
fn a_new_node_syncs_from_certified_chunks_while_providers_die() {
    let started = std::time::Instant::now();
    let mut net = start_gateways(5, 130, &["--segment-blocks", "8"]);
    let nodes = &mut net.nodes;
    eprintln!("sync test: mesh at {:?}", started.elapsed());
    // 10 senders x 200 transfers, each sender's transactions spread over the gateways.
    let mut hashes = Vec::new();
    for nonce in 0..200u64 {
        for (sender, key) in KEYS.iter().enumerate() {
            let gateway = (sender + nonce as usize) % nodes.len();
            let raw = transfer(key, nonce, ADDRS[(sender + 1) % 10], 1 + nonce);
            let hash = nodes[gateway].result("eth_sendRawTransaction", json!([raw]));
            hashes.push(hash);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("sync test: sent at {:?}", started.elapsed());
    wait_for("every transfer final everywhere", Duration::from_secs(120), || {
        let heads: Vec<Value> = nodes.iter().map(|n| head(n, "latest")).collect();
        let finals: Vec<Value> = nodes.iter().map(|n| head(n, "finalized")).collect();
        heads.iter().all(|h| *h == heads[0])
            && finals == heads
            && hashes
                .iter()
                .all(|h| nodes[0].result("ir3_transactionStatus", json!([h]))["status"] == "final")
    });
    eprintln!("sync test: filled at {:?}", started.elapsed());
    let status = nodes[0].result("ir3_networkStatus", json!([]));
    let segments = status["historySegments"].as_u64().unwrap();
    assert!(segments >= 2, "history was not cut into segments: {status}");

    // The newcomer: an observer (a key outside the set) with an empty data directory.
    let key = outside_key(net.dir.path());
    let mut args: Vec<String> = vec![
        "--p2p-port".into(),
        "0".into(),
        "--network".into(),
        net.network.display().to_string(),
        "--key".into(),
        key.display().to_string(),
        "--segment-blocks".into(),
        "8".into(),
    ];
    for (p2p, engine) in net.p2p.iter().zip(&net.engines) {
        args.extend(["--bootstrap".into(), p2p.clone(), "--consensus-peer".into(), engine.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let newcomer = Node::start_at("127.0.0.136", &args);
    // Two providers die as it starts; the other three serve the rest. (The three left hold no
    // quorum of five: the chain stops, and its segments with it.)
    nodes[3].kill9();
    nodes[4].kill9();
    std::thread::sleep(Duration::from_secs(1));
    let segments =
        nodes[0].result("ir3_networkStatus", json!([]))["historySegments"].as_u64().unwrap();
    // Synced: the finalized head reached, the sync over, and the segments cut again (they
    // are cut just after the last one is applied).
    wait_for("the newcomer to reach the finalized head", Duration::from_secs(120), || {
        head(&newcomer, "finalized") == head(&nodes[0], "finalized")
            && newcomer.result("eth_syncing", json!([])) == json!(false)
            && newcomer.result("ir3_networkStatus", json!([]))["historySegments"] == segments
    });
    eprintln!("sync test: newcomer synced at {:?}", started.elapsed());
    let synced = newcomer.result("ir3_networkStatus", json!([]));
    assert!(
        synced["heightsFromHistory"].as_u64().unwrap() > 0,
        "the newcomer did not use the history chunks: {synced}"
    );
    assert_eq!(newcomer.result("eth_syncing", json!([])), json!(false));

    // Same answers as its peers.
    let number = quantity(&nodes[0].result("eth_blockNumber", json!([]))) as u64;
    for n in (0..=number).step_by(3) {
        let tag = format!("0x{n:x}");
        assert_eq!(
            newcomer.result("eth_getBlockByNumber", json!([tag, false]))["hash"],
            nodes[0].result("eth_getBlockByNumber", json!([tag, false]))["hash"],
            "block {n}"
        );
    }
    for address in ADDRS {
        assert_eq!(
            newcomer.result("eth_getBalance", json!([address, "latest"])),
            nodes[0].result("eth_getBalance", json!([address, "latest"]))
        );
    }
    for hash in hashes.iter().step_by(37) {
        let (ours, theirs) = (
            newcomer.result("eth_getTransactionReceipt", json!([hash])),
            nodes[1].result("eth_getTransactionReceipt", json!([hash])),
        );
        assert_eq!(ours["blockHash"], theirs["blockHash"]);
        assert_eq!(ours["status"], "0x1");
    }
    // It serves the history too: it cut the same segments.
    assert_eq!(synced["historySegments"].as_u64().unwrap(), segments);
}
