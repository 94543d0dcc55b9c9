//! Filling the chain: pre-signed EIP-1559 transfers from many senders, each sender bound to one
//! gateway (its transactions go there in nonce order), sent as JSON-RPC batches on a few
//! keep-alive connections per gateway as fast as the gateways answer (closed loop per
//! connection), then waiting until every transfer is final on every gateway.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use ir3_bench::{
    cluster::block_head,
    error::{BenchError, Result},
    rpc::{Conn, quantity},
    wallet::{RECIPIENT, SignedTx, sign_transfer},
};
use serde_json::{Value, json};

use crate::progress;

/// Most send attempts of one transaction before the run is abandoned.
const MAX_ATTEMPTS: u32 = 200;
/// Pause of a connection after a batch with refused transactions (they are sent again).
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How often the finality of the whole fill is checked.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// How the fill is driven.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FillConfig {
    /// Transactions in one `eth_sendRawTransaction` batch.
    pub(crate) batch: usize,
    /// Concurrent connections sending to each gateway.
    pub(crate) conns: usize,
    /// How long sending plus finality may take.
    pub(crate) timeout: Duration,
}

/// The signed transfers, per gateway in send order.
pub(crate) struct Plan {
    /// `per_gateway[g]`: the transactions sent to gateway `g`.
    pub(crate) per_gateway: Vec<Vec<SignedTx>>,
    /// The senders' addresses.
    pub(crate) senders: Vec<Address>,
    /// Transactions in all.
    pub(crate) txs: usize,
}

/// Signs `txs` transfers of 1 wei to [`RECIPIENT`]: transaction `i` is sender `i % S`'s nonce
/// `i / S`, and sender `s` sends to gateway `s % gateways`. Signs on all cores.
pub(crate) fn plan(signers: &[PrivateKeySigner], txs: usize, gateways: usize) -> Result<Plan> {
    let senders = signers.len();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);
    let per_thread = txs.div_ceil(threads);
    let signed: Vec<Result<Vec<SignedTx>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * per_thread..((t + 1) * per_thread).min(txs))
                        .map(|i| {
                            let (sender, nonce) = (i % senders, (i / senders) as u64);
                            sign_transfer(&signers[sender], nonce, RECIPIENT, U256::from(1))
                        })
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(BenchError::Signing("panicked".into()))))
            .collect()
    });
    let mut per_gateway = vec![Vec::new(); gateways];
    for (i, tx) in signed.into_iter().collect::<Result<Vec<_>>>()?.into_iter().flatten().enumerate()
    {
        per_gateway[(i % senders) % gateways].push(tx);
    }
    Ok(Plan { per_gateway, senders: signers.iter().map(|s| s.address()).collect(), txs })
}

/// What the fill measured.
#[derive(Debug, Clone)]
pub(crate) struct FillResult {
    /// First send until every transaction was accepted (hash returned).
    pub(crate) send: Duration,
    /// First send until every transaction was final on every gateway.
    pub(crate) total: Duration,
    /// Sends that were refused and repeated, and the first refusal's message.
    pub(crate) retries: (usize, Option<String>),
    /// Batches sent.
    pub(crate) batches: usize,
    /// The finalized (= latest) head every gateway agreed on: hash and number.
    pub(crate) head: (String, u64),
}

/// State shared by the senders.
struct Shared {
    accepted: AtomicUsize,
    retries: AtomicUsize,
    batches: AtomicUsize,
    first_refusal: Mutex<Option<String>>,
    failure: Mutex<Option<String>>,
    stop: AtomicBool,
}

