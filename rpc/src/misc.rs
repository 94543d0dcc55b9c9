//! The `net_`, `web3_` and `personal_` namespaces.

use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, U64, keccak256};
use ir3_evm::EvmNode;
use jsonrpsee::core::RpcResult;

use crate::api::{NetApiServer, PersonalApiServer, Web3ApiServer};

/// Handler of the `net_` namespace.
#[derive(Debug)]
pub struct NetApi {
    node: Arc<EvmNode>,
}

impl NetApi {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>) -> Self {
        Self { node }
    }
}

impl NetApiServer for NetApi {
    fn version(&self) -> RpcResult<String> {
        Ok(self.node.config().chain_id.to_string())
    }

    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn peer_count(&self) -> RpcResult<U64> {
        Ok(U64::from(self.node.p2p().map_or(0, |p| p.connected_count())))
    }
}

/// Handler of the `web3_` namespace.
#[derive(Debug, Default)]
pub struct Web3Api;

impl Web3ApiServer for Web3Api {
    fn client_version(&self) -> RpcResult<String> {
        Ok(format!("ir3/v{}", env!("CARGO_PKG_VERSION")))
    }

    fn sha3(&self, input: Bytes) -> RpcResult<B256> {
        Ok(keccak256(input))
    }
}

/// Handler of the `personal_` namespace.
#[derive(Debug)]
pub struct PersonalApi {
    node: Arc<EvmNode>,
}

impl PersonalApi {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>) -> Self {
        Self { node }
    }
}

impl PersonalApiServer for PersonalApi {
    fn sign(
        &self,
        message: Bytes,
        address: Address,
        _password: Option<String>,
    ) -> RpcResult<Bytes> {
        tracing::trace!(%address, "personal_sign");
        Ok(self
            .node
            .accounts()
            .sign_message(address, &message)
            .map_err(crate::error::RpcError::from)?)
    }
}
