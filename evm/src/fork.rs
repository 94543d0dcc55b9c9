//! `--fork-url`: a chain whose state before its first block is another node's, read lazily.
//!
//! The fork block's header becomes this chain's first block. Any account, slot or block hash
//! this chain has not written itself is fetched from the parent at the fork block on first use
//! and cached. Reads run inside revm's synchronous database calls, so the client is blocking
//! (ureq).
//!
//! A reader holding the chain's lock must not wait on the parent (a slow parent would stall
//! the miner's write and every request queued behind it): such readers run inside
//! [`Deferral::run`], where a cache miss is recorded and answered empty instead of fetched;
//! the misses are then fetched with the lock released ([`Deferral::fetch`]) and the read
//! retried, until a run misses nothing. Only that last run's result is used.

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
    time::Duration,
};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::KECCAK_EMPTY;
use parking_lot::Mutex;
use revm::bytecode::Bytecode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{
    config::ForkConfig,
    error::{EvmError, Result},
    state::AccountRecord,
};

/// How long one request to the parent may take.
pub const FORK_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the parent chain at the fork block, with a cache.
pub struct ForkSource {
    config: ForkConfig,
    agent: ureq::Agent,
    cache: Mutex<ForkCache>,
}

#[derive(Default)]
struct ForkCache {
    accounts: HashMap<Address, Option<AccountRecord>>,
    storage: HashMap<(Address, U256), U256>,
    code: HashMap<B256, Bytecode>,
    block_hashes: HashMap<u64, B256>,
}

/// A value of the parent a deferred reader missed in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForkKey {
    /// An account (balance, nonce and code).
    Account(Address),
    /// A storage slot.
    Storage(Address, U256),
    /// A block hash.
    BlockHash(u64),
}

/// What the current thread's deferred run has seen.
#[derive(Default)]
struct DeferredRun {
    /// Misses recorded (answered empty).
    misses: Vec<ForkKey>,
    /// Keys whose fetch failed in an earlier round: answered with this error, not deferred again.
    failed: HashMap<ForkKey, String>,
}

thread_local! {
    static DEFERRED: RefCell<Option<DeferredRun>> = const { RefCell::new(None) };
}

/// Fork reads of one reader, fetched outside the chain lock: run the read with
/// [`Deferral::run`] under the lock; while it reports misses, release the lock,
/// [`Deferral::fetch`] them and run it again.
#[derive(Debug, Default)]
pub struct Deferral {
    failed: HashMap<ForkKey, String>,
}

impl Deferral {
    /// Runs `read` on this thread with fork cache misses deferred: each miss is answered as an
    /// empty account, a zero slot or a zero hash, and returned. The result is only valid when
    /// nothing was missed.
    pub fn run<T>(&mut self, read: impl FnOnce() -> T) -> (T, Vec<ForkKey>) {
        /// Restores the thread's previous state, also when `read` panics.
        struct Restore(Option<DeferredRun>);
        impl Drop for Restore {
            fn drop(&mut self) {
                DEFERRED.with(|d| *d.borrow_mut() = self.0.take());
            }
        }
        let run = DeferredRun { misses: Vec::new(), failed: std::mem::take(&mut self.failed) };
        let restore = Restore(DEFERRED.with(|d| d.borrow_mut().replace(run)));
        let value = read();
        let run = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
        drop(restore);
        self.failed = run.failed;
        (value, run.misses)
    }

    /// Fetches missed values into `fork`'s cache (blocking on the network: call it without the
    /// chain lock). A failed fetch is remembered: the next run answers that key with the error.
    pub fn fetch(&mut self, fork: &ForkSource, misses: Vec<ForkKey>) {
        for key in misses.into_iter().collect::<HashSet<_>>() {
            let fetched = match key {
                ForkKey::Account(address) => fork.account(address).map(drop),
                ForkKey::Storage(address, slot) => fork.storage(address, slot).map(drop),
                ForkKey::BlockHash(number) => fork.block_hash(number).map(drop),
            };
            if let Err(error) = fetched {
                self.failed.insert(key, error.to_string());
            }
        }
    }
}

