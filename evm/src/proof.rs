//! `eth_getProof` (EIP-1186) and `eth_getStorageValues`: proofs come from the same tries as
//! the state root, which hold the latest state only, so a proof is served for the head.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rpc_types_eth::{BlockId, EIP1186AccountProofResponse, EIP1186StorageProof};
use alloy_serde::storage::JsonStorageKey;

use crate::{
    error::{EvmError, Result},
    node::EvmNode,
};

/// Most slots one `eth_getStorageValues` call may read (geth's limit).
pub const MAX_STORAGE_VALUES: usize = 1024;

impl EvmNode {
    /// `eth_getProof`: the account's fields and its storage slots with their Merkle proofs
    /// against the state root of `block`, which must be the head (the tries keep the latest
    /// state only; older states are served by the versioned values, without proofs).
    pub fn proof(
        &self,
        address: Address,
        keys: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> Result<EIP1186AccountProofResponse> {
        let mut chain = self.chain.write();
        let number = chain.resolve(block)?;
        let head = chain.head_number();
        if number != head {
            return Err(EvmError::InvalidParams(format!(
                "proofs are kept for the latest block only ({head}); block {number} is older"
            )));
        }
        if chain.state().fork().is_some() {
            return Err(EvmError::InvalidParams(
                "a forked chain holds no tries for the parent's state: no proofs".into(),
            ));
        }
        let slots: Vec<U256> = keys.iter().map(|k| U256::from_be_bytes(k.as_b256().0)).collect();
        let proof = chain
            .state
            .latest_proof(address, &slots)
            .map_err(|e| EvmError::Internal(e.to_string()))?;
        let account = chain.account(address, head);
        let storage_proof = keys
            .into_iter()
            .zip(slots)
            .zip(proof.storage)
            .map(|((key, slot), nodes)| EIP1186StorageProof {
                key,
                value: chain.storage(address, slot, head),
                proof: nodes.into_iter().map(Bytes::from).collect(),
            })
            .collect();
        Ok(EIP1186AccountProofResponse {
            address,
            balance: account.map(|a| a.balance).unwrap_or_default(),
            code_hash: account.map_or(revm::primitives::KECCAK_EMPTY, |a| a.code_hash),
            nonce: account.map(|a| a.nonce).unwrap_or_default(),
            storage_hash: proof.storage_root,
            account_proof: proof.account.into_iter().map(Bytes::from).collect(),
            storage_proof,
        })
    }

    /// `eth_getStorageValues`: many slots of many accounts at one block.
    pub fn storage_values(
        &self,
        requests: BTreeMap<Address, Vec<B256>>,
        block: Option<BlockId>,
    ) -> Result<BTreeMap<Address, Vec<B256>>> {
        let count: usize = requests.values().map(Vec::len).sum();
        if count == 0 {
            return Err(EvmError::InvalidParams("empty request".into()));
        }
        if count > MAX_STORAGE_VALUES {
            return Err(EvmError::InvalidParams(format!(
                "too many slots (max {MAX_STORAGE_VALUES}, got {count})"
            )));
        }
        self.read_state(|chain| {
            let number = chain.resolve(block)?;
            Ok(requests
                .iter()
                .map(|(address, slots)| {
                    let values = slots
                        .iter()
                        .map(|slot| chain.storage(*address, U256::from_be_bytes(slot.0), number))
                        .map(B256::from)
                        .collect();
                    (*address, values)
                })
                .collect())
        })
    }
}
