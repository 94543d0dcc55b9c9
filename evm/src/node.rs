//! The EVM app as a running node: the chain derived from the series, the pool, the miner
//! thread, and the notifications subscribers listen to.
//!
//! Data flow (pure flux): a transaction is validated against the latest state and pooled; the
//! miner executes pooled transactions into a block, appends `TxExecuted`/`BlockSealed` and the
//! `execute_eth_tx` intents to the series in one durable batch, and only then publishes the
//! block and answers the senders. Nothing here waits on a network: intents go to the outbox.

use std::{
    collections::HashMap,
    sync::{Arc, Weak, mpsc as std_mpsc},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, B256, Bytes};
use ir3_foundation::{EntryBody, Intent, Outbox, SeriesHandle, append, append_blocking};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{broadcast, oneshot};
use tracing::{debug, info, warn};

use crate::{
    accounts::DevAccounts,
    block::{SignedTx, StoredBlock},
    chain::Chain,
    config::ChainConfig,
    dev::{DevEvent, Setting},
    error::{EvmError, Result},
    events::{EVM_APP, EXECUTE_ETH_TX, EvmEvent},
    execute::execute_block,
    fork::Deferral,
    network::{NetworkOptions, NetworkState},
    pool::Pool,
    replay::replay_observed,
    state::StateStore,
};

pub use crate::dev::MiningMode;

/// How long `eth_sendRawTransaction` waits for its automined block before it records the
/// transaction as pooled and answers anyway.
pub const AUTOMINE_WAIT: Duration = Duration::from_secs(5);
/// Capacity of the new-block and new-transaction notification channels.
pub const NOTIFICATION_CAPACITY: usize = 4096;

/// What a node starts from.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Genesis configuration used when the series is empty.
    pub chain: ChainConfig,
    /// The dev accounts whose keys the node holds.
    pub accounts: DevAccounts,
    /// Mining mode to switch to. `None` keeps what the series says (automine for a new
    /// chain); a mode given here is recorded as a setting change when it differs.
    pub mining: Option<MiningMode>,
    /// Network mode: blocks are derived from envelopes ordered by epoch, not mined.
    pub network: Option<NetworkOptions>,
    /// The derived state store (on disk next to the series); `None` keeps it in memory.
    pub state_store: Option<Arc<StateStore>>,
}

enum MinerSignal {
    /// Mine what is executable in the pool, if anything.
    Kick,
}

/// The running EVM app.
///
/// Lock order: whoever holds several of its locks takes them in this order, never the
/// reverse: `mutation`, then `chain`, then `pool`, then `waiters` (skipping any). A path that
/// takes them the other way round (as the rollback of a block whose append failed once did,
/// waiters before pool) deadlocks against a concurrent submit.
#[derive(Debug)]
pub struct EvmNode {
    pub(crate) chain: RwLock<Chain>,
    pub(crate) pool: Mutex<Pool>,
    pub(crate) waiters: Mutex<HashMap<B256, oneshot::Sender<Result<()>>>>,
    pub(crate) series: SeriesHandle,
    outbox: Outbox,
    pub(crate) accounts: DevAccounts,
    /// Serializes everything that moves the chain: sealing a block and dev-mode changes, so
    /// the series' order is the order in which they were applied.
    pub(crate) mutation: Mutex<()>,
    /// Network mode's ordering state.
    pub(crate) network: Option<NetworkState>,
    miner: std_mpsc::SyncSender<MinerSignal>,
    pub(crate) new_blocks: broadcast::Sender<Arc<StoredBlock>>,
    pub(crate) new_transactions: broadcast::Sender<B256>,
    /// How the chain was derived at start-up.
    startup: crate::replay::Startup,
}

impl std::fmt::Debug for MinerSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kick")
    }
}

/// How many times [`EvmNode::read_state`] fetches missed fork values and retries before it
/// reads the rest under the lock.
const MAX_DEFERRED_ROUNDS: usize = 64;

