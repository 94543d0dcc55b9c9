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
    /// `eth_simulateV1` refused the request or one of its calls.
    #[error("{message}")]
    Simulate {
        /// Which of the spec's errors it is (its JSON-RPC code).
        kind: SimulateErrorKind,
        /// geth's wording.
        message: String,
    },
}

/// The errors `eth_simulateV1` distinguishes (execution-apis), each with its own JSON-RPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulateErrorKind {
    /// The nonce is below the account's (-38010).
    NonceTooLow,
    /// The nonce is above the account's (-38011).
    NonceTooHigh,
    /// The fee cap is below the block's base fee (-38012).
    BaseFeeTooLow,
    /// The gas limit does not cover the intrinsic gas (-38013).
    IntrinsicGas,
    /// The sender cannot pay for gas and value (-38014).
    InsufficientFunds,
    /// The call does not fit in what is left of the block's gas (-38015).
    BlockGasLimitReached,
    /// Block numbers do not increase (-38020).
    BlockNumberInvalid,
    /// Block timestamps do not increase (-38021).
    BlockTimestampInvalid,
    /// The sender has code (-38024).
    SenderIsNotEoa,
    /// The init code is too large (-38025).
    MaxInitCodeSizeExceeded,
    /// Too many blocks or calls (-38026).
    ClientLimitExceeded,
    /// Invalid fee fields (-32602).
    InvalidParams,
    /// A state override that cannot be applied (-32000, geth's generic code).
    InvalidOverride,
    /// Any other refusal of a call (-32603).
    Internal,
}

impl EvmError {
    /// An `eth_simulateV1` error.
    pub fn simulate(kind: SimulateErrorKind, message: impl Into<String>) -> Self {
        Self::Simulate { kind, message: message.into() }
    }
}
