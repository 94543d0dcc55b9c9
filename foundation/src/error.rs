//! The foundation's error type.

use std::path::PathBuf;

/// Result alias for foundation operations.
pub type Result<T, E = FoundationError> = std::result::Result<T, E>;

/// Everything that can go wrong in the foundation.
#[derive(Debug, thiserror::Error)]
pub enum FoundationError {
    /// An I/O operation on the series failed.
    #[error("series i/o error at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A record in the series could not be decoded although its checksum matched.
    #[error("series record {seq} at offset {offset} in {path} does not decode: {reason}")]
    Corrupt {
        /// The file involved.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// Sequence number expected at this record.
        seq: u64,
        /// Why it did not decode.
        reason: String,
    },
    /// An entry could not be encoded.
    #[error("series entry does not encode: {0}")]
    Encode(String),
    /// The series writer has stopped (the node is shutting down or a previous write failed
    /// fatally).
    #[error("series writer has stopped")]
    WriterStopped,
    /// The series was opened read-only or is locked by another process.
    #[error("series at {path} is locked by another process")]
    Locked {
        /// The directory involved.
        path: PathBuf,
    },
    /// The peer-to-peer layer could not start or take a command.
    #[error("network: {0}")]
    Network(String),
}

impl FoundationError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// A copy of this error for each of several waiters (I/O errors are not `Clone`): same
    /// variant, path and message.
    pub fn replicate(&self) -> Self {
        match self {
            Self::Io { path, source } => Self::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Self::Corrupt { path, offset, seq, reason } => Self::Corrupt {
                path: path.clone(),
                offset: *offset,
                seq: *seq,
                reason: reason.clone(),
            },
            Self::Encode(reason) => Self::Encode(reason.clone()),
            Self::WriterStopped => Self::WriterStopped,
            Self::Locked { path } => Self::Locked { path: path.clone() },
            Self::Network(reason) => Self::Network(reason.clone()),
        }
    }
}
