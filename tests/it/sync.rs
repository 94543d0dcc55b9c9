//! A new node syncs from chunks: five gateways (short epochs, small history segments) take
//! 2 000 transfers sent round-robin; a sixth node started with an empty data directory
//! fetches the history segments from whoever holds them — two providers are killed as it
//! starts — applies and checks them, catches up the rest by pulls, and then answers exactly as
//! its peers do.

use std::time::Duration;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, TxKind, U256, hex};
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};

use crate::{
    network::{
        ADDRS, EngineNet, KEYS, outside_key, start_engine_gateways, start_gateways, wait_for,
    },
    utils::{Node, quantity},
};

const NETWORK: &[&str] =
    &["--epoch-ms", "100", "--finality-grace-ms", "200", "--segment-blocks", "8"];

/// A signed EIP-1559 transfer.
fn transfer(key: &str, nonce: u64, to: &str, value: u64) -> String {
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
fn a_new_node_syncs_from_chunks_while_providers_die() {
    sync_scenario(false);
}

/// The same on the BFT engine: the newcomer (a key outside the set) checks the segments of
/// decided heights against a certified height, then its engine catches up on the rest.
#[test]
fn an_engine_node_syncs_from_certified_chunks_while_providers_die() {
    sync_scenario(true);
}

fn sync_scenario(engine: bool) {
    let started = std::time::Instant::now();
    let mut engine_net: Option<EngineNet> = None;
    let mut vote_nodes = Vec::new();
    if engine {
        engine_net = Some(start_engine_gateways(5, 130, &["--segment-blocks", "8"]));
    } else {
        vote_nodes = start_gateways(5, 40, NETWORK);
    }
    // Where the engine network is (the newcomer joins it later).
    let engine_info = engine_net
        .as_ref()
        .map(|n| (n.network.clone(), n.dir.path().to_path_buf(), n.engines.clone()));
    let nodes: &mut Vec<Node> = match engine_net.as_mut() {
        Some(net) => &mut net.nodes,
        None => &mut vote_nodes,
    };
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

    // The newcomer: an observer (number outside the set) with an empty data directory.
    let bootstrap: Vec<String> = nodes
        .iter()
        .map(|n| n.p2p_addr.clone().unwrap())
        .flat_map(|addr| ["--bootstrap".to_string(), addr])
        .collect();
    let mut engine_args: Vec<String> = Vec::new();
    if let Some((network, dir, engines)) = &engine_info {
        let key = outside_key(dir);
        engine_args.extend([
            "--network".into(),
            network.display().to_string(),
            "--key".into(),
            key.display().to_string(),
            "--segment-blocks".into(),
            "8".into(),
        ]);
        for engine in engines {
            engine_args.extend(["--consensus-peer".into(), engine.clone()]);
        }
    }
    let mut args: Vec<&str> = vec!["--p2p-port", "0"];
    if engine {
        args.extend(engine_args.iter().map(String::as_str));
    } else {
        args.extend(["--node-id", "5", "--gateways", "5"]);
        args.extend_from_slice(NETWORK);
    }
    args.extend(bootstrap.iter().map(String::as_str));
    let host = if engine { "127.0.0.136" } else { "127.0.0.46" };
    let newcomer = Node::start_at(host, &args);
    // Two providers die as it starts; the other three serve the rest. (On the engine the three
    // left hold no quorum of five: the chain stops, and its segments with it.)
    nodes[3].kill9();
    nodes[4].kill9();
    let segments = match engine {
        true => {
            std::thread::sleep(Duration::from_secs(1));
            nodes[0].result("ir3_networkStatus", json!([]))["historySegments"].as_u64().unwrap()
        }
        false => segments,
    };
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
        synced["epochsFromHistory"].as_u64().unwrap() > 0,
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
