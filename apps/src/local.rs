//! A single node's ordering of native operations (no gateway network): each operation is
//! appended to the node's series and is its own final epoch at once — the node is the only
//! authority. Replayed from the series at start.

use ir3_foundation::{
    EntryBody, RawEntry, SeriesHandle, append_blocking,
    apps::{AppEpoch, OrderedLog},
    order::{Envelope, HlcStamp, now_ms},
};
use parking_lot::Mutex;

use crate::error::Result;

/// The series app name of a single node's native operations.
pub const LOCAL_APP: &str = "native";

/// A single node's native operations, in the order they were recorded.
#[derive(Debug)]
pub struct LocalLog {
    series: SeriesHandle,
    ops: Mutex<Vec<(u64, Envelope)>>,
}

impl LocalLog {
    /// Opens the log over a series, replaying the operations it holds.
    pub fn open(series: SeriesHandle) -> Result<Self> {
        let mut replay = LocalLogReplay::default();
        series.replay_raw(&mut |entry| {
            replay.observe(entry);
            Ok(())
        })?;
        Ok(replay.open(series))
    }
}

/// The operations of a [`LocalLog`] gathered from a pass over the series that other consumers
/// share (see `EvmNode::open_observed`).
#[derive(Debug, Default)]
pub struct LocalLogReplay {
    ops: Vec<(u64, Envelope)>,
}

impl LocalLogReplay {
    /// Takes the operation an entry records, if it is one.
    pub fn observe(&mut self, entry: &RawEntry<'_>) {
        if let Some((LOCAL_APP, payload)) = entry.app()
            && let Ok(envelope) = postcard::from_bytes::<Envelope>(payload)
        {
            self.ops.push((self.ops.len() as u64, envelope));
        }
    }

    /// The log, once every entry was observed.
    pub fn open(self, series: SeriesHandle) -> LocalLog {
        LocalLog { series, ops: Mutex::new(self.ops) }
    }
}

impl OrderedLog for LocalLog {
    fn app_epochs(&self, from_epoch: u64) -> Vec<AppEpoch> {
        let ops = self.ops.lock();
        ops.iter()
            .skip(from_epoch as usize)
            .map(|(epoch, envelope)| AppEpoch {
                epoch: *epoch,
                start_ms: envelope.stamp.wall_ms,
                is_final: true,
                envelopes: vec![envelope.clone()],
                conflicts: Vec::new(),
            })
            .collect()
    }

    fn submit(
        &self,
        app: &str,
        account: Vec<u8>,
        sequence: u64,
        payload: Vec<u8>,
    ) -> std::result::Result<(), String> {
        let mut ops = self.ops.lock();
        let envelope = Envelope {
            app: app.to_string(),
            account,
            sequence,
            payload,
            stamp: HlcStamp { wall_ms: now_ms(), logical: 0 },
            gateway: 0,
        };
        let payload = postcard::to_allocvec(&envelope).map_err(|e| e.to_string())?;
        append_blocking(&*self.series, vec![EntryBody::App { app: LOCAL_APP.into(), payload }])
            .map_err(|e| e.to_string())?;
        let epoch = ops.len() as u64;
        ops.push((epoch, envelope));
        Ok(())
    }
}
