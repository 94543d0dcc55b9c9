//! The storage app with real processes: a file larger than one chunk stored through one
//! gateway with `ir3 store put` is fetched through another with `ir3 store get` (from its peers,
//! chunk by chunk, each checked), objects put and got over JSON-RPC, and each want's
//! YES/SILENCE accounting matches what each peer actually held.

use std::{process::Command, time::Duration};

use alloy_primitives::keccak256;
use ir3_foundation::chunks::{DEFAULT_CHUNK_SIZE, split};
use serde_json::json;

use crate::{
    network::{start_gateways, wait_for},
    utils::Node,
};

fn ir3(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ir3")).args(args).output().expect("run ir3")
}

/// Deterministic pseudo-random bytes.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `ir3 store put FILE` through `node`; returns the id it printed.
fn store_put(node: &Node, file: &std::path::Path) -> String {
    let put = ir3(&["store", "--rpc-url", &node.http(), "put", file.to_str().unwrap()]);
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    String::from_utf8(put.stdout).unwrap().trim().to_string()
}

/// `ir3 store get ID --out OUT` through `node`.
fn store_get(node: &Node, id: &str, out: &std::path::Path, timeout: &str) {
    let url = node.http();
    let args = [
        "store",
        "--rpc-url",
        &url,
        "get",
        id,
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        timeout,
    ];
    let get = ir3(&args);
    assert!(get.status.success(), "{}", String::from_utf8_lossy(&get.stderr));
}

fn peer_id(node: &Node) -> String {
    node.result("ir3_networkStatus", json!([]))["peerId"].as_str().unwrap().to_string()
}

#[test]
fn a_file_stored_through_one_gateway_is_fetched_through_another() {
    // One copy only: who holds what stays as put, so the accounting below is exact.
    let net = start_gateways(3, 30, &["--replication", "1"]);
    let nodes = &net.nodes;
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("in.bin");
    let data = bytes(3 * DEFAULT_CHUNK_SIZE + 12_345, 7);
    std::fs::write(&file, &data).unwrap();

    let id = store_put(&nodes[0], &file);
    let (manifest, expected_id, _) = split(&data, DEFAULT_CHUNK_SIZE);
    assert_eq!(id, expected_id.to_string());

    let out = temp.path().join("out.bin");
    store_get(&nodes[2], &id, &out, "60");
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // Each want of gateway 2 is declared to the chunk's known providers, or to every peer by
    // gossip when it knows none (which of the two depends on how fast the provider records
    // spread). Either way the accounting is exact once the reply window closed: YES from
    // gateway 0 (it held every chunk), never YES from gateway 1 (it held none), and every
    // expected peer that did not answer (YES or NO) recorded as silent.
    let (holder, empty) = (json!(peer_id(&nodes[0])), json!(peer_id(&nodes[1])));
    let mut holder_said_yes = false;
    for chunk in &manifest.chunks {
        let mut intent = b"bt\0want_chunk\0".to_vec();
        intent.extend_from_slice(chunk.as_slice());
        let intent = keccak256(intent);
        let mut insight = json!(null);
        wait_for("the want's reply window", Duration::from_secs(30), || {
            insight = nodes[2].result("ir3_intentResponses", json!([intent]));
            let listed = |key: &str| insight[key].as_array().cloned().unwrap_or_default();
            let no = listed("no").into_iter().map(|answer| answer["peer"].clone());
            let answered: Vec<_> =
                listed("yes").into_iter().chain(listed("silence")).chain(no).collect();
            let expected = listed("expected");
            !expected.is_empty() && expected.iter().all(|peer| answered.contains(peer))
        });
        let yes = insight["yes"].as_array().unwrap();
        assert!(!yes.contains(&empty), "{insight}");
        holder_said_yes |= yes.contains(&holder);
        if insight["expected"].as_array().unwrap().contains(&empty) {
            assert!(insight["silence"].as_array().unwrap().contains(&empty), "{insight}");
        }
    }
    assert!(holder_said_yes, "gateway 0 answered none of the wants");

    // Over JSON-RPC: put on gateway 1, get through gateway 0 (fetching, then complete).
    let small = bytes(1000, 9);
    let hex = format!("0x{}", alloy_primitives::hex::encode(&small));
    let object = nodes[1].result("ir3_storePut", json!([hex]));
    wait_for("the object on gateway 0", Duration::from_secs(30), || {
        let status = nodes[0].result("ir3_storeGet", json!([object]));
        status["status"] == "complete" && status["data"] == json!(hex)
    });
    // Bad input: an id that is not a manifest, an oversized chunk.
    let chunk_id = nodes[1].result("ir3_chunkPut", json!(["0x01"]));
    let not_manifest = nodes[1].call("ir3_storeGet", json!([chunk_id]));
    assert!(not_manifest["error"]["message"].as_str().unwrap().contains("not a manifest"));
    let too_big = format!("0x{}", "00".repeat(1024 * 1024 + 1));
    let refused = nodes[1].call("ir3_chunkPut", json!([too_big]));
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
}

