//! `--init genesis.json`: a chain configuration from a geth genesis file (alloy-genesis
//! parses it): chain id, gas limit, base fee, timestamp, coinbase, the fork schedule (each
//! block runs under its own fork: [`crate::schedule`]), the genesis header as geth builds it,
//! and the allocated accounts with their code, nonce and storage.

use alloy_genesis::Genesis;
use alloy_primitives::U256;

use crate::{
    config::{ChainConfig, INITIAL_BASE_FEE},
    dev::LoadedAccount,
    error::{EvmError, Result},
    schedule::ForkSchedule,
};

/// Builds a chain configuration from a parsed geth genesis.
pub fn chain_config(genesis: &Genesis) -> Result<ChainConfig> {
    let schedule = ForkSchedule::from_genesis(genesis)?;
    let mut config = ChainConfig::dev(genesis.config.chain_id, Vec::new(), genesis.timestamp);
    // The rules of the newest fork the schedule reaches (for what is not per block).
    config.spec = schedule.spec_at(u64::MAX, u64::MAX);
    if genesis.gas_limit > 0 {
        config.gas_limit = genesis.gas_limit;
    }
    config.initial_base_fee = genesis
        .base_fee_per_gas
        .map(|fee| u64::try_from(fee).unwrap_or(u64::MAX))
        .unwrap_or(INITIAL_BASE_FEE);
    config.coinbase = genesis.coinbase;
    config.schedule = Some(schedule);
    config.genesis_accounts = genesis
        .alloc
        .iter()
        .map(|(address, account)| LoadedAccount {
            address: *address,
            balance: account.balance,
            nonce: account.nonce.unwrap_or_default(),
            code: account.code.clone().unwrap_or_default(),
            storage: account
                .storage
                .iter()
                .flatten()
                .map(|(slot, value)| (U256::from_be_bytes(slot.0), U256::from_be_bytes(value.0)))
                .collect(),
        })
        .collect();
    for account in &config.genesis_accounts {
        revm::bytecode::Bytecode::new_raw_checked(account.code.clone()).map_err(|e| {
            EvmError::InvalidParams(format!("invalid code for {}: {e}", account.address))
        })?;
    }
    Ok(config)
}

/// Reads and parses a geth genesis file.
pub fn read_genesis_file(path: &std::path::Path) -> Result<ChainConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EvmError::InvalidParams(format!("cannot read {}: {e}", path.display())))?;
    let genesis: Genesis = serde_json::from_str(&text)
        .map_err(|e| EvmError::InvalidParams(format!("invalid genesis {}: {e}", path.display())))?;
    chain_config(&genesis)
}

#[cfg(test)]
mod tests {
    use revm::primitives::hardfork::SpecId;

    use super::*;

    #[test]
    fn geth_genesis_gives_chain_id_rules_and_accounts() {
        let json = r#"{
            "config": {"chainId": 4242, "londonBlock": 0, "shanghaiTime": 0, "cancunTime": 0,
                       "terminalTotalDifficulty": 0},
            "gasLimit": "0x1c9c380", "timestamp": "0x10", "baseFeePerGas": "0x7",
            "difficulty": "0x0",
            "alloc": {"0x0000000000000000000000000000000000000abc":
                        {"balance": "0x64", "nonce": "0x2", "code": "0x6000",
                         "storage": {"0x0000000000000000000000000000000000000000000000000000000000000001":
                                     "0x0000000000000000000000000000000000000000000000000000000000000009"}}}
        }"#;
        let genesis: Genesis = serde_json::from_str(json).unwrap();
        let config = chain_config(&genesis).unwrap();
        assert_eq!(config.chain_id, 4242);
        assert_eq!(config.spec_at(1, 17), SpecId::CANCUN);
        assert_eq!(config.gas_limit, 30_000_000);
        assert_eq!(config.initial_base_fee, 7);
        assert_eq!(config.genesis_timestamp, 16);
        let account = &config.genesis_accounts[0];
        assert_eq!((account.balance, account.nonce), (U256::from(100), 2));
        assert_eq!(account.storage, vec![(U256::from(1), U256::from(9))]);
    }

    #[test]
    fn later_forks_apply_from_their_block_or_time() {
        let json = r#"{"config": {"chainId": 1, "londonBlock": 0, "terminalTotalDifficulty": 0,
                       "shanghaiTime": 0, "cancunTime": 100}, "timestamp": "0x0",
                       "gasLimit": "0x1", "difficulty": "0x0", "alloc": {}}"#;
        let genesis: Genesis = serde_json::from_str(json).unwrap();
        let config = chain_config(&genesis).unwrap();
        assert_eq!(config.spec_at(3, 99), SpecId::SHANGHAI);
        assert_eq!(config.spec_at(4, 100), SpecId::CANCUN);
    }

    #[test]
    fn the_dao_fork_is_refused() {
        let json = r#"{"config": {"chainId": 1, "daoForkBlock": 5, "daoForkSupport": true},
                       "timestamp": "0x0", "gasLimit": "0x1", "difficulty": "0x0", "alloc": {}}"#;
        let genesis: Genesis = serde_json::from_str(json).unwrap();
        assert!(chain_config(&genesis).is_err());
    }
}
