//! Deriving the chain from the series.
//!
//! A restart resumes from the derived store's checkpoint ([`crate::resume`]): one pass over
//! the series re-applies only the entries after the checkpoint's position, and reads the earlier
//! ones just for what the store does not keep (the pool) and to check that the store belongs to
//! this series (its genesis event, and the sealed block the checkpoint names at its position).
//! A store without a checkpoint, from another chain, ahead of its series or failing a check is
//! emptied and rebuilt by a full replay, which re-executes every sealed block and checks it
//! against its recorded hash, with a progress line.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::{B256, keccak256};
use ir3_foundation::{FoundationError, RawEntry, Series};
use tracing::{info, warn};

use crate::{
    block::SignedTx,
    chain::Chain,
    dev::{DevEvent, MiningMode, PooledRaw},
    error::{EvmError, Result},
    events::{BlockContext, EVM_APP, EvmEvent},
    execute::execute_block,
    network::NetworkEvent,
    resume::Checkpoint,
    state::StateStore,
};

/// How often a full rebuild reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The pool as the series describes it, in arrival order. Transactions are kept encoded and
/// decoded (sender recovery) only if still pooled at the end.
#[derive(Debug, Default)]
struct ReplayedPool {
    entries: HashMap<B256, (u64, PooledRaw)>,
    next: u64,
    /// The pool each live snapshot recorded (a revert restores it).
    snapshots: BTreeMap<u64, Vec<PooledRaw>>,
}

impl ReplayedPool {
    fn add(&mut self, tx: PooledRaw) {
        self.entries.insert(keccak256(&tx.raw), (self.next, tx));
        self.next += 1;
    }

    fn remove(&mut self, hash: &B256) {
        self.entries.remove(hash);
    }

    fn replace(&mut self, txs: Vec<PooledRaw>) {
        self.entries.clear();
        for tx in txs {
            self.add(tx);
        }
    }

    /// Follows a dev event's effect on the pool (a revert restores the snapshot's, a reset
    /// empties it), exactly as [`Chain::apply_dev`] does for the chain.
    fn apply_dev(&mut self, event: &DevEvent) {
        match event {
            DevEvent::Snapshot { id, pool } => {
                self.snapshots.insert(*id, pool.clone());
            }
            DevEvent::Revert { id } => {
                if let Some(pool) = self.snapshots.get(id).cloned() {
                    self.snapshots.split_off(id);
                    self.replace(pool);
                }
            }
            DevEvent::Reset(_) | DevEvent::LegacyReset(_) => {
                self.snapshots.clear();
                self.replace(Vec::new());
            }
            _ => {}
        }
    }

    fn into_ordered(self, chain: &Chain) -> Vec<Arc<SignedTx>> {
        let mut entries: Vec<_> = self
            .entries
            .into_iter()
            .filter(|(hash, _)| !chain.contains_tx(hash))
            .map(|(_, entry)| entry)
            .collect();
        entries.sort_by_key(|(seq, _)| *seq);
        entries
            .into_iter()
            .filter_map(|(_, tx)| {
                tx.decode()
                    .map_err(|error| warn!(%error, "a pooled transaction no longer decodes"))
                    .ok()
            })
            .map(Arc::new)
            .collect()
    }
}

/// What a resume checks on the way to its position.
#[derive(Debug)]
struct ResumeChecks {
    /// The first entry applied in full.
    from: u64,
    /// Expected hash of the first genesis event's payload.
    origin: B256,
    /// The sealed block the checkpoint names: entry and hash.
    sealed: Option<(u64, B256)>,
    /// Whether the first genesis event was seen.
    genesis_seen: bool,
    sealed_seen: bool,
}

