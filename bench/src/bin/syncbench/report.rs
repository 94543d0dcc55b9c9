//! The printed report: the set-up, the fill, one line per history sync, the storage figures
//! and the nodes' WARN/ERROR lines.

use std::path::Path;

use ir3_bench::{cluster::NetConfig, node::cpu_model};

use crate::{Cli, GATEWAY_OCTET, GATEWAYS, Measured, STORAGE_NODES};

/// Bytes per MB in the report (decimal megabytes).
const MB: f64 = 1e6;

/// Seconds with two decimals, or `-`.
fn secs(value: Option<std::time::Duration>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{:.2}", v.as_secs_f64()))
}

/// Megabytes with two decimals, or `-`.
fn mb(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".into(), |b| format!("{:.2}", b as f64 / MB))
}

/// Prints the report on stdout.
pub(crate) fn print(cli: &Cli, bin: &Path, config: &NetConfig, m: &Measured) {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("ir3-syncbench: history sync from chunks and storage app throughput, on loopback");
    println!("command:    {command}");
    println!("binary:     {} [{}]", bin.display(), m.version.as_deref().unwrap_or("?"));
    println!("cores:      {cores}{}", cpu_model().map(|c| format!(" ({c})")).unwrap_or_default());
    println!(
        "gateways:   {GATEWAYS} (127.0.0.{GATEWAY_OCTET}..127.0.0.{}), epoch {} ms, finality \
         grace {} ms, --segment-blocks {}, --accounts {}; full mesh after {:.2} s",
        GATEWAY_OCTET + GATEWAYS - 1,
        config.epoch_ms,
        config.grace_ms,
        cli.segment_blocks,
        config.accounts,
        m.mesh.as_secs_f64()
    );
    println!();

    let f = &m.fill;
    let txs = cli.txs as f64;
    println!(
        "fill:       {} EIP-1559 transfers from {} senders (sender s -> gateway s mod {GATEWAYS}, \
         nonce order), JSON-RPC batches of {}, {} connection(s) per gateway, closed loop",
        cli.txs, cli.senders, cli.batch, cli.conns
    );
    println!(
        "  accepted: all in {:.2} s ({:.0} tx/s); {} batches; {} refused sends repeated{}",
        f.send.as_secs_f64(),
        txs / f.send.as_secs_f64().max(1e-9),
        f.batches,
        f.retries.0,
        f.retries.1.as_ref().map(|r| format!(" (first: {r})")).unwrap_or_default()
    );
    println!(
        "  final:    all final on all {GATEWAYS} gateways {:.2} s after the first send \
         ({:.0} tx/s): finalized = latest = block {} everywhere, senders' nonces at finalized \
         sum to {}",
        f.total.as_secs_f64(),
        txs / f.total.as_secs_f64().max(1e-9),
        f.head.1,
        cli.txs
    );
    println!(
        "  history:  historySegments per gateway {:?}; data dirs {} MB each (gw0..gw{})",
        m.segments,
        m.data_bytes.iter().map(|b| format!("{:.1}", *b as f64 / MB)).collect::<Vec<_>>().join("/"),
        GATEWAYS - 1
    );
    let bytes = m.syncs.iter().find_map(|s| s.segment_bytes);
    let segs = m.segments.first().copied().unwrap_or(0);
    println!(
        "            {segs} segments, {} MB of segment chunks in all ({} kB per segment; the \
         blocks after the last full segment are caught up by pulls)",
        mb(bytes),
        bytes.map_or_else(|| "-".into(), |b| format!("{:.0}", b as f64 / 1e3 / segs.max(1) as f64)),
    );
    println!();

    println!(
        "history sync: a fresh observer (--node-id {GATEWAYS}+, empty --data-dir, --bootstrap \
         the live providers only); times from its process start"
    );
    println!(
        "{:>9} {:>4} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9}",
        "providers",
        "id",
        "rpc s",
        "sync s",
        "done s",
        "total s",
        "segments",
        "seg MB",
        "seg/s",
        "MB/s",
        "wire MB",
        "fromHist"
    );
    for s in &m.syncs {
        let total = s.total.as_secs_f64().max(1e-9);
        let applied = s.segments_applied.map(|(a, _)| a);
        println!(
            "{:>9} {:>4} {:>7} {:>8} {:>8} {:>8.2} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9}",
            s.providers,
            s.id,
            secs(s.rpc_up),
            secs(s.sync_seen),
            secs(s.sync_done),
            s.total.as_secs_f64(),
            applied.map_or_else(|| "-".into(), |a| a.to_string()),
            mb(s.segment_bytes),
            applied.map_or_else(|| "-".into(), |a| format!("{:.1}", a as f64 / total)),
            s.segment_bytes.map_or_else(|| "-".into(), |b| format!("{:.2}", b as f64 / MB / total)),
            mb(s.wire_received),
            s.heights_from_history
        );
    }
    println!(
        "  rpc s: answered JSON-RPC; sync s: eth_syncing first non-false; done s: eth_syncing \
         false again; total s: finalized block hash = providers' finalized head ({}) and \
         eth_syncing false. segments, seg MB: history segments applied and their bytes (the \
         observer's last `history sync` log line); seg/s, MB/s: those over total s; wire MB: \
         bytes its P2P sockets received (ss); fromHist: its heightsFromHistory",
        short(&f.head.0)
    );
    for s in &m.syncs {
        println!(
            "  observer{} ({} provider(s)): {} block hashes and {} balances equal to gw0's; \
             historySegments {}; data dir {:.1} MB",
            s.id,
            s.providers,
            s.checked.0,
            s.checked.1,
            s.segments,
            s.data_bytes as f64 / MB
        );
    }
    println!();

    if !m.stores.is_empty() {
        println!(
            "storage: {STORAGE_NODES} fresh nodes (--replication {}); `ir3 store put FILE` on \
             st0, `ir3 store get ID --out F` on st{} (each timed as a whole CLI process)",
            cli.store_replication,
            STORAGE_NODES - 1
        );
        println!(
            "{:>10} {:>9} {:>10} {:>9} {:>10} {:>10}  id",
            "size MiB", "put s", "put MB/s", "get s", "get MB/s", "identical"
        );
        for s in &m.stores {
            let size = s.bytes as f64;
            println!(
                "{:>10} {:>9.2} {:>10.2} {:>9.2} {:>10.2} {:>10}  {}",
                s.bytes >> 20,
                s.put.as_secs_f64(),
                size / MB / s.put.as_secs_f64().max(1e-9),
                s.get.as_secs_f64(),
                size / MB / s.get.as_secs_f64().max(1e-9),
                "yes",
                short(&s.id)
            );
        }
        println!();
    }
    let observer_problems: Vec<String> = m
        .syncs
        .iter()
        .filter(|s| s.problems.0 > 0)
        .flat_map(|s| {
            std::iter::once(format!(
                "observer{}: {} WARN/ERROR line(s); first distinct:",
                s.id, s.problems.0
            ))
            .chain(s.problems.1.iter().map(|l| format!("    {l}")))
        })
        .collect();
    if m.problems.is_empty() && observer_problems.is_empty() {
        println!("node logs:  no WARN/ERROR lines");
    } else {
        println!("node logs:");
        for line in m.problems.iter().chain(&observer_problems) {
            println!("  {line}");
        }
    }
}

/// `0x1234…abcd` of a long hex string.
fn short(hex: &str) -> String {
    if hex.len() > 14 { format!("{}…{}", &hex[..8], &hex[hex.len() - 4..]) } else { hex.into() }
}
