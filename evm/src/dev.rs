//! Dev-mode facts and the settings derived from them: the state cheats, mining and time
//! controls, snapshots, reverts and resets behind the `anvil_`, `evm_` and `hardhat_` methods.
//!
//! Each is a [`DevEvent`] in the series like any other fact, applied to the [`Chain`] by
//! [`Chain::apply_dev`] both live and on replay, so a restart derives the same chain, settings
//! and snapshots. A revert is an event too: history stays in the series, the derived state moves
//! back.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::Duration,
};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_trie::KECCAK_EMPTY;
use revm::bytecode::Bytecode;
use serde::{Deserialize, Serialize};

use crate::{
    block::SignedTx,
    chain::Chain,
    config::ChainConfig,
    error::{EvmError, Result},
    state::{AccountRecord, VersionedState},
};

/// When blocks are mined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MiningMode {
    /// Each transaction (or concurrent burst) is mined as soon as it arrives.
    Auto,
    /// A block every interval, empty or not.
    Interval(Duration),
    /// Only on request.
    Manual,
}

/// A pooled transaction as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PooledRaw {
    /// EIP-2718 encoding.
    pub raw: Bytes,
    /// The sender, recorded only for impersonated transactions.
    pub impersonated_sender: Option<Address>,
}

impl PooledRaw {
    /// Records a pooled transaction.
    pub fn of(tx: &SignedTx) -> Self {
        Self { raw: tx.raw.clone(), impersonated_sender: tx.impersonated.then_some(tx.sender) }
    }

    /// Decodes it back.
    pub fn decode(&self) -> Result<SignedTx> {
        match self.impersonated_sender {
            Some(sender) => SignedTx::decode_impersonated(&self.raw, sender),
            None => SignedTx::decode(&self.raw),
        }
    }
}

/// A change of a dev-mode setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Setting {
    /// Automine, interval or manual mining.
    Mining(MiningMode),
    /// Seconds added to the wall clock for new blocks.
    TimeOffset(i64),
    /// Exact timestamp of the next block (cleared once it is mined).
    NextTimestamp(Option<u64>),
    /// Fixed distance between consecutive block timestamps.
    TimestampInterval(Option<u64>),
    /// Block gas limit of new blocks.
    GasLimit(u64),
    /// Base fee of the next block (cleared once it is mined).
    NextBaseFee(Option<u64>),
    /// Lowest gas price accepted (pre-London chains only).
    MinGasPrice(Option<u128>),
    /// Fee recipient of new blocks.
    Coinbase(Address),
    /// Start (`true`) or stop impersonating an account.
    Impersonate(Address, bool),
    /// Impersonate every account.
    AutoImpersonate(bool),
}

/// One dev-mode fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DevEvent {
    /// `anvil_setBalance` / `anvil_addBalance`: the resulting balance.
    SetBalance {
        /// The account.
        address: Address,
        /// Its new balance.
        balance: U256,
    },
    /// `anvil_setNonce`.
    SetNonce {
        /// The account.
        address: Address,
        /// Its new nonce.
        nonce: u64,
    },
    /// `anvil_setCode`.
    SetCode {
        /// The account.
        address: Address,
        /// Its new code (empty removes it).
        code: Bytes,
    },
    /// `anvil_setStorageAt`.
    SetStorage {
        /// The account.
        address: Address,
        /// The slot.
        slot: U256,
        /// Its new value.
        value: U256,
    },
    /// A setting changed.
    Setting(Setting),
    /// `evm_snapshot`: the chain, state, settings and pool at this point can be reverted to.
    Snapshot {
        /// The snapshot id.
        id: u64,
        /// The pool's content at that point.
        pool: Vec<PooledRaw>,
    },
    /// `evm_revert`: the derived chain moved back to a snapshot.
    Revert {
        /// The snapshot id.
        id: u64,
    },
    /// `anvil_reset`, as series written before fork schedules recorded it.
    LegacyReset(crate::config::LegacyChainConfig),
    /// `anvil_loadState` / `--state`: accounts written over the latest state.
    LoadAccounts(Vec<LoadedAccount>),
    /// `anvil_reset`: a new chain from this genesis. (Appended last: the variant's position is
    /// its tag in the series.)
    Reset(ChainConfig),
}

/// An account as a state dump gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedAccount {
    /// The account.
    pub address: Address,
    /// Balance.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Code (empty for none).
    pub code: Bytes,
    /// Storage slots and values.
    pub storage: Vec<(U256, U256)>,
}

