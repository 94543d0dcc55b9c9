//! Starting ir3 nodes in network mode on loopback, shared by `ir3-netbench` and
//! `ir3-syncbench`: the gateway set (one 127.0.0.x address per gateway, every gateway
//! bootstrapped with all the others) and single observers that join it later with an empty
//! data directory; waiting for the full mesh, network status, and the scan of the nodes'
//! output for WARN/ERROR lines.

use std::{
    ffi::OsString,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    error::{BenchError, Result},
    node::{Node, free_ports},
    rpc::{Conn, quantity},
};

/// How long the full mesh may take to form.
const MESH_TIMEOUT: Duration = Duration::from_secs(60);

/// Most observers a bench starts (keys outside the validator set are written for them).
pub const MAX_OBSERVERS: usize = 8;

/// The network every node of one bench joins and the flags they share.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The ir3 binary.
    pub bin: PathBuf,
    /// Size of the validator set.
    pub gateways: usize,
    /// `--epoch-ms` the network was written with.
    pub epoch_ms: u64,
    /// `--grace-ms` the network was written with.
    pub grace_ms: u64,
    /// `--accounts` (dev accounts funded at genesis).
    pub accounts: usize,
    /// `--segment-blocks`, if set (else the node's default).
    pub segment_blocks: Option<u64>,
    /// Further flags given to every node (e.g. `--replication 1`).
    pub extra: Vec<String>,
    /// `--log` of the nodes, if set.
    pub log: Option<String>,
    /// The directory `ir3 network init` wrote (network file and `gateway-N.key.json`), see
    /// [`init_network`].
    pub network: PathBuf,
}

