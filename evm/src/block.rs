//! Sealed blocks as the chain keeps them, and their JSON-RPC shapes.

use std::sync::Arc;

use alloy_consensus::{
    Header, ReceiptEnvelope, ReceiptWithBloom, Transaction as _, TxEnvelope, transaction::Recovered,
};
use alloy_eips::{
    eip2718::{Decodable2718, Encodable2718},
    eip4895::Withdrawals,
};
use alloy_primitives::{Address, B256, Bytes, Log, U256};
use alloy_rpc_types_eth as rpc;

use crate::error::{EvmError, Result};

/// A transaction with its recovered sender, hash and raw encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// The decoded transaction.
    pub envelope: TxEnvelope,
    /// The recovered sender.
    pub sender: Address,
    /// The transaction hash.
    pub hash: B256,
    /// Its EIP-2718 encoding.
    pub raw: Bytes,
    /// Sent from an impersonated account: the signature is a placeholder and the sender was
    /// given, not recovered.
    pub impersonated: bool,
}

impl SignedTx {
    /// Decodes raw EIP-2718 bytes and recovers the sender.
    pub fn decode(raw: &[u8]) -> Result<Self> {
        use alloy_consensus::transaction::SignerRecoverable;
        let envelope = decode_envelope(raw)?;
        let sender = envelope.recover_signer().map_err(|_| EvmError::InvalidSignature)?;
        let hash = *envelope.tx_hash();
        Ok(Self { envelope, sender, hash, raw: Bytes::copy_from_slice(raw), impersonated: false })
    }

    /// Decodes raw EIP-2718 bytes whose signer was recovered before (replay of the series,
    /// which records it): no signature recovery.
    pub(crate) fn decode_recovered(raw: &[u8], sender: Address) -> Result<Self> {
        let envelope = decode_envelope(raw)?;
        let hash = *envelope.tx_hash();
        Ok(Self { envelope, sender, hash, raw: Bytes::copy_from_slice(raw), impersonated: false })
    }

    /// Decodes a transaction sent from an impersonated account (placeholder signature).
    pub fn decode_impersonated(raw: &[u8], sender: Address) -> Result<Self> {
        let mut slice = raw;
        let envelope =
            TxEnvelope::decode_2718(&mut slice).map_err(|e| EvmError::TxDecode(e.to_string()))?;
        Ok(Self::impersonated(envelope, sender))
    }

    /// Wraps a transaction with a placeholder signature sent as `sender`. Its hash covers the
    /// sender too (as Anvil's does), so two impersonators sending the same fields differ.
    pub fn impersonated(envelope: TxEnvelope, sender: Address) -> Self {
        let raw = Bytes::from(envelope.encoded_2718());
        let mut preimage = raw.to_vec();
        preimage.extend_from_slice(sender.as_slice());
        let hash = alloy_primitives::keccak256(preimage);
        // The envelope carries the same hash, so every view of the transaction reports it.
        let envelope = with_hash(envelope, hash);
        Self { envelope, sender, hash, raw, impersonated: true }
    }

    /// Wraps an already signed envelope.
    pub fn from_envelope(envelope: TxEnvelope, sender: Address) -> Self {
        let raw = Bytes::from(envelope.encoded_2718());
        let hash = *envelope.tx_hash();
        Self { envelope, sender, hash, raw, impersonated: false }
    }

    /// The transaction's nonce.
    pub fn nonce(&self) -> u64 {
        self.envelope.nonce()
    }

    /// The most this transaction can cost its sender: `gas_limit * max_fee + value`.
    pub fn max_cost(&self) -> U256 {
        U256::from(self.envelope.gas_limit())
            .saturating_mul(U256::from(self.envelope.max_fee_per_gas()))
            .saturating_add(self.envelope.value())
    }
}

/// Decodes one whole EIP-2718 transaction of a supported type.
fn decode_envelope(raw: &[u8]) -> Result<TxEnvelope> {
    let mut slice = raw;
    let envelope =
        TxEnvelope::decode_2718(&mut slice).map_err(|e| EvmError::TxDecode(e.to_string()))?;
    if !slice.is_empty() {
        return Err(EvmError::TxDecode(format!("{} trailing bytes", slice.len())));
    }
    without_sidecar(envelope)
}

/// A blob transaction as blocks carry it: its sidecar (blobs, commitments, proofs), when sent
/// in the network form, is checked against the versioned hashes and dropped. A blob
/// transaction without one (the block form) is refused: its blobs could not be checked.
fn without_sidecar(envelope: TxEnvelope) -> Result<TxEnvelope> {
    use alloy_consensus::{Signed, TxEip4844Variant};
    let TxEnvelope::Eip4844(signed) = envelope else { return Ok(envelope) };
    let (tx, signature, hash) = signed.into_parts();
    let settings = alloy_eips::eip4844::env_settings::EnvKzgSettings::Default;
    tx.validate(settings.get())
        .map_err(|e| EvmError::InvalidTransaction(format!("invalid blob sidecar: {e}")))?;
    let TxEip4844Variant::TxEip4844WithSidecar(with_sidecar) = tx else {
        return Err(EvmError::InvalidTransaction("blob transaction without its sidecar".into()));
    };
    let stripped = TxEip4844Variant::TxEip4844(with_sidecar.tx);
    Ok(TxEnvelope::Eip4844(Signed::new_unchecked(stripped, signature, hash)))
}

