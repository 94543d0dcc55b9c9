//! `ir3 <app> …`: the native apps from the command line. Each command is one JSON-RPC call to
//! a running node (`--rpc-url`, or `ETH_RPC_URL`); the result is printed as JSON. Writes name a
//! dev account of the node as `--from` (the node signs for it).

use clap::Subcommand;
use serde_json::{Value, json};

use crate::{NodeError, cli::Command};

/// Runs a subcommand: `ir3 network init`, or a client command (`ir3 store|money|lending|… …`).
pub fn run_command(command: Command) -> Result<(), NodeError> {
    match command {
        Command::Network { action } => {
            print!("{}", crate::network_cli::run(action)?);
            Ok(())
        }
        Command::Store { rpc_url, action } => crate::store_cli::run(&rpc_url, action),
        Command::Money { rpc_url, action } => run(&rpc_url, money(action)),
        Command::Lending { rpc_url, action } => run(&rpc_url, lending(action)),
        Command::Reputation { rpc_url, action } => run(&rpc_url, reputation(action)),
        Command::Territory { rpc_url, action } => run(&rpc_url, territory(action)),
        Command::Messaging { rpc_url, action } => run(&rpc_url, messaging(action)),
        Command::Compute { rpc_url, action } => run(&rpc_url, compute(action)),
    }
}

/// A money command.
#[derive(Debug, Clone, Subcommand)]
pub enum MoneyAction {
    /// Mints a currency (the first minter becomes its issuer).
    Mint {
        /// The minting account (a dev account of the node).
        #[arg(long)]
        from: String,
        /// The currency.
        #[arg(long)]
        currency: String,
        /// Units to mint.
        #[arg(long)]
        amount: String,
        /// Who receives them [the minter].
        #[arg(long)]
        to: Option<String>,
    },
    /// Transfers funds.
    Transfer {
        /// The paying account (a dev account of the node).
        #[arg(long)]
        from: String,
        /// The currency.
        #[arg(long)]
        currency: String,
        /// The receiver.
        #[arg(long)]
        to: String,
        /// Units to move.
        #[arg(long)]
        amount: String,
    },
    /// What an account holds of a currency (now, or at the end of an epoch).
    Balance {
        /// The account.
        account: String,
        /// The currency.
        currency: String,
        /// An epoch of history.
        #[arg(long)]
        at_epoch: Option<u64>,
    },
    /// Every balance of an account.
    Balances {
        /// The account.
        account: String,
    },
    /// The currencies, their issuers and supply.
    Currencies,
}

/// A lending command.
#[derive(Debug, Clone, Subcommand)]
pub enum LendingAction {
    /// Offers a loan (the funds go into escrow).
    Offer {
        /// The lender (a dev account of the node).
        #[arg(long)]
        from: String,
        /// The currency.
        #[arg(long)]
        currency: String,
        /// Units lent.
        #[arg(long)]
        amount: String,
        /// Interest in basis points of the amount.
        #[arg(long, default_value_t = 0)]
        interest_bps: u64,
        /// Time the borrower has from acceptance, in milliseconds.
        #[arg(long)]
        duration_ms: u64,
    },
    /// Accepts a loan offer.
    Accept {
        /// The borrower (a dev account of the node).
        #[arg(long)]
        from: String,
        /// The loan (its offer's id).
        #[arg(long)]
        loan: String,
    },
    /// Repays a loan with its interest.
    Repay {
        /// The borrower.
        #[arg(long)]
        from: String,
        /// The loan.
        #[arg(long)]
        loan: String,
    },
    /// Cancels an offer nobody accepted.
    Cancel {
        /// The lender.
        #[arg(long)]
        from: String,
        /// The loan.
        #[arg(long)]
        loan: String,
    },
    /// The loans (a loan past its deadline and not repaid is `defaulted`).
    Loans,
}

/// A reputation command.
#[derive(Debug, Clone, Subcommand)]
pub enum ReputationAction {
    /// A peer's reputation and its components.
    Query {
        /// The peer id.
        node: String,
    },
    /// Every known peer's reputation.
    List,
}

/// A territory command.
#[derive(Debug, Clone, Subcommand)]
pub enum TerritoryAction {
    /// Records this node's observation of a location.
    Observe {
        /// The location.
        location: String,
        /// The value observed.
        value: f64,
        /// Sign the observation with this dev account of the node.
        #[arg(long)]
        from: Option<String>,
    },
    /// Asks the peers for their observations of a location.
    Want {
        /// The location.
        location: String,
    },
    /// The reputation-weighted consensus on a location.
    Consensus {
        /// The location.
        location: String,
    },
}

/// A messaging command.
#[derive(Debug, Clone, Subcommand)]
pub enum MessagingAction {
    /// Sends a message to a peer.
    Send {
        /// The peer id.
        to: String,
        /// The text.
        text: String,
        /// Sign the message with this dev account of the node.
        #[arg(long)]
        from: Option<String>,
    },
    /// Broadcasts a message on a topic.
    Broadcast {
        /// The topic.
        topic: String,
        /// The text.
        text: String,
        /// Sign the message with this dev account of the node.
        #[arg(long)]
        from: Option<String>,
    },
    /// Follows a topic.
    Follow {
        /// The topic.
        topic: String,
    },
    /// Stops following a topic.
    Unfollow {
        /// The topic.
        topic: String,
    },
    /// Blocks a sender.
    Block {
        /// The peer id.
        peer: String,
    },
    /// Unblocks a sender.
    Unblock {
        /// The peer id.
        peer: String,
    },
    /// The inbox.
    Inbox,
    /// A message's receipts: YES (delivered), NO (refused), silence.
    Receipts {
        /// The message's intent id.
        id: String,
    },
}

