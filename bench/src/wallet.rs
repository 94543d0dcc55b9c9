//! Sender keys (derived from the dev mnemonic) and signed EIP-1559 transfers.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, address, hex};
use alloy_signer::SignerSync;
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};

use crate::error::{BenchError, Result};

/// The dev mnemonic both nodes fund their first 10 accounts from.
pub const MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Chain id both nodes run with.
pub const CHAIN_ID: u64 = 1337;
/// Max fee per gas of every benchmark transaction (100 gwei).
pub const MAX_FEE_PER_GAS: u128 = 100_000_000_000;
/// Priority fee per gas of every benchmark transaction (1 gwei).
pub const PRIORITY_FEE_PER_GAS: u128 = 1_000_000_000;
/// Gas limit of a plain ETH transfer.
pub const TRANSFER_GAS: u64 = 21_000;
/// Where the benchmark transfers go (an account nobody has a key for).
pub const RECIPIENT: Address = address!("0x000000000000000000000000000000000000bEEF");

/// Derives the signers of mnemonic indexes `0..count` (`m/44'/60'/0'/0/i`).
pub fn derive_signers(count: u32) -> Result<Vec<PrivateKeySigner>> {
    (0..count)
        .map(|index| {
            MnemonicBuilder::<English>::default()
                .phrase(MNEMONIC)
                .index(index)
                .and_then(|builder| builder.build())
                .map_err(|e| BenchError::Setup(format!("key derivation failed: {e}")))
        })
        .collect()
}

/// A signed transaction ready for `eth_sendRawTransaction`.
#[derive(Debug, Clone)]
pub struct SignedTx {
    /// `0x`-prefixed EIP-2718 encoding.
    pub raw_hex: String,
    /// Transaction hash.
    pub hash: B256,
}

/// Signs an EIP-1559 transfer of `value` wei from `signer` to `to` with the given nonce.
pub fn sign_transfer(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: U256,
) -> Result<SignedTx> {
    sign_call(signer, nonce, TxKind::Call(to), value, Bytes::new(), TRANSFER_GAS)
}

/// Signs an EIP-1559 transaction from `signer` with the given nonce: a call of `to` (or a
/// contract creation) with `value` wei, `input` and `gas_limit`, at the benchmark's fees.
pub fn sign_call(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas_limit: u64,
) -> Result<SignedTx> {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit,
        max_fee_per_gas: MAX_FEE_PER_GAS,
        max_priority_fee_per_gas: PRIORITY_FEE_PER_GAS,
        to,
        value,
        access_list: Default::default(),
        input,
    };
    let signature = signer
        .sign_hash_sync(&tx.signature_hash())
        .map_err(|e| BenchError::Signing(e.to_string()))?;
    let envelope: TxEnvelope = tx.into_signed(signature).into();
    Ok(SignedTx {
        raw_hex: hex::encode_prefixed(envelope.encoded_2718()),
        hash: *envelope.tx_hash(),
    })
}
