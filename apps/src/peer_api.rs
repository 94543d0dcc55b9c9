//! What a client asks of the peer apps: declare (fire and forget, returns the intent id at
//! once) and read what came back, with the YES / NO / silence of every peer.

use std::collections::BTreeMap;

use alloy_primitives::Bytes;
use ir3_foundation::{
    Intent, IntentId,
    apps::SeatAgreement,
    net::{IntentInsight, P2pHandle, PeerId},
    order::{HlcStamp, now_ms},
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    SignedOp,
    error::{AppError, Result},
    peer::{
        COMPUTE_APP, CallBody, Fact, MAX_CODE_BYTES, MAX_LOCATION_BYTES, MAX_TEXT_BYTES,
        MESSAGING_APP, Message, MessageBody, ObservationAnswer, PeerApps, TERRITORY_APP,
        message_nonce, signed_fields,
    },
    reputation::{NEUTRAL, Reputation, reputations},
};

/// The weight of this node's own observation in a territory consensus.
pub const SELF_WEIGHT: f64 = 1.0;

/// Signs a peer-app operation for an account: given the operation's fields (`app`, `op`, …),
/// adds `from` and `seq` and returns the signed operation (the RPC layer signs for the node's
/// dev accounts).
pub type Sign<'a> = &'a dyn Fn(serde_json::Map<String, Value>) -> Result<SignedOp>;

fn sign_fields(sign: Option<Sign<'_>>, fields: Value) -> Result<Option<SignedOp>> {
    match (sign, fields) {
        (Some(sign), Value::Object(fields)) => sign(fields).map(Some),
        _ => Ok(None),
    }
}

/// One contribution to a territory consensus.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contribution {
    /// The peer (`self` for this node).
    pub peer: String,
    /// The account that signed the observation, if one did (checked).
    pub account: Option<alloy_primitives::Address>,
    /// Its value.
    pub value: f64,
    /// Its weight (its reputation score).
    pub weight: f64,
}

/// A territory consensus for one location.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consensus {
    /// The location.
    pub location: String,
    /// The want declared for it, if any.
    pub intent: Option<IntentId>,
    /// The reputation-weighted mean of the contributions.
    pub value: Option<f64>,
    /// The reputation-weighted median.
    pub median: Option<f64>,
    /// Who contributed what.
    pub contributors: Vec<Contribution>,
    /// Peers that answered NO (with their reasons).
    pub refused: Vec<ir3_foundation::net::NoAnswer>,
    /// Peers that stayed silent.
    pub silent: Vec<String>,
}

/// One distinct result of a compute call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeResult {
    /// The return data, or the error.
    pub output: std::result::Result<Bytes, String>,
    /// The peers that returned it.
    pub peers: Vec<String>,
    /// Their reputation, summed.
    pub weight: f64,
}

/// A compute call's answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeReport {
    /// The call's intent.
    pub intent: IntentId,
    /// `agree` (one result), `disagree` (several), or `pending` (none yet).
    pub status: &'static str,
    /// The result with the most reputation behind it.
    pub result: Option<std::result::Result<Bytes, String>>,
    /// Every distinct result.
    pub results: Vec<ComputeResult>,
    /// Peers that said YES but have not sent a result yet.
    pub running: Vec<String>,
    /// Peers that answered NO.
    pub refused: Vec<ir3_foundation::net::NoAnswer>,
    /// Peers that stayed silent.
    pub silent: Vec<String>,
}

fn stamp() -> HlcStamp {
    HlcStamp { wall_ms: now_ms(), logical: 0 }
}

fn too_long(what: &str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(AppError::Invalid(format!("{what} of {len} bytes is longer than {max}")));
    }
    Ok(())
}

impl PeerApps {
    /// Connects the apps to the network (network mode).
    pub fn attach(&self, p2p: P2pHandle) {
        let _ = self.p2p.set(p2p);
    }

    /// Sets how compute calls are run.
    pub fn set_evaluator(&self, evaluator: std::sync::Arc<dyn crate::peer::Evaluator>) {
        let _ = self.evaluator.set(evaluator);
    }

    fn network(&self) -> Result<&P2pHandle> {
        self.p2p.get().ok_or_else(|| {
            AppError::Ordering("this node is not in network mode (start it with --p2p-port)".into())
        })
    }

    /// Sends a message to one peer (signed by an account with `sign`); the YES is its
    /// delivery receipt.
    pub fn send_message(&self, to: &str, text: String, sign: Option<Sign<'_>>) -> Result<IntentId> {
        too_long("message", text.len(), MAX_TEXT_BYTES)?;
        let peer: PeerId =
            to.parse().map_err(|e| AppError::Invalid(format!("`to` is not a peer id: {e}")))?;
        let body = message_body(None, text, sign)?;
        let payload = postcard::to_allocvec(&body).map_err(|e| AppError::Invalid(e.to_string()))?;
        let intent = Intent::new(MESSAGING_APP, "message", payload);
        self.network()?.push_intent_to(intent, stamp(), vec![peer]).map_err(AppError::Series)
    }

