//! The load: pre-signed transfers sent open-loop, round-robin over the gateways, and the
//! finality of each one watched on every gateway with batched `ir3_transactionStatus` polls.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::U256;
use alloy_signer_local::PrivateKeySigner;
use ir3_bench::{
    error::{BenchError, Result},
    rpc::Conn,
    wallet::{RECIPIENT, SignedTx, sign_transfer},
};
use serde_json::{Value, json};

/// Most `ir3_transactionStatus` calls in one JSON-RPC batch (the node accepts 1000).
const MAX_BATCH: usize = 500;
/// Keep-alive connections opened to each gateway for the sends before the load starts.
const SEND_CONNS_PER_GATEWAY: usize = 4;
/// Consecutive failed status polls of one gateway after which the run is abandoned.
const MAX_POLL_FAILURES: u32 = 100;
/// The `reason` of a `dropped` status that is not final: the transaction reached the majority
/// too late for its epoch and its gateway stamps it again into an open epoch (ir3's
/// `DropReason::Late`). Such a transaction is counted as late and still waited for.
const LATE_REASON: &str = "its epoch became final without it";

/// One transaction of the load, signed before the load starts.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// The signed transfer.
    pub(crate) tx: SignedTx,
    /// Index of the gateway it is sent to.
    pub(crate) gateway: usize,
    /// Index of its sender among the signers.
    pub(crate) sender: usize,
    /// Its nonce.
    pub(crate) nonce: u64,
}

/// Signs `txs` transfers of 1 wei to [`RECIPIENT`]: round `r` has one transaction per sender
/// (nonce `start_nonces[s] + r`), in an order rotated by one sender per round, and transaction
/// `i` goes to gateway `i % gateways`. With 10 senders and 5 gateways a sender's consecutive
/// transactions thus go to different gateways.
pub(crate) fn plan(
    signers: &[PrivateKeySigner],
    start_nonces: &[u64],
    txs: usize,
    gateways: usize,
) -> Result<Vec<Planned>> {
    let senders = signers.len();
    (0..txs)
        .map(|i| {
            let round = i / senders;
            let sender = (i % senders + round) % senders;
            let nonce = start_nonces[sender] + round as u64;
            let tx = sign_transfer(&signers[sender], nonce, RECIPIENT, U256::from(1))?;
            Ok(Planned { tx, gateway: i % gateways, sender, nonce })
        })
        .collect()
}

/// How the load is driven.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadConfig {
    /// Sends per second (open loop: send `i` starts at `i / rate` s whatever came before).
    pub(crate) rate: f64,
    /// Interval between two status polls of one gateway.
    pub(crate) poll: Duration,
    /// How long a transaction may take, from its send, to be final on every gateway.
    pub(crate) final_timeout: Duration,
}

/// What was measured for one transaction.
#[derive(Debug, Clone)]
pub(crate) struct TxTimes {
    /// Just before its `eth_sendRawTransaction`.
    pub(crate) t0: Option<Instant>,
    /// When the sending gateway returned the hash.
    pub(crate) accepted: Option<Instant>,
    /// Per gateway: when a poll answer first said `final`.
    pub(crate) final_at: Vec<Option<Instant>>,
    /// Per gateway: the block number of the `final` answer.
    pub(crate) block: Vec<Option<u64>>,
    /// Per gateway: whether a poll answered `dropped` because the epoch was final without it
    /// (the transaction was stamped again).
    pub(crate) late: Vec<bool>,
}

impl TxTimes {
    fn new(gateways: usize) -> Self {
        Self {
            t0: None,
            accepted: None,
            final_at: vec![None; gateways],
            block: vec![None; gateways],
            late: vec![false; gateways],
        }
    }

    /// Final on every gateway.
    fn final_everywhere(&self) -> bool {
        self.final_at.iter().all(Option::is_some)
    }
}

/// The whole load's measurements.
#[derive(Debug)]
pub(crate) struct LoadResult {
    /// The plan, in send order.
    pub(crate) planned: Vec<Planned>,
    /// Per transaction, in send order.
    pub(crate) times: Vec<TxTimes>,
    /// First send to last send.
    pub(crate) send_span: Duration,
    /// First send until the last transaction was final everywhere.
    pub(crate) total: Duration,
    /// Status polls made (calls, not batches) and batches.
    pub(crate) polls: (u64, u64),
}

impl LoadResult {
    /// Send-to-hash latencies, sorted.
    pub(crate) fn accept_latencies(&self) -> Vec<Duration> {
        sorted(self.times.iter().filter_map(|t| Some(t.accepted? - t.t0?)))
    }

    /// Send-to-final-on-every-gateway latencies (the latest gateway counts), sorted.
    pub(crate) fn final_everywhere_latencies(&self) -> Vec<Duration> {
        sorted(self.times.iter().filter_map(|t| {
            let last = t.final_at.iter().copied().collect::<Option<Vec<_>>>()?.into_iter().max()?;
            Some(last - t.t0?)
        }))
    }

