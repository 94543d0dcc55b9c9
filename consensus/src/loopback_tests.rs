//! Four validators on loopback (127.0.0.1, distinct ports) agree on consecutive heights; with
//! one of them stopped the other three keep deciding.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use crate::{ConsensusNode, Decided, KeyFile, NetworkFile, NodeOptions, ValueSource};
use async_trait::async_trait;
use bytes::Bytes;

/// Proposes a payload naming the proposer, the height and the round; keeps what it is asked
/// to commit (the node's "series") and checks that heights are committed in order, each once.
struct Labelled {
    name: String,
    committed: std::sync::Mutex<Vec<Decided>>,
}

fn labelled(name: impl Into<String>) -> Arc<Labelled> {
    labelled_with(name, Vec::new())
}

fn labelled_with(name: impl Into<String>, history: Vec<Decided>) -> Arc<Labelled> {
    Arc::new(Labelled { name: name.into(), committed: std::sync::Mutex::new(history) })
}

#[async_trait]
impl ValueSource for Labelled {
    async fn propose(&self, height: u64, round: u32) -> Bytes {
        Bytes::from(format!("{} h{height} r{round}", self.name))
    }

    fn check(&self, _height: u64, payload: &[u8]) -> bool {
        payload.starts_with(b"gateway-")
    }

    async fn commit(&self, decided: &Decided) -> Result<(), String> {
        let mut committed = self.committed.lock().unwrap();
        let last = committed.last().map_or(0, |d| d.height);
        if decided.height != last + 1 {
            return Err(format!("height {} committed after {last}", decided.height));
        }
        committed.push(decided.clone());
        Ok(())
    }
}

/// Logs of the engine and the adapter, shown by the test runner when a test fails.
fn init_logs() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "ir3_consensus=info,warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

fn free_ports(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> =
        (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind loopback")).collect();
    listeners.iter().map(|l| l.local_addr().expect("local addr")).collect()
}

struct Net {
    file: NetworkFile,
    keys: Vec<KeyFile>,
    addrs: Vec<SocketAddr>,
    dir: tempfile::TempDir,
}

impl Net {
    fn new(n: usize) -> Self {
        let (file, keys) = NetworkFile::generate(n, 1337, serde_json::Value::Null).unwrap();
        Self { file, keys, addrs: free_ports(n), dir: tempfile::tempdir().unwrap() }
    }

    async fn start(&self, i: usize) -> ConsensusNode {
        self.start_with(i, labelled(&self.keys[i].name)).await
    }

    /// Starts validator `i` with what `source` holds as committed (its history).
    async fn start_with(&self, i: usize, source: Arc<Labelled>) -> ConsensusNode {
        let history = source.committed.lock().unwrap().clone();
        let options = NodeOptions {
            network: self.file.clone(),
            key: self.keys[i].key().unwrap(),
            listen: self.addrs[i],
            peers: self
                .addrs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, a)| *a)
                .collect(),
            home: self.dir.path().join(&self.keys[i].name),
            history,
            peer_key: None,
        };
        ConsensusNode::start(options, source).await.unwrap()
    }
}

/// Takes decided heights from `node` until `count` are collected (a minute at most).
async fn collect(node: &mut ConsensusNode, count: usize) -> Vec<Decided> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while out.len() < count {
        match tokio::time::timeout_at(deadline, node.next_decided()).await {
            Ok(Some(d)) => out.push(d),
            Ok(None) => panic!("node stopped after {} heights", out.len()),
            Err(_) => panic!("only {} of {count} heights decided within a minute", out.len()),
        }
    }
    out
}

/// The heights `node` decides until it has been quiet for `quiet_ms`.
async fn settle(node: &mut ConsensusNode, quiet_ms: u64) -> Vec<Decided> {
    let mut got = Vec::new();
    while let Ok(Some(d)) =
        tokio::time::timeout(Duration::from_millis(quiet_ms), node.next_decided()).await
    {
        got.push(d);
    }
    got
}

