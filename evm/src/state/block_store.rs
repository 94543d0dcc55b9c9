//! Sealed blocks in the derived store: each block (header, transactions with their senders,
//! receipts) by number, block numbers by hash, and every transaction's position by its hash.
//! The chain keeps a window of recent blocks in memory and reads older ones from here.

use std::sync::Arc;

use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_eips::{
    eip2718::{Decodable2718, Encodable2718},
    eip4895::Withdrawals,
};
use alloy_primitives::{Address, B256, Log};
use alloy_rlp::{Decodable, Encodable};
use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use super::{
    StateReadError, StateStore,
    store::{forget_checkpoint, store_error},
};
use crate::block::{SignedTx, StoredBlock, StoredReceipt};

/// Blocks: number → encoded block.
pub(super) const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
/// Block hashes and the state revision of each block's post-state: number → hash ‖ revision.
pub(super) const BLOCK_HASHES: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("block_hashes");
/// Block numbers by block hash.
pub(super) const BLOCK_NUMBERS: TableDefinition<'_, &[u8], u64> =
    TableDefinition::new("block_numbers");
/// Otterscan's address index: address ‖ block number ‖ index → nothing, for every
/// transaction the address sent, received or created.
pub(super) const ADDRESS_TXS: TableDefinition<'_, &[u8], ()> = TableDefinition::new("address_txs");
/// Transactions by sender and nonce: sender ‖ nonce → transaction hash.
pub(super) const SENDER_NONCES: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("sender_nonces");
/// Transaction positions: hash → block number ‖ index (big endian).
pub(super) const TX_POSITIONS: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("tx_positions");

#[derive(Serialize, Deserialize)]
struct EncodedTx {
    raw: Vec<u8>,
    sender: [u8; 20],
    impersonated: bool,
}

#[derive(Serialize, Deserialize)]
struct EncodedReceipt {
    envelope: Vec<u8>,
    gas_used: u64,
    effective_gas_price: u128,
    contract_address: Option<[u8; 20]>,
    first_log_index: u64,
}

#[derive(Serialize, Deserialize)]
struct EncodedBlock {
    header: Vec<u8>,
    hash: [u8; 32],
    size: u64,
    transactions: Vec<EncodedTx>,
    receipts: Vec<EncodedReceipt>,
    /// RLP of the uncle headers' list.
    ommers: Vec<u8>,
    /// RLP of the withdrawals' list, for blocks that have one.
    withdrawals: Option<Vec<u8>>,
}

fn encode_block(block: &StoredBlock) -> Result<Vec<u8>, StateReadError> {
    let mut header = Vec::new();
    block.header.encode(&mut header);
    let encoded = EncodedBlock {
        header,
        hash: block.hash.0,
        size: block.size,
        transactions: block
            .transactions
            .iter()
            .map(|tx| EncodedTx {
                raw: tx.raw.to_vec(),
                sender: tx.sender.0.0,
                impersonated: tx.impersonated,
            })
            .collect(),
        receipts: block
            .receipts
            .iter()
            .map(|r| EncodedReceipt {
                envelope: r.envelope.encoded_2718(),
                gas_used: r.gas_used,
                effective_gas_price: r.effective_gas_price,
                contract_address: r.contract_address.map(|a| a.0.0),
                first_log_index: r.first_log_index,
            })
            .collect(),
        ommers: alloy_rlp::encode(&block.ommers),
        withdrawals: block.withdrawals.as_ref().map(alloy_rlp::encode),
    };
    postcard::to_allocvec(&encoded).map_err(store_error)
}

fn decode_block(bytes: &[u8]) -> Result<StoredBlock, StateReadError> {
    let encoded: EncodedBlock = postcard::from_bytes(bytes).map_err(store_error)?;
    let header = Header::decode(&mut encoded.header.as_slice()).map_err(store_error)?;
    let transactions = encoded
        .transactions
        .into_iter()
        .map(|tx| {
            let sender = Address::from(tx.sender);
            let signed = if tx.impersonated {
                SignedTx::decode_impersonated(&tx.raw, sender)
            } else {
                TxEnvelope::decode_2718(&mut tx.raw.as_slice())
                    .map(|envelope| SignedTx::from_envelope(envelope, sender))
                    .map_err(|e| crate::EvmError::TxDecode(e.to_string()))
            };
            signed.map(Arc::new).map_err(store_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let receipts = encoded
        .receipts
        .into_iter()
        .map(|r| {
            let envelope = ReceiptEnvelope::<Log>::decode_2718(&mut r.envelope.as_slice())
                .map_err(store_error)?;
            Ok(StoredReceipt {
                envelope,
                gas_used: r.gas_used,
                effective_gas_price: r.effective_gas_price,
                contract_address: r.contract_address.map(Address::from),
                first_log_index: r.first_log_index,
            })
        })
        .collect::<Result<Vec<_>, StateReadError>>()?;
    let ommers = Vec::<Header>::decode(&mut encoded.ommers.as_slice()).map_err(store_error)?;
    let withdrawals = encoded
        .withdrawals
        .map(|w| Withdrawals::decode(&mut w.as_slice()))
        .transpose()
        .map_err(store_error)?;
    Ok(StoredBlock {
        header,
        hash: B256::from(encoded.hash),
        transactions,
        receipts,
        size: encoded.size,
        ommers,
        withdrawals,
    })
}

/// The addresses a transaction touches for Otterscan's search: sender, recipient, created
/// contract.
pub(crate) fn touched_addresses(block: &StoredBlock, index: usize) -> Vec<Address> {
    let tx = &block.transactions[index];
    let mut addresses = vec![tx.sender];
    addresses.extend(alloy_consensus::Transaction::to(&tx.envelope));
    addresses.extend(block.receipts.get(index).and_then(|r| r.contract_address));
    addresses.sort_unstable();
    addresses.dedup();
    addresses
}

fn address_key(address: Address, number: u64, index: u32) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..20].copy_from_slice(address.as_slice());
    key[20..28].copy_from_slice(&number.to_be_bytes());
    key[28..].copy_from_slice(&index.to_be_bytes());
    key
}

fn nonce_key(sender: Address, nonce: u64) -> [u8; 28] {
    let mut key = [0u8; 28];
    key[..20].copy_from_slice(sender.as_slice());
    key[20..].copy_from_slice(&nonce.to_be_bytes());
    key
}

fn position(number: u64, index: u32) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&number.to_be_bytes());
    out[8..].copy_from_slice(&index.to_be_bytes());
    out
}

