//! The fee rules of the next block: its base fee (EIP-1559, dev override first) and its excess
//! blob gas (EIP-4844, EIP-7918 from Osaka), and the blob gas price of any block, each under the
//! fork its number and time reach.

use alloy_eips::eip1559::{BaseFeeParams, calc_next_block_base_fee};
use revm::primitives::hardfork::SpecId;

use alloy_consensus::Header;

use crate::{chain::Chain, config::ChainConfig};

impl Chain {
    /// Base fee of the next block: the dev override, else the EIP-1559 update rule.
    pub fn next_base_fee(&self) -> u64 {
        if let Some(fee) = self.settings.next_base_fee {
            return fee;
        }
        let head = &self.head().header;
        let london = self.config().spec_at(head.number + 1, head.timestamp + 1) >= SpecId::LONDON;
        match head.base_fee_per_gas {
            Some(base_fee) if london => calc_next_block_base_fee(
                head.gas_used,
                head.gas_limit,
                base_fee,
                BaseFeeParams::ethereum(),
            ),
            // The first block under EIP-1559.
            None if london => alloy_eips::eip1559::INITIAL_BASE_FEE,
            _ => 0,
        }
    }

    /// The excess blob gas of a block built on the head at `timestamp`; 0 before the genesis
    /// block is sealed.
    pub fn next_excess_blob_gas(&self, timestamp: u64) -> u64 {
        self.latest_block()
            .map_or(0, |head| excess_blob_gas_after(self.config(), &head.header, timestamp))
    }

    /// The blob gas price of a block (EIP-4844), from its excess blob gas under its fork's
    /// blob parameters; `None` before Cancun.
    pub fn blob_gas_price(&self, header: &alloy_consensus::Header) -> Option<u128> {
        let params = self.config().blob_params_at(header.number, header.timestamp)?;
        Some(params.calc_blob_fee(header.excess_blob_gas.unwrap_or_default()))
    }
}

/// The excess blob gas of the block after `parent` at `timestamp` (EIP-4844, with EIP-7918's
/// reserve price from Osaka on); 0 when the parent has none (before Cancun).
pub(crate) fn excess_blob_gas_after(config: &ChainConfig, parent: &Header, timestamp: u64) -> u64 {
    let (Some(excess), Some(used)) = (parent.excess_blob_gas, parent.blob_gas_used) else {
        return 0;
    };
    let number = parent.number + 1;
    let Some(params) = config.blob_params_at(number, timestamp) else { return 0 };
    if config.spec_at(number, timestamp) >= SpecId::OSAKA {
        params.next_block_excess_blob_gas_osaka(
            excess,
            used,
            parent.base_fee_per_gas.unwrap_or_default(),
        )
    } else {
        (excess + used).saturating_sub(params.target_blob_gas_per_block())
    }
}