/// Writes a network of `gateways` validators with `ir3 network init` into `dir/net`, with
/// further `init` flags (engine parameters), and [`MAX_OBSERVERS`] keys outside its set (from
/// another `init`) into `dir/outside`. Returns `dir/net`.
pub fn init_network(bin: &Path, gateways: usize, dir: &Path, flags: &[String]) -> Result<PathBuf> {
    let init = |count: usize, out: &Path, flags: &[String]| -> Result<()> {
        let output = std::process::Command::new(bin)
            .args(["network", "init", "--gateways", &count.to_string(), "--out"])
            .arg(out)
            .args(flags)
            .output()?;
        if !output.status.success() {
            return Err(BenchError::Setup(format!(
                "ir3 network init: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(())
    };
    let out = dir.join("net");
    init(gateways, &out, flags)?;
    init(MAX_OBSERVERS, &dir.join("outside"), &[])?;
    Ok(out)
}

/// The key file of node number `id`: a validator's below `gateways`, else one outside the set.
fn key_file(config: &NetConfig, id: usize) -> PathBuf {
    match id.checked_sub(config.gateways) {
        None => config.network.join(format!("gateway-{id}.key.json")),
        Some(observer) => config
            .network
            .with_file_name("outside")
            .join(format!("gateway-{}.key.json", observer % MAX_OBSERVERS)),
    }
}

/// One started node.
pub struct NetNode {
    /// The process (SIGKILLed on drop).
    pub node: Node,
    /// Its libp2p address.
    pub p2p: SocketAddr,
    /// Its consensus engine's address.
    pub consensus: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
}

/// A node's addresses on one loopback IP, every port free a moment ago.
#[derive(Debug, Clone, Copy)]
struct Addresses {
    rpc: SocketAddr,
    p2p: SocketAddr,
    consensus: SocketAddr,
}

/// JSON-RPC, libp2p and consensus addresses on `127.0.0.<octet>`.
fn addresses(octet: usize) -> Result<Addresses> {
    let octet = u8::try_from(octet)
        .ok()
        .filter(|o| (2..255).contains(o))
        .ok_or_else(|| BenchError::Setup(format!("no loopback address 127.0.0.{octet}")))?;
    let ip = Ipv4Addr::new(127, 0, 0, octet);
    let ports = free_ports(ip, 3)?;
    Ok(Addresses {
        rpc: SocketAddr::from((ip, ports[0])),
        p2p: SocketAddr::from((ip, ports[1])),
        consensus: SocketAddr::from((ip, ports[2])),
    })
}

/// Spawns node number `id` of the network at `at`, data in `dir/<name>`, joining through
/// `bootstrap` and the engines at `engines`; `log` overrides the configured `--log`.
#[allow(clippy::too_many_arguments)]
fn spawn(
    config: &NetConfig,
    dir: &Path,
    name: &'static str,
    id: usize,
    at: Addresses,
    bootstrap: &[SocketAddr],
    engines: &[SocketAddr],
    log: Option<&str>,
) -> Result<NetNode> {
    let data_dir = dir.join(name);
    let mut args: Vec<OsString> = vec!["--p2p-port".into(), at.p2p.port().to_string().into()];
    args.push("--node-id".into());
    args.push(name.into());
    args.push("--network".into());
    args.push(config.network.join("network.json").into());
    args.push("--key".into());
    args.push(key_file(config, id).into());
    args.push("--consensus-port".into());
    args.push(at.consensus.port().to_string().into());
    for peer in engines {
        args.push("--consensus-peer".into());
        args.push(peer.to_string().into());
    }
    args.extend(["--accounts".into(), config.accounts.to_string().into()]);
    if let Some(blocks) = config.segment_blocks {
        args.push("--segment-blocks".into());
        args.push(blocks.to_string().into());
    }
    args.push("--data-dir".into());
    args.push(data_dir.clone().into());
    args.extend(config.extra.iter().map(OsString::from));
    for peer in bootstrap {
        args.push("--bootstrap".into());
        args.push(peer.to_string().into());
    }
    if let Some(log) = log.or(config.log.as_deref()) {
        args.push("--log".into());
        args.push(log.into());
    }
    let node = Node::spawn_at(name, &config.bin, at.rpc, args, dir.join(format!("{name}.log")))?;
    Ok(NetNode { node, p2p: at.p2p, consensus: at.consensus, data_dir })
}

/// Starts the `config.gateways` gateways `<prefix>0`, `<prefix>1`, ...
/// (`127.0.0.<first_octet + i>`, data under `dir`) and waits until each answers JSON-RPC.
pub async fn start_gateways(
    config: &NetConfig,
    dir: &Path,
    prefix: &str,
    first_octet: usize,
) -> Result<Vec<NetNode>> {
    let n = config.gateways;
    let addrs = (0..n).map(|i| addresses(first_octet + i)).collect::<Result<Vec<_>>>()?;
    let mut nodes = Vec::with_capacity(n);
    for (i, &at) in addrs.iter().enumerate() {
        let others: Vec<&Addresses> =
            addrs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| a).collect();
        let p2p: Vec<SocketAddr> = others.iter().map(|a| a.p2p).collect();
        let engines: Vec<SocketAddr> = others.iter().map(|a| a.consensus).collect();
        // Names live as long as the program (a handful of nodes).
        let name: &'static str = Box::leak(format!("{prefix}{i}").into_boxed_str());
        nodes.push(spawn(config, dir, name, i, at, &p2p, &engines, None)?);
    }
    for node in &mut nodes {
        node.node.wait_ready().await?;
    }
    Ok(nodes)
}

/// Spawns observer number `id` (`id >= gateways`: a key outside the set) at
/// `127.0.0.<octet>` with an empty data directory, bootstrapped to `providers` only and
/// following the engines at `engines`; does not wait for it.
#[allow(clippy::too_many_arguments)]
pub fn spawn_observer(
    config: &NetConfig,
    dir: &Path,
    id: usize,
    octet: usize,
    providers: &[SocketAddr],
    engines: &[SocketAddr],
    log: &str,
) -> Result<NetNode> {
    let name: &'static str = Box::leak(format!("observer{id}").into_boxed_str());
    spawn(config, dir, name, id, addresses(octet)?, providers, engines, Some(log))
}

/// Waits until `net_peerCount` is `n - 1` on every node; returns how long that took.
pub async fn wait_mesh(nodes: &mut [NetNode]) -> Result<Duration> {
    let start = Instant::now();
    let want = nodes.len() as u64 - 1;
    let mut conns = Vec::with_capacity(nodes.len());
    for node in nodes.iter() {
        conns.push(Conn::connect(node.node.addr).await?);
    }
    loop {
        let mut counts = Vec::with_capacity(conns.len());
        for conn in &mut conns {
            counts.push(quantity(&conn.call("net_peerCount", json!([])).await?)?);
        }
        if counts.iter().all(|c| *c >= want) {
            return Ok(start.elapsed());
        }
        check_alive(nodes)?;
        if start.elapsed() > MESH_TIMEOUT {
            return Err(BenchError::Timeout(format!(
                "no full mesh after {} s: peer counts {counts:?}, want {want} each",
                MESH_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fails if any node's process has exited (with the last lines of its output).
pub fn check_alive(nodes: &mut [NetNode]) -> Result<()> {
    for node in nodes.iter_mut() {
        if let Some(status) = node.node.exited() {
            return Err(BenchError::Setup(format!(
                "{} exited ({status}); last output:\n{}",
                node.node.name,
                node.node.log_tail(20)
            )));
        }
    }
    Ok(())
}

/// `ir3_networkStatus` of one node.
pub async fn network_status(addr: SocketAddr) -> Result<Value> {
    Conn::connect(addr).await?.call("ir3_networkStatus", json!([])).await
}

/// The hash and number of block `tag` (`latest`, `finalized`, a number) on `conn`.
pub async fn block_head(conn: &mut Conn, tag: &str) -> Result<(String, u64)> {
    let block = conn.call("eth_getBlockByNumber", json!([tag, false])).await?;
    let hash = block["hash"].as_str().unwrap_or_default().to_string();
    Ok((hash, quantity(&block["number"]).unwrap_or(0)))
}

/// Total size of the files directly under `dir` and its subdirectories, in bytes.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Exits and WARN/ERROR lines of `nodes`, one line each (empty if all is quiet).
pub fn node_problems(nodes: &mut [NetNode]) -> Vec<String> {
    let mut lines = Vec::new();
    for node in nodes.iter_mut() {
        let name = node.node.name;
        if let Some(status) = node.node.exited() {
            lines.push(format!("{name}: process exited ({status})"));
        }
        let (count, first) = log_problems(&node.node.log(), 3);
        if count > 0 {
            lines.push(format!("{name}: {count} WARN/ERROR line(s); first distinct:"));
            lines.extend(first.into_iter().map(|line| format!("    {line}")));
        }
    }
    lines
}

/// The `WARN` and `ERROR` lines of a node's output (ANSI colours removed): their count and the
/// first `keep` distinct ones.
pub fn log_problems(log: &str, keep: usize) -> (usize, Vec<String>) {
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
pub fn strip_ansi(line: &str) -> String {
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