impl Shared {
    fn fail(&self, message: String) {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(message);
        self.stop.store(true, Ordering::SeqCst);
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One gateway's queue: transaction index in its plan and attempts so far.
type Queue = Arc<Mutex<VecDeque<(usize, u32)>>>;

/// Sends the plan and waits until it is final everywhere; fails on a refusal repeated
/// [`MAX_ATTEMPTS`] times, a wrong hash, or the timeout.
pub(crate) async fn run(
    gateways: &[SocketAddr],
    plan: Plan,
    config: FillConfig,
) -> Result<FillResult> {
    let shared = Arc::new(Shared {
        accepted: AtomicUsize::new(0),
        retries: AtomicUsize::new(0),
        batches: AtomicUsize::new(0),
        first_refusal: Mutex::new(None),
        failure: Mutex::new(None),
        stop: AtomicBool::new(false),
    });
    let txs = plan.txs;
    let senders = Arc::new(plan.senders);
    let mut workers = Vec::new();
    let mut conns = Vec::new();
    for &addr in gateways {
        for _ in 0..config.conns {
            conns.push(Conn::connect(addr).await?);
        }
    }
    let start = Instant::now();
    for (g, txs) in plan.per_gateway.into_iter().enumerate() {
        let queue: Queue = Arc::new(Mutex::new((0..txs.len()).map(|i| (i, 0)).collect()));
        let txs = Arc::new(txs);
        for _ in 0..config.conns {
            let conn = conns.remove(0);
            let (queue, txs, shared) = (queue.clone(), txs.clone(), shared.clone());
            workers.push(tokio::spawn(send_worker(g, conn, queue, txs, shared, config.batch)));
        }
    }
    let watcher = tokio::spawn(watch(gateways.to_vec(), senders.clone(), shared.clone(), start));
    let deadline = start + config.timeout;
    let mut send = None;
    let mut checks: Vec<Conn> = Vec::new();
    for &addr in gateways {
        checks.push(Conn::connect(addr).await?);
    }
    let outcome = loop {
        if let Some(failure) = shared.failure() {
            break Err(BenchError::Setup(failure));
        }
        if send.is_none() && shared.accepted.load(Ordering::SeqCst) == txs {
            send = Some(start.elapsed());
            progress(&format!(
                "all {txs} accepted after {:.1} s; waiting for finality everywhere",
                start.elapsed().as_secs_f64()
            ));
        }
        if send.is_some()
            && let Some(head) = final_everywhere(&mut checks, &senders, txs).await?
        {
            break Ok((send.unwrap_or_default(), start.elapsed(), head));
        }
        if Instant::now() > deadline {
            break Err(BenchError::Timeout(format!(
                "fill not final everywhere within {} s ({} of {txs} accepted)",
                config.timeout.as_secs(),
                shared.accepted.load(Ordering::SeqCst)
            )));
        }
        tokio::time::sleep(CHECK_EVERY).await;
    };
    shared.stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await?;
    }
    watcher.await?;
    let (send, total, head) = outcome?;
    let first = shared.first_refusal.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(FillResult {
        send,
        total,
        retries: (shared.retries.load(Ordering::SeqCst), first),
        batches: shared.batches.load(Ordering::SeqCst),
        head,
    })
}

/// Sends batches from `queue` to gateway `g` until the queue is empty or the run stops.
async fn send_worker(
    g: usize,
    mut conn: Conn,
    queue: Queue,
    txs: Arc<Vec<SignedTx>>,
    shared: Arc<Shared>,
    batch: usize,
) {
    while !shared.stop.load(Ordering::SeqCst) {
        let taken: Vec<(usize, u32)> = {
            let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
            let n = batch.min(queue.len());
            queue.drain(..n).collect()
        };
        if taken.is_empty() {
            return;
        }
        let calls: Vec<(&str, Value)> = taken
            .iter()
            .map(|&(i, _)| ("eth_sendRawTransaction", json!([txs[i].raw_hex])))
            .collect();
        shared.batches.fetch_add(1, Ordering::SeqCst);
        let answers = match conn.call_batch(&calls).await {
            Ok(answers) => answers,
            Err(error) => taken.iter().map(|_| Err(BenchError::Setup(error.to_string()))).collect(),
        };
        let mut again = Vec::new();
        for (&(i, attempts), answer) in taken.iter().zip(answers) {
            match answer {
                Ok(hash) if hash == json!(txs[i].hash) => {
                    shared.accepted.fetch_add(1, Ordering::SeqCst);
                }
                Ok(hash) => {
                    shared.fail(format!("gateway {g} returned {hash} for {}", txs[i].hash));
                }
                Err(error) if error.to_string().contains("already known") => {
                    shared.accepted.fetch_add(1, Ordering::SeqCst);
                }
                Err(error) => {
                    shared.retries.fetch_add(1, Ordering::SeqCst);
                    shared
                        .first_refusal
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert_with(|| error.to_string());
                    if attempts + 1 >= MAX_ATTEMPTS {
                        shared.fail(format!(
                            "gateway {g} refused {} {MAX_ATTEMPTS} times; last: {error}",
                            txs[i].hash
                        ));
                    }
                    again.push((i, attempts + 1));
                }
            }
        }
        if !again.is_empty() {
            queue.lock().unwrap_or_else(|e| e.into_inner()).extend(again);
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// Prints the progress every few seconds: accepted transactions and those final on gateway 0.
async fn watch(
    gateways: Vec<SocketAddr>,
    senders: Arc<Vec<Address>>,
    shared: Arc<Shared>,
    start: Instant,
) {
    let Ok(mut conn) = Conn::connect(gateways[0]).await else { return };
    let mut last = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if last.elapsed() < Duration::from_secs(10) {
            continue;
        }
        last = Instant::now();
        let finalized = nonce_sum(&mut conn, &senders, "finalized").await.unwrap_or(0);
        let (_, number) = block_head(&mut conn, "finalized").await.unwrap_or_default();
        let elapsed = start.elapsed().as_secs_f64();
        progress(&format!(
            "{elapsed:>6.1} s: {} accepted, {finalized} final on gw0 (block {number}, {:.0} tx/s)",
            shared.accepted.load(Ordering::SeqCst),
            finalized as f64 / elapsed
        ));
    }
}

/// Sum of the senders' nonces at `tag` (the transfers they had included by then).
pub(crate) async fn nonce_sum(conn: &mut Conn, senders: &[Address], tag: &str) -> Result<u64> {
    let mut sum = 0;
    for chunk in senders.chunks(500) {
        let calls: Vec<(&str, Value)> =
            chunk.iter().map(|a| ("eth_getTransactionCount", json!([a, tag]))).collect();
        for answer in conn.call_batch(&calls).await? {
            sum += quantity(&answer?)?;
        }
    }
    Ok(sum)
}

/// `Some(finalized head)` if on every gateway `finalized` is `latest`, the heads agree, and the
/// senders' nonces at `finalized` add up to `txs`.
async fn final_everywhere(
    conns: &mut [Conn],
    senders: &[Address],
    txs: usize,
) -> Result<Option<(String, u64)>> {
    let mut agreed: Option<(String, u64)> = None;
    for conn in conns.iter_mut() {
        let latest = block_head(conn, "latest").await?;
        let finalized = block_head(conn, "finalized").await?;
        if latest != finalized || agreed.as_ref().is_some_and(|a| *a != finalized) {
            return Ok(None);
        }
        if nonce_sum(conn, senders, "finalized").await? != txs as u64 {
            return Ok(None);
        }
        agreed = Some(finalized);
    }
    Ok(agreed)
}
