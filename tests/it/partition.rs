//! Network partitions with real processes: four validators (f = 1) on the BFT engine, each in
//! a network namespace of its own joined by a bridge (all created and removed by the test;
//! iproute2 only), split by blackhole routes both ways. Split 1 | 3, the side of three (a
//! quorum) goes on finalizing while the lone gateway keeps tentative blocks and finalizes
//! nothing; split 2 | 2, neither side finalizes. A same-nonce conflict is sent to both sides.
//! After healing, every gateway agrees on one chain, every side's transactions are in it, the
//! conflict ends the same way everywhere, and no block any gateway called finalized was ever
//! rewritten.

use std::{
    collections::BTreeMap,
    fs::File,
    os::fd::AsRawFd,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use serde_json::{Value, json};

use crate::{
    network::{ADDRS, KEYS, network_init, wait_for},
    utils::{Node, post_to, quantity, tool},
};

const GATEWAYS: usize = 4;
const P2P_PORT: u16 = 30333;

/// Runs `ip` with arguments; panics with its output when it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip (iproute2)");
    assert!(output.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// The namespaces of one test run; removed on drop.
pub(crate) struct Lab {
    prefix: String,
    pub(crate) nodes: Vec<Node>,
    /// Gateways (one namespace each).
    pub(crate) size: usize,
    /// The network written by `ir3 network init` (its file and one key per gateway).
    network: tempfile::TempDir,
}

impl Lab {
    fn ns(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    fn bridge_ns(&self) -> String {
        format!("{}-br", self.prefix)
    }

    fn addr(i: usize) -> String {
        format!("10.77.0.{}", i + 1)
    }

    /// Creates the bridge and one namespace per gateway (`size` of them), wired to it, and a
    /// network of `size` validators (`ir3 network init`).
    pub(crate) fn new(size: usize) -> Self {
        let prefix = format!("ir3p{}", std::process::id());
        let network = tempfile::tempdir().expect("temp dir");
        network_init(size, &network.path().join("net"), &[]);
        let lab = Self { prefix, nodes: Vec::new(), size, network };
        let br = lab.bridge_ns();
        ip(&["netns", "add", &br]);
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &br, "link", "set", "br0", "up"]);
        for i in 0..size {
            let ns = lab.ns(i);
            let (inner, outer) = (format!("{}e{i}", lab.prefix), format!("{}b{i}", lab.prefix));
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&[
                "link", "add", &inner, "netns", &ns, "type", "veth", "peer", "name", &outer,
                "netns", &br,
            ]);
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", Self::addr(i)), "dev", &inner]);
            ip(&["-n", &ns, "link", "set", &inner, "up"]);
            ip(&["-n", &br, "link", "set", &outer, "master", "br0"]);
            ip(&["-n", &br, "link", "set", &outer, "up"]);
        }
        lab
    }

    /// Starts the gateways, each in its namespace, and waits for the full mesh. The engine's
    /// port is the default (`--p2p-port` + 1), and so are its peers (each `--bootstrap` port
    /// + 1).
    pub(crate) fn start(&mut self) {
        for i in 0..self.size {
            let ns = self.ns(i);
            let net = self.network.path().join("net");
            let args: Vec<String> = vec![
                "--p2p-port".into(),
                P2P_PORT.to_string(),
                "--network".into(),
                net.join("network.json").display().to_string(),
                "--key".into(),
                net.join(format!("gateway-{i}.key.json")).display().to_string(),
            ];
            let mut args = args;
            for j in (0..self.size).filter(|j| *j != i) {
                args.push("--bootstrap".into());
                args.push(format!("{}:{P2P_PORT}", Self::addr(j)));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let node = Node::start_through(&["ip", "netns", "exec", &ns], &Self::addr(i), &args);
            self.nodes.push(node);
        }
        wait_for("the full mesh", Duration::from_secs(60), || {
            (0..self.size).all(|i| {
                quantity(&self.rpc(i, "net_peerCount", json!([]))) as usize == self.size - 1
            })
        });
    }

    /// One JSON-RPC call to gateway `i`, from a thread inside its namespace.
    pub(crate) fn rpc(&self, i: usize, method: &str, params: Value) -> Value {
        let response = self.call(i, method, params);
        assert!(response.get("error").is_none(), "{method} on gateway {i}: {response}");
        response["result"].clone()
    }

    /// One JSON-RPC call to gateway `i`: the whole response object.
    pub(crate) fn call(&self, i: usize, method: &str, params: Value) -> Value {
        in_netns(&self.ns(i), Lab::addr(i), self.nodes[i].port, method, params)
    }

    /// `cast` run inside gateway `i`'s namespace.
    fn cast(&self, i: usize, args: &[&str]) -> String {
        let url = format!("http://{}:{}", Self::addr(i), self.nodes[i].port);
        let output = Command::new("ip")
            .args(["netns", "exec", &self.ns(i)])
            .arg(tool("cast"))
            .args(args)
            .env("ETH_RPC_URL", url)
            .output()
            .expect("run cast");
        assert!(
            output.status.success(),
            "cast {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    /// Sends a pre-signed transaction to gateway `i`; returns its hash.
    fn publish(&self, i: usize, raw: &str) -> String {
        self.rpc(i, "eth_sendRawTransaction", json!([raw])).as_str().unwrap().to_string()
    }

    fn signed(&self, key: &str, nonce: u64, to: &str, value: u64) -> String {
        self.cast(
            0,
            &[
                "mktx",
                "--private-key",
                key,
                "--nonce",
                &nonce.to_string(),
                to,
                "--value",
                &value.to_string(),
                "--gas-limit",
                "21000",
                "--gas-price",
                "5gwei",
                "--legacy",
            ],
        )
    }

    /// Cuts every route between the two sides (both directions).
    pub(crate) fn partition(&self, side: &[usize], other: &[usize], heal: bool) {
        let verb = if heal { "del" } else { "add" };
        for &a in side {
            for &b in other {
                ip(&[
                    "-n",
                    &self.ns(a),
                    "route",
                    verb,
                    "blackhole",
                    &format!("{}/32", Self::addr(b)),
                ]);
                ip(&[
                    "-n",
                    &self.ns(b),
                    "route",
                    verb,
                    "blackhole",
                    &format!("{}/32", Self::addr(a)),
                ]);
            }
        }
    }

    pub(crate) fn finalized(&self, i: usize) -> (u64, String) {
        let block = self.rpc(i, "eth_getBlockByNumber", json!(["finalized", false]));
        (quantity(&block["number"]) as u64, block["hash"].as_str().unwrap().to_string())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill9();
        }
        for i in 0..self.size {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(i)]).status();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.bridge_ns()]).status();
    }
}

