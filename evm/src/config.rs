//! Chain configuration: what the genesis of a chain is made of.

use alloy_eips::eip7840::BlobParams;
use alloy_primitives::{Address, B256, U256};
use revm::primitives::hardfork::SpecId;
use serde::{Deserialize, Serialize};

use crate::schedule::ForkSchedule;

/// Anvil's default chain id for dev chains, and ours.
pub const DEFAULT_CHAIN_ID: u64 = 1337;
/// Default block gas limit (Anvil's).
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;
/// Base fee of the first block: 1 gwei.
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;
/// Default balance of each dev account: 10 000 ether.
pub const DEFAULT_DEV_BALANCE_ETH: u64 = 10_000;
/// The dev mnemonic every Ethereum tool knows.
pub const DEFAULT_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Number of dev accounts derived by default.
pub const DEFAULT_DEV_ACCOUNTS: usize = 10;
/// Default priority fee suggested to clients: 1 gwei.
pub const DEFAULT_PRIORITY_FEE: u128 = 1_000_000_000;

/// The facts a chain starts from. Recorded as the first event of the series, so a restarted
/// node derives the same chain whatever its command line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainConfig {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Hardfork rules the chain runs under.
    pub spec: SpecId,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Base fee of block 1.
    pub initial_base_fee: u64,
    /// Timestamp of the genesis block.
    pub genesis_timestamp: u64,
    /// Accounts funded at genesis.
    pub alloc: Vec<(Address, U256)>,
    /// Coinbase of sealed blocks.
    pub coinbase: Address,
    /// The parent chain this chain forks, read lazily (`--fork-url`).
    pub fork: Option<ForkConfig>,
    /// Accounts with code, nonce or storage at genesis (`--init genesis.json`).
    pub genesis_accounts: Vec<crate::dev::LoadedAccount>,
    /// A geth genesis file's fork schedule (`--init`): rules by block and time, blob
    /// parameters, the genesis header. Without one, every block runs under `spec`.
    pub schedule: Option<ForkSchedule>,
}

/// [`ChainConfig`] as series written before fork schedules recorded it (read only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyChainConfig {
    chain_id: u64,
    spec: SpecId,
    gas_limit: u64,
    initial_base_fee: u64,
    genesis_timestamp: u64,
    alloc: Vec<(Address, U256)>,
    coinbase: Address,
    fork: Option<ForkConfig>,
    genesis_accounts: Vec<crate::dev::LoadedAccount>,
}

impl From<LegacyChainConfig> for ChainConfig {
    fn from(legacy: LegacyChainConfig) -> Self {
        Self {
            chain_id: legacy.chain_id,
            spec: legacy.spec,
            gas_limit: legacy.gas_limit,
            initial_base_fee: legacy.initial_base_fee,
            genesis_timestamp: legacy.genesis_timestamp,
            alloc: legacy.alloc,
            coinbase: legacy.coinbase,
            fork: legacy.fork,
            genesis_accounts: legacy.genesis_accounts,
            schedule: None,
        }
    }
}

/// Where a forked chain's state comes from: a parent JSON-RPC node at one block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkConfig {
    /// The parent's JSON-RPC URL.
    pub url: String,
    /// The block forked from; this chain's genesis is the block after it.
    pub block_number: u64,
    /// That block's hash.
    pub block_hash: B256,
    /// The parent's chain id.
    pub chain_id: u64,
    /// The fork block's RLP-encoded header: this chain's first block.
    pub header_rlp: alloy_primitives::Bytes,
}

impl ChainConfig {
    /// A dev chain with the given funded accounts.
    pub fn dev(chain_id: u64, alloc: Vec<(Address, U256)>, genesis_timestamp: u64) -> Self {
        Self {
            chain_id,
            spec: SpecId::OSAKA,
            gas_limit: DEFAULT_GAS_LIMIT,
            initial_base_fee: INITIAL_BASE_FEE,
            genesis_timestamp,
            alloc,
            coinbase: Address::ZERO,
            fork: None,
            genesis_accounts: Vec::new(),
            schedule: None,
        }
    }

    /// The rules block `number` at `timestamp` runs under.
    pub fn spec_at(&self, number: u64, timestamp: u64) -> SpecId {
        match &self.schedule {
            Some(schedule) => schedule.spec_at(number, timestamp),
            None => self.spec,
        }
    }

    /// The blob parameters at `timestamp` (`None` before Cancun).
    pub fn blob_params_at(&self, number: u64, timestamp: u64) -> Option<BlobParams> {
        match &self.schedule {
            Some(schedule) => schedule.blob_params_at(timestamp),
            None => match self.spec_at(number, timestamp) {
                spec if spec >= SpecId::OSAKA => Some(BlobParams::osaka()),
                SpecId::PRAGUE => Some(BlobParams::prague()),
                SpecId::CANCUN => Some(BlobParams::cancun()),
                _ => None,
            },
        }
    }
}

/// Parses a hardfork name the way Anvil's `--hardfork` does (case-insensitive, `latest`
/// meaning the newest one revm implements).
pub fn parse_hardfork(name: &str) -> Option<SpecId> {
    let spec = match name.to_ascii_lowercase().replace(['-', '_', ' '], "").as_str() {
        "latest" | "osaka" => SpecId::OSAKA,
        "prague" | "pectra" => SpecId::PRAGUE,
        "cancun" | "dencun" => SpecId::CANCUN,
        "shanghai" | "shapella" => SpecId::SHANGHAI,
        "paris" | "merge" => SpecId::MERGE,
        "london" => SpecId::LONDON,
        "berlin" => SpecId::BERLIN,
        "istanbul" => SpecId::ISTANBUL,
        _ => return None,
    };
    Some(spec)
}
