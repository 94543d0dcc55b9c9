//! The compute app's evaluator on this node's EVM: the binary knows both the peer apps
//! (`ir3-apps`) and the EVM node (`ir3-evm`), which do not know each other.

use std::{future::Future, pin::Pin, sync::Arc};

use alloy_primitives::Bytes;
use ir3_apps::peer::Evaluator;
use ir3_evm::EvmNode;

/// Runs compute calls as `eth_call`s at the latest block ([`EvmNode::run_code`]).
#[derive(Debug)]
pub struct EvmEvaluator(pub Arc<EvmNode>);

impl Evaluator for EvmEvaluator {
    fn evaluate(
        &self,
        code: Bytes,
        data: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send>> {
        let node = self.0.clone();
        Box::pin(async move { node.run_code(code, data).await.map_err(|e| e.to_string()) })
    }
}
