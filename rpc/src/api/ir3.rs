//! The `ir3_` namespace: what the peer-to-peer foundation knows (intents and their answers,
//! peers, ordering, validators, decided heights), the node's own status, the storage app, the
//! native apps (money, lending) and the peer apps (reputation, territory, messaging, compute).
//! Implemented in [`crate::network`], [`crate::status`], [`crate::storage`], [`crate::apps`]
//! and [`crate::peer_apps`].

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U64};
use ir3_apps::{
    Outcome, SignedOp,
    lending::Loan,
    money::Currency,
    peer::Message,
    peer_api::{ComputeReport, Consensus},
    reputation::Reputation,
};
use ir3_evm::network::{HeightView, NetworkStatus, TransactionStatus};
use ir3_foundation::{
    IntentId,
    bt::{ChunkStatus, ObjectStatus},
    net::{IntentInsight, PeerInsight},
};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde::{Deserialize, Serialize};

use crate::params::WholeNumber;

/// A change of the validator set: Ed25519 public keys (32 bytes, hex) to add and to remove.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ValidatorChangeRequest {
    /// Keys that join the set.
    #[serde(default)]
    pub add: Vec<B256>,
    /// Keys that leave it.
    #[serde(default)]
    pub remove: Vec<B256>,
}

/// The `ir3_` namespace.
#[rpc(server, namespace = "ir3")]
pub trait Ir3Api {
    /// Who answered an intent this node declared: YES, NO (reason, retry-after) and silence,
    /// with the derived counts. Takes the intent id or the hash of a transaction sent here.
    #[method(name = "intentResponses")]
    fn intent_responses(&self, id: B256) -> RpcResult<Option<IntentInsight>>;
    /// The peers this node knows and their YES/NO/SILENCE history.
    #[method(name = "peers")]
    fn peers(&self) -> RpcResult<Vec<PeerInsight>>;
    /// Where a transaction stands: `final`, `tentative`, `dropped` (with the reason),
    /// `pending` or `unknown`.
    #[method(name = "transactionStatus")]
    fn transaction_status(&self, hash: B256) -> RpcResult<TransactionStatus>;
    /// The validator set, this node's seat, and the latest/safe/finalized blocks.
    #[method(name = "networkStatus")]
    fn network_status(&self) -> RpcResult<NetworkStatus>;
    /// A decided height (default: the last one): its round, value, epochs and the validators
    /// whose precommits its certificate holds; `null` for a height not decided here.
    #[method(name = "height")]
    fn height(&self, height: Option<U64>) -> RpcResult<Option<HeightView>>;
    /// This validator's signed approval of a change of the validator set, ordered like a
    /// transaction; the change takes effect at the height after the one where approvals of
    /// more than two thirds of the current validators are decided (`ir3_networkStatus` shows
    /// pending changes and the set). Returns the change's id.
    #[method(name = "approveValidatorChange")]
    fn approve_validator_change(&self, change: ValidatorChangeRequest) -> RpcResult<B256>;
}

/// What kind of node this is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// `ir3/v<version>`.
    pub client_version: String,
    /// The chain id.
    pub chain_id: u64,
    /// Whether the node runs in network mode (a gateway of a peer-to-peer network).
    pub networked: bool,
    /// Whether the dev methods (`evm_`, `anvil_` changes) are allowed: not in network mode.
    pub dev_methods: bool,
    /// `automine`, `manual` or `interval`.
    pub mining: String,
    /// The interval of interval mining, in seconds.
    pub interval_secs: Option<f64>,
    /// Entries in the series so far.
    pub series_entries: u64,
    /// The number of dev accounts.
    pub dev_accounts: usize,
    /// How the chain was derived at start-up (resumed from the derived store, or rebuilt).
    pub startup: ir3_evm::replay::Startup,
}

/// One dev account and its private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevAccount {
    /// The address.
    pub address: Address,
    /// The private key (derived from the node's mnemonic; printed on the banner too).
    pub private_key: B256,
}

/// The series: its size and, when asked for, what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesStatus {
    /// Entries appended so far.
    pub entries: u64,
    /// Entries read by the last detailed scan (`detail = true`).
    pub scanned: u64,
    /// Bytes the scanned entries take in the log (record headers included).
    pub bytes: u64,
    /// Scanned entries by kind (`evm/TxExecuted`, `p2p/IntentReceived`, `intent/evm/...`).
    pub kinds: BTreeMap<String, u64>,
    /// Time of the first and the last scanned entry (ms since the Unix epoch).
    pub first_ms: Option<u64>,
    /// See `first_ms`.
    pub last_ms: Option<u64>,
    /// Entries per 5 s bucket over the last five minutes before `last_ms`: `[start_ms, count]`.
    pub timeline: Vec<(u64, u64)>,
}

