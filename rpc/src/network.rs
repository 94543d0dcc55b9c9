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
use jsonrpsee::core::RpcResult;

use crate::{
    api::{Ir3ApiServer, ValidatorChangeRequest},
    error::RpcError,
};

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