/// Settings derived from the series' dev events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevSettings {
    /// Mining mode.
    pub mining: MiningMode,
    /// Seconds added to the wall clock for new blocks.
    pub time_offset: i64,
    /// Exact timestamp of the next block.
    pub next_timestamp: Option<u64>,
    /// Fixed distance between block timestamps.
    pub timestamp_interval: Option<u64>,
    /// Block gas limit of new blocks.
    pub gas_limit: u64,
    /// Base fee of the next block.
    pub next_base_fee: Option<u64>,
    /// Lowest gas price accepted.
    pub min_gas_price: Option<u128>,
    /// Fee recipient of new blocks.
    pub coinbase: Address,
    /// Accounts impersonated.
    pub impersonated: HashSet<Address>,
    /// Whether every account is impersonated.
    pub auto_impersonate: bool,
}

impl DevSettings {
    /// The settings a new chain starts with.
    pub fn new(config: &ChainConfig, mining: MiningMode) -> Self {
        Self {
            mining,
            time_offset: 0,
            next_timestamp: None,
            timestamp_interval: None,
            gas_limit: config.gas_limit,
            next_base_fee: None,
            min_gas_price: None,
            coinbase: config.coinbase,
            impersonated: HashSet::new(),
            auto_impersonate: false,
        }
    }

    /// Whether transactions from `address` may be sent without its key.
    pub fn is_impersonated(&self, address: Address) -> bool {
        self.auto_impersonate || self.impersonated.contains(&address)
    }

    fn apply(&mut self, setting: &Setting) {
        match setting {
            Setting::Mining(mode) => self.mining = *mode,
            Setting::TimeOffset(offset) => self.time_offset = *offset,
            Setting::NextTimestamp(ts) => self.next_timestamp = *ts,
            Setting::TimestampInterval(interval) => self.timestamp_interval = *interval,
            Setting::GasLimit(limit) => self.gas_limit = *limit,
            Setting::NextBaseFee(fee) => self.next_base_fee = *fee,
            Setting::MinGasPrice(price) => self.min_gas_price = *price,
            Setting::Coinbase(address) => self.coinbase = *address,
            Setting::Impersonate(address, true) => {
                self.impersonated.insert(*address);
            }
            Setting::Impersonate(address, false) => {
                self.impersonated.remove(address);
            }
            Setting::AutoImpersonate(on) => self.auto_impersonate = *on,
        }
    }
}

/// What a snapshot restores.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Head block number when it was taken.
    pub head: u64,
    /// Head block hash when it was taken.
    pub head_hash: B256,
    /// State revision when it was taken.
    pub revision: u64,
    /// Settings when it was taken.
    pub settings: DevSettings,
    /// Pool content when it was taken.
    pub pool: Vec<Arc<SignedTx>>,
}

/// What applying a dev event asks of the node beyond the chain.
#[derive(Debug, Default)]
pub struct DevOutcome {
    /// The pool must be replaced by these transactions (revert, reset).
    pub new_pool: Option<Vec<Arc<SignedTx>>>,
    /// The revert found its snapshot.
    pub reverted: bool,
}

