//! Network mode with real processes: five `ir3` gateways on loopback (one 127.0.0.x each),
//! driven by cast and viem, with contracts writing the same slots, a same-nonce conflict, a
//! gateway killed and restarted mid-run and one frozen (SIGSTOP) to be silent. After
//! quiescence every gateway answers the same blocks, balances, storage and receipts, and no
//! block the network called finalized was ever rewritten.

use std::{
    collections::BTreeMap,
    net::TcpListener,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

pub(crate) use crate::utils::{ADDRS, KEYS};
use crate::utils::{Node, artifact_bytecode, post_to, quantity, repo};

/// A free TCP port on `host`.
pub(crate) fn free_port(host: &str) -> u16 {
    TcpListener::bind((host, 0)).expect("bind").local_addr().unwrap().port()
}

/// Starts `n` gateways at 127.0.0.`first_ip`.. whose agreement runs on the BFT engine: a
/// network written by `ir3 network init` (one key per gateway), each gateway started with the
/// network file and its own key, the engines connected to each other; waits for the full mesh.
/// Returns the gateways and where they are.
pub(crate) fn start_gateways(n: usize, first_ip: u8, extra: &[&str]) -> EngineNet {
    start_gateways_with(n, first_ip, extra, &[])
}

/// [`start_gateways`] with further `ir3 network init` flags (engine parameters).
pub(crate) fn start_gateways_with(
    n: usize,
    first_ip: u8,
    extra: &[&str],
    init: &[&str],
) -> EngineNet {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("net");
    network_init(n, &out, init);
    let network = out.join("network.json");
    let keys: Vec<std::path::PathBuf> =
        (0..n).map(|i| out.join(format!("gateway-{i}.key.json"))).collect();
    let hosts: Vec<String> = (0..n).map(|i| format!("127.0.0.{}", first_ip as usize + i)).collect();
    let ports: Vec<u16> = hosts.iter().map(|h| free_port(h)).collect();
    let engine_ports: Vec<u16> = hosts.iter().map(|h| free_port(h)).collect();
    let nodes: Vec<Node> = (0..n)
        .map(|i| {
            let mut args: Vec<String> = vec![
                "--p2p-port".into(),
                ports[i].to_string(),
                "--network".into(),
                network.display().to_string(),
                "--key".into(),
                keys[i].display().to_string(),
                "--consensus-port".into(),
                engine_ports[i].to_string(),
            ];
            for j in (0..n).filter(|j| *j != i) {
                args.push("--bootstrap".into());
                args.push(format!("{}:{}", hosts[j], ports[j]));
                args.push("--consensus-peer".into());
                args.push(format!("{}:{}", hosts[j], engine_ports[j]));
            }
            args.extend(extra.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Node::start_at(&hosts[i], &args)
        })
        .collect();
    wait_for_mesh(&nodes);
    let p2p = (0..n).map(|i| format!("{}:{}", hosts[i], ports[i])).collect();
    let engines = (0..n).map(|i| format!("{}:{}", hosts[i], engine_ports[i])).collect();
    EngineNet { nodes, dir, network, p2p, engines }
}

/// Gateways whose agreement runs on the engine, and where they are.
pub(crate) struct EngineNet {
    pub(crate) nodes: Vec<Node>,
    /// Holds the network file and keys (removed on drop).
    pub(crate) dir: tempfile::TempDir,
    /// The network file.
    pub(crate) network: std::path::PathBuf,
    /// Each gateway's libp2p address (host:port).
    pub(crate) p2p: Vec<String>,
    /// Each gateway's engine address (host:port).
    pub(crate) engines: Vec<String>,
}

/// Waits until every node has all the others as peers.
fn wait_for_mesh(nodes: &[Node]) {
    wait_for("the full mesh", Duration::from_secs(60), || {
        nodes
            .iter()
            .all(|n| quantity(&n.result("net_peerCount", json!([]))) as usize == nodes.len() - 1)
    });
}

/// Writes a network of `gateways` validators into `out` with `ir3 network init` (further
/// flags: engine parameters).
pub(crate) fn network_init(gateways: usize, out: &std::path::Path, flags: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_ir3"))
        .args(["network", "init", "--gateways", &gateways.to_string(), "--out"])
        .arg(out)
        .args(flags)
        .status()
        .expect("ir3 network init");
    assert!(status.success(), "ir3 network init");
}

/// A key outside a network's validator set (another `network init`'s, written under `dir`):
/// a node started with it is an observer.
pub(crate) fn outside_key(dir: &std::path::Path) -> std::path::PathBuf {
    let elsewhere = dir.join("elsewhere");
    network_init(1, &elsewhere, &[]);
    elsewhere.join("gateway-0.key.json")
}

/// Polls `check` until it holds.
pub(crate) fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(200));
    }
}

