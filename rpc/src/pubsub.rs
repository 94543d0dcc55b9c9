//! `eth_subscribe` over WebSocket: `newHeads`, `logs`, `newPendingTransactions`, `syncing`.

use std::sync::Arc;

use alloy_rpc_types_eth::{
    Filter,
    pubsub::{Params, SubscriptionKind},
};
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
        kind: SubscriptionKind,
        params: Option<Params>,
    ) -> SubscriptionResult {
        match kind {
            SubscriptionKind::NewHeads => {
                let blocks = self.node.subscribe_blocks();
                let sink = pending.accept().await?;
                tokio::spawn(forward(sink, blocks, |block| vec![block.rpc_block(false).header]));
            }
            SubscriptionKind::Logs => {
                let filter = match params.unwrap_or_default() {
                    Params::None => Filter::default(),
                    Params::Logs(filter) => *filter,
                    _ => {
                        let error = RpcError::InvalidParams(
                            "invalid logs filter: expected a filter object".into(),
                        );
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
            SubscriptionKind::NewPendingTransactions => {
                let hashes = self.node.subscribe_transactions();
                let sink = pending.accept().await?;
                tokio::spawn(forward(sink, hashes, |hash| vec![hash]));
            }
            SubscriptionKind::Syncing => {
                let sink = pending.accept().await?;
                send(&sink, &false).await;
            }
            SubscriptionKind::TransactionReceipts => {
                let error = RpcError::InvalidParams(
                    "unsupported subscription kind transactionReceipts".into(),
                );
                pending.reject(error).await;
            }
        }
        Ok(())
    }
}