/// The same signed transaction, reporting `hash` as its hash.
fn with_hash(envelope: TxEnvelope, hash: B256) -> TxEnvelope {
    use alloy_consensus::Signed;
    fn rehash<T: alloy_consensus::transaction::RlpEcdsaEncodableTx>(
        signed: Signed<T>,
        hash: B256,
    ) -> Signed<T> {
        let (tx, signature, _) = signed.into_parts();
        Signed::new_unchecked(tx, signature, hash)
    }
    match envelope {
        TxEnvelope::Legacy(s) => TxEnvelope::Legacy(rehash(s, hash)),
        TxEnvelope::Eip2930(s) => TxEnvelope::Eip2930(rehash(s, hash)),
        TxEnvelope::Eip1559(s) => TxEnvelope::Eip1559(rehash(s, hash)),
        TxEnvelope::Eip4844(s) => TxEnvelope::Eip4844(rehash(s, hash)),
        TxEnvelope::Eip7702(s) => TxEnvelope::Eip7702(rehash(s, hash)),
    }
}

/// A receipt as the chain keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// The consensus receipt (status, cumulative gas, logs, bloom).
    pub envelope: ReceiptEnvelope<Log>,
    /// Gas used by this transaction alone.
    pub gas_used: u64,
    /// Price paid per gas.
    pub effective_gas_price: u128,
    /// Address of the contract created, if any.
    pub contract_address: Option<Address>,
    /// Index of this receipt's first log within the block.
    pub first_log_index: u64,
}

/// A sealed block with its transactions and receipts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredBlock {
    /// The header.
    pub header: Header,
    /// The header's hash.
    pub hash: B256,
    /// Transactions in order.
    pub transactions: Vec<Arc<SignedTx>>,
    /// Receipts in the same order.
    pub receipts: Vec<StoredReceipt>,
    /// Size of the RLP-encoded block, in bytes.
    pub size: u64,
    /// Uncle headers (imported proof-of-work blocks).
    pub ommers: Vec<Header>,
    /// Withdrawals (imported blocks from Shanghai on; `None` for blocks without the field).
    pub withdrawals: Option<Withdrawals>,
}

impl StoredBlock {
    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.number
    }

    /// The JSON-RPC transaction object of the transaction at `index`.
    pub fn rpc_transaction(&self, index: usize) -> Option<rpc::Transaction> {
        let tx = self.transactions.get(index)?;
        Some(rpc::Transaction {
            inner: Recovered::new_unchecked(tx.envelope.clone(), tx.sender),
            block_hash: Some(self.hash),
            block_number: Some(self.header.number),
            transaction_index: Some(index as u64),
            effective_gas_price: Some(
                tx.envelope.effective_gas_price(self.header.base_fee_per_gas),
            ),
            block_timestamp: Some(self.header.timestamp),
        })
    }

    /// The JSON-RPC logs of the receipt at `index`.
    pub fn rpc_logs(&self, index: usize) -> Vec<rpc::Log> {
        let (Some(tx), Some(receipt)) = (self.transactions.get(index), self.receipts.get(index))
        else {
            return Vec::new();
        };
        receipt
            .envelope
            .logs()
            .iter()
            .enumerate()
            .map(|(i, log)| rpc::Log {
                inner: log.clone(),
                block_hash: Some(self.hash),
                block_number: Some(self.header.number),
                block_timestamp: Some(self.header.timestamp),
                transaction_hash: Some(tx.hash),
                transaction_index: Some(index as u64),
                log_index: Some(receipt.first_log_index + i as u64),
                removed: false,
            })
            .collect()
    }

    /// The JSON-RPC receipt of the transaction at `index`; `blob_gas_price` is this block's
    /// ([`crate::chain::Chain::blob_gas_price`]), reported for blob transactions.
    pub fn rpc_receipt(
        &self,
        index: usize,
        blob_gas_price: Option<u128>,
    ) -> Option<rpc::TransactionReceipt> {
        let tx = self.transactions.get(index)?;
        let receipt = self.receipts.get(index)?;
        let logs = self.rpc_logs(index);
        let consensus = receipt.envelope.as_receipt_with_bloom()?;
        let inner = ReceiptEnvelope::from_typed(
            tx.envelope.tx_type(),
            ReceiptWithBloom {
                receipt: alloy_consensus::Receipt {
                    status: consensus.receipt.status,
                    cumulative_gas_used: consensus.receipt.cumulative_gas_used,
                    logs,
                },
                logs_bloom: consensus.logs_bloom,
            },
        );
        Some(rpc::TransactionReceipt {
            inner,
            transaction_hash: tx.hash,
            transaction_index: Some(index as u64),
            block_hash: Some(self.hash),
            block_number: Some(self.header.number),
            gas_used: receipt.gas_used,
            effective_gas_price: receipt.effective_gas_price,
            blob_gas_used: tx
                .envelope
                .blob_versioned_hashes()
                .map(|h| h.len() as u64 * alloy_eips::eip4844::DATA_GAS_PER_BLOB),
            blob_gas_price: blob_gas_price.filter(|_| tx.envelope.is_eip4844()),
            from: tx.sender,
            to: tx.envelope.to(),
            contract_address: receipt.contract_address,
        })
    }

    /// The JSON-RPC block object, with hashes or full transactions.
    pub fn rpc_block(&self, full: bool) -> rpc::Block {
        let transactions = if full {
            rpc::BlockTransactions::Full(
                (0..self.transactions.len()).filter_map(|i| self.rpc_transaction(i)).collect(),
            )
        } else {
            rpc::BlockTransactions::Hashes(self.transactions.iter().map(|tx| tx.hash).collect())
        };
        rpc::Block {
            header: rpc::Header {
                hash: self.hash,
                inner: self.header.clone(),
                total_difficulty: None,
                size: Some(U256::from(self.size)),
            },
            uncles: self.ommers.iter().map(Header::hash_slow).collect(),
            transactions,
            withdrawals: self
                .header
                .withdrawals_root
                .map(|_| self.withdrawals.clone().unwrap_or_default()),
        }
    }
}
