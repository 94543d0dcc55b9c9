//! A geth fork schedule: which rules (revm's [`SpecId`]) and which blob parameters each block
//! runs under, by block number before the merge and by timestamp after it, and the genesis
//! header exactly as geth builds it from the same file (so an imported chain's first block
//! finds its parent).

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_eips::{eip7685::EMPTY_REQUESTS_HASH, eip7840::BlobParams};
use alloy_genesis::Genesis;
use alloy_primitives::{Address, B64, B256, Bytes, U256};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::EMPTY_ROOT_HASH;
use revm::primitives::hardfork::SpecId;
use serde::{Deserialize, Serialize};

use crate::error::{EvmError, Result};

/// Blob parameters in force from a timestamp on (EIP-4844, EIP-7691, EIP-7892 BPO forks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobSchedule {
    /// First timestamp these parameters apply to.
    pub from_time: u64,
    /// Target blobs per block.
    pub target: u64,
    /// Maximum blobs per block.
    pub max: u64,
    /// Base fee update fraction.
    pub update_fraction: u128,
    /// Maximum blobs per transaction.
    pub max_per_tx: u64,
    /// EIP-7918 blob base cost (0 before Osaka).
    pub base_cost: u64,
}

impl BlobSchedule {
    fn from_params(from_time: u64, params: &BlobParams) -> Self {
        Self {
            from_time,
            target: params.target_blob_count,
            max: params.max_blob_count,
            update_fraction: params.update_fraction,
            max_per_tx: params.max_blobs_per_tx,
            base_cost: params.blob_base_cost,
        }
    }

    /// As alloy's blob parameters.
    pub fn params(&self) -> BlobParams {
        BlobParams {
            target_blob_count: self.target,
            max_blob_count: self.max,
            update_fraction: self.update_fraction,
            max_blobs_per_tx: self.max_per_tx,
            blob_base_cost: self.base_cost,
            ..BlobParams::cancun()
        }
    }
}

/// A chain's fork activations, from a geth genesis file's `config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkSchedule {
    /// Rules switched on by block number, in ascending order: (first block, rules).
    pub by_block: Vec<(u64, SpecId)>,
    /// First block under proof of stake (geth's `mergeNetsplitBlock`, or 0 with a terminal
    /// total difficulty of 0). A block with difficulty 0 on a chain with a terminal total
    /// difficulty is also past the merge.
    pub merge_block: Option<u64>,
    /// Whether the genesis names a terminal total difficulty at all.
    pub has_terminal_difficulty: bool,
    /// Rules switched on by timestamp (Shanghai on), in ascending order: (first time, rules).
    pub by_time: Vec<(u64, SpecId)>,
    /// Blob parameters by activation time, ascending.
    pub blobs: Vec<BlobSchedule>,
    /// Named activations as geth's `eth_config` reports them: (name, block or time).
    pub named: Vec<(String, ForkActivation)>,
    /// Where EIP-6110 deposit requests come from, if configured.
    pub deposit_contract: Option<Address>,
    /// The RLP of the genesis header as geth builds it; its state root is filled in when the
    /// chain is created.
    pub genesis_header: Bytes,
}

/// When a named fork starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForkActivation {
    /// At this block number.
    Block(u64),
    /// At this timestamp.
    Time(u64),
}

