//! Dev accounts: keys derived from a BIP-39 mnemonic (BIP-32 path `m/44'/60'/0'/0/i`), and the
//! signing methods that use them.

use alloy_dyn_abi::TypedData;
use alloy_primitives::{Address, B256, Bytes};
use alloy_signer::SignerSync;
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};

use crate::error::{EvmError, Result};

/// The keys a node holds for its dev accounts.
#[derive(Debug, Clone, Default)]
pub struct DevAccounts {
    signers: Vec<PrivateKeySigner>,
}

impl DevAccounts {
    /// Derives `count` accounts from `mnemonic`.
    pub fn from_mnemonic(mnemonic: &str, count: usize) -> Result<Self> {
        let signers = (0..count)
            .map(|index| {
                MnemonicBuilder::<English>::default()
                    .phrase(mnemonic)
                    .index(index as u32)
                    .and_then(|b| b.build())
                    .map_err(|e| EvmError::InvalidParams(format!("invalid mnemonic: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Self { signers })
    }

    /// Addresses in derivation order.
    pub fn addresses(&self) -> Vec<Address> {
        self.signers.iter().map(|s| s.address()).collect()
    }

    /// Private keys in derivation order, for the start-up banner.
    pub fn private_keys(&self) -> Vec<B256> {
        self.signers.iter().map(|s| s.to_bytes()).collect()
    }

    /// The signer of an address, if this node holds its key.
    pub fn signer(&self, address: Address) -> Result<&PrivateKeySigner> {
        self.signers
            .iter()
            .find(|s| s.address() == address)
            .ok_or(EvmError::UnknownAccount(address))
    }

    /// EIP-191 `personal_sign` / `eth_sign` of arbitrary bytes.
    pub fn sign_message(&self, address: Address, message: &[u8]) -> Result<Bytes> {
        let signature = self
            .signer(address)?
            .sign_message_sync(message)
            .map_err(|e| EvmError::Signing(e.to_string()))?;
        Ok(Bytes::from(signature.as_bytes().to_vec()))
    }

    /// EIP-712 `eth_signTypedData_v4`.
    pub fn sign_typed_data(&self, address: Address, data: &TypedData) -> Result<Bytes> {
        let hash = data
            .eip712_signing_hash()
            .map_err(|e| EvmError::InvalidParams(format!("invalid typed data: {e}")))?;
        let signature = self
            .signer(address)?
            .sign_hash_sync(&hash)
            .map_err(|e| EvmError::Signing(e.to_string()))?;
        Ok(Bytes::from(signature.as_bytes().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_MNEMONIC;

    #[test]
    fn derives_the_well_known_dev_accounts() {
        let accounts = DevAccounts::from_mnemonic(DEFAULT_MNEMONIC, 2).unwrap();
        let addresses = accounts.addresses();
        assert_eq!(
            addresses[0],
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse::<Address>().unwrap()
        );
        assert_eq!(
            addresses[1],
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".parse::<Address>().unwrap()
        );
        assert_eq!(
            accounts.private_keys()[0].to_string(),
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        );
    }
}
