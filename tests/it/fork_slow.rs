//! A slow `--fork-url` parent stalls only the reads that wait on it: the chain lock is not held
//! across a fork read, and the wait does not occupy a runtime worker, so unrelated requests
//! (chain id, block number, a transaction and its block) answer promptly meanwhile.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    thread,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::utils::{DEV0, Node, post, quantity};

/// The account whose balance the parent answers slowly.
const SLOW: &str = "0x0000000000000000000000000000000000051009";
const OTHER: &str = "0x0000000000000000000000000000000000001234";
/// How long the proxy holds a slow request.
const DELAY: Duration = Duration::from_secs(5);

#[test]
fn a_slow_fork_parent_does_not_stall_unrelated_requests() {
    let parent = Node::start(&[]);
    parent.result("anvil_setBalance", json!([SLOW, "0x1234"]));
    parent.result("evm_mine", json!([]));
    let proxy = slow_proxy(parent.port, DELAY);
    let child = Node::start(&["--fork-url", &format!("http://127.0.0.1:{proxy}")]);
    thread::scope(|scope| {
        // More slow readers than the node has runtime workers, on the query path and on the
        // blocking (eth_call) path.
        let balances: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| child.result("eth_getBalance", json!([SLOW, "latest"]))))
            .collect();
        let call = scope.spawn(|| child.call("eth_call", json!([{"to": SLOW}, "latest"])));
        thread::sleep(Duration::from_millis(500));

        let started = Instant::now();
        assert_eq!(child.result("eth_chainId", json!([])), "0x539");
        let head = quantity(&child.result("eth_blockNumber", json!([])));
        // A block is sealed (the chain's write lock) while the slow reads wait on the parent.
        let tx = json!([{"from": DEV0, "to": OTHER, "value": "0x1"}]);
        let hash = child.result("eth_sendTransaction", tx);
        assert_eq!(quantity(&child.result("eth_blockNumber", json!([]))), head + 1);
        let receipt = child.result("eth_getTransactionReceipt", json!([hash]));
        assert_eq!(receipt["status"], "0x1");
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(2_500),
            "unrelated requests took {elapsed:?} while the fork parent was slow"
        );

        // The slow reads get the parent's answer once it comes.
        for balance in balances {
            assert_eq!(balance.join().unwrap(), "0x1234");
        }
        let call = call.join().unwrap();
        assert_eq!(call["result"], "0x", "{call}");
        assert!(started.elapsed() >= DELAY - Duration::from_millis(600), "the proxy was not slow");
    });
}

/// A JSON-RPC proxy in front of the parent at `parent_port` that holds every `eth_getBalance`
/// of [`SLOW`] for `delay` before forwarding it. Returns its port.
fn slow_proxy(parent_port: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the proxy");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream, parent_port, delay));
        }
    });
    port
}

/// Serves one connection's requests (kept alive as the client likes).
fn serve(mut stream: TcpStream, parent_port: u16, delay: Duration) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let text = String::from_utf8_lossy(&body).to_ascii_lowercase();
        if text.contains("eth_getbalance") && text.contains(SLOW) {
            thread::sleep(delay);
        }
        let (status, payload) = post(parent_port, &body, &[]);
        let response = format!(
            "HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
            payload.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
