//! In-process swarms on loopback TCP: the YES/NO/SILENCE protocol and hostile peers.

use std::sync::Arc;

use super::*;
use crate::{intent::Intent, order::HlcStamp, series::MemorySeries};

struct TestNode {
    handle: P2pHandle,
    series: Arc<MemorySeries>,
}

async fn start(bootstrap: Vec<Multiaddr>, decider: impl Decider) -> TestNode {
    start_in(None, bootstrap, decider).await
}

async fn start_in(
    network: Option<&str>,
    bootstrap: Vec<Multiaddr>,
    decider: impl Decider,
) -> TestNode {
    let series = Arc::new(MemorySeries::new());
    let config = P2pConfig {
        keypair: Keypair::generate_ed25519(),
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        also_listen: Vec::new(),
        bootstrap,
        reply_window: Duration::from_millis(1500),
        network: network.map(str::to_string),
    };
    let handle = spawn(config, series.clone(), decider).unwrap();
    TestNode { handle, series }
}

async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn records(series: &MemorySeries) -> Vec<P2pRecord> {
    p2p_records(series).unwrap()
}

/// YES, NO with a retry-after, and SILENCE are all recorded by the declaring node, and the
/// answering nodes record what they decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yes_no_and_silence_are_recorded_as_data() {
    let origin = start(Vec::new(), |_: &PeerId, _: &IntentMessage| None).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let addrs = loop {
        let addrs = origin.handle.listen_addrs().await;
        if !addrs.is_empty() {
            break addrs;
        }
        assert!(Instant::now() < deadline, "no listen address");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let yes = start(addrs.clone(), |_: &PeerId, _: &IntentMessage| {
        Some(Answer::Yes { detail: b"ok".to_vec() })
    })
    .await;
    let mut limiter = RateLimiter::new(0.5, 1.0);
    // The limiter's only token is spent before the intent arrives: NO with a retry-after.
    let spent = limiter.check(&origin.handle.peer_id(), Instant::now());
    assert!(matches!(spent, Answer::Yes { .. }));
    let no = start(addrs.clone(), move |from: &PeerId, _: &IntentMessage| {
        Some(limiter.check(from, Instant::now()))
    })
    .await;
    let silent = start(addrs.clone(), |_: &PeerId, _: &IntentMessage| None).await;
    until("three subscribed peers", || {
        let handle = origin.handle.clone();
        async move { handle.subscribed_peers().await.len() == 3 }
    })
    .await;

    let intent = Intent::new("test", "do_it", vec![1, 2, 3]);
    let id = origin.handle.push_intent(intent, HlcStamp::default()).unwrap();
    until("the reply window to close", || {
        let series = origin.series.clone();
        async move { records(&series).iter().any(|r| matches!(r, P2pRecord::Silence { .. })) }
    })
    .await;

    let got = records(&origin.series);
    let (yes_id, no_id, silent_id) = (
        yes.handle.peer_id().to_string(),
        no.handle.peer_id().to_string(),
        silent.handle.peer_id().to_string(),
    );
    assert!(got.iter().any(|r| matches!(r, P2pRecord::IntentSent { id: i, expected, .. } if *i == id && expected.len() == 3)));
    assert!(got.contains(&P2pRecord::ReplyReceived {
        id,
        from: yes_id,
        answer: Answer::Yes { detail: b"ok".to_vec() }
    }));
    assert!(got.iter().any(|r| matches!(r, P2pRecord::ReplyReceived { id: i, from, answer: Answer::No { retry_after_ms, .. } } if *i == id && *from == no_id && *retry_after_ms > 0)));
    let silences: Vec<&P2pRecord> =
        got.iter().filter(|r| matches!(r, P2pRecord::Silence { .. })).collect();
    assert_eq!(silences, vec![&P2pRecord::Silence { id, peer: silent_id }]);
    // The answering side keeps its own facts.
    let origin_id = origin.handle.peer_id().to_string();
    assert!(
        records(&silent.series).contains(&P2pRecord::StayedSilent { id, to: origin_id.clone() })
    );
    assert!(
        records(&yes.series)
            .iter()
            .any(|r| matches!(r, P2pRecord::Answered { to, .. } if *to == origin_id))
    );
}