    /// Send-to-final-on-the-first-gateway latencies, sorted.
    pub(crate) fn final_first_latencies(&self) -> Vec<Duration> {
        sorted(self.times.iter().filter_map(|t| Some(*t.final_at.iter().flatten().min()? - t.t0?)))
    }

    /// Send-to-final-on-the-sending-gateway latencies, sorted.
    pub(crate) fn final_sender_latencies(&self) -> Vec<Duration> {
        sorted(
            self.times
                .iter()
                .zip(&self.planned)
                .filter_map(|(t, p)| Some(t.final_at[p.gateway]? - t.t0?)),
        )
    }

    /// Transactions some gateway reported `dropped` as late (their epoch became final without
    /// them), and the same seen by their sending gateway.
    pub(crate) fn late(&self) -> (usize, usize) {
        let any = self.times.iter().filter(|t| t.late.iter().any(|l| *l)).count();
        let sender =
            self.times.iter().zip(&self.planned).filter(|(t, p)| t.late[p.gateway]).count();
        (any, sender)
    }

    /// Lowest and highest block number the transactions were finalized in (as seen by the
    /// sending gateway), and whether every gateway reported the same block for each one.
    pub(crate) fn blocks(&self) -> (Option<u64>, Option<u64>, bool) {
        let numbers = self.times.iter().filter_map(|t| t.block.iter().flatten().next().copied());
        let agree = self.times.iter().all(|t| t.block.windows(2).all(|w| w[0] == w[1]));
        (numbers.clone().min(), numbers.max(), agree)
    }
}

fn sorted(values: impl Iterator<Item = Duration>) -> Vec<Duration> {
    let mut all: Vec<Duration> = values.collect();
    all.sort_unstable();
    all
}

/// State shared by the sender, the pollers and the supervisor.
struct Shared {
    times: Mutex<Vec<TxTimes>>,
    /// The first failure; set once, ends the run.
    failure: Mutex<Option<String>>,
    /// Every send has returned and every transaction is final everywhere (or the run failed).
    done: AtomicBool,
    polls: Mutex<(u64, u64)>,
}

