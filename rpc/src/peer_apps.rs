//! The peer apps' methods: `ir3_reputation_*`, `ir3_territory_*`, `ir3_messaging_*` and
//! `ir3_compute_*`. They act as this node (its peer key signs what it declares); every
//! declaration returns its intent id at once, and what peers answered is read back later.

use std::sync::Arc;

use alloy_primitives::{Address, Bytes};
use ir3_apps::{
    NativeApps, SignedOp,
    peer::{Message, PeerApps},
    peer_api::{ComputeReport, Consensus},
    reputation::Reputation,
};
use ir3_evm::EvmNode;
use ir3_foundation::{IntentId, net::IntentInsight};
use jsonrpsee::core::RpcResult;

use crate::{
    api::PeerAppsApiServer,
    error::{RpcError, ok},
};

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
        let sign = |fields| {
            SignedOp::sign_with(from, 0, fields, |message| {
                self.node.accounts().sign_message(from, message).ok()
            })
        };
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