/// Posts one JSON-RPC call from a thread that entered the namespace `ns` (setns(2)).
fn in_netns(ns: &str, host: String, port: u16, method: &str, params: Value) -> Value {
    let path = format!("/var/run/netns/{ns}");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    thread::spawn(move || {
        let file = File::open(&path).expect("open the namespace");
        // SAFETY: setns on a valid namespace file descriptor only changes this thread's
        // network namespace; the thread ends right after the call.
        let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(entered, 0, "setns {path}: {}", std::io::Error::last_os_error());
        let (status, response) = post_to(&host, port, body.as_bytes(), &[]);
        assert_eq!(status, 200, "{response}");
        serde_json::from_str(&response).unwrap()
    })
    .join()
    .expect("rpc thread")
}

/// Polls every gateway's finalized block until `stop`; returns what it saw (and fails if two
/// gateways ever finalized different blocks at one height).
fn watch_finality(
    lab: &Arc<Lab>,
    stop: &Arc<AtomicBool>,
) -> thread::JoinHandle<BTreeMap<u64, String>> {
    let (lab, stop) = (lab.clone(), stop.clone());
    thread::spawn(move || {
        let mut seen: BTreeMap<u64, String> = BTreeMap::new();
        while !stop.load(Ordering::Relaxed) {
            for i in 0..lab.size {
                let (number, hash) = lab.finalized(i);
                let first = seen.entry(number).or_insert_with(|| hash.clone());
                assert_eq!(*first, hash, "gateway {i} finalized another block at {number}");
            }
            thread::sleep(Duration::from_millis(300));
        }
        seen
    })
}