impl Shared {
    fn fail(&self, message: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            *failure = Some(message);
        }
        self.done.store(true, Ordering::SeqCst);
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn times(&self) -> std::sync::MutexGuard<'_, Vec<TxTimes>> {
        self.times.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the load: sends `planned` open-loop at `config.rate` to `gateways[p.gateway]` and
/// polls every gateway until every transaction is final on all of them. Fails on a rejected
/// send, a wrong hash, a `dropped` status, or a transaction not final everywhere within
/// `config.final_timeout` of its send.
pub(crate) async fn run(
    gateways: &[SocketAddr],
    planned: Vec<Planned>,
    config: LoadConfig,
) -> Result<LoadResult> {
    let n = gateways.len();
    let shared = Arc::new(Shared {
        times: Mutex::new(vec![TxTimes::new(n); planned.len()]),
        failure: Mutex::new(None),
        done: AtomicBool::new(false),
        polls: Mutex::new((0, 0)),
    });
    let planned = Arc::new(planned);

    // Untimed: the send connections and one poll connection per gateway.
    let mut pools = Vec::with_capacity(n);
    for &addr in gateways {
        let mut pool = Vec::with_capacity(SEND_CONNS_PER_GATEWAY);
        for _ in 0..SEND_CONNS_PER_GATEWAY {
            pool.push(Conn::connect(addr).await?);
        }
        pools.push(Arc::new(Mutex::new(pool)));
    }
    let mut pollers = Vec::with_capacity(n);
    for (gateway, &addr) in gateways.iter().enumerate() {
        let conn = Conn::connect(addr).await?;
        let (shared, planned) = (shared.clone(), planned.clone());
        pollers.push(tokio::spawn(poll_gateway(gateway, conn, shared, planned, config)));
    }

    let start = Instant::now();
    let mut sends = Vec::with_capacity(planned.len());
    for index in 0..planned.len() {
        if shared.done.load(Ordering::SeqCst) {
            break;
        }
        let due = start + Duration::from_secs_f64(index as f64 / config.rate);
        tokio::time::sleep_until(due.into()).await;
        let (shared, planned) = (shared.clone(), planned.clone());
        let pool = pools[planned[index].gateway].clone();
        let addr = gateways[planned[index].gateway];
        sends.push(tokio::spawn(send_one(index, addr, pool, shared, planned)));
    }
    let last_send = Instant::now();
    for send in sends {
        send.await?;
    }

    // Wait until every transaction is final everywhere, or a failure.
    loop {
        if shared.failure().is_some() {
            break;
        }
        if shared.times().iter().all(TxTimes::final_everywhere) {
            shared.done.store(true, Ordering::SeqCst);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let total = start.elapsed();
    shared.done.store(true, Ordering::SeqCst);
    for poller in pollers {
        poller.await?;
    }
    if let Some(failure) = shared.failure() {
        return Err(BenchError::Setup(failure));
    }
    let times = shared.times().clone();
    let polls = *shared.polls.lock().unwrap_or_else(|e| e.into_inner());
    let planned = Arc::try_unwrap(planned).unwrap_or_else(|shared| (*shared).clone());
    Ok(LoadResult { planned, times, send_span: last_send - start, total, polls })
}

/// Sends transaction `index` on a pooled connection and records `t0` and the answer.
async fn send_one(
    index: usize,
    addr: SocketAddr,
    pool: Arc<Mutex<Vec<Conn>>>,
    shared: Arc<Shared>,
    planned: Arc<Vec<Planned>>,
) {
    let p = &planned[index];
    let pooled = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut conn = match pooled {
        Some(conn) => conn,
        None => match Conn::connect(addr).await {
            Ok(conn) => conn,
            Err(error) => {
                shared
                    .fail(format!("tx {index}: cannot connect to gateway {}: {error}", p.gateway));
                return;
            }
        },
    };
    let t0 = Instant::now();
    shared.times()[index].t0 = Some(t0);
    let answer = conn.send_raw(&p.tx.raw_hex).await;
    let at = Instant::now();
    match answer {
        Ok(hash) if hash == p.tx.hash => shared.times()[index].accepted = Some(at),
        Ok(hash) => shared.fail(format!(
            "tx {index}: gateway {} returned hash {hash}, expected {}",
            p.gateway, p.tx.hash
        )),
        Err(error) => shared.fail(format!(
            "tx {index} (sender {} nonce {}) rejected by gateway {}: {error}",
            p.sender, p.nonce, p.gateway
        )),
    }
    pool.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
}

/// Polls `gateway` every `config.poll` for the status of every sent transaction it has not yet
/// reported final, until the run is done.
async fn poll_gateway(
    gateway: usize,
    mut conn: Conn,
    shared: Arc<Shared>,
    planned: Arc<Vec<Planned>>,
    config: LoadConfig,
) {
    let mut ticker = tokio::time::interval(config.poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u32;
    while !shared.done.load(Ordering::SeqCst) {
        ticker.tick().await;
        let waiting: Vec<usize> = shared
            .times()
            .iter()
            .enumerate()
            .filter(|(_, t)| t.t0.is_some() && t.final_at[gateway].is_none())
            .map(|(index, _)| index)
            .collect();
        for chunk in waiting.chunks(MAX_BATCH) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .map(|&index| ("ir3_transactionStatus", json!([planned[index].tx.hash])))
                .collect();
            let answers = conn.call_batch(&calls).await;
            let now = Instant::now();
            {
                let mut polls = shared.polls.lock().unwrap_or_else(|e| e.into_inner());
                polls.0 += calls.len() as u64;
                polls.1 += 1;
            }
            let answers = match answers {
                Ok(answers) => {
                    failures = 0;
                    answers
                }
                Err(error) => {
                    failures += 1;
                    if failures >= MAX_POLL_FAILURES {
                        shared.fail(format!(
                            "gateway {gateway}: {failures} status polls in a row failed; \
                             last: {error}"
                        ));
                    }
                    break;
                }
            };
            let mut times = shared.times();
            for (&index, answer) in chunk.iter().zip(answers) {
                let t = &mut times[index];
                // A JSON-RPC error on one call is retried on the next poll (the timeout holds).
                let status = answer.unwrap_or_else(|error| json!({ "error": error.to_string() }));
                match status["status"].as_str().unwrap_or("?") {
                    "final" => {
                        t.final_at[gateway] = Some(now);
                        t.block[gateway] = status["blockNumber"].as_u64();
                    }
                    "dropped" if status["reason"].as_str() == Some(LATE_REASON) => {
                        t.late[gateway] = true;
                    }
                    "dropped" => {
                        let p = &planned[index];
                        shared.fail(format!(
                            "tx {index} (sender {} nonce {}, sent to gateway {}) dropped on \
                             gateway {gateway}: {}",
                            p.sender, p.nonce, p.gateway, status["reason"]
                        ));
                    }
                    _ => {}
                }
                if let Some(t0) = t.t0
                    && t.final_at[gateway].is_none()
                    && now - t0 > config.final_timeout
                {
                    let p = &planned[index];
                    shared.fail(format!(
                        "tx {index} (sender {} nonce {}, sent to gateway {}) not final on \
                         gateway {gateway} within {} s: status {status}",
                        p.sender,
                        p.nonce,
                        p.gateway,
                        config.final_timeout.as_secs_f64()
                    ));
                }
            }
        }
    }
}
