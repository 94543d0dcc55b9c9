//! Raw encodings (`debug_getRaw*`) and the pool's content (`txpool_*`).

use std::sync::Arc;

use alloy_consensus::BlockBody;
use alloy_eips::{BlockId, eip2718::Encodable2718};
use alloy_primitives::{Address, Bytes};
use alloy_rlp::Encodable;

use crate::{block::SignedTx, node::EvmNode};

/// The pool split as geth reports it.
#[derive(Debug, Clone, Default)]
pub struct PoolContent {
    /// Executable now (gapless from each sender's nonce).
    pub pending: Vec<Arc<SignedTx>>,
    /// Waiting behind a nonce gap.
    pub queued: Vec<Arc<SignedTx>>,
}

impl EvmNode {
    /// The RLP-encoded header of a block.
    pub fn raw_header(&self, id: BlockId) -> Option<Bytes> {
        self.with_chain(|chain| {
            chain.block_by_id(id).map(|block| {
                let mut out = Vec::new();
                block.header.encode(&mut out);
                Bytes::from(out)
            })
        })
    }

    /// The RLP-encoded block (header, transactions, ommers, withdrawals from Shanghai on).
    pub fn raw_block(&self, id: BlockId) -> Option<Bytes> {
        self.with_chain(|chain| {
            chain.block_by_id(id).map(|block| {
                let body = BlockBody {
                    transactions: block.transactions.iter().map(|tx| tx.envelope.clone()).collect(),
                    ommers: block.ommers.clone(),
                    withdrawals: block
                        .header
                        .withdrawals_root
                        .map(|_| block.withdrawals.clone().unwrap_or_default()),
                };
                let full = alloy_consensus::Block { header: block.header.clone(), body };
                let mut out = Vec::new();
                full.encode(&mut out);
                Bytes::from(out)
            })
        })
    }

    /// The EIP-2718 encodings of a block's receipts.
    pub fn raw_receipts(&self, id: BlockId) -> Option<Vec<Bytes>> {
        self.with_chain(|chain| {
            chain.block_by_id(id).map(|block| {
                block.receipts.iter().map(|r| Bytes::from(r.envelope.encoded_2718())).collect()
            })
        })
    }

    /// The pool's content, optionally of one sender only, ordered by sender and nonce.
    pub fn pool_content(&self, sender: Option<Address>) -> PoolContent {
        let chain = self.chain.read();
        let pool = self.pool.lock();
        let (mut pending, mut queued) = pool.content(|a| chain.latest_nonce(a));
        if let Some(sender) = sender {
            pending.retain(|tx| tx.sender == sender);
            queued.retain(|tx| tx.sender == sender);
        }
        let order = |tx: &Arc<SignedTx>| (tx.sender, tx.nonce());
        pending.sort_by_key(order);
        queued.sort_by_key(order);
        PoolContent { pending, queued }
    }
}
