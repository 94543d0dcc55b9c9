//! The storage app's throughput through the CLI users run: `ir3 store --rpc-url URL put FILE`
//! on one node, then `ir3 store --rpc-url URL get ID --out F` on another (which fetches the
//! chunks from its peers), each timed as a whole process, and the bytes compared.

use std::{
    net::SocketAddr,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use ir3_bench::error::{BenchError, Result};

use crate::progress;

/// One file's put and get.
#[derive(Debug, Clone)]
pub(crate) struct StoreResult {
    /// File size in bytes.
    pub(crate) bytes: u64,
    /// The id `put` printed.
    pub(crate) id: String,
    /// Wall time of the `put` process.
    pub(crate) put: Duration,
    /// Wall time of the `get` process (on the other node).
    pub(crate) get: Duration,
}

/// `len` pseudo-random bytes (xorshift64*; every chunk differs, so nothing deduplicates).
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Runs `bin store --rpc-url http://addr ARGS…`; returns its stdout and wall time.
fn store_cli(bin: &Path, addr: SocketAddr, args: &[&str]) -> Result<(String, Duration)> {
    let start = Instant::now();
    let output = Command::new(bin)
        .args(["store", "--rpc-url", &format!("http://{addr}")])
        .args(args)
        .output()
        .map_err(|e| BenchError::Setup(format!("cannot run {} store: {e}", bin.display())))?;
    let elapsed = start.elapsed();
    if !output.status.success() {
        return Err(BenchError::Setup(format!(
            "`ir3 store {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("")
        )));
    }
    Ok((String::from_utf8_lossy(&output.stdout).trim().to_string(), elapsed))
}

/// Puts a file of each size in `sizes_mib` on `put_node` and gets it from `get_node`, checking
/// the bytes; files live in `dir`.
pub(crate) fn run(
    bin: &Path,
    dir: &Path,
    put_node: SocketAddr,
    get_node: SocketAddr,
    sizes_mib: &[u64],
    get_timeout: Duration,
) -> Result<Vec<StoreResult>> {
    let mut results = Vec::with_capacity(sizes_mib.len());
    for (i, &mib) in sizes_mib.iter().enumerate() {
        let len = usize::try_from(mib << 20)
            .map_err(|_| BenchError::Setup(format!("{mib} MiB is too large")))?;
        let data = random_bytes(len, 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1) ^ (mib << 32));
        let file = dir.join(format!("file-{mib}MiB.bin"));
        let out = dir.join(format!("file-{mib}MiB.got"));
        std::fs::write(&file, &data)?;
        let file_arg = file.to_string_lossy().into_owned();
        let (id, put) = store_cli(bin, put_node, &["put", &file_arg])?;
        progress(&format!("put {mib} MiB on {put_node} in {:.2} s: {id}", put.as_secs_f64()));
        let out_arg = out.to_string_lossy().into_owned();
        let timeout = get_timeout.as_secs().to_string();
        let (_, get) =
            store_cli(bin, get_node, &["get", &id, "--out", &out_arg, "--timeout", &timeout])?;
        progress(&format!("got {mib} MiB from {get_node} in {:.2} s", get.as_secs_f64()));
        let got = std::fs::read(&out)?;
        if got != data {
            return Err(BenchError::Setup(format!(
                "{mib} MiB file {id}: got {} bytes back from {get_node}, not the ones put",
                got.len()
            )));
        }
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&out);
        results.push(StoreResult { bytes: len as u64, id, put, get });
    }
    Ok(results)
}
