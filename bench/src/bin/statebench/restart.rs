//! Restarts of the node on the grown chain: after a clean stop (SIGTERM), after `kill -9`,
//! and (optionally) with its derived store deleted, each timed from the new process's spawn
//! until it answers `eth_blockNumber` with the head it had before.

use std::{
    ffi::OsString,
    path::PathBuf,
    time::{Duration, Instant},
};

use ir3_bench::{
    error::{BenchError, Result},
    node::Node,
    rpc::Conn,
};
use serde::Serialize;

use crate::progress;

/// How the next ir3 process is started: same binary, data directory and extra arguments.
pub(crate) struct Launcher {
    /// The ir3 binary.
    pub(crate) bin: PathBuf,
    /// `--data-dir`.
    pub(crate) data_dir: PathBuf,
    /// `--extra-arg` values.
    pub(crate) extra: Vec<OsString>,
    /// Where the node logs go (`ir3-<tag>.log`).
    pub(crate) log_dir: PathBuf,
}

impl Launcher {
    /// Spawns ir3 on a free port; `tag` names its log file.
    pub(crate) fn spawn(&self, tag: &str) -> Result<Node> {
        let mut args: Vec<OsString> = vec!["--data-dir".into(), self.data_dir.clone().into()];
        args.extend(self.extra.iter().cloned());
        Node::spawn("ir3", &self.bin, args, self.log_dir.join(format!("ir3-{tag}.log")))
    }
}

/// One timed restart.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Restart {
    /// `clean stop (SIGTERM)`, `kill -9` or `store rebuild`.
    pub(crate) kind: String,
    /// Seconds from SIGTERM until the old process exited (clean stops only).
    pub(crate) stop_secs: Option<f64>,
    /// The old process's exit status.
    pub(crate) exit: Option<String>,
    /// Seconds from spawn until the first JSON-RPC answer (any block number).
    pub(crate) first_answer_secs: Option<f64>,
    /// Seconds from spawn until `eth_blockNumber` equalled the head before the stop.
    pub(crate) ready_secs: Option<f64>,
    /// Transactions of the chain per second of `ready_secs` (store rebuild only).
    pub(crate) tx_per_sec: Option<f64>,
    /// RSS of the new process once ready, in KiB.
    pub(crate) rss_kib: Option<u64>,
    /// Why it is not measured, or what went wrong.
    pub(crate) note: Option<String>,
}

impl Restart {
    fn new(kind: &str) -> Self {
        Self {
            kind: kind.into(),
            stop_secs: None,
            exit: None,
            first_answer_secs: None,
            ready_secs: None,
            tx_per_sec: None,
            rss_kib: None,
            note: None,
        }
    }
}

