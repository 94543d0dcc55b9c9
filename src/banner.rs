//! The start-up banner, in Anvil's format so that tools which parse Anvil's output can spawn
//! `ir3` instead.

use std::{io::Write, net::SocketAddr};

use alloy_primitives::utils::format_ether;
use ir3_evm::EvmNode;

use crate::cli::Cli;

/// Prints the banner to stdout and flushes it.
pub fn print(cli: &Cli, node: &EvmNode, listening: SocketAddr) {
    let config = node.config();
    let genesis_balances: std::collections::HashMap<_, _> = config.alloc.iter().copied().collect();
    let mut out = String::new();
    out.push_str(
        r#"
   _      ____   _____
  (_)    |  _ \ |___ /
   _  _ _| |_) |  |_ \
  | || '__|  _ <  ___) |
  |_||_|  |_| \_\|____/
"#,
    );
    out.push_str(&format!("\n    ir3 v{}\n", env!("CARGO_PKG_VERSION")));
    out.push_str("\nAvailable Accounts\n==================\n\n");
    let addresses = node.accounts().addresses();
    for (i, address) in addresses.iter().enumerate() {
        let balance = genesis_balances.get(address).copied().unwrap_or_default();
        out.push_str(&format!("({i}) {address} ({} ETH)\n", format_ether(balance)));
    }
    out.push_str("\nPrivate Keys\n==================\n\n");
    for (i, key) in node.accounts().private_keys().iter().enumerate() {
        out.push_str(&format!("({i}) {key}\n"));
    }
    out.push_str(&format!(
        "\nWallet\n==================\nMnemonic:          {}\nDerivation path:   m/44'/60'/0'/0/\n",
        cli.mnemonic
    ));
    out.push_str(&format!("\n\nChain ID\n==================\n\n{}\n", config.chain_id));
    out.push_str(&format!("\nBase Fee\n==================\n\n{}\n", config.initial_base_fee));
    out.push_str(&format!("\nGas Limit\n==================\n\n{}\n", config.gas_limit));
    out.push_str(&format!(
        "\nGenesis Timestamp\n==================\n\n{}\n",
        config.genesis_timestamp
    ));
    let storage = if cli.ephemeral {
        "in memory (--ephemeral)".to_string()
    } else {
        cli.data_dir().display().to_string()
    };
    out.push_str(&format!("\nSeries\n==================\n\n{storage}\n"));
    out.push_str(&format!("\nListening on {listening}\n"));
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}
