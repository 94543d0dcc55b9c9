//! The workloads, each run against one node: closed-loop transfers, an open-loop burst, reads.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use alloy_primitives::{B256, U256};
use alloy_signer_local::PrivateKeySigner;
use hyper::body::Bytes;
use serde::Serialize;

use crate::{
    error::{BenchError, Result},
    figures::percentile_ms,
    rpc::Conn,
    wallet::{RECIPIENT, sign_transfer},
};

/// Polling interval while waiting for a burst or a funding round to be mined.
const MINED_POLL: Duration = Duration::from_millis(5);

/// Result of one closed-loop run (send, wait for the receipt, send the next).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ClosedLoop {
    /// Concurrent senders.
    pub(crate) senders: usize,
    /// Transactions the senders set out to send.
    pub(crate) planned: usize,
    /// Transactions sent whose receipt arrived.
    pub(crate) mined: usize,
    /// Senders that stopped on an error.
    pub(crate) failed_senders: usize,
    /// Wall time of the whole run, in seconds.
    pub(crate) wall_secs: f64,
    /// Mined transactions per second of wall time.
    pub(crate) mined_per_sec: f64,
    /// Median send-to-receipt latency, in milliseconds.
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile send-to-receipt latency, in milliseconds.
    pub(crate) p99_ms: Option<f64>,
    /// The first error seen, if any.
    pub(crate) first_error: Option<String>,
}

/// Runs `txs_per_sender` closed-loop transfers from each signer concurrently, each sender
/// polling the receipt of its transaction every `receipt_poll` before sending the next.
pub(crate) async fn closed_loop(
    addr: SocketAddr,
    signers: &[PrivateKeySigner],
    txs_per_sender: usize,
    receipt_poll: Duration,
    receipt_timeout: Duration,
) -> Result<ClosedLoop> {
    // Untimed: one connection and the starting nonce per sender.
    let mut prepared = Vec::with_capacity(signers.len());
    for signer in signers {
        let mut conn = Conn::connect(addr).await?;
        let nonce = conn.nonce(signer.address()).await?;
        prepared.push((signer.clone(), conn, nonce));
    }
    let start = Instant::now();
    let handles: Vec<_> = prepared
        .into_iter()
        .map(|(signer, mut conn, nonce)| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(txs_per_sender);
                for i in 0..txs_per_sender as u64 {
                    let outcome = match sign_transfer(&signer, nonce + i, RECIPIENT, U256::ONE) {
                        Ok(tx) => {
                            let sent = Instant::now();
                            conn.send_and_wait(&tx, receipt_poll, receipt_timeout)
                                .await
                                .map(|_receipt| sent.elapsed())
                        }
                        Err(error) => Err(error),
                    };
                    match outcome {
                        Ok(latency) => latencies.push(latency),
                        Err(error) => return (latencies, Some(error)),
                    }
                }
                (latencies, None)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failed_senders = 0;
    let mut first_error = None;
    for handle in handles {
        let (mut sender_latencies, error) = handle.await?;
        latencies.append(&mut sender_latencies);
        if let Some(error) = error {
            failed_senders += 1;
            first_error.get_or_insert_with(|| error.to_string());
        }
    }
    let wall = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(ClosedLoop {
        senders: signers.len(),
        planned: signers.len() * txs_per_sender,
        mined: latencies.len(),
        failed_senders,
        wall_secs: wall,
        mined_per_sec: latencies.len() as f64 / wall,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        first_error,
    })
}

/// Sends `value` wei from `funder` to each of `recipients` and waits until all are mined
/// with status 1 (benchmark set-up, not timed).
pub(crate) async fn fund(
    addr: SocketAddr,
    funder: &PrivateKeySigner,
    recipients: &[PrivateKeySigner],
    value: U256,
    timeout: Duration,
) -> Result<()> {
    let mut conn = Conn::connect(addr).await?;
    let nonce = conn.nonce(funder.address()).await?;
    let mut hashes = Vec::with_capacity(recipients.len());
    for (i, recipient) in recipients.iter().enumerate() {
        let tx = sign_transfer(funder, nonce + i as u64, recipient.address(), value)?;
        hashes.push(conn.send_raw(&tx.raw_hex).await?);
    }
    let deadline = Instant::now() + timeout;
    for hash in hashes {
        loop {
            if let Some(receipt) = conn.receipt(hash).await? {
                if receipt.get("status").and_then(|s| s.as_str()) != Some("0x1") {
                    return Err(BenchError::Setup(format!("funding transfer failed: {receipt}")));
                }
                break;
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Timeout(format!(
                    "funding transfer {hash} not mined after {} s",
                    timeout.as_secs_f64()
                )));
            }
            tokio::time::sleep(MINED_POLL).await;
        }
    }
    Ok(())
}

/// Result of the open-loop burst.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Burst {
    /// Concurrent senders (one connection each).
    pub(crate) senders: usize,
    /// Transactions sent.
    pub(crate) sent: usize,
    /// Transactions the node accepted (returned a hash for).
    pub(crate) accepted: usize,
    /// Transactions the node rejected.
    pub(crate) rejected: usize,
    /// Seconds until every send had been answered.
    pub(crate) accept_secs: f64,
    /// Accepted transactions per second of `accept_secs`.
    pub(crate) accepted_per_sec: f64,
    /// Whether every accepted transaction was mined before the timeout.
    pub(crate) all_mined: bool,
    /// Seconds from the first send until every accepted transaction was mined.
    pub(crate) mined_secs: Option<f64>,
    /// Accepted transactions that have a receipt at the end.
    pub(crate) mined: usize,
    /// Blocks the node produced during the burst.
    pub(crate) blocks: u64,
    /// The mining timeout, in seconds.
    pub(crate) timeout_secs: f64,
    /// The first error seen, if any.
    pub(crate) first_error: Option<String>,
}

