//! BitTorrent-style chunks: content-addressed pieces of data (a chunk's id is the keccak-256 of
//! its bytes, so a chunk whose bytes do not match its name is refused), manifests that list the
//! chunks of a larger piece of data (a manifest is itself stored as a chunk, so its id names the
//! whole), and the node's [`ChunkStore`]: chunks on disk under the data directory, within a
//! storage budget.
//!
//! Writes are atomic and durable: a chunk is written to a temporary file, fsynced, then renamed
//! to its id; a half-written chunk never carries a chunk's name. Reads verify the bytes again,
//! so a chunk damaged on disk is reported missing rather than served.

use std::{
    collections::HashMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use alloy_primitives::{B256, hex, keccak256};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{FoundationError, Result};

/// A chunk's id: the keccak-256 of its bytes.
pub type ChunkId = B256;

/// Default size of the chunks data is cut into.
pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;
/// Largest chunk accepted (from a peer or a caller).
pub const MAX_CHUNK_SIZE: usize = 1024 * 1024;
/// Default storage budget of a node's chunk store.
pub const DEFAULT_STORAGE_BUDGET: u64 = 1 << 30;
/// Largest piece of data the storage app takes at once.
pub const MAX_OBJECT_SIZE: u64 = 256 * 1024 * 1024;

/// The id of some bytes.
pub fn chunk_id(data: &[u8]) -> ChunkId {
    keccak256(data)
}

/// The list of chunks a piece of data was cut into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Magic, so a manifest is told apart from a data chunk.
    pub kind: ManifestKind,
    /// Total length of the data in bytes.
    pub total_len: u64,
    /// The chunk size the data was cut with.
    pub chunk_size: u32,
    /// The chunks, in order.
    pub chunks: Vec<ChunkId>,
}

/// The kind tag of a [`Manifest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ManifestKind {
    /// Version 1.
    Ir3ManifestV1,
}

/// The bytes every manifest chunk starts with.
const MANIFEST_MAGIC: &[u8] = b"ir3/manifest/1\0";

impl Manifest {
    /// The manifest's own encoding (stored as a chunk; its id names the whole data).
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = MANIFEST_MAGIC.to_vec();
        bytes.extend_from_slice(&postcard::to_allocvec(self).unwrap_or_default());
        bytes
    }

    /// Decodes a manifest chunk: the magic, then exactly one manifest.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let body = bytes.strip_prefix(MANIFEST_MAGIC)?;
        let (manifest, rest): (Manifest, &[u8]) = postcard::take_from_bytes(body).ok()?;
        (rest.is_empty() && manifest.kind == ManifestKind::Ir3ManifestV1).then_some(manifest)
    }
}

/// Cuts data into chunks of `chunk_size`; returns the manifest, its id and the chunks.
pub fn split(data: &[u8], chunk_size: usize) -> (Manifest, ChunkId, Vec<(ChunkId, Vec<u8>)>) {
    let chunk_size = chunk_size.clamp(1, MAX_CHUNK_SIZE);
    let chunks: Vec<(ChunkId, Vec<u8>)> =
        data.chunks(chunk_size).map(|c| (chunk_id(c), c.to_vec())).collect();
    let manifest = Manifest {
        kind: ManifestKind::Ir3ManifestV1,
        total_len: data.len() as u64,
        chunk_size: chunk_size as u32,
        chunks: chunks.iter().map(|(id, _)| *id).collect(),
    };
    let id = chunk_id(&manifest.encode());
    (manifest, id, chunks)
}

/// What storing a chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Kept (new).
    Kept,
    /// Already held.
    AlreadyHeld,
}

/// Why a chunk was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkRefusal {
    /// The bytes do not hash to the id.
    #[error("chunk bytes do not match chunk id {0}")]
    Mismatch(ChunkId),
    /// Larger than [`MAX_CHUNK_SIZE`].
    #[error("chunk of {0} bytes is larger than the limit of {MAX_CHUNK_SIZE}")]
    TooLarge(usize),
    /// Over the storage budget.
    #[error("storage budget of {budget} bytes would be exceeded ({used} used)")]
    OverBudget {
        /// The budget.
        budget: u64,
        /// Bytes used.
        used: u64,
    },
}

