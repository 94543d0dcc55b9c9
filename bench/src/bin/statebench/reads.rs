//! Reads on the grown chain, each timed call by call on one keep-alive connection:
//! historical balances, traces of the chain's first transaction, Otterscan's address search.

use std::{net::SocketAddr, time::Instant};

use alloy_primitives::Address;
use ir3_bench::{
    error::{BenchError, Result},
    figures::percentile_ms,
    rpc::Conn,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{growth::fresh_address, progress};

/// Label of the historical balance reads.
pub(crate) const BALANCE: &str = "eth_getBalance at block head/10";
/// Label of the traces with the default (struct log) tracer.
pub(crate) const TRACE: &str = "debug_traceTransaction(first tx)";
/// Label of the traces with the call tracer.
pub(crate) const CALL_TRACE: &str = "debug_traceTransaction(first tx, callTracer)";
/// Label of the address search.
pub(crate) const SEARCH: &str = "ots_searchTransactionsBefore(sender 0, 0, 25)";

/// Figures of one kind of read.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReadFigure {
    /// The figure's name (the same on every node).
    pub(crate) label: &'static str,
    /// What was called, with its parameters in short.
    pub(crate) what: String,
    /// Successful calls.
    pub(crate) ok: usize,
    /// Failed calls (JSON-RPC error, transport error or a malformed answer).
    pub(crate) errors: usize,
    /// Median latency of the successful calls, in ms.
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile, in ms.
    pub(crate) p99_ms: Option<f64>,
    /// The first error.
    pub(crate) first_error: Option<String>,
}

/// What the reads ask.
pub(crate) struct ReadPlan {
    /// The head of the chain.
    pub(crate) head: u64,
    /// Fresh addresses created by the growth phase (the balance reads cycle through the first
    /// ones).
    pub(crate) fresh: u64,
    /// A sender of the run (the search's address; the balance reads' when `fresh` is 0).
    pub(crate) sender: Address,
    /// `eth_getBalance` calls.
    pub(crate) balance_calls: usize,
    /// `debug_traceTransaction` calls per tracer.
    pub(crate) trace_calls: usize,
    /// `ots_searchTransactionsBefore` calls.
    pub(crate) search_calls: usize,
}

/// Calls `method` `calls` times with `params(i)`, checking each answer with `check`.
async fn timed(
    conn: &mut Conn,
    label: &'static str,
    what: String,
    calls: usize,
    method: &str,
    params: impl Fn(usize) -> Value,
    check: impl Fn(&Value) -> Result<()>,
) -> ReadFigure {
    let mut latencies = Vec::with_capacity(calls);
    let (mut errors, mut first_error) = (0, None);
    for i in 0..calls {
        let params = params(i);
        let start = Instant::now();
        let outcome = conn.call(method, params).await;
        let took = start.elapsed();
        match outcome.and_then(|answer| check(&answer)) {
            Ok(()) => latencies.push(took),
            Err(error) => {
                errors += 1;
                first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    latencies.sort_unstable();
    let figure = ReadFigure {
        label,
        what,
        ok: latencies.len(),
        errors,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        first_error,
    };
    progress(&format!(
        "reads: {}: {} ok, {} errors, p50 {:.3} ms, p99 {:.3} ms",
        figure.what,
        figure.ok,
        figure.errors,
        figure.p50_ms.unwrap_or(f64::NAN),
        figure.p99_ms.unwrap_or(f64::NAN)
    ));
    figure
}

fn expect(ok: bool, answer: &Value, what: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        let mut text = answer.to_string();
        text.truncate(200);
        Err(BenchError::Protocol(format!("expected {what}, got {text}")))
    }
}

/// The hash of the chain's first transaction (the first of the lowest block that has one).
async fn first_transaction(conn: &mut Conn, head: u64) -> Result<Option<String>> {
    for number in 1..=head.min(16) {
        let block =
            conn.call("eth_getBlockByNumber", json!([format!("{number:#x}"), false])).await?;
        if let Some(hash) = block["transactions"].get(0).and_then(Value::as_str) {
            return Ok(Some(hash.to_string()));
        }
    }
    Ok(None)
}

/// Runs every read; the historical block is `head / 10` (90 % of the chain back).
pub(crate) async fn run(addr: SocketAddr, plan: &ReadPlan) -> Result<Vec<ReadFigure>> {
    let mut conn = Conn::connect(addr).await?;
    let mut figures = Vec::new();

    let block = plan.head / 10;
    let tag = format!("{block:#x}");
    let cycle = plan.fresh.min(plan.balance_calls as u64);
    let sender = plan.sender;
    figures.push(
        timed(
            &mut conn,
            BALANCE,
            format!("eth_getBalance(fresh account, block {block} of {})", plan.head),
            plan.balance_calls,
            "eth_getBalance",
            |i| {
                let who = if cycle == 0 { sender } else { fresh_address(i as u64 % cycle) };
                json!([who, tag])
            },
            |answer| {
                expect(answer.as_str().is_some_and(|s| s.starts_with("0x")), answer, "a quantity")
            },
        )
        .await,
    );

    match first_transaction(&mut conn, plan.head).await? {
        Some(hash) => {
            let short = format!("{}…", &hash[..10.min(hash.len())]);
            for (label, tracer, options) in [
                (TRACE, "default tracer", json!({})),
                (CALL_TRACE, "callTracer", json!({ "tracer": "callTracer" })),
            ] {
                figures.push(
                    timed(
                        &mut conn,
                        label,
                        format!("debug_traceTransaction(first tx {short}, {tracer})"),
                        plan.trace_calls,
                        "debug_traceTransaction",
                        |_| json!([hash, options]),
                        |answer| expect(answer.is_object(), answer, "a trace object"),
                    )
                    .await,
                );
            }
        }
        None => progress("reads: no transaction in the first blocks: no trace reads"),
    }

    figures.push(
        timed(
            &mut conn,
            SEARCH,
            "ots_searchTransactionsBefore(sender 0, 0, 25)".into(),
            plan.search_calls,
            "ots_searchTransactionsBefore",
            |_| json!([sender, 0, 25]),
            |answer| {
                let txs = answer["txs"].as_array().map_or(0, Vec::len);
                expect(txs >= 25, answer, "a page of (at least) 25 txs")
            },
        )
        .await,
    );
    Ok(figures)
}
