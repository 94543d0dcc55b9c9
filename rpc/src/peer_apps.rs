//! The peer apps' methods: `ir3_reputation_*`, `ir3_territory_*`, `ir3_messaging_*` and
//! `ir3_compute_*`. They act as this node (its peer key signs what it declares); every
//! declaration returns its intent id at once, and what peers answered is read back later.

use std::{future::Future, pin::Pin, sync::Arc};

use alloy_primitives::{Address, Bytes};
use alloy_rpc_types_eth::{
    TransactionRequest,
    state::{AccountOverride, StateOverride},
};
use ir3_apps::{
    NativeApps,
    peer::{Evaluator, Message, PeerApps},
    peer_api::{ComputeReport, Consensus},
    reputation::Reputation,
};
use ir3_evm::EvmNode;
use ir3_foundation::{IntentId, net::IntentInsight};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};

use crate::error::{RpcError, ok};

/// Where a compute call's bytecode is placed for the call (no account lives there).
pub const COMPUTE_ADDRESS: Address = Address::new([0xc0; 20]);

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

/// Handler of the peer apps' methods.
#[derive(Debug)]
pub struct PeerAppsHandler {
    node: Arc<EvmNode>,
    peers: Arc<PeerApps>,
    apps: Arc<NativeApps>,
}

impl PeerAppsHandler {
    /// Creates the handler.
    pub fn new(node: Arc<EvmNode>, peers: Arc<PeerApps>, apps: Arc<NativeApps>) -> Self {
        Self { node, peers, apps }
    }

    /// Runs `act` with a signer for the dev account `from`, or with none.
    fn signed_by<T>(
        &self,
        from: Option<Address>,
        act: impl FnOnce(Option<ir3_apps::peer_api::Sign<'_>>) -> ir3_apps::Result<T>,
    ) -> Result<T, RpcError> {
        let Some(from) = from else { return Ok(act(None)?) };
        let sign = |fields| crate::apps::sign_for(&self.node, from, 0, fields);
        Ok(act(Some(&sign))?)
    }

    fn enabled(&self, app: &str) -> Result<(), RpcError> {
        if self.apps.is_enabled(app) {
            Ok(())
        } else {
            Err(ir3_apps::AppError::Disabled(app.into()).into())
        }
    }
}

impl PeerAppsApiServer for PeerAppsHandler {
    fn reputation_query(&self, node: String) -> RpcResult<Reputation> {
        ok(self.enabled("reputation"))?;
        let all = self.peers.reputations(&self.apps.agreement());
        if let Some(known) = all.into_iter().find(|r| r.node == node) {
            return Ok(known);
        }
        // A peer nothing is known about: neutral components.
        let nothing = ir3_foundation::net::PeerInsight {
            peer: node,
            yes: 0,
            no: 0,
            silence: 0,
            intents_received: 0,
            refused: 0,
            last_refusal: None,
        };
        Ok(ir3_apps::reputation::reputations(&[nothing], &[]).remove(0))
    }

    fn reputation_list(&self) -> RpcResult<Vec<Reputation>> {
        ok(self.enabled("reputation"))?;
        Ok(self.peers.reputations(&self.apps.agreement()))
    }

    fn territory_observe(
        &self,
        location: String,
        value: f64,
        from: Option<Address>,
    ) -> RpcResult<bool> {
        ok(self.enabled("territory"))?;
        ok(self.signed_by(from, |sign| self.peers.observe(location, value, sign)).map(|()| true))
    }

    fn territory_want(&self, location: String) -> RpcResult<IntentId> {
        ok(self.enabled("territory"))?;
        ok(self.peers.want_observations(location))
    }

    fn territory_consensus(&self, location: String) -> RpcResult<Consensus> {
        ok(self.enabled("territory"))?;
        Ok(self.peers.consensus(&location, &self.apps.agreement()))
    }

    fn messaging_send(
        &self,
        to: String,
        text: String,
        from: Option<Address>,
    ) -> RpcResult<IntentId> {
        ok(self.enabled("messaging"))?;
        ok(self.signed_by(from, |sign| self.peers.send_message(&to, text, sign)))
    }

    fn messaging_broadcast(
        &self,
        topic: String,
        text: String,
        from: Option<Address>,
    ) -> RpcResult<IntentId> {
        ok(self.enabled("messaging"))?;
        ok(self.signed_by(from, |sign| self.peers.broadcast(topic, text, sign)))
    }

    fn messaging_follow(&self, topic: String) -> RpcResult<bool> {
        ok(self.enabled("messaging"))?;
        self.peers.follow(topic, true);
        Ok(true)
    }

    fn messaging_unfollow(&self, topic: String) -> RpcResult<bool> {
        ok(self.enabled("messaging"))?;
        self.peers.follow(topic, false);
        Ok(true)
    }

    fn messaging_block(&self, peer: String) -> RpcResult<bool> {
        ok(self.enabled("messaging"))?;
        self.peers.block(peer, true);
        Ok(true)
    }

    fn messaging_unblock(&self, peer: String) -> RpcResult<bool> {
        ok(self.enabled("messaging"))?;
        self.peers.block(peer, false);
        Ok(true)
    }

    fn messaging_inbox(&self) -> RpcResult<Vec<Message>> {
        ok(self.enabled("messaging"))?;
        Ok(self.peers.inbox())
    }

    fn messaging_receipts(&self, id: IntentId) -> RpcResult<Option<IntentInsight>> {
        ok(self.enabled("messaging"))?;
        Ok(self.peers.responses(&id))
    }

    fn compute_call(&self, code: Bytes, data: Option<Bytes>) -> RpcResult<IntentId> {
        ok(self.enabled("compute"))?;
        ok(self.peers.call(code, data.unwrap_or_default()))
    }

    fn compute_result(&self, id: IntentId) -> RpcResult<ComputeReport> {
        ok(self.enabled("compute"))?;
        Ok(self.peers.compute_report(id, &self.apps.agreement()))
    }
}

/// Runs compute calls on this node's EVM: the bytecode is placed at [`COMPUTE_ADDRESS`] for
/// one `eth_call` at the latest block.
#[derive(Debug)]
pub struct EvmEvaluator(pub Arc<EvmNode>);

impl Evaluator for EvmEvaluator {
    fn evaluate(
        &self,
        code: Bytes,
        data: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send>> {
        let node = self.0.clone();
        Box::pin(async move {
            let request = TransactionRequest::default().to(COMPUTE_ADDRESS).input(data.into());
            let mut overrides = StateOverride::default();
            overrides.insert(
                COMPUTE_ADDRESS,
                AccountOverride { code: Some(code), ..Default::default() },
            );
            node.call(request, None, Some(overrides)).await.map_err(|e| e.to_string())
        })
    }
}