/// Sends a signal to a node's process.
fn signal(node: &Node, signal: &str) {
    let pid = node.pid().expect("running");
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
}

/// `cast send` with an explicit nonce; returns the transaction hash (the receipt was awaited by
/// cast on that gateway).
fn cast_send(node: &Node, key: &str, nonce: u64, args: &[&str]) -> String {
    let nonce = nonce.to_string();
    let mut all = vec!["send", "--json", "--private-key", key, "--nonce", &nonce];
    all.extend_from_slice(args);
    let out = node.cast(&all);
    let receipt: Value = serde_json::from_str(&out).expect("cast send --json");
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    receipt["transactionHash"].as_str().unwrap().to_string()
}

/// Everything a user reads that must agree across gateways.
fn fingerprint(node: &Node, hashes: &[String], accounts: &[&str], contract: &str) -> Value {
    let head = quantity(&node.result("eth_blockNumber", json!([]))) as u64;
    let blocks: Vec<Value> = (0..=head)
        .map(|n| {
            node.result("eth_getBlockByNumber", json!([format!("0x{n:x}"), false]))["hash"].clone()
        })
        .collect();
    let balances: Vec<Value> =
        accounts.iter().map(|a| node.result("eth_getBalance", json!([a, "latest"]))).collect();
    let storage = node.result("eth_getStorageAt", json!([contract, "0x0", "latest"]));
    let receipts: Vec<Value> = hashes
        .iter()
        .map(|h| {
            let r = node.result("eth_getTransactionReceipt", json!([h]));
            if r.is_null() {
                return json!(null);
            }
            json!([
                r["status"],
                r["blockHash"],
                r["blockNumber"],
                r["transactionIndex"],
                r["gasUsed"],
                r["cumulativeGasUsed"],
                r["logs"].as_array().map(Vec::len)
            ])
        })
        .collect();
    json!({ "blocks": blocks, "balances": balances, "storage": storage, "receipts": receipts })
}

