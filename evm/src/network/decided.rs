//! Network mode with agreement by a BFT engine (`--network`): what a height decides.
//!
//! The engine (Malachite, driven by the binary's gateway module; this crate never sees it)
//! asks a validator that leads a round for a value, asks the others whether a proposed value
//! is acceptable, and hands every decided height back in order. For iR³ the value of a height
//! is a [`Decision`]: the epochs it makes final, each with its exact envelopes. Epochs are
//! decided in ascending order; open epochs before a decided one (and between two) become final
//! empty, and whatever a gateway held in them is late (its own gateway stamps it again into an
//! open epoch). Blocks are derived from decided content alone, by the same epoch builder as
//! before, so every gateway holds the same final chain.
//!
//! A decided height is recorded in the series ([`DecidedHeight`], with the engine's
//! certificate as opaque bytes) before the engine is told it is stored; replay applies the
//! records in series order, which is the order they were applied in.

use alloy_primitives::B256;
use ir3_foundation::{
    append_blocking,
    order::{Envelope, now_ms},
};
use serde::{Deserialize, Serialize};
use tracing::debug;

use super::{NetworkState, ordering::Applied};
use crate::{
    error::{EvmError, Result},
    events::EvmEvent,
    node::EvmNode,
};

/// How far ahead of this gateway's clock a proposed epoch may close and still be accepted.
pub const MAX_DECISION_AHEAD_MS: u64 = 2_000;

/// One epoch made final by a decision, with its exact content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedEpoch {
    /// The epoch.
    pub epoch: u64,
    /// Its envelopes (each stamped into this epoch).
    pub envelopes: Vec<Envelope>,
}

/// The value of one height: the epochs it makes final, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The proposer's clock when it proposed, in milliseconds.
    pub time_ms: u64,
    /// The epochs made final, ascending (empty: a height that decides nothing).
    pub epochs: Vec<DecidedEpoch>,
}

impl Decision {
    /// The decision's wire form (the engine's value payload).
    pub fn encode(&self) -> Result<Vec<u8>> {
        postcard::to_allocvec(self).map_err(|e| EvmError::Internal(format!("decision: {e}")))
    }

    /// Reads a value payload.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        postcard::from_bytes(bytes)
            .map_err(|e| EvmError::InvalidParams(format!("undecodable decision: {e}")))
    }
}

/// A decided height as recorded in the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedHeight {
    /// The engine's height (1, 2, …).
    pub height: u64,
    /// The round it was decided in.
    pub round: u32,
    /// The previous height's value id (the network identity at height 1).
    pub parent: B256,
    /// The value payload: an encoded [`Decision`].
    pub payload: Vec<u8>,
    /// The engine's commit certificate, in the engine's own stored form.
    pub certificate: Vec<u8>,
}

impl DecidedHeight {
    /// Its value id: `keccak(parent ‖ payload)`, what the certificate's precommits sign.
    pub fn value_id(&self) -> B256 {
        super::history::value_id(self.parent, &self.payload)
    }
}

impl EvmNode {
    /// The value this validator proposes now: the closed epochs after the last decided one
    /// that hold envelopes, in order, up to `max_bytes` of envelope payload (at least one
    /// epoch's worth, cut if it alone is larger: what is left out is late and stamped again).
    pub fn propose_decision(&self, max_bytes: usize) -> Result<Decision> {
        let network = self.network_state()?;
        let now = now_ms();
        let order = network.order.lock();
        let book = order.builder.book();
        let from = order.applied().map_or(0, |a| a + 1);
        let mut epochs = Vec::new();
        let mut bytes = 0usize;
        for epoch in book.epochs_from(from) {
            if now < network.closes_at(epoch) {
                break;
            }
            let mut envelopes: Vec<Envelope> = book.envelopes_of(epoch).cloned().collect();
            envelopes.sort_by_key(Envelope::order_key);
            let size: usize = envelopes.iter().map(|e| e.payload.len() + 96).sum();
            if bytes + size > max_bytes {
                if epochs.is_empty() {
                    let mut kept = 0usize;
                    envelopes.retain(|e| {
                        kept += e.payload.len() + 96;
                        kept <= max_bytes
                    });
                    epochs.push(DecidedEpoch { epoch, envelopes });
                }
                break;
            }
            bytes += size;
            epochs.push(DecidedEpoch { epoch, envelopes });
        }
        Ok(Decision { time_ms: now, epochs })
    }

