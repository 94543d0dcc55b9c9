//! The app side of the channel interface: answers the engine's [`AppMsg`]s.
//!
//! It holds the values seen at the current height (built here or received as proposal parts),
//! proposals for later heights until the engine reaches them, and the decided history (served
//! to peers that sync).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use alloy_primitives::B256;
use bytes::Bytes;
use malachitebft_app_channel::app::engine::host::{Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    Context as _, ExtendedCommitCertificate, HeightParams, Round, Validity, VoteExtensions,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, ProposedValue};
use malachitebft_app_channel::{AppMsg, NetworkMsg};
use tokio::sync::mpsc;

use crate::codec::{decode, encode};
use crate::context::{Height, Ir3Context, ProposalPart, ValidatorSet, Value, ValueId};
use crate::engine::{Decided, Misbehaviour, NetworkInfo, ValueSource};
use crate::error::{ConsensusError, Result};
use crate::signing::Ir3Verifier;

/// Proposals for heights above the current one that are kept at most (a peer far ahead cannot
/// fill memory).
const MAX_PENDING_HEIGHTS: u64 = 16;
/// Distinct values kept for the current height (proposal parts are not signed yet: a peer
/// relaying forged parts cannot fill memory or the disk).
const MAX_SEEN: usize = 256;

pub(crate) struct AppState {
    info: NetworkInfo,
    source: Arc<dyn ValueSource>,
    decided_tx: mpsc::Sender<Decided>,
    /// Decided heights, contiguous from 1.
    history: BTreeMap<Height, Decided>,
    /// The height the engine is working on.
    current: Height,
    /// Values this node proposed at the current height, by round.
    built: HashMap<Round, Value>,
    /// Every value seen at the current height, with the part it came in (for restreams).
    seen: HashMap<ValueId, ProposalPart>,
    /// Parts for later heights, validated when the engine gets there.
    pending: BTreeMap<Height, Vec<ProposalPart>>,
    /// Where `seen` is kept across restarts: the engine's write-ahead log replays proposals and
    /// votes of the current height, and may then decide a value this process never received.
    seen_path: PathBuf,
    /// Where misbehaviour is reported (none: logged only).
    misbehaviour: Option<mpsc::Sender<Misbehaviour>>,
}

impl AppState {
    pub(crate) fn new(
        info: NetworkInfo,
        source: Arc<dyn ValueSource>,
        history: Vec<Decided>,
        decided_tx: mpsc::Sender<Decided>,
        seen_path: PathBuf,
    ) -> Self {
        let history: BTreeMap<Height, Decided> =
            history.into_iter().map(|d| (Height(d.height), d)).collect();
        let current = Height(history.keys().next_back().map_or(1, |h| h.0 + 1));
        Self {
            info,
            source,
            decided_tx,
            history,
            current,
            built: HashMap::new(),
            seen: HashMap::new(),
            pending: BTreeMap::new(),
            seen_path,
            misbehaviour: None,
        }
        .reloaded()
    }

    /// Reports misbehaviour to `tx`.
    pub(crate) fn reporting(mut self, tx: mpsc::Sender<Misbehaviour>) -> Self {
        self.misbehaviour = Some(tx);
        self
    }

    fn report(&self, report: Misbehaviour) {
        tracing::warn!(?report.validator, ?report.peer, reason = %report.reason, "misbehaviour");
        if let Some(tx) = &self.misbehaviour
            && tx.try_send(report).is_err()
        {
            tracing::debug!("misbehaviour report dropped (queue full)");
        }
    }

