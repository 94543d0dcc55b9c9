//! The EVM app's error type. The RPC layer maps every variant to a JSON-RPC error object in
//! exactly one place (`ir3_rpc::error`).

use alloy_primitives::{Address, Bytes, U256};
use ir3_foundation::FoundationError;

/// Result alias for EVM operations.
pub type Result<T, E = EvmError> = std::result::Result<T, E>;

/// Everything the EVM app can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum EvmError {
    /// A parameter was malformed or out of range.
    #[error("{0}")]
    InvalidParams(String),
    /// Raw transaction bytes did not decode.
    #[error("failed to decode transaction: {0}")]
    TxDecode(String),
    /// The transaction's signature does not recover to a sender.
    #[error("invalid transaction signature")]
    InvalidSignature,
    /// The transaction was signed for another chain.
    #[error("invalid chain id for signer: have {got} want {expected}")]
    WrongChainId {
        /// The transaction's chain id.
        got: u64,
        /// This node's chain id.
        expected: u64,
    },
    /// A legacy transaction without EIP-155 replay protection was refused.
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    UnprotectedTransaction,
    /// The nonce was already used.
    #[error("nonce too low: next nonce {expected}, tx nonce {got}")]
    NonceTooLow {
        /// The transaction's nonce.
        got: u64,
        /// The account's next nonce.
        expected: u64,
    },
    /// The sender cannot pay `gas * fee + value`.
    #[error("insufficient funds for gas * price + value: have {balance} want {cost}")]
    InsufficientFunds {
        /// The sender's balance.
        balance: U256,
        /// What the transaction may cost.
        cost: U256,
    },
    /// The fee cap is below the next block's base fee.
    #[error(
        "max fee per gas less than block base fee: maxFeePerGas: {max_fee}, baseFee: {base_fee}"
    )]
    FeeCapTooLow {
        /// The transaction's fee cap.
        max_fee: u128,
        /// The base fee it must cover.
        base_fee: u64,
    },
    /// The priority fee is above the fee cap.
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// The gas limit cannot even cover the intrinsic cost.
    #[error("intrinsic gas too low: have {have}, want {want}")]
    IntrinsicGasTooLow {
        /// The transaction's gas limit.
        have: u64,
        /// The intrinsic gas.
        want: u64,
    },
    /// The gas limit is above what a block or a transaction may use.
    #[error("exceeds block gas limit")]
    GasLimitTooHigh,
    /// The same transaction is already pooled or mined.
    #[error("already known")]
    AlreadyKnown,
    /// A same-nonce replacement does not raise the fees enough.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    /// The pool is full.
    #[error("txpool is full")]
    PoolFull,
    /// The transaction type is not accepted by this node or hardfork.
    #[error("transaction type not supported: {0}")]
    UnsupportedTxType(String),
    /// Execution reverted.
    #[error("execution reverted{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        /// Decoded reason (`Error(string)` or a panic code), if any.
        reason: Option<String>,
        /// The raw revert data.
        output: Bytes,
    },
    /// Execution halted (out of gas, invalid opcode, ...).
    #[error("{0}")]
    Halted(String),
    /// The transaction was refused by the EVM before execution.
    #[error("{0}")]
    InvalidTransaction(String),
    /// No dev key is held for this address.
    #[error("unknown account {0}")]
    UnknownAccount(Address),
    /// What was asked for exists but cannot be served (e.g. a trace of the genesis block).
    #[error("{0}")]
    Unavailable(String),
    /// The requested block does not exist.
    #[error("block not found: {0}")]
    BlockNotFound(String),
    /// A filter or subscription id is unknown.
    #[error("filter not found")]
    FilterNotFound,
    /// Too many results or too wide a range.
    #[error("{0}")]
    LimitExceeded(String),
    /// The series refused or failed an append or a replay.
    #[error("series: {0}")]
    Series(#[from] FoundationError),
    /// An imported block does not match its header or cannot be executed.
    #[error("block {number} rejected: {reason}")]
    BlockRejected {
        /// The block.
        number: u64,
        /// What differed.
        reason: String,
    },
    /// The replayed series disagrees with itself (a block re-executed to another hash).
    #[error("replay diverged at block {number}: {reason}")]
    ReplayDiverged {
        /// The block that diverged.
        number: u64,
        /// What differed.
        reason: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The node is shutting down.
    #[error("node is shutting down")]
    ShuttingDown,
    /// A database or other internal failure.
    #[error("internal error: {0}")]
    Internal(String),
}
