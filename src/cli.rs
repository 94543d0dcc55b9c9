//! The command line, Anvil-compatible where Anvil has the same flag.

use std::{net::IpAddr, path::PathBuf};

use clap::Parser;
use ir3_evm::config::{
    DEFAULT_CHAIN_ID, DEFAULT_DEV_ACCOUNTS, DEFAULT_DEV_BALANCE_ETH, DEFAULT_MNEMONIC,
};

/// Default JSON-RPC port (Anvil's and Hardhat's).
pub const DEFAULT_RPC_PORT: u16 = 8545;

/// iR³ node: an Ethereum JSON-RPC gateway whose every fact is kept in a durable event series.
#[derive(Debug, Clone, Parser)]
#[command(name = "ir3", version, about)]
pub struct Cli {
    /// Port of the JSON-RPC server (HTTP and WebSocket).
    #[arg(short = 'p', long, visible_alias = "evm-rpc-port", default_value_t = DEFAULT_RPC_PORT, env = "IR3_PORT")]
    pub port: u16,

    /// Address the JSON-RPC server binds to.
    #[arg(long, default_value = "127.0.0.1", env = "IR3_HOST")]
    pub host: IpAddr,

    /// EIP-155 chain id of a new chain.
    #[arg(long, default_value_t = DEFAULT_CHAIN_ID)]
    pub chain_id: u64,

    /// Number of dev accounts to derive and fund.
    #[arg(short = 'a', long, default_value_t = DEFAULT_DEV_ACCOUNTS)]
    pub accounts: usize,

    /// Balance of each dev account, in ether.
    #[arg(long, default_value_t = DEFAULT_DEV_BALANCE_ETH)]
    pub balance: u64,

    /// BIP-39 mnemonic the dev accounts are derived from.
    #[arg(short = 'm', long, default_value = DEFAULT_MNEMONIC)]
    pub mnemonic: String,

    /// Seal a block every this many seconds (interval mining) instead of on each transaction.
    #[arg(short = 'b', long, value_name = "SECONDS")]
    pub block_time: Option<f64>,

    /// Do not mine blocks automatically.
    #[arg(long, conflicts_with = "block_time")]
    pub no_mining: bool,

    /// Hardfork rules of a new chain (osaka, prague, cancun, shanghai, paris, london, ...).
    #[arg(long, default_value = "latest")]
    pub hardfork: String,

    /// Directory of the node's series. Defaults to `$XDG_DATA_HOME/ir3/node-<port>`
    /// (`~/.local/share/ir3/node-<port>`).
    #[arg(long, env = "IR3_DATA_DIR", conflicts_with = "ephemeral")]
    pub data_dir: Option<PathBuf>,

    /// Keep everything in memory: nothing survives the process (throwaway runs).
    #[arg(long)]
    pub ephemeral: bool,

    /// Page cache of the derived state store (`<data-dir>/state/derived.redb`), in MiB: bounds
    /// the memory its reads use, however long the chain grows.
    #[arg(long, value_name = "MIB", default_value_t = ir3_evm::state::DEFAULT_CACHE_MB)]
    pub cache_mb: usize,

    /// Start a new chain from a geth genesis file (chain id, fork schedule, alloc, gas limit,
    /// base fee, timestamp). Ignored when the data directory already holds a chain.
    #[arg(long, value_name = "GENESIS_JSON")]
    pub init: Option<PathBuf>,

    /// Import the blocks of an RLP chain file (geth's export format) at start: each is
    /// executed under its fork's rules and checked against its header (state, receipts,
    /// transactions, withdrawals and requests roots), then recorded. Blocks already imported
    /// are skipped. Needs --init with the chain's genesis; the dev accounts are then not
    /// funded (the genesis state must be the file's). Proof of work is not verified.
    #[arg(long, value_name = "CHAIN_RLP", requires = "init")]
    pub import: Option<PathBuf>,

