//! Bytes on the wire, from the kernel's per-socket counters: `ss -tinpH` lists every TCP
//! socket with its owning process (`users:(("ir3",pid=N,fd=M))`) and its `tcp_info`, whose
//! `bytes_sent:` is the payload bytes the socket sent (retransmissions included; none happen on
//! loopback in practice).
//!
//! A gateway's sockets are all TCP sockets its process owns except those whose local port is
//! its JSON-RPC port (they carry the benchmark's own requests). On loopback every P2P
//! connection has both ends in the set, and each byte is counted once, by the end that sent it.

use std::{
    collections::HashMap,
    process::Command,
    time::{Duration, Instant},
};

use ir3_bench::error::{BenchError, Result};

/// One socket: owning pid, local address, peer address (as `ss` prints them).
type SocketKey = (u32, String, String);

/// Which sockets count: per gateway, its process id and its JSON-RPC port (excluded).
#[derive(Debug, Clone)]
pub(crate) struct Owners {
    /// `(pid, rpc_port)` of each gateway, by gateway index.
    pub(crate) gateways: Vec<(u32, u16)>,
}

/// The `bytes_sent` of every counted socket at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// When `ss` ran.
    pub(crate) taken: Instant,
    sockets: HashMap<SocketKey, u64>,
}

/// The traffic between two snapshots.
#[derive(Debug, Clone)]
pub(crate) struct Traffic {
    /// Bytes sent by all gateways' P2P sockets together.
    pub(crate) bytes: u64,
    /// The same per gateway, by gateway index.
    pub(crate) per_gateway: Vec<u64>,
    /// Time between the snapshots.
    pub(crate) elapsed: Duration,
    /// P2P sockets in the later snapshot.
    pub(crate) sockets: usize,
    /// Sockets of the later snapshot absent from the earlier one (counted from 0).
    pub(crate) opened: usize,
    /// Sockets of the earlier snapshot gone from the later one (what they sent in between is
    /// lost: an undercount).
    pub(crate) closed: usize,
}

impl Traffic {
    /// Bytes per second over the interval.
    pub(crate) fn per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `ss -tinpH` and keeps the sockets of `owners`.
pub(crate) fn snapshot(owners: &Owners) -> Result<Snapshot> {
    let output = Command::new("ss")
        .args(["-tinpH"])
        .output()
        .map_err(|e| BenchError::Setup(format!("cannot run `ss -tinpH` (iproute2): {e}")))?;
    let taken = Instant::now();
    if !output.status.success() {
        return Err(BenchError::Setup(format!(
            "`ss -tinpH` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut sockets = HashMap::new();
    for record in records(&text) {
        let Some(socket) = parse(&record) else { continue };
        let Some(&(_, rpc_port)) = owners.gateways.iter().find(|(pid, _)| *pid == socket.pid)
        else {
            continue;
        };
        if port_of(&socket.local) == Some(rpc_port) {
            continue;
        }
        sockets.insert((socket.pid, socket.local, socket.peer), socket.bytes_sent);
    }
    Ok(Snapshot { taken, sockets })
}

/// What was sent between `before` and `after` (sockets keyed by pid and both addresses).
pub(crate) fn traffic(before: &Snapshot, after: &Snapshot, owners: &Owners) -> Traffic {
    let mut per_gateway = vec![0u64; owners.gateways.len()];
    let mut opened = 0;
    for (key, &sent) in &after.sockets {
        let earlier = match before.sockets.get(key) {
            Some(&earlier) => earlier,
            None => {
                opened += 1;
                0
            }
        };
        if let Some(index) = owners.gateways.iter().position(|(pid, _)| *pid == key.0) {
            per_gateway[index] += sent.saturating_sub(earlier);
        }
    }
    let closed = before.sockets.keys().filter(|key| !after.sockets.contains_key(*key)).count();
    Traffic {
        bytes: per_gateway.iter().sum(),
        per_gateway,
        elapsed: after.taken.saturating_duration_since(before.taken),
        sockets: after.sockets.len(),
        opened,
        closed,
    }
}

/// One socket line of `ss` output.
#[derive(Debug, PartialEq, Eq)]
struct Socket {
    pid: u32,
    local: String,
    peer: String,
    bytes_sent: u64,
}

/// Splits `ss -i` output into one string per socket: a line starting without whitespace
/// begins a socket, indented lines continue it (the `tcp_info` line).
fn records(text: &str) -> Vec<String> {
    let mut records: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match records.last_mut() {
            Some(last) if line.starts_with(char::is_whitespace) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => records.push(line.to_string()),
        }
    }
    records
}

/// Parses one record: `STATE RECV-Q SEND-Q LOCAL PEER users:(("name",pid=N,fd=M)) … bytes_sent:B …`.
/// `bytes_sent` is absent while a socket has sent nothing (0). `None` if there is no pid.
fn parse(record: &str) -> Option<Socket> {
    let mut fields = record.split_whitespace();
    let _state = fields.next()?;
    let _recv_q = fields.next()?;
    let _send_q = fields.next()?;
    let local = fields.next()?.to_string();
    let peer = fields.next()?.to_string();
    let pid_at = record.find("pid=")? + "pid=".len();
    let pid = record[pid_at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    let bytes_sent = record
        .split_whitespace()
        .find_map(|field| field.strip_prefix("bytes_sent:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some(Socket { pid, local, peer, bytes_sent })
}

/// The port of an `ss` address (`127.0.0.1:8545`, `[::1]:8545`, `*:8545`).
fn port_of(address: &str) -> Option<u16> {
    address.rsplit_once(':')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ESTAB 0      0      127.0.0.21:33099  127.0.0.1:53048 users:((\"ir3\",pid=7191,fd=5))\n\
        \t bbr wscale:10,10 rto:204 bytes_sent:1000 bytes_acked:1001 segs_out:3\n\
        ESTAB 0      0       127.0.0.1:53048 127.0.0.21:33099 users:((\"ir3\",pid=7192,fd=4))\n\
        \t bbr wscale:10,10 rto:204 bytes_received:1000 segs_in:3\n\
        TIME-WAIT 0 0 127.0.0.1:1 127.0.0.1:2\n";

    #[test]
    fn parses_ss_records() {
        let sockets: Vec<Socket> = records(SAMPLE).iter().filter_map(|r| parse(r)).collect();
        assert_eq!(
            sockets,
            vec![
                Socket {
                    pid: 7191,
                    local: "127.0.0.21:33099".into(),
                    peer: "127.0.0.1:53048".into(),
                    bytes_sent: 1000
                },
                Socket {
                    pid: 7192,
                    local: "127.0.0.1:53048".into(),
                    peer: "127.0.0.21:33099".into(),
                    bytes_sent: 0
                },
            ]
        );
        assert_eq!(port_of("[::1]:8545"), Some(8545));
        assert_eq!(port_of("*:8545"), Some(8545));
    }
}
