//! A tiny ERC-20 in hand-assembled EVM bytecode (no compiler needed): `transfer(address,
//! uint256)` with the `Transfer` event and `balanceOf(address)`. The balance of an account is
//! the storage slot whose key is the account's address, so every new holder adds one slot to
//! the token's storage. The deployer gets 2^256 - 1 tokens.
//!
//! ```text
//! constructor (16 bytes)
//! 00 PUSH1 0  NOT  CALLER  SSTORE           balance[caller] = 2^256 - 1
//! 05 PUSH1 0x80  DUP1  PUSH1 0x10  PUSH1 0  CODECOPY    copy the runtime to memory 0
//! 0d PUSH1 0  RETURN                         return memory[0..0x80]
//!
//! runtime (128 bytes)
//! 00 PUSH1 0 CALLDATALOAD PUSH1 0xe0 SHR     selector
//! 06 DUP1 PUSH4 a9059cbb EQ PUSH1 0x2a JUMPI transfer
//! 10 PUSH4 70a08231 EQ PUSH1 0x1d JUMPI      balanceOf
//! 19 PUSH1 0 DUP1 REVERT
//! 1d JUMPDEST PUSH1 4 CALLDATALOAD SLOAD PUSH1 0 MSTORE PUSH1 0x20 PUSH1 0 RETURN
//! 2a JUMPDEST CALLER SLOAD PUSH1 0x24 CALLDATALOAD    [bal_from, value]
//! 30 DUP1 DUP3 LT PUSH1 0x7b JUMPI                  revert if bal_from < value
//! 36 DUP1 SWAP2 SUB CALLER SSTORE                   balance[caller] = bal_from - value
//! 3b PUSH1 4 CALLDATALOAD DUP1 SLOAD DUP3 ADD SWAP1 SSTORE   balance[to] += value
//! 44 PUSH1 0 MSTORE PUSH1 4 CALLDATALOAD CALLER PUSH32 <Transfer topic>
//! 6c PUSH1 0x20 PUSH1 0 LOG3                        Transfer(caller, to, value)
//! 71 PUSH1 1 PUSH1 0 MSTORE PUSH1 0x20 PUSH1 0 RETURN   true
//! 7b JUMPDEST PUSH1 0 DUP1 REVERT
//! ```
//! No overflow is possible on `balance[to] += value`: the balances add up to the supply.

use alloy_primitives::{Address, Bytes, U256, hex};

/// Creation code: constructor followed by the runtime.
pub(crate) const CREATION_HEX: &str = concat!(
    "600019335560808060106000396000f3",
    // runtime
    "600035",
    "60e01c",
    "8063a9059cbb14602a57",
    "6370a0823114601d57",
    "600080fd",
    "5b6004355460005260206000f3",
    "5b33546024358082",
    "10607b57",
    "8091033355",
    "600435805482019055",
    "600052600435337f",
    "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
    "60206000a3",
    "600160005260206000f3",
    "5b600080fd",
);

/// Gas limit of a token transfer (about 55 000 to a new holder, 38 000 to a known one).
pub(crate) const TRANSFER_GAS: u64 = 100_000;
/// Gas limit of the deployment.
pub(crate) const DEPLOY_GAS: u64 = 300_000;

/// The creation code as bytes.
pub(crate) fn creation_code() -> Bytes {
    Bytes::from(hex::decode(CREATION_HEX).expect("valid hex constant"))
}

/// Calldata of `transfer(to, value)`.
pub(crate) fn transfer_data(to: Address, value: U256) -> Bytes {
    let mut data = Vec::with_capacity(68);
    data.extend_from_slice(&[0xa9, 0x05, 0x9c, 0xbb]);
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(to.as_slice());
    data.extend_from_slice(&value.to_be_bytes::<32>());
    Bytes::from(data)
}

/// Calldata of `balanceOf(owner)`.
pub(crate) fn balance_of_data(owner: Address) -> Bytes {
    let mut data = Vec::with_capacity(36);
    data.extend_from_slice(&[0x70, 0xa0, 0x82, 0x31]);
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(owner.as_slice());
    Bytes::from(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_listing() {
        let code = creation_code();
        assert_eq!(code.len(), 0x10 + 0x80);
        let runtime = &code[0x10..];
        for jumpdest in [0x1d, 0x2a, 0x7b] {
            assert_eq!(runtime[jumpdest], 0x5b, "JUMPDEST at {jumpdest:#x}");
        }
        // The jump targets pushed by the dispatcher and the balance check.
        assert_eq!(runtime[0x0e], 0x2a);
        assert_eq!(runtime[0x17], 0x1d);
        assert_eq!(runtime[0x34], 0x7b);
        // The constructor copies 0x80 bytes from offset 0x10.
        assert_eq!(code[6], 0x80);
        assert_eq!(code[9], 0x10);
    }
}