/// Everything replay carries between events.
struct Replayer {
    /// Where the chain's state history goes.
    store: Arc<StateStore>,
    chain: Option<Chain>,
    block_txs: Vec<Arc<SignedTx>>,
    pool: ReplayedPool,
    mining: MiningMode,
    network: Vec<NetworkEvent>,
    /// `Some` when resuming from a checkpoint.
    resume: Option<ResumeChecks>,
    /// Full rebuild: when progress was last reported.
    progress: Option<Instant>,
    total_entries: u64,
    /// Full replay: hash of the first genesis event's payload.
    origin: Option<B256>,
}

/// How the chain was derived at start-up (reported by `ir3_nodeInfo`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Startup {
    /// Whether the node resumed from the derived store (else a full replay rebuilt it).
    pub resumed: bool,
    /// The first series entry re-applied (0 for a full replay).
    pub from_entry: u64,
    /// Entries in the series at start.
    pub entries: u64,
    /// Time taken to derive the chain, in milliseconds.
    pub elapsed_ms: u64,
}

/// What replay derives.
#[derive(Debug)]
pub struct Replayed {
    /// The chain (blocks sealed locally; network-mode blocks are derived from `envelopes`).
    pub chain: Chain,
    /// Transactions still pooled.
    pub pooled: Vec<Arc<SignedTx>>,
    /// Network mode: every envelope admitted and height decided, in series order.
    pub network: Vec<NetworkEvent>,
    /// How it was derived.
    pub startup: Startup,
}

/// Replays the series into a chain, the transactions still pooled and the network envelopes;
/// `None` for a series without a genesis. Resumes from the store's checkpoint when it has a
/// valid one, else empties the store and rebuilds it. `mining` is the mode of a chain whose
/// series never set one.
pub fn replay(
    series: &dyn Series,
    mining: MiningMode,
    store: Arc<StateStore>,
) -> Result<Option<Replayed>> {
    replay_observed(series, mining, store, &mut |_| {})
}

/// [`replay`], showing every series entry to `observer` too (once each, even when a resume
/// fails half-way and a rebuild reads the series again): the other consumers of the series
/// (native apps, peer facts) are fed by the same pass.
pub fn replay_observed(
    series: &dyn Series,
    mining: MiningMode,
    store: Arc<StateStore>,
    observer: &mut dyn FnMut(&RawEntry<'_>),
) -> Result<Option<Replayed>> {
    let started = Instant::now();
    let mut observed = Observed { observer, next: 0 };
    match Chain::resume(store.clone()) {
        Ok(Some((chain, checkpoint))) if checkpoint.series_next <= series.len() => {
            match run(series, mining, store.clone(), Some((chain, &checkpoint)), &mut observed) {
                Ok(mut replayed) => {
                    if let Some(replayed) = &mut replayed {
                        replayed.startup = Startup {
                            resumed: true,
                            from_entry: checkpoint.series_next,
                            entries: series.len(),
                            elapsed_ms: started.elapsed().as_millis() as u64,
                        };
                    }
                    info!(
                        from_entry = checkpoint.series_next,
                        entries = series.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "resumed from the derived store"
                    );
                    return Ok(replayed);
                }
                Err(error) => warn!(%error, "the derived store cannot be resumed from"),
            }
        }
        Ok(Some((_, checkpoint))) => warn!(
            checkpoint = checkpoint.series_next,
            entries = series.len(),
            "the derived store is ahead of its series"
        ),
        Ok(None) => {}
        Err(reason) => warn!(%reason, "the derived store cannot be resumed from"),
    }
    if !series.is_empty() {
        info!(entries = series.len(), "rebuilding the derived store from the series");
    }
    let mut replayed = run(series, mining, store, None, &mut observed)?;
    if let Some(replayed) = &mut replayed {
        replayed.startup = Startup {
            resumed: false,
            from_entry: 0,
            entries: series.len(),
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        info!(
            head = replayed.chain.head_number(),
            entries = series.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "derived store rebuilt"
        );
    }
    Ok(replayed)
}

/// The observer of [`replay_observed`] and the first entry it has not seen.
struct Observed<'o> {
    observer: &'o mut dyn FnMut(&RawEntry<'_>),
    next: u64,
}

