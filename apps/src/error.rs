//! The apps crate's one error type.

/// What can go wrong with a native app's operation.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The operation is malformed (JSON, fields, signature encoding).
    #[error("invalid operation: {0}")]
    Invalid(String),
    /// The signature does not recover to the operation's `from`.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The operation breaks the app's rule as of the current state.
    #[error("{0}")]
    Rule(String),
    /// The app is not enabled on this node (`--apps`).
    #[error("app {0} is not enabled on this node")]
    Disabled(String),
    /// Ordering the operation failed (network mode: observer, shutting down, storage).
    #[error("operation not ordered: {0}")]
    Ordering(String),
    /// The series could not be read or written.
    #[error(transparent)]
    Series(#[from] ir3_foundation::FoundationError),
}

/// The apps crate's result.
pub type Result<T, E = AppError> = std::result::Result<T, E>;
