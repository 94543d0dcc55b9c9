//! The closed loop: 10 senders, each signing locally, sending, polling its receipt and sending
//! the next; every transaction goes to a fixed recipient (the baseline) or to a fresh address
//! (the growth phase: a plain 1-wei transfer or, for a share of them, an ERC-20 `transfer` of
//! 1 token to a new holder). Figures per slice of completed transactions.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::{Address, TxKind, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use ir3_bench::{
    cluster::dir_bytes,
    error::{BenchError, Result},
    figures::percentile_ms,
    node::rss_kib,
    rpc::{Conn, quantity},
    wallet::{SignedTx, sign_call, sign_transfer},
};
use serde::Serialize;

use crate::{progress, token};

/// Where the transactions of a run go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// Always the same account (1 wei each).
    Fixed(Address),
    /// Transaction `k` goes to [`fresh_address`]`(k)`; a share of them are ERC-20 transfers.
    Fresh {
        /// The token and the share of transactions that are token transfers (0..=1).
        erc20: Option<(Address, f64)>,
    },
}

/// The `k`-th fresh address: the last 20 bytes of keccak256 of `k` as a 32-byte big-endian
/// word. Deterministic, so a later run (or a reader) can name the same accounts.
pub(crate) fn fresh_address(k: u64) -> Address {
    let word = U256::from(k).to_be_bytes::<32>();
    Address::from_slice(&keccak256(word)[12..])
}

/// Whether growth transaction `k` is an ERC-20 transfer at this share: spread evenly, the
/// first `ceil(k * share)` of any prefix.
pub(crate) fn is_token_tx(k: u64, share: f64) -> bool {
    share > 0.0 && ((k + 1) as f64 * share).floor() > (k as f64 * share).floor()
}

/// Settings of one closed-loop run.
#[derive(Debug, Clone)]
pub(crate) struct LoopConfig {
    /// Phase name for progress lines.
    pub(crate) name: &'static str,
    /// Transactions in all.
    pub(crate) txs: u64,
    /// Transactions per slice (the run's figures are per slice).
    pub(crate) slice: u64,
    /// Receipt polling interval.
    pub(crate) poll: Duration,
    /// How long one receipt may take.
    pub(crate) receipt_timeout: Duration,
    /// Interval of the progress lines.
    pub(crate) progress_every: Duration,
    /// The node process (RSS) and its data directory (size), if known.
    pub(crate) pid: u32,
    /// The node's data directory (ir3), sized at each slice end.
    pub(crate) data_dir: Option<PathBuf>,
}

/// Figures of one slice of completed transactions.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Slice {
    /// Completed transactions before this slice.
    pub(crate) from: u64,
    /// Completed transactions at the end of this slice.
    pub(crate) to: u64,
    /// Seconds from the previous slice's end (or the start) to this one's.
    pub(crate) secs: f64,
    /// Transactions of the slice per second.
    pub(crate) tx_per_sec: f64,
    /// Median send-to-receipt latency of the slice's transactions, in ms.
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile, in ms.
    pub(crate) p99_ms: Option<f64>,
    /// Node RSS at the slice's end, in KiB.
    pub(crate) rss_kib: Option<u64>,
    /// Data directory size at the slice's end, in bytes.
    pub(crate) data_bytes: Option<u64>,
    /// Highest block number among the slice's receipts.
    pub(crate) block: u64,
}

/// Result of one closed-loop run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoopResult {
    /// Concurrent senders.
    pub(crate) senders: usize,
    /// Transactions planned.
    pub(crate) planned: u64,
    /// Transactions with a successful receipt.
    pub(crate) mined: u64,
    /// Of them, ERC-20 transfers.
    pub(crate) token_txs: u64,
    /// Wall time, seconds.
    pub(crate) wall_secs: f64,
    /// Mined per second of wall time.
    pub(crate) tx_per_sec: f64,
    /// Median latency over the whole run, in ms.
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile over the whole run, in ms.
    pub(crate) p99_ms: Option<f64>,
    /// Per-slice figures.
    pub(crate) slices: Vec<Slice>,
    /// Senders that stopped on an error.
    pub(crate) failed_senders: usize,
    /// The first error.
    pub(crate) first_error: Option<String>,
    /// Block number of the first transaction's receipt (growth: the first fresh account).
    pub(crate) first_block: Option<u64>,
}

