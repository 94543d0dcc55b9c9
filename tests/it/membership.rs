//! Membership changes while the network runs (real processes on loopback): four validators
//! and an observer under a steady trickle of transfers. The validators approve adding the
//! observer (its key printed by `ir3 network key`); once more than two thirds approved, it
//! votes from the next height and takes transactions. A validator is then killed for good and
//! the other four approve its removal; with it gone from the set, a second validator is
//! killed and the remaining three (a quorum of four) still finalize. Every live node holds the
//! same finalized chain throughout.

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

use serde_json::{Value, json};

use crate::{
    network::{ADDRS, KEYS, free_port, outside_key, start_gateways, wait_for},
    sync::transfer,
    utils::Node,
};

/// `ir3 network key FILE`: the key's public key, as printed.
fn public_key(file: &std::path::Path) -> String {
    let output =
        Command::new(env!("CARGO_BIN_EXE_ir3")).arg("network").arg("key").arg(file).output();
    let output = output.expect("run ir3 network key");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("public key ")).expect("public key");
    line.trim().to_string()
}

fn status(node: &Node) -> Value {
    node.result("ir3_networkStatus", json!([]))
}

fn members(node: &Node) -> usize {
    status(node)["members"].as_array().map_or(0, Vec::len)
}

fn final_on(nodes: &[&Node], hash: &str) -> bool {
    nodes.iter().all(|n| n.result("ir3_transactionStatus", json!([hash]))["status"] == "final")
}

#[test]
fn a_validator_is_added_and_a_dead_one_removed_while_load_runs() {
    let mut net = start_gateways(4, 140, &[]);
    // The newcomer: a key outside the set, started as an observer that follows the engine.
    let key = outside_key(net.dir.path());
    let newcomer_key = public_key(&key);
    let host = "127.0.0.145";
    let mut args: Vec<String> = vec![
        "--p2p-port".into(),
        free_port(host).to_string(),
        "--consensus-port".into(),
        free_port(host).to_string(),
        "--network".into(),
        net.network.display().to_string(),
        "--key".into(),
        key.display().to_string(),
    ];
    for (p2p, engine) in net.p2p.iter().zip(&net.engines) {
        args.extend(["--bootstrap".into(), p2p.clone(), "--consensus-peer".into(), engine.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let newcomer = Node::start_at(host, &args);
    assert_eq!(status(&newcomer)["voting"], false);
    let network: Value =
        serde_json::from_str(&std::fs::read_to_string(&net.network).unwrap()).unwrap();
    let key_of_gateway =
        |i: usize| format!("0x{}", network["validators"][i]["public_key"].as_str().unwrap());

    // A trickle of transfers through gateways 0 and 1 (never killed) for the whole run.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let urls: Vec<(String, u16)> =
        net.nodes[..2].iter().map(|n| (n.host.clone(), n.port)).collect();
    let load = {
        let (stop, sent) = (stop.clone(), sent.clone());
        thread::spawn(move || {
            let mut nonce = 0;
            while !stop.load(Ordering::Relaxed) {
                let (host, port) = &urls[nonce as usize % urls.len()];
                let raw = transfer(KEYS[5], nonce, ADDRS[9], 1);
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]});
                let (_, response) =
                    crate::utils::post_to(host, *port, body.to_string().as_bytes(), &[]);
                assert!(response.contains("\"result\""), "a transfer was refused: {response}");
                nonce += 1;
                sent.store(nonce, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(150));
            }
        })
    };

    // Add: an approval from each of three of the four validators (more than two thirds).
    let add = json!([{"add": [newcomer_key]}]);
    let refused = newcomer.call("ir3_approveValidatorChange", add.clone());
    assert!(refused["error"]["message"].as_str().unwrap().contains("observer"), "{refused}");
    let ids: Vec<Value> = net.nodes[..3]
        .iter()
        .map(|n| n.result("ir3_approveValidatorChange", add.clone()))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one change, one id: {ids:?}");
    wait_for("the newcomer to join the set everywhere", Duration::from_secs(60), || {
        net.nodes.iter().chain([&newcomer]).all(|n| members(n) == 5)
            && status(&newcomer)["voting"] == true
    });
    // It takes transactions now, and they become final everywhere.
    let hash =
        newcomer.result("eth_sendRawTransaction", json!([transfer(KEYS[6], 0, ADDRS[8], 5)]));
    let hash = hash.as_str().unwrap().to_string();
    let everyone: Vec<&Node> = net.nodes.iter().chain([&newcomer]).collect();
    wait_for("the newcomer's transfer to be final", Duration::from_secs(30), || {
        final_on(&everyone, &hash)
    });

    // Remove: gateway 3 dies for good; the other four (of five) approve its removal.
    net.nodes[3].kill9();
    let remove = json!([{"remove": [key_of_gateway(3)]}]);
    for node in net.nodes[..3].iter().chain([&newcomer]) {
        node.result("ir3_approveValidatorChange", remove.clone());
    }
    let live: Vec<&Node> = net.nodes[..3].iter().chain([&newcomer]).collect();
    wait_for("gateway 3 to leave the set", Duration::from_secs(60), || {
        live.iter().all(|n| members(n) == 4)
    });

    // With the dead one out of the set, three of four are a quorum: a second gateway dies and
    // finality goes on.
    net.nodes[2].kill9();
    let left: Vec<&Node> = vec![&net.nodes[0], &net.nodes[1], &newcomer];
    let hash =
        net.nodes[0].result("eth_sendRawTransaction", json!([transfer(KEYS[7], 0, ADDRS[8], 7)]));
    let hash = hash.as_str().unwrap().to_string();
    wait_for("finality with two of the first four gone", Duration::from_secs(30), || {
        final_on(&left, &hash)
    });
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load thread");
    let count = sent.load(Ordering::Relaxed);
    assert!(count > 10, "the load ran: {count} transfers");
    let nonce_at = |n: &Node, tag: &str| {
        crate::utils::quantity(&n.result("eth_getTransactionCount", json!([ADDRS[5], tag]))) as u64
    };
    wait_for("the load's transfers to be final everywhere", Duration::from_secs(30), || {
        left.iter().all(|n| nonce_at(n, "finalized") == count)
    });
    let finalized =
        |n: &Node| n.result("eth_getBlockByNumber", json!(["finalized", false]))["hash"].clone();
    wait_for("one finalized head", Duration::from_secs(30), || {
        left.iter().all(|n| finalized(n) == finalized(left[0]))
    });
}