/// Inside a deferred run: `Some(error)` for a key whose fetch failed, `Some(None)` when the miss
/// was recorded (answer empty), `None` when not deferring (fetch now).
fn defer(key: ForkKey) -> Option<Option<String>> {
    DEFERRED.with(|d| {
        let mut deferred = d.borrow_mut();
        let run = deferred.as_mut()?;
        if let Some(error) = run.failed.get(&key) {
            return Some(Some(error.clone()));
        }
        run.misses.push(key);
        Some(None)
    })
}

/// The answer of a deferred miss: the remembered error of a failed fetch, or `empty`.
fn deferred<T>(failed: Option<String>, empty: T) -> Result<T> {
    match failed {
        Some(error) => Err(EvmError::Internal(error)),
        None => Ok(empty),
    }
}

impl std::fmt::Debug for ForkSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkSource").field("url", &self.config.url).finish()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(FORK_REQUEST_TIMEOUT)).build().into()
}

fn call<T: DeserializeOwned>(
    agent: &ureq::Agent,
    url: &str,
    method: &str,
    params: Value,
) -> Result<T> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let failed = |e: String| EvmError::Internal(format!("fork {url}: {method}: {e}"));
    let mut response = agent.post(url).send_json(&body).map_err(|e| failed(e.to_string()))?;
    let reply: Value = response.body_mut().read_json().map_err(|e| failed(e.to_string()))?;
    if let Some(error) = reply.get("error") {
        return Err(failed(error.to_string()));
    }
    serde_json::from_value(reply.get("result").cloned().unwrap_or(Value::Null))
        .map_err(|e| failed(format!("unexpected answer: {e}")))
}

impl ForkSource {
    /// Asks the parent for its chain id and the fork block (its latest when `block` is
    /// `None`), giving the configuration recorded in the new chain's genesis.
    pub fn connect(url: &str, block: Option<u64>) -> Result<ForkConfig> {
        let agent = agent();
        let chain_id: alloy_primitives::U64 = call(&agent, url, "eth_chainId", json!([]))?;
        let tag = match block {
            Some(number) => format!("{number:#x}"),
            None => "latest".to_string(),
        };
        let block: Option<alloy_rpc_types_eth::Block> =
            call(&agent, url, "eth_getBlockByNumber", json!([tag, false]))?;
        let block = block.ok_or_else(|| {
            EvmError::InvalidParams(format!("fork {url}: block {tag} does not exist"))
        })?;
        let header = block.header.inner;
        let mut header_rlp = Vec::new();
        header.encode(&mut header_rlp);
        Ok(ForkConfig {
            url: url.to_string(),
            block_number: header.number,
            block_hash: block.header.hash,
            chain_id: chain_id.to(),
            header_rlp: Bytes::from(header_rlp),
        })
    }

    /// A reader for a recorded fork configuration.
    pub fn new(config: ForkConfig) -> Self {
        Self { config, agent: agent(), cache: Mutex::new(ForkCache::default()) }
    }

    /// The fork block's header.
    pub fn header(config: &ForkConfig) -> Result<alloy_consensus::Header> {
        alloy_consensus::Header::decode(&mut config.header_rlp.as_ref())
            .map_err(|e| EvmError::Internal(format!("recorded fork header: {e}")))
    }

    fn block_tag(&self) -> String {
        format!("{:#x}", self.config.block_number)
    }

    fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T> {
        call(&self.agent, &self.config.url, method, params)
    }

    /// An account of the parent at the fork block (`None` when it is empty).
    pub fn account(&self, address: Address) -> Result<Option<AccountRecord>> {
        if let Some(cached) = self.cache.lock().accounts.get(&address) {
            return Ok(*cached);
        }
        if let Some(failed) = defer(ForkKey::Account(address)) {
            return deferred(failed, None);
        }
        let tag = self.block_tag();
        let balance: U256 = self.call("eth_getBalance", json!([address, tag]))?;
        let nonce: alloy_primitives::U64 =
            self.call("eth_getTransactionCount", json!([address, tag]))?;
        let code: Bytes = self.call("eth_getCode", json!([address, tag]))?;
        let mut cache = self.cache.lock();
        let code_hash = if code.is_empty() {
            KECCAK_EMPTY
        } else {
            let bytecode = Bytecode::new_raw_checked(code)
                .map_err(|e| EvmError::Internal(format!("fork code of {address}: {e}")))?;
            let hash = bytecode.hash_slow();
            cache.code.insert(hash, bytecode);
            hash
        };
        let nonce = nonce.to::<u64>();
        let empty = balance.is_zero() && nonce == 0 && code_hash == KECCAK_EMPTY;
        let record = (!empty).then_some(AccountRecord { balance, nonce, code_hash });
        cache.accounts.insert(address, record);
        Ok(record)
    }

