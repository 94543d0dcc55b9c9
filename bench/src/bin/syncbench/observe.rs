//! One history sync: a fresh observer started with an empty data directory and bootstrapped to
//! the live providers only, timed from its process start until its `finalized` block is the
//! providers' finalized head and `eth_syncing` is false; then checked against a provider
//! (block hashes and balances).

use std::{
    net::SocketAddr,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use alloy_primitives::Address;
use ir3_bench::{
    cluster::{self, NetConfig, NetNode, block_head, strip_ansi},
    error::{BenchError, Result},
    rpc::Conn,
    wallet::RECIPIENT,
};
use serde_json::{Value, json};

use crate::progress;

/// The observers' default `--log`: warnings, plus the history sync's progress lines (their `bytes=`).
pub(crate) const OBSERVER_LOG: &str = "warn,ir3_evm::network::history=info";
/// How often the observer is probed.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Block hashes compared after a sync.
const SAMPLE_BLOCKS: u64 = 64;
/// Sender balances compared after a sync (the recipient's too).
const SAMPLE_BALANCES: usize = 64;

/// What one sync measured.
#[derive(Debug, Clone)]
pub(crate) struct SyncResult {
    /// Live providers it was bootstrapped to.
    pub(crate) providers: usize,
    /// Its `--node-id`.
    pub(crate) id: usize,
    /// Process start until it answered JSON-RPC.
    pub(crate) rpc_up: Option<Duration>,
    /// Process start until `eth_syncing` was first seen non-false.
    pub(crate) sync_seen: Option<Duration>,
    /// Process start until `eth_syncing` was false again after a sync was seen.
    pub(crate) sync_done: Option<Duration>,
    /// Process start until finalized head reached and not syncing (the headline).
    pub(crate) total: Duration,
    /// `heightsFromHistory` and `historySegments` of its `ir3_networkStatus` at the end.
    pub(crate) heights_from_history: u64,
    /// See `heights_from_history`.
    pub(crate) segments: u64,
    /// Segment bytes applied (the last `history sync` log line's `bytes=`).
    pub(crate) segment_bytes: Option<u64>,
    /// Segments applied according to the last `history sync` line (`chunks=A/B`).
    pub(crate) segments_applied: Option<(u64, u64)>,
    /// Bytes its P2P sockets received (kernel counters, `ss`), at the end.
    pub(crate) wire_received: Option<u64>,
    /// Block hashes and balances compared with a provider (all equal, else the run fails).
    pub(crate) checked: (usize, usize),
    /// Its data directory's size at the end.
    pub(crate) data_bytes: u64,
    /// WARN/ERROR lines in its output: count and the first distinct ones.
    pub(crate) problems: (usize, Vec<String>),
}

/// Starts observer `id` at `127.0.0.<octet>` bootstrapped to `providers` and measures its sync
/// to `target` (the providers' finalized head); `reference` is a provider's RPC address.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sync_once(
    config: &NetConfig,
    dir: &Path,
    id: usize,
    octet: usize,
    providers: &[SocketAddr],
    engines: &[SocketAddr],
    reference: SocketAddr,
    target: &(String, u64),
    senders: &[Address],
    log: &str,
    timeout: Duration,
) -> Result<SyncResult> {
    let start = Instant::now();
    let mut observer = cluster::spawn_observer(config, dir, id, octet, providers, engines, log)?;
    progress(&format!(
        "observer{id} pid {} rpc {} bootstrapped to {} provider(s)",
        observer.node.pid(),
        observer.node.addr,
        providers.len()
    ));
    let (mut rpc_up, mut sync_seen, mut sync_done) = (None, None, None);
    let mut conn: Option<Conn> = None;
    let mut last_print = Instant::now();
    let total = loop {
        if let Some(status) = observer.node.exited() {
            return Err(BenchError::Setup(format!(
                "observer{id} exited ({status}); last output:\n{}",
                observer.node.log_tail(20)
            )));
        }
        if start.elapsed() > timeout {
            return Err(BenchError::Timeout(format!(
                "observer{id} not synced within {} s; last output:\n{}",
                timeout.as_secs(),
                observer.node.log_tail(10)
            )));
        }
        if conn.is_none() {
            conn = Conn::connect(observer.node.addr).await.ok();
        }
        let Some(c) = conn.as_mut() else {
            tokio::time::sleep(PROBE_EVERY).await;
            continue;
        };
        let syncing = match c.call("eth_syncing", json!([])).await {
            Ok(value) => value != json!(false),
            Err(_) => {
                conn = None;
                tokio::time::sleep(PROBE_EVERY).await;
                continue;
            }
        };
        rpc_up.get_or_insert_with(|| start.elapsed());
        if syncing {
            sync_seen.get_or_insert_with(|| start.elapsed());
        } else if sync_seen.is_some() {
            sync_done.get_or_insert_with(|| start.elapsed());
        }
        let head = block_head(c, "finalized").await.unwrap_or_default();
        if !syncing && head.0 == target.0 {
            break start.elapsed();
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            last_print = Instant::now();
            progress(&format!(
                "observer{id}: {:.1} s, syncing {syncing}, finalized block {} of {}",
                start.elapsed().as_secs_f64(),
                head.1,
                target.1
            ));
        }
        tokio::time::sleep(PROBE_EVERY).await;
    };
    progress(&format!("observer{id} synced in {:.2} s", total.as_secs_f64()));
    let status = cluster::network_status(observer.node.addr).await?;
    let checked = verify(observer.node.addr, reference, target.1, senders).await?;
    let log = observer.node.log();
    let (segment_bytes, segments_applied) = last_sync_line(&log);
    let wire_received = received_bytes(&observer);
    let data_bytes = cluster::dir_bytes(&observer.data_dir);
    Ok(SyncResult {
        providers: providers.len(),
        id,
        rpc_up,
        sync_seen,
        sync_done,
        total,
        heights_from_history: status["heightsFromHistory"].as_u64().unwrap_or(0),
        segments: status["historySegments"].as_u64().unwrap_or(0),
        segment_bytes,
        segments_applied,
        wire_received,
        checked,
        data_bytes,
        problems: cluster::log_problems(&log, 3),
    })
    // `observer` is dropped here: SIGKILLed before the next sync.
}

