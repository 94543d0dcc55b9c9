//! Read-only views of the node itself, for the dashboard and for scripts: what kind of node it
//! is (`ir3_nodeInfo`), its series (`ir3_seriesStatus`) and the dev accounts' keys
//! (`ir3_devAccounts`, refused where the dev methods are refused). None of them changes state.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use ir3_evm::{EvmNode, MiningMode, events::EvmEvent};
use ir3_foundation::series::{Entry, EntryBody};
use jsonrpsee::core::{RpcResult, async_trait};
use serde::Serialize;
use serde_json::Value;

use crate::{
    api::{DevAccount, NodeInfo, SeriesStatus, StatusApiServer},
    error::RpcError,
};

/// Width of one bucket of [`SeriesStatus::timeline`], in milliseconds.
pub const TIMELINE_BUCKET_MS: u64 = 5_000;
/// Buckets in [`SeriesStatus::timeline`] (the last five minutes).
pub const TIMELINE_BUCKETS: u64 = 60;
/// A detailed scan is redone at most this often, and never sooner than ten times its own
/// duration after the last one (scanning a long series stays under a tenth of one core).
pub const MIN_RESCAN: Duration = Duration::from_secs(2);

/// Handler of the status methods.
#[derive(Debug)]
pub struct StatusHandler {
    node: Arc<EvmNode>,
    /// The last detailed scan, when it ended and how long it took (held across a scan:
    /// concurrent callers wait and share it).
    scan: Arc<tokio::sync::Mutex<Option<(SeriesStatus, Instant, Duration)>>>,
}

impl StatusHandler {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>) -> Self {
        Self { node, scan: Arc::default() }
    }
}

/// The name of an externally tagged enum value's variant (`{"Variant": …}` or `"Variant"`).
fn variant_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
        Ok(Value::String(name)) => name,
        _ => "other".into(),
    }
}

/// The kind an entry is counted under.
pub fn entry_kind(body: &EntryBody) -> String {
    match body {
        EntryBody::NodeStarted { .. } => "node/started".into(),
        EntryBody::App { app, .. } => match EvmEvent::from_body(body) {
            Some(Ok(event)) => format!("{app}/{}", variant_name(&event)),
            _ => app.clone(),
        },
        EntryBody::IntentPushed(record) => format!("intent/{}/{}", record.app, record.kind),
        EntryBody::P2p(record) => format!("p2p/{}", variant_name(record)),
    }
}

fn scan(node: &EvmNode) -> Result<SeriesStatus, RpcError> {
    let series = node.series_handle();
    let mut status = SeriesStatus::default();
    let mut times = Vec::new();
    series
        .replay(&mut |entry: Entry| {
            let size = postcard::to_allocvec(&entry).map_or(0, |b| b.len() as u64);
            status.bytes += size + 8;
            status.scanned += 1;
            *status.kinds.entry(entry_kind(&entry.body)).or_default() += 1;
            status.first_ms.get_or_insert(entry.time_ms);
            status.last_ms = Some(entry.time_ms);
            times.push(entry.time_ms);
            Ok(())
        })
        .map_err(RpcError::from)?;
    if let Some(last) = status.last_ms {
        let end = last - last % TIMELINE_BUCKET_MS + TIMELINE_BUCKET_MS;
        let start = end.saturating_sub(TIMELINE_BUCKETS * TIMELINE_BUCKET_MS);
        let mut buckets = vec![0u64; TIMELINE_BUCKETS as usize];
        for t in times.into_iter().filter(|t| *t >= start && *t < end) {
            buckets[((t - start) / TIMELINE_BUCKET_MS) as usize] += 1;
        }
        status.timeline = buckets
            .into_iter()
            .enumerate()
            .map(|(i, count)| (start + i as u64 * TIMELINE_BUCKET_MS, count))
            .collect();
    }
    status.entries = series.len().max(status.scanned);
    Ok(status)
}

#[async_trait]
impl StatusApiServer for StatusHandler {
    fn node_info(&self) -> RpcResult<NodeInfo> {
        let networked = self.node.is_networked();
        let (mining, interval_secs) = match self.node.mining() {
            MiningMode::Auto => ("automine", None),
            MiningMode::Manual => ("manual", None),
            MiningMode::Interval(every) => ("interval", Some(every.as_secs_f64())),
        };
        Ok(NodeInfo {
            client_version: format!("ir3/v{}", env!("CARGO_PKG_VERSION")),
            chain_id: self.node.config().chain_id,
            networked,
            dev_methods: !networked,
            mining: mining.into(),
            interval_secs,
            series_entries: self.node.series_handle().len(),
            dev_accounts: self.node.accounts().addresses().len(),
            startup: self.node.startup(),
        })
    }

    fn dev_accounts(&self) -> RpcResult<Vec<DevAccount>> {
        if self.node.is_networked() {
            return Err(RpcError::InvalidParams(
                "network mode: the dev accounts' keys are not served".into(),
            )
            .into());
        }
        let accounts = self.node.accounts();
        Ok(accounts
            .addresses()
            .into_iter()
            .zip(accounts.private_keys())
            .map(|(address, private_key)| DevAccount { address, private_key })
            .collect())
    }

    async fn series_status(&self, detail: Option<bool>) -> RpcResult<SeriesStatus> {
        let entries = self.node.series_handle().len();
        if !detail.unwrap_or(false) {
            return Ok(SeriesStatus { entries, ..SeriesStatus::default() });
        }
        let mut cached = self.scan.clone().lock_owned().await;
        let stale = match &*cached {
            None => true,
            Some((status, at, took)) => {
                status.scanned != entries && at.elapsed() >= MIN_RESCAN.max(*took * 10)
            }
        };
        if stale {
            let node = self.node.clone();
            let started = Instant::now();
            let fresh = tokio::task::spawn_blocking(move || scan(&node))
                .await
                .map_err(|e| RpcError::InvalidParams(format!("series scan failed: {e}")))??;
            *cached = Some((fresh, Instant::now(), started.elapsed()));
        }
        let mut status = cached.as_ref().map(|(s, _, _)| s.clone()).unwrap_or_default();
        status.entries = entries.max(status.scanned);
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::B256;
    use ir3_foundation::{intent::IntentRecord, net::P2pRecord};

    use super::*;

    #[test]
    fn entries_are_counted_by_app_event_intent_and_p2p_kind() {
        assert_eq!(entry_kind(&EntryBody::NodeStarted { version: "0.1.0".into() }), "node/started");
        assert_eq!(entry_kind(&EntryBody::App { app: "money".into(), payload: vec![1] }), "money");
        let intent = IntentRecord {
            id: B256::ZERO,
            app: "evm".into(),
            kind: "execute_eth_tx".into(),
            payload_digest: B256::ZERO,
            payload_len: 0,
        };
        assert_eq!(entry_kind(&EntryBody::IntentPushed(intent)), "intent/evm/execute_eth_tx");
        let sent = P2pRecord::IntentSent {
            id: B256::ZERO,
            app: "evm".into(),
            kind: "execute_eth_tx".into(),
            expected: vec![],
        };
        assert_eq!(entry_kind(&EntryBody::P2p(sent)), "p2p/IntentSent");
    }
}