/// No finalized block seen during the run was rewritten.
fn assert_not_rewritten(lab: &Lab, seen: BTreeMap<u64, String>) {
    for (number, hash) in seen {
        let block = lab.rpc(0, "eth_getBlockByNumber", json!([format!("0x{number:x}"), false]));
        assert_eq!(block["hash"], json!(hash), "finalized block {number} was rewritten");
    }
}

/// Every gateway holds the same head, finalized, with every transaction final.
pub(crate) fn agreed(lab: &Lab, hashes: &[String]) -> bool {
    let heads: Vec<Value> = (0..lab.size)
        .map(|i| lab.rpc(i, "eth_getBlockByNumber", json!(["latest", false]))["hash"].clone())
        .collect();
    let finals: Vec<Value> = (0..lab.size)
        .map(|i| lab.rpc(i, "eth_getBlockByNumber", json!(["finalized", false]))["hash"].clone())
        .collect();
    let all: Vec<usize> = (0..lab.size).collect();
    heads.iter().all(|h| *h == heads[0]) && finals == heads && all_final_on(lab, &all, hashes)
}

/// Split 1 | 3: the three hold a quorum (more than two thirds of four) and go on.
#[test]
fn a_partition_heals_and_no_finalized_block_is_rewritten() {
    let mut lab = Lab::new(GATEWAYS);
    lab.start();
    let lab = Arc::new(lab);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_finality(&lab, &stop);

    // Before: one transfer through each gateway, final everywhere.
    let mut hashes = Vec::new();
    for (i, key) in KEYS.iter().enumerate().take(GATEWAYS) {
        hashes.push(lab.publish(i, &lab.signed(key, 0, ADDRS[9], 1)));
    }
    let all_final = |hashes: &[String]| {
        (0..GATEWAYS).all(|i| {
            hashes
                .iter()
                .all(|h| lab.rpc(i, "ir3_transactionStatus", json!([h]))["status"] == "final")
        })
    };
    wait_for("the first transfers to be final", Duration::from_secs(30), || all_final(&hashes));

    // Split {0} | {1, 2, 3}.
    let (minority, majority) = ([0], [1, 2, 3]);
    lab.partition(&minority, &majority, false);
    // A height in flight when the link went may still land: let it.
    thread::sleep(Duration::from_secs(2));
    let before = lab.finalized(0);
    let mut minority_txs = Vec::new();
    for nonce in 1..4 {
        minority_txs.push(lab.publish(0, &lab.signed(KEYS[0], nonce, ADDRS[8], nonce)));
        hashes.push(lab.publish(3, &lab.signed(KEYS[3], nonce, ADDRS[8], nonce)));
    }
    // The same sender and nonce on both sides.
    let conflict_minority = lab.publish(0, &lab.signed(KEYS[6], 0, ADDRS[1], 11));
    let conflict_majority = lab.publish(3, &lab.signed(KEYS[6], 0, ADDRS[2], 22));
    wait_for("the majority side to finalize", Duration::from_secs(30), || {
        all_final_on(&lab, &majority, &hashes[GATEWAYS..])
    });
    thread::sleep(Duration::from_secs(2));
    for i in minority {
        assert_eq!(lab.finalized(i), before, "gateway {i} finalized without a quorum");
        assert_eq!(
            lab.rpc(i, "ir3_transactionStatus", json!([minority_txs[0]]))["status"],
            "tentative"
        );
    }
    assert_eq!(
        lab.rpc(0, "eth_getTransactionReceipt", json!([minority_txs[0]]))["status"],
        "0x1",
        "the minority side gives tentative receipts"
    );

    // Heal: one chain again, the minority's transactions included, the conflict settled.
    lab.partition(&minority, &majority, true);
    hashes.extend(minority_txs.iter().cloned());
    hashes.push(conflict_majority);
    wait_for("every gateway to agree after healing", Duration::from_secs(90), || {
        agreed(&lab, &hashes)
    });
    for i in 0..GATEWAYS {
        let status = lab.rpc(i, "ir3_transactionStatus", json!([conflict_minority]));
        assert_eq!(status["status"], "dropped", "gateway {i}: {status}");
        let balance = lab.rpc(i, "eth_getBalance", json!([ADDRS[8], "latest"]));
        assert_eq!(balance, lab.rpc(0, "eth_getBalance", json!([ADDRS[8], "latest"])));
    }

    stop.store(true, Ordering::Relaxed);
    assert_not_rewritten(&lab, watcher.join().expect("finality watcher"));
}

