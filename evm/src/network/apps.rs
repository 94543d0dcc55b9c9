//! Native apps' envelopes in the gateway's ordering: checked by their app (set with
//! [`EvmNode::set_app_check`]), stamped, recorded, admitted and declared like transactions, and
//! read back in epoch order ([`OrderedLog`]). They ride the same epochs and decided heights (which
//! carry every envelope); the EVM skips them when it builds blocks.

use std::sync::Arc;

use ir3_foundation::{
    Intent,
    apps::{
        AppEpoch, EnvelopeCheck, ORDER_APP, ORDER_ENVELOPE, OrderedLog, SeatAgreement, Verdict,
    },
    order::Envelope,
};

use crate::{
    error::{EvmError, Result},
    events::EVM_APP,
    node::EvmNode,
};

impl EvmNode {
    /// Sets the checks of native apps' envelopes (once; later calls are ignored).
    pub fn set_app_check(&self, check: Arc<dyn EnvelopeCheck>) {
        if let Some(network) = &self.network {
            let _ = network.app_check.set(check);
        }
    }

    /// What the native app thinks of a peer's envelope; `Err` refuses it.
    pub(crate) fn app_verdict(&self, envelope: &Envelope) -> std::result::Result<Verdict, String> {
        if envelope.app == super::MEMBERSHIP_APP {
            let network = self.network.as_ref().ok_or("not in network mode")?;
            let membership = network.membership.read();
            let approval = membership.verify_signature(envelope)?;
            return Ok(match membership.rules(&envelope.account, &approval.change) {
                Ok(()) => Verdict::Valid,
                Err(reason) => Verdict::BreaksRule(reason),
            });
        }
        let check = self
            .network
            .as_ref()
            .and_then(|n| n.app_check.get())
            .filter(|c| c.handles(&envelope.app))
            .ok_or_else(|| format!("no app {} on this node", envelope.app))?;
        check.check(envelope)
    }

    /// Checks a native app's envelope from a peer before it is admitted.
    pub(crate) fn check_app_envelope(&self, envelope: &Envelope) -> Result<()> {
        self.app_verdict(envelope).map(|_| ()).map_err(EvmError::InvalidParams)
    }

    /// Stamps a native app's signed operation, records and admits it, and declares it to the
    /// peers (network mode; observers refuse).
    pub fn submit_app_envelope(
        &self,
        app: &str,
        account: Vec<u8>,
        sequence: u64,
        payload: Vec<u8>,
    ) -> Result<()> {
        let network = self.network_state()?;
        if app == EVM_APP {
            return Err(EvmError::InvalidParams("send EVM transactions as transactions".into()));
        }
        let seat = network.seat_or_refuse("operations")?;
        let _mutation = self.mutation.lock();
        let stamp = network.local_stamp(&network.order.lock());
        let envelope =
            Envelope { app: app.to_string(), account, sequence, payload, stamp, gateway: seat };
        self.apply_inbound(vec![envelope.clone()])?;
        let bytes = postcard::to_allocvec(&envelope)
            .map_err(|e| EvmError::Internal(format!("cannot encode envelope: {e}")))?;
        network.declare(Intent::new(ORDER_APP, ORDER_ENVELOPE, bytes), envelope.stamp);
        Ok(())
    }
}

impl OrderedLog for EvmNode {
    fn app_epochs(&self, from_epoch: u64) -> Vec<AppEpoch> {
        let Some(network) = &self.network else { return Vec::new() };
        let order = network.order.lock();
        let applied = order.applied();
        let epoch_ms = network.options.epoch_ms;
        let book = order.builder.book();
        order
            .builder
            .built_epochs_from(from_epoch)
            .filter_map(|epoch| {
                let ordered = book.ordered(epoch);
                let native = |e: &Envelope| e.app != EVM_APP;
                let envelopes: Vec<Envelope> =
                    ordered.envelopes.into_iter().filter(native).collect();
                let conflicts: Vec<Envelope> =
                    ordered.conflicts.into_iter().filter(native).collect();
                (!envelopes.is_empty() || !conflicts.is_empty()).then(|| AppEpoch {
                    epoch,
                    start_ms: epoch.saturating_mul(epoch_ms),
                    is_final: applied.is_some_and(|a| epoch <= a),
                    envelopes,
                    conflicts,
                })
            })
            .collect()
    }

    fn agreement(&self) -> Vec<SeatAgreement> {
        let Some(network) = self.network.as_ref() else { return Vec::new() };
        // A validator agreed with every decided height whose certificate
        // holds its precommit (a missing precommit is a slow or absent validator, not a
        // disagreement). Counted once per height, as heights are asked about.
        let decided = network.decided.lock();
        let mut tally = network.agreement.lock();
        let (counted, seats) = &mut *tally;
        for record in decided.iter().skip(*counted) {
            for (seat, peer) in network.signer_seats(record) {
                let entry = seats.entry(seat).or_insert_with(|| SeatAgreement {
                    seat,
                    peer: Some(peer),
                    agreed: 0,
                    disagreed: 0,
                });
                entry.agreed += 1;
            }
        }
        *counted = decided.len();
        seats.values().cloned().collect()
    }

    fn submit(
        &self,
        app: &str,
        account: Vec<u8>,
        sequence: u64,
        payload: Vec<u8>,
    ) -> std::result::Result<(), String> {
        self.submit_app_envelope(app, account, sequence, payload).map_err(|e| e.to_string())
    }
}