    /// Code fetched with an account, by hash.
    pub fn code(&self, hash: B256) -> Option<Bytecode> {
        self.cache.lock().code.get(&hash).cloned()
    }

    /// A storage slot of the parent at the fork block.
    pub fn storage(&self, address: Address, slot: U256) -> Result<U256> {
        if let Some(value) = self.cache.lock().storage.get(&(address, slot)) {
            return Ok(*value);
        }
        if let Some(failed) = defer(ForkKey::Storage(address, slot)) {
            return deferred(failed, U256::ZERO);
        }
        let value: B256 =
            self.call("eth_getStorageAt", json!([address, B256::from(slot), self.block_tag()]))?;
        let value = U256::from_be_bytes(value.0);
        self.cache.lock().storage.insert((address, slot), value);
        Ok(value)
    }

    /// The hash of a parent block at or before the fork block.
    pub fn block_hash(&self, number: u64) -> Result<B256> {
        if number > self.config.block_number {
            return Ok(B256::ZERO);
        }
        if let Some(hash) = self.cache.lock().block_hashes.get(&number) {
            return Ok(*hash);
        }
        if let Some(failed) = defer(ForkKey::BlockHash(number)) {
            return deferred(failed, B256::ZERO);
        }
        let block: Option<Value> =
            self.call("eth_getBlockByNumber", json!([format!("{number:#x}"), false]))?;
        let hash = block
            .and_then(|b| b.get("hash").cloned())
            .and_then(|h| serde_json::from_value::<B256>(h).ok())
            .unwrap_or_default();
        self.cache.lock().block_hashes.insert(number, hash);
        Ok(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parent nobody listens on: every fetch fails at once.
    fn unreachable() -> ForkSource {
        ForkSource::new(ForkConfig {
            url: "http://127.0.0.1:9".into(),
            block_number: 5,
            block_hash: B256::ZERO,
            chain_id: 1,
            header_rlp: Bytes::new(),
        })
    }

    #[test]
    fn deferred_reads_record_misses_and_answer_failed_fetches_with_their_error() {
        let fork = unreachable();
        let address = Address::repeat_byte(1);
        let mut deferral = Deferral::default();
        let (value, misses) = deferral.run(|| {
            let account = fork.account(address).unwrap();
            let slot = fork.storage(address, U256::from(7)).unwrap();
            let hash = fork.block_hash(3).unwrap();
            (account.is_none(), slot, hash)
        });
        assert_eq!(value, (true, U256::ZERO, B256::ZERO));
        assert_eq!(
            misses,
            vec![
                ForkKey::Account(address),
                ForkKey::Storage(address, U256::from(7)),
                ForkKey::BlockHash(3)
            ]
        );
        // The fetch (outside any lock) fails: the next run answers with that error, deferring
        // nothing, so the reader's retry loop ends.
        deferral.fetch(&fork, misses);
        let (account, misses) = deferral.run(|| fork.account(address));
        assert!(account.unwrap_err().to_string().contains("127.0.0.1:9"));
        assert!(misses.is_empty());
        // Outside a deferred run, a read asks the parent itself.
        assert!(fork.storage(address, U256::from(8)).is_err());
        // Nested runs keep their own misses.
        let ((_, inner), outer) = deferral.run(|| {
            let _ = fork.block_hash(1);
            Deferral::default().run(|| fork.block_hash(2))
        });
        assert_eq!((inner, outer), (vec![ForkKey::BlockHash(2)], vec![ForkKey::BlockHash(1)]));
    }
}