/// Completed transactions of the open slice and of the whole run.
struct Tally {
    done: u64,
    slice_start: Instant,
    slice_latencies: Vec<Duration>,
    slice_block: u64,
    all_latencies: Vec<Duration>,
    slices: Vec<Slice>,
    first_block: Option<u64>,
    token_txs: u64,
}

struct Shared {
    config: LoopConfig,
    target: Target,
    next: AtomicU64,
    tally: Mutex<Tally>,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one mined transaction; closes the slice when it is full or the run complete.
    fn record(&self, latency: Duration, block: u64, token: bool, first: bool) {
        let mut tally = self.tally();
        tally.done += 1;
        tally.token_txs += u64::from(token);
        tally.slice_latencies.push(latency);
        tally.all_latencies.push(latency);
        tally.slice_block = tally.slice_block.max(block);
        if first {
            tally.first_block = Some(block);
        }
        if tally.done.is_multiple_of(self.config.slice) || tally.done == self.config.txs {
            self.close_slice(&mut tally);
        }
    }

    fn close_slice(&self, tally: &mut Tally) {
        let now = Instant::now();
        let secs = (now - tally.slice_start).as_secs_f64();
        let mut latencies = std::mem::take(&mut tally.slice_latencies);
        latencies.sort_unstable();
        let from = tally.slices.last().map_or(0, |s| s.to);
        let count = tally.done - from;
        let slice = Slice {
            from,
            to: tally.done,
            secs,
            tx_per_sec: count as f64 / secs,
            p50_ms: percentile_ms(&latencies, 0.50),
            p99_ms: percentile_ms(&latencies, 0.99),
            rss_kib: rss_kib(self.config.pid),
            // Sized under the lock: every sender waits for it, so the pause is not counted
            // in the next slice's time (it starts after the walk).
            data_bytes: self.config.data_dir.as_deref().map(dir_bytes),
            block: tally.slice_block,
        };
        progress(&format!(
            "{}: slice {}..{}: {:.1} tx/s, p50 {:.2} ms, p99 {:.2} ms, RSS {}, data {}, block {}",
            self.config.name,
            slice.from,
            slice.to,
            slice.tx_per_sec,
            slice.p50_ms.unwrap_or(f64::NAN),
            slice.p99_ms.unwrap_or(f64::NAN),
            slice.rss_kib.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            slice.data_bytes.map_or("-".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
            slice.block,
        ));
        tally.slices.push(slice);
        tally.slice_start = Instant::now();
    }

    fn fail(&self, error: &BenchError) {
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert_with(|| error.to_string());
    }
}

/// Signs transaction `k` of the run for `signer` at `nonce`; returns it and whether it is a
/// token transfer.
fn build(
    target: Target,
    signer: &PrivateKeySigner,
    nonce: u64,
    k: u64,
) -> Result<(SignedTx, bool)> {
    match target {
        Target::Fixed(to) => Ok((sign_transfer(signer, nonce, to, U256::ONE)?, false)),
        Target::Fresh { erc20: Some((token, share)) } if is_token_tx(k, share) => {
            let data = token::transfer_data(fresh_address(k), U256::ONE);
            let tx = sign_call(
                signer,
                nonce,
                TxKind::Call(token),
                U256::ZERO,
                data,
                token::TRANSFER_GAS,
            )?;
            Ok((tx, true))
        }
        Target::Fresh { .. } => {
            Ok((sign_transfer(signer, nonce, fresh_address(k), U256::ONE)?, false))
        }
    }
}

/// One sender: claims the next transaction index, signs, sends, waits for the receipt
/// (status must be 1), records, repeats until the run's transactions are all claimed.
/// Returns whether it stopped on an error.
async fn sender(
    shared: Arc<Shared>,
    signer: PrivateKeySigner,
    mut conn: Conn,
    mut nonce: u64,
) -> bool {
    let config = &shared.config;
    loop {
        let k = shared.next.fetch_add(1, Ordering::Relaxed);
        if k >= config.txs {
            return false;
        }
        let outcome = async {
            let (tx, token) = build(shared.target, &signer, nonce, k)?;
            let sent = Instant::now();
            let receipt = conn.send_and_wait(&tx, config.poll, config.receipt_timeout).await?;
            let latency = sent.elapsed();
            if receipt.get("status").and_then(|s| s.as_str()) != Some("0x1") {
                return Err(BenchError::Protocol(format!("transaction failed: {receipt}")));
            }
            let block = quantity(&receipt["blockNumber"]).unwrap_or(0);
            Ok::<_, BenchError>((latency, block, token))
        }
        .await;
        match outcome {
            Ok((latency, block, token)) => {
                nonce += 1;
                shared.record(latency, block, token, k == 0);
            }
            Err(error) => {
                progress(&format!("{}: sender {} stopped: {error}", config.name, signer.address()));
                shared.fail(&error);
                return true;
            }
        }
    }
}

/// Runs the closed loop with one sender per signer until `config.txs` transactions are mined
/// (or every sender stopped on an error).
pub(crate) async fn run(
    addr: SocketAddr,
    signers: &[PrivateKeySigner],
    target: Target,
    config: LoopConfig,
) -> Result<LoopResult> {
    // Untimed: a connection and the starting nonce per sender.
    let mut prepared = Vec::with_capacity(signers.len());
    for signer in signers {
        let mut conn = Conn::connect(addr).await?;
        let nonce = conn.nonce(signer.address()).await?;
        prepared.push((signer.clone(), conn, nonce));
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        config: config.clone(),
        target,
        next: AtomicU64::new(0),
        tally: Mutex::new(Tally {
            done: 0,
            slice_start: start,
            slice_latencies: Vec::new(),
            slice_block: 0,
            all_latencies: Vec::with_capacity(config.txs.min(10_000_000) as usize),
            slices: Vec::new(),
            first_block: None,
            token_txs: 0,
        }),
        first_error: Mutex::new(None),
    });
    let handles: Vec<_> = prepared
        .into_iter()
        .map(|(signer, conn, nonce)| tokio::spawn(sender(shared.clone(), signer, conn, nonce)))
        .collect();
    let watcher = tokio::spawn(watch(shared.clone(), start));
    let mut failed_senders = 0;
    for handle in handles {
        if handle.await.unwrap_or(true) {
            failed_senders += 1;
        }
    }
    watcher.abort();
    let wall = start.elapsed().as_secs_f64();
    let first_error = shared.first_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut tally = shared.tally();
    if !tally.slice_latencies.is_empty() {
        // The senders stopped early: close the partial slice.
        shared.close_slice(&mut tally);
    }
    let mut all = std::mem::take(&mut tally.all_latencies);
    all.sort_unstable();
    let mined = all.len() as u64;
    Ok(LoopResult {
        senders: signers.len(),
        planned: config.txs,
        mined,
        token_txs: tally.token_txs,
        wall_secs: wall,
        tx_per_sec: mined as f64 / wall,
        p50_ms: percentile_ms(&all, 0.50),
        p99_ms: percentile_ms(&all, 0.99),
        slices: std::mem::take(&mut tally.slices),
        failed_senders,
        first_error,
        first_block: tally.first_block,
    })
}

