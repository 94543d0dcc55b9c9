//! In network mode (on the engine) dev-mode changes are refused before any of their work is
//! done: `anvil_reset` with a fork URL never connects to it, `anvil_loadState` never
//! decompresses its bytes, and the chain is untouched.

use std::{net::TcpListener, thread, time::Duration};

use serde_json::json;

use crate::{network::start_gateways, utils::quantity};

#[test]
fn engine_mode_refuses_dev_changes_before_connecting_or_decompressing() {
    let net = start_gateways(1, 160, &[]);
    let gateway = &net.nodes[0];
    let head = quantity(&gateway.result("eth_blockNumber", json!([])));
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let refused = |method: &str, params| {
        let response = gateway.call(method, params);
        let message = response["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains("network mode"), "{method}: {response}");
    };
    refused("anvil_reset", json!([{"forking": {"jsonRpcUrl": url, "blockNumber": 1}}]));
    refused("anvil_reset", json!([{"forking": {"jsonRpcUrl": url}}]));
    thread::sleep(Duration::from_millis(300));
    assert!(listener.accept().is_err(), "anvil_reset connected to the fork URL");
    // A gzip header with garbage after it: decoding would fail with a gzip error instead.
    refused("anvil_loadState", json!(["0x1f8b0800000000000003ffffffff"]));
    refused("anvil_setBalance", json!(["0x00000000000000000000000000000000000b0b01", "0x1"]));
    refused("anvil_reset", json!([]));
    let after = quantity(&gateway.result("eth_blockNumber", json!([])));
    assert!(after >= head, "the chain was reset: {head} -> {after}");
    let balance =
        gateway.result("eth_getBalance", json!(["0x00000000000000000000000000000000000b0b01"]));
    assert_eq!(balance, "0x0");
}