    /// Broadcasts a message on a topic (signed by an account with `sign`); peers following it
    /// answer YES.
    pub fn broadcast(
        &self,
        topic: String,
        text: String,
        sign: Option<Sign<'_>>,
    ) -> Result<IntentId> {
        too_long("message", text.len(), MAX_TEXT_BYTES)?;
        too_long("topic", topic.len(), MAX_LOCATION_BYTES)?;
        let body = message_body(Some(topic), text, sign)?;
        let payload = postcard::to_allocvec(&body).map_err(|e| AppError::Invalid(e.to_string()))?;
        let intent = Intent::new(MESSAGING_APP, "message", payload);
        self.network()?.push_intent(intent, stamp()).map_err(AppError::Series)
    }

    /// Follows (or stops following) a topic.
    pub fn follow(&self, topic: String, follow: bool) {
        self.record(Fact::Followed { topic, follow });
    }

    /// Blocks (or unblocks) a sender: its messages are answered NO.
    pub fn block(&self, peer: String, blocked: bool) {
        self.record(Fact::Blocked { peer, blocked });
    }

    /// The inbox, oldest first.
    pub fn inbox(&self) -> Vec<Message> {
        self.facts.lock().inbox.clone()
    }

    /// Who answered what to an intent this node declared.
    pub fn responses(&self, intent: &IntentId) -> Option<IntentInsight> {
        self.p2p.get()?.intent_responses(intent)
    }

    /// Records an observation of a location (signed by an account with `sign`).
    pub fn observe(&self, location: String, value: f64, sign: Option<Sign<'_>>) -> Result<()> {
        too_long("location", location.len(), MAX_LOCATION_BYTES)?;
        if !value.is_finite() {
            return Err(AppError::Invalid("an observation must be a finite number".into()));
        }
        let at_ms = now_ms();
        let fields = json!({"app": TERRITORY_APP, "op": "observe", "location": location,
                            "value": value, "atMs": at_ms});
        let signed = sign_fields(sign, fields)?;
        self.record(Fact::Observation { location, value, at_ms, signed });
        Ok(())
    }

    /// Declares `want_observations` for a location.
    pub fn want_observations(&self, location: String) -> Result<IntentId> {
        too_long("location", location.len(), MAX_LOCATION_BYTES)?;
        let intent = Intent::new(TERRITORY_APP, "want_observations", location.clone().into_bytes());
        let id = intent.id();
        self.record(Fact::Asked { intent: id, app: TERRITORY_APP.into(), subject: location });
        self.network()?.push_intent(intent, stamp()).map_err(AppError::Series)
    }

    /// The consensus on a location: this node's latest observation and the peers' answers to
    /// its want, weighted by reputation.
    pub fn consensus(&self, location: &str, agreement: &[SeatAgreement]) -> Consensus {
        let scores = self.scores(agreement);
        let facts = self.facts.lock();
        let intent = facts
            .asked
            .iter()
            .find(|(_, (app, subject))| app == TERRITORY_APP && subject == location)
            .map(|(id, _)| *id);
        let mut contributors = Vec::new();
        if let Some((value, _, signed)) = facts.observations.get(location).and_then(|o| o.last()) {
            contributors.push(Contribution {
                peer: "self".into(),
                account: observer(signed.as_ref(), location, *value),
                value: *value,
                weight: SELF_WEIGHT,
            });
        }
        if let Some(answers) = intent.and_then(|id| facts.answers.get(&id)) {
            for (peer, detail) in answers {
                let Ok(answer) = postcard::from_bytes::<ObservationAnswer>(detail) else {
                    continue;
                };
                let weight = scores.get(peer).copied().unwrap_or(NEUTRAL);
                contributors.push(Contribution {
                    peer: peer.clone(),
                    account: observer(answer.signed.as_ref(), location, answer.value),
                    value: answer.value,
                    weight,
                });
            }
        }
        drop(facts);
        let insight = intent.and_then(|id| self.responses(&id)).unwrap_or_default();
        let total: f64 = contributors.iter().map(|c| c.weight).sum();
        let value = (total > 0.0)
            .then(|| contributors.iter().map(|c| c.value * c.weight).sum::<f64>() / total);
        Consensus {
            location: location.to_string(),
            intent,
            value,
            median: weighted_median(&contributors),
            contributors,
            refused: insight.no,
            silent: insight.silence,
        }
    }

