//! Durability: a restart comes back at the same head, state and receipts; `kill -9` in the
//! middle of a burst loses no transaction whose hash was returned.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::utils::{ADDRS, DEV1, Node};

/// Dev accounts 0..8, one per concurrent sender.
const SENDERS: [&str; 8] =
    [ADDRS[0], ADDRS[1], ADDRS[2], ADDRS[3], ADDRS[4], ADDRS[5], ADDRS[6], ADDRS[7]];

#[test]
fn restart_comes_back_with_the_same_chain() {
    let mut node = Node::start(&[]);
    let mut hashes = Vec::new();
    for value in 1..=5 {
        let tx = json!([{"from": SENDERS[0], "to": DEV1, "value": format!("0x{value:x}")}]);
        hashes.push(node.result("eth_sendTransaction", tx));
    }
    let head = node.result("eth_getBlockByNumber", json!(["latest", false]));
    let balance = node.result("eth_getBalance", json!([DEV1, "latest"]));
    let receipts: Vec<Value> =
        hashes.iter().map(|h| node.result("eth_getTransactionReceipt", json!([h]))).collect();

    node.stop();
    node.restart();
    assert_eq!(node.result("eth_getBlockByNumber", json!(["latest", false])), head);
    assert_eq!(node.result("eth_getBalance", json!([DEV1, "latest"])), balance);
    for (hash, receipt) in hashes.iter().zip(&receipts) {
        assert_eq!(&node.result("eth_getTransactionReceipt", json!([hash])), receipt);
    }
    // The chain goes on from there.
    node.result("eth_sendTransaction", json!([{"from": SENDERS[0], "to": DEV1, "value": "0x1"}]));
    assert_eq!(node.result("eth_blockNumber", json!([])), "0x6");
}

