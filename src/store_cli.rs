//! `ir3 store put FILE` / `ir3 store get ID`: the storage app from the command line. A file is
//! cut into chunks here, each sent with `ir3_chunkPut`, then its manifest (itself a chunk,
//! whose id names the file); a get asks for the manifest and every chunk with `ir3_chunkGet`
//! (the node fetches what it lacks from its peers) until all are there, checking every chunk
//! against its id.

use std::{
    io::Write,
    time::{Duration, Instant},
};

use alloy_primitives::{B256, hex};
use ir3_foundation::chunks::{DEFAULT_CHUNK_SIZE, Manifest, chunk_id, split};
use serde_json::{Value, json};

use crate::{NodeError, cli::StoreAction};

/// How often a get asks again for what is still missing.
const POLL: Duration = Duration::from_millis(200);

/// Runs a storage command against the node at `rpc_url`.
pub fn run(rpc_url: &str, action: StoreAction) -> Result<(), NodeError> {
    match action {
        StoreAction::Put { file } => {
            let data = std::fs::read(&file)
                .map_err(|e| NodeError::StateFile { path: file.clone(), reason: e.to_string() })?;
            let id = put(rpc_url, &data)?;
            println!("{id}");
            Ok(())
        }
        StoreAction::Get { id, out, timeout } => {
            let id: B256 = id
                .parse()
                .map_err(|_| NodeError::InvalidArgument(format!("{id}: not a 32-byte id")))?;
            let data = get(rpc_url, id, Duration::from_secs(timeout))?;
            match out {
                Some(path) => std::fs::write(&path, &data)
                    .map_err(|e| NodeError::StateFile { path, reason: e.to_string() }),
                None => std::io::stdout()
                    .write_all(&data)
                    .map_err(|e| NodeError::InvalidArgument(format!("stdout: {e}"))),
            }
        }
    }
}

/// One JSON-RPC call; the node's error is returned as the command's error.
pub(crate) fn call(url: &str, method: &str, params: Value) -> Result<Value, NodeError> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let failed = |e: String| NodeError::InvalidArgument(format!("{method} on {url}: {e}"));
    let mut response = ureq::post(url).send_json(&body).map_err(|e| failed(e.to_string()))?;
    let value: Value = response.body_mut().read_json().map_err(|e| failed(e.to_string()))?;
    if let Some(error) = value.get("error") {
        return Err(failed(error.to_string()));
    }
    Ok(value["result"].clone())
}

/// Sends a file chunk by chunk, then its manifest; returns the file's id.
pub fn put(url: &str, data: &[u8]) -> Result<B256, NodeError> {
    let (manifest, id, chunks) = split(data, DEFAULT_CHUNK_SIZE);
    for (chunk, bytes) in &chunks {
        let stored = call(url, "ir3_chunkPut", json!([format!("0x{}", hex::encode(bytes))]))?;
        if stored != json!(chunk.to_string()) {
            return Err(NodeError::InvalidArgument(format!("node stored {stored} for {chunk}")));
        }
    }
    call(url, "ir3_chunkPut", json!([format!("0x{}", hex::encode(manifest.encode()))]))?;
    Ok(id)
}

/// Fetches a file: its manifest, then its chunks, each checked against its id.
pub fn get(url: &str, id: B256, timeout: Duration) -> Result<Vec<u8>, NodeError> {
    let deadline = Instant::now() + timeout;
    let manifest = Manifest::decode(&fetch(url, &[id], deadline)?.remove(0))
        .ok_or_else(|| NodeError::InvalidArgument(format!("{id} is not a stored file")))?;
    let chunks = fetch(url, &manifest.chunks, deadline)?;
    let data: Vec<u8> = chunks.concat();
    if data.len() as u64 != manifest.total_len {
        return Err(NodeError::InvalidArgument(format!(
            "{id}: {} bytes assembled, the manifest says {}",
            data.len(),
            manifest.total_len
        )));
    }
    Ok(data)
}

/// Asks for every chunk until all are there (the node declares wants for the missing ones).
fn fetch(url: &str, ids: &[B256], deadline: Instant) -> Result<Vec<Vec<u8>>, NodeError> {
    let mut got: Vec<Option<Vec<u8>>> = vec![None; ids.len()];
    loop {
        for (slot, id) in got.iter_mut().zip(ids).filter(|(slot, _)| slot.is_none()) {
            let value = call(url, "ir3_chunkGet", json!([id.to_string()]))?;
            let Some(text) = value.as_str() else { continue };
            let bytes = hex::decode(text)
                .map_err(|e| NodeError::InvalidArgument(format!("chunk {id}: {e}")))?;
            if chunk_id(&bytes) != *id {
                return Err(NodeError::InvalidArgument(format!("chunk {id}: wrong bytes")));
            }
            *slot = Some(bytes);
        }
        let missing = got.iter().filter(|c| c.is_none()).count();
        if missing == 0 {
            return Ok(got.into_iter().flatten().collect());
        }
        if Instant::now() >= deadline {
            return Err(NodeError::InvalidArgument(format!(
                "{missing} of {} chunks still missing (no peer answered YES in time)",
                ids.len()
            )));
        }
        eprintln!("fetching: {} of {} chunks", ids.len() - missing, ids.len());
        std::thread::sleep(POLL);
    }
}
