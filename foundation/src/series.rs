//! The series: a node's durable, append-only event log.
//!
//! Every fact is appended as an [`Entry`]; all state is derived by replaying entries in order.
//! Two implementations share the [`Series`] trait:
//!
//! - [`SeriesLog`], a checksummed log file with group commit: concurrent appends are written
//!   together and share one `fdatasync`, and an append returns only once its entries are durable.
//!   A torn tail left by a crash is cut off when the log is opened, so the log always opens;
//! - [`MemorySeries`], for throwaway nodes and tests.
//!
//! Record format on disk: `len: u32 LE | crc32(payload): u32 LE | payload`, where the payload is
//! the postcard encoding of an [`Entry`].

use std::{
    fs::{File, OpenOptions},
    io::{BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc as std_mpsc,
    },
};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::{
    error::{FoundationError, Result},
    intent::IntentRecord,
    order::now_ms,
};

/// Position of an entry in the series, starting at 0.
pub type Seq = u64;

/// Name of the log file inside the data directory.
pub const SERIES_FILE_NAME: &str = "series.log";
/// Largest record accepted when reading; anything larger is treated as a torn or corrupt tail.
pub const MAX_RECORD_BYTES: u32 = 64 * 1024 * 1024;
/// How many append requests may queue for the writer before appenders wait.
pub const DEFAULT_WRITER_QUEUE: usize = 4096;
/// Size of a record header (length and checksum).
const RECORD_HEADER_BYTES: usize = 8;

/// One fact in the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the series.
    pub seq: Seq,
    /// Wall-clock time of the append, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What happened.
    pub body: EntryBody,
}

/// The facts the foundation knows about. Apps keep their own facts as opaque payloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryBody {
    /// A node process started on this series.
    NodeStarted {
        /// The software version that started.
        version: String,
    },
    /// An app's own event; only the app decodes the payload.
    App {
        /// The app's name, e.g. `evm`.
        app: String,
        /// The app-encoded event.
        payload: Vec<u8>,
    },
    /// An intent was pushed to the outbox.
    IntentPushed(IntentRecord),
    /// A fact of the peer-to-peer layer: intents declared and received, answers, silences,
    /// refused peers.
    P2p(crate::net::P2pRecord),
}

/// An entry as it is stored, decoded only as far as its reader asks: replaying a long series
/// to pick out one app's entries costs no allocation or copy for the others.
#[derive(Debug, Clone, Copy)]
pub struct RawEntry<'a> {
    /// Position in the series.
    pub seq: Seq,
    /// The postcard encoding of the [`Entry`].
    bytes: &'a [u8],
}

/// Reads one postcard varint (LEB128) from the front of `bytes`.
fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Takes a postcard byte string (length, then bytes) from the front of `bytes`.
fn take_bytes<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(take_varint(bytes)?).ok()?;
    if bytes.len() < len {
        return None;
    }
    let (taken, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(taken)
}

impl<'a> RawEntry<'a> {
    /// An app entry's app name and payload, read in place; `None` for other entries (and for
    /// bytes that are not an entry).
    pub fn app(&self) -> Option<(&'a str, &'a [u8])> {
        let mut rest = self.bytes;
        take_varint(&mut rest)?; // seq
        take_varint(&mut rest)?; // time_ms
        // The variant index of `EntryBody::App`.
        if take_varint(&mut rest)? != 1 {
            return None;
        }
        let app = std::str::from_utf8(take_bytes(&mut rest)?).ok()?;
        let payload = take_bytes(&mut rest)?;
        Some((app, payload))
    }

    /// The whole entry.
    pub fn decode(&self) -> Result<Entry> {
        postcard::from_bytes(self.bytes).map_err(|e| FoundationError::Encode(e.to_string()))
    }
}

/// Configuration of a file-backed series.
#[derive(Debug, Clone)]
pub struct SeriesConfig {
    /// Directory holding the log.
    pub dir: PathBuf,
    /// Whether appends are flushed to stable storage before they return. Turning this off is
    /// only meant for benchmarks of the rest of the node.
    pub fsync: bool,
}