/// Polls every gateway's finalized block while the test runs; returns what it saw.
fn watch_finality(
    nodes: &[Node],
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<BTreeMap<u64, String>> {
    let targets: Vec<(String, u16)> = nodes.iter().map(|n| (n.host.clone(), n.port)).collect();
    thread::spawn(move || {
        let mut seen: BTreeMap<u64, String> = BTreeMap::new();
        while !stop.load(Ordering::Relaxed) {
            for (host, port) in &targets {
                let body = json!({"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["finalized", false]});
                // A gateway may be down (killed, restarting): skip it this round.
                let Ok(response) = std::panic::catch_unwind(|| {
                    post_to(host, *port, body.to_string().as_bytes(), &[]).1
                }) else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<Value>(&response) else { continue };
                let block = &value["result"];
                let (Some(number), Some(hash)) = (block["number"].as_str(), block["hash"].as_str())
                else {
                    continue;
                };
                let number = u64::from_str_radix(number.trim_start_matches("0x"), 16).unwrap();
                let previous = seen.entry(number).or_insert_with(|| hash.to_string());
                assert_eq!(previous, hash, "two gateways finalized different blocks at {number}");
            }
            thread::sleep(Duration::from_millis(250));
        }
        seen
    })
}

/// Five validators (f = 1) on the BFT engine (Malachite), one killed and restarted, one
/// frozen.
#[test]
fn five_gateways_converge_on_one_chain() {
    let net = start_gateways(5, 100, &[]);
    converge_under_load(net.nodes);
}

/// An observer — a key outside the validator set — started with an empty disk after the
/// validators decided heights with transactions: it follows every decided height (the
/// engine's value sync, each height's certificate checked by the engine) to the same chain,
/// keeps following new ones, and refuses transactions sent to it.
#[test]
fn an_engine_observer_with_an_empty_disk_catches_up() {
    let net = start_gateways(4, 110, &["--segment-blocks", "4"]);
    let nodes = &net.nodes;
    let mut hashes = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        hashes.push(cast_send(node, KEYS[i], 0, &[ADDRS[9], "--value", "1ether"]));
    }
    let final_everywhere = |nodes: &[&Node], hashes: &[String]| {
        nodes.iter().all(|n| {
            hashes
                .iter()
                .all(|h| n.result("ir3_transactionStatus", json!([h]))["status"] == "final")
        })
    };
    let validators: Vec<&Node> = nodes.iter().collect();
    wait_for("the transfers to be final", Duration::from_secs(30), || {
        final_everywhere(&validators, &hashes)
    });
    // A few more heights, so that there are whole history segments of 4 heights to sync.
    thread::sleep(Duration::from_secs(3));

    // A key from another `network init` is not in this network's set.
    let key = outside_key(net.dir.path());
    let host = "127.0.0.114";
    // Started the way the design notes write it: a name, and DHT, chunk and p2p ports.
    let mut args: Vec<String> = vec![
        "--node-id".into(),
        "my_observer".into(),
        "--dht-port".into(),
        free_port(host).to_string(),
        "--bt-port".into(),
        free_port(host).to_string(),
        "--p2p-port".into(),
        free_port(host).to_string(),
        "--apps".into(),
        "money,reputation,territory,evm".into(),
        "--network".into(),
        net.network.display().to_string(),
        "--key".into(),
        key.display().to_string(),
        "--consensus-port".into(),
        free_port(host).to_string(),
        "--segment-blocks".into(),
        "4".into(),
    ];
    for (p2p, engine) in net.p2p.iter().zip(&net.engines) {
        args.extend(["--bootstrap".into(), p2p.clone(), "--consensus-peer".into(), engine.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let observer = Node::start_at(host, &args);
    wait_for("the observer to hold the transfers as final", Duration::from_secs(60), || {
        final_everywhere(&[&observer], &hashes)
    });
    let status = observer.result("ir3_networkStatus", json!([]));
    assert_eq!(status["voting"], false, "{status}");
    assert_eq!(status["members"].as_array().unwrap().len(), 4, "{status}");
    // Its history came from chunks, checked against a certified height, then the engine.
    assert!(
        status["heightsFromHistory"].as_u64().unwrap() >= 4,
        "no heights from chunks: {status}"
    );
    // A decided height shows who precommitted it: at least a quorum (3 of 4) of the set.
    let top = nodes[0].result("ir3_height", json!([]));
    let signers = top["signers"].as_array().unwrap();
    assert!(signers.len() >= 3, "a certificate short of a quorum: {top}");
    assert_eq!(
        observer.result("ir3_height", json!(["0x1"]))["valueId"],
        nodes[0].result("ir3_height", json!(["0x1"]))["valueId"]
    );
    assert_eq!(nodes[0].result("ir3_height", json!(["0xffffff"])), Value::Null);

    // New heights reach it too, and it refuses transactions.
    hashes.push(cast_send(&nodes[1], KEYS[1], 1, &[ADDRS[8], "--value", "1"]));
    let everyone: Vec<&Node> = nodes.iter().chain([&observer]).collect();
    wait_for("the new transfer to be final everywhere", Duration::from_secs(30), || {
        final_everywhere(&everyone, &hashes)
    });
    let finalized = |n: &Node| n.result("eth_getBlockByNumber", json!(["finalized", false]));
    wait_for("the same finalized block", Duration::from_secs(30), || {
        everyone.iter().all(|n| finalized(n)["hash"] == finalized(&nodes[0])["hash"])
    });
    let refused = observer.call(
        "eth_sendRawTransaction",
        json!([nodes[0].cast(&[
            "mktx",
            "--private-key",
            KEYS[2],
            "--nonce",
            "1",
            ADDRS[7],
            "--value",
            "1"
        ])]),
    );
    assert!(
        refused["error"]["message"].as_str().is_some_and(|m| m.contains("observer")),
        "{refused}"
    );
}

/// Load over every gateway (transfers, contract writes, viem round-robin, a same-nonce
/// conflict), a gateway killed and restarted, one frozen; then every gateway holds the same
/// chain and no finalized block was rewritten.
fn converge_under_load(mut nodes: Vec<Node>) {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_finality(&nodes, stop.clone());
    // A contract whose one slot every gateway writes.
    let bytecode = artifact_bytecode("Counter");
    let deploy = nodes[0].cast(&[
        "send",
        "--json",
        "--private-key",
        KEYS[5],
        "--nonce",
        "0",
        "--create",
        &bytecode,
    ]);
    let deploy: Value = serde_json::from_str(&deploy).unwrap();
    let counter = deploy["contractAddress"].as_str().unwrap().to_string();
    let mut hashes: Vec<String> = vec![deploy["transactionHash"].as_str().unwrap().to_string()];

    let mut nonces = [0u64; 10];
    nonces[5] = 1;
    let mut send = |nodes: &[Node], gateway: usize, sender: usize, args: &[&str]| {
        let hash = cast_send(&nodes[gateway], KEYS[sender], nonces[sender], args);
        nonces[sender] += 1;
        hashes.push(hash);
    };

    // Round 1: every sender through "its" gateway, transfers and increments.
    for i in 0..5 {
        send(&nodes, i, i, &[ADDRS[(i + 1) % 10], "--value", "1ether"]);
        send(&nodes, (i + 2) % 5, i, &[&counter, "increment()"]);
    }
    // One gateway dies (kill -9); the others go on.
    nodes[4].kill9();
    for i in 0..4 {
        send(&nodes, (i + 1) % 4, i, &[&counter, "setNumber(uint256)", &(100 + i).to_string()]);
        send(&nodes, (i + 3) % 4, i, &[ADDRS[(i + 5) % 10], "--value", "2ether"]);
    }
    nodes[4].restart();
    // Round 3 goes through every gateway again, the restarted one included.
    for i in 0..5 {
        send(&nodes, (i + 4) % 5, i, &[&counter, "increment()"]);
    }

    // viem, round-robin over all five gateways.
    let urls: Vec<String> = nodes.iter().map(Node::http).collect();
    let output = Command::new("node")
        .arg(repo().join("scripts/network-viem.mjs"))
        .env("IR3_URLS", urls.join(","))
        .env("IR3_KEY", KEYS[8])
        .env("IR3_COUNT", "10")
        .output()
        .expect("run node");
    assert!(output.status.success(), "viem: {}", String::from_utf8_lossy(&output.stderr));
    let viem: Value = serde_json::from_slice(&output.stdout).expect("viem output");
    hashes
        .extend(viem["hashes"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()));

    // The same sender and nonce sent to two gateways at once.
    let mktx = |to: &str| {
        nodes[0].cast(&[
            "mktx",
            "--private-key",
            KEYS[7],
            "--nonce",
            "0",
            to,
            "--value",
            "1",
            "--gas-limit",
            "21000",
            "--gas-price",
            "5gwei",
            "--legacy",
        ])
    };
    let (one, other) = (mktx(ADDRS[1]), mktx(ADDRS[2]));
    let publish = |node: &Node, raw: &str| {
        let (host, port) = (node.host.clone(), node.port);
        let raw = raw.to_string();
        thread::spawn(move || {
            let body =
                json!({"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":[raw]});
            let response: Value =
                serde_json::from_str(&post_to(&host, port, body.to_string().as_bytes(), &[]).1)
                    .unwrap();
            response["result"].as_str().expect("pending hash at once").to_string()
        })
    };
    let (a, b) = (publish(&nodes[1], &one), publish(&nodes[3], &other));
    let conflict = [a.join().unwrap(), b.join().unwrap()];

    // A frozen gateway is silent: the sender's gateway records it as such.
    let silent_peer = peer_id(&nodes[2]);
    signal(&nodes[2], "STOP");
    let hash = cast_send(&nodes[0], KEYS[9], 0, &[ADDRS[0], "--value", "1"]);
    hashes.push(hash.clone());
    wait_for("the reply window", Duration::from_secs(20), || {
        let insight = nodes[0].result("ir3_intentResponses", json!([hash]));
        insight["silence"].as_array().is_some_and(|s| !s.is_empty())
    });
    let insight = nodes[0].result("ir3_intentResponses", json!([hash]));
    assert_eq!(insight["silence"], json!([silent_peer]), "{insight}");
    assert_eq!(insight["availableFrom"], 3, "{insight}");
    signal(&nodes[2], "CONT");

    // Quiescence: everything final and the same head everywhere.
    let mut watched = hashes.clone();
    watched.extend(conflict.iter().cloned());
    wait_for("every gateway to finalize the same head", Duration::from_secs(90), || {
        let heads: Vec<Value> = nodes
            .iter()
            .map(|n| n.result("eth_getBlockByNumber", json!(["latest", false]))["hash"].clone())
            .collect();
        let finals: Vec<Value> = nodes
            .iter()
            .map(|n| n.result("eth_getBlockByNumber", json!(["finalized", false]))["hash"].clone())
            .collect();
        heads.iter().all(|h| *h == heads[0])
            && finals == heads
            && nodes.iter().all(|n| {
                watched.iter().all(|h| {
                    let status = n.result("ir3_transactionStatus", json!([h]));
                    status["status"] == "final" || status["status"] == "dropped"
                })
            })
    });

    let accounts: Vec<&str> = ADDRS.iter().copied().chain([counter.as_str()]).collect();
    let mut all = hashes.clone();
    all.extend(conflict.iter().cloned());
    let reference = fingerprint(&nodes[0], &all, &accounts, &counter);
    for node in &nodes[1..] {
        assert_eq!(
            fingerprint(node, &all, &accounts, &counter),
            reference,
            "gateway {} differs",
            node.host
        );
    }
    // Every transaction sent (but the conflict's loser) is in the chain, successful.
    for (i, receipt) in
        reference["receipts"].as_array().unwrap().iter().enumerate().take(hashes.len())
    {
        assert_eq!(receipt[0], "0x1", "transaction {} ({}) not included: {receipt}", i, all[i]);
    }
    // The conflict: one included, the other dropped, alike on every gateway.
    for node in &nodes {
        let statuses: Vec<Value> = conflict
            .iter()
            .map(|h| node.result("ir3_transactionStatus", json!([h]))["status"].clone())
            .collect();
        let mut sorted = statuses.clone();
        sorted.sort_by_key(|s| s.to_string());
        assert_eq!(sorted, vec![json!("dropped"), json!("final")], "{statuses:?}");
    }
    // The counter saw every write, in one order, everywhere.
    let storage = quantity(&reference["storage"]);
    assert!(storage >= 100, "counter slot {storage}");

    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().expect("finality watcher");
    assert!(!seen.is_empty());
    for (number, hash) in seen {
        let block =
            nodes[0].result("eth_getBlockByNumber", json!([format!("0x{number:x}"), false]));
        assert_eq!(block["hash"], json!(hash), "finalized block {number} was rewritten");
    }
}

/// A node given a peer-to-peer port without a network file is refused with what to do.
#[test]
fn a_network_node_without_a_network_file_is_refused_clearly() {
    let output = Command::new(env!("CARGO_BIN_EXE_ir3"))
        .args(["--ephemeral", "--port", "0", "--p2p-port", "0"])
        .output()
        .expect("run ir3");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--network") && stderr.contains("ir3 network init"),
        "unclear refusal: {stderr}"
    );
}

/// The peer id a gateway reports.
fn peer_id(node: &Node) -> String {
    node.result("ir3_networkStatus", json!([]))["peerId"].as_str().unwrap().to_string()
}

/// The design notes' command line as written — a name, DHT, chunk and p2p ports, one
/// bootstrap peer, some apps, no network file and no key: the node asks the bootstrap peer for
/// the network file, keeps it with a key of its own, follows the validators as an observer
/// (and says so), refuses transactions, and starts again from what it kept.
#[test]
fn the_design_notes_command_line_joins_as_an_observer() {
    let net = start_gateways(4, 170, &[]);
    let nodes = &net.nodes;
    let hash = cast_send(&nodes[1], KEYS[1], 0, &[ADDRS[9], "--value", "1ether"]);
    let host = "127.0.0.175";
    let dht = free_port(host).to_string();
    let bt = free_port(host).to_string();
    let p2p = free_port(host).to_string();
    let args = [
        "--node-id",
        "my_node",
        "--dht-port",
        &dht,
        "--bt-port",
        &bt,
        "--p2p-port",
        &p2p,
        "--bootstrap",
        &net.p2p[0],
        "--apps",
        "money,reputation,territory,evm",
    ];
    let mut observer = Node::start_at(host, &args);
    let status = observer.result("ir3_networkStatus", json!([]));
    assert_eq!(status["voting"], false, "{status}");
    assert!(observer.data_dir.join("network.json").exists(), "the network file is not kept");
    let final_on = |node: &Node, hash: &str| {
        node.result("ir3_transactionStatus", json!([hash]))["status"] == "final"
    };
    wait_for("the observer to follow the chain", Duration::from_secs(60), || {
        final_on(&observer, &hash)
    });
    let raw = crate::sync::transfer(KEYS[3], 0, ADDRS[8], 1);
    let refused = observer.call("eth_sendRawTransaction", json!([raw]));
    assert!(
        refused["error"]["message"].as_str().is_some_and(|m| m.contains("observer")),
        "{refused}"
    );
    // A restart uses what it kept (the bootstrap is not asked again) and follows new heights.
    observer.restart();
    let next = cast_send(&nodes[2], KEYS[2], 0, &[ADDRS[9], "--value", "1ether"]);
    wait_for("the restarted observer to follow", Duration::from_secs(60), || {
        final_on(&observer, &next)
    });
    let finalized =
        |n: &Node| n.result("eth_getBlockByNumber", json!(["finalized", false]))["hash"].clone();
    wait_for("the same finalized block", Duration::from_secs(30), || {
        finalized(&observer) == finalized(&nodes[0])
    });
}