/// Split 2 | 2: neither side holds more than two thirds of the votes, so neither finalizes
/// anything (both keep giving tentative receipts), and nothing diverges; after healing, one
/// chain with every side's transactions and one winner of a same-nonce conflict sent to both
/// sides.
#[test]
fn a_two_two_partition_stops_finality_on_both_sides_and_heals() {
    let mut lab = Lab::new(GATEWAYS);
    lab.start();
    let lab = Arc::new(lab);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_finality(&lab, &stop);
    let everyone = [0, 1, 2, 3];

    let mut hashes = Vec::new();
    for (i, key) in KEYS.iter().enumerate().take(4) {
        hashes.push(lab.publish(i, &lab.signed(key, 0, ADDRS[9], 1)));
    }
    wait_for("the first transfers to be final", Duration::from_secs(30), || {
        all_final_on(&lab, &everyone, &hashes)
    });

    let (left, right) = ([0, 1], [2, 3]);
    lab.partition(&left, &right, false);
    // A height in flight when the link went may still land: let it.
    thread::sleep(Duration::from_secs(2));
    let before: Vec<(u64, String)> = everyone.iter().map(|&i| lab.finalized(i)).collect();
    let mut split_txs = Vec::new();
    for nonce in 1..3 {
        split_txs.push(lab.publish(0, &lab.signed(KEYS[0], nonce, ADDRS[8], nonce)));
        split_txs.push(lab.publish(3, &lab.signed(KEYS[3], nonce, ADDRS[8], nonce)));
    }
    let conflict_left = lab.publish(1, &lab.signed(KEYS[6], 0, ADDRS[1], 11));
    let conflict_right = lab.publish(2, &lab.signed(KEYS[6], 0, ADDRS[2], 22));
    thread::sleep(Duration::from_secs(5));
    for &i in &everyone {
        assert_eq!(lab.finalized(i), before[i], "gateway {i} finalized without a quorum");
    }
    for (i, hash) in [(0, &split_txs[0]), (3, &split_txs[1])] {
        assert_eq!(lab.rpc(i, "ir3_transactionStatus", json!([hash]))["status"], "tentative");
        assert_eq!(
            lab.rpc(i, "eth_getTransactionReceipt", json!([hash]))["status"],
            "0x1",
            "each side gives tentative receipts"
        );
    }

    lab.partition(&left, &right, true);
    hashes.extend(split_txs);
    wait_for("every gateway to agree after healing", Duration::from_secs(90), || {
        agreed(&lab, &hashes)
            && [&conflict_left, &conflict_right].iter().all(|h| {
                everyone.iter().all(|&i| {
                    let status = lab.rpc(i, "ir3_transactionStatus", json!([h]))["status"].clone();
                    status == "final" || status == "dropped"
                })
            })
    });
    for &i in &everyone {
        let mut statuses: Vec<String> = [&conflict_left, &conflict_right]
            .iter()
            .map(|h| lab.rpc(i, "ir3_transactionStatus", json!([h]))["status"].to_string())
            .collect();
        statuses.sort();
        assert_eq!(statuses, ["\"dropped\"", "\"final\""], "gateway {i}");
        let balance = lab.rpc(i, "eth_getBalance", json!([ADDRS[8], "latest"]));
        assert_eq!(balance, lab.rpc(0, "eth_getBalance", json!([ADDRS[8], "latest"])));
    }

    stop.store(true, Ordering::Relaxed);
    assert_not_rewritten(&lab, watcher.join().expect("finality watcher"));
}

fn all_final_on(lab: &Lab, gateways: &[usize], hashes: &[String]) -> bool {
    gateways.iter().all(|&i| {
        hashes.iter().all(|h| lab.rpc(i, "ir3_transactionStatus", json!([h]))["status"] == "final")
    })
}
