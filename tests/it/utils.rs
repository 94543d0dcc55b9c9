//! Shared helpers: spawning the real `ir3` binary, a minimal HTTP JSON-RPC client over a raw
//! TCP socket (so tests can also send malformed bytes), and the paths of the npm-installed
//! client tools (cast, forge, node scripts).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

/// Dev account 0 and its key.
pub(crate) const DEV0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// Private key of dev account 0.
pub(crate) const DEV0_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Dev account 1.
pub(crate) const DEV1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/// Private keys of the dev accounts of the default mnemonic.
pub(crate) const KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// Addresses of the same accounts.
pub(crate) const ADDRS: [&str; 10] = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
];

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool installed by `scripts/setup.sh` (the README's test command runs it first).
pub(crate) fn tool(name: &str) -> PathBuf {
    let path = repo().join("scripts/node_modules/.bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh (the README's test command does)",
        path.display()
    );
    path
}

/// A running `ir3` process, killed on drop.
pub(crate) struct Node {
    child: Option<Child>,
    /// The JSON-RPC port.
    pub(crate) port: u16,
    /// The address the node binds to (a 127.0.0.x of its own in network tests).
    pub(crate) host: String,
    /// The peer-to-peer address the node printed (network mode).
    pub(crate) p2p_addr: Option<String>,
    /// The data directory (kept across restarts).
    pub(crate) data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    extra_args: Vec<String>,
    /// A command the node is started through (e.g. `ip netns exec NAME`).
    launcher: Vec<String>,
}

impl Node {
    /// Starts a node on a fresh data directory.
    pub(crate) fn start(extra_args: &[&str]) -> Self {
        Self::start_at("127.0.0.1", extra_args)
    }

    /// Starts a node bound to `host` on a fresh data directory.
    pub(crate) fn start_at(host: &str, extra_args: &[&str]) -> Self {
        Self::start_through(&[], host, extra_args)
    }

    /// Starts a node through a launcher command (e.g. `ip netns exec NAME`), bound to `host`.
    pub(crate) fn start_through(launcher: &[&str], host: &str, extra_args: &[&str]) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("node");
        let mut node = Self {
            child: None,
            port: 0,
            host: host.to_string(),
            p2p_addr: None,
            data_dir,
            _temp: Some(temp),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            launcher: launcher.iter().map(|s| s.to_string()).collect(),
        };
        node.launch();
        node
    }

    fn launch(&mut self) {
        let mut command = match self.launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(env!("CARGO_BIN_EXE_ir3"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_ir3")),
        };
        let mut child = command
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--host")
            .arg(&self.host)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ir3");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            assert!(Instant::now() < deadline, "ir3 did not print its banner in time");
            let line = lines.next().expect("ir3 exited before listening").expect("read stdout");
            if let Some(addr) = line.strip_prefix("P2P listening on ") {
                self.p2p_addr = Some(addr.to_string());
            }
            if let Some(addr) = line.strip_prefix("Listening on ") {
                break addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
            }
        };
        // Keep draining stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.port = port;
        self.child = Some(child);
    }

    /// The HTTP URL.
    pub(crate) fn http(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// The WebSocket URL.
    pub(crate) fn ws(&self) -> String {
        format!("ws://{}:{}", self.host, self.port)
    }

    /// The process id, while running.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the process with SIGKILL (no chance to flush anything).
    pub(crate) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process gracefully (SIGTERM) and waits for it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// Starts the node again on the same data directory and port.
    pub(crate) fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    /// Sends one JSON-RPC call; returns the whole response object.
    pub(crate) fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (status, response) = post_to(&self.host, self.port, body.to_string().as_bytes(), &[]);
        assert_eq!(status, 200, "{method}: http status {status}: {response}");
        serde_json::from_str(&response).unwrap_or_else(|e| panic!("{method}: {e}: {response}"))
    }

    /// Sends one JSON-RPC call and returns its result, panicking on an error.
    pub(crate) fn result(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("error").is_none(), "{method} failed: {response}");
        response["result"].clone()
    }

    /// Runs `cast` against this node.
    pub(crate) fn cast(&self, args: &[&str]) -> String {
        let output = Command::new(tool("cast"))
            .args(args)
            .env("ETH_RPC_URL", self.http())
            .output()
            .expect("run cast");
        assert!(
            output.status.success(),
            "cast {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Posts raw bytes to the node; returns the HTTP status and body.
pub(crate) fn post(port: u16, body: &[u8], headers: &[(&str, &str)]) -> (u16, String) {
    post_to("127.0.0.1", port, body, headers)
}

/// Posts raw bytes to the node at `host:port`; returns the HTTP status and body.
pub(crate) fn post_to(
    host: &str,
    port: u16,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, String) {
    let (status, head, payload) = raw_request_to(host, port, "POST", body, headers);
    if status == 200 { (status, payload) } else { (status, format!("{head}\r\n\r\n{payload}")) }
}

/// Sends any HTTP request; returns the status, the response head and the body.
pub(crate) fn raw_request(
    port: u16,
    method: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    raw_request_to("127.0.0.1", port, method, body, headers)
}

fn raw_request_to(
    host: &str,
    port: u16,
    method: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut stream = TcpStream::connect((host, port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut request = format!(
        "{method} / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    // The server may answer (e.g. 413) before reading a huge body; ignore write errors then.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let (head, payload) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let payload = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(payload)
    } else {
        payload.to_string()
    };
    (status, head.to_string(), payload)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Runs a node script from `scripts/` against the node; panics with its output on failure.
pub(crate) fn run_node_script(node: &Node, script: &str) -> String {
    run_script_against(&node.http(), &node.ws(), script)
}

/// Runs a Node.js script of `scripts/` against any node's HTTP and WebSocket URLs (ir3 or Anvil);
/// panics with its output unless it exits 0.
pub(crate) fn run_script_against(http: &str, ws: &str, script: &str) -> String {
    let output = Command::new("node")
        .arg(repo().join("scripts").join(script))
        .env("IR3_HTTP", http)
        .env("IR3_WS", ws)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs forge in `contracts/` with the solc-js shim.
pub(crate) fn forge(args: &[&str]) -> String {
    let contracts = repo().join("contracts");
    let shim = repo().join("scripts/solc-shim");
    let output = Command::new(tool("forge"))
        .current_dir(&contracts)
        .args(args)
        .arg("--use")
        .arg(&shim)
        .output()
        .expect("run forge");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "forge {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Reads a hex quantity.
pub(crate) fn quantity(value: &Value) -> u128 {
    let text = value.as_str().unwrap_or_else(|| panic!("not a quantity: {value}"));
    u128::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

/// The bytecode of a compiled contract in `contracts/out`.
pub(crate) fn artifact_bytecode(name: &str) -> String {
    let path: &Path = &repo().join(format!("contracts/out/{name}.sol/{name}.json"));
    let json: Value = serde_json::from_slice(&std::fs::read(path).expect("artifact")).unwrap();
    json["bytecode"]["object"].as_str().unwrap().to_string()
}
