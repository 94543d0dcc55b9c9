//! Collected results and their presentation: a text table or JSON.

use serde::Serialize;
use serde_json::{Value, json};

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

/// Which direction of a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Better {
    /// Throughput-like figures.
    Higher,
    /// Latency, time and memory figures.
    Lower,
    /// Counts that are not compared.
    Neither,
}

/// One node's value of a figure.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    /// A measured number.
    Num(f64),
    /// A textual outcome (e.g. "3000/3000" or a timeout).
    Text(String),
    /// Not measured (node not run, or the workload failed).
    Missing,
}

impl Cell {
    fn from_opt(value: Option<f64>) -> Self {
        value.map_or(Self::Missing, Self::Num)
    }

    fn render(&self, decimals: usize) -> String {
        match self {
            Self::Num(value) => format!("{value:.decimals$}"),
            Self::Text(text) => text.clone(),
            Self::Missing => "-".into(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Self::Num(value) => json!(value),
            Self::Text(text) => json!(text),
            Self::Missing => Value::Null,
        }
    }
}

/// One row of the comparison.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    /// What is measured, with its unit.
    pub(crate) name: String,
    /// Which direction is better.
    pub(crate) better: Better,
    /// Decimals to print.
    pub(crate) decimals: usize,
    /// ir3's value.
    pub(crate) ir3: Cell,
    /// Anvil's value.
    pub(crate) anvil: Cell,
}

impl Figure {
    /// ir3 / anvil, for comparable figures measured on both.
    pub(crate) fn ratio(&self) -> Option<f64> {
        match (&self.ir3, &self.anvil, self.better) {
            (_, _, Better::Neither) => None,
            (Cell::Num(ir3), Cell::Num(anvil), _) if *anvil > 0.0 => Some(ir3 / anvil),
            _ => None,
        }
    }

    fn ratio_text(&self) -> String {
        match (self.ratio(), self.better) {
            (Some(ratio), Better::Higher) => format!("{ratio:.2} (higher is better)"),
            (Some(ratio), _) => format!("{ratio:.2} (lower is better)"),
            (None, _) => "-".into(),
        }
    }
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

/// Renders the rows as an aligned text table.
pub(crate) fn table(rows: &[Figure]) -> String {
    let header = ["figure", "ir3", "anvil", "ir3/anvil"].map(String::from);
    let body: Vec<[String; 4]> = rows
        .iter()
        .map(|f| {
            [f.name.clone(), f.ir3.render(f.decimals), f.anvil.render(f.decimals), f.ratio_text()]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for line in &body {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |line: &[String; 4]| {
        format!(
            "{:<w0$} | {:>w1$} | {:>w2$} | {}",
            line[0],
            line[1],
            line[2],
            line[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        )
    };
    let mut out = render(&header);
    out.push('\n');
    out.push_str(&format!(
        "{}-+-{}-+-{}-+-{}\n",
        "-".repeat(widths[0]),
        "-".repeat(widths[1]),
        "-".repeat(widths[2]),
        "-".repeat(widths[3])
    ));
    for line in &body {
        out.push_str(render(line).trim_end());
        out.push('\n');
    }
    out
}

/// The rows as JSON objects.
pub(crate) fn figures_json(rows: &[Figure]) -> Value {
    rows.iter()
        .map(|f| {
            json!({
                "figure": f.name,
                "better": match f.better {
                    Better::Higher => json!("higher"),
                    Better::Lower => json!("lower"),
                    Better::Neither => Value::Null,
                },
                "ir3": f.ir3.json(),
                "anvil": f.anvil.json(),
                "ratio": f.ratio(),
            })
        })
        .collect()
}
