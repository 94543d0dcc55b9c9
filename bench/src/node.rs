//! Starting, probing and stopping the node processes.

use std::{
    ffi::OsString,
    fs::File,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use crate::{
    error::{BenchError, Result},
    rpc::Conn,
    wallet::CHAIN_ID,
};

/// How long a node may take to answer its first `eth_chainId`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running node process; killed when dropped (also on error or panic).
pub struct Node {
    /// Display name (`ir3` or `anvil`).
    pub name: &'static str,
    /// JSON-RPC address.
    pub addr: SocketAddr,
    /// The exact command line the node was started with.
    pub command: String,
    child: Child,
    log_path: PathBuf,
}

impl Node {
    /// Starts `bin` with `args` (plus `--port`/`--host`) on a free port of 127.0.0.1, stdout and
    /// stderr going to `log_path`.
    pub fn spawn(
        name: &'static str,
        bin: &Path,
        args: Vec<OsString>,
        log_path: PathBuf,
    ) -> Result<Self> {
        let port = free_port()?;
        Self::spawn_at(name, bin, SocketAddr::from((Ipv4Addr::LOCALHOST, port)), args, log_path)
    }

    /// Starts `bin` with `--port`/`--host` of `addr` followed by `args`, stdout and stderr going
    /// to `log_path`.
    pub fn spawn_at(
        name: &'static str,
        bin: &Path,
        addr: SocketAddr,
        mut args: Vec<OsString>,
        log_path: PathBuf,
    ) -> Result<Self> {
        let mut full: Vec<OsString> = vec![
            "--port".into(),
            addr.port().to_string().into(),
            "--host".into(),
            addr.ip().to_string().into(),
        ];
        full.append(&mut args);
        let log = File::create(&log_path)?;
        let child = Command::new(bin)
            .args(&full)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| BenchError::Setup(format!("cannot start {}: {e}", bin.display())))?;
        let command = std::iter::once(bin.as_os_str())
            .chain(full.iter().map(OsString::as_os_str))
            .map(|part| part.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self { name, addr, command, child, log_path })
    }

    /// The node's whole output so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Process id of the node itself (it is started directly, not through a shell).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Resident set size in KiB, if the process is still alive.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }

    /// The last `lines` lines of the node's output.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Sends SIGTERM (a clean stop: the node's Ctrl-C/SIGTERM handler) and waits up to
    /// `timeout` for the process to end; returns its exit status and how long it took. On
    /// timeout the process is SIGKILLed and an error returned.
    pub async fn terminate(&mut self, timeout: Duration) -> Result<(ExitStatus, Duration)> {
        let start = Instant::now();
        // `kill` from procps: no libc binding needed for one signal.
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map_err(|e| BenchError::Setup(format!("cannot run kill: {e}")))?;
        if !sent.success() {
            return Err(BenchError::Setup(format!("kill -TERM {} failed ({sent})", self.pid())));
        }
        loop {
            if let Some(status) = self.exited() {
                return Ok((status, start.elapsed()));
            }
            if start.elapsed() > timeout {
                self.kill_now();
                return Err(BenchError::Timeout(format!(
                    "{} still running {} s after SIGTERM (killed)",
                    self.name,
                    timeout.as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILLs the process (`kill -9`) and reaps it.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the node answers `eth_chainId` with chain id 1337.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Err(BenchError::Setup(format!(
                    "{} exited during start-up ({status}); last output:\n{}",
                    self.name,
                    self.log_tail(20)
                )));
            }
            if let Ok(mut conn) = Conn::connect(self.addr).await
                && let Ok(chain_id) = conn.chain_id().await
            {
                if chain_id != CHAIN_ID {
                    return Err(BenchError::Setup(format!(
                        "{} reports chain id {chain_id}, expected {CHAIN_ID}",
                        self.name
                    )));
                }
                return Ok(());
            }
            if start.elapsed() > STARTUP_TIMEOUT {
                return Err(BenchError::Setup(format!(
                    "{} did not answer eth_chainId within {} s; last output:\n{}",
                    self.name,
                    STARTUP_TIMEOUT.as_secs(),
                    self.log_tail(20)
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16> {
    Ok(free_ports(Ipv4Addr::LOCALHOST, 1)?[0])
}

/// `count` distinct ports of `ip` that were free a moment ago (all bound at once, so they differ).
pub fn free_ports(ip: Ipv4Addr, count: usize) -> Result<Vec<u16>> {
    let listeners =
        (0..count).map(|_| TcpListener::bind((ip, 0))).collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// `VmRSS` of process `pid` in KiB, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// The workspace root: the parent of this crate's manifest dir if it still exists, else the
/// current directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent() {
        Some(root) if root.join("Cargo.toml").is_file() => root.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, with the signal's name.
pub async fn shutdown_signal() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Runs `work` until it ends or Ctrl-C/SIGTERM interrupts it, prints its error (if any) on
/// stderr and returns the program's exit code. Leaving `work` (normally, by error, by panic or
/// by the signal) drops the nodes it started: killed, and their temp directories removed.
pub async fn run_to_exit(work: impl Future<Output = Result<()>>) -> ExitCode {
    let outcome = tokio::select! {
        outcome = work => outcome,
        signal = shutdown_signal() => Err(BenchError::Setup(format!("interrupted by {signal}"))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The CPU model from `/proc/cpuinfo`, if readable.
pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
}

/// Which node(s) to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    /// The ir3 node.
    Ir3,
    /// The Anvil node.
    Anvil,
}

impl Which {
    /// Display name (`ir3` or `anvil`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ir3 => "ir3",
            Self::Anvil => "anvil",
        }
    }
}

/// Checks that the binary of every node to benchmark exists, with a hint on how to get it.
pub fn require_binaries(nodes: &[Which], ir3_bin: &Path, anvil_bin: &Path) -> Result<()> {
    for kind in nodes {
        let (bin, hint) = match kind {
            Which::Ir3 => {
                (ir3_bin, "build it with `cargo build --release -p ir3` or pass --ir3-bin")
            }
            Which::Anvil => (anvil_bin, "run `bash scripts/setup.sh` or pass --anvil-bin"),
        };
        if !bin.is_file() {
            return Err(BenchError::Setup(format!("{} not found: {hint}", bin.display())));
        }
    }
    Ok(())
}
