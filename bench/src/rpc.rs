//! A minimal JSON-RPC client: one persistent (keep-alive) HTTP/1.1 connection per [`Conn`].

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256};
use http_body_util::{BodyExt, Full};
use hyper::{
    Request,
    body::Bytes,
    client::conn::http1::SendRequest,
    header::{CONTENT_TYPE, HOST},
};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::{
    error::{BenchError, Result},
    wallet::SignedTx,
};

/// How long one request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One persistent HTTP/1.1 connection to a node, reconnected if the node closes it.
pub struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
    broken: bool,
    next_id: u64,
}

impl Conn {
    /// Opens a connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let sender = handshake(addr).await?;
        Ok(Self { addr, sender, broken: false, next_id: 1 })
    }

    /// Calls `method` with `params` and returns the `result` member.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.call_raw(Bytes::from(serde_json::to_vec(&body)?)).await
    }

    /// Posts a pre-serialized JSON-RPC request and returns the `result` member.
    pub async fn call_raw(&mut self, body: Bytes) -> Result<Value> {
        let (mut value, bytes) = self.post(body).await?;
        if let Some(error) = value.get("error") {
            return Err(BenchError::Rpc(error.to_string()));
        }
        match value.get_mut("result") {
            Some(result) => Ok(result.take()),
            None => Err(BenchError::Protocol(String::from_utf8_lossy(&bytes).into_owned())),
        }
    }

    /// Sends one JSON-RPC batch (one HTTP request) of `calls` and returns, in the order of
    /// `calls`, each call's `result` member or its error.
    pub async fn call_batch(&mut self, calls: &[(&str, Value)]) -> Result<Vec<Result<Value>>> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let first_id = self.next_id;
        self.next_id += calls.len() as u64;
        let batch: Vec<Value> = calls
            .iter()
            .zip(first_id..)
            .map(|((method, params), id)| {
                json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
            })
            .collect();
        let (value, bytes) = self.post(Bytes::from(serde_json::to_vec(&batch)?)).await?;
        let Value::Array(answers) = value else {
            return Err(BenchError::Protocol(String::from_utf8_lossy(&bytes).into_owned()));
        };
        let mut results: Vec<Option<Result<Value>>> = (0..calls.len()).map(|_| None).collect();
        for mut answer in answers {
            let slot = answer
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|id| id.checked_sub(first_id))
                .and_then(|index| results.get_mut(index as usize));
            let Some(slot) = slot else { continue };
            *slot = Some(if let Some(error) = answer.get("error") {
                Err(BenchError::Rpc(error.to_string()))
            } else if let Some(result) = answer.get_mut("result") {
                Ok(result.take())
            } else {
                Err(BenchError::Protocol(answer.to_string()))
            });
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(BenchError::Protocol("no answer in batch".into()))))
            .collect())
    }

    /// Posts `body` and returns the parsed JSON body (and its bytes) of a 2xx answer.
    async fn post(&mut self, body: Bytes) -> Result<(Value, Bytes)> {
        if self.broken || self.sender.is_closed() {
            self.sender = handshake(self.addr).await?;
            self.broken = false;
        }
        let request = Request::post("/")
            .header(HOST, self.addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let sender = &mut self.sender;
        let exchange = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            Ok::<_, BenchError>((status, bytes))
        };
        let (status, bytes) = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                self.broken = true;
                return Err(error);
            }
            Err(_) => {
                self.broken = true;
                return Err(BenchError::Timeout(format!(
                    "no answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                )));
            }
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            return Err(BenchError::Status(status.as_u16(), text));
        }
        Ok((serde_json::from_slice(&bytes)?, bytes))
    }

    /// `eth_chainId`.
    pub async fn chain_id(&mut self) -> Result<u64> {
        quantity(&self.call("eth_chainId", json!([])).await?)
    }

    /// `eth_blockNumber`.
    pub async fn block_number(&mut self) -> Result<u64> {
        quantity(&self.call("eth_blockNumber", json!([])).await?)
    }

    /// `eth_getTransactionCount(address, "pending")`.
    pub async fn nonce(&mut self, address: Address) -> Result<u64> {
        quantity(&self.call("eth_getTransactionCount", json!([address, "pending"])).await?)
    }

    /// `web3_clientVersion`.
    pub async fn client_version(&mut self) -> Result<String> {
        match self.call("web3_clientVersion", json!([])).await? {
            Value::String(version) => Ok(version),
            other => Err(BenchError::Protocol(other.to_string())),
        }
    }

    /// `eth_sendRawTransaction`; returns the hash the node reports.
    pub async fn send_raw(&mut self, raw_hex: &str) -> Result<B256> {
        let result = self.call("eth_sendRawTransaction", json!([raw_hex])).await?;
        serde_json::from_value(result).map_err(BenchError::from)
    }

    /// `eth_getTransactionReceipt`; `None` while the transaction is not mined.
    pub async fn receipt(&mut self, hash: B256) -> Result<Option<Value>> {
        match self.call("eth_getTransactionReceipt", json!([hash])).await? {
            Value::Null => Ok(None),
            receipt => Ok(Some(receipt)),
        }
    }

    /// Sends `tx`, then polls its receipt (at once, then every `poll`) until it is there, and
    /// returns the receipt. Fails if the node reports another hash or after `timeout`.
    pub async fn send_and_wait(
        &mut self,
        tx: &SignedTx,
        poll: Duration,
        timeout: Duration,
    ) -> Result<Value> {
        let hash = self.send_raw(&tx.raw_hex).await?;
        if hash != tx.hash {
            return Err(BenchError::Protocol(format!(
                "node returned hash {hash}, expected {}",
                tx.hash
            )));
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(receipt) = self.receipt(tx.hash).await? {
                return Ok(receipt);
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Timeout(format!(
                    "no receipt for {} after {} s",
                    tx.hash,
                    timeout.as_secs_f64()
                )));
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// Parses a JSON-RPC hex quantity (`"0x1a"`).
pub fn quantity(value: &Value) -> Result<u64> {
    value
        .as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| BenchError::Protocol(format!("expected a hex quantity, got {value}")))
}

async fn handshake(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the connection closes; errors surface on the next request.
        let _ = connection.await;
    });
    Ok(sender)
}