    /// Anvil-format state file: loaded into a new chain at start (if it exists), written at
    /// exit (Ctrl-C or SIGTERM).
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Fork another node: state is read lazily from this JSON-RPC URL at the fork block.
    #[arg(short = 'f', long, value_name = "URL", conflicts_with = "init")]
    pub fork_url: Option<String>,

    /// Block number to fork from (default: the parent's latest).
    #[arg(long, value_name = "NUMBER", requires = "fork_url")]
    pub fork_block_number: Option<u64>,

    /// Join a gateway network (with --network and --key): the libp2p port (TCP). The DHT
    /// (Kademlia), gossiped intents, direct YES/NO answers, catch-up pulls and chunks are
    /// multiplexed on it; 0 picks a free port. Without it (or `--dht-port` / `--bt-port`) the
    /// node runs alone.
    #[arg(long, value_name = "PORT")]
    pub p2p_port: Option<u16>,

    /// A port for the DHT, as the design notes name it: libp2p carries every protocol on each
    /// port the node listens on, so this is one more listening port (peers may bootstrap
    /// through any of them).
    #[arg(long, value_name = "PORT")]
    pub dht_port: Option<u16>,

    /// A port for chunk exchange (BitTorrent-style), as the design notes name it: one more
    /// listening port, like `--dht-port`.
    #[arg(long, value_name = "PORT")]
    pub bt_port: Option<u16>,

    /// The network to join: its file (written by `ir3 network init`) holds the chain id, the
    /// validator set and the engine parameters every gateway shares; agreement runs on the
    /// Malachite BFT engine. Needs --key and a peer-to-peer port.
    #[arg(long, value_name = "NETWORK_JSON", requires = "key")]
    pub network: Option<PathBuf>,

    /// This gateway's key file (`gateway-N.key.json` from `ir3 network init`). A key outside
    /// the network file's validator set runs an observer, which follows without voting.
    #[arg(long, value_name = "KEY_JSON", requires = "network")]
    pub key: Option<PathBuf>,

    /// The consensus engine's TCP port (its own libp2p network) [default: --p2p-port + 1, or
    /// a free port when --p2p-port is 0].
    #[arg(long, value_name = "PORT", requires = "network")]
    pub consensus_port: Option<u16>,

    /// Another validator's consensus address, host:port (repeatable) [default: each
    /// --bootstrap host with its port + 1].
    #[arg(long, value_name = "HOST:PORT", requires = "network")]
    pub consensus_peer: Vec<String>,

    /// Address the libp2p listener binds to (default: --host).
    #[arg(long, value_name = "IP")]
    pub p2p_host: Option<IpAddr>,

    /// A peer to join through, as host:port or a multiaddr (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap: Vec<String>,

    /// This node's name, shown in its banner (any string; a gateway's seat in the validator
    /// set comes from its --key) [the key file's name, e.g. `gateway-2`].
    #[arg(long)]
    pub node_id: Option<String>,

