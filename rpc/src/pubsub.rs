//! `eth_subscribe` over WebSocket: `newHeads`, `logs`, `newPendingTransactions`, `syncing`.

use std::sync::Arc;

use alloy_rpc_types_eth::Filter;
use ir3_evm::EvmNode;
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionSink,
    core::{SubscriptionResult, async_trait},
};
use serde::Serialize;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::{api::EthPubSubApiServer, error::RpcError};

/// Handler of `eth_subscribe`.
#[derive(Debug)]
pub struct EthPubSub {
    node: Arc<EvmNode>,
}

impl EthPubSub {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>) -> Self {
        Self { node }
    }
}

async fn send(sink: &SubscriptionSink, item: &impl Serialize) -> bool {
    match serde_json::value::to_raw_value(item) {
        Ok(raw) => sink.send(raw).await.is_ok(),
        Err(_) => false,
    }
}

/// Forwards every item of a broadcast channel, mapped by `each`, until the client goes away.
async fn forward<T: Clone, U: Serialize>(
    sink: SubscriptionSink,
    mut items: Receiver<T>,
    each: impl Fn(T) -> Vec<U>,
) {
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            item = items.recv() => match item {
                Ok(item) => {
                    for out in each(item) {
                        if !send(&sink, &out).await {
                            return;
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        }
    }
}

#[async_trait]
impl EthPubSubApiServer for EthPubSub {
    async fn subscribe(
        &self,
        pending: PendingSubscriptionSink,
        kind: String,
        params: Option<serde_json::Value>,
    ) -> SubscriptionResult {
        match kind.as_str() {
            "newHeads" => {
                let blocks = self.node.subscribe_blocks();
                let sink = pending.accept().await?;
                tokio::spawn(forward(sink, blocks, |block| vec![block.rpc_block(false).header]));
            }
            "logs" => {
                let filter: Filter = match params.map(serde_json::from_value).transpose() {
                    Ok(filter) => filter.unwrap_or_default(),
                    Err(e) => {
                        let error = RpcError::InvalidParams(format!("invalid logs filter: {e}"));
                        pending.reject(error).await;
                        return Ok(());
                    }
                };
                let blocks = self.node.subscribe_blocks();
                let sink = pending.accept().await?;
                tokio::spawn(forward(sink, blocks, move |block| {
                    if !filter.matches_bloom(block.header.logs_bloom) {
                        return Vec::new();
                    }
                    (0..block.transactions.len())
                        .flat_map(|i| block.rpc_logs(i))
                        .filter(|log| filter.matches(&log.inner))
                        .collect()
                }));
            }
            "newPendingTransactions" => {
                let hashes = self.node.subscribe_transactions();
                let sink = pending.accept().await?;
                tokio::spawn(forward(sink, hashes, |hash| vec![hash]));
            }
            "syncing" => {
                let sink = pending.accept().await?;
                send(&sink, &false).await;
            }
            other => {
                let error = RpcError::InvalidParams(format!("unknown subscription kind {other}"));
                pending.reject(error).await;
            }
        }
        Ok(())
    }
}
