//! The benchmark's error type.

/// Anything that can go wrong while driving a node.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Socket, file or process error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// HTTP transport error (connection refused, reset, closed ...).
    #[error("http error: {0}")]
    Http(#[from] hyper::Error),
    /// The HTTP request could not be built.
    #[error("http request error: {0}")]
    Request(#[from] hyper::http::Error),
    /// The node answered with a non-2xx HTTP status.
    #[error("http status {0}: {1}")]
    Status(u16, String),
    /// The response body was not JSON.
    #[error("invalid json: {0}")]
    Json(#[from] serde_json::Error),
    /// The node answered with a JSON-RPC error object.
    #[error("json-rpc error: {0}")]
    Rpc(String),
    /// The node answered with something unexpected.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// A request or a wait took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Signing a transaction failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// Starting a node or preparing a workload failed.
    #[error("{0}")]
    Setup(String),
    /// A worker task panicked or was cancelled.
    #[error("worker task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl BenchError {
    /// Whether the error is a JSON-RPC level rejection (the connection itself is still fine).
    pub fn is_rpc(&self) -> bool {
        matches!(self, Self::Rpc(_))
    }
}

/// Result alias of the benchmark.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;
