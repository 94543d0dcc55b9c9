//! Real clients against a real node: forge, cast, a viem script and an ethers v6 script.

use serde_json::json;

use crate::{
    anvil::Anvil,
    utils::{DEV0, DEV0_KEY, DEV1, Node, forge, run_node_script, run_script_against},
};

#[test]
fn viem_deploys_transfers_watches_logs_and_decodes_custom_errors() {
    let node = Node::start(&[]);
    let out = run_node_script(&node, "e2e-viem.mjs");
    assert!(out.contains("\"ok\":true"), "{out}");
    assert!(out.contains("InsufficientBalance"), "custom error not decoded: {out}");
}

#[test]
fn ethers_deploys_transfers_watches_logs_and_decodes_custom_errors() {
    let node = Node::start(&[]);
    let out = run_node_script(&node, "e2e-ethers.mjs");
    assert!(out.contains("\"ok\":true"), "{out}");
    assert!(out.contains("InsufficientBalance"), "custom error not decoded: {out}");
}

/// Issue 14's client regressions, with viem: an estimate of a timestamp-dependent call is made
/// for the block it will be mined in (a transaction sent with exactly the estimate succeeds),
/// and traces of transactions mined right after `anvil_setCode`, `anvil_setStorageAt`,
/// `anvil_setBalance` and `anvil_setNonce` re-execute them on the state they ran on (the
/// callTracer's gas is the receipt's, the prestateTracer shows the values set). The same script
/// passes against Anvil.
#[test]
fn viem_estimate_for_the_next_block_and_traces_after_dev_changes_as_on_anvil() {
    let node = Node::start(&[]);
    let out = run_node_script(&node, "e2e-regressions.mjs");
    assert!(out.contains("\"ok\":true"), "{out}");
    let anvil = Anvil::start(&[]);
    let url = |scheme: &str| format!("{scheme}://127.0.0.1:{}", anvil.port);
    let out = run_script_against(&url("http"), &url("ws"), "e2e-regressions.mjs");
    assert!(out.contains("\"ok\":true"), "anvil: {out}");
}

#[test]
fn forge_script_broadcasts_a_multi_transaction_deployment() {
    let node = Node::start(&[]);
    let out = forge(&[
        "script",
        "script/Deploy.s.sol",
        "--rpc-url",
        &node.http(),
        "--broadcast",
        "--private-key",
        DEV0_KEY,
    ]);
    assert!(out.contains("ONCHAIN EXECUTION COMPLETE & SUCCESSFUL"), "{out}");
    // Token, Counter, setNumber(42), transfer: four transactions, all mined with status 1.
    assert_eq!(node.cast(&["nonce", DEV0]), "4");
    let counter = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("counter: contract Counter "))
        .expect("counter address in forge output")
        .trim()
        .to_string();
    assert_eq!(node.cast(&["call", &counter, "number()(uint256)"]), "42");
}

#[test]
fn forge_create_then_cast_send_call_and_logs() {
    let node = Node::start(&[]);
    let out = forge(&[
        "create",
        "src/Counter.sol:Counter",
        "--rpc-url",
        &node.http(),
        "--private-key",
        DEV0_KEY,
        "--broadcast",
    ]);
    let address = out
        .lines()
        .find_map(|l| l.strip_prefix("Deployed to: "))
        .expect("deployed address")
        .trim()
        .to_string();
    assert!(node.cast(&["code", &address]).len() > 10);

    let receipt = node.cast(&[
        "send",
        "--private-key",
        DEV0_KEY,
        &address,
        "setNumber(uint256)",
        "7",
        "--json",
    ]);
    let receipt: serde_json::Value = serde_json::from_str(&receipt).unwrap();
    assert_eq!(receipt["status"], "0x1");
    let logs = receipt["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "NumberSet emitted once");
    assert_eq!(logs[0]["topics"][0], node.cast(&["keccak", "NumberSet(uint256,address)"]).as_str());
    assert_eq!(node.cast(&["call", &address, "number()(uint256)"]), "7");

    // The same log through eth_getLogs with an indexed-topic filter.
    let topic1 = format!("0x{:064x}", 7);
    let found = node.result(
        "eth_getLogs",
        json!([{"address": address, "fromBlock": "0x0", "topics": [null, topic1]}]),
    );
    assert_eq!(found.as_array().unwrap().len(), 1);

    // cast send of plain value, and balance reads at historical blocks.
    let before = node.cast(&["block-number"]);
    node.cast(&["send", "--private-key", DEV0_KEY, DEV1, "--value", "1ether"]);
    assert_eq!(node.cast(&["balance", DEV1, "--ether"]), "10001.000000000000000000");
    assert_eq!(
        node.cast(&["balance", DEV1, "--ether", "--block", &before]),
        "10000.000000000000000000"
    );

    // A require() revert surfaces with its reason through cast.
    let output = std::process::Command::new(crate::utils::tool("cast"))
        .args(["call", &address, "requireBig(uint256)", "3", "--rpc-url", &node.http()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("too small"));
}

#[test]
fn websocket_subscriptions_deliver_heads_and_pending_transactions() {
    let node = Node::start(&[]);
    let out = run_node_script(&node, "ws-subscriptions.mjs");
    assert!(out.contains("\"ok\":true"), "{out}");
}