    /// Runs a pure function on the peers: EVM bytecode and calldata.
    pub fn call(&self, code: Bytes, data: Bytes) -> Result<IntentId> {
        too_long("code", code.len(), MAX_CODE_BYTES)?;
        too_long("data", data.len(), MAX_CODE_BYTES)?;
        let payload = postcard::to_allocvec(&CallBody { code, data })
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let intent = Intent::new(COMPUTE_APP, "call", payload);
        let id = intent.id();
        self.record(Fact::Asked { intent: id, app: COMPUTE_APP.into(), subject: String::new() });
        self.network()?.push_intent(intent, stamp()).map_err(AppError::Series)
    }

    /// The answers to a compute call, grouped by result.
    pub fn compute_report(&self, intent: IntentId, agreement: &[SeatAgreement]) -> ComputeReport {
        let scores = self.scores(agreement);
        let answers = self.facts.lock().answers.get(&intent).cloned().unwrap_or_default();
        let mut groups: BTreeMap<alloy_primitives::B256, ComputeResult> = BTreeMap::new();
        for (peer, detail) in &answers {
            let Ok(output) = postcard::from_bytes::<std::result::Result<Bytes, String>>(detail)
            else {
                continue;
            };
            let group = groups
                .entry(alloy_primitives::keccak256(detail))
                .or_insert_with(|| ComputeResult { output, peers: Vec::new(), weight: 0.0 });
            group.peers.push(peer.clone());
            group.weight += scores.get(peer).copied().unwrap_or(NEUTRAL);
        }
        let mut results: Vec<ComputeResult> = groups.into_values().collect();
        results.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let insight = self.responses(&intent).unwrap_or_default();
        let running =
            insight.yes.iter().filter(|p| !answers.contains_key(*p)).cloned().collect::<Vec<_>>();
        ComputeReport {
            intent,
            status: match results.len() {
                0 => "pending",
                1 => "agree",
                _ => "disagree",
            },
            result: results.first().map(|r| r.output.clone()),
            results,
            running,
            refused: insight.no,
            silent: insight.silence,
        }
    }

    /// Every known peer's reputation (this node's own excluded).
    pub fn reputations(&self, agreement: &[SeatAgreement]) -> Vec<Reputation> {
        let Some(p2p) = self.p2p.get() else { return reputations(&[], agreement) };
        let me = p2p.peer_id().to_string();
        let mut all = reputations(&p2p.peers(), agreement);
        all.retain(|r| r.node != me);
        all
    }

    fn scores(&self, agreement: &[SeatAgreement]) -> BTreeMap<String, f64> {
        self.reputations(agreement).into_iter().map(|r| (r.node, r.score)).collect()
    }
}

/// A message's body, signed when `sign` is given.
fn message_body(
    topic: Option<String>,
    text: String,
    sign: Option<Sign<'_>>,
) -> Result<MessageBody> {
    let nonce = message_nonce();
    let fields = json!({"app": MESSAGING_APP, "op": "send", "text": text, "topic": topic,
                        "nonce": nonce});
    let signed = sign_fields(sign, fields)?;
    Ok(MessageBody { topic, text, nonce, signed })
}

/// The account that signed an observation of `location` with `value`, if the signature
/// covers them.
fn observer(
    signed: Option<&SignedOp>,
    location: &str,
    value: f64,
) -> Option<alloy_primitives::Address> {
    let fields = [("location", location.into()), ("value", value.into())];
    signed_fields(signed?, TERRITORY_APP, "observe", &fields).ok()
}

/// The value at which half the weight lies on each side.
fn weighted_median(contributions: &[Contribution]) -> Option<f64> {
    let mut sorted: Vec<&Contribution> = contributions.iter().filter(|c| c.weight > 0.0).collect();
    sorted.sort_by(|a, b| a.value.total_cmp(&b.value));
    let total: f64 = sorted.iter().map(|c| c.weight).sum();
    let mut seen = 0.0;
    for c in &sorted {
        seen += c.weight;
        if seen * 2.0 >= total {
            return Some(c.value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(value: f64, weight: f64) -> Contribution {
        Contribution { peer: String::new(), account: None, value, weight }
    }

    #[test]
    fn weighted_median_follows_the_weight() {
        assert_eq!(weighted_median(&[]), None);
        assert_eq!(weighted_median(&[c(1.0, 1.0), c(2.0, 1.0), c(100.0, 1.0)]), Some(2.0));
        // A heavy, trusted observer pulls the median to its value.
        assert_eq!(weighted_median(&[c(1.0, 0.1), c(2.0, 0.1), c(100.0, 1.0)]), Some(100.0));
    }
}