impl ForkSchedule {
    /// The schedule of a geth genesis. Refuses what iR³ cannot run (a fork revm does not
    /// implement, the DAO fork's irregular state change).
    pub fn from_genesis(genesis: &Genesis) -> Result<Self> {
        let c = &genesis.config;
        if c.dao_fork_block.is_some() && c.dao_fork_support {
            return Err(EvmError::InvalidParams(
                "genesis schedules the DAO fork: its irregular state change is not supported"
                    .into(),
            ));
        }
        if c.amsterdam_time.is_some() || c.bogota_time.is_some() {
            return Err(EvmError::InvalidParams(
                "genesis schedules a fork after Osaka, which this EVM does not implement".into(),
            ));
        }
        let blocks = [
            ("homestead", c.homestead_block, SpecId::HOMESTEAD),
            ("tangerine", c.eip150_block, SpecId::TANGERINE),
            ("spuriousDragon", c.eip158_block.or(c.eip155_block), SpecId::SPURIOUS_DRAGON),
            ("byzantium", c.byzantium_block, SpecId::BYZANTIUM),
            // revm folds Constantinople into Petersburg (EIP-1283 was withdrawn before mainnet).
            ("constantinople", c.constantinople_block, SpecId::PETERSBURG),
            ("petersburg", c.petersburg_block, SpecId::PETERSBURG),
            ("istanbul", c.istanbul_block, SpecId::ISTANBUL),
            ("muirGlacier", c.muir_glacier_block, SpecId::ISTANBUL),
            ("berlin", c.berlin_block, SpecId::BERLIN),
            ("london", c.london_block, SpecId::LONDON),
            ("arrowGlacier", c.arrow_glacier_block, SpecId::LONDON),
            ("grayGlacier", c.gray_glacier_block, SpecId::LONDON),
        ];
        let times = [
            ("shanghai", c.shanghai_time, SpecId::SHANGHAI),
            ("cancun", c.cancun_time, SpecId::CANCUN),
            ("prague", c.prague_time, SpecId::PRAGUE),
            ("osaka", c.osaka_time, SpecId::OSAKA),
            ("bpo1", c.bpo1_time, SpecId::OSAKA),
            ("bpo2", c.bpo2_time, SpecId::OSAKA),
            ("bpo3", c.bpo3_time, SpecId::OSAKA),
            ("bpo4", c.bpo4_time, SpecId::OSAKA),
            ("bpo5", c.bpo5_time, SpecId::OSAKA),
        ];
        let mut by_block: Vec<(u64, SpecId)> =
            blocks.iter().filter_map(|(_, at, spec)| at.map(|b| (b, *spec))).collect();
        by_block.sort_by_key(|(at, spec)| (*at, *spec));
        let mut by_time: Vec<(u64, SpecId)> =
            times.iter().filter_map(|(_, at, spec)| at.map(|t| (t, *spec))).collect();
        by_time.sort_by_key(|(at, spec)| (*at, *spec));
        let mut named: Vec<(String, ForkActivation)> = blocks
            .iter()
            .filter_map(|(name, at, _)| at.map(|b| (name.to_string(), ForkActivation::Block(b))))
            .collect();
        named.extend(
            times.iter().filter_map(|(name, at, _)| {
                at.map(|t| (name.to_string(), ForkActivation::Time(t)))
            }),
        );
        let ttd_zero = c.terminal_total_difficulty.is_some_and(|ttd| ttd.is_zero());
        let merge_block = c.merge_netsplit_block.or(ttd_zero.then_some(0));
        let params = c.blob_schedule_blob_params();
        let mut blobs = Vec::new();
        blobs.extend(c.cancun_time.map(|t| BlobSchedule::from_params(t, &params.cancun)));
        blobs.extend(c.prague_time.map(|t| BlobSchedule::from_params(t, &params.prague)));
        blobs.extend(c.osaka_time.map(|t| BlobSchedule::from_params(t, &params.osaka)));
        blobs.extend(params.scheduled.iter().map(|(t, p)| BlobSchedule::from_params(*t, p)));
        blobs.sort_by_key(|b| b.from_time);
        let mut schedule = Self {
            by_block,
            merge_block,
            has_terminal_difficulty: c.terminal_total_difficulty.is_some(),
            by_time,
            blobs,
            named,
            deposit_contract: c.deposit_contract_address,
            genesis_header: Bytes::new(),
        };
        let header = schedule.genesis_header_of(genesis);
        let mut rlp = Vec::new();
        header.encode(&mut rlp);
        schedule.genesis_header = rlp.into();
        Ok(schedule)
    }

    /// The rules of block `number` at `timestamp`.
    pub fn spec_at(&self, number: u64, timestamp: u64) -> SpecId {
        let merged = self.merge_block.is_some_and(|m| number >= m);
        self.spec_with(number, timestamp, merged)
    }

    /// The rules of a block given whether it is past the merge (an imported header with
    /// difficulty 0 on a chain with a terminal total difficulty is, whatever its number).
    pub fn spec_with(&self, number: u64, timestamp: u64, merged: bool) -> SpecId {
        let by_block = self
            .by_block
            .iter()
            .rev()
            .find(|(at, _)| *at <= number)
            .map_or(SpecId::FRONTIER, |(_, spec)| *spec);
        if !merged {
            return by_block;
        }
        self.by_time
            .iter()
            .rev()
            .find(|(at, _)| *at <= timestamp)
            .map_or(SpecId::MERGE.max(by_block), |(_, spec)| *spec)
    }

    /// Whether an imported header is past the merge.
    pub fn is_merged(&self, number: u64, difficulty: U256) -> bool {
        self.merge_block.is_some_and(|m| number >= m)
            || (self.has_terminal_difficulty && difficulty.is_zero() && number > 0)
    }