impl Observed<'_> {
    fn show(&mut self, entry: &RawEntry<'_>) {
        if entry.seq >= self.next {
            (self.observer)(entry);
            self.next = entry.seq + 1;
        }
    }
}

/// One pass over the series: from the start (`resume` is `None`), or re-applying only the
/// entries after a checkpoint's position.
fn run(
    series: &dyn Series,
    mining: MiningMode,
    store: Arc<StateStore>,
    resume: Option<(Chain, &Checkpoint)>,
    observed: &mut Observed<'_>,
) -> Result<Option<Replayed>> {
    let (chain, resume) = match resume {
        Some((chain, checkpoint)) => {
            let checks = ResumeChecks {
                from: checkpoint.series_next,
                origin: checkpoint.origin,
                sealed: checkpoint.sealed,
                genesis_seen: false,
                sealed_seen: checkpoint.sealed.is_none(),
            };
            (Some(chain), Some(checks))
        }
        None => (None, None),
    };
    let full = resume.is_none();
    let chain = chain.map(|mut chain| {
        chain.set_bulk(true);
        chain
    });
    let mut replayer = Replayer {
        store,
        chain,
        block_txs: Vec::new(),
        pool: ReplayedPool::default(),
        mining,
        network: Vec::new(),
        resume,
        progress: full.then(Instant::now),
        total_entries: series.len(),
        origin: None,
    };
    let mut failure: Option<EvmError> = None;
    let outcome = series.replay_raw(&mut |entry| {
        observed.show(entry);
        replayer.entry(entry).map_err(|error| {
            failure = Some(error);
            FoundationError::Encode("replay stopped".into())
        })
    });
    if let Some(error) = failure {
        return Err(error);
    }
    outcome?;
    if let Some(chain) = &mut replayer.chain {
        chain.check_recorded_root()?;
        // Back to live batching, with what the last bulk batch gathered written now (a crash
        // right after start-up then resumes from here).
        chain.set_bulk(false);
        chain.flush_and_wait();
    }
    if let Some(checks) = &replayer.resume
        && !(checks.genesis_seen && checks.sealed_seen)
    {
        return Err(EvmError::Internal(
            "the series does not hold the checkpoint's genesis or sealed block".into(),
        ));
    }
    let Replayer { chain, pool, network, .. } = replayer;
    Ok(chain.map(|chain| {
        let pooled = pool.into_ordered(&chain);
        Replayed { chain, pooled, network, startup: Startup::default() }
    }))
}

/// Tags of the events a resume must decode before its position (see [`EvmEvent`]'s order).
const TAG_LEGACY_GENESIS: u8 = 0;
const TAG_LEGACY_TX_EXECUTED: u8 = 2;
const TAG_LEGACY_BLOCK_SEALED: u8 = 3;
const TAG_TX_EXECUTED_AS: u8 = 5;
const TAG_ENVELOPE: u8 = 8;
const TAG_CHECKPOINT: u8 = 10;
const TAG_BLOCK_SEALED: u8 = 11;
const TAG_TX_EXECUTED: u8 = 12;
const TAG_GENESIS: u8 = 14;
const TAG_BLOCK_IMPORTED: u8 = 15;

impl Replayer {
    fn chain(&mut self, number: u64) -> Result<&mut Chain> {
        self.chain.as_mut().ok_or_else(|| EvmError::ReplayDiverged {
            number,
            reason: "event before genesis".into(),
        })
    }