    /// Apps to run: `evm` and the native apps (`money`, `lending`, `reputation`, `territory`,
    /// `compute`, `messaging`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "evm,money,lending,reputation,territory,compute,messaging"
    )]
    pub apps: Vec<String>,

    /// Most blocks in one history segment (a chunk new nodes sync from); give every gateway
    /// of a network the same value.
    #[arg(long, default_value_t = ir3_evm::network::SEGMENT_BLOCKS, value_name = "N")]
    pub segment_blocks: u64,

    /// Copies of each stored file's chunks the network keeps (this node's included): they are
    /// offered to peers until that many hold them.
    #[arg(long, default_value_t = ir3_foundation::bt::DEFAULT_REPLICATION, value_name = "N")]
    pub replication: usize,

    /// Chunks each peer may be served per second on average (bursts of four seconds' worth);
    /// past it a want is answered NO with a retry-after.
    #[arg(long, default_value_t = ir3_foundation::bt::DEFAULT_SERVE_RATE, value_name = "CHUNKS")]
    pub serve_rate: f64,

    /// Most chunk wants in flight at once (the rest wait their turn, rarest first).
    #[arg(long, default_value_t = ir3_foundation::bt::DEFAULT_MAX_WANTS, value_name = "N")]
    pub max_wants: usize,

    /// Storage budget of the node's chunk store, in bytes.
    #[arg(long, default_value_t = ir3_foundation::chunks::DEFAULT_STORAGE_BUDGET, value_name = "BYTES")]
    pub storage_budget: u64,

    /// A client command instead of running the node.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Log filter (tracing's `EnvFilter` syntax), e.g. `info` or `ir3_evm=debug`. The default
    /// leaves out the consensus engine's network layer (it logs every failed redial of a
    /// validator that is down as an error) and libp2p gossipsub's mesh warnings; add
    /// `arc_malachitebft_network=warn` to see them.
    #[arg(
        long,
        default_value = "warn,arc_malachitebft_network=off,arc_malachitebft_discovery=error,libp2p_gossipsub=error",
        env = "IR3_LOG"
    )]
    pub log: String,
}

impl Cli {
    /// The node's main peer-to-peer port, if it joins a network: `--p2p-port`, else
    /// `--dht-port`, else `--bt-port`.
    pub fn p2p_port(&self) -> Option<u16> {
        self.p2p_port.or(self.dht_port).or(self.bt_port)
    }

    /// Every peer-to-peer port given (the node listens on each).
    pub fn p2p_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> =
            [self.p2p_port, self.dht_port, self.bt_port].into_iter().flatten().collect();
        ports.dedup();
        ports
    }

    /// The data directory this node uses.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("ir3").join(format!("node-{}", self.port))
    }
}

/// Client commands, run against a running node.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Gateway networks: `ir3 network init --gateways N --out DIR` writes a network file and
    /// one key per gateway.
    Network {
        /// What to do.
        #[command(subcommand)]
        action: crate::network_cli::NetworkAction,
    },
    /// The storage app: files cut into chunks, stored and fetched through any node.
    Store {
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "ETH_RPC_URL")]
        rpc_url: String,
        /// What to do.
        #[command(subcommand)]
        action: StoreAction,
    },
    /// The money app: currencies, mints, transfers, balances.
    Money {
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "ETH_RPC_URL")]
        rpc_url: String,
        /// What to do.
        #[command(subcommand)]
        action: crate::app_cli::MoneyAction,
    },
    /// The lending app: loan offers, acceptance, repayment.
    Lending {
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "ETH_RPC_URL")]
        rpc_url: String,
        /// What to do.
        #[command(subcommand)]
        action: crate::app_cli::LendingAction,
    },
    /// The reputation app: peers' scores and their components.
    Reputation {
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "ETH_RPC_URL")]
        rpc_url: String,
        /// What to do.
        #[command(subcommand)]
        action: crate::app_cli::ReputationAction,
    },
    /// The territory app: observations and their consensus.
    Territory {
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "ETH_RPC_URL")]
        rpc_url: String,
        /// What to do.
        #[command(subcommand)]
        action: crate::app_cli::TerritoryAction,
    },
    /// The messaging app: direct messages, topics, inbox.
    Messaging {
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "ETH_RPC_URL")]
        rpc_url: String,
        /// What to do.
        #[command(subcommand)]
        action: crate::app_cli::MessagingAction,
    },
    /// The compute app: a pure function run on several peers.
    Compute {
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "ETH_RPC_URL")]
        rpc_url: String,
        /// What to do.
        #[command(subcommand)]
        action: crate::app_cli::ComputeAction,
    },
}

/// A storage command.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum StoreAction {
    /// Stores a file (any size: it is sent chunk by chunk); prints its id.
    Put {
        /// The file.
        file: PathBuf,
    },
    /// Fetches a file by id (from this node, or through it from its peers).
    Get {
        /// The id `put` printed.
        id: String,
        /// Where to write it [stdout].
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
}