/// The node's own status methods (namespace `ir3_`).
#[rpc(server, namespace = "ir3")]
pub trait StatusApi {
    /// What kind of node this is: version, chain id, network mode, whether dev methods are
    /// allowed, mining mode, series length.
    #[method(name = "nodeInfo")]
    fn node_info(&self) -> RpcResult<NodeInfo>;
    /// The dev accounts with their private keys; refused in network mode, like the dev methods.
    #[method(name = "devAccounts")]
    fn dev_accounts(&self) -> RpcResult<Vec<DevAccount>>;
    /// The series' length; with `detail = true`, also its size and entries by kind (a scan of
    /// the whole log, cached: redone once the series grew and [`crate::status::MIN_RESCAN`] passed).
    #[method(name = "seriesStatus")]
    async fn series_status(&self, detail: Option<bool>) -> RpcResult<SeriesStatus>;
}

/// The storage app's namespace.
#[rpc(server, namespace = "ir3")]
pub trait StorageApi {
    /// Stores bytes as an object (chunks and manifest); returns the manifest id.
    #[method(name = "storePut")]
    fn store_put(&self, data: Bytes) -> RpcResult<B256>;
    /// An object's bytes (`complete`) or how far fetching it is (`fetching`: wants declared).
    #[method(name = "storeGet")]
    fn store_get(&self, id: B256) -> RpcResult<ObjectStatus>;
    /// Stores one chunk (at most 1 MiB); returns its id.
    #[method(name = "chunkPut")]
    fn chunk_put(&self, data: Bytes) -> RpcResult<B256>;
    /// One chunk's bytes, or null after declaring a want for it (ask again).
    #[method(name = "chunkGet")]
    fn chunk_get(&self, id: B256) -> RpcResult<Option<Bytes>>;
    /// Where one chunk stands here: held, wanted, its known providers, and the holders of the
    /// copies this node keeps.
    #[method(name = "chunkStatus")]
    fn chunk_status(&self, id: B256) -> RpcResult<ChunkStatus>;
}

/// `ir3_money_mint`: `from` (a dev account of the node, which signs) mints `amount` of
/// `currency` to `to` (default: `from`). The first minter of a currency becomes its issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MintRequest {
    /// The signer.
    pub from: Address,
    /// The currency's name.
    pub currency: String,
    /// Who receives the new units (default: `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Address>,
    /// How many units.
    pub amount: WholeNumber,
}

/// `ir3_money_transfer`: `from` (a dev account, which signs) moves `amount` of `currency` to
/// `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferRequest {
    /// The signer, who pays.
    pub from: Address,
    /// The currency's name.
    pub currency: String,
    /// Who receives.
    pub to: Address,
    /// How many units.
    pub amount: WholeNumber,
}

/// `ir3_lending_offer`: `from` (a dev account, which signs) offers to lend `amount` of
/// `currency` at `interestBps` for `durationMs` once accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfferRequest {
    /// The lender.
    pub from: Address,
    /// The currency lent.
    pub currency: String,
    /// How many units.
    pub amount: WholeNumber,
    /// Interest in basis points of the amount (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interest_bps: Option<WholeNumber>,
    /// How long the borrower has to repay, in milliseconds from acceptance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<WholeNumber>,
}

/// `ir3_lending_accept`, `_repay` and `_cancel`: `from` (a dev account, which signs) acts on
/// the loan `loan` (the id of its offer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoanRequest {
    /// The signer.
    pub from: Address,
    /// The loan (its offer's operation id).
    pub loan: B256,
}

/// What a write returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpReceipt {
    /// The operation's id (`ir3_apps_outcome`).
    pub id: B256,
    /// The exact message that was signed.
    pub message: String,
    /// Its outcome so far: tentative until `isFinal`.
    pub outcome: Option<Outcome>,
}

