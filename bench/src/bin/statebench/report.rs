//! The report: a summary of figures (ir3 and Anvil side by side, issue 12's targets in the
//! names), the per-slice table of each node, the restarts and the notes; or all of it as JSON.

use std::path::Path;

use ir3_bench::{
    figures::{self, Better, Cell, Figure, columns},
    node::cpu_model,
};
use serde_json::json;

use crate::{
    Cli, NodeRun,
    growth::{LoopResult, Slice},
    reads,
    restart::Restart,
    shown,
};

fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|kib| kib as f64 / 1024.0)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn first_slice(run: &NodeRun) -> Option<&Slice> {
    run.growth.as_ref().and_then(|g| g.slices.first())
}

fn last_slice(run: &NodeRun) -> Option<&Slice> {
    run.growth.as_ref().and_then(|g| g.slices.last())
}

/// Largest deviation of a slice's p50 from the first slice's, in percent.
fn p50_spread(run: &NodeRun) -> Option<f64> {
    let slices = &run.growth.as_ref()?.slices;
    let first = slices.first()?.p50_ms?;
    slices
        .iter()
        .filter_map(|s| s.p50_ms)
        .map(|p50| (p50 / first - 1.0).abs() * 100.0)
        .reduce(f64::max)
}

fn restart<'a>(run: &'a NodeRun, kind: &str) -> Option<&'a Restart> {
    run.restarts.iter().find(|r| r.kind == kind)
}

fn read<'a>(run: &'a NodeRun, label: &str) -> Option<&'a reads::ReadFigure> {
    run.reads.iter().find(|r| r.label == label)
}

/// The summary rows.
fn summary(ir3: Option<&NodeRun>, anvil: Option<&NodeRun>) -> Vec<Figure> {
    let mut rows = Vec::new();
    let mut row = |name: &str, better, decimals, get: &dyn Fn(&NodeRun) -> Option<f64>| {
        rows.push(Figure {
            name: name.into(),
            better,
            decimals,
            ir3: ir3.map_or(Cell::Missing, |r| Cell::from_opt(get(r))),
            anvil: anvil.map_or(Cell::Missing, |r| Cell::from_opt(get(r))),
        });
    };
    let baseline = |r: &NodeRun| r.baseline.as_ref().map(|b| b.tx_per_sec);
    let growth = |r: &NodeRun| r.growth.clone();
    row("baseline, fixed recipient: mined tx/s", Better::Higher, 1, &baseline);
    row("baseline: latency p50 (ms)", Better::Lower, 2, &|r| r.baseline.as_ref()?.p50_ms);
    row("baseline: latency p99 (ms)", Better::Lower, 2, &|r| r.baseline.as_ref()?.p99_ms);
    row("growth, fresh addresses: mined tx/s (whole run)", Better::Higher, 1, &|r| {
        growth(r).map(|g| g.tx_per_sec)
    });
    row("growth: transactions mined", Better::Neither, 0, &|r| growth(r).map(|g| g.mined as f64));
    row("growth: ERC-20 transfers among them", Better::Neither, 0, &|r| {
        growth(r).map(|g| g.token_txs as f64)
    });
    row("growth: first slice tx/s", Better::Higher, 1, &|r| first_slice(r).map(|s| s.tx_per_sec));
    row("growth: last slice tx/s", Better::Higher, 1, &|r| last_slice(r).map(|s| s.tx_per_sec));
    row("growth: last / first slice tx/s (issue: >= 0.80)", Better::Higher, 2, &|r| {
        ratio(last_slice(r).map(|s| s.tx_per_sec), first_slice(r).map(|s| s.tx_per_sec))
    });
    row("growth: last slice / baseline tx/s (issue: >= 0.50)", Better::Higher, 2, &|r| {
        ratio(last_slice(r).map(|s| s.tx_per_sec), baseline(r))
    });
    row("growth: p50 first slice (ms)", Better::Lower, 2, &|r| first_slice(r)?.p50_ms);
    row("growth: p50 last slice (ms)", Better::Lower, 2, &|r| last_slice(r)?.p50_ms);
    row("growth: p50 last / first slice (issue: 0.80..1.20)", Better::Lower, 2, &|r| {
        ratio(last_slice(r)?.p50_ms, first_slice(r)?.p50_ms)
    });
    row("growth: max |p50 / first slice's - 1| over slices (%)", Better::Lower, 1, &p50_spread);
    row("growth: p99 last slice (ms)", Better::Lower, 2, &|r| last_slice(r)?.p99_ms);
    row("RSS at start (MiB)", Better::Lower, 1, &|r| mib(r.rss_start_kib));
    row("RSS end of first slice (MiB)", Better::Lower, 1, &|r| mib(first_slice(r)?.rss_kib));
    row("RSS end of last slice (MiB) (issue: < 300 at 1M)", Better::Lower, 1, &|r| {
        mib(last_slice(r)?.rss_kib)
    });
    row("RSS last / first slice (issue: <= 1.10)", Better::Lower, 2, &|r| {
        ratio(mib(last_slice(r)?.rss_kib), mib(first_slice(r)?.rss_kib))
    });
    row("data dir after the growth (MB)", Better::Lower, 1, &|r| {
        r.data_bytes.map(|b| b as f64 / 1e6)
    });
    row("chain: transactions", Better::Neither, 0, &|r| r.chain_txs.map(|n| n as f64));
    row("chain: head block", Better::Neither, 0, &|r| r.head.map(|n| n as f64));
    row("clean stop: SIGTERM -> exit (s)", Better::Lower, 3, &|r| {
        restart(r, "clean stop (SIGTERM)")?.stop_secs
    });
    row("clean stop: spawn -> eth_blockNumber = head (s) (issue: < 3)", Better::Lower, 3, &|r| {
        restart(r, "clean stop (SIGTERM)")?.ready_secs
    });
    row("kill -9: spawn -> eth_blockNumber = head (s) (issue: < 5)", Better::Lower, 3, &|r| {
        restart(r, "kill -9")?.ready_secs
    });
    row("RSS after the kill -9 restart (MiB)", Better::Lower, 1, &|r| {
        mib(restart(r, "kill -9")?.rss_kib)
    });
    row("store rebuild: spawn -> eth_blockNumber = head (s)", Better::Lower, 3, &|r| {
        restart(r, "store rebuild")?.ready_secs
    });
    row("store rebuild: chain tx/s (issue: >= 20000)", Better::Higher, 0, &|r| {
        restart(r, "store rebuild")?.tx_per_sec
    });
    for (label, target) in [
        (reads::BALANCE, " (issue: p99 < 1)"),
        (reads::TRACE, " (issue: < 50)"),
        (reads::CALL_TRACE, ""),
        (reads::SEARCH, " (issue: < 10)"),
    ] {
        row(&format!("{label}: p50 (ms)"), Better::Lower, 3, &|r| read(r, label)?.p50_ms);
        row(&format!("{label}: p99 (ms){target}"), Better::Lower, 3, &|r| read(r, label)?.p99_ms);
    }
    row("RSS at the end (MiB)", Better::Lower, 1, &|r| mib(r.rss_end_kib));
    rows
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    Cell::from_opt(value).render(decimals)
}