impl Chain {
    /// Applies one dev event. The same function runs live and on replay.
    pub fn apply_dev(&mut self, event: &DevEvent) -> Result<DevOutcome> {
        let mut outcome = DevOutcome::default();
        match event {
            DevEvent::SetBalance { address, balance } => {
                self.update_account(*address, |record| record.balance = *balance);
            }
            DevEvent::SetNonce { address, nonce } => {
                self.update_account(*address, |record| record.nonce = *nonce);
            }
            DevEvent::SetCode { address, code } => {
                let code_hash = if code.is_empty() {
                    KECCAK_EMPTY
                } else {
                    let bytecode = Bytecode::new_raw_checked(code.clone())
                        .map_err(|e| EvmError::InvalidParams(format!("invalid code: {e}")))?;
                    self.state.insert_code(bytecode)
                };
                self.update_account(*address, |record| record.code_hash = code_hash);
            }
            DevEvent::SetStorage { address, slot, value } => {
                let revision = self.next_revision();
                self.state.set_storage(*address, *slot, revision, *value);
                if self.state.account_at(*address, revision).is_none() {
                    self.state.set_account(*address, revision, Some(empty_account()));
                }
            }
            DevEvent::Setting(setting) => self.settings.apply(setting),
            DevEvent::Snapshot { id, pool } => {
                let pool =
                    pool.iter().map(|p| p.decode().map(Arc::new)).collect::<Result<Vec<_>>>()?;
                let snapshot = Snapshot {
                    head: self.head_number(),
                    head_hash: self.head().hash,
                    revision: self.revision,
                    settings: self.settings.clone(),
                    pool,
                };
                self.snapshots.insert(*id, snapshot);
                self.next_snapshot_id = self.next_snapshot_id.max(id + 1);
            }
            DevEvent::Revert { id } => {
                if let Some(snapshot) = self.snapshots.get(id).cloned() {
                    self.snapshots.split_off(id);
                    self.truncate_to(snapshot.head, snapshot.revision);
                    let mining = self.settings.mining;
                    self.settings = DevSettings { mining, ..snapshot.settings };
                    outcome.new_pool = Some(snapshot.pool);
                    outcome.reverted = true;
                }
            }
            DevEvent::LoadAccounts(accounts) => {
                let revision = self.next_revision();
                // As Anvil: a load never lowers a nonce (addresses already used stay used).
                let accounts: Vec<LoadedAccount> = accounts
                    .iter()
                    .map(|account| {
                        let current =
                            self.state.account_at(account.address, revision).map_or(0, |a| a.nonce);
                        LoadedAccount { nonce: account.nonce.max(current), ..account.clone() }
                    })
                    .collect();
                load_accounts(&mut self.state, &accounts, revision)?;
            }
            DevEvent::LegacyReset(config) => {
                return self.apply_dev(&DevEvent::Reset(config.clone().into()));
            }
            DevEvent::Reset(config) => {
                let mining = self.settings.mining;
                let next_snapshot_id = self.next_snapshot_id;
                let rewinds = std::mem::take(&mut self.rewinds);
                let series = self.series;
                let store = self.state.store().clone();
                // The new chain empties the store: the batch in flight goes in first.
                self.wait_store();
                *self = Chain::genesis_in(config.clone(), mining, store)?;
                self.next_snapshot_id = next_snapshot_id;
                self.series = series;
                self.rewinds = rewinds;
                self.rewinds.push(self.head_number());
                outcome.new_pool = Some(Vec::new());
            }
        }
        Ok(outcome)
    }

    /// Opens a new revision for a dev-mode state change and makes it visible.
    fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    fn update_account(&mut self, address: Address, change: impl FnOnce(&mut AccountRecord)) {
        let revision = self.next_revision();
        let mut record = self.state.account_at(address, revision).unwrap_or_else(empty_account);
        change(&mut record);
        self.state.set_account(address, revision, Some(record));
    }

    /// The id the next snapshot gets.
    pub fn next_snapshot_id(&self) -> u64 {
        self.next_snapshot_id
    }

    /// Live snapshots: id, head number and head hash (for `anvil_metadata`).
    pub fn snapshots(&self) -> impl Iterator<Item = (u64, u64, B256)> + '_ {
        self.snapshots.iter().map(|(id, s)| (*id, s.head, s.head_hash))
    }

    /// Whether a snapshot with this id exists.
    pub fn has_snapshot(&self, id: u64) -> bool {
        self.snapshots.contains_key(&id)
    }

    /// The dev settings in force.
    pub fn settings(&self) -> &DevSettings {
        &self.settings
    }
}

/// Writes whole accounts (balance, nonce, code, storage) at `revision`.
pub(crate) fn load_accounts(
    state: &mut VersionedState,
    accounts: &[LoadedAccount],
    revision: u64,
) -> Result<()> {
    for account in accounts {
        let code_hash = if account.code.is_empty() {
            KECCAK_EMPTY
        } else {
            let bytecode = Bytecode::new_raw_checked(account.code.clone())
                .map_err(|e| EvmError::InvalidParams(format!("invalid code: {e}")))?;
            state.insert_code(bytecode)
        };
        let record = AccountRecord { balance: account.balance, nonce: account.nonce, code_hash };
        state.set_account(account.address, revision, Some(record));
        for (slot, value) in &account.storage {
            state.set_storage(account.address, *slot, revision, *value);
        }
    }
    Ok(())
}

fn empty_account() -> AccountRecord {
    AccountRecord { balance: U256::ZERO, nonce: 0, code_hash: KECCAK_EMPTY }
}

/// Snapshots by id.
pub type Snapshots = BTreeMap<u64, Snapshot>;
