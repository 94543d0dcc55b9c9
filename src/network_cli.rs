//! `ir3 network …`: setting up a gateway network's configured identity.
//!
//! `ir3 network init --gateways 4 --out DIR` writes `DIR/network.json` (chain id, genesis,
//! the validators' public keys, engine parameters: every node of the network is started with
//! it, and its hash is the network's identity) and one private key file per gateway,
//! `DIR/gateway-N.key.json` (mode 0600). See `docs/CONSENSUS.md`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use ir3_consensus::NetworkFile;

use crate::NodeError;

/// A network command.
#[derive(Debug, Clone, Subcommand)]
pub enum NetworkAction {
    /// Writes a new network: the network file and one key per gateway.
    Init {
        /// Number of gateways (validators) in the genesis set.
        #[arg(long, value_name = "N")]
        gateways: usize,
        /// Directory to write into (created if missing; existing files are never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// EIP-155 chain id of the network's chain.
        #[arg(long, default_value_t = ir3_evm::config::DEFAULT_CHAIN_ID)]
        chain_id: u64,
        /// A geth genesis file to embed as the chain's genesis [the dev genesis].
        #[arg(long, value_name = "GENESIS_JSON")]
        genesis: Option<PathBuf>,
        /// How long validators wait for a round's proposal, ms (a round whose proposer is
        /// down costs this much) [400].
        #[arg(long, value_name = "MS")]
        propose_ms: Option<u64>,
        /// Length of an epoch, ms [200].
        #[arg(long, value_name = "MS")]
        epoch_ms: Option<u64>,
        /// Time after an epoch's end before it may be proposed, ms [100].
        #[arg(long, value_name = "MS")]
        grace_ms: Option<u64>,
        /// Minimum time between two decided heights, ms [100].
        #[arg(long, value_name = "MS")]
        target_block_ms: Option<u64>,
    },
    /// Prints a key file's public key and peer id, writing a new key there first if the file
    /// does not exist (a gateway to add to a running network: its operator runs this, and the
    /// validators approve the public key with `ir3_approveValidatorChange`).
    Key {
        /// The key file.
        file: PathBuf,
    },
}

/// Runs a network command; returns what to print.
pub fn run(action: NetworkAction) -> Result<String, NodeError> {
    match action {
        NetworkAction::Init {
            gateways,
            out,
            chain_id,
            genesis,
            propose_ms,
            epoch_ms,
            grace_ms,
            target_block_ms,
        } => {
            let defaults = ir3_consensus::EngineParams::default();
            let engine = ir3_consensus::EngineParams {
                propose_ms: propose_ms.unwrap_or(defaults.propose_ms),
                epoch_ms: epoch_ms.unwrap_or(defaults.epoch_ms),
                grace_ms: grace_ms.unwrap_or(defaults.grace_ms),
                target_block_ms: target_block_ms.unwrap_or(defaults.target_block_ms),
                ..defaults
            };
            init(gateways, &out, chain_id, genesis.as_deref(), engine)
        }
        NetworkAction::Key { file } => key(&file),
    }
}

fn key(path: &Path) -> Result<String, NodeError> {
    let created = !path.exists();
    if created {
        let name = path.file_stem().map_or("gateway".into(), |s| s.to_string_lossy().to_string());
        ir3_consensus::KeyFile::generate(name).save(path)?;
    }
    let public = ir3_consensus::KeyFile::load(path)?.key()?.public_key();
    let bytes: [u8; 32] = *public.as_bytes();
    let peer = ir3_evm::network::peer_id_of(&bytes).unwrap_or_default();
    Ok(format!(
        "{}public key 0x{}\npeer id {peer}\n",
        if created { format!("wrote {}\n", path.display()) } else { String::new() },
        alloy_primitives::hex::encode(bytes)
    ))
}

fn init(
    gateways: usize,
    out: &Path,
    chain_id: u64,
    genesis: Option<&Path>,
    engine: ir3_consensus::EngineParams,
) -> Result<String, NodeError> {
    let genesis = match genesis {
        None => serde_json::Value::Null,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                NodeError::InvalidArgument(format!("genesis {}: {e}", path.display()))
            })?;
            serde_json::from_str(&text).map_err(|e| {
                NodeError::InvalidArgument(format!("genesis {}: {e}", path.display()))
            })?
        }
    };
    let (mut file, keys) = NetworkFile::generate(gateways, chain_id, genesis)?;
    file.engine = engine;
    file.check()?;
    let paths = file.write_dir(&keys, out)?;
    let mut report = format!(
        "network {} ({} gateways, chain id {chain_id})\n",
        file.identity(),
        file.validators.len()
    );
    for path in paths {
        report.push_str(&format!("  wrote {}\n", path.display()));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use ir3_consensus::KeyFile;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn init_writes_a_network_file_and_one_key_per_gateway() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("net");
        let cli = Cli::try_parse_from([
            "ir3",
            "network",
            "init",
            "--gateways",
            "4",
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        let Some(Command::Network { action }) = cli.command else { panic!("not parsed") };
        let report = run(action.clone()).unwrap();
        let file = NetworkFile::load(&out.join("network.json")).unwrap();
        assert!(report.contains(&file.identity().to_string()));
        assert_eq!(file.chain_id, ir3_evm::config::DEFAULT_CHAIN_ID);
        assert_eq!(file.validators.len(), 4);
        for (i, entry) in file.validators.iter().enumerate() {
            let key = KeyFile::load(&out.join(format!("gateway-{i}.key.json"))).unwrap();
            assert_eq!(file.entry_of(&key.key().unwrap()).unwrap(), entry);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(out.join("gateway-0.key.json")).unwrap().permissions();
            assert_eq!(mode.mode() & 0o777, 0o600);
        }
        // A second init into the same directory does not overwrite the keys.
        assert!(run(action).is_err());
        assert!(Cli::try_parse_from(["ir3", "network", "init", "--out", "x"]).is_err());
    }
}