#[test]
fn kill9_during_a_burst_loses_no_acknowledged_transaction() {
    let mut node = Node::start(&[]);
    let port = node.port;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let deadline = Instant::now() + Duration::from_millis(1500);
    let workers: Vec<_> = SENDERS
        .iter()
        .map(|sender| {
            let acknowledged = acknowledged.clone();
            let sender = sender.to_string();
            std::thread::spawn(move || {
                let probe = ProbeClient { port };
                while Instant::now() < deadline + Duration::from_secs(5) {
                    let tx = json!([{"from": sender, "to": DEV1, "value": "0x1", "gas": "0x5208"}]);
                    match probe.send(tx) {
                        Some(hash) => acknowledged.lock().unwrap().push(hash),
                        None => return,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(deadline - Instant::now());
    let acknowledged_at_kill = acknowledged.lock().unwrap().len();
    node.kill9();
    for worker in workers {
        worker.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged_at_kill > 20, "burst too small to mean anything: {acknowledged_at_kill}");

    node.restart();
    let mut missing = Vec::new();
    for hash in &acknowledged {
        let receipt = node.result("eth_getTransactionReceipt", json!([hash]));
        if receipt.is_null() {
            missing.push(hash.clone());
        } else {
            assert_eq!(receipt["status"], "0x1");
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged transactions lost: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
}

/// A client that treats any transport failure as "the node is gone".
struct ProbeClient {
    port: u16,
}

impl ProbeClient {
    fn send(&self, params: Value) -> Option<String> {
        use std::{
            io::{Read, Write},
            net::TcpStream,
        };
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": params})
                .to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let request = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (_, payload) = response.split_once("\r\n\r\n")?;
        let value: Value = serde_json::from_str(payload).ok()?;
        value["result"].as_str().map(str::to_string)
    }
}

/// The derived store (`<data-dir>/state/derived.redb`) is a cache of the series: deleted,
/// corrupted or truncated, the node comes back with the same answers (a chain longer than the
/// in-memory window, so old blocks, receipts and historical balances come from the store).
#[test]
fn a_deleted_corrupted_or_truncated_store_is_rebuilt_with_the_same_answers() {
    let mut node = Node::start(&[]);
    let mut hashes = Vec::new();
    for value in 1..=3 {
        let tx = json!([{"from": SENDERS[0], "to": DEV1, "value": format!("0x{value:x}")}]);
        hashes.push(node.result("eth_sendTransaction", tx));
    }
    node.result("anvil_mine", json!(["0x200"]));
    hashes.push(
        node.result(
            "eth_sendTransaction",
            json!([{"from": SENDERS[1], "to": DEV1, "value": "0x9"}]),
        ),
    );
    let answers = |node: &Node| -> Vec<Value> {
        let mut out = vec![
            node.result("eth_getBlockByNumber", json!(["latest", false])),
            node.result("eth_getBlockByNumber", json!(["0x2", true])),
            node.result("eth_getBalance", json!([DEV1, "0x2"])),
            node.result("eth_getBalance", json!([DEV1, "latest"])),
            node.result("ots_searchTransactionsBefore", json!([SENDERS[0], 0, 10])),
        ];
        out.extend(hashes.iter().map(|h| node.result("eth_getTransactionReceipt", json!([h]))));
        out
    };
    let expected = answers(&node);
    let store = node.data_dir.join("state").join("derived.redb");
    assert!(store.exists(), "the derived store lives at {}", store.display());

    node.stop();
    std::fs::remove_dir_all(node.data_dir.join("state")).unwrap();
    node.restart();
    assert_eq!(answers(&node), expected, "after deleting the store");

    node.kill9();
    std::fs::write(&store, vec![0xA5u8; 64 * 1024]).unwrap();
    node.restart();
    assert_eq!(answers(&node), expected, "after corrupting the store");

    node.kill9();
    let length = std::fs::metadata(&store).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&store).unwrap().set_len(length / 2).unwrap();
    node.restart();
    assert_eq!(answers(&node), expected, "after truncating the store");
}

/// `ir3_nodeInfo`'s account of the start: whether the chain was resumed from the store.
fn resumed(node: &Node) -> bool {
    node.result("ir3_nodeInfo", json!([]))["startup"]["resumed"] == json!(true)
}

/// A state dump (Anvil's format, plain JSON, hex-encoded as `anvil_loadState` takes it) of `n`
/// accounts 0x1000…, each with balance `index + 1`: enough changes to make the node flush its
/// state to the store with a checkpoint.
fn many_accounts(n: u64) -> (String, Vec<String>) {
    let addresses: Vec<String> = (0..n).map(|i| format!("0x{:040x}", 0x1000 + i)).collect();
    let accounts: serde_json::Map<String, Value> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| (a.clone(), json!({"nonce": 0, "balance": format!("0x{:x}", i + 1)})))
        .collect();
    let dump = serde_json::to_vec(&json!({ "accounts": accounts })).unwrap();
    let hex: String = dump.iter().map(|b| format!("{b:02x}")).collect();
    (format!("0x{hex}"), addresses)
}

/// A restart resumes from the derived store's checkpoint, after a clean stop and after
/// `kill -9`, with everything a dev node keeps: blocks and receipts older than the in-memory
/// window, historical balances, the pooled transaction of a node with mining off, settings,
/// and a snapshot taken before the restart that can still be reverted to.
#[test]
fn a_restart_resumes_from_the_store_with_pool_settings_and_snapshots() {
    let mut node = Node::start(&[]);
    let first = node
        .result("eth_sendTransaction", json!([{"from": SENDERS[0], "to": DEV1, "value": "0x5"}]));
    // 17 000 accounts: more changes than the node keeps in memory, so it flushes them to the
    // store with a checkpoint at the next block.
    let (dump, loaded) = many_accounts(17_000);
    assert_eq!(node.result("anvil_loadState", json!([dump])), true);
    node.result("anvil_mine", json!(["0x300"]));
    let snapshot = node.result("evm_snapshot", json!([]));
    let before_snapshot = node.result("eth_getBalance", json!([DEV1, "latest"]));
    node.result("eth_sendTransaction", json!([{"from": SENDERS[1], "to": DEV1, "value": "0x7"}]));
    node.result("evm_setAutomine", json!([false]));
    let pooled = node
        .result("eth_sendTransaction", json!([{"from": SENDERS[2], "to": DEV1, "value": "0x9"}]));
    let answers = |node: &Node| -> Vec<Value> {
        vec![
            node.result("eth_getBlockByNumber", json!(["latest", false])),
            node.result("eth_getBlockByNumber", json!(["0x1", true])),
            node.result("eth_getTransactionReceipt", json!([first])),
            node.result("eth_getBalance", json!([DEV1, "0x1"])),
            node.result("eth_getBalance", json!([DEV1, "latest"])),
            node.result("eth_getBalance", json!([loaded[0], "latest"])),
            node.result("eth_getBalance", json!([loaded[16_999], "latest"])),
            node.result("eth_getTransactionByHash", json!([pooled])),
            node.result("txpool_status", json!([])),
            node.result("ir3_nodeInfo", json!([]))["mining"].clone(),
        ]
    };
    let expected = answers(&node);

    node.kill9();
    node.restart();
    assert!(resumed(&node), "after kill -9 the node resumes from the store's last checkpoint");
    assert_eq!(answers(&node), expected, "after kill -9");

    node.stop();
    node.restart();
    assert!(resumed(&node), "after a clean stop the node resumes from the store");
    assert_eq!(answers(&node), expected, "after a clean stop");

    // The snapshot taken before the restarts still reverts, and the chain goes on from there.
    assert_eq!(node.result("evm_revert", json!([snapshot])), true);
    assert_eq!(node.result("eth_getBalance", json!([DEV1, "latest"])), before_snapshot);
    assert_eq!(node.result("txpool_status", json!([]))["pending"], "0x0");
    node.result("evm_mine", json!([]));
    let head = node.result("eth_getBlockByNumber", json!(["latest", false]));
    node.kill9();
    node.restart();
    assert!(resumed(&node), "a revert writes a new checkpoint at once");
    assert_eq!(node.result("eth_getBlockByNumber", json!(["latest", false])), head);
}

/// A store that is ahead of its series (the series was put back to an older copy) or that
/// belongs to another chain is refused at start-up and rebuilt from the series.
#[test]
fn a_store_ahead_of_its_series_or_from_another_chain_is_rebuilt() {
    let mut node = Node::start(&[]);
    for value in 1..=2 {
        let tx = json!([{"from": SENDERS[0], "to": DEV1, "value": format!("0x{value:x}")}]);
        node.result("eth_sendTransaction", tx);
    }
    let head = node.result("eth_getBlockByNumber", json!(["latest", false]));
    let balance = node.result("eth_getBalance", json!([DEV1, "latest"]));
    node.stop();
    let series = node.data_dir.join("series.log");
    let older = node.data_dir.join("series.older");
    std::fs::copy(&series, &older).unwrap();

    node.restart();
    node.result("eth_sendTransaction", json!([{"from": SENDERS[0], "to": DEV1, "value": "0x3"}]));
    node.stop();
    std::fs::rename(&older, &series).unwrap();
    node.restart();
    assert!(!resumed(&node), "a store ahead of its series is rebuilt");
    assert_eq!(node.result("eth_getBlockByNumber", json!(["latest", false])), head);
    assert_eq!(node.result("eth_getBalance", json!([DEV1, "latest"])), balance);

    let mut other = Node::start(&["--chain-id", "31337"]);
    other.result("eth_sendTransaction", json!([{"from": SENDERS[3], "to": DEV1, "value": "0x1"}]));
    other.stop();
    node.stop();
    let store = |n: &Node| n.data_dir.join("state").join("derived.redb");
    std::fs::copy(store(&other), store(&node)).unwrap();
    node.restart();
    assert!(!resumed(&node), "another chain's store is rebuilt");
    assert_eq!(node.result("eth_getBlockByNumber", json!(["latest", false])), head);
    assert_eq!(node.result("eth_getBalance", json!([DEV1, "latest"])), balance);
    assert_eq!(node.result("eth_chainId", json!([])), "0x539");
}
