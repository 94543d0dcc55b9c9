//! The one place where errors become JSON-RPC error objects.
//!
//! Codes follow geth and Anvil, which clients (viem, ethers, cast, Metamask) parse:
//! `3` with the revert data for reverts, `-32003` for rejected transactions, `-32602` for bad
//! params, `-32000` for execution failures and missing data, `-32005` for limits, `-32603` for
//! internal faults.

use ir3_apps::AppError;
use ir3_evm::{EvmError, error::SimulateErrorKind};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};

/// Result alias for RPC handlers.
pub type RpcResult<T> = Result<T, RpcError>;

/// Errors raised by the RPC layer itself, or passed through from the EVM app.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// An error of the EVM app.
    #[error(transparent)]
    Evm(#[from] EvmError),
    /// A native app refused or failed.
    #[error(transparent)]
    App(#[from] ir3_apps::AppError),
    /// A parameter the RPC layer itself rejected.
    #[error("{0}")]
    InvalidParams(String),
    /// A filter id that is not installed.
    #[error("filter not found")]
    FilterNotFound,
    /// The storage app refused or failed (budget, disk, network).
    #[error("storage: {0}")]
    Storage(String),
    /// The server could not start.
    #[error("cannot serve JSON-RPC on {addr}: {reason}")]
    Bind {
        /// The address it tried.
        addr: String,
        /// Why it failed.
        reason: String,
    },
}

impl From<ir3_foundation::FoundationError> for RpcError {
    fn from(error: ir3_foundation::FoundationError) -> Self {
        Self::Storage(error.to_string())
    }
}

/// Turns an app or RPC error into the JSON-RPC error object handlers return.
pub(crate) fn ok<T>(result: Result<T, impl Into<RpcError>>) -> jsonrpsee::core::RpcResult<T> {
    result.map_err(|e| e.into().into())
}

/// Codes used in error objects.
pub mod codes {
    /// Execution reverted (EIP-1474 / geth).
    pub const EXECUTION_REVERTED: i32 = 3;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i32 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// Server error (geth's generic code).
    pub const SERVER_ERROR: i32 = -32000;
    /// Transaction rejected (Anvil).
    pub const TRANSACTION_REJECTED: i32 = -32003;
    /// Limit exceeded.
    pub const LIMIT_EXCEEDED: i32 = -32005;
}

/// The execution-apis codes of `eth_simulateV1`'s errors (geth's).
fn simulate_code(kind: SimulateErrorKind) -> i32 {
    match kind {
        SimulateErrorKind::NonceTooLow => -38010,
        SimulateErrorKind::NonceTooHigh => -38011,
        SimulateErrorKind::BaseFeeTooLow => -38012,
        SimulateErrorKind::IntrinsicGas => -38013,
        SimulateErrorKind::InsufficientFunds => -38014,
        SimulateErrorKind::BlockGasLimitReached => -38015,
        SimulateErrorKind::BlockNumberInvalid => -38020,
        SimulateErrorKind::BlockTimestampInvalid => -38021,
        SimulateErrorKind::SenderIsNotEoa => -38024,
        SimulateErrorKind::MaxInitCodeSizeExceeded => -38025,
        SimulateErrorKind::ClientLimitExceeded => -38026,
        SimulateErrorKind::InvalidParams => codes::INVALID_PARAMS,
        SimulateErrorKind::InvalidOverride => codes::SERVER_ERROR,
        SimulateErrorKind::Internal => codes::INTERNAL_ERROR,
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(error: RpcError) -> Self {
        use codes::*;
        let message = error.to_string();
        let code = match &error {
            RpcError::InvalidParams(_) => INVALID_PARAMS,
            RpcError::FilterNotFound | RpcError::Storage(_) => SERVER_ERROR,
            RpcError::Bind { .. } => INTERNAL_ERROR,
            RpcError::App(app) => match app {
                AppError::Invalid(_) | AppError::BadSignature(_) | AppError::Disabled(_) => {
                    INVALID_PARAMS
                }
                AppError::Rule(_) => TRANSACTION_REJECTED,
                AppError::Ordering(_) | AppError::Series(_) => SERVER_ERROR,
            },
            RpcError::Evm(evm) => match evm {
                EvmError::Reverted { output, .. } => {
                    return ErrorObject::owned(EXECUTION_REVERTED, message, Some(output.clone()));
                }
                EvmError::InvalidParams(_) | EvmError::TxDecode(_) => INVALID_PARAMS,
                EvmError::InvalidSignature
                | EvmError::WrongChainId { .. }
                | EvmError::UnprotectedTransaction
                | EvmError::NonceTooLow { .. }
                | EvmError::InsufficientFunds { .. }
                | EvmError::FeeCapTooLow { .. }
                | EvmError::TipAboveFeeCap
                | EvmError::IntrinsicGasTooLow { .. }
                | EvmError::GasLimitTooHigh
                | EvmError::AlreadyKnown
                | EvmError::ReplacementUnderpriced
                | EvmError::PoolFull
                | EvmError::UnsupportedTxType(_)
                | EvmError::InvalidTransaction(_) => TRANSACTION_REJECTED,
                EvmError::Halted(_)
                | EvmError::UnknownAccount(_)
                | EvmError::BlockNotFound(_)
                | EvmError::Unavailable(_)
                | EvmError::FilterNotFound => SERVER_ERROR,
                EvmError::LimitExceeded(_) => LIMIT_EXCEEDED,
                EvmError::Simulate { kind, .. } => simulate_code(*kind),
                EvmError::Series(_)
                | EvmError::ReplayDiverged { .. }
                | EvmError::BlockRejected { .. }
                | EvmError::Signing(_)
                | EvmError::ShuttingDown
                | EvmError::Internal(_) => INTERNAL_ERROR,
            },
        };
        ErrorObject::owned(code, message, None::<()>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, U256};

    fn object(error: impl Into<RpcError>) -> ErrorObjectOwned {
        error.into().into()
    }

    #[test]
    fn revert_carries_code_3_reason_and_data() {
        let error = object(EvmError::Reverted {
            reason: Some("too small".into()),
            output: Bytes::from(vec![0x08, 0xc3]),
        });
        assert_eq!(error.code(), 3);
        assert_eq!(error.message(), "execution reverted: too small");
        assert_eq!(error.data().unwrap().get(), "\"0x08c3\"");
        let bare = object(EvmError::Reverted { reason: None, output: Bytes::new() });
        assert_eq!(bare.message(), "execution reverted");
    }

    #[test]
    fn rejected_transactions_use_anvil_codes_and_geth_messages() {
        let error = object(EvmError::NonceTooLow { got: 1, expected: 2 });
        assert_eq!(error.code(), -32003);
        assert_eq!(error.message(), "nonce too low: next nonce 2, tx nonce 1");
        let error =
            object(EvmError::InsufficientFunds { balance: U256::from(1), cost: U256::from(2) });
        assert!(error.message().starts_with("insufficient funds for gas * price + value"));
        assert_eq!(object(EvmError::AlreadyKnown).message(), "already known");
        let error = object(EvmError::WrongChainId { got: 1, expected: 1337 });
        assert!(error.message().starts_with("invalid chain id for signer"));
    }

    #[test]
    fn bad_params_and_internal_errors() {
        assert_eq!(object(RpcError::InvalidParams("x".into())).code(), -32602);
        assert_eq!(object(EvmError::TxDecode("x".into())).code(), -32602);
        assert_eq!(object(EvmError::Internal("x".into())).code(), -32603);
        assert_eq!(object(EvmError::LimitExceeded("x".into())).code(), -32005);
        assert_eq!(object(RpcError::FilterNotFound).message(), "filter not found");
    }
}