    /// Whether a value another validator proposed is acceptable here: epochs ascending after
    /// the last decided one and closed (within [`MAX_DECISION_AHEAD_MS`] of this clock), each
    /// envelope stamped into its epoch, valid (a transaction of this chain signed by its
    /// account, or a native app's operation that passes its check), from a gateway of the set,
    /// not already final and not twice.
    pub fn check_decision(&self, payload: &[u8]) -> Result<()> {
        let network = self.network_state()?;
        let decision = Decision::decode(payload)?;
        let horizon = now_ms().saturating_add(MAX_DECISION_AHEAD_MS);
        let mut seen = std::collections::HashSet::new();
        let order = network.order.lock();
        let book = order.builder.book();
        let mut after = order.applied();
        for item in &decision.epochs {
            if after.is_some_and(|a| item.epoch <= a) {
                return Err(EvmError::InvalidParams(format!(
                    "epoch {} is not after the last decided one",
                    item.epoch
                )));
            }
            after = Some(item.epoch);
            if network.closes_at(item.epoch) > horizon {
                return Err(EvmError::InvalidParams(format!("epoch {} is still open", item.epoch)));
            }
            for envelope in &item.envelopes {
                if book.epoch_of(envelope.stamp) != item.epoch {
                    return Err(EvmError::InvalidParams("envelope outside its epoch".into()));
                }
                if book.final_epoch_of(&envelope.id()).is_some() {
                    return Err(EvmError::InvalidParams("envelope already final".into()));
                }
                if !seen.insert(envelope.id()) {
                    return Err(EvmError::InvalidParams("envelope decided twice".into()));
                }
            }
        }
        drop(order);
        // Signatures last, outside the ordering lock (recovering senders is the costly part).
        decision
            .epochs
            .iter()
            .flat_map(|e| &e.envelopes)
            .try_for_each(|envelope| self.check_envelope_content(envelope).map(|_| ()))
    }

    /// Records a decided height in the series (durably), then applies it: its epochs become
    /// final with exactly their envelopes, the chain is rebuilt from them, the `safe` and
    /// `finalized` tags move, this gateway's late envelopes are stamped again.
    pub fn commit_decided(&self, record: DecidedHeight) -> Result<()> {
        self.record_and_apply(vec![record])
    }

    /// Records decided heights in the series (one durable write) and applies them in order
    /// (under the mutation lock, so the series' order is the order of application).
    pub(super) fn record_and_apply(&self, records: Vec<DecidedHeight>) -> Result<()> {
        let network = self.network_state()?;
        let decisions =
            records.iter().map(|r| Decision::decode(&r.payload)).collect::<Result<Vec<_>>>()?;
        let bodies = records
            .iter()
            .map(|r| EvmEvent::Decided(r.clone()).to_body())
            .collect::<Result<Vec<_>>>()?;
        let _mutation = self.mutation.lock();
        append_blocking(&*self.series, bodies)?;
        let (applied, restamp) = {
            let mut chain = self.chain.write();
            let mut order = network.order.lock();
            let mut applied = Applied::default();
            let mut membership = network.membership.write();
            for (record, decision) in records.iter().zip(&decisions) {
                applied.extend(order.apply_decision(Some(&mut chain), decision));
                if let Some(change) = membership.apply(record.height, decision) {
                    tracing::info!(
                        height = record.height + 1,
                        added = change.add.len(),
                        removed = change.remove.len(),
                        validators = membership.current().len(),
                        "validator set changed"
                    );
                }
            }
            drop(membership);
            chain.set_finality_tags(order.tags());
            let restamp = network.own_unincluded(&chain, &applied.late);
            self.refresh_pull_from(network, &order);
            (applied, restamp)
        };
        debug!(heights = records.len(), blocks = applied.blocks.len(), "decided heights applied");
        network.decided.lock().extend(records);
        self.cut_segments();
        self.after_applied(applied, restamp)
    }