/// Heights are consecutive, each value builds on the previous one, each certificate is valid.
async fn check_chain(node: &ConsensusNode, decided: &[Decided], first: u64) {
    let verifier = node.verifier();
    for (i, d) in decided.iter().enumerate() {
        assert_eq!(d.height, first + i as u64);
        assert_eq!(d.certificate.height.0, d.height);
        assert_eq!(d.certificate.value_id, d.value.id(), "certificate names the value");
        verifier.verify_certificate(&d.certificate, node.validators()).await.unwrap();
        if d.height == 1 {
            assert_eq!(d.value.parent, node.identity());
        }
        if i > 0 {
            assert_eq!(d.value.parent, decided[i - 1].value.id().0, "parent link");
        }
    }
    // A certificate does not verify for another height's value or for another network.
    let mut forged = decided[0].certificate.clone();
    forged.value_id = decided[1].value.id();
    assert!(verifier.verify_certificate(&forged, node.validators()).await.is_err());
    let other = crate::Ir3Verifier::new(alloy_primitives::B256::repeat_byte(7));
    assert!(other.verify_certificate(&decided[0].certificate, node.validators()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_decide_identical_certified_heights() {
    init_logs();
    let net = Net::new(4);
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(net.start(i).await);
    }
    let mut chains = Vec::new();
    for node in &mut nodes {
        chains.push(collect(node, 12).await);
    }
    for (node, chain) in nodes.iter().zip(&chains) {
        check_chain(node, chain, 1).await;
    }
    for chain in &chains[1..] {
        let ids: Vec<_> = chain.iter().map(|d| (d.height, d.value.clone())).collect();
        let first: Vec<_> = chains[0].iter().map(|d| (d.height, d.value.clone())).collect();
        assert_eq!(ids, first, "validators decided different values");
    }
    // Every validator proposed in turn (round-robin), so every one of them had values decided.
    for key in &net.keys {
        assert!(
            chains[0].iter().any(|d| d.value.payload.starts_with(key.name.as_bytes())),
            "{} never had a proposal decided",
            key.name
        );
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_of_four_keep_deciding_with_one_stopped() {
    init_logs();
    let net = Net::new(4);
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(net.start(i).await);
    }
    let mut before = Vec::new();
    for node in &mut nodes {
        before.push(collect(node, 3).await);
    }
    let stopped = nodes.pop().unwrap();
    stopped.stop().await;

    // The three others go on, including through the rounds the stopped one should lead.
    let mut after = Vec::new();
    for node in &mut nodes {
        let mut chain = before.remove(0);
        chain.extend(collect(node, 10).await);
        after.push(chain);
    }
    let shortest = after.iter().map(Vec::len).min().unwrap();
    for (node, chain) in nodes.iter().zip(&after) {
        check_chain(node, chain, 1).await;
        let values: Vec<_> = chain[..shortest].iter().map(|d| d.value.clone()).collect();
        let first: Vec<_> = after[0][..shortest].iter().map(|d| d.value.clone()).collect();
        assert_eq!(values, first, "validators decided different values");
    }
    // Certificates after the stop carry at most three signatures, still a quorum of four.
    let last = &after[0][shortest - 1];
    assert!(last.certificate.commit_signatures.len() <= 3);
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_validator_catches_up_by_value_sync() {
    init_logs();
    let net = Net::new(4);
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(net.start(i).await);
    }
    let mut chains = Vec::new();
    for node in &mut nodes {
        chains.push(collect(node, 3).await);
    }
    // Gateway 3 goes down after height 3 (its write-ahead log stays on disk).
    let mut own = chains.pop().unwrap();
    nodes.pop().unwrap().stop().await;
    for (node, chain) in nodes.iter_mut().zip(&mut chains) {
        chain.extend(collect(node, 6).await);
    }
    // It comes back with the heights it holds and catches up on what it missed.
    let options = NodeOptions {
        network: net.file.clone(),
        key: net.keys[3].key().unwrap(),
        listen: net.addrs[3],
        peers: net.addrs[..3].to_vec(),
        home: net.dir.path().join(&net.keys[3].name),
        history: own.clone(),
        peer_key: None,
    };
    let source = labelled_with(&net.keys[3].name, own.clone());
    let mut restarted = ConsensusNode::start(options, source).await.unwrap();
    own.extend(collect(&mut restarted, 9).await);
    check_chain(&restarted, &own, 1).await;
    let values: Vec<_> = own[..9].iter().map(|d| d.value.clone()).collect();
    let first: Vec<_> = chains[0][..9].iter().map(|d| d.value.clone()).collect();
    assert_eq!(values, first, "the restarted validator holds another chain");
    restarted.stop().await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_of_another_network_file_is_refused() {
    init_logs();
    let net = Net::new(4);
    // Gateway 3 is given a network file that differs only in an engine parameter: same keys,
    // another identity. It cannot talk to the others; they go on with three of four.
    let mut other = net.file.clone();
    other.engine.propose_ms += 1;
    assert_ne!(other.identity(), net.file.identity());
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(net.start(i).await);
    }
    let options = NodeOptions {
        network: other,
        key: net.keys[3].key().unwrap(),
        listen: net.addrs[3],
        peers: net.addrs[..3].to_vec(),
        home: net.dir.path().join("stranger"),
        history: Vec::new(),
        peer_key: None,
    };
    let mut stranger = ConsensusNode::start(options, labelled("gateway-x")).await.unwrap();
    let mut chains = Vec::new();
    for node in &mut nodes {
        chains.push(collect(node, 5).await);
    }
    for (node, chain) in nodes.iter().zip(&chains) {
        check_chain(node, chain, 1).await;
        assert!(chain.iter().all(|d| d.certificate.commit_signatures.len() == 3));
    }
    let nothing = tokio::time::timeout(Duration::from_millis(500), stranger.next_decided()).await;
    assert!(nothing.is_err(), "a node of another network decided something");

    stranger.stop().await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_outside_the_set_follows_as_an_observer() {
    init_logs();
    let net = Net::new(4);
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(net.start(i).await);
    }
    let options = NodeOptions {
        network: net.file.clone(),
        key: KeyFile::generate("outsider").key().unwrap(),
        listen: free_ports(1)[0],
        peers: net.addrs.clone(),
        home: net.dir.path().join("observer"),
        history: Vec::new(),
        peer_key: None,
    };
    let mut observer = ConsensusNode::start(options, labelled("outsider")).await.unwrap();
    assert!(!observer.is_validator() && nodes[0].is_validator());
    let followed = collect(&mut observer, 8).await;
    check_chain(&observer, &followed, 1).await;
    let decided = collect(&mut nodes[0], 8).await;
    assert_eq!(
        followed.iter().map(|d| d.value.clone()).collect::<Vec<_>>(),
        decided.iter().map(|d| d.value.clone()).collect::<Vec<_>>(),
    );
    // Nothing it proposes is ever decided: it signs nothing.
    assert!(followed.iter().all(|d| !d.value.payload.starts_with(b"outsider")));
    observer.stop().await;
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_of_four_decide_nothing_and_the_network_heals() {
    init_logs();
    let net = Net::new(4);
    let sources: Vec<Arc<Labelled>> = net.keys.iter().map(|k| labelled(&k.name)).collect();
    let mut nodes = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        nodes.push(net.start_with(i, source.clone()).await);
    }
    let mut chains = Vec::new();
    for node in &mut nodes {
        chains.push(collect(node, 3).await);
    }
    // Two gateways go down: two of four are not a quorum, nothing more is decided.
    for _ in 0..2 {
        nodes.pop().unwrap().stop().await;
    }
    for (node, chain) in nodes.iter_mut().zip(&mut chains) {
        chain.extend(settle(node, 1000).await); // heights decided just before the stop
    }
    let stalled: Vec<u64> = chains[..2].iter().map(|c| c.last().unwrap().height).collect();
    for node in &mut nodes {
        assert!(settle(node, 3000).await.is_empty(), "decided without a quorum");
    }
    // They come back with what they had committed; all four decide again, on one chain.
    for (i, old) in sources.iter().enumerate().skip(2) {
        let history = old.committed.lock().unwrap().clone();
        nodes.push(net.start_with(i, labelled_with(&net.keys[i].name, history)).await);
    }
    let top = stalled.iter().max().unwrap() + 5;
    for (i, node) in nodes.iter_mut().enumerate() {
        let mut chain =
            if i < 2 { chains[i].clone() } else { sources[i].committed.lock().unwrap().clone() };
        while chain.last().unwrap().height < top {
            chain.extend(collect(node, 1).await);
        }
        check_chain(node, &chain, 1).await;
        let values: Vec<_> = chain[..top as usize].iter().map(|d| d.value.clone()).collect();
        if i == 0 {
            chains[0] = chain;
        } else {
            let first: Vec<_> = chains[0][..top as usize].iter().map(|d| d.value.clone()).collect();
            assert_eq!(values, first, "gateway {i} holds another chain after healing");
        }
    }
    for node in nodes {
        node.stop().await;
    }
}

/// An equivocating validator: validator 0's key runs twice (a copy started by mistake, or a
/// double-signer), and the twin proposes other values under the same key. The honest nodes
/// report evidence against validator 0's address, and still decide one chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_equivocating_validator_is_reported_and_the_others_agree() {
    init_logs();
    let net = Net::new(4);
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(net.start(i).await);
    }
    // The twin: the same key on another port, its own write-ahead log, other payloads.
    let twin_addr = free_ports(1)[0];
    let options = NodeOptions {
        network: net.file.clone(),
        key: net.keys[0].key().unwrap(),
        listen: twin_addr,
        peers: net.addrs[1..].to_vec(),
        home: net.dir.path().join("twin"),
        history: Vec::new(),
        peer_key: Some(KeyFile::generate("twin").key().unwrap()),
    };
    let started = std::time::Instant::now();
    let twin = ConsensusNode::start(options, labelled("gateway-0-twin")).await.unwrap();
    let equivocator = crate::Address::from_public_key(&net.keys[0].key().unwrap().public_key());
    let mut reports = nodes[1].take_misbehaviour().expect("misbehaviour reports");
    let report = tokio::time::timeout(Duration::from_secs(180), async {
        loop {
            let report = reports.recv().await.expect("reports channel open");
            if report.validator == Some(equivocator) {
                break report;
            }
        }
    })
    .await
    .expect("no evidence against the equivocating validator within 180 s");
    assert!(report.reason.contains("equivocation"), "{report:?}");
    eprintln!("equivocation test: evidence after {:?}", started.elapsed());
    twin.stop().await;
    // The honest validators hold one chain: at every height two of them decided, one value.
    let mut by_height: std::collections::BTreeMap<u64, crate::ValueId> = Default::default();
    for node in nodes.iter_mut().skip(1) {
        for d in collect(node, 5).await {
            let id = *by_height.entry(d.height).or_insert(d.value.id());
            assert_eq!(
                id,
                d.value.id(),
                "two honest validators decided differently at {}",
                d.height
            );
        }
    }
    for node in nodes {
        node.stop().await;
    }
}
