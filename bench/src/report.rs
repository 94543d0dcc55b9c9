//! Collected results and their presentation: a text table or JSON.

use ir3_bench::figures::{Better, Cell, Figure};
use serde::Serialize;

use crate::workloads::{Burst, ClosedLoop, Reads};

/// Everything measured on one node.
#[derive(Debug, Default, Serialize)]
pub(crate) struct NodeReport {
    /// Node name (`ir3` or `anvil`).
    pub(crate) name: String,
    /// The node's command line.
    pub(crate) command: String,
    /// `web3_clientVersion`.
    pub(crate) version: Option<String>,
    /// Closed-loop runs, one per sender count.
    pub(crate) closed_loop: Vec<ClosedLoop>,
    /// The open-loop burst.
    pub(crate) burst: Option<Burst>,
    /// `eth_call` read test.
    pub(crate) eth_call: Option<Reads>,
    /// `eth_getBalance` read test.
    pub(crate) eth_get_balance: Option<Reads>,
    /// Resident set size once the node answered, in KiB.
    pub(crate) rss_start_kib: Option<u64>,
    /// Resident set size right after the workloads, in KiB.
    pub(crate) rss_after_load_kib: Option<u64>,
    /// Resident set size after the idle period, in KiB.
    pub(crate) rss_after_idle_kib: Option<u64>,
    /// Errors, failures and anything else worth knowing.
    pub(crate) notes: Vec<String>,
}

fn mib(kib: Option<u64>) -> Cell {
    Cell::from_opt(kib.map(|kib| kib as f64 / 1024.0))
}

/// Builds the comparison rows from the reports of the nodes that ran.
pub(crate) fn figures(
    ir3: Option<&NodeReport>,
    anvil: Option<&NodeReport>,
    idle_secs: f64,
) -> Vec<Figure> {
    let mut rows = Vec::new();
    let mut row = |name: String, better, decimals, get: &dyn Fn(&NodeReport) -> Cell| {
        rows.push(Figure {
            name,
            better,
            decimals,
            ir3: ir3.map_or(Cell::Missing, get),
            anvil: anvil.map_or(Cell::Missing, get),
        });
    };
    for senders in [10, 100] {
        let find =
            move |r: &NodeReport| r.closed_loop.iter().find(|c| c.senders == senders).cloned();
        let label = format!("closed loop, {senders} senders");
        row(format!("{label}: mined tx/s"), Better::Higher, 1, &|r| {
            Cell::from_opt(find(r).map(|c| c.mined_per_sec))
        });
        row(format!("{label}: latency p50 (ms)"), Better::Lower, 2, &|r| {
            Cell::from_opt(find(r).and_then(|c| c.p50_ms))
        });
        row(format!("{label}: latency p99 (ms)"), Better::Lower, 2, &|r| {
            Cell::from_opt(find(r).and_then(|c| c.p99_ms))
        });
        row(format!("{label}: mined / planned"), Better::Neither, 0, &|r| {
            find(r).map_or(Cell::Missing, |c| Cell::Text(format!("{}/{}", c.mined, c.planned)))
        });
    }
    let burst = |r: &NodeReport| r.burst.clone();
    row("burst: acceptance rate (tx/s)".into(), Better::Higher, 1, &|r| {
        Cell::from_opt(burst(r).map(|b| b.accepted_per_sec))
    });
    row("burst: time until all accepted mined (s)".into(), Better::Lower, 2, &|r| {
        burst(r).map_or(Cell::Missing, |b| match b.mined_secs {
            Some(secs) => Cell::Num(secs),
            None => Cell::Text(format!("not all mined after {:.0} s", b.timeout_secs)),
        })
    });
    row("burst: mined / sent".into(), Better::Neither, 0, &|r| {
        burst(r).map_or(Cell::Missing, |b| Cell::Text(format!("{}/{}", b.mined, b.sent)))
    });
    row("burst: rejected sends".into(), Better::Neither, 0, &|r| {
        Cell::from_opt(burst(r).map(|b| b.rejected as f64))
    });
    row("burst: blocks produced".into(), Better::Neither, 0, &|r| {
        Cell::from_opt(burst(r).map(|b| b.blocks as f64))
    });
    for (label, get) in [
        ("eth_call", (|r: &NodeReport| r.eth_call.clone()) as fn(&NodeReport) -> Option<Reads>),
        ("eth_getBalance", |r: &NodeReport| r.eth_get_balance.clone()),
    ] {
        row(format!("{label}: requests/s"), Better::Higher, 0, &|r| {
            Cell::from_opt(get(r).map(|reads| reads.per_sec))
        });
        row(format!("{label}: errors"), Better::Neither, 0, &|r| {
            Cell::from_opt(get(r).map(|reads| reads.errors as f64))
        });
    }
    row("RSS at start (MiB)".into(), Better::Lower, 1, &|r| mib(r.rss_start_kib));
    row("RSS after load (MiB)".into(), Better::Lower, 1, &|r| mib(r.rss_after_load_kib));
    row(format!("RSS after {idle_secs:.0} s idle (MiB)"), Better::Lower, 1, &|r| {
        mib(r.rss_after_idle_kib)
    });
    rows
}
