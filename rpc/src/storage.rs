//! The storage app's methods (`ir3_store*`, `ir3_chunk*`): objects cut into content-addressed
//! chunks, stored within the node's budget, announced to peers and fetched from them. Pure
//! flux: a get of something not held declares wants and answers `fetching` at once; ask again.

use std::sync::Arc;

use alloy_primitives::{B256, Bytes};
use ir3_foundation::{
    bt::{ChunkService, ChunkStatus, ObjectStatus},
    chunks::{DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, chunk_id},
};
use jsonrpsee::core::RpcResult;

use crate::{
    api::StorageApiServer,
    error::{RpcError, ok},
};

/// Largest object `ir3_storePut` takes in one call (the request limit is 10 MiB of hex).
pub const MAX_PUT_BYTES: usize = 4 * 1024 * 1024;

/// Handler of the storage methods.
#[derive(Debug)]
pub struct StorageHandler {
    chunks: Arc<ChunkService>,
}

impl StorageHandler {
    /// Creates the handler.
    pub fn new(chunks: Arc<ChunkService>) -> Self {
        Self { chunks }
    }
}

impl StorageApiServer for StorageHandler {
    fn store_put(&self, data: Bytes) -> RpcResult<B256> {
        if data.len() > MAX_PUT_BYTES {
            return ok(Err(RpcError::InvalidParams(format!(
                "object of {} bytes is larger than {MAX_PUT_BYTES} per call: put its chunks with \
                 ir3_chunkPut (as `ir3 store put FILE` does)",
                data.len()
            ))));
        }
        ok(self.chunks.put_object(&data, DEFAULT_CHUNK_SIZE).map_err(RpcError::from))
    }

    fn store_get(&self, id: B256) -> RpcResult<ObjectStatus> {
        ok(self.chunks.get_object(id).map_err(RpcError::from))
    }

    fn chunk_put(&self, data: Bytes) -> RpcResult<B256> {
        if data.len() > MAX_CHUNK_SIZE {
            return ok(Err(RpcError::InvalidParams(format!(
                "chunk of {} bytes is larger than {MAX_CHUNK_SIZE}",
                data.len()
            ))));
        }
        let id = chunk_id(&data);
        match self.chunks.store_local(&id, &data).map_err(RpcError::from)? {
            Ok(_) => Ok(id),
            Err(refusal) => ok(Err(RpcError::Storage(refusal.to_string()))),
        }
    }

    fn chunk_get(&self, id: B256) -> RpcResult<Option<Bytes>> {
        if let Some(bytes) = self.chunks.store().get(&id) {
            return Ok(Some(bytes.into()));
        }
        self.chunks.push_want_chunk(id).map_err(RpcError::from)?;
        Ok(None)
    }

    fn chunk_status(&self, id: B256) -> RpcResult<ChunkStatus> {
        Ok(self.chunks.chunk_status(&id))
    }
}
