//! Starting the gateway set on loopback (one 127.0.0.x address per gateway, every gateway
//! bootstrapped with all the others) and waiting for the full mesh.

use std::{
    ffi::OsString,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    time::{Duration, Instant},
};

use ir3_bench::{
    error::{BenchError, Result},
    node::{Node, free_ports},
    rpc::Conn,
};
use serde_json::{Value, json};

/// How long the full mesh may take to form.
const MESH_TIMEOUT: Duration = Duration::from_secs(60);

/// How the gateways are started.
#[derive(Debug, Clone)]
pub(crate) struct ClusterConfig {
    /// Gateways in the set.
    pub(crate) gateways: usize,
    /// Last octet of the first gateway's address (`127.0.0.<first_octet + i>`).
    pub(crate) first_octet: u8,
    /// `--epoch-ms`.
    pub(crate) epoch_ms: u64,
    /// `--finality-grace-ms`.
    pub(crate) grace_ms: u64,
    /// `--accounts` (dev accounts funded at genesis).
    pub(crate) accounts: usize,
    /// `--log` of the nodes, if set.
    pub(crate) log: Option<String>,
}

/// One started gateway.
pub(crate) struct Gateway {
    /// The process (killed on drop).
    pub(crate) node: Node,
    /// Its libp2p address.
    pub(crate) p2p: SocketAddr,
}

/// Starts `config.gateways` gateways of `bin`, each with its data directory under `dir`, and
/// waits until each answers JSON-RPC.
pub(crate) async fn start(bin: &Path, dir: &Path, config: &ClusterConfig) -> Result<Vec<Gateway>> {
    let n = config.gateways;
    let mut rpc = Vec::with_capacity(n);
    let mut p2p = Vec::with_capacity(n);
    for i in 0..n {
        let octet = usize::from(config.first_octet) + i;
        let octet = u8::try_from(octet)
            .ok()
            .filter(|o| *o < 255)
            .ok_or_else(|| BenchError::Setup(format!("too many gateways from .{octet}")))?;
        let ip = Ipv4Addr::new(127, 0, 0, octet);
        let ports = free_ports(ip, 2)?;
        rpc.push(SocketAddr::from((ip, ports[0])));
        p2p.push(SocketAddr::from((ip, ports[1])));
    }
    let mut gateways = Vec::with_capacity(n);
    for i in 0..n {
        let mut args: Vec<OsString> = vec![
            "--p2p-port".into(),
            p2p[i].port().to_string().into(),
            "--node-id".into(),
            i.to_string().into(),
            "--gateways".into(),
            n.to_string().into(),
            "--epoch-ms".into(),
            config.epoch_ms.to_string().into(),
            "--finality-grace-ms".into(),
            config.grace_ms.to_string().into(),
            "--accounts".into(),
            config.accounts.to_string().into(),
            "--data-dir".into(),
            dir.join(format!("gw{i}")).into(),
        ];
        for (_, peer) in p2p.iter().enumerate().filter(|(j, _)| *j != i) {
            args.push("--bootstrap".into());
            args.push(peer.to_string().into());
        }
        if let Some(log) = &config.log {
            args.push("--log".into());
            args.push(log.into());
        }
        // Names live as long as the program (a handful of gateways).
        let name: &'static str = Box::leak(format!("gw{i}").into_boxed_str());
        let node = Node::spawn_at(name, bin, rpc[i], args, dir.join(format!("gw{i}.log")))?;
        gateways.push(Gateway { node, p2p: p2p[i] });
    }
    for gateway in &mut gateways {
        gateway.node.wait_ready().await?;
    }
    Ok(gateways)
}

/// Waits until `net_peerCount` is `n - 1` on every gateway; returns how long that took.
pub(crate) async fn wait_mesh(gateways: &mut [Gateway]) -> Result<Duration> {
    let start = Instant::now();
    let want = gateways.len() as u64 - 1;
    let mut conns = Vec::with_capacity(gateways.len());
    for gateway in gateways.iter() {
        conns.push(Conn::connect(gateway.node.addr).await?);
    }
    loop {
        let mut counts = Vec::with_capacity(conns.len());
        for conn in &mut conns {
            let count = conn.call("net_peerCount", json!([])).await?;
            counts.push(ir3_bench::rpc::quantity(&count)?);
        }
        if counts.iter().all(|c| *c == want) {
            return Ok(start.elapsed());
        }
        for gateway in gateways.iter_mut() {
            if let Some(status) = gateway.node.exited() {
                return Err(BenchError::Setup(format!(
                    "{} exited ({status}); last output:\n{}",
                    gateway.node.name,
                    gateway.node.log_tail(20)
                )));
            }
        }
        if start.elapsed() > MESH_TIMEOUT {
            return Err(BenchError::Timeout(format!(
                "no full mesh after {} s: peer counts {counts:?}, want {want} each",
                MESH_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `ir3_networkStatus` of one gateway.
pub(crate) async fn network_status(addr: SocketAddr) -> Result<Value> {
    Conn::connect(addr).await?.call("ir3_networkStatus", json!([])).await
}

/// The `WARN` and `ERROR` lines of a node's output (ANSI colours removed): their count and the
/// first `keep` distinct ones.
pub(crate) fn log_problems(log: &str, keep: usize) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut first: Vec<String> = Vec::new();
    for line in log.lines().map(strip_ansi) {
        let words: Vec<&str> = line.split_whitespace().take(3).collect();
        if !words.iter().any(|w| *w == "WARN" || *w == "ERROR") && !line.contains("panicked") {
            continue;
        }
        count += 1;
        // Lines start with a timestamp: compare what follows it.
        let body = line.split_once(' ').map_or(line.as_str(), |(_, rest)| rest).trim().to_string();
        if first.len() < keep && !first.contains(&body) {
            first.push(body);
        }
    }
    (count, first)
}

/// Removes ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
