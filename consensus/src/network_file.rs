//! The network file (genesis, validator public keys, engine parameters) and the validators'
//! key files, as written by `ir3 network init --gateways N --out DIR`.
//!
//! Every node of a network is started with the same network file; its hash
//! ([`NetworkFile::identity`]) is the network's identity: it is mixed into every signature,
//! is the parent of height 1, and names the network to peers.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy_primitives::{B256, hex, keccak256};
use malachitebft_app_channel::app::types::core::LinearTimeouts;
use malachitebft_signing_ed25519::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};

use crate::context::{Address, Validator, ValidatorSet};
use crate::error::{ConsensusError, Result};

/// Version of the network file format written by this crate.
pub const NETWORK_FILE_VERSION: u32 = 1;

/// One entry of the genesis validator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorEntry {
    /// The gateway's name (`gateway-0`, …): a label, not an identity.
    pub name: String,
    /// Ed25519 public key, hex (32 bytes).
    pub public_key: String,
    /// Weight in the ⅔ quorum.
    pub voting_power: u64,
}

impl ValidatorEntry {
    /// The decoded public key.
    pub fn key(&self) -> Result<PublicKey> {
        let bytes = hex::decode(&self.public_key)
            .map_err(|e| ConsensusError::Invalid(format!("{}: public key: {e}", self.name)))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            ConsensusError::Invalid(format!("{}: public key is not 32 bytes", self.name))
        })?;
        PublicKey::from_bytes(bytes)
            .map_err(|e| ConsensusError::Invalid(format!("{}: public key: {e}", self.name)))
    }
}

/// Engine parameters shared by the whole network (they change what nodes do, so they are
/// part of the identity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineParams {
    /// How long to wait for the round's proposal (round 0), ms.
    pub propose_ms: u64,
    /// How long to wait for more prevotes after a ⅔ mix, ms.
    pub prevote_ms: u64,
    /// How long to wait for more precommits after a ⅔ mix, ms.
    pub precommit_ms: u64,
    /// Added to each of the three timeouts per extra round, ms.
    pub delta_ms: u64,
    /// Minimum time between two decided heights, ms (0: decide as fast as possible).
    pub target_block_ms: u64,
    /// Length of an epoch, ms: envelopes are grouped by the epoch of their stamp, one block
    /// per decided non-empty epoch (every gateway must use the same).
    #[serde(default = "default_epoch_ms")]
    pub epoch_ms: u64,
    /// Time after an epoch's end before it may be proposed, ms: lets its envelopes reach
    /// the proposer (what misses it is stamped again into a later epoch).
    #[serde(default = "default_grace_ms")]
    pub grace_ms: u64,
}

fn default_epoch_ms() -> u64 {
    200
}

fn default_grace_ms() -> u64 {
    100
}

impl Default for EngineParams {
    fn default() -> Self {
        Self {
            // Short enough that a height whose round-0 proposer is down costs little (the
            // engine adds `delta_ms` per further round, so slow links still converge).
            propose_ms: 400,
            prevote_ms: 300,
            precommit_ms: 300,
            delta_ms: 200,
            target_block_ms: 100,
            epoch_ms: default_epoch_ms(),
            grace_ms: default_grace_ms(),
        }
    }
}

impl EngineParams {
    /// Malachite's timeouts for these parameters.
    pub fn timeouts(&self) -> LinearTimeouts {
        let ms = Duration::from_millis;
        let propose = ms(self.propose_ms);
        let prevote = ms(self.prevote_ms);
        let precommit = ms(self.precommit_ms);
        LinearTimeouts {
            propose,
            propose_delta: ms(self.delta_ms),
            prevote,
            prevote_delta: ms(self.delta_ms),
            precommit,
            precommit_delta: ms(self.delta_ms),
            rebroadcast: propose + prevote + precommit,
            max_timeout: Duration::from_secs(30),
        }
    }

    /// The target time of a height, if any.
    pub fn target_time(&self) -> Option<Duration> {
        (self.target_block_ms > 0).then(|| Duration::from_millis(self.target_block_ms))
    }
}

