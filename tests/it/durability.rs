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