    /// Takes back the values seen at the current height before a restart (and this node's own
    /// proposals among them: a round's proposal must be the same after a restart).
    fn reloaded(mut self) -> Self {
        let Ok(bytes) = std::fs::read(&self.seen_path) else { return self };
        match decode::<(Height, Vec<ProposalPart>)>(&bytes) {
            Ok((height, parts)) if height == self.current => {
                for part in parts {
                    if part.proposer == self.info.address && part.pol_round == Round::Nil {
                        self.built.insert(part.round, part.value.clone());
                    }
                    self.seen.insert(part.value.id(), part);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%e, path = %self.seen_path.display(), "unreadable; ignored"),
        }
        self
    }

    /// Records a value seen at the current height, durably, before the engine is told of it.
    fn see(&mut self, part: ProposalPart) -> Result<()> {
        if self.seen.insert(part.value.id(), part).is_some() {
            return Ok(());
        }
        let parts: Vec<&ProposalPart> = self.seen.values().collect();
        let bytes = encode(&(self.current, parts))?;
        let tmp = self.seen_path.with_extension("tmp");
        let io = |e: std::io::Error| ConsensusError::Engine(format!("{}: {e}", tmp.display()));
        {
            let mut file = std::fs::File::create(&tmp).map_err(io)?;
            std::io::Write::write_all(&mut file, &bytes).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.seen_path).map_err(io)
    }

    /// The engine's parameters for `height`: the network file's, with the validator set that
    /// decides it (membership changes decided below it included).
    fn params_at(&self, height: Height) -> HeightParams<Ir3Context> {
        let mut params = self.info.params.clone();
        if let Some(set) = self.source.validator_set(height.0) {
            params.validator_set = set;
        }
        params
    }

    /// The validator set that decides `height`.
    fn set_at(&self, height: Height) -> ValidatorSet {
        self.source.validator_set(height.0).unwrap_or_else(|| self.info.validators.clone())
    }

    /// Id of the value decided at the previous height (the network identity below height 1).
    fn parent(&self) -> B256 {
        self.history.values().next_back().map_or(self.info.identity, |d| d.value.id().0)
    }

    /// Whether a part is a valid proposal at the current height: right proposer for its round,
    /// right parent, payload accepted by the source.
    fn validity(&self, part: &ProposalPart) -> Validity {
        let expected =
            Ir3Context.select_proposer(&self.set_at(part.height), part.height, part.round).address;
        Validity::from_bool(
            part.height == self.current
                && part.proposer == expected
                && part.value.parent == self.parent()
                && self.source.check(part.height.0, &part.value.payload),
        )
    }

    /// Whether a part carries a valid signature of the validator it names as proposer.
    fn signed_by_proposer(&self, part: &ProposalPart) -> bool {
        use malachitebft_app_channel::app::types::core::ValidatorSet as _;
        self.set_at(part.height)
            .get_by_address(&part.proposer)
            .is_some_and(|v| Ir3Verifier::new(self.info.identity).verify_part(part, &v.public_key))
    }

    /// A proposal part delivered by peer `from`: one not signed by the validator it names as
    /// proposer (an impostor claiming its seat, or a relay that forged it) is dropped and
    /// reported against `from`; one for the current height is recorded and judged; one for a
    /// near later height is kept until the engine gets there.
    pub(crate) fn receive_part(
        &mut self,
        from: &str,
        part: ProposalPart,
    ) -> Result<Option<ProposedValue<Ir3Context>>> {
        if !self.signed_by_proposer(&part) {
            self.report(Misbehaviour {
                validator: None,
                peer: Some(from.to_string()),
                reason: format!(
                    "proposal part at height {} not signed by its proposer {}",
                    part.height, part.proposer
                ),
            });
            return Ok(None);
        }
        if part.height == self.current && self.seen.len() < MAX_SEEN {
            self.see(part.clone())?;
            return Ok(Some(self.proposed_value(&part)));
        }
        if part.height > self.current && part.height.0 - self.current.0 <= MAX_PENDING_HEIGHTS {
            let parts = self.pending.entry(part.height).or_default();
            if parts.len() < 64 {
                parts.push(part);
            }
        }
        Ok(None)
    }

    fn proposed_value(&self, part: &ProposalPart) -> ProposedValue<Ir3Context> {
        ProposedValue {
            height: part.height,
            round: part.round,
            valid_round: part.pol_round,
            proposer: part.proposer,
            value: part.value.clone(),
            validity: self.validity(part),
        }
    }

    fn start_height(&mut self, height: Height) {
        self.current = height;
        self.built.clear();
        self.seen.clear();
        self.pending = self.pending.split_off(&height);
    }

    fn stream(part: &ProposalPart) -> StreamMessage<ProposalPart> {
        let mut id = part.height.0.to_be_bytes().to_vec();
        id.extend_from_slice(&part.round.as_i64().to_be_bytes());
        StreamMessage::new(StreamId::new(Bytes::from(id)), 0, StreamContent::Data(part.clone()))
    }

    async fn publish(
        network: &mpsc::Sender<NetworkMsg<Ir3Context>>,
        part: &ProposalPart,
    ) -> Result<()> {
        network
            .send(NetworkMsg::PublishProposalPart(Self::stream(part)))
            .await
            .map_err(|_| ConsensusError::Engine("network channel closed".into()))
    }

    fn reply<T>(reply: tokio::sync::oneshot::Sender<T>, value: T) {
        if reply.send(value).is_err() {
            tracing::debug!("the engine dropped a reply channel");
        }
    }

    pub(crate) async fn handle(
        &mut self,
        msg: AppMsg<Ir3Context>,
        network: &mpsc::Sender<NetworkMsg<Ir3Context>>,
    ) -> Result<()> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let height = self.current;
                self.start_height(height);
                tracing::info!(%height, "consensus ready");
                Self::reply(reply, (height, self.params_at(height)));
            }
            AppMsg::StartedRound { height, round, proposer, role, reply_value } => {
                tracing::debug!(%height, %round, %proposer, ?role, "started round");
                if height != self.current {
                    self.start_height(height);
                }
                // Parts that arrived before the engine reached this height are judged now.
                let early = self.pending.remove(&height).unwrap_or_default();
                let mut values = Vec::new();
                for part in early {
                    self.see(part.clone())?;
                    if part.round == round {
                        values.push(self.proposed_value(&part));
                    } else {
                        self.pending.entry(height).or_default().push(part);
                    }
                }
                if let Some(value) = self.built.get(&round) {
                    values.push(ProposedValue {
                        height,
                        round,
                        valid_round: Round::Nil,
                        proposer: self.info.address,
                        value: value.clone(),
                        validity: Validity::Valid,
                    });
                }
                Self::reply(reply_value, values);
            }
            AppMsg::GetValue { height, round, timeout, reply } => {
                let value = match self.built.get(&round) {
                    Some(value) => value.clone(),
                    None => {
                        let payload = tokio::time::timeout(
                            timeout,
                            self.source.propose(height.0, round.as_u32().unwrap_or(0)),
                        )
                        .await
                        .unwrap_or_default();
                        Value::new(self.parent(), payload)
                    }
                };
                self.built.insert(round, value.clone());
                let mut part = ProposalPart {
                    height,
                    round,
                    pol_round: Round::Nil,
                    proposer: self.info.address,
                    value: value.clone(),
                    signature: Bytes::new(),
                };
                self.info.signer.sign_part(&mut part);
                self.see(part.clone())?;
                Self::reply(reply, LocallyProposedValue::new(height, round, value));
                Self::publish(network, &part).await?;
            }
            AppMsg::ExtendVote { reply, .. } => Self::reply(reply, None),
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                Self::reply(reply, extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
            }
            AppMsg::RestreamProposal { height, value_id, .. } => {
                if height == self.current
                    && let Some(part) = self.seen.get(&value_id)
                {
                    Self::publish(network, part).await?;
                }
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let min = self.history.keys().next().copied().unwrap_or(Height(1));
                Self::reply(reply, min);
            }
            AppMsg::ReceivedProposalPart { part, reply, from, .. } => {
                let answer = match part.content {
                    StreamContent::Data(part) => self.receive_part(&from.to_string(), part)?,
                    _ => None,
                };
                Self::reply(reply, answer);
            }
            AppMsg::Decided { certificate, reply, .. } => {
                let height = certificate.height;
                match self.seen.get(&certificate.value_id).map(|p| p.value.clone()) {
                    Some(value) if height == self.current => {
                        let decided = Decided {
                            height: height.0,
                            round: certificate.round.as_u32().unwrap_or(0),
                            value,
                            certificate,
                        };
                        tracing::info!(%height, id = %decided.value.id(), "decided");
                        self.source.commit(&decided).await.map_err(|e| {
                            ConsensusError::Engine(format!("committing height {height}: {e}"))
                        })?;
                        self.history.insert(height, decided.clone());
                        if self.decided_tx.send(decided).await.is_err() {
                            tracing::debug!("nobody listens to decided heights");
                        }
                    }
                    // Cannot happen while `seen` is kept durably; if it does, the height is
                    // restarted at `Finalized` and value sync brings the certified value.
                    _ => tracing::warn!(
                        %height,
                        id = %certificate.value_id,
                        "decided a value this node does not hold; the height will be synced"
                    ),
                }
                Self::reply(reply, ());
            }
            AppMsg::Finalized { certificate, evidence, reply, .. } => {
                let height = certificate.height;
                for (validator, pairs) in evidence.votes.iter() {
                    self.report(Misbehaviour {
                        validator: Some(*validator),
                        peer: None,
                        reason: format!(
                            "equivocation: {} pair(s) of conflicting votes up to height {height}",
                            pairs.len()
                        ),
                    });
                }
                for (validator, pairs) in evidence.proposals.iter() {
                    self.report(Misbehaviour {
                        validator: Some(*validator),
                        peer: None,
                        reason: format!(
                            "equivocation: {} pair(s) of conflicting proposals up to height \
                             {height}",
                            pairs.len()
                        ),
                    });
                }
                let next = match self.history.get_mut(&height) {
                    Some(d) if d.value.id() == certificate.value_id => {
                        // The finalized certificate may carry late precommits: keep the larger.
                        if certificate.commit_signatures.len()
                            > d.certificate.commit_signatures.len()
                        {
                            d.certificate = certificate;
                        }
                        let next = Height(height.0 + 1);
                        self.start_height(next);
                        Next::Start(next, self.params_at(next))
                    }
                    _ => Next::Restart(height, self.params_at(height)),
                };
                Self::reply(reply, next);
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let values = self
                    .history
                    .range(range)
                    .map(|(_, d)| {
                        let cert =
                            ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                                d.certificate.clone(),
                                VoteExtensions::default(),
                            );
                        Ok(RawDecidedValue::new(encode(&d.value)?, cert))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Self::reply(reply, values);
            }
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let outcome = match decode::<Value>(&value_bytes) {
                    Ok(value) => {
                        let part = ProposalPart {
                            height,
                            round,
                            pol_round: Round::Nil,
                            proposer,
                            value,
                            signature: Bytes::new(),
                        };
                        if height == self.current {
                            self.see(part.clone())?;
                        }
                        let mut proposed = self.proposed_value(&part);
                        // A synced value comes with a certificate: only the chain link is ours
                        // to check (the proposer of its round is not known here).
                        proposed.validity = Validity::from_bool(
                            height == self.current && part.value.parent == self.parent(),
                        );
                        SyncedValueOutcome::Verdict(proposed)
                    }
                    Err(_) => SyncedValueOutcome::PeerFault,
                };
                Self::reply(reply, outcome);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! An impostor claiming a validator's seat with its own key.

    use malachitebft_app_channel::app::types::core::{HeightParams, Round};

    use super::*;
    use crate::{Address, KeyFile, NetworkFile, signing::Ir3Signer};

    struct Accepting;

    #[async_trait::async_trait]
    impl ValueSource for Accepting {
        async fn propose(&self, _height: u64, _round: u32) -> Bytes {
            Bytes::new()
        }
    }

    #[test]
    fn a_part_signed_by_another_key_than_its_proposers_is_dropped_and_reported() {
        let (file, keys) = NetworkFile::generate(4, 1337, serde_json::Value::Null).unwrap();
        let identity = file.identity();
        let validators = file.validator_set().unwrap();
        let key = keys[0].key().unwrap();
        let info = NetworkInfo {
            identity,
            validators: validators.clone(),
            params: HeightParams::new(validators, file.engine.timeouts(), None),
            address: Address::from_public_key(&key.public_key()),
            signer: Ir3Signer::new(key, identity),
        };
        let dir = tempfile::tempdir().unwrap();
        let (decided_tx, _decided) = mpsc::channel(4);
        let (reports_tx, mut reports) = mpsc::channel(4);
        let mut app = AppState::new(
            info,
            Arc::new(Accepting),
            Vec::new(),
            decided_tx,
            dir.path().join("seen.postcard"),
        )
        .reporting(reports_tx);

        // Validator 1's seat, claimed by a key outside the set.
        let seat = Address::from_public_key(&keys[1].key().unwrap().public_key());
        let part = |signer: &Ir3Signer| {
            let mut part = ProposalPart {
                height: Height(1),
                round: Round::new(0),
                pol_round: Round::Nil,
                proposer: seat,
                value: Value::new(identity, Bytes::from_static(b"gateway-1 h1 r0")),
                signature: Bytes::new(),
            };
            signer.sign_part(&mut part);
            part
        };
        let impostor = Ir3Signer::new(KeyFile::generate("impostor").key().unwrap(), identity);
        let forged = part(&impostor);
        assert!(app.receive_part("12D3KooWimpostor", forged).unwrap().is_none());
        let report = reports.try_recv().expect("the impostor is reported");
        assert_eq!(report.peer.as_deref(), Some("12D3KooWimpostor"));
        assert!(report.reason.contains("not signed by its proposer"), "{report:?}");
        assert!(app.seen.is_empty(), "a forged part was kept");

        // The seat's own signature is accepted (and nothing is reported).
        let honest = Ir3Signer::new(keys[1].key().unwrap(), identity);
        assert!(app.receive_part("12D3KooWhonest", part(&honest)).unwrap().is_some());
        assert!(reports.try_recv().is_err());
    }
}