/// The network file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkFile {
    /// Format version ([`NETWORK_FILE_VERSION`]).
    pub version: u32,
    /// Chain id of the EVM chain the network runs.
    pub chain_id: u64,
    /// Chain genesis (opaque here: iR³ reads it as its genesis; `null` for the default dev
    /// genesis).
    pub genesis: serde_json::Value,
    /// The genesis validator set.
    pub validators: Vec<ValidatorEntry>,
    /// Engine parameters.
    pub engine: EngineParams,
}

/// A validator's private key file (`gateway-N.key.json`, mode 0600).
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    /// The gateway's name in the network file.
    pub name: String,
    /// Ed25519 private key (seed), hex.
    pub private_key: String,
}

impl KeyFile {
    /// A key file for a fresh random key.
    pub fn generate(name: impl Into<String>) -> Self {
        let key = PrivateKey::generate(rand::rngs::OsRng);
        Self { name: name.into(), private_key: hex::encode(key.inner().to_bytes()) }
    }

    /// The private key.
    pub fn key(&self) -> Result<PrivateKey> {
        let bytes = hex::decode(&self.private_key)
            .map_err(|e| ConsensusError::Invalid(format!("{}: private key: {e}", self.name)))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            ConsensusError::Invalid(format!("{}: private key is not 32 bytes", self.name))
        })?;
        Ok(PrivateKey::from(bytes))
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Self> {
        read_json(path)
    }

    /// Writes the key file, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self, true)
    }
}

impl NetworkFile {
    /// A network of `gateways` validators of power 1 and their key files.
    pub fn generate(
        gateways: usize,
        chain_id: u64,
        genesis: serde_json::Value,
    ) -> Result<(Self, Vec<KeyFile>)> {
        if gateways == 0 {
            return Err(ConsensusError::Invalid("a network needs at least one gateway".into()));
        }
        let keys: Vec<KeyFile> =
            (0..gateways).map(|i| KeyFile::generate(format!("gateway-{i}"))).collect();
        let validators = keys
            .iter()
            .map(|k| {
                Ok(ValidatorEntry {
                    name: k.name.clone(),
                    public_key: hex::encode(k.key()?.public_key().as_bytes()),
                    voting_power: 1,
                })
            })
            .collect::<Result<_>>()?;
        let file = Self {
            version: NETWORK_FILE_VERSION,
            chain_id,
            genesis,
            validators,
            engine: EngineParams::default(),
        };
        file.check()?;
        Ok((file, keys))
    }

