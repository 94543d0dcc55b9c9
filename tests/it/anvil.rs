//! A real Anvil next to ir3 (the npm-installed Foundry 1.7.1 binary, same chain id, hardfork
//! and dev accounts), plus what the comparison tests share: JSON-RPC by port, receipt polling,
//! signed transactions with fixed fields (so both nodes see the very same bytes and hash), ABI
//! encoding of `f(uint256)` calls and Solidity compilation through `scripts/solc-shim`.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, Bytes, TxKind, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};

use crate::utils::{post, repo, tool};

/// A running Anvil, killed on drop.
pub(crate) struct Anvil {
    child: Child,
    /// Its JSON-RPC port.
    pub(crate) port: u16,
}

impl Anvil {
    /// Starts Anvil on a free loopback port with ir3's rules: chain id 1337, Osaka, the 10 dev
    /// accounts of `test test ... junk` with 10000 ETH each. `extra` is appended (e.g.
    /// `--steps-tracing`, which Anvil needs to answer the default struct-log tracer).
    pub(crate) fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(tool("anvil"))
            .args(["--host", "127.0.0.1", "--port", "0", "--chain-id", "1337"])
            .args(["--hardfork", "osaka"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn anvil");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("anvil did not print its address in time");
            }
            let Some(Ok(line)) = lines.next() else {
                let _ = child.wait();
                panic!("anvil exited before listening");
            };
            if let Some(addr) = line.trim().strip_prefix("Listening on ") {
                break addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
            }
        };
        // Anvil logs every call on stdout: keep draining so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, port }
    }

    /// Sends one JSON-RPC call and returns its result, panicking on an error.
    pub(crate) fn result(&self, method: &str, params: Value) -> Value {
        result(self.port, method, params)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One JSON-RPC call to any node on a loopback port; the whole response object.
pub(crate) fn call(port: u16, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, response) = post(port, body.to_string().as_bytes(), &[]);
    assert_eq!(status, 200, "{method}: http status {status}: {response}");
    serde_json::from_str(&response).unwrap_or_else(|e| panic!("{method}: {e}: {response}"))
}

/// One JSON-RPC call to any node; its result, panicking on an error.
pub(crate) fn result(port: u16, method: &str, params: Value) -> Value {
    let response = call(port, method, params);
    assert!(response.get("error").is_none(), "{method} on port {port} failed: {response}");
    response["result"].clone()
}

/// The receipt of a transaction, polling until it exists (Anvil mines automine blocks in a
/// background task, so a receipt may lag the hash by a few milliseconds).
pub(crate) fn wait_receipt(port: u16, hash: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let receipt = result(port, "eth_getTransactionReceipt", json!([hash]));
        if !receipt.is_null() {
            return receipt;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash} on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a transaction through `eth_sendTransaction` and waits for its receipt.
pub(crate) fn send_and_wait(port: u16, tx: Value) -> Value {
    let hash = result(port, "eth_sendTransaction", json!([tx]));
    wait_receipt(port, &hash)
}

/// `0x`-prefixed lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    format!("0x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Calldata of `signature` (e.g. `callB(uint256)`) with uint256 arguments.
pub(crate) fn calldata(signature: &str, args: &[u64]) -> Vec<u8> {
    let mut data = keccak256(signature.as_bytes())[..4].to_vec();
    for arg in args {
        data.extend_from_slice(&U256::from(*arg).to_be_bytes::<32>());
    }
    data
}

/// Gas charged before execution starts for a call without access list (21000 + calldata).
pub(crate) fn intrinsic_gas(input: &[u8]) -> u64 {
    21_000 + input.iter().map(|b| if *b == 0 { 4 } else { 16 }).sum::<u64>()
}

/// Fields of an EIP-1559 call, signed with fixed fees so that two nodes get identical bytes.
pub(crate) struct FixedTx<'a> {
    /// Sender's private key.
    pub(crate) key: &'a str,
    /// Nonce.
    pub(crate) nonce: u64,
    /// Callee.
    pub(crate) to: &'a str,
    /// Wei sent.
    pub(crate) value: u64,
    /// Calldata.
    pub(crate) input: Vec<u8>,
    /// Gas limit.
    pub(crate) gas_limit: u64,
}

impl FixedTx<'_> {
    /// The EIP-2718 bytes, as hex (max fee 100 gwei, tip 1 gwei, chain id 1337).
    pub(crate) fn raw(&self) -> String {
        let signer: PrivateKeySigner = self.key.parse().unwrap();
        let mut tx = TxEip1559 {
            chain_id: 1337,
            nonce: self.nonce,
            gas_limit: self.gas_limit,
            max_fee_per_gas: 100_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(self.to.parse::<Address>().unwrap()),
            value: U256::from(self.value),
            access_list: Default::default(),
            input: Bytes::from(self.input.clone()),
        };
        let signature = signer.sign_transaction_sync(&mut tx).unwrap();
        hex(&TxEnvelope::from(tx.into_signed(signature)).encoded_2718())
    }
}

/// Compiles one Solidity source with solc-js through `scripts/solc-shim` (no download):
/// contract name -> creation bytecode (`0x` hex). Optimizer on, 200 runs, EVM Prague (what
/// `contracts/foundry.toml` uses).
pub(crate) fn compile_solidity(file_name: &str, source: &str) -> BTreeMap<String, String> {
    let input = json!({
        "language": "Solidity",
        "sources": { file_name: { "content": source } },
        "settings": {
            "optimizer": { "enabled": true, "runs": 200 },
            "evmVersion": "prague",
            "outputSelection": { "*": { "*": ["evm.bytecode.object"] } }
        }
    });
    let mut child = Command::new("node")
        .arg(repo().join("scripts/solc-shim"))
        .arg("--standard-json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node scripts/solc-shim");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "solc-shim failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).expect("solc output is JSON");
    let errors: Vec<&Value> = out["errors"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["severity"] == "error").collect())
        .unwrap_or_default();
    assert!(errors.is_empty(), "solc errors: {errors:?}");
    out["contracts"][file_name]
        .as_object()
        .expect("compiled contracts")
        .iter()
        .map(|(name, c)| {
            let code = c["evm"]["bytecode"]["object"].as_str().unwrap();
            (name.clone(), format!("0x{code}"))
        })
        .collect()
}