/// The chunk files a node holds.
fn held(node: &Node) -> usize {
    std::fs::read_dir(node.data_dir.join("chunks")).map_or(0, |d| d.count())
}

#[test]
fn stored_files_are_replicated_and_outlive_the_node_they_were_put_on() {
    let mut net = start_gateways(3, 35, &["--replication", "3"]);
    let nodes = &mut net.nodes;
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("in.bin");
    let data = bytes(2 * DEFAULT_CHUNK_SIZE + 99, 11);
    std::fs::write(&file, &data).unwrap();
    let id = store_put(&nodes[0], &file);
    let (manifest, _, _) = split(&data, DEFAULT_CHUNK_SIZE);
    let pieces = manifest.chunks.len() + 1;
    // The two other gateways take a copy of every chunk (offers answered YES, then fetched).
    wait_for("three copies", Duration::from_secs(60), || {
        nodes[1..].iter().all(|n| held(n) >= pieces)
    });
    // The node it was put on dies; the file is still there, through either of the others.
    nodes[0].kill9();
    let out = temp.path().join("out.bin");
    store_get(&nodes[2], &id, &out, "30");
    assert_eq!(std::fs::read(&out).unwrap(), data);
}

/// Which of `nodes` (by index, skipping `dead`) hold the chunk `id` on disk.
fn holders_of(nodes: &[Node], dead: &[usize], id: &alloy_primitives::B256) -> Vec<usize> {
    let name = alloy_primitives::hex::encode(id);
    (0..nodes.len())
        .filter(|i| !dead.contains(i) && nodes[*i].data_dir.join("chunks").join(&name).exists())
        .collect()
}

/// With `--replication 2` each chunk is held by exactly two nodes (offers go to chosen peers,
/// not to all); when a holder dies its copy is made again on another peer, and when the node
/// the file was stored on dies too, the remaining holders keep the copies up.
#[test]
fn a_lost_copy_is_made_again_on_another_peer() {
    let mut net = start_gateways(4, 50, &["--replication", "2"]);
    let nodes = &mut net.nodes;
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("in.bin");
    let data = bytes(5 * DEFAULT_CHUNK_SIZE + 7, 23);
    std::fs::write(&file, &data).unwrap();
    let id = store_put(&nodes[0], &file);
    let (manifest, manifest_id, _) = split(&data, DEFAULT_CHUNK_SIZE);
    assert_eq!(format!("{manifest_id}"), id);
    let mut pieces = manifest.chunks;
    pieces.push(manifest_id);

    let copies_are = |nodes: &[Node], dead: &[usize], want: usize| {
        pieces.iter().all(|p| holders_of(nodes, dead, p).len() == want)
    };
    wait_for("two copies of every chunk", Duration::from_secs(60), || copies_are(nodes, &[], 2));
    // And no more than two, a few replication rounds later.
    std::thread::sleep(Duration::from_secs(5));
    for piece in &pieces {
        let holders = holders_of(nodes, &[], piece);
        assert_eq!(holders.len(), 2, "chunk {piece} held by nodes {holders:?}");
        assert!(holders.contains(&0));
        let status = nodes[0].result("ir3_chunkStatus", json!([piece]));
        assert_eq!(status["held"], true, "{status}");
        assert_eq!(status["replicated"], true, "{status}");
        assert_eq!(status["holders"].as_array().unwrap().len(), 1, "{status}");
    }

    // A holder dies: its copies are made again on the peers left.
    let victim = *holders_of(nodes, &[], &pieces[0]).iter().find(|i| **i != 0).unwrap();
    nodes[victim].kill9();
    wait_for("two live copies again", Duration::from_secs(60), || copies_are(nodes, &[victim], 2));

    // The node the file was stored on dies too: the two nodes left both hold every chunk.
    nodes[0].kill9();
    let dead = [victim, 0];
    wait_for("the holders keep the copies up", Duration::from_secs(60), || {
        copies_are(nodes, &dead, 2)
    });
    let alive = (0..nodes.len()).find(|i| !dead.contains(i)).unwrap();
    let out = temp.path().join("out.bin");
    store_get(&nodes[alive], &id, &out, "30");
    assert_eq!(std::fs::read(&out).unwrap(), data);
}
