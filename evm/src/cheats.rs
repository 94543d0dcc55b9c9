//! The node side of the dev-mode methods (`anvil_`, `evm_`, `hardhat_`): each change is
//! decided under the node's mutation lock, appended to the series, and only then applied, so
//! the series' order is the order of application and a restart derives the same chain.

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Address, B256, Bytes, U256};
use ir3_foundation::append_blocking;
use revm::primitives::hardfork::SpecId;

use crate::{
    block::{SignedTx, StoredBlock},
    chain::Chain,
    config::ChainConfig,
    dev::{DevEvent, MiningMode, PooledRaw, Setting},
    error::{EvmError, Result},
    events::EvmEvent,
    node::{EvmNode, unix_now},
    pool::Pool,
};

/// Most blocks one `anvil_mine` may seal.
pub const MAX_MINE_BLOCKS: u64 = 100_000;

impl EvmNode {
    /// Refuses a dev-mode change in network mode, before any of its work is done (a fork URL
    /// is not connected to, a state file is not decompressed).
    pub fn refuse_in_network_mode(&self) -> Result<()> {
        if self.is_networked() {
            return Err(EvmError::InvalidParams(
                "network mode: dev-mode changes would make this gateway diverge from its peers"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Decides events from the current chain and pool (under the mutation lock), makes them
    /// durable, then applies them. Returns what `decide` computed.
    pub(crate) async fn record<T: Send + 'static>(
        self: &Arc<Self>,
        decide: impl FnOnce(&Chain, &Pool) -> Result<(Vec<EvmEvent>, T)> + Send + 'static,
    ) -> Result<T> {
        self.refuse_in_network_mode()?;
        let node = self.clone();
        tokio::task::spawn_blocking(move || {
            let _mutation = node.mutation.lock();
            let (events, value) = {
                let chain = node.chain.read();
                let pool = node.pool.lock();
                decide(&chain, &pool)?
            };
            if events.is_empty() {
                return Ok(value);
            }
            let bodies = events.iter().map(EvmEvent::to_body).collect::<Result<Vec<_>>>()?;
            let count = bodies.len() as u64;
            let first = append_blocking(&*node.series, bodies)?;
            let mut mining_changed = false;
            for event in events {
                match event {
                    EvmEvent::Dev(dev) => {
                        mining_changed |= matches!(dev, DevEvent::Setting(Setting::Mining(_)));
                        let outcome = node.chain.write().apply_dev(&dev)?;
                        if let Some(txs) = outcome.new_pool {
                            node.replace_pool(txs);
                        }
                    }
                    EvmEvent::TxDropped { hashes } => node.drop_pooled(&hashes),
                    _ => {}
                }
            }
            node.chain.write().note_applied(first + count - 1);
            if mining_changed || node.mining() == MiningMode::Auto {
                node.kick_miner();
            }
            Ok(value)
        })
        .await
        .map_err(|e| EvmError::Internal(e.to_string()))?
    }

    fn replace_pool(&self, txs: Vec<Arc<SignedTx>>) {
        let chain = self.chain.read();
        let mut pool = self.pool.lock();
        *pool = Pool::default();
        for tx in txs {
            if tx.nonce() >= chain.latest_nonce(tx.sender) {
                let _ = pool.insert(tx);
            }
        }
    }

    fn drop_pooled(&self, hashes: &[B256]) {
        let mut pool = self.pool.lock();
        let mut waiters = self.waiters.lock();
        for hash in hashes {
            pool.remove(hash);
            if let Some(waiter) = waiters.remove(hash) {
                let _ = waiter.send(Err(EvmError::InvalidTransaction("dropped".into())));
            }
        }
    }

    async fn dev(self: &Arc<Self>, event: DevEvent) -> Result<()> {
        self.record(move |_, _| Ok((vec![EvmEvent::Dev(event)], ()))).await
    }

    async fn setting(self: &Arc<Self>, setting: Setting) -> Result<()> {
        self.dev(DevEvent::Setting(setting)).await
    }

    /// `anvil_setBalance`.
    pub async fn set_balance(self: &Arc<Self>, address: Address, balance: U256) -> Result<()> {
        self.dev(DevEvent::SetBalance { address, balance }).await
    }

    /// `anvil_addBalance`.
    pub async fn add_balance(self: &Arc<Self>, address: Address, amount: U256) -> Result<()> {
        self.record(move |chain, _| {
            let balance = chain.latest_balance(address).saturating_add(amount);
            Ok((vec![EvmEvent::Dev(DevEvent::SetBalance { address, balance })], ()))
        })
        .await
    }

    /// `anvil_setNonce`.
    pub async fn set_nonce(self: &Arc<Self>, address: Address, nonce: u64) -> Result<()> {
        self.dev(DevEvent::SetNonce { address, nonce }).await
    }

    /// `anvil_setCode`.
    pub async fn set_code(self: &Arc<Self>, address: Address, code: Bytes) -> Result<()> {
        revm::bytecode::Bytecode::new_raw_checked(code.clone())
            .map_err(|e| EvmError::InvalidParams(format!("invalid code: {e}")))?;
        self.dev(DevEvent::SetCode { address, code }).await
    }

    /// `anvil_setStorageAt`.
    pub async fn set_storage(
        self: &Arc<Self>,
        address: Address,
        slot: U256,
        value: U256,
    ) -> Result<()> {
        self.dev(DevEvent::SetStorage { address, slot, value }).await
    }

    /// `evm_snapshot`: the id to revert to.
    pub async fn snapshot(self: &Arc<Self>) -> Result<u64> {
        self.record(|chain, pool| {
            let id = chain.next_snapshot_id();
            let (pending, queued) = pool.content(|a| chain.latest_nonce(a));
            let mut txs: Vec<_> = pending.into_iter().chain(queued).collect();
            txs.sort_by_key(|tx| (tx.sender, tx.nonce()));
            let pool = txs.iter().map(|tx| PooledRaw::of(tx)).collect();
            Ok((vec![EvmEvent::Dev(DevEvent::Snapshot { id, pool })], id))
        })
        .await
    }

    /// `evm_revert`: whether the snapshot existed (it and later ones are then consumed).
    pub async fn revert(self: &Arc<Self>, id: u64) -> Result<bool> {
        self.record(move |chain, _| {
            if !chain.has_snapshot(id) {
                return Ok((Vec::new(), false));
            }
            Ok((vec![EvmEvent::Dev(DevEvent::Revert { id })], true))
        })
        .await
    }

    /// `anvil_reset`: a new chain from the same genesis configuration (fresh timestamp).
    pub async fn reset(self: &Arc<Self>, config: Option<ChainConfig>) -> Result<()> {
        self.record(move |chain, _| {
            let config = config.unwrap_or_else(|| ChainConfig {
                genesis_timestamp: unix_now(),
                ..chain.config().clone()
            });
            Ok((vec![EvmEvent::Dev(DevEvent::Reset(config))], ()))
        })
        .await?;
        let _ = self.new_blocks.send(self.with_chain(|c| c.head().clone()));
        Ok(())
    }

    /// `anvil_reset` with `forking`: a new chain forked from `url` at `block` (the parent's
    /// latest when `None`; the current fork's URL when `url` is `None`). What can be refused
    /// without the parent (network mode, a missing or non-HTTP URL) is refused before
    /// connecting to it.
    pub async fn reset_fork(
        self: &Arc<Self>,
        url: Option<String>,
        block: Option<u64>,
    ) -> Result<()> {
        self.refuse_in_network_mode()?;
        let current = self.config();
        let url = url
            .or_else(|| current.fork.as_ref().map(|f| f.url.clone()))
            .ok_or_else(|| EvmError::InvalidParams("forking needs a jsonRpcUrl".into()))?;
        // Checked before connecting, like the network-mode refusal above.
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(EvmError::InvalidParams(format!(
                "forking jsonRpcUrl must be an http:// or https:// URL, not {url}"
            )));
        }
        let fork =
            tokio::task::spawn_blocking(move || crate::fork::ForkSource::connect(&url, block))
                .await
                .map_err(|e| EvmError::Internal(e.to_string()))??;
        let config = ChainConfig {
            chain_id: fork.chain_id,
            genesis_timestamp: unix_now(),
            fork: Some(fork),
            ..current
        };
        self.reset(Some(config)).await
    }

    /// `evm_mine` / `anvil_mine`: seals `count` blocks (even empty ones), the first at
    /// `timestamp` if given, each `interval` seconds after the previous if given.
    pub async fn mine(
        self: &Arc<Self>,
        count: u64,
        interval: Option<u64>,
        timestamp: Option<u64>,
    ) -> Result<Vec<Arc<StoredBlock>>> {
        if count > MAX_MINE_BLOCKS {
            return Err(EvmError::InvalidParams(format!(
                "cannot mine more than {MAX_MINE_BLOCKS} blocks at once"
            )));
        }
        if let Some(ts) = timestamp {
            self.set_next_block_timestamp(ts).await?;
        }
        let mut mined = Vec::with_capacity(count as usize);
        for i in 0..count {
            if i > 0
                && let Some(interval) = interval
            {
                let next = self.with_chain(|c| c.head().header.timestamp).saturating_add(interval);
                self.setting(Setting::NextTimestamp(Some(next))).await?;
            }
            mined.push(self.mine_now().await?);
        }
        Ok(mined)
    }

    /// `evm_setAutomine`.
    pub async fn set_automine(self: &Arc<Self>, on: bool) -> Result<()> {
        let mode = match (on, self.mining()) {
            (true, _) => MiningMode::Auto,
            (false, MiningMode::Interval(every)) => MiningMode::Interval(every),
            (false, _) => MiningMode::Manual,
        };
        self.setting(Setting::Mining(mode)).await
    }

    /// `evm_setIntervalMining`: a block every `seconds` (0 turns interval mining off).
    pub async fn set_interval_mining(self: &Arc<Self>, seconds: u64) -> Result<()> {
        let mode = match seconds {
            0 => MiningMode::Manual,
            s => MiningMode::Interval(Duration::from_secs(s)),
        };
        self.setting(Setting::Mining(mode)).await
    }

    /// `evm_increaseTime`: the total offset of the chain clock, in seconds.
    pub async fn increase_time(self: &Arc<Self>, seconds: i64) -> Result<i64> {
        self.record(move |chain, _| {
            let offset = chain.settings().time_offset.saturating_add(seconds);
            Ok((vec![EvmEvent::Dev(DevEvent::Setting(Setting::TimeOffset(offset)))], offset))
        })
        .await
    }

    /// `evm_setNextBlockTimestamp`.
    pub async fn set_next_block_timestamp(self: &Arc<Self>, timestamp: u64) -> Result<()> {
        self.record(move |chain, _| {
            let parent = chain.head().header.timestamp;
            if timestamp < parent {
                return Err(EvmError::InvalidParams(format!(
                    "Timestamp error: {timestamp} is lower than previous block's timestamp"
                )));
            }
            Ok((
                vec![EvmEvent::Dev(DevEvent::Setting(Setting::NextTimestamp(Some(timestamp))))],
                (),
            ))
        })
        .await
    }

    /// `anvil_setTime`: moves the chain clock to `timestamp`; returns how far it jumped forward.
    pub async fn set_time(self: &Arc<Self>, timestamp: u64) -> Result<u64> {
        self.record(move |chain, _| {
            let now = unix_now();
            let current = now.saturating_add_signed(chain.settings().time_offset);
            let offset = i64::try_from(timestamp).unwrap_or(i64::MAX) - now as i64;
            let events = vec![
                EvmEvent::Dev(DevEvent::Setting(Setting::TimeOffset(offset))),
                EvmEvent::Dev(DevEvent::Setting(Setting::NextTimestamp(None))),
            ];
            Ok((events, timestamp.saturating_sub(current)))
        })
        .await
    }

    /// `anvil_setBlockTimestampInterval`.
    pub async fn set_block_timestamp_interval(self: &Arc<Self>, seconds: u64) -> Result<()> {
        self.setting(Setting::TimestampInterval(Some(seconds))).await
    }

    /// `anvil_removeBlockTimestampInterval`: whether an interval was set.
    pub async fn remove_block_timestamp_interval(self: &Arc<Self>) -> Result<bool> {
        self.record(|chain, _| {
            let was = chain.settings().timestamp_interval.is_some();
            let event = EvmEvent::Dev(DevEvent::Setting(Setting::TimestampInterval(None)));
            Ok((if was { vec![event] } else { Vec::new() }, was))
        })
        .await
    }

    /// `evm_setBlockGasLimit`.
    pub async fn set_block_gas_limit(self: &Arc<Self>, gas_limit: u64) -> Result<()> {
        if gas_limit == 0 {
            return Err(EvmError::InvalidParams("gas limit must be positive".into()));
        }
        self.setting(Setting::GasLimit(gas_limit)).await
    }

    /// `anvil_setNextBlockBaseFeePerGas`.
    pub async fn set_next_block_base_fee(self: &Arc<Self>, base_fee: u64) -> Result<()> {
        if self.config().spec < SpecId::LONDON {
            return Err(EvmError::InvalidParams(
                "anvil_setNextBlockBaseFeePerGas is only supported when EIP-1559 is active".into(),
            ));
        }
        self.setting(Setting::NextBaseFee(Some(base_fee))).await
    }

    /// `anvil_setMinGasPrice` (pre-London chains only, as in Anvil).
    pub async fn set_min_gas_price(self: &Arc<Self>, price: u128) -> Result<()> {
        if self.config().spec >= SpecId::LONDON {
            return Err(EvmError::InvalidParams(
                "anvil_setMinGasPrice is not supported when EIP-1559 is active".into(),
            ));
        }
        self.setting(Setting::MinGasPrice(Some(price))).await
    }

    /// `anvil_setCoinbase`.
    pub async fn set_coinbase(self: &Arc<Self>, coinbase: Address) -> Result<()> {
        self.setting(Setting::Coinbase(coinbase)).await
    }

    /// `anvil_impersonateAccount` (`true`) / `anvil_stopImpersonatingAccount` (`false`).
    pub async fn impersonate(self: &Arc<Self>, address: Address, on: bool) -> Result<()> {
        self.setting(Setting::Impersonate(address, on)).await
    }

    /// `anvil_autoImpersonateAccount`.
    pub async fn auto_impersonate(self: &Arc<Self>, on: bool) -> Result<()> {
        self.setting(Setting::AutoImpersonate(on)).await
    }

    /// `anvil_dropTransaction`: the hash if it was pooled.
    pub async fn drop_transaction(self: &Arc<Self>, hash: B256) -> Result<Option<B256>> {
        self.record(move |_, pool| {
            if !pool.contains(&hash) {
                return Ok((Vec::new(), None));
            }
            Ok((vec![EvmEvent::TxDropped { hashes: vec![hash] }], Some(hash)))
        })
        .await
    }

    /// `anvil_dropAllTransactions`.
    pub async fn drop_all_transactions(self: &Arc<Self>) -> Result<()> {
        self.record(|chain, pool| {
            let (pending, queued) = pool.content(|a| chain.latest_nonce(a));
            let hashes: Vec<B256> = pending.iter().chain(&queued).map(|tx| tx.hash).collect();
            let events =
                if hashes.is_empty() { Vec::new() } else { vec![EvmEvent::TxDropped { hashes }] };
            Ok((events, ()))
        })
        .await
    }

    /// `anvil_removePoolTransactions`: drops every pooled transaction of `sender`.
    pub async fn remove_pool_transactions(self: &Arc<Self>, sender: Address) -> Result<()> {
        self.record(move |chain, pool| {
            let (pending, queued) = pool.content(|a| chain.latest_nonce(a));
            let hashes: Vec<B256> = pending
                .iter()
                .chain(&queued)
                .filter(|tx| tx.sender == sender)
                .map(|tx| tx.hash)
                .collect();
            let events =
                if hashes.is_empty() { Vec::new() } else { vec![EvmEvent::TxDropped { hashes }] };
            Ok((events, ()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use alloy_primitives::{Address, Bytes, U256};
    use ir3_foundation::{MemorySeries, SeriesHandle};

    use crate::{EvmNode, MiningMode};

    fn open(series: &SeriesHandle) -> Arc<EvmNode> {
        crate::test_node::open(series).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cheats_snapshots_and_reverts_replay_to_the_same_chain() {
        let series: SeriesHandle = Arc::new(MemorySeries::new());
        let node = open(&series);
        let target = Address::repeat_byte(0x42);
        node.set_balance(target, U256::from(7)).await.unwrap();
        let snapshot = node.snapshot().await.unwrap();
        node.set_code(target, Bytes::from_static(&[0x60, 0x00])).await.unwrap();
        node.set_storage(target, U256::from(1), U256::from(9)).await.unwrap();
        node.mine(3, Some(10), None).await.unwrap();
        node.increase_time(1_000).await.unwrap();
        node.set_automine(false).await.unwrap();
        assert_eq!(node.block_number(), 3);
        assert!(!node.code(target, None).unwrap().is_empty());

        assert!(node.revert(snapshot).await.unwrap());
        assert!(!node.revert(snapshot).await.unwrap(), "a snapshot is consumed by its revert");
        assert_eq!(node.block_number(), 0);
        assert!(node.code(target, None).unwrap().is_empty());
        assert_eq!(
            node.storage_at(target, U256::from(1), None).unwrap(),
            alloy_primitives::B256::ZERO
        );
        assert_eq!(node.balance(target, None).unwrap(), U256::from(7));
        node.mine(1, None, None).await.unwrap();

        let replayed = open(&series);
        let head = |n: &EvmNode| n.with_chain(|c| c.head().hash);
        assert_eq!(head(&replayed), head(&node));
        assert_eq!(replayed.balance(target, None).unwrap(), U256::from(7));
        assert_eq!(replayed.mining(), MiningMode::Manual);
        assert_eq!(
            replayed.with_chain(|c| c.settings().time_offset),
            node.with_chain(|c| c.settings().time_offset)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fork_reset_without_an_http_url_is_refused_before_connecting() {
        let series: SeriesHandle = Arc::new(MemorySeries::new());
        let node = open(&series);
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        for url in [None, Some(format!("ws://127.0.0.1:{port}")), Some(format!("127.0.0.1:{port}"))]
        {
            let error = node.reset_fork(url.clone(), Some(1)).await.unwrap_err();
            assert!(matches!(error, crate::EvmError::InvalidParams(_)), "{url:?}: {error}");
        }
        assert!(listener.accept().is_err(), "connected to the parent");
        assert_eq!(node.config().fork, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revert_restores_the_pool() {
        let series: SeriesHandle = Arc::new(MemorySeries::new());
        let node = open(&series);
        node.set_automine(false).await.unwrap();
        let from = node.accounts().addresses()[0];
        let to = Address::repeat_byte(0x11);
        let request = alloy_rpc_types_eth::TransactionRequest::default()
            .from(from)
            .to(to)
            .value(U256::from(1));
        let pooled = node.send_transaction(request).await.unwrap();
        let snapshot = node.snapshot().await.unwrap();
        node.mine(1, None, None).await.unwrap();
        assert!(node.pooled_transaction(&pooled).is_none());
        assert!(node.revert(snapshot).await.unwrap());
        assert!(node.pooled_transaction(&pooled).is_some(), "the pooled tx is back");
        assert!(open(&series).pooled_transaction(&pooled).is_some(), "and after a replay");
    }
    /// A chain longer than the recent window: old blocks, hashes and transactions come from the
    /// store; a revert past the window removes them there too, and a replay agrees.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocks_beyond_the_recent_window_are_read_from_the_store_and_reverted() {
        use crate::chain::RECENT_BLOCKS;
        let series: SeriesHandle = Arc::new(MemorySeries::new());
        let node = open(&series);
        let from = node.accounts().addresses()[0];
        let transfer = alloy_rpc_types_eth::TransactionRequest::default()
            .from(from)
            .to(Address::repeat_byte(0x11))
            .value(U256::from(1));
        let first = node.send_transaction(transfer.clone()).await.unwrap();
        let snapshot = node.snapshot().await.unwrap();
        let locate =
            |n: &EvmNode, hash| n.with_chain(|c| c.locate_tx(hash).map(|(b, i)| (b.number(), i)));
        assert_eq!(locate(&node, first), Some((1, 0)));
        let block_one = node.with_chain(|c| c.block(1).unwrap().hash);
        // Longer than a replay's bulk block batch too (2 048 blocks), so that blocks go to
        // the store on their own, without the state, while replaying.
        let extra = 2 * RECENT_BLOCKS as u64 + 2_100;
        node.mine(extra, None, None).await.unwrap();
        let late = node.send_transaction(transfer).await.unwrap();
        let late_block = extra + 2;
        assert_eq!(locate(&node, late), Some((late_block, 0)));
        let old_hash = node.with_chain(|c| c.block(300).unwrap().hash);
        node.with_chain(|c| {
            assert_eq!(c.block(1).unwrap().hash, block_one, "an old block is read from the store");
            assert_eq!(c.block_by_hash(old_hash).unwrap().number(), 300);
            assert!(c.contains_tx(&first));
        });
        assert_eq!(locate(&node, first), Some((1, 0)));
        // The genesis state is still there at block 0 (blocks went to the store without it).
        let genesis = Some(alloy_eips::BlockId::number(0));
        assert_eq!(node.balance(from, genesis).unwrap(), U256::from(10u64.pow(18)));
        // Otterscan's search and nonce lookup use the store's indexes below the window.
        let page = node.ots_search_transactions(from, 0, 10, false);
        let hashes: Vec<_> = page.txs.iter().map(|tx| *tx.inner.tx_hash()).collect();
        assert_eq!(hashes, vec![late, first]);
        assert!(page.last_page);
        let page = node.ots_search_transactions(from, 0, 1, true);
        assert_eq!(page.txs.iter().map(|tx| *tx.inner.tx_hash()).collect::<Vec<_>>(), vec![first]);
        assert_eq!(node.ots_transaction_by_sender_and_nonce(from, 0), Some(first));

        assert!(node.revert(snapshot).await.unwrap());
        node.with_chain(|c| {
            assert_eq!(c.head_number(), 1);
            assert!(c.block(2).is_none());
            assert!(c.block_by_hash(old_hash).is_none(), "reverted blocks are gone");
            assert!(!c.contains_tx(&late));
            assert_eq!(c.head().hash, block_one);
        });
        node.mine(1, None, None).await.unwrap();
        assert_ne!(node.with_chain(|c| c.block(2).unwrap().hash), old_hash);

        let replayed = open(&series);
        let head = |n: &EvmNode| n.with_chain(|c| c.head().hash);
        assert_eq!(head(&replayed), head(&node));
        assert_eq!(locate(&replayed, first), Some((1, 0)));
        assert_eq!(locate(&replayed, late), None);
        assert_eq!(replayed.ots_transaction_by_sender_and_nonce(from, 1), None);
        assert_eq!(replayed.balance(from, genesis).unwrap(), U256::from(10u64.pow(18)));
    }
}