/// Malformed declarations and answers to intents never declared are refused and counted
/// against the peer; the node goes on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_refused_and_recorded() {
    let honest =
        start(Vec::new(), |_: &PeerId, _: &IntentMessage| Some(Answer::Yes { detail: Vec::new() }))
            .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let addrs = loop {
        let addrs = honest.handle.listen_addrs().await;
        if !addrs.is_empty() {
            break addrs;
        }
        assert!(Instant::now() < deadline, "no listen address");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let hostile = start(addrs, |_: &PeerId, _: &IntentMessage| None).await;
    until("the hostile peer to subscribe", || {
        let handle = honest.handle.clone();
        async move { handle.subscribed_peers().await.len() == 1 }
    })
    .await;
    until("the honest peer to subscribe", || {
        let handle = hostile.handle.clone();
        async move { handle.subscribed_peers().await.len() == 1 }
    })
    .await;
    let send = |command| hostile.handle.commands.try_send(command).unwrap();
    send(Command::Hostile(Hostile::Gossip(vec![0xff; 64])));
    let forged = Direct::Reply {
        intent: IntentId::repeat_byte(7),
        answer: Answer::Yes { detail: Vec::new() },
    };
    send(Command::Hostile(Hostile::Direct(honest.handle.peer_id(), forged)));
    until("both refusals", || {
        let series = honest.series.clone();
        async move {
            records(&series).iter().filter(|r| matches!(r, P2pRecord::PeerRefused { .. })).count()
                >= 2
        }
    })
    .await;
    let hostile_id = hostile.handle.peer_id().to_string();
    let refused = records(&honest.series);
    assert!(refused.iter().any(|r| matches!(r, P2pRecord::PeerRefused { peer, reason } if *peer == hostile_id && reason.starts_with("malformed intent"))));
    assert!(refused.iter().any(|r| matches!(r, P2pRecord::PeerRefused { peer, reason } if *peer == hostile_id && reason.contains("never declared"))));
    // Still working: a real declaration from the hostile node is answered.
    let id = hostile
        .handle
        .push_intent(Intent::new("test", "ok", vec![9]), HlcStamp::default())
        .unwrap();
    until("the answer", || {
        let series = hostile.series.clone();
        async move {
            records(&series)
                .iter()
                .any(|r| matches!(r, P2pRecord::ReplyReceived { id: i, .. } if *i == id))
        }
    })
    .await;
    // Misbehaviour seen on another network under the same peer id (the consensus engine's
    // equivocation evidence) is held against the peer the same way.
    let before = honest.handle.peers().iter().find(|p| p.peer == hostile_id).unwrap().refused;
    honest.handle.report_refusal(hostile.handle.peer_id(), "consensus: equivocation".into());
    until("the reported refusal", || {
        let series = honest.series.clone();
        let hostile_id = hostile_id.clone();
        async move {
            records(&series).iter().any(|r| matches!(r, P2pRecord::PeerRefused { peer, reason } if *peer == hostile_id && reason.contains("equivocation")))
        }
    })
    .await;
    let after = honest.handle.peers().iter().find(|p| p.peer == hostile_id).unwrap().refused;
    assert_eq!(after, before + 1);
}

/// A peer of another network (another network file's tag in identify) is refused and
/// disconnected as soon as it identifies, and recorded as refused; peers of the same network
/// stay connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_of_another_network_is_refused_at_connect_time() {
    let quiet = |_: &PeerId, _: &IntentMessage| None;
    let home = start_in(Some("aaaa"), Vec::new(), quiet).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let addrs = loop {
        let addrs = home.handle.listen_addrs().await;
        if !addrs.is_empty() {
            break addrs;
        }
        assert!(Instant::now() < deadline, "no listen address");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stranger = start_in(Some("bbbb"), addrs.clone(), quiet).await;
    let (stranger_id, home_id) =
        (stranger.handle.peer_id().to_string(), home.handle.peer_id().to_string());
    // Whichever side reads the other's identify first refuses it (the other may not get to).
    until("the stranger refused", || async {
        records(&home.series).iter().any(|r| {
            matches!(r, P2pRecord::PeerRefused { peer, reason }
                if *peer == stranger_id && reason.contains("bbbb"))
        }) || records(&stranger.series).iter().any(|r| {
            matches!(r, P2pRecord::PeerRefused { peer, reason }
                if *peer == home_id && reason.contains("aaaa"))
        })
    })
    .await;
    let friend = start_in(Some("aaaa"), addrs, quiet).await;
    until("the friend connected", || async {
        home.handle.connected_peers().await == vec![friend.handle.peer_id()]
    })
    .await;
    // The stranger stays out (it keeps its bootstrap dial going).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(home.handle.connected_peers().await, vec![friend.handle.peer_id()]);
}