/// Fires `per_sender` pre-signed transfers from each signer (one task and connection per
/// sender, no waiting for receipts), then waits until all are mined.
pub(crate) async fn burst(
    addr: SocketAddr,
    signers: &[PrivateKeySigner],
    per_sender: usize,
    mine_timeout: Duration,
) -> Result<Burst> {
    // Untimed: nonces, signatures and connections.
    let mut control = Conn::connect(addr).await?;
    let mut plans = Vec::with_capacity(signers.len());
    for signer in signers {
        let nonce = control.nonce(signer.address()).await?;
        let txs = (0..per_sender as u64)
            .map(|i| sign_transfer(signer, nonce + i, RECIPIENT, U256::ONE))
            .collect::<Result<Vec<_>>>()?;
        plans.push((txs, Conn::connect(addr).await?));
    }
    let block_before = control.block_number().await?;

    let start = Instant::now();
    let handles: Vec<_> = plans
        .into_iter()
        .map(|(txs, mut conn)| {
            tokio::spawn(async move {
                let mut accepted = Vec::with_capacity(txs.len());
                let mut first_error = None;
                for tx in &txs {
                    match conn.send_raw(&tx.raw_hex).await {
                        Ok(_) => accepted.push(tx.hash),
                        Err(error) => {
                            first_error.get_or_insert_with(|| error.to_string());
                        }
                    }
                }
                (accepted, first_error, conn)
            })
        })
        .collect();
    let mut per_sender_accepted = Vec::with_capacity(signers.len());
    let mut conns = Vec::with_capacity(signers.len());
    let mut first_error = None;
    for handle in handles {
        let (accepted, error, conn) = handle.await?;
        if let Some(error) = error {
            first_error.get_or_insert(error);
        }
        per_sender_accepted.push(accepted);
        conns.push(conn);
    }
    let accept_secs = start.elapsed().as_secs_f64();
    let sent = signers.len() * per_sender;
    let accepted: usize = per_sender_accepted.iter().map(Vec::len).sum();

    // A sender's transactions are mined in nonce order, so its last one having a receipt
    // means all of them are mined.
    let mut pending: Vec<B256> =
        per_sender_accepted.iter().filter_map(|hashes| hashes.last().copied()).collect();
    let deadline = start + mine_timeout;
    let mut mined_secs = None;
    loop {
        let mut still = Vec::with_capacity(pending.len());
        for hash in pending {
            if control.receipt(hash).await?.is_none() {
                still.push(hash);
            }
        }
        pending = still;
        if pending.is_empty() {
            mined_secs = Some(start.elapsed().as_secs_f64());
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(MINED_POLL).await;
    }

    // Count receipts of every accepted transaction (one task per sender connection).
    let counters: Vec<_> = conns
        .into_iter()
        .zip(per_sender_accepted)
        .map(|(mut conn, hashes)| {
            tokio::spawn(async move {
                let mut found = 0usize;
                for hash in hashes {
                    if conn.receipt(hash).await?.is_some() {
                        found += 1;
                    }
                }
                Ok::<_, BenchError>(found)
            })
        })
        .collect();
    let mut mined = 0;
    for counter in counters {
        mined += counter.await??;
    }
    let blocks = control.block_number().await?.saturating_sub(block_before);
    Ok(Burst {
        senders: signers.len(),
        sent,
        accepted,
        rejected: sent - accepted,
        accept_secs,
        accepted_per_sec: accepted as f64 / accept_secs,
        all_mined: mined_secs.is_some() && mined == accepted && accepted == sent,
        mined_secs,
        mined,
        blocks,
        timeout_secs: mine_timeout.as_secs_f64(),
        first_error,
    })
}

/// Result of one read test.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Reads {
    /// Concurrent keep-alive connections.
    pub(crate) connections: usize,
    /// Successful requests.
    pub(crate) ok: u64,
    /// Failed requests (transport or JSON-RPC errors).
    pub(crate) errors: u64,
    /// Measured seconds.
    pub(crate) secs: f64,
    /// Successful requests per second.
    pub(crate) per_sec: f64,
    /// The first error seen, if any.
    pub(crate) first_error: Option<String>,
}

/// Posts the same pre-serialized request `body` in a loop on `connections` keep-alive
/// connections (one task each) for `duration`.
pub(crate) async fn reads(
    addr: SocketAddr,
    body: Bytes,
    connections: usize,
    duration: Duration,
) -> Result<Reads> {
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::connect(addr).await?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let body = body.clone();
            tokio::spawn(async move {
                let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
                while Instant::now() < deadline {
                    match conn.call_raw(body.clone()).await {
                        Ok(_) => ok += 1,
                        Err(error) => {
                            errors += 1;
                            if !error.is_rpc() {
                                // Do not spin on a dead connection.
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                            first_error.get_or_insert_with(|| error.to_string());
                        }
                    }
                }
                (ok, errors, first_error)
            })
        })
        .collect();
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    for handle in handles {
        let (task_ok, task_errors, error) = handle.await?;
        ok += task_ok;
        errors += task_errors;
        if let Some(error) = error {
            first_error.get_or_insert(error);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Reads { connections, ok, errors, secs, per_sec: ok as f64 / secs, first_error })
}