/// The block tables of one write transaction.
struct BlockTables<'t> {
    by_number: redb::Table<'t, u64, &'static [u8]>,
    hashes: redb::Table<'t, u64, &'static [u8]>,
    by_hash: redb::Table<'t, &'static [u8], u64>,
    positions: redb::Table<'t, &'static [u8], &'static [u8]>,
    by_address: redb::Table<'t, &'static [u8], ()>,
    by_nonce: redb::Table<'t, &'static [u8], &'static [u8]>,
}

impl<'t> BlockTables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Self, StateReadError> {
        Ok(Self {
            by_number: txn.open_table(BLOCKS).map_err(store_error)?,
            hashes: txn.open_table(BLOCK_HASHES).map_err(store_error)?,
            by_hash: txn.open_table(BLOCK_NUMBERS).map_err(store_error)?,
            positions: txn.open_table(TX_POSITIONS).map_err(store_error)?,
            by_address: txn.open_table(ADDRESS_TXS).map_err(store_error)?,
            by_nonce: txn.open_table(SENDER_NONCES).map_err(store_error)?,
        })
    }

    /// Adds (`add`) or removes the entries of blocks in the hash and transaction indexes, in
    /// key order per table (each B-tree page is then written once, not once per key).
    fn index<'b>(
        &mut self,
        blocks: impl Iterator<Item = &'b StoredBlock>,
        add: bool,
    ) -> Result<(), StateReadError> {
        let mut hashes = Vec::new();
        let mut positions = Vec::new();
        let mut addresses = Vec::new();
        let mut nonces = Vec::new();
        for block in blocks {
            let number = block.number();
            hashes.push((block.hash, number));
            for (index, tx) in block.transactions.iter().enumerate() {
                positions.push((tx.hash, position(number, index as u32)));
                nonces.push((nonce_key(tx.sender, tx.nonce()), tx.hash));
                addresses.extend(
                    touched_addresses(block, index)
                        .into_iter()
                        .map(|address| address_key(address, number, index as u32)),
                );
            }
        }
        hashes.sort_unstable();
        positions.sort_unstable();
        addresses.sort_unstable();
        nonces.sort_unstable();
        if add {
            for (hash, number) in hashes {
                self.by_hash.insert(hash.as_slice(), number).map_err(store_error)?;
            }
            for (hash, at) in positions {
                self.positions.insert(hash.as_slice(), &at[..]).map_err(store_error)?;
            }
            for key in addresses {
                self.by_address.insert(&key[..], ()).map_err(store_error)?;
            }
            for (key, hash) in nonces {
                self.by_nonce.insert(&key[..], hash.as_slice()).map_err(store_error)?;
            }
        } else {
            for (hash, _) in hashes {
                self.by_hash.remove(hash.as_slice()).map_err(store_error)?;
            }
            for (hash, _) in positions {
                self.positions.remove(hash.as_slice()).map_err(store_error)?;
            }
            for key in addresses {
                self.by_address.remove(&key[..]).map_err(store_error)?;
            }
            for (key, _) in nonces {
                self.by_nonce.remove(&key[..]).map_err(store_error)?;
            }
        }
        Ok(())
    }
}