/// The native apps' namespace.
#[rpc(server, namespace = "ir3")]
pub trait AppsApi {
    /// Orders an operation signed by its `from` (EIP-191 over `message`).
    #[method(name = "apps_submit")]
    fn apps_submit(&self, op: SignedOp) -> RpcResult<OpReceipt>;
    /// The next sequence of an account (the `seq` of its next operation).
    #[method(name = "apps_nextSeq")]
    fn apps_next_seq(&self, account: Address) -> RpcResult<u64>;
    /// An operation's outcome.
    #[method(name = "apps_outcome")]
    fn apps_outcome(&self, id: B256) -> RpcResult<Option<Outcome>>;
    /// Mints a currency (the first minter becomes its issuer): `{from, currency, to?, amount}`.
    #[method(name = "money_mint")]
    fn money_mint(&self, request: MintRequest) -> RpcResult<OpReceipt>;
    /// Transfers funds: `{from, currency, to, amount}`.
    #[method(name = "money_transfer")]
    fn money_transfer(&self, request: TransferRequest) -> RpcResult<OpReceipt>;
    /// What an account holds of a currency, now or as of the end of an epoch (history).
    #[method(name = "money_balance")]
    fn money_balance(
        &self,
        account: Address,
        currency: String,
        at_epoch: Option<u64>,
    ) -> RpcResult<String>;
    /// Every balance of an account.
    #[method(name = "money_balances")]
    fn money_balances(&self, account: Address) -> RpcResult<BTreeMap<String, String>>;
    /// The currencies, their issuers and supply.
    #[method(name = "money_currencies")]
    fn money_currencies(&self) -> RpcResult<Vec<Currency>>;
    /// Offers a loan: `{from, currency, amount, interestBps, durationMs}`.
    #[method(name = "lending_offer")]
    fn lending_offer(&self, request: OfferRequest) -> RpcResult<OpReceipt>;
    /// Accepts a loan: `{from, loan}`.
    #[method(name = "lending_accept")]
    fn lending_accept(&self, request: LoanRequest) -> RpcResult<OpReceipt>;
    /// Repays a loan with its interest: `{from, loan}`.
    #[method(name = "lending_repay")]
    fn lending_repay(&self, request: LoanRequest) -> RpcResult<OpReceipt>;
    /// Cancels an offer nobody accepted: `{from, loan}`.
    #[method(name = "lending_cancel")]
    fn lending_cancel(&self, request: LoanRequest) -> RpcResult<OpReceipt>;
    /// The loans as they stand now (a loan past its deadline and not repaid is `defaulted`).
    #[method(name = "lending_loans")]
    fn lending_loans(&self) -> RpcResult<Vec<Loan>>;
}

/// The peer apps' namespace.
#[rpc(server, namespace = "ir3")]
pub trait PeerAppsApi {
    /// A peer's reputation and its components (by peer id).
    #[method(name = "reputation_query")]
    fn reputation_query(&self, node: String) -> RpcResult<Reputation>;
    /// Every known peer's reputation.
    #[method(name = "reputation_list")]
    fn reputation_list(&self) -> RpcResult<Vec<Reputation>>;
    /// Records this node's observation of a location (signed by the dev account `from`, if
    /// given).
    #[method(name = "territory_observe")]
    fn territory_observe(
        &self,
        location: String,
        value: f64,
        from: Option<Address>,
    ) -> RpcResult<bool>;
    /// Declares `want_observations` for a location; returns the intent id.
    #[method(name = "territory_want")]
    fn territory_want(&self, location: String) -> RpcResult<IntentId>;
    /// The reputation-weighted consensus on a location and who contributed, refused, or
    /// stayed silent.
    #[method(name = "territory_consensus")]
    fn territory_consensus(&self, location: String) -> RpcResult<Consensus>;
    /// Sends a message to a peer (its YES is the delivery receipt), signed by the dev account
    /// `from` if given; returns the intent id.
    #[method(name = "messaging_send")]
    fn messaging_send(
        &self,
        to: String,
        text: String,
        from: Option<Address>,
    ) -> RpcResult<IntentId>;
    /// Broadcasts a message on a topic (signed by `from` if given); returns the intent id.
    #[method(name = "messaging_broadcast")]
    fn messaging_broadcast(
        &self,
        topic: String,
        text: String,
        from: Option<Address>,
    ) -> RpcResult<IntentId>;
    /// Follows a topic (its broadcasts reach the inbox).
    #[method(name = "messaging_follow")]
    fn messaging_follow(&self, topic: String) -> RpcResult<bool>;
    /// Stops following a topic.
    #[method(name = "messaging_unfollow")]
    fn messaging_unfollow(&self, topic: String) -> RpcResult<bool>;
    /// Blocks a sender: its messages are answered NO.
    #[method(name = "messaging_block")]
    fn messaging_block(&self, peer: String) -> RpcResult<bool>;
    /// Unblocks a sender.
    #[method(name = "messaging_unblock")]
    fn messaging_unblock(&self, peer: String) -> RpcResult<bool>;
    /// The inbox, oldest first.
    #[method(name = "messaging_inbox")]
    fn messaging_inbox(&self) -> RpcResult<Vec<Message>>;
    /// The receipts of a message: YES (delivered), NO (refused, with the reason), silence.
    #[method(name = "messaging_receipts")]
    fn messaging_receipts(&self, id: IntentId) -> RpcResult<Option<IntentInsight>>;
    /// Runs EVM bytecode with calldata on the peers (`eth_call` semantics); returns the
    /// intent id.
    #[method(name = "compute_call")]
    fn compute_call(&self, code: Bytes, data: Option<Bytes>) -> RpcResult<IntentId>;
    /// A compute call's results: agreement, disagreement, and who stayed silent.
    #[method(name = "compute_result")]
    fn compute_result(&self, id: IntentId) -> RpcResult<ComputeReport>;
}