/// Compares a sample of block hashes (`SAMPLE_BLOCKS` spread over `0..=head`, the head
/// included) and balances (the recipient and `SAMPLE_BALANCES` senders, at `finalized`)
/// between the observer and a provider; fails on the first difference. Returns how many of
/// each were compared.
async fn verify(
    observer: SocketAddr,
    reference: SocketAddr,
    head: u64,
    senders: &[Address],
) -> Result<(usize, usize)> {
    let (mut ours, mut theirs) = (Conn::connect(observer).await?, Conn::connect(reference).await?);
    let step = (head / SAMPLE_BLOCKS).max(1);
    let mut numbers: Vec<u64> = (0..=head).step_by(step as usize).collect();
    if numbers.last() != Some(&head) {
        numbers.push(head);
    }
    let block_calls: Vec<(&str, Value)> = numbers
        .iter()
        .map(|n| ("eth_getBlockByNumber", json!([format!("0x{n:x}"), false])))
        .collect();
    let stride = (senders.len() / SAMPLE_BALANCES).max(1);
    let accounts: Vec<Address> =
        std::iter::once(RECIPIENT).chain(senders.iter().step_by(stride).copied()).collect();
    let balance_calls: Vec<(&str, Value)> =
        accounts.iter().map(|a| ("eth_getBalance", json!([a, "finalized"]))).collect();
    let (a, b) = (ours.call_batch(&block_calls).await?, theirs.call_batch(&block_calls).await?);
    for ((n, a), b) in numbers.iter().zip(a).zip(b) {
        let (a, b) = (a?, b?);
        if a["hash"] != b["hash"] || a["hash"].is_null() {
            return Err(BenchError::Setup(format!(
                "block {n}: observer has {}, provider has {}",
                a["hash"], b["hash"]
            )));
        }
    }
    let (a, b) = (ours.call_batch(&balance_calls).await?, theirs.call_batch(&balance_calls).await?);
    for ((account, a), b) in accounts.iter().zip(a).zip(b) {
        let (a, b) = (a?, b?);
        if a != b {
            return Err(BenchError::Setup(format!(
                "balance of {account}: observer has {a}, provider has {b}"
            )));
        }
    }
    Ok((numbers.len(), accounts.len()))
}

/// `bytes=` and `chunks=A/B` of the last `history sync` line of a node's output.
fn last_sync_line(log: &str) -> (Option<u64>, Option<(u64, u64)>) {
    let Some(line) = log.lines().rev().map(strip_ansi).find(|l| l.contains("history sync")) else {
        return (None, None);
    };
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(|v| v.trim_matches('"').to_string())
    };
    let bytes = field("bytes=").and_then(|v| v.parse().ok());
    let chunks = field("chunks=").and_then(|v| {
        let (a, b) = v.split_once('/')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    });
    (bytes, chunks)
}

/// Sum of `bytes_received:` over the observer's TCP sockets except its JSON-RPC ones
/// (`ss -tinpH`), or `None` if `ss` is unavailable.
fn received_bytes(observer: &NetNode) -> Option<u64> {
    let output = Command::new("ss").args(["-tinpH"]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let pid = format!("pid={},", observer.node.pid());
    let rpc = format!(":{}", observer.node.addr.port());
    let mut records: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match records.last_mut() {
            Some(last) if line.starts_with(char::is_whitespace) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => records.push(line.to_string()),
        }
    }
    let sum = records
        .iter()
        .filter(|r| r.contains(&pid))
        .filter(|r| r.split_whitespace().nth(3).is_none_or(|local| !local.ends_with(&rpc)))
        .filter_map(|r| {
            r.split_whitespace()
                .find_map(|f| f.strip_prefix("bytes_received:"))?
                .parse::<u64>()
                .ok()
        })
        .sum();
    Some(sum)
}