    fn entry(&mut self, entry: &RawEntry<'_>) -> Result<()> {
        // An EVM event's payload starts with its variant tag (postcard; every tag is below 128,
        // so one byte).
        let Some(payload) = entry.app().filter(|(app, _)| *app == EVM_APP).map(|(_, p)| p) else {
            return Ok(());
        };
        let Some(&tag) = payload.first() else { return Ok(()) };
        if let Some(progress) = &mut self.progress
            && progress.elapsed() >= PROGRESS_EVERY
        {
            *progress = Instant::now();
            info!(
                entry = entry.seq,
                of = self.total_entries,
                head = self.chain.as_ref().map_or(0, |c| c.head_number()),
                "rebuilding the derived store"
            );
        }
        let before_position = self.resume.as_ref().is_some_and(|r| entry.seq < r.from);
        if before_position {
            // Executed transactions never matter here; sealed blocks only at the checkpoint's;
            // network events never (network mode writes no checkpoints).
            let skip = match tag {
                TAG_LEGACY_TX_EXECUTED | TAG_TX_EXECUTED | TAG_TX_EXECUTED_AS => true,
                TAG_LEGACY_BLOCK_SEALED | TAG_BLOCK_SEALED | TAG_BLOCK_IMPORTED => self
                    .resume
                    .as_ref()
                    .is_none_or(|r| r.sealed.is_none_or(|(seq, _)| seq != entry.seq)),
                TAG_ENVELOPE..=TAG_CHECKPOINT => true,
                _ => false,
            };
            if skip {
                return Ok(());
            }
        }
        if tag == TAG_GENESIS || tag == TAG_LEGACY_GENESIS {
            self.check_origin(payload)?;
        }
        let event = EvmEvent::decode(payload)?;
        self.follow_pool(&event);
        if before_position {
            let hash = match &event {
                EvmEvent::BlockSealed { hash, .. } | EvmEvent::LegacyBlockSealed { hash, .. } => {
                    Some(*hash)
                }
                EvmEvent::BlockImported { raw } => {
                    Some(crate::import::decode_block(raw)?.header.hash_slow())
                }
                _ => None,
            };
            if let (Some(hash), Some(checks)) = (hash, &mut self.resume)
                && checks.sealed.is_some_and(|(seq, sealed)| seq == entry.seq && sealed == hash)
            {
                checks.sealed_seen = true;
            }
            return Ok(());
        }
        self.apply(entry.seq, event)
    }

    /// The first genesis event names the chain: a resume checks it is the checkpoint's; a full
    /// replay records it.
    fn check_origin(&mut self, payload: &[u8]) -> Result<()> {
        let origin = keccak256(payload);
        match &mut self.resume {
            Some(checks) if !checks.genesis_seen => {
                if checks.origin != origin {
                    return Err(EvmError::Internal("the store holds another chain".into()));
                }
                checks.genesis_seen = true;
            }
            Some(_) => {}
            None => {
                self.origin.get_or_insert(origin);
            }
        }
        Ok(())
    }

    /// The pool's side of an event (every entry, before and after the resume position).
    /// Executed transactions need not be removed here: the pool is filtered against the chain
    /// at the end, and a revert or reset replaces the pool wholesale (as it does live).
    fn follow_pool(&mut self, event: &EvmEvent) {
        match event {
            EvmEvent::TxPooled { raw } => {
                self.pool.add(PooledRaw { raw: raw.clone(), impersonated_sender: None });
            }
            EvmEvent::TxPooledAs { raw, sender } => {
                self.pool.add(PooledRaw { raw: raw.clone(), impersonated_sender: Some(*sender) });
            }
            EvmEvent::TxDropped { hashes } => {
                for hash in hashes {
                    self.pool.remove(hash);
                }
            }
            EvmEvent::Dev(event) => self.pool.apply_dev(event),
            _ => {}
        }
    }

