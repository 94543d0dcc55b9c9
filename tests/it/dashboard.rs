//! The node's web dashboard: served on the JSON-RPC port next to an unchanged JSON-RPC API, and
//! driven in headless Chromium (Debian's package, through playwright-core) against a dev node
//! (including 2 000 transactions sent as fast as it takes them, and a restart under the page)
//! and a 3-gateway network; screenshots of each view land in `target/dashboard/`.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Command,
    time::Duration,
};

use serde_json::json;

use crate::{
    network::start_gateways_with,
    utils::{Node, post, repo},
};

/// Sends `GET path` with extra headers; returns the status line's code, the head and the body.
fn get(host: &str, port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut stream = TcpStream::connect((host, port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn dashboard_is_served_on_the_rpc_port_and_rpc_is_unchanged() {
    let node = Node::start(&[]);
    let before = node.result("eth_blockNumber", json!([]));
    let entries = node.result("ir3_seriesStatus", json!([]))["entries"].clone();
    let browser = [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
    let (status, head, body) = get("127.0.0.1", node.port, "/", &browser);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("content-security-policy"), "{head}");
    assert!(body.contains("/ui/app.js"), "{body}");
    for path in ["/ui", "/ui/", "/ui/app.js", "/ui/style.css", "/ui/dev.js", "/ui/favicon.svg"] {
        let (status, head, _) = get("127.0.0.1", node.port, path, &[]);
        assert_eq!(status, 200, "{path}: {head}");
    }
    assert_eq!(get("127.0.0.1", node.port, "/ui/missing.js", &[]).0, 404);
    // A GET without text/html is jsonrpsee's as before (it only serves POST): not the page.
    let (status, _, body) = get("127.0.0.1", node.port, "/", &[("Accept", "application/json")]);
    assert!(!body.contains("/ui/app.js"), "{status}: {body}");
    // JSON-RPC POSTs are unchanged, and no GET changed the chain.
    let (status, body) =
        post(node.port, br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#, &[]);
    assert_eq!((status, body.contains("\"0x539\"")), (200, true), "{body}");
    assert_eq!(node.result("eth_blockNumber", json!([])), before);
    assert_eq!(node.result("ir3_seriesStatus", json!([]))["entries"], entries, "a GET appended");
    let info = node.result("ir3_nodeInfo", json!([]));
    assert_eq!(info["devMethods"], true, "{info}");
    let keys = node.result("ir3_devAccounts", json!([]));
    assert_eq!(keys[0]["privateKey"], crate::utils::DEV0_KEY);
    let series = node.result("ir3_seriesStatus", json!([true]));
    assert!(series["kinds"]["evm/Genesis"] == 1, "{series}");
    assert!(series["bytes"].as_u64().unwrap() > 0, "{series}");
}

#[test]
fn dashboard_in_headless_chromium_follows_a_dev_node_and_a_three_gateway_network() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: scripts/test.sh installs Debian's chromium"
    );
    let node = Node::start(&[]);
    // A longer grace keeps a transaction tentative long enough for the page to show it.
    let network = start_gateways_with(3, 70, &[], &["--grace-ms", "1500"]);
    let gateways = &network.nodes;
    let net: Vec<String> = gateways.iter().map(Node::http).collect();
    let out_dir = repo().join("target/dashboard");
    let output = Command::new("node")
        .arg(repo().join("scripts/dashboard-e2e.mjs"))
        .env("IR3_HTTP", node.http())
        .env("IR3_NET", net.join(","))
        .env("IR3_OUT", &out_dir)
        // The script starts a node of its own with this binary, kills it under the page and
        // starts it again: the page must reconnect by itself.
        .env("IR3_BIN", env!("CARGO_BIN_EXE_ir3"))
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("\"ok\":true"),
        "dashboard-e2e.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The network refuses the dev accounts' keys, as it refuses the dev methods.
    let refused = gateways[0].call("ir3_devAccounts", json!([]));
    assert!(refused.get("error").is_some(), "{refused}");
    for view in
        ["chain", "block", "tx", "accounts", "series", "apps", "dev", "tx-network", "network"]
    {
        assert!(out_dir.join(format!("{view}.png")).exists(), "no screenshot of {view}");
    }
}