    /// Blob parameters at `timestamp` (`None` before Cancun).
    pub fn blob_params_at(&self, timestamp: u64) -> Option<BlobParams> {
        self.blobs.iter().rev().find(|b| b.from_time <= timestamp).map(BlobSchedule::params)
    }

    /// The genesis header, as created (state root included).
    pub fn genesis_header(&self) -> Result<Header> {
        Header::decode(&mut self.genesis_header.as_ref())
            .map_err(|e| EvmError::Internal(format!("undecodable genesis header: {e}")))
    }

    /// The genesis header geth derives from the file, with an empty state root (filled in
    /// when the state is built).
    fn genesis_header_of(&self, genesis: &Genesis) -> Header {
        let spec = self.spec_at(0, genesis.timestamp);
        let blob = spec >= SpecId::CANCUN;
        Header {
            parent_hash: B256::ZERO,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: genesis.coinbase,
            state_root: EMPTY_ROOT_HASH,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Default::default(),
            difficulty: genesis.difficulty,
            number: 0,
            gas_limit: genesis.gas_limit,
            gas_used: 0,
            timestamp: genesis.timestamp,
            extra_data: genesis.extra_data.clone(),
            mix_hash: genesis.mix_hash,
            nonce: B64::from(genesis.nonce),
            base_fee_per_gas: (spec >= SpecId::LONDON).then(|| {
                genesis
                    .base_fee_per_gas
                    .map_or(alloy_eips::eip1559::INITIAL_BASE_FEE, |fee| fee as u64)
            }),
            withdrawals_root: (spec >= SpecId::SHANGHAI).then_some(EMPTY_ROOT_HASH),
            blob_gas_used: blob.then(|| genesis.blob_gas_used.unwrap_or_default()),
            excess_blob_gas: blob.then(|| genesis.excess_blob_gas.unwrap_or_default()),
            parent_beacon_block_root: blob.then_some(B256::ZERO),
            requests_hash: (spec >= SpecId::PRAGUE).then_some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hive_genesis() -> Genesis {
        let json = r#"{"config": {"chainId": 1, "homesteadBlock": 0, "eip150Block": 3,
            "eip155Block": 6, "eip158Block": 6, "byzantiumBlock": 9, "constantinopleBlock": 12,
            "petersburgBlock": 15, "istanbulBlock": 18, "berlinBlock": 24, "londonBlock": 27,
            "mergeNetsplitBlock": 36, "shanghaiTime": 390, "cancunTime": 420,
            "pragueTime": 450, "osakaTime": 480, "bpo1Time": 510,
            "terminalTotalDifficulty": 4732352,
            "blobSchedule": {"cancun": {"target": 3, "max": 6, "baseFeeUpdateFraction": 3338477},
                             "prague": {"target": 6, "max": 9, "baseFeeUpdateFraction": 5007716},
                             "osaka": {"target": 6, "max": 9, "baseFeeUpdateFraction": 5007716},
                             "bpo1": {"target": 10, "max": 15, "baseFeeUpdateFraction": 8346193}}},
            "timestamp": "0x0", "gasLimit": "0x5f5e100", "difficulty": "0x20000",
            "extraData": "0x68697665636861696e", "alloc": {}}"#;
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_block_runs_under_its_fork() {
        let schedule = ForkSchedule::from_genesis(&hive_genesis()).unwrap();
        assert_eq!(schedule.spec_at(0, 0), SpecId::HOMESTEAD);
        assert_eq!(schedule.spec_at(5, 50), SpecId::TANGERINE);
        assert_eq!(schedule.spec_at(8, 80), SpecId::SPURIOUS_DRAGON);
        assert_eq!(schedule.spec_at(9, 90), SpecId::BYZANTIUM);
        assert_eq!(schedule.spec_at(30, 300), SpecId::LONDON);
        assert_eq!(schedule.spec_at(36, 360), SpecId::MERGE);
        assert_eq!(schedule.spec_at(39, 390), SpecId::SHANGHAI);
        assert_eq!(schedule.spec_at(45, 450), SpecId::PRAGUE);
        assert_eq!(schedule.spec_at(52, 520), SpecId::OSAKA);
        assert_eq!(schedule.blob_params_at(400), None);
        assert_eq!(schedule.blob_params_at(430).unwrap().max_blob_count, 6);
        assert_eq!(schedule.blob_params_at(515).unwrap().max_blob_count, 15);
        let header = schedule.genesis_header().unwrap();
        assert_eq!(header.base_fee_per_gas, None);
        assert_eq!(header.difficulty, U256::from(0x20000));
    }
}
