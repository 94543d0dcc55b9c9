//! A dev node over a series, for the crate's tests.

use std::sync::Arc;

use alloy_primitives::U256;
use ir3_foundation::{DEFAULT_OUTBOX_CAPACITY, Outbox, SeriesHandle};

use crate::{ChainConfig, DevAccounts, EvmNode, NodeOptions, config::DEFAULT_MNEMONIC};

/// Opens (replays) a chain id 1337 dev node with two funded dev accounts (1 ETH each) on
/// `series`, its store in memory.
pub(crate) fn open(series: &SeriesHandle) -> crate::Result<Arc<EvmNode>> {
    let accounts = DevAccounts::from_mnemonic(DEFAULT_MNEMONIC, 2)?;
    let alloc = accounts.addresses().into_iter().map(|a| (a, U256::from(10u64.pow(18)))).collect();
    let options = NodeOptions {
        chain: ChainConfig::dev(1337, alloc, 1_700_000_000),
        accounts,
        mining: None,
        network: None,
        state_store: None,
    };
    let outbox = Outbox::spawn(DEFAULT_OUTBOX_CAPACITY, |_| {});
    tokio::task::block_in_place(|| EvmNode::open(options, series.clone(), outbox))
}
