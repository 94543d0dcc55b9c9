//! Figures measured on ir3 and (optionally) Anvil side by side, and their presentation: an
//! aligned text table or JSON. Also a plain aligned-columns renderer for other tables.

use serde_json::{Value, json};

/// Which direction of a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput-like figures.
    Higher,
    /// Latency, time and memory figures.
    Lower,
    /// Counts that are not compared.
    Neither,
}

/// One node's value of a figure.
#[derive(Debug, Clone)]
pub enum Cell {
    /// A measured number.
    Num(f64),
    /// A textual outcome (e.g. "3000/3000" or a timeout).
    Text(String),
    /// Not measured (node not run, or the workload failed).
    Missing,
}

impl Cell {
    /// A number, or [`Cell::Missing`].
    pub fn from_opt(value: Option<f64>) -> Self {
        value.map_or(Self::Missing, Self::Num)
    }

    /// The value with `decimals` decimals (`-` if missing).
    pub fn render(&self, decimals: usize) -> String {
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
pub struct Figure {
    /// What is measured, with its unit.
    pub name: String,
    /// Which direction is better.
    pub better: Better,
    /// Decimals to print.
    pub decimals: usize,
    /// ir3's value.
    pub ir3: Cell,
    /// Anvil's value.
    pub anvil: Cell,
}

impl Figure {
    /// ir3 / anvil, for comparable figures measured on both.
    pub fn ratio(&self) -> Option<f64> {
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

/// Renders the rows as an aligned text table: figure, ir3, anvil, ir3/anvil.
pub fn table(rows: &[Figure]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                f.ir3.render(f.decimals),
                f.anvil.render(f.decimals),
                f.ratio_text(),
            ]
        })
        .collect();
    columns(&["figure", "ir3", "anvil", "ir3/anvil"], &body)
}

/// Renders `body` under `header` as ` | `-separated columns: the first left-aligned, the
/// last unpadded, the others right-aligned; a `-+-` rule under the header.
pub fn columns(header: &[&str], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in body {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let last = widths.len().saturating_sub(1);
    let render = |line: &[String]| {
        let cells: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(i, cell)| match i {
                0 => format!("{cell:<w$}", w = widths[0]),
                i if i == last => cell.clone(),
                i => format!("{cell:>w$}", w = widths[i]),
            })
            .collect();
        cells.join(" | ").trim_end().to_string()
    };
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = render(&header);
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("-+-"));
    out.push('\n');
    for line in body {
        out.push_str(&render(line));
        out.push('\n');
    }
    out
}

/// The rows as JSON objects.
pub fn figures_json(rows: &[Figure]) -> Value {
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

/// The `q` quantile of sorted durations, in milliseconds (nearest rank).
pub fn percentile_ms(sorted: &[std::time::Duration], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1].as_secs_f64() * 1e3)
}