    fn apply(&mut self, seq: u64, event: EvmEvent) -> Result<()> {
        match event {
            EvmEvent::LegacyGenesis(config) => {
                return self.apply(seq, EvmEvent::Genesis(config.into()));
            }
            EvmEvent::Genesis(config) => {
                let mut chain = Chain::genesis_in(config, self.mining, self.store.clone())?;
                chain.series.origin = self.origin.unwrap_or_default();
                chain.series.next = Some(seq + 1);
                chain.set_bulk(true);
                self.chain = Some(chain);
            }
            EvmEvent::TxPooled { .. }
            | EvmEvent::TxPooledAs { .. }
            | EvmEvent::TxDropped { .. } => {}
            EvmEvent::TxExecuted { raw, sender, .. } => {
                self.block_txs.push(Arc::new(SignedTx::decode_recovered(&raw, sender)?));
            }
            EvmEvent::LegacyTxExecuted { raw, .. } => {
                self.block_txs.push(Arc::new(SignedTx::decode(&raw)?));
            }
            EvmEvent::TxExecutedAs { raw, sender, .. } => {
                self.block_txs.push(Arc::new(SignedTx::decode_impersonated(&raw, sender)?));
            }
            EvmEvent::BlockSealed { context, tx_count, hash, state_root } => {
                self.seal(seq, &context, tx_count, hash, Some(state_root))?;
            }
            EvmEvent::LegacyBlockSealed { context, tx_count, hash } => {
                self.seal(seq, &context, tx_count, hash, None)?;
            }
            EvmEvent::Envelope(envelope) => self.network.push(NetworkEvent::Envelope(envelope)),
            EvmEvent::RetiredVote | EvmEvent::RetiredCheckpoint => {
                return Err(EvmError::Internal(
                    "this data directory was written by the vote-counting network mode, which \
                     is gone: start the node on a fresh data directory (ir3 network init)"
                        .into(),
                ));
            }
            EvmEvent::Decided(record) => self.network.push(NetworkEvent::Decided(record)),
            EvmEvent::BlockImported { raw } => {
                let chain = self.chain(0)?;
                chain.check_recorded_root()?;
                let head = chain.head_number();
                let block = chain.import_block(&raw).map_err(|error| EvmError::ReplayDiverged {
                    number: head + 1,
                    reason: error.to_string(),
                })?;
                chain.note_sealed(seq, block.hash);
                chain.publish(block);
            }
            EvmEvent::Dev(event) => {
                if let DevEvent::Setting(crate::dev::Setting::Mining(mode)) = &event {
                    self.mining = *mode;
                }
                let chain = self.chain(0)?;
                chain.check_recorded_root()?;
                let head = chain.head_number();
                chain.apply_dev(&event).map_err(|error| EvmError::ReplayDiverged {
                    number: head,
                    reason: error.to_string(),
                })?;
                chain.note_applied(seq);
            }
        }
        Ok(())
    }

    /// Re-executes a sealed block's recorded transactions and checks the result against its
    /// recorded hash. With a recorded state root the root is checked later, in batches
    /// ([`Chain::seal_recorded`]); without one (older series) it is computed here.
    fn seal(
        &mut self,
        seq: u64,
        context: &BlockContext,
        tx_count: u32,
        hash: B256,
        state_root: Option<B256>,
    ) -> Result<()> {
        let txs = std::mem::take(&mut self.block_txs);
        let chain = self.chain(context.number)?;
        let diverged = |reason: String| EvmError::ReplayDiverged { number: context.number, reason };
        if txs.len() != tx_count as usize {
            return Err(diverged(format!(
                "{} transactions recorded, {tx_count} sealed",
                txs.len()
            )));
        }
        let execution = {
            let parent = chain.state_at(chain.head_number());
            let excess = chain.next_excess_blob_gas(context.timestamp);
            execute_block(parent, chain.config(), context, excess, txs)
        };
        if execution.included.len() != tx_count as usize {
            return Err(diverged("a recorded transaction no longer executes".into()));
        }
        let block = match state_root {
            Some(root) => chain.seal_recorded(context, execution, root),
            None => {
                chain.check_recorded_root()?;
                chain.seal(context, execution)
            }
        };
        if block.hash != hash {
            return Err(diverged(format!("re-executed to {}, recorded {hash}", block.hash)));
        }
        chain.note_sealed(seq, hash);
        chain.publish(block);
        chain.recorded_root_diverged()
    }
}