/// A node's chunks: on disk (or in memory for an ephemeral node), within a budget.
#[derive(Debug)]
pub struct ChunkStore {
    dir: Option<PathBuf>,
    budget: u64,
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
struct StoreInner {
    sizes: HashMap<ChunkId, u64>,
    memory: HashMap<ChunkId, Vec<u8>>,
    used: u64,
}

impl ChunkStore {
    /// Opens (or creates) the store in `dir`; chunk files whose bytes do not match their name
    /// are removed.
    pub fn open(dir: &Path, budget: u64) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| FoundationError::io(dir, e))?;
        let mut inner = StoreInner::default();
        for entry in fs::read_dir(dir).map_err(|e| FoundationError::io(dir, e))? {
            let entry = entry.map_err(|e| FoundationError::io(dir, e))?;
            let path = entry.path();
            let Some(id) = path.file_name().and_then(|n| n.to_str()).and_then(parse_id) else {
                // Leftover temporary files of an interrupted write.
                let _ = fs::remove_file(&path);
                continue;
            };
            match fs::read(&path) {
                Ok(bytes) if chunk_id(&bytes) == id => {
                    inner.used += bytes.len() as u64;
                    inner.sizes.insert(id, bytes.len() as u64);
                }
                _ => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        Ok(Self { dir: Some(dir.to_path_buf()), budget, inner: Mutex::new(inner) })
    }

    /// A store in memory (ephemeral nodes, tests).
    pub fn in_memory(budget: u64) -> Self {
        Self { dir: None, budget, inner: Mutex::new(StoreInner::default()) }
    }

    /// The storage budget in bytes.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Bytes used.
    pub fn used(&self) -> u64 {
        self.inner.lock().used
    }

    /// Number of chunks held.
    pub fn len(&self) -> usize {
        self.inner.lock().sizes.len()
    }

    /// Whether the store holds no chunk.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the chunk is held.
    pub fn has(&self, id: &ChunkId) -> bool {
        self.inner.lock().sizes.contains_key(id)
    }

    /// The ids of every chunk held.
    pub fn ids(&self) -> Vec<ChunkId> {
        self.inner.lock().sizes.keys().copied().collect()
    }

    /// Checks a chunk against its id and the budget, without storing it.
    pub fn check(&self, id: &ChunkId, data: &[u8]) -> std::result::Result<(), ChunkRefusal> {
        if data.len() > MAX_CHUNK_SIZE {
            return Err(ChunkRefusal::TooLarge(data.len()));
        }
        if chunk_id(data) != *id {
            return Err(ChunkRefusal::Mismatch(*id));
        }
        let used = self.used();
        if !self.has(id) && used + data.len() as u64 > self.budget {
            return Err(ChunkRefusal::OverBudget { budget: self.budget, used });
        }
        Ok(())
    }

    /// Stores a verified chunk durably. The outer error is a storage failure (disk full...);
    /// the inner one a refusal (mismatch, size, budget).
    pub fn put(
        &self,
        id: &ChunkId,
        data: &[u8],
    ) -> Result<std::result::Result<Stored, ChunkRefusal>> {
        if let Err(refusal) = self.check(id, data) {
            return Ok(Err(refusal));
        }
        if self.has(id) {
            return Ok(Ok(Stored::AlreadyHeld));
        }
        match &self.dir {
            Some(dir) => write_atomically(dir, id, data)?,
            None => {
                self.inner.lock().memory.insert(*id, data.to_vec());
            }
        }
        let mut inner = self.inner.lock();
        if inner.sizes.insert(*id, data.len() as u64).is_none() {
            inner.used += data.len() as u64;
        }
        Ok(Ok(Stored::Kept))
    }

    /// The chunk's bytes, verified; `None` if not held (or damaged on disk).
    pub fn get(&self, id: &ChunkId) -> Option<Vec<u8>> {
        if !self.has(id) {
            return None;
        }
        let bytes = match &self.dir {
            Some(dir) => fs::read(dir.join(hex::encode(id))).ok()?,
            None => self.inner.lock().memory.get(id)?.clone(),
        };
        if chunk_id(&bytes) == *id {
            Some(bytes)
        } else {
            let mut inner = self.inner.lock();
            if let Some(size) = inner.sizes.remove(id) {
                inner.used = inner.used.saturating_sub(size);
            }
            None
        }
    }
}

fn parse_id(name: &str) -> Option<ChunkId> {
    let bytes = hex::decode(name).ok()?;
    (bytes.len() == 32).then(|| B256::from_slice(&bytes))
}

fn write_atomically(dir: &Path, id: &ChunkId, data: &[u8]) -> Result<()> {
    let name = hex::encode(id);
    let temp = dir.join(format!("{name}.tmp"));
    let io = |e| FoundationError::io(&temp, e);
    let mut file = fs::File::create(&temp).map_err(io)?;
    let written = file.write_all(data).and_then(|()| file.sync_data());
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(FoundationError::io(&temp, error));
    }
    fs::rename(&temp, dir.join(&name)).map_err(|e| FoundationError::io(dir, e))?;
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_every_chunk_by_its_bytes_and_the_whole_by_its_manifest() {
        let data: Vec<u8> = (0..1000u32).flat_map(|i| i.to_le_bytes()).collect();
        let (manifest, id, chunks) = split(&data, 1024);
        assert_eq!(chunks.len(), 4);
        assert_eq!(manifest.total_len, 4000);
        assert_eq!(id, chunk_id(&manifest.encode()));
        assert_eq!(Manifest::decode(&manifest.encode()), Some(manifest));
        let joined: Vec<u8> = chunks.iter().flat_map(|(_, c)| c.clone()).collect();
        assert_eq!(joined, data);
        assert!(Manifest::decode(&data).is_none());
    }

    #[test]
    fn the_store_refuses_mismatches_and_over_budget_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), 10).unwrap();
        let good = b"hello".to_vec();
        let id = chunk_id(&good);
        assert_eq!(store.put(&id, &good).unwrap(), Ok(Stored::Kept));
        assert_eq!(store.put(&id, &good).unwrap(), Ok(Stored::AlreadyHeld));
        assert_eq!(store.put(&id, b"hellp").unwrap(), Err(ChunkRefusal::Mismatch(id)));
        let big = b"0123456789".to_vec();
        assert!(matches!(
            store.put(&chunk_id(&big), &big).unwrap(),
            Err(ChunkRefusal::OverBudget { .. })
        ));
        drop(store);
        // A damaged file and a leftover temporary file are dropped on reopen.
        fs::write(dir.path().join(hex::encode(B256::repeat_byte(1))), b"junk").unwrap();
        fs::write(dir.path().join("x.tmp"), b"junk").unwrap();
        let store = ChunkStore::open(dir.path(), 10).unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.get(&id), Some(good));
        assert_eq!(store.used(), 5);
    }
}
