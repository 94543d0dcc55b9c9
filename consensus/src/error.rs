//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `ir3-consensus`.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// A network or key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A network or key file is not valid JSON of the expected shape.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// A network file or key is well-formed JSON but says something impossible.
    #[error("invalid network configuration: {0}")]
    Invalid(String),
    /// A key file belongs to another network (its public key is not in the validator set).
    #[error("key {0} is not a validator of this network")]
    NotAValidator(String),
    /// A message could not be encoded or decoded on the wire or in the write-ahead log.
    #[error("codec: {0}")]
    Codec(String),
    /// The Malachite engine failed to start or stopped.
    #[error("consensus engine: {0}")]
    Engine(String),
}

impl From<postcard::Error> for ConsensusError {
    fn from(e: postcard::Error) -> Self {
        Self::Codec(e.to_string())
    }
}

/// Result alias of the crate.
pub type Result<T, E = ConsensusError> = std::result::Result<T, E>;