/// One line per slice (the baseline first).
fn slices_table(run: &NodeRun) -> String {
    let line = |label: String, s: &Slice| {
        vec![
            label,
            format!("{:.2}", s.secs),
            format!("{:.1}", s.tx_per_sec),
            opt(s.p50_ms, 2),
            opt(s.p99_ms, 2),
            opt(mib(s.rss_kib), 1),
            opt(s.data_bytes.map(|b| b as f64 / 1e6), 1),
            s.block.to_string(),
        ]
    };
    let mut body = Vec::new();
    let mut add = |phase: &str, result: &Option<LoopResult>| {
        for s in result.iter().flat_map(|r| &r.slices) {
            body.push(line(format!("{phase} {}..{}", s.from, s.to), s));
        }
    };
    add("baseline", &run.baseline);
    add("growth", &run.growth);
    columns(
        &["slice (completed txs)", "s", "tx/s", "p50 ms", "p99 ms", "RSS MiB", "data MB", "block"],
        &body,
    )
}

/// Prints the report (table or JSON) on stdout.
pub(crate) fn print(cli: &Cli, ir3_bin: &Path, anvil_bin: &Path, runs: &[NodeRun]) {
    let find = |name: &str| runs.iter().find(|r| r.name == name);
    let rows = summary(find("ir3"), find("anvil"));
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = cpu_model();
    if cli.json {
        let output = json!({
            "command": command,
            "cores": cores,
            "cpu": cpu,
            "sizes": {
                "senders": crate::SENDERS,
                "txs": cli.txs,
                "slice": cli.slice,
                "baseline": cli.baseline,
                "erc20_share": cli.erc20_share,
                "poll_ms": cli.poll_ms,
                "balance_calls": cli.balance_calls,
                "trace_calls": cli.trace_calls,
                "search_calls": cli.search_calls,
                "extra_args": cli.extra_args().iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            },
            "figures": figures::figures_json(&rows),
            "nodes": runs,
        });
        println!("{}", serde_json::to_string_pretty(&output).unwrap_or_default());
        return;
    }
    println!("ir3-statebench: state growth, restarts and reads on a big chain");
    println!("command: {command}");
    println!("cores:   {cores}{}", cpu.map(|c| format!(" ({c})")).unwrap_or_default());
    for run in runs {
        let bin = if run.name == "ir3" { ir3_bin } else { anvil_bin };
        println!(
            "{:<6} {} [{}]\n       {}",
            run.name,
            shown(bin),
            run.version.as_deref().unwrap_or("?"),
            run.command
        );
    }
    println!(
        "sizes:  {} senders, closed loop (receipt poll {} ms); baseline {} txs to one recipient; \
         growth {} txs to fresh addresses (ERC-20 share {}) in slices of {}; reads {} balances, \
         {} traces per tracer, {} searches",
        crate::SENDERS,
        cli.poll_ms,
        cli.baseline,
        cli.txs,
        cli.erc20_share,
        cli.slice,
        cli.balance_calls,
        cli.trace_calls,
        cli.search_calls
    );
    println!();
    print!("{}", figures::table(&rows));
    for run in runs {
        println!();
        println!("[{}] slices", run.name);
        print!("{}", slices_table(run));
        for r in &run.restarts {
            if r.ready_secs.is_none() {
                let why = r.note.as_deref().unwrap_or("not measured");
                println!("[{}] restart, {}: {why}", run.name, r.kind);
                continue;
            }
            println!(
                "[{}] restart, {}: stop {} s ({}), first answer {} s, head served {} s, RSS {} MiB",
                run.name,
                r.kind,
                opt(r.stop_secs, 3),
                r.exit.as_deref().unwrap_or("-"),
                opt(r.first_answer_secs, 3),
                opt(r.ready_secs, 3),
                opt(mib(r.rss_kib), 1),
            );
        }
        for f in &run.reads {
            println!("[{}] read: {} ({} ok, {} errors)", run.name, f.what, f.ok, f.errors);
        }
        for note in &run.notes {
            println!("note [{}]: {note}", run.name);
        }
    }
}