impl StateStore {
    /// Writes sealed blocks, each with the revision of its post-state, and their hash and
    /// transaction indexes, as part of write transaction `txn`.
    pub(super) fn write_blocks(
        txn: &redb::WriteTransaction,
        blocks: &[(Arc<StoredBlock>, u64)],
    ) -> Result<(), StateReadError> {
        if blocks.is_empty() {
            return Ok(());
        }
        let mut tables = BlockTables::open(txn)?;
        for (block, revision) in blocks {
            let encoded = encode_block(block)?;
            tables.by_number.insert(block.number(), &encoded[..]).map_err(store_error)?;
            let mut hash_revision = [0u8; 40];
            hash_revision[..32].copy_from_slice(block.hash.as_slice());
            hash_revision[32..].copy_from_slice(&revision.to_be_bytes());
            tables.hashes.insert(block.number(), &hash_revision[..]).map_err(store_error)?;
        }
        tables.index(blocks.iter().map(|(block, _)| &**block), true)
    }

    /// Removes every block after `number` and its indexes.
    pub(crate) fn remove_blocks_after(&self, number: u64) -> Result<(), StateReadError> {
        let txn = self.begin_write()?;
        forget_checkpoint(self, &txn)?;
        {
            let mut tables = BlockTables::open(&txn)?;
            tables
                .hashes
                .extract_from_if((number.saturating_add(1)).., |_, _| true)
                .map_err(store_error)?
                .for_each(drop);
            let mut removed = Vec::new();
            for entry in tables
                .by_number
                .extract_from_if((number.saturating_add(1)).., |_, _| true)
                .map_err(store_error)?
            {
                let (_, bytes) = entry.map_err(store_error)?;
                removed.push(decode_block(bytes.value())?);
            }
            tables.index(removed.iter(), false)?;
        }
        txn.commit().map_err(store_error)?;
        self.refresh()
    }

    /// The block with this number.
    pub(crate) fn block(&self, number: u64) -> Result<Option<StoredBlock>, StateReadError> {
        let reader = self.reader.read();
        let Some(bytes) = reader.blocks.get(number).map_err(store_error)? else { return Ok(None) };
        decode_block(bytes.value()).map(Some)
    }

    /// The hash of block `number` and the revision of its post-state.
    pub(crate) fn block_hash_revision(
        &self,
        number: u64,
    ) -> Result<Option<(B256, u64)>, StateReadError> {
        let reader = self.reader.read();
        let Some(bytes) = reader.block_hashes.get(number).map_err(store_error)? else {
            return Ok(None);
        };
        let bytes = bytes.value();
        if bytes.len() != 40 {
            return Err(store_error("malformed block hash entry"));
        }
        let mut revision = [0u8; 8];
        revision.copy_from_slice(&bytes[32..]);
        Ok(Some((B256::from_slice(&bytes[..32]), u64::from_be_bytes(revision))))
    }

    /// The number of the block with this hash.
    pub(crate) fn block_number(&self, hash: B256) -> Result<Option<u64>, StateReadError> {
        let reader = self.reader.read();
        Ok(reader.block_numbers.get(hash.as_slice()).map_err(store_error)?.map(|n| n.value()))
    }

    /// Where a transaction was mined: block number and index.
    pub(crate) fn tx_position(&self, hash: B256) -> Result<Option<(u64, u32)>, StateReadError> {
        let reader = self.reader.read();
        let Some(at) = reader.tx_positions.get(hash.as_slice()).map_err(store_error)? else {
            return Ok(None);
        };
        let at = at.value();
        if at.len() != 12 {
            return Err(store_error("malformed transaction position"));
        }
        let mut number = [0u8; 8];
        number.copy_from_slice(&at[..8]);
        let mut index = [0u8; 4];
        index.copy_from_slice(&at[8..]);
        Ok(Some((u64::from_be_bytes(number), u32::from_be_bytes(index))))
    }

    /// Positions (block number, index) of the transactions touching `address` in blocks
    /// `from..=to`, newest first when `newest_first`, at most `limit`.
    pub(crate) fn address_positions(
        &self,
        address: Address,
        from: u64,
        to: u64,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<(u64, u32)>, StateReadError> {
        if from > to || limit == 0 {
            return Ok(Vec::new());
        }
        let reader = self.reader.read();
        let (low, high) = (address_key(address, from, 0), address_key(address, to, u32::MAX));
        let range = reader.address_txs.range(&low[..]..=&high[..]).map_err(store_error)?;
        let decode = |entry: Result<
            (redb::AccessGuard<'_, &[u8]>, redb::AccessGuard<'_, ()>),
            redb::StorageError,
        >| {
            let (key, _) = entry.map_err(store_error)?;
            let key = key.value();
            let mut number = [0u8; 8];
            number.copy_from_slice(&key[20..28]);
            let mut index = [0u8; 4];
            index.copy_from_slice(&key[28..32]);
            Ok((u64::from_be_bytes(number), u32::from_be_bytes(index)))
        };
        if newest_first {
            range.rev().take(limit).map(decode).collect()
        } else {
            range.take(limit).map(decode).collect()
        }
    }

    /// The hash of the transaction `sender` sent with `nonce`.
    pub(crate) fn tx_by_sender_nonce(
        &self,
        sender: Address,
        nonce: u64,
    ) -> Result<Option<B256>, StateReadError> {
        let reader = self.reader.read();
        let hash = reader.sender_nonces.get(&nonce_key(sender, nonce)[..]).map_err(store_error)?;
        Ok(hash.map(|h| B256::from_slice(h.value())))
    }
}