/// A progress line every `progress_every`: transactions done, the rate since the last line,
/// the node's RSS.
async fn watch(shared: Arc<Shared>, start: Instant) {
    let config = &shared.config;
    let mut last = (start, 0u64);
    loop {
        tokio::time::sleep(config.progress_every).await;
        let done = shared.tally().done;
        let now = Instant::now();
        let rate = (done - last.1) as f64 / (now - last.0).as_secs_f64();
        last = (now, done);
        progress(&format!(
            "{}: {done}/{} mined, {rate:.1} tx/s over the last {:.0} s, RSS {}, {:.0} s elapsed",
            config.name,
            config.txs,
            config.progress_every.as_secs_f64(),
            rss_kib(config.pid).map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            start.elapsed().as_secs_f64(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_share_is_spread_evenly() {
        let count = |share| (0..1000).filter(|&k| is_token_tx(k, share)).count();
        assert_eq!(count(0.0), 0);
        assert_eq!(count(0.25), 250);
        assert_eq!(count(1.0), 1000);
        assert!(!is_token_tx(0, 0.5) && is_token_tx(1, 0.5));
    }

    #[test]
    fn fresh_addresses_differ() {
        assert_ne!(fresh_address(0), fresh_address(1));
        assert_eq!(fresh_address(7), fresh_address(7));
    }
}
