//! Deriving the chain from the series: every EVM event applied in order, each sealed block
//! re-executed and checked against its recorded hash.

use std::{collections::HashMap, sync::Arc};

use alloy_primitives::B256;
use ir3_foundation::{FoundationError, Series};

use crate::{
    block::SignedTx,
    chain::Chain,
    dev::{DevEvent, MiningMode},
    error::{EvmError, Result},
    events::EvmEvent,
    execute::execute_block,
    network::NetworkEvent,
    state::StateStore,
};

/// The pool as the series describes it, in arrival order.
#[derive(Debug, Default)]
struct ReplayedPool {
    entries: HashMap<B256, (u64, Arc<SignedTx>)>,
    next: u64,
}

impl ReplayedPool {
    fn add(&mut self, tx: Arc<SignedTx>) {
        self.entries.insert(tx.hash, (self.next, tx));
        self.next += 1;
    }

    fn remove(&mut self, hash: &B256) {
        self.entries.remove(hash);
    }

    fn replace(&mut self, txs: Vec<Arc<SignedTx>>) {
        self.entries.clear();
        for tx in txs {
            self.add(tx);
        }
    }

    fn into_ordered(self) -> Vec<Arc<SignedTx>> {
        let mut entries: Vec<_> = self.entries.into_values().collect();
        entries.sort_by_key(|(seq, _)| *seq);
        entries.into_iter().map(|(_, tx)| tx).collect()
    }
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
}

/// What replay derives.
#[derive(Debug)]
pub struct Replayed {
    /// The chain (blocks sealed locally; network-mode blocks are derived from `envelopes`).
    pub chain: Chain,
    /// Transactions still pooled.
    pub pooled: Vec<Arc<SignedTx>>,
    /// Network mode: every envelope admitted and vote recorded, in series order.
    pub network: Vec<NetworkEvent>,
}

/// Replays the series into a chain, the transactions still pooled and the network envelopes;
/// `None` for a series without a genesis. `mining` is the mode of a chain whose series never
/// set one.
pub fn replay(
    series: &dyn Series,
    mining: MiningMode,
    store: Arc<StateStore>,
) -> Result<Option<Replayed>> {
    let mut replayer = Replayer {
        store,
        chain: None,
        block_txs: Vec::new(),
        pool: ReplayedPool::default(),
        mining,
        network: Vec::new(),
    };
    let mut failure: Option<EvmError> = None;
    let outcome = series.replay(&mut |entry| {
        let Some(event) = EvmEvent::from_body(&entry.body) else { return Ok(()) };
        event.and_then(|event| replayer.apply(event)).map_err(|error| {
            failure = Some(error);
            FoundationError::Encode("replay stopped".into())
        })
    });
    if let Some(error) = failure {
        return Err(error);
    }
    outcome?;
    let Replayer { chain, pool, network, .. } = replayer;
    Ok(chain.map(|chain| {
        let pooled =
            pool.into_ordered().into_iter().filter(|tx| !chain.contains_tx(&tx.hash)).collect();
        Replayed { chain, pooled, network }
    }))
}

impl Replayer {
    fn chain(&mut self, number: u64) -> Result<&mut Chain> {
        self.chain.as_mut().ok_or_else(|| EvmError::ReplayDiverged {
            number,
            reason: "event before genesis".into(),
        })
    }

    fn apply(&mut self, event: EvmEvent) -> Result<()> {
        match event {
            EvmEvent::Genesis(config) => {
                self.chain = Some(Chain::genesis_in(config, self.mining, self.store.clone())?);
            }
            EvmEvent::TxPooled { raw } => self.pool.add(Arc::new(SignedTx::decode(&raw)?)),
            EvmEvent::TxPooledAs { raw, sender } => {
                self.pool.add(Arc::new(SignedTx::decode_impersonated(&raw, sender)?));
            }
            EvmEvent::TxExecuted { raw, .. } => {
                let tx = Arc::new(SignedTx::decode(&raw)?);
                self.pool.remove(&tx.hash);
                self.block_txs.push(tx);
            }
            EvmEvent::TxExecutedAs { raw, sender, .. } => {
                let tx = Arc::new(SignedTx::decode_impersonated(&raw, sender)?);
                self.pool.remove(&tx.hash);
                self.block_txs.push(tx);
            }
            EvmEvent::TxDropped { hashes } => {
                for hash in &hashes {
                    self.pool.remove(hash);
                }
            }
            EvmEvent::BlockSealed { context, tx_count, hash } => {
                let txs = std::mem::take(&mut self.block_txs);
                let chain = self.chain(context.number)?;
                let diverged =
                    |reason: String| EvmError::ReplayDiverged { number: context.number, reason };
                if txs.len() != tx_count as usize {
                    return Err(diverged(format!(
                        "{} transactions recorded, {tx_count} sealed",
                        txs.len()
                    )));
                }
                let execution = {
                    let parent = chain.state_at(chain.head_number());
                    execute_block(parent, chain.config(), &context, txs)
                };
                if execution.included.len() != tx_count as usize {
                    return Err(diverged("a recorded transaction no longer executes".into()));
                }
                let block = chain.seal(&context, execution);
                if block.hash != hash {
                    return Err(diverged(format!(
                        "re-executed to {}, recorded {hash}",
                        block.hash
                    )));
                }
                chain.publish(block);
            }
            EvmEvent::Envelope(envelope) => self.network.push(NetworkEvent::Envelope(envelope)),
            EvmEvent::Vote(vote) => self.network.push(NetworkEvent::Vote(vote)),
            EvmEvent::Checkpoint(outcome) => self.network.push(NetworkEvent::Checkpoint(outcome)),
            EvmEvent::Dev(event) => {
                if let DevEvent::Setting(crate::dev::Setting::Mining(mode)) = &event {
                    self.mining = *mode;
                }
                let chain = self.chain(0)?;
                let head = chain.head_number();
                let outcome = chain.apply_dev(&event).map_err(|error| {
                    EvmError::ReplayDiverged { number: head, reason: error.to_string() }
                })?;
                if let Some(pool) = outcome.new_pool {
                    self.pool.replace(pool);
                }
            }
        }
        Ok(())
    }
}