/// Runs blocking work off the async runtime's workers: in `block_in_place` on a multi-threaded
/// runtime's worker (elsewhere, e.g. on a blocking thread or a current-thread runtime, as is).
fn outside_the_runtime<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl EvmNode {
    /// Derives the chain from the series (creating the genesis if the series is new), then
    /// starts the miner. Blocks on disk work: call it from a blocking context inside a tokio
    /// runtime (e.g. `tokio::task::block_in_place`).
    pub fn open(options: NodeOptions, series: SeriesHandle, outbox: Outbox) -> Result<Arc<Self>> {
        Self::open_observed(options, series, outbox, &mut |_| {})
    }

    /// [`EvmNode::open`], showing every series entry of the start-up pass to `observer` too,
    /// so that the other consumers of the series are fed by the same single pass.
    pub fn open_observed(
        options: NodeOptions,
        series: SeriesHandle,
        outbox: Outbox,
        observer: &mut dyn FnMut(&ir3_foundation::RawEntry<'_>),
    ) -> Result<Arc<Self>> {
        let started = std::time::Instant::now();
        let default_mining = options.mining.unwrap_or(MiningMode::Auto);
        let store = options.state_store.clone().unwrap_or_else(StateStore::in_memory);
        let mut startup = crate::replay::Startup::default();
        let (chain, pooled, network_events) =
            match replay_observed(&*series, default_mining, store.clone(), observer)? {
                Some(replayed) => {
                    let stored = replayed.chain.config();
                    let requested = ChainConfig {
                        genesis_timestamp: stored.genesis_timestamp,
                        ..options.chain.clone()
                    };
                    if stored != &requested {
                        info!(
                            "series holds an existing chain; its genesis wins over the command line"
                        );
                    }
                    startup = replayed.startup;
                    (replayed.chain, replayed.pooled, replayed.network)
                }
                None => {
                    let genesis = EvmEvent::Genesis(options.chain.clone()).to_body()?;
                    let origin = match &genesis {
                        EntryBody::App { payload, .. } => alloy_primitives::keccak256(payload),
                        _ => B256::ZERO,
                    };
                    let seq = append_blocking(&*series, vec![genesis])?;
                    let mut chain =
                        Chain::genesis_in(options.chain.clone(), default_mining, store)?;
                    chain.series.origin = origin;
                    chain.series.next = Some(seq + 1);
                    (chain, Vec::new(), Vec::new())
                }
            };
        let mut chain = chain;
        let mut started_events =
            vec![EntryBody::NodeStarted { version: env!("CARGO_PKG_VERSION").to_string() }];
        let mining_change = options
            .mining
            .filter(|mode| chain.settings().mining != *mode)
            .map(|mode| DevEvent::Setting(Setting::Mining(mode)));
        if let Some(event) = &mining_change {
            started_events.push(EvmEvent::Dev(event.clone()).to_body()?);
        }
        let first = append_blocking(&*series, started_events)?;
        if let Some(event) = &mining_change {
            chain.apply_dev(event)?;
            chain.note_applied(first + 1);
        }
        if options.network.is_some() {
            // Network mode's chain is rebuilt from epochs: it writes no resume checkpoints.
            chain.series.next = None;
        }
        info!(
            head = chain.head_number(),
            entries = series.len(),
            pooled = pooled.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "chain derived from the series"
        );
        let network = options
            .network
            .map(|network| NetworkState::replay(network, &mut chain, network_events));
        let mut pool = Pool::default();
        for tx in pooled {
            if tx.nonce() >= chain.latest_nonce(tx.sender) {
                let _ = pool.insert(tx);
            }
        }
        let (miner, signals) = std_mpsc::sync_channel(1);
        let node = Arc::new(Self {
            chain: RwLock::new(chain),
            pool: Mutex::new(pool),
            waiters: Mutex::new(HashMap::new()),
            series,
            outbox,
            accounts: options.accounts,
            mutation: Mutex::new(()),
            network,
            miner,
            new_blocks: broadcast::channel(NOTIFICATION_CAPACITY).0,
            new_transactions: broadcast::channel(NOTIFICATION_CAPACITY).0,
            startup,
        });
        let weak = Arc::downgrade(&node);
        std::thread::Builder::new()
            .name("evm-miner".into())
            .spawn(move || run_miner(weak, signals))
            .map_err(|e| EvmError::Internal(format!("cannot start the miner: {e}")))?;
        if !node.pool.lock().is_empty() {
            node.kick_miner();
        }
        Ok(node)
    }

    /// Moves everything the chain holds in memory to the derived store with a resume checkpoint
    /// and makes it durable, so that the next start resumes from here (a clean shutdown).
    pub fn flush_store(&self) {
        let _mutation = self.mutation.lock();
        let mut chain = self.chain.write();
        chain.flush_and_wait();
        if let Err(error) = chain.state().store().make_durable() {
            warn!(%error, "the derived store could not be made durable");
        }
    }

    /// How the chain was derived at start-up: resumed from the store or rebuilt.
    pub fn startup(&self) -> crate::replay::Startup {
        self.startup
    }

    /// The chain's configuration.
    pub fn config(&self) -> ChainConfig {
        self.chain.read().config().clone()
    }

    /// The series this node appends to (shared with the peer-to-peer layer).
    pub fn series_handle(&self) -> SeriesHandle {
        self.series.clone()
    }

    /// The dev accounts.
    pub fn accounts(&self) -> &DevAccounts {
        &self.accounts
    }

    /// The mining mode in force.
    pub fn mining(&self) -> MiningMode {
        self.chain.read().settings().mining
    }

    /// Runs `f` with read access to the chain. `f` must not read state a forked parent may
    /// have to answer: use [`EvmNode::read_state`] for that.
    pub fn with_chain<T>(&self, f: impl FnOnce(&Chain) -> T) -> T {
        f(&self.chain.read())
    }

    /// Runs `read` with read access to the chain, never holding the lock while a forked parent
    /// is asked: values of the parent not cached yet are recorded (answered empty), fetched
    /// with the lock released (on a runtime worker inside `block_in_place`) and `read` runs
    /// again, until a run misses nothing. So a slow parent stalls only this reader, not the
    /// miner's write nor the requests queued behind it. `read` may run several times.
    pub fn read_state<T>(&self, mut read: impl FnMut(&Chain) -> T) -> T {
        let mut deferral = Deferral::default();
        for _ in 0..MAX_DEFERRED_ROUNDS {
            let chain = self.chain.read();
            let Some(fork) = chain.state().fork().cloned() else { return read(&chain) };
            let (value, misses) = deferral.run(|| read(&chain));
            if misses.is_empty() {
                return value;
            }
            drop(chain);
            outside_the_runtime(|| deferral.fetch(&fork, misses));
        }
        debug!("fork reads still missing after {MAX_DEFERRED_ROUNDS} rounds: read under the lock");
        read(&self.chain.read())
    }

    /// Subscribes to newly published blocks.
    pub fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<StoredBlock>> {
        self.new_blocks.subscribe()
    }

    /// Subscribes to hashes of newly accepted transactions.
    pub fn subscribe_transactions(&self) -> broadcast::Receiver<B256> {
        self.new_transactions.subscribe()
    }

    /// A pooled (not yet mined) transaction.
    pub fn pooled_transaction(&self, hash: &B256) -> Option<Arc<SignedTx>> {
        self.pool.lock().get(hash)
    }

    /// The next nonce of an account counting its pooled transactions.
    pub fn pending_nonce(&self, address: Address) -> u64 {
        // A forked parent's account is fetched without the lock first (then read from the cache
        // under it, with the pool, so that a block mined meanwhile is seen by both).
        self.read_state(|chain| chain.latest_nonce(address));
        let chain = self.chain.read();
        let state_nonce = chain.latest_nonce(address);
        self.pool.lock().pending_nonce(address, state_nonce)
    }

    pub(crate) fn kick_miner(&self) {
        let _ = self.miner.try_send(MinerSignal::Kick);
    }

    /// Accepts raw signed transaction bytes; answers once the transaction is durable (mined in a
    /// block, or recorded as pooled).
    pub async fn send_raw_transaction(&self, raw: Bytes) -> Result<B256> {
        let tx = Arc::new(SignedTx::decode(&raw)?);
        self.submit(tx).await
    }

    /// Validates and pools a transaction, then waits until it is durable.
    pub async fn submit(&self, tx: Arc<SignedTx>) -> Result<B256> {
        if self.network.is_some() {
            return self.submit_networked(tx).await;
        }
        let hash = tx.hash;
        // The sender's account of a forked parent is fetched without the lock (see above).
        self.read_state(|chain| chain.latest_nonce(tx.sender));
        let (waiter, replaced) = {
            let chain = self.chain.read();
            crate::submit::validate(&chain, &tx)?;
            let state_nonce = chain.latest_nonce(tx.sender);
            let mut pool = self.pool.lock();
            let pending_nonce = pool.pending_nonce(tx.sender, state_nonce);
            let replaced = pool.insert(tx.clone())?;
            let automine = chain.settings().mining == MiningMode::Auto;
            let waiter = (automine && tx.nonce() <= pending_nonce).then(|| {
                let (sender, receiver) = oneshot::channel();
                self.waiters.lock().insert(hash, sender);
                receiver
            });
            (waiter, replaced)
        };
        if let Some(old) = &replaced
            && let Some(waiter) = self.waiters.lock().remove(&old.hash)
        {
            let _ = waiter.send(Err(EvmError::InvalidTransaction("replaced".into())));
        }
        let _ = self.new_transactions.send(hash);
        if let Some(waiter) = waiter {
            self.kick_miner();
            match tokio::time::timeout(AUTOMINE_WAIT, waiter).await {
                Ok(Ok(outcome)) => return outcome.map(|()| hash),
                Ok(Err(_)) => return Err(EvmError::ShuttingDown),
                Err(_) => {
                    self.waiters.lock().remove(&hash);
                    debug!(%hash, "not mined in time; recording it as pooled");
                }
            }
        }
        let pooled = match tx.impersonated {
            true => EvmEvent::TxPooledAs { raw: tx.raw.clone(), sender: tx.sender },
            false => EvmEvent::TxPooled { raw: tx.raw.clone() },
        };
        let mut events = vec![pooled.to_body()?];
        if let Some(old) = &replaced {
            events.push(EvmEvent::TxDropped { hashes: vec![old.hash] }.to_body()?);
        }
        if let Err(error) = append(&*self.series, events).await {
            self.pool.lock().remove(&hash);
            return Err(error.into());
        }
        if self.mining() == MiningMode::Auto {
            self.kick_miner();
        }
        Ok(hash)
    }

    /// Mines one block from the pool. With `allow_empty`, mines even when nothing is
    /// executable. Runs on the miner thread (it blocks on the series' fsync).
    pub(crate) fn mine_block(&self, allow_empty: bool) -> Result<Option<Arc<StoredBlock>>> {
        if self.network.is_some() {
            return Err(EvmError::InvalidParams(
                "network mode: blocks are derived from epochs, not mined".into(),
            ));
        }
        let _mutation = self.mutation.lock();
        // The miner decided to automine before it had the lock; automine may have been turned
        // off meanwhile (and a transaction sent for a later `evm_mine`).
        if !allow_empty && self.mining() != MiningMode::Auto {
            return Ok(None);
        }
        let now = unix_now();
        let (context, mut execution, forced_time) = {
            let chain = self.chain.read();
            let base_fee = chain.next_base_fee();
            let candidates = self.pool.lock().best(|a| chain.latest_nonce(a), base_fee);
            if candidates.is_empty() && !allow_empty {
                return Ok(None);
            }
            let context = chain.next_context(now);
            let parent = chain.state_at(chain.head_number());
            let execution = execute_block(
                parent,
                chain.config(),
                &context,
                chain.next_excess_blob_gas(context.timestamp),
                candidates,
            );
            // A block at an exact timestamp moves the clock: later blocks continue from it.
            let forced_time = chain
                .settings()
                .next_timestamp
                .map(|ts| Setting::TimeOffset(i64::try_from(ts).unwrap_or(i64::MAX) - now as i64));
            (context, execution, forced_time)
        };
        let rejected = std::mem::take(&mut execution.rejected);
        let deferred = !execution.deferred.is_empty();
        let mut dropped_events = Vec::new();
        if !rejected.is_empty() {
            let hashes = rejected.iter().map(|(tx, _)| tx.hash).collect();
            dropped_events.push(EvmEvent::TxDropped { hashes }.to_body()?);
        }
        if execution.included.is_empty() && !allow_empty {
            if !dropped_events.is_empty() {
                append_blocking(&*self.series, dropped_events)?;
            }
            self.finish_rejected(rejected);
            return Ok(None);
        }
        let block = self.chain.write().seal(&context, execution);
        let intents: Vec<Intent> = block
            .transactions
            .iter()
            .map(|tx| Intent::new(EVM_APP, EXECUTE_ETH_TX, tx.raw.to_vec()))
            .collect();
        let mut events = Vec::with_capacity(block.transactions.len() * 2 + 2);
        for (index, tx) in block.transactions.iter().enumerate() {
            let (block_number, index, raw) = (block.number(), index as u32, tx.raw.clone());
            let event = match tx.impersonated {
                true => {
                    EvmEvent::TxExecutedAs { block: block_number, index, raw, sender: tx.sender }
                }
                false => {
                    EvmEvent::TxExecuted { block: block_number, index, raw, sender: tx.sender }
                }
            };
            events.push(event.to_body()?);
        }
        events.push(
            EvmEvent::BlockSealed {
                context,
                tx_count: block.transactions.len() as u32,
                hash: block.hash,
                state_root: block.header.state_root,
            }
            .to_body()?,
        );
        events.extend(intents.iter().map(|i| EntryBody::IntentPushed(i.record())));
        events.extend(dropped_events);
        if let Some(setting) = &forced_time {
            events.push(EvmEvent::Dev(DevEvent::Setting(setting.clone())).to_body()?);
        }
        let event_count = events.len() as u64;
        let appended = append_blocking(&*self.series, events);
        let first = match appended {
            Ok(first) => first,
            Err(error) => {
                warn!(%error, number = block.number(), "block could not be made durable; rolled back");
                self.chain.write().rollback();
                // Lock order (see `EvmNode`): the pool, then the waiters.
                let mut pool = self.pool.lock();
                let mut waiters = self.waiters.lock();
                for tx in &block.transactions {
                    if let Some(waiter) = waiters.remove(&tx.hash) {
                        pool.remove(&tx.hash);
                        let _ = waiter.send(Err(EvmError::Series(error.replicate())));
                    }
                }
                return Err(error.into());
            }
        };
        let block = {
            let mut chain = self.chain.write();
            let sealed_at = first + block.transactions.len() as u64;
            chain.note_sealed(sealed_at, block.hash);
            let block = chain.publish(block);
            if let Some(setting) = forced_time {
                chain.apply_dev(&DevEvent::Setting(setting))?;
                chain.note_applied(first + event_count - 1);
            }
            block
        };
        {
            let mut pool = self.pool.lock();
            for tx in &block.transactions {
                pool.remove(&tx.hash);
            }
        }
        for intent in intents {
            self.outbox.push(intent);
        }
        {
            let mut waiters = self.waiters.lock();
            for tx in &block.transactions {
                if let Some(waiter) = waiters.remove(&tx.hash) {
                    let _ = waiter.send(Ok(()));
                }
            }
        }
        self.finish_rejected(rejected);
        let _ = self.new_blocks.send(block.clone());
        if deferred {
            self.kick_miner();
        }
        Ok(Some(block))
    }

    fn finish_rejected(&self, rejected: Vec<(Arc<SignedTx>, EvmError)>) {
        let mut pool = self.pool.lock();
        let mut waiters = self.waiters.lock();
        for (tx, error) in rejected {
            pool.remove(&tx.hash);
            if let Some(waiter) = waiters.remove(&tx.hash) {
                let _ = waiter.send(Err(error));
            }
        }
    }

    /// Mines one block now, even an empty one (the `evm_mine` primitive).
    pub async fn mine_now(self: &Arc<Self>) -> Result<Arc<StoredBlock>> {
        let node = self.clone();
        tokio::task::spawn_blocking(move || {
            node.mine_block(true)?.ok_or_else(|| EvmError::Internal("no block was mined".into()))
        })
        .await
        .map_err(|e| EvmError::Internal(e.to_string()))?
    }
}

fn run_miner(node: Weak<EvmNode>, signals: std_mpsc::Receiver<MinerSignal>) {
    let mut next_tick: Option<Instant> = None;
    loop {
        let mode = match node.upgrade() {
            Some(node) => node.mining(),
            None => return,
        };
        let signal = match mode {
            MiningMode::Interval(every) => {
                let deadline = *next_tick.get_or_insert_with(|| Instant::now() + every);
                match signals.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(signal) => Some(signal),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {
                        next_tick = Some(deadline + every);
                        None
                    }
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
            MiningMode::Auto | MiningMode::Manual => {
                next_tick = None;
                match signals.recv() {
                    Ok(signal) => Some(signal),
                    Err(_) => return,
                }
            }
        };
        let Some(node) = node.upgrade() else { return };
        let outcome = match (signal, node.mining()) {
            // Interval mining seals a block every tick, empty or not.
            (None, MiningMode::Interval(_)) => node.mine_block(true),
            (Some(MinerSignal::Kick), MiningMode::Auto) => node.mine_block(false),
            // A mode change: the loop picks up the new mode.
            (Some(MinerSignal::Kick), MiningMode::Interval(every)) => {
                if mode != MiningMode::Interval(every) {
                    next_tick = None;
                }
                Ok(None)
            }
            _ => Ok(None),
        };
        if let Err(error) = outcome {
            warn!(%error, "mining failed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