/// A compute command.
#[derive(Debug, Clone, Subcommand)]
pub enum ComputeAction {
    /// Runs EVM bytecode (with calldata) on the peers.
    Call {
        /// The bytecode, hex.
        code: String,
        /// The calldata, hex.
        #[arg(long)]
        data: Option<String>,
    },
    /// A call's results: agreement, disagreement, silence.
    Result {
        /// The call's intent id.
        id: String,
    },
}

/// The JSON-RPC call of a money command.
pub fn money(action: MoneyAction) -> (&'static str, Value) {
    match action {
        MoneyAction::Mint { from, currency, amount, to } => {
            let mut fields = json!({"from": from, "currency": currency, "amount": amount});
            if let Some(to) = to {
                fields["to"] = to.into();
            }
            ("ir3_money_mint", json!([fields]))
        }
        MoneyAction::Transfer { from, currency, to, amount } => (
            "ir3_money_transfer",
            json!([{"from": from, "currency": currency, "to": to, "amount": amount}]),
        ),
        MoneyAction::Balance { account, currency, at_epoch } => {
            ("ir3_money_balance", json!([account, currency, at_epoch]))
        }
        MoneyAction::Balances { account } => ("ir3_money_balances", json!([account])),
        MoneyAction::Currencies => ("ir3_money_currencies", json!([])),
    }
}

/// The JSON-RPC call of a lending command.
pub fn lending(action: LendingAction) -> (&'static str, Value) {
    match action {
        LendingAction::Offer { from, currency, amount, interest_bps, duration_ms } => (
            "ir3_lending_offer",
            json!([{"from": from, "currency": currency, "amount": amount,
                    "interestBps": interest_bps, "durationMs": duration_ms}]),
        ),
        LendingAction::Accept { from, loan } => {
            ("ir3_lending_accept", json!([{"from": from, "loan": loan}]))
        }
        LendingAction::Repay { from, loan } => {
            ("ir3_lending_repay", json!([{"from": from, "loan": loan}]))
        }
        LendingAction::Cancel { from, loan } => {
            ("ir3_lending_cancel", json!([{"from": from, "loan": loan}]))
        }
        LendingAction::Loans => ("ir3_lending_loans", json!([])),
    }
}

/// The JSON-RPC call of a reputation command.
pub fn reputation(action: ReputationAction) -> (&'static str, Value) {
    match action {
        ReputationAction::Query { node } => ("ir3_reputation_query", json!([node])),
        ReputationAction::List => ("ir3_reputation_list", json!([])),
    }
}

/// The JSON-RPC call of a territory command.
pub fn territory(action: TerritoryAction) -> (&'static str, Value) {
    match action {
        TerritoryAction::Observe { location, value, from } => {
            ("ir3_territory_observe", json!([location, value, from]))
        }
        TerritoryAction::Want { location } => ("ir3_territory_want", json!([location])),
        TerritoryAction::Consensus { location } => ("ir3_territory_consensus", json!([location])),
    }
}

/// The JSON-RPC call of a messaging command.
pub fn messaging(action: MessagingAction) -> (&'static str, Value) {
    match action {
        MessagingAction::Send { to, text, from } => ("ir3_messaging_send", json!([to, text, from])),
        MessagingAction::Broadcast { topic, text, from } => {
            ("ir3_messaging_broadcast", json!([topic, text, from]))
        }
        MessagingAction::Follow { topic } => ("ir3_messaging_follow", json!([topic])),
        MessagingAction::Unfollow { topic } => ("ir3_messaging_unfollow", json!([topic])),
        MessagingAction::Block { peer } => ("ir3_messaging_block", json!([peer])),
        MessagingAction::Unblock { peer } => ("ir3_messaging_unblock", json!([peer])),
        MessagingAction::Inbox => ("ir3_messaging_inbox", json!([])),
        MessagingAction::Receipts { id } => ("ir3_messaging_receipts", json!([id])),
    }
}

/// The JSON-RPC call of a compute command.
pub fn compute(action: ComputeAction) -> (&'static str, Value) {
    match action {
        ComputeAction::Call { code, data } => ("ir3_compute_call", json!([code, data])),
        ComputeAction::Result { id } => ("ir3_compute_result", json!([id])),
    }
}

/// Makes one call and prints its result as JSON.
pub fn run(url: &str, (method, params): (&'static str, Value)) -> Result<(), NodeError> {
    let result = crate::store_cli::call(url, method, params)?;
    let text = serde_json::to_string_pretty(&result)
        .map_err(|e| NodeError::InvalidArgument(format!("{method}: {e}")))?;
    println!("{text}");
    Ok(())
}
