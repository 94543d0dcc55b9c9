//! The chunk service against real swarms on loopback.

use std::time::Duration;

use super::*;
use crate::{
    MemorySeries,
    chunks::chunk_id,
    net::{self, Answer, Decider, IntentMessage, Keypair, Multiaddr, P2pConfig, P2pRecord},
};

/// Answers YES to every want and serves garbage.
struct Liar;

impl Decider for Liar {
    fn decide(&mut self, _: &PeerId, message: &IntentMessage) -> Option<Answer> {
        (message.intent.app == BT_APP).then(|| Answer::Yes { detail: Vec::new() })
    }

    fn serve_chunk(&mut self, _: &PeerId, _: &ChunkId) -> Option<Vec<u8>> {
        Some(b"not the chunk you want".to_vec())
    }
}

async fn addrs(handle: &P2pHandle) -> Vec<Multiaddr> {
    loop {
        let addrs = handle.listen_addrs().await;
        if !addrs.is_empty() {
            return addrs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(bootstrap: Vec<Multiaddr>) -> P2pConfig {
    P2pConfig {
        keypair: Keypair::generate_ed25519(),
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        also_listen: Vec::new(),
        bootstrap,
        reply_window: Duration::from_millis(500),
        network: None,
    }
}

/// A provider that serves bytes not matching the chunk is refused and counted; the chunk
/// is then fetched from an honest provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_provider_is_caught_and_the_chunk_comes_from_another() {
    let liar = net::spawn(config(Vec::new()), Arc::new(MemorySeries::new()), Liar).unwrap();
    let series = Arc::new(MemorySeries::new());
    let requester = ChunkService::new(Arc::new(ChunkStore::in_memory(1 << 20)));
    let handle =
        net::spawn(config(addrs(&liar).await), series.clone(), requester.decider()).unwrap();
    requester.attach(handle.clone());

    let data = b"the real bytes".to_vec();
    let id = chunk_id(&data);
    let refused = |series: &MemorySeries| {
        net::p2p_records(series)
            .unwrap()
            .iter()
            .filter(|r| matches!(r, P2pRecord::PeerRefused { reason, .. } if reason.contains("do not match")))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while refused(&series) == 0 {
        assert!(std::time::Instant::now() < deadline, "the lie was not caught");
        let _ = requester.push_want_chunk(id);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!requester.store().has(&id));

    // An honest provider joins; the want is declared again until the bytes are here.
    let honest = ChunkService::new(Arc::new(ChunkStore::in_memory(1 << 20)));
    assert_eq!(honest.store_chunk(&id, &data).unwrap(), Ok(Stored::Kept));
    let honest_handle =
        net::spawn(config(Vec::new()), Arc::new(MemorySeries::new()), honest.decider()).unwrap();
    honest.attach(honest_handle.clone());
    for addr in addrs(&honest_handle).await {
        handle.dial(addr).await;
    }
    while !requester.store().has(&id) {
        assert!(std::time::Instant::now() < deadline + Duration::from_secs(20), "not fetched");
        let _ = requester.push_want_chunk(id);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(requester.store().get(&id), Some(data));
    let liar_id = liar.peer_id().to_string();
    let insight = handle.peers().into_iter().find(|p| p.peer == liar_id).unwrap();
    assert!(insight.refused >= 1);
}