    /// The peer id of the validator whose engine address is `address` (any key that ever held
    /// a seat).
    pub fn peer_of_engine_address(&self, address: &[u8]) -> Option<String> {
        let network = self.network.as_ref()?;
        network.seats_where(|a| a == address).into_iter().next().map(|(_, peer)| peer)
    }

    /// The validator set that decides `height` (membership changes decided below it
    /// included); empty outside network mode.
    pub fn validators_at(&self, height: u64) -> Vec<super::ValidatorKey> {
        self.network
            .as_ref()
            .map(|n| n.membership.read().set_at(height).to_vec())
            .unwrap_or_default()
    }

    /// Signs this validator's approval of a membership change and orders it like any
    /// envelope (stamped, recorded, declared). The change takes effect once more than two
    /// thirds of the current validators' approvals are decided. Returns the change's id.
    pub fn approve_membership_change(&self, change: super::MembershipChange) -> Result<B256> {
        let network = self.network_state()?;
        network.seat_or_refuse("membership changes")?;
        let change = change.normalized();
        network.membership.read().rules(&network.me, &change).map_err(EvmError::InvalidParams)?;
        let signature = network
            .options
            .keypair
            .sign(&super::approval_bytes(network.options.identity, &change))
            .map_err(|e| EvmError::Internal(format!("cannot sign the approval: {e}")))?;
        let payload = postcard::to_allocvec(&super::Approval { change: change.clone(), signature })
            .map_err(|e| EvmError::Internal(e.to_string()))?;
        self.submit_app_envelope(super::MEMBERSHIP_APP, network.me.to_vec(), now_ms(), payload)?;
        Ok(change.id())
    }

    /// The decided heights this node holds, lowest first (what the engine serves to peers
    /// that sync).
    pub fn decided_heights(&self) -> Vec<DecidedHeight> {
        self.network.as_ref().map(|n| n.decided.lock().clone()).unwrap_or_default()
    }

    /// Publishes rebuilt blocks and stamps this gateway's late envelopes again (the caller
    /// holds the mutation lock).
    pub(super) fn after_applied(&self, applied: Applied, restamp: Vec<Envelope>) -> Result<()> {
        for block in applied.blocks {
            let _ = self.new_blocks.send(block);
        }
        if !restamp.is_empty() {
            self.restamp(restamp)?;
        }
        Ok(())
    }
}

impl NetworkState {
    /// The validators whose precommits a decided height's certificate holds: seat and peer
    /// id (empty without a certificate or a verifier).
    pub(crate) fn signer_seats(&self, record: &DecidedHeight) -> Vec<(u64, String)> {
        let Some(verifier) = self.verifier.get() else { return Vec::new() };
        let signed = verifier.signers(record);
        self.seats_where(|address| signed.iter().any(|s| s.as_slice() == address))
    }

    /// The seats (with their peer ids) whose key's engine address passes `wanted`.
    fn seats_where(&self, wanted: impl Fn(&[u8]) -> bool) -> Vec<(u64, String)> {
        let Some(verifier) = self.verifier.get() else { return Vec::new() };
        let membership = self.membership.read();
        (0..membership.seat_count())
            .filter_map(|seat| {
                let key = membership.key_of(seat)?;
                wanted(&verifier.address_of(key)).then(|| Some((seat, super::peer_id_of(key)?)))?
            })
            .collect()
    }

    /// When an epoch closes: `grace_ms` after its end.
    pub(crate) fn closes_at(&self, epoch: u64) -> u64 {
        (epoch + 1).saturating_mul(self.options.epoch_ms).saturating_add(self.options.grace_ms)
    }
}