    /// Checks the file: known version, at least one validator, valid distinct keys, power > 0.
    pub fn check(&self) -> Result<()> {
        if self.version != NETWORK_FILE_VERSION {
            return Err(ConsensusError::Invalid(format!(
                "network file version {} (this node reads {NETWORK_FILE_VERSION})",
                self.version
            )));
        }
        if self.validators.is_empty() {
            return Err(ConsensusError::Invalid("no validators".into()));
        }
        if self.engine.epoch_ms == 0 || self.engine.propose_ms == 0 {
            return Err(ConsensusError::Invalid("epoch_ms and propose_ms must be positive".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &self.validators {
            let key = v.key()?;
            if v.voting_power == 0 {
                return Err(ConsensusError::Invalid(format!("{}: voting power 0", v.name)));
            }
            if !seen.insert(*key.as_bytes()) {
                return Err(ConsensusError::Invalid(format!("{}: duplicate public key", v.name)));
            }
        }
        Ok(())
    }

    /// The network identity: keccak-256 of a tag and the file's canonical JSON encoding.
    pub fn identity(&self) -> B256 {
        let mut bytes = b"ir3-network/v1".to_vec();
        bytes.extend_from_slice(&serde_json::to_vec(self).expect("a network file serializes"));
        keccak256(bytes)
    }

    /// The genesis validator set.
    pub fn validator_set(&self) -> Result<ValidatorSet> {
        let validators = self
            .validators
            .iter()
            .map(|v| Ok(Validator::new(v.key()?, v.voting_power)))
            .collect::<Result<_>>()?;
        Ok(ValidatorSet::new(validators))
    }

    /// The validator set of raw Ed25519 keys (a set after membership changes): each key with
    /// its power in this file, or 1 for a key the file does not list.
    pub fn set_of_keys(&self, keys: &[[u8; 32]]) -> Result<ValidatorSet> {
        let validators = keys
            .iter()
            .map(|bytes| {
                let key = PublicKey::from_bytes(*bytes)
                    .map_err(|e| ConsensusError::Invalid(format!("validator key: {e}")))?;
                let hex_key = hex::encode(bytes);
                let power = self
                    .validators
                    .iter()
                    .find(|v| v.public_key.eq_ignore_ascii_case(&hex_key))
                    .map_or(1, |v| v.voting_power);
                Ok(Validator::new(key, power))
            })
            .collect::<Result<_>>()?;
        Ok(ValidatorSet::new(validators))
    }

    /// The raw Ed25519 keys of the file's validators, in its order.
    pub fn validator_keys(&self) -> Result<Vec<[u8; 32]>> {
        self.validators.iter().map(|v| Ok(*v.key()?.as_bytes())).collect()
    }

    /// The entry of a key, or [`ConsensusError::NotAValidator`].
    pub fn entry_of(&self, key: &PrivateKey) -> Result<&ValidatorEntry> {
        let public = hex::encode(key.public_key().as_bytes());
        self.validators.iter().find(|v| v.public_key.eq_ignore_ascii_case(&public)).ok_or_else(
            || {
                ConsensusError::NotAValidator(
                    Address::from_public_key(&key.public_key()).to_string(),
                )
            },
        )
    }

    /// Reads and checks a network file.
    pub fn load(path: &Path) -> Result<Self> {
        let file: Self = read_json(path)?;
        file.check()?;
        Ok(file)
    }

    /// Writes the network file.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self, false)
    }

    /// Writes `network.json` and one `<name>.key.json` per gateway into `dir` (created if
    /// missing; existing files are not overwritten). Returns the paths written.
    pub fn write_dir(&self, keys: &[KeyFile], dir: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dir)
            .map_err(|source| ConsensusError::Io { path: dir.into(), source })?;
        let mut paths = vec![dir.join("network.json")];
        paths.extend(keys.iter().map(|k| dir.join(format!("{}.key.json", k.name))));
        if let Some(existing) = paths.iter().find(|p| p.exists()) {
            return Err(ConsensusError::Invalid(format!(
                "{} exists; refusing to overwrite a network's keys",
                existing.display()
            )));
        }
        self.save(&paths[0])?;
        for (key, path) in keys.iter().zip(&paths[1..]) {
            key.save(path)?;
        }
        Ok(paths)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path)
        .map_err(|source| ConsensusError::Io { path: path.into(), source })?;
    serde_json::from_str(&text).map_err(|source| ConsensusError::Json { path: path.into(), source })
}

fn write_json<T: Serialize>(path: &Path, value: &T, private: bool) -> Result<()> {
    let io = |source| ConsensusError::Io { path: path.into(), source };
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|source| ConsensusError::Json { path: path.into(), source })?;
    text.push('\n');
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(io)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_write_load_round_trip_with_a_stable_identity() {
        let dir = tempfile::tempdir().unwrap();
        let (file, keys) = NetworkFile::generate(4, 1337, serde_json::Value::Null).unwrap();
        let paths = file.write_dir(&keys, dir.path()).unwrap();
        assert_eq!(paths.len(), 5);
        let loaded = NetworkFile::load(&paths[0]).unwrap();
        assert_eq!(loaded, file);
        assert_eq!(loaded.identity(), file.identity());
        assert_eq!(loaded.validator_set().unwrap().validators().len(), 4);
        for (key, path) in keys.iter().zip(&paths[1..]) {
            let k = KeyFile::load(path).unwrap().key().unwrap();
            assert_eq!(loaded.entry_of(&k).unwrap().name, key.name);
        }
        // another network's key is refused, and the directory is never overwritten
        let stranger = KeyFile::generate("x").key().unwrap();
        assert!(matches!(loaded.entry_of(&stranger), Err(ConsensusError::NotAValidator(_))));
        assert!(file.write_dir(&keys, dir.path()).is_err());
        // any change to the file changes the identity
        let mut other = file.clone();
        other.engine.propose_ms += 1;
        assert_ne!(other.identity(), file.identity());
    }

    #[test]
    fn invalid_files_are_refused() {
        let (mut file, _) = NetworkFile::generate(2, 1, serde_json::Value::Null).unwrap();
        file.validators[1].public_key = file.validators[0].public_key.clone();
        assert!(file.check().is_err());
        file.validators.clear();
        assert!(file.check().is_err());
        assert!(NetworkFile::generate(0, 1, serde_json::Value::Null).is_err());
    }
}
