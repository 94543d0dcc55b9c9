//! The `ir3_` namespace: what the peer-to-peer foundation knows — who answered what to an
//! intent (YES, NO, silence), the peers and their history, where a transaction stands in the
//! ordering, the validator set, and the decided heights with their certificates.

use std::sync::Arc;

use alloy_primitives::{B256, U64};
use ir3_evm::{
    EvmNode,
    network::{HeightView, MembershipChange, NetworkStatus, TransactionStatus},
};
use ir3_foundation::net::{IntentInsight, PeerInsight};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde::Deserialize;

use crate::error::RpcError;

/// A change of the validator set: Ed25519 public keys (32 bytes, hex) to add and to remove.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ValidatorChangeRequest {
    /// Keys that join the set.
    #[serde(default)]
    pub add: Vec<B256>,
    /// Keys that leave it.
    #[serde(default)]
    pub remove: Vec<B256>,
}

/// The `ir3_` namespace.
#[rpc(server, namespace = "ir3")]
pub trait Ir3Api {
    /// Who answered an intent this node declared: YES, NO (reason, retry-after) and silence,
    /// with the derived counts. Takes the intent id or the hash of a transaction sent here.
    #[method(name = "intentResponses")]
    fn intent_responses(&self, id: B256) -> RpcResult<Option<IntentInsight>>;
    /// The peers this node knows and their YES/NO/SILENCE history.
    #[method(name = "peers")]
    fn peers(&self) -> RpcResult<Vec<PeerInsight>>;
    /// Where a transaction stands: `final`, `tentative`, `dropped` (with the reason),
    /// `pending` or `unknown`.
    #[method(name = "transactionStatus")]
    fn transaction_status(&self, hash: B256) -> RpcResult<TransactionStatus>;
    /// The validator set, this node's seat, and the latest/safe/finalized blocks.
    #[method(name = "networkStatus")]
    fn network_status(&self) -> RpcResult<NetworkStatus>;
    /// A decided height (default: the last one): its round, value, epochs and the validators
    /// whose precommits its certificate holds; `null` for a height not decided here.
    #[method(name = "height")]
    fn height(&self, height: Option<U64>) -> RpcResult<Option<HeightView>>;
    /// This validator's signed approval of a change of the validator set, ordered like a
    /// transaction; the change takes effect at the height after the one where approvals of
    /// more than two thirds of the current validators are decided (`ir3_networkStatus` shows
    /// pending changes and the set). Returns the change's id.
    #[method(name = "approveValidatorChange")]
    fn approve_validator_change(&self, change: ValidatorChangeRequest) -> RpcResult<B256>;
}

/// Handler of the `ir3_` namespace.
#[derive(Debug)]
pub struct Ir3Handler {
    node: Arc<EvmNode>,
}

impl Ir3Handler {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>) -> Self {
        Self { node }
    }
}

impl Ir3ApiServer for Ir3Handler {
    fn intent_responses(&self, id: B256) -> RpcResult<Option<IntentInsight>> {
        Ok(self.node.intent_responses(id).map_err(RpcError::from)?)
    }

    fn peers(&self) -> RpcResult<Vec<PeerInsight>> {
        Ok(self.node.peer_insights().map_err(RpcError::from)?)
    }

    fn transaction_status(&self, hash: B256) -> RpcResult<TransactionStatus> {
        Ok(self.node.transaction_status(hash))
    }

    fn network_status(&self) -> RpcResult<NetworkStatus> {
        Ok(self.node.network_status().map_err(RpcError::from)?)
    }

    fn height(&self, height: Option<U64>) -> RpcResult<Option<HeightView>> {
        Ok(self.node.height_view(height.map(|h| h.to::<u64>())).map_err(RpcError::from)?)
    }

    fn approve_validator_change(&self, change: ValidatorChangeRequest) -> RpcResult<B256> {
        let change = MembershipChange {
            add: change.add.iter().map(|k| k.0).collect(),
            remove: change.remove.iter().map(|k| k.0).collect(),
        };
        let approved = tokio::task::block_in_place(|| self.node.approve_membership_change(change));
        Ok(approved.map_err(RpcError::from)?)
    }
}
