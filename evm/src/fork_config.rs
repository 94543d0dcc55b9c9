//! `eth_config` (EIP-7910): the fork the head runs under, the next and the last one scheduled,
//! each with its activation time, blob schedule, EIP-2124 fork id, precompiles and system
//! contracts.

use alloy_eips::{
    eip2935::HISTORY_STORAGE_ADDRESS, eip4788::BEACON_ROOTS_ADDRESS,
    eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
};
use alloy_primitives::{Address, B256, U64};
use revm::{
    precompile::{PrecompileSpecId, Precompiles},
    primitives::hardfork::SpecId,
};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::{
    config::ChainConfig,
    schedule::{ForkActivation, ForkSchedule},
};

/// One fork's configuration as EIP-7910 describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForkConfig {
    /// When the fork starts (0 for a fork active at genesis or by block number).
    pub activation_time: u64,
    /// Its blob parameters (`null` before Cancun).
    pub blob_schedule: Option<BlobConfig>,
    /// The chain id.
    pub chain_id: U64,
    /// The EIP-2124 fork id (4 bytes, hex).
    pub fork_id: String,
    /// Precompiles by name.
    pub precompiles: BTreeMap<String, Address>,
    /// System contracts by name.
    pub system_contracts: BTreeMap<String, Address>,
}

/// Blob parameters in `eth_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobConfig {
    /// Target blobs per block.
    pub target: u64,
    /// Maximum blobs per block.
    pub max: u64,
    /// Base fee update fraction.
    pub base_fee_update_fraction: u128,
}

/// The `eth_config` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainForkConfig {
    /// The fork of the head.
    pub current: ForkConfig,
    /// The next scheduled fork, if any.
    pub next: Option<ForkConfig>,
    /// The last scheduled fork, if any after the current one.
    pub last: Option<ForkConfig>,
}

/// geth's names of the precompiles, by address.
const PRECOMPILE_NAMES: [(u64, &str); 18] = [
    (0x01, "ECREC"),
    (0x02, "SHA256"),
    (0x03, "RIPEMD160"),
    (0x04, "ID"),
    (0x05, "MODEXP"),
    (0x06, "BN254_ADD"),
    (0x07, "BN254_MUL"),
    (0x08, "BN254_PAIRING"),
    (0x09, "BLAKE2F"),
    (0x0a, "KZG_POINT_EVALUATION"),
    (0x0b, "BLS12_G1ADD"),
    (0x0c, "BLS12_G1MSM"),
    (0x0d, "BLS12_G2ADD"),
    (0x0e, "BLS12_G2MSM"),
    (0x0f, "BLS12_PAIRING_CHECK"),
    (0x10, "BLS12_MAP_FP_TO_G1"),
    (0x11, "BLS12_MAP_FP2_TO_G2"),
    (0x100, "P256VERIFY"),
];

/// `eth_config` of a chain whose head is at `timestamp`, with genesis hash `genesis`.
pub fn fork_config(
    config: &ChainConfig,
    genesis: B256,
    head_number: u64,
    timestamp: u64,
) -> ChainForkConfig {
    let Some(schedule) = &config.schedule else {
        let current = one_fork(config, config.spec, 0, timestamp, fork_id(genesis, &[]));
        return ChainForkConfig { current, next: None, last: None };
    };
    let genesis_time = config.genesis_timestamp;
    let forks = fork_points(schedule, genesis_time);
    let passed = |point: &ForkActivation| match *point {
        ForkActivation::Block(b) => b <= head_number,
        ForkActivation::Time(t) => t <= timestamp,
    };
    let id_at = |count: usize| fork_id(genesis, &forks[..count]);
    let active = forks.iter().take_while(|p| passed(p)).count();
    let time_of = |point: &ForkActivation| match *point {
        ForkActivation::Time(t) => t,
        ForkActivation::Block(_) => 0,
    };
    let current_time = forks[..active].last().map_or(0, time_of);
    let current = one_fork(
        config,
        config.spec_at(head_number, timestamp),
        current_time,
        timestamp,
        id_at(active),
    );
    let future = |index: usize| {
        let point = forks[index];
        let at = time_of(&point);
        let spec = schedule.spec_at(u64::MAX, at);
        one_fork(config, spec, at, at, id_at(index + 1))
    };
    let next = (active < forks.len()).then(|| future(active));
    let last = (active + 1 < forks.len()).then(|| future(forks.len() - 1));
    ChainForkConfig { current, next, last }
}

/// The fork points that change the fork id: distinct non-genesis blocks, then distinct times
/// after genesis, in order (EIP-2124 as geth gathers them).
fn fork_points(schedule: &ForkSchedule, genesis_time: u64) -> Vec<ForkActivation> {
    let mut blocks: Vec<u64> = Vec::new();
    let mut times: Vec<u64> = Vec::new();
    for (_, point) in &schedule.named {
        match *point {
            ForkActivation::Block(b) if b > 0 => blocks.push(b),
            ForkActivation::Time(t) if t > genesis_time => times.push(t),
            _ => {}
        }
    }
    blocks.extend(schedule.merge_block.filter(|b| *b > 0));
    blocks.sort_unstable();
    blocks.dedup();
    times.sort_unstable();
    times.dedup();
    blocks
        .into_iter()
        .map(ForkActivation::Block)
        .chain(times.into_iter().map(ForkActivation::Time))
        .collect()
}

/// The EIP-2124 fork hash: CRC32 of the genesis hash and each passed fork point.
fn fork_id(genesis: B256, passed: &[ForkActivation]) -> String {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(genesis.as_slice());
    for point in passed {
        let (ForkActivation::Block(at) | ForkActivation::Time(at)) = *point;
        hasher.update(&at.to_be_bytes());
    }
    format!("0x{:08x}", hasher.finalize())
}

fn one_fork(
    config: &ChainConfig,
    spec: SpecId,
    activation_time: u64,
    timestamp: u64,
    fork_id: String,
) -> ForkConfig {
    let available = Precompiles::new(PrecompileSpecId::from_spec_id(spec));
    let precompiles = PRECOMPILE_NAMES
        .iter()
        .map(|(n, name)| (precompile_address(*n), *name))
        .filter(|(address, _)| available.contains(address))
        .map(|(address, name)| (name.to_string(), address))
        .collect();
    let mut system_contracts = BTreeMap::new();
    if spec >= SpecId::CANCUN {
        system_contracts.insert("BEACON_ROOTS_ADDRESS".into(), BEACON_ROOTS_ADDRESS);
    }
    if spec >= SpecId::PRAGUE {
        system_contracts.insert(
            "CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS".into(),
            CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
        );
        let deposit = config.schedule.as_ref().and_then(|s| s.deposit_contract);
        system_contracts.insert("DEPOSIT_CONTRACT_ADDRESS".into(), deposit.unwrap_or_default());
        system_contracts.insert("HISTORY_STORAGE_ADDRESS".into(), HISTORY_STORAGE_ADDRESS);
        system_contracts.insert(
            "WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS".into(),
            WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
        );
    }
    let blob_schedule = config.blob_params_at(u64::MAX, timestamp).map(|p| BlobConfig {
        target: p.target_blob_count,
        max: p.max_blob_count,
        base_fee_update_fraction: p.update_fraction,
    });
    ForkConfig {
        activation_time,
        blob_schedule,
        chain_id: U64::from(config.chain_id),
        fork_id,
        precompiles,
        system_contracts,
    }
}

fn precompile_address(n: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[12..].copy_from_slice(&n.to_be_bytes());
    Address::from(bytes)
}