/// Polls a freshly spawned node every 10 ms until `eth_blockNumber` is `head`; returns the
/// time of the first answer and of the correct one, both from `spawned`.
async fn time_to_head(
    node: &mut Node,
    spawned: Instant,
    head: u64,
    timeout: Duration,
) -> Result<(Duration, Duration)> {
    let mut conn: Option<Conn> = None;
    let mut first_answer = None;
    let mut last_seen = None;
    loop {
        if let Some(status) = node.exited() {
            return Err(BenchError::Setup(format!(
                "ir3 exited during the restart ({status}); last output:\n{}",
                node.log_tail(20)
            )));
        }
        if conn.is_none() {
            conn = Conn::connect(node.addr).await.ok();
        }
        if let Some(c) = conn.as_mut() {
            match c.block_number().await {
                Ok(number) => {
                    let at = spawned.elapsed();
                    first_answer.get_or_insert(at);
                    last_seen = Some(number);
                    if number == head {
                        return Ok((first_answer.unwrap_or(at), at));
                    }
                }
                // Not serving yet (or an error while starting): keep polling.
                Err(error) if !error.is_rpc() => conn = None,
                Err(_) => {}
            }
        }
        if spawned.elapsed() > timeout {
            return Err(BenchError::Timeout(format!(
                "no eth_blockNumber = {head} within {} s of the spawn (last answer: {})",
                timeout.as_secs_f64(),
                last_seen.map_or("none".into(), |n| n.to_string())
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Spawns the node again and times it to the head; fills `restart`.
async fn start_timed(
    launcher: &Launcher,
    tag: &str,
    head: u64,
    timeout: Duration,
    restart: &mut Restart,
) -> Result<Node> {
    let spawned = Instant::now();
    let mut node = launcher.spawn(tag)?;
    let (first, ready) = time_to_head(&mut node, spawned, head, timeout).await?;
    restart.first_answer_secs = Some(first.as_secs_f64());
    restart.ready_secs = Some(ready.as_secs_f64());
    restart.rss_kib = node.rss_kib();
    progress(&format!(
        "{}: first answer after {:.3} s, eth_blockNumber = {head} after {:.3} s (pid {})",
        restart.kind,
        first.as_secs_f64(),
        ready.as_secs_f64(),
        node.pid()
    ));
    Ok(node)
}

/// What the restart phase does.
pub(crate) struct RestartPlan {
    /// The chain's head before the restarts.
    pub(crate) head: u64,
    /// Transactions in the chain (for the rebuild's rate).
    pub(crate) chain_txs: u64,
    /// How long a restart may take.
    pub(crate) timeout: Duration,
    /// Also delete the derived store and time its rebuild.
    pub(crate) rebuild: bool,
    /// The derived store's path (under the data directory).
    pub(crate) store: PathBuf,
}

/// Clean stop and restart, `kill -9` and restart, then (if asked) delete the store and
/// restart. Returns the running node of the last restart and the figures. A failed restart
/// ends the phase (its figure carries the error).
pub(crate) async fn run(
    mut node: Node,
    launcher: &Launcher,
    plan: &RestartPlan,
) -> (Option<Node>, Vec<Restart>) {
    let mut results = Vec::new();

    // 1. Clean stop.
    let mut clean = Restart::new("clean stop (SIGTERM)");
    progress(&format!("{}: stopping pid {} at head {}", clean.kind, node.pid(), plan.head));
    match node.terminate(plan.timeout).await {
        Ok((status, took)) => {
            clean.stop_secs = Some(took.as_secs_f64());
            clean.exit = Some(status.to_string());
        }
        Err(error) => clean.note = Some(format!("stop: {error}")),
    }
    drop(node);
    let next = start_timed(launcher, "clean", plan.head, plan.timeout, &mut clean).await;
    let Some(mut node) = keep(next, &mut clean, &mut results) else { return (None, results) };

    // 2. kill -9.
    let mut killed = Restart::new("kill -9");
    progress(&format!("{}: SIGKILL pid {}", killed.kind, node.pid()));
    node.kill_now();
    killed.exit = node.exited().map(|s| s.to_string());
    drop(node);
    let next = start_timed(launcher, "kill9", plan.head, plan.timeout, &mut killed).await;
    let Some(mut node) = keep(next, &mut killed, &mut results) else { return (None, results) };

    // 3. Store rebuild.
    if plan.rebuild {
        let mut rebuild = Restart::new("store rebuild");
        if !plan.store.exists() {
            rebuild.note = Some(format!(
                "no derived store at {} (this node has none): rebuild not measured",
                plan.store.display()
            ));
            progress(&format!("{}: skipped: {}", rebuild.kind, plan.store.display()));
            results.push(rebuild);
            return (Some(node), results);
        }
        match node.terminate(plan.timeout).await {
            Ok((status, took)) => {
                rebuild.stop_secs = Some(took.as_secs_f64());
                rebuild.exit = Some(status.to_string());
            }
            Err(error) => rebuild.note = Some(format!("stop: {error}")),
        }
        drop(node);
        let removed = if plan.store.is_dir() {
            std::fs::remove_dir_all(&plan.store)
        } else {
            std::fs::remove_file(&plan.store)
        };
        if let Err(error) = removed {
            rebuild.note = Some(format!("cannot delete {}: {error}", plan.store.display()));
            results.push(rebuild);
            return (None, results);
        }
        progress(&format!("{}: deleted {}, restarting", rebuild.kind, plan.store.display()));
        let next = start_timed(launcher, "rebuild", plan.head, plan.timeout, &mut rebuild).await;
        rebuild.tx_per_sec = rebuild.ready_secs.map(|secs| plan.chain_txs as f64 / secs);
        let Some(rebuilt) = keep(next, &mut rebuild, &mut results) else {
            return (None, results);
        };
        node = rebuilt;
    }
    (Some(node), results)
}

/// Records `restart`; the node if it came up.
fn keep(next: Result<Node>, restart: &mut Restart, results: &mut Vec<Restart>) -> Option<Node> {
    let node = match next {
        Ok(node) => Some(node),
        Err(error) => {
            progress(&format!("{} FAILED: {error}", restart.kind));
            let note = restart.note.take().map(|n| format!("{n}; ")).unwrap_or_default();
            restart.note = Some(format!("{note}{error}"));
            None
        }
    };
    results.push(restart.clone());
    node
}