/// A durable, append-only, replayable event log.
pub trait Series: Send + Sync + std::fmt::Debug {
    /// Queues entries for appending and returns a receiver that resolves, once they are
    /// durable, to the sequence number of the first one. Entries of one call stay contiguous.
    fn submit(&self, bodies: Vec<EntryBody>) -> oneshot::Receiver<Result<Seq>>;

    /// Calls `visit` for every entry, oldest first, as stored (see [`RawEntry`]).
    fn replay_raw(&self, visit: &mut dyn FnMut(&RawEntry<'_>) -> Result<()>) -> Result<()>;

    /// Calls `visit` for every entry, oldest first.
    fn replay(&self, visit: &mut dyn FnMut(Entry) -> Result<()>) -> Result<()> {
        self.replay_raw(&mut |raw| visit(raw.decode()?))
    }

    /// Number of entries in the series.
    fn len(&self) -> u64;

    /// Whether the series holds no entries.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Shared handle to a series.
pub type SeriesHandle = Arc<dyn Series>;

/// Appends and waits for durability from async code.
pub async fn append(series: &dyn Series, bodies: Vec<EntryBody>) -> Result<Seq> {
    series.submit(bodies).await.map_err(|_| FoundationError::WriterStopped)?
}

/// Appends and waits for durability from blocking code (never call this on an async worker).
pub fn append_blocking(series: &dyn Series, bodies: Vec<EntryBody>) -> Result<Seq> {
    series.submit(bodies).blocking_recv().map_err(|_| FoundationError::WriterStopped)?
}

// ---------------------------------------------------------------------------------------------
// In-memory series
// ---------------------------------------------------------------------------------------------

/// A series kept in memory only, for ephemeral nodes and tests.
#[derive(Debug, Default)]
pub struct MemorySeries {
    entries: Mutex<Vec<Entry>>,
}

impl MemorySeries {
    /// Creates an empty in-memory series.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Series for MemorySeries {
    fn submit(&self, bodies: Vec<EntryBody>) -> oneshot::Receiver<Result<Seq>> {
        let (done, receiver) = oneshot::channel();
        let mut entries = self.entries.lock();
        let first = entries.len() as u64;
        let time_ms = now_ms();
        for (offset, body) in bodies.into_iter().enumerate() {
            entries.push(Entry { seq: first + offset as u64, time_ms, body });
        }
        let _ = done.send(Ok(first));
        receiver
    }

    fn replay_raw(&self, visit: &mut dyn FnMut(&RawEntry<'_>) -> Result<()>) -> Result<()> {
        let snapshot = self.entries.lock().clone();
        for entry in snapshot {
            let bytes = postcard::to_allocvec(&entry)
                .map_err(|e| FoundationError::Encode(e.to_string()))?;
            visit(&RawEntry { seq: entry.seq, bytes: &bytes })?;
        }
        Ok(())
    }

    fn replay(&self, visit: &mut dyn FnMut(Entry) -> Result<()>) -> Result<()> {
        let snapshot = self.entries.lock().clone();
        snapshot.into_iter().try_for_each(visit)
    }

    fn len(&self) -> u64 {
        self.entries.lock().len() as u64
    }
}

// ---------------------------------------------------------------------------------------------
// File-backed series
// ---------------------------------------------------------------------------------------------

struct WriteRequest {
    bodies: Vec<EntryBody>,
    done: oneshot::Sender<Result<Seq>>,
}

/// The file-backed series: a checksummed log with a group-commit writer thread.
#[derive(Debug)]
pub struct SeriesLog {
    path: PathBuf,
    requests: std_mpsc::SyncSender<WriteRequest>,
    len: Arc<AtomicU64>,
    // Held for the lifetime of the series: a second process cannot open the same log.
    _lock: File,
}

impl SeriesLog {
    /// Opens (or creates) the log in `config.dir`, cutting off any torn tail a crash left, and
    /// starts its writer thread.
    pub fn open(config: &SeriesConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.dir).map_err(|e| FoundationError::io(&config.dir, e))?;
        let lock_path = config.dir.join("series.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| FoundationError::io(&lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(FoundationError::Locked { path: config.dir.clone() });
        }
        let path = config.dir.join(SERIES_FILE_NAME);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| FoundationError::io(&path, e))?;
        let scan = scan_records(&path, &mut file)?;
        let file_len = file.metadata().map_err(|e| FoundationError::io(&path, e))?.len();
        if scan.valid_bytes < file_len {
            preserve_tail(&path, &mut file, scan.valid_bytes)?;
            file.set_len(scan.valid_bytes).map_err(|e| FoundationError::io(&path, e))?;
            file.sync_all().map_err(|e| FoundationError::io(&path, e))?;
            warn!(
                path = %path.display(),
                kept_bytes = scan.valid_bytes,
                cut_bytes = file_len - scan.valid_bytes,
                "series had a torn tail (a crash during a write); it was cut off"
            );
        }
        // Make the file's directory entry durable too, so a fresh log survives a crash.
        if let Ok(dir) = File::open(&config.dir) {
            let _ = dir.sync_all();
        }
        file.seek(SeekFrom::End(0)).map_err(|e| FoundationError::io(&path, e))?;
        info!(path = %path.display(), entries = scan.records, "series opened");

        let len = Arc::new(AtomicU64::new(scan.records));
        let (requests, receiver) = std_mpsc::sync_channel(DEFAULT_WRITER_QUEUE);
        let writer = Writer {
            path: path.clone(),
            file,
            durable_bytes: scan.valid_bytes,
            next_seq: scan.records,
            len: len.clone(),
            fsync: config.fsync,
        };
        std::thread::Builder::new()
            .name("series-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| FoundationError::io(&path, e))?;
        Ok(Self { path, requests, len, _lock: lock })
    }

    /// Path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Series for SeriesLog {
    fn submit(&self, bodies: Vec<EntryBody>) -> oneshot::Receiver<Result<Seq>> {
        let (done, receiver) = oneshot::channel();
        if let Err(std_mpsc::SendError(request)) = self.requests.send(WriteRequest { bodies, done })
        {
            let _ = request.done.send(Err(FoundationError::WriterStopped));
        }
        receiver
    }

    fn replay_raw(&self, visit: &mut dyn FnMut(&RawEntry<'_>) -> Result<()>) -> Result<()> {
        let file = File::open(&self.path).map_err(|e| FoundationError::io(&self.path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let limit = self.len.load(Ordering::Acquire);
        let mut payload = Vec::new();
        for seq in 0..limit {
            match read_record_into(&mut reader, &mut payload) {
                Ok(RecordRead::Record) => {}
                Ok(RecordRead::End | RecordRead::Torn) | Err(_) => break,
            }
            visit(&RawEntry { seq, bytes: &payload })?;
        }
        Ok(())
    }

    fn replay(&self, visit: &mut dyn FnMut(Entry) -> Result<()>) -> Result<()> {
        let mut offset = 0u64;
        self.replay_raw(&mut |raw| {
            let entry: Entry =
                postcard::from_bytes(raw.bytes).map_err(|e| FoundationError::Corrupt {
                    path: self.path.clone(),
                    offset,
                    seq: raw.seq,
                    reason: e.to_string(),
                })?;
            offset += (RECORD_HEADER_BYTES + raw.bytes.len()) as u64;
            visit(entry)
        })
    }

    fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }
}

struct Writer {
    path: PathBuf,
    file: File,
    durable_bytes: u64,
    next_seq: Seq,
    len: Arc<AtomicU64>,
    fsync: bool,
}

impl Writer {
    fn run(mut self, receiver: std_mpsc::Receiver<WriteRequest>) {
        let mut buffer = Vec::with_capacity(1 << 16);
        while let Ok(first) = receiver.recv() {
            // Group commit: everything queued while the previous fsync ran goes in this one.
            let mut batch = vec![first];
            while let Ok(next) = receiver.try_recv() {
                batch.push(next);
                if batch.len() >= DEFAULT_WRITER_QUEUE {
                    break;
                }
            }
            buffer.clear();
            let time_ms = now_ms();
            let mut firsts = Vec::with_capacity(batch.len());
            let mut seq = self.next_seq;
            let mut outcome = Ok(());
            for request in &batch {
                firsts.push(seq);
                for body in &request.bodies {
                    if let Err(e) = encode_record(&mut buffer, seq, time_ms, body) {
                        outcome = Err(e);
                    }
                    seq += 1;
                }
            }
            let outcome = outcome.and_then(|()| self.write_durably(&buffer));
            match outcome {
                Ok(()) => {
                    self.next_seq = seq;
                    self.len.store(seq, Ordering::Release);
                    for (request, first) in batch.into_iter().zip(firsts) {
                        let _ = request.done.send(Ok(first));
                    }
                }
                Err(error) => {
                    warn!(%error, "series append failed; nothing of this batch was kept");
                    for request in batch {
                        let _ = request.done.send(Err(error.replicate()));
                    }
                }
            }
        }
    }

    /// Writes the buffer and syncs it; on failure, cuts the file back to its last durable length
    /// so a partial write can never sit in front of later records.
    fn write_durably(&mut self, buffer: &[u8]) -> Result<()> {
        let result = self
            .file
            .write_all(buffer)
            .and_then(|()| if self.fsync { self.file.sync_data() } else { Ok(()) });
        match result {
            Ok(()) => {
                self.durable_bytes += buffer.len() as u64;
                Ok(())
            }
            Err(error) => {
                let _ = self.file.set_len(self.durable_bytes);
                let _ = self.file.seek(SeekFrom::Start(self.durable_bytes));
                Err(FoundationError::io(&self.path, error))
            }
        }
    }
}

fn encode_record(buffer: &mut Vec<u8>, seq: Seq, time_ms: u64, body: &EntryBody) -> Result<()> {
    #[derive(Serialize)]
    struct EntryRef<'a> {
        seq: Seq,
        time_ms: u64,
        body: &'a EntryBody,
    }
    let payload = postcard::to_allocvec(&EntryRef { seq, time_ms, body })
        .map_err(|e| FoundationError::Encode(e.to_string()))?;
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len <= MAX_RECORD_BYTES)
        .ok_or_else(|| FoundationError::Encode(format!("entry of {} bytes", payload.len())))?;
    buffer.extend_from_slice(&len.to_le_bytes());
    buffer.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    buffer.extend_from_slice(&payload);
    Ok(())
}

enum RecordRead {
    Record,
    End,
    Torn,
}

/// Reads the next record's payload into `payload` (reused from record to record).
fn read_record_into(reader: &mut impl Read, payload: &mut Vec<u8>) -> std::io::Result<RecordRead> {
    let mut header = [0u8; RECORD_HEADER_BYTES];
    let mut filled = 0;
    while filled < header.len() {
        let read = reader.read(&mut header[filled..])?;
        if read == 0 {
            return Ok(if filled == 0 { RecordRead::End } else { RecordRead::Torn });
        }
        filled += read;
    }
    let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    if len > MAX_RECORD_BYTES {
        return Ok(RecordRead::Torn);
    }
    payload.resize(len as usize, 0);
    if let Err(error) = reader.read_exact(payload) {
        return if error.kind() == std::io::ErrorKind::UnexpectedEof {
            Ok(RecordRead::Torn)
        } else {
            Err(error)
        };
    }
    if crc32fast::hash(payload) != crc {
        return Ok(RecordRead::Torn);
    }
    Ok(RecordRead::Record)
}

struct Scan {
    records: u64,
    valid_bytes: u64,
}

fn scan_records(path: &Path, file: &mut File) -> Result<Scan> {
    file.seek(SeekFrom::Start(0)).map_err(|e| FoundationError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, &mut *file);
    let mut scan = Scan { records: 0, valid_bytes: 0 };
    let mut payload = Vec::new();
    loop {
        match read_record_into(&mut reader, &mut payload)
            .map_err(|e| FoundationError::io(path, e))?
        {
            RecordRead::Record => {
                scan.records += 1;
                scan.valid_bytes += (RECORD_HEADER_BYTES + payload.len()) as u64;
            }
            RecordRead::End | RecordRead::Torn => return Ok(scan),
        }
    }
}

/// Copies the bytes past the last valid record aside before they are cut, for forensics.
fn preserve_tail(path: &Path, file: &mut File, valid_bytes: u64) -> Result<()> {
    let tail_path = path.with_extension(format!("tail-{valid_bytes}"));
    file.seek(SeekFrom::Start(valid_bytes)).map_err(|e| FoundationError::io(path, e))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(|e| FoundationError::io(path, e))?;
    std::fs::write(&tail_path, tail).map_err(|e| FoundationError::io(&tail_path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(n: u8) -> EntryBody {
        EntryBody::App { app: "test".into(), payload: vec![n; n as usize] }
    }

    #[test]
    fn raw_entries_read_app_and_payload_in_place() {
        let series = MemorySeries::new();
        append_blocking(&series, vec![app(3), EntryBody::NodeStarted { version: "x".into() }])
            .unwrap();
        let mut seen = Vec::new();
        series
            .replay_raw(&mut |raw| {
                let entry = raw.decode()?;
                let expected = match &entry.body {
                    EntryBody::App { app, payload } => Some((app.clone(), payload.clone())),
                    _ => None,
                };
                let read = raw.app().map(|(app, payload)| (app.to_string(), payload.to_vec()));
                assert_eq!(read, expected);
                seen.push(raw.seq);
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, vec![0, 1]);
    }

    fn collect(series: &dyn Series) -> Vec<Entry> {
        let mut out = Vec::new();
        series
            .replay(&mut |entry| {
                out.push(entry);
                Ok(())
            })
            .unwrap();
        out
    }

    fn open(dir: &Path) -> SeriesLog {
        SeriesLog::open(&SeriesConfig { dir: dir.to_path_buf(), fsync: true }).unwrap()
    }

    #[test]
    fn appends_survive_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = open(dir.path());
            assert_eq!(append_blocking(&log, vec![app(1), app(2)]).unwrap(), 0);
            assert_eq!(append_blocking(&log, vec![app(3)]).unwrap(), 2);
        }
        let log = open(dir.path());
        let entries = collect(&log);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(entries[2].body, app(3));
    }

    #[test]
    fn torn_tail_is_cut_and_log_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = open(dir.path());
            append_blocking(&log, vec![app(5), app(6)]).unwrap();
        }
        let path = dir.path().join(SERIES_FILE_NAME);
        let full = std::fs::read(&path).unwrap();
        // Every possible crash point inside the last record must leave a log that opens with
        // the first record intact.
        let first_len =
            RECORD_HEADER_BYTES + u32::from_le_bytes([full[0], full[1], full[2], full[3]]) as usize;
        for cut in first_len..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let log = open(dir.path());
            let entries = collect(&log);
            assert_eq!(entries.len(), 1, "cut at {cut}");
            assert_eq!(entries.first().map(|e| e.body.clone()), Some(app(5)), "cut at {cut}");
            drop(log);
        }
    }

    #[test]
    fn garbage_tail_is_cut_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = open(dir.path());
            append_blocking(&log, vec![app(1)]).unwrap();
        }
        let path = dir.path().join(SERIES_FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0xff; 37]);
        std::fs::write(&path, bytes).unwrap();
        let log = open(dir.path());
        assert_eq!(append_blocking(&log, vec![app(2)]).unwrap(), 1);
        drop(log);
        let log = open(dir.path());
        assert_eq!(collect(&log).len(), 2);
    }

    #[test]
    fn second_process_cannot_open_the_same_log() {
        let dir = tempfile::tempdir().unwrap();
        let _first = open(dir.path());
        let second = SeriesLog::open(&SeriesConfig { dir: dir.path().into(), fsync: true });
        assert!(matches!(second, Err(FoundationError::Locked { .. })));
    }

    #[test]
    fn concurrent_appends_share_commits_and_stay_contiguous() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(open(dir.path()));
        let handles: Vec<_> = (0..8u8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..50u8 {
                        append_blocking(&*log, vec![app(t), app(i)]).unwrap();
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        let entries = collect(&*log);
        assert_eq!(entries.len(), 800);
        for pair in entries.chunks(2) {
            assert_eq!(pair[0].seq + 1, pair[1].seq);
        }
    }

    #[test]
    fn memory_series_replays_what_was_appended() {
        let series = MemorySeries::new();
        append_blocking(&series, vec![app(1)]).unwrap();
        assert_eq!(collect(&series).len(), 1);
        assert_eq!(series.len(), 1);
    }
}
