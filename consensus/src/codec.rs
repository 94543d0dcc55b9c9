//! The wire and write-ahead-log encoding of consensus messages: postcard over plain serde
//! mirrors of Malachite's generic types (signatures as 64 raw bytes).

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, CommitSignature, ExtendedCommitCertificate, ExtendedCommitSignature,
    NilOrVal, PolkaCertificate, PolkaSignature, Round, RoundCertificate, RoundCertificateType,
    RoundSignature, SignedMessage, ValidatorProof, Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_signing_ed25519::Signature;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::context::{Address, Height, Ir3Context, Proposal, ProposalPart, Value, ValueId, Vote};
use crate::engine::Decided;
use crate::error::{ConsensusError, Result};

/// The codec handed to the engine for the network, sync and write-ahead log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ir3Codec;

fn sig(bytes: &[u8]) -> Result<Signature> {
    Signature::try_from(bytes).map_err(|e| ConsensusError::Codec(format!("signature: {e}")))
}

fn sig_bytes(s: &Signature) -> Vec<u8> {
    s.to_bytes().to_vec()
}

#[derive(Serialize, Deserialize)]
struct RawVote {
    vote_type: VoteType,
    height: Height,
    round: Round,
    value: NilOrVal<ValueId>,
    validator: Address,
    signature: Vec<u8>,
    /// Signature of the (empty) vote extension, when there is one.
    extension: Option<Vec<u8>>,
}

impl RawVote {
    fn from_signed(v: &SignedMessage<Ir3Context, Vote>) -> Self {
        Self {
            vote_type: v.message.vote_type,
            height: v.message.height,
            round: v.message.round,
            value: v.message.value,
            validator: v.message.validator,
            signature: sig_bytes(&v.signature),
            extension: v.message.extension.as_ref().map(|e| sig_bytes(&e.signature)),
        }
    }

    fn into_signed(self) -> Result<SignedMessage<Ir3Context, Vote>> {
        let extension = match self.extension {
            Some(s) => Some(SignedMessage::new((), sig(&s)?)),
            None => None,
        };
        let vote = Vote {
            vote_type: self.vote_type,
            height: self.height,
            round: self.round,
            value: self.value,
            validator: self.validator,
            extension,
        };
        Ok(SignedMessage::new(vote, sig(&self.signature)?))
    }
}

#[derive(Serialize, Deserialize)]
enum RawConsensusMsg {
    Vote(RawVote),
    Proposal(Proposal, Vec<u8>),
}

#[derive(Serialize, Deserialize)]
struct RawPolka {
    height: Height,
    round: Round,
    value_id: ValueId,
    signatures: Vec<(Address, Vec<u8>)>,
}

impl RawPolka {
    fn from_cert(c: &PolkaCertificate<Ir3Context>) -> Self {
        Self {
            height: c.height,
            round: c.round,
            value_id: c.value_id,
            signatures: c
                .polka_signatures
                .iter()
                .map(|s| (s.address, sig_bytes(&s.signature)))
                .collect(),
        }
    }

    fn into_cert(self) -> Result<PolkaCertificate<Ir3Context>> {
        let polka_signatures = self
            .signatures
            .into_iter()
            .map(|(a, s)| Ok(PolkaSignature::new(a, sig(&s)?)))
            .collect::<Result<_>>()?;
        Ok(PolkaCertificate {
            height: self.height,
            round: self.round,
            value_id: self.value_id,
            polka_signatures,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct RawRoundCert {
    height: Height,
    round: Round,
    cert_type: RoundCertificateType,
    signatures: Vec<(VoteType, NilOrVal<ValueId>, Address, Vec<u8>)>,
}

#[derive(Serialize, Deserialize)]
enum RawLiveness {
    Vote(RawVote),
    Polka(RawPolka),
    Skip(RawRoundCert),
}

/// A commit certificate in a form that can be stored (series, history segments) and sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawCertificate {
    /// Decided height.
    pub height: Height,
    /// Round of the decision.
    pub round: Round,
    /// Id of the decided value.
    pub value_id: ValueId,
    /// Precommit signatures: signer, signature, and the extension's signature if any.
    pub signatures: Vec<(Address, Vec<u8>, Option<Vec<u8>>)>,
}

impl RawCertificate {
    /// A certificate with no signatures, for a height whose value was verified another way (a
    /// history segment linked to a certified later height): it stands in the engine's history
    /// so the heights stay contiguous, and verifies for no one.
    pub fn uncertified(height: u64, round: u32, value_id: ValueId) -> Self {
        Self { height: Height(height), round: Round::new(round), value_id, signatures: Vec::new() }
    }

    /// From an engine certificate.
    pub fn from_commit(c: &CommitCertificate<Ir3Context>) -> Self {
        Self {
            height: c.height,
            round: c.round,
            value_id: c.value_id,
            signatures: c
                .commit_signatures
                .iter()
                .map(|s| (s.address, sig_bytes(&s.signature), None))
                .collect(),
        }
    }

    fn from_extended(c: &ExtendedCommitCertificate<Ir3Context>) -> Self {
        Self {
            height: c.height,
            round: c.round,
            value_id: c.value_id,
            signatures: c
                .commit_signatures
                .iter()
                .map(|s| {
                    let ext = s.extension.as_ref().map(|e| sig_bytes(&e.signature));
                    (s.address, sig_bytes(&s.signature), ext)
                })
                .collect(),
        }
    }

    fn into_extended(self) -> Result<ExtendedCommitCertificate<Ir3Context>> {
        let commit_signatures = self
            .signatures
            .into_iter()
            .map(|(a, s, e)| {
                let ext = match e {
                    Some(e) => Some(SignedMessage::new((), sig(&e)?)),
                    None => None,
                };
                Ok(ExtendedCommitSignature::new(a, sig(&s)?, ext))
            })
            .collect::<Result<_>>()?;
        Ok(ExtendedCommitCertificate {
            height: self.height,
            round: self.round,
            value_id: self.value_id,
            commit_signatures,
        })
    }

    /// Back to an engine certificate (fails on a malformed signature).
    pub fn into_commit(self) -> Result<CommitCertificate<Ir3Context>> {
        let commit_signatures = self
            .signatures
            .into_iter()
            .map(|(a, s, _)| Ok(CommitSignature::new(a, sig(&s)?)))
            .collect::<Result<_>>()?;
        Ok(CommitCertificate {
            height: self.height,
            round: self.round,
            value_id: self.value_id,
            commit_signatures,
        })
    }
}

/// A decided height in the form iR³ stores (series records, history segments) and reads back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedRecord {
    /// The height.
    pub height: u64,
    /// The round it was decided in.
    pub round: u32,
    /// The decided value.
    pub value: Value,
    /// Its commit certificate.
    pub certificate: RawCertificate,
}

impl DecidedRecord {
    /// The record of a decided height.
    pub fn of(decided: &Decided) -> Self {
        Self {
            height: decided.height,
            round: decided.round,
            value: decided.value.clone(),
            certificate: RawCertificate::from_commit(&decided.certificate),
        }
    }

    /// Back to a decided height (fails on a malformed signature or a record whose certificate
    /// names another height or value; the signatures are checked by
    /// [`crate::Ir3Verifier::verify_certificate`]).
    pub fn into_decided(self) -> Result<Decided> {
        if self.certificate.height.0 != self.height || self.certificate.value_id != self.value.id()
        {
            return Err(ConsensusError::Invalid(format!(
                "record of height {}: its certificate is for another height or value",
                self.height
            )));
        }
        Ok(Decided {
            height: self.height,
            round: self.round,
            value: self.value,
            certificate: self.certificate.into_commit()?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct RawStream {
    stream_id: Bytes,
    sequence: u64,
    content: Option<ProposalPart>,
}

#[derive(Serialize, Deserialize)]
struct RawProof {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct RawStatus {
    peer_id: Vec<u8>,
    tip_height: Height,
    history_min_height: Height,
}

#[derive(Serialize, Deserialize)]
struct RawResponse {
    start_height: Height,
    values: Vec<(Bytes, RawCertificate)>,
}

#[derive(Serialize, Deserialize)]
struct RawProposedValue {
    height: Height,
    round: Round,
    valid_round: Round,
    proposer: Address,
    value: Value,
    valid: bool,
}

fn peer(bytes: &[u8]) -> Result<PeerId> {
    PeerId::from_bytes(bytes).map_err(|e| ConsensusError::Codec(format!("peer id: {e}")))
}

/// Encodes any serde value with postcard.
pub fn encode<T: Serialize>(value: &T) -> Result<Bytes> {
    Ok(Bytes::from(postcard::to_stdvec(value)?))
}

/// Decodes a postcard-encoded serde value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(postcard::from_bytes(bytes)?)
}

/// Implements `Codec<$t>` through a raw serde type: `$to` maps `&$t` to the raw value,
/// `$from` maps the decoded raw value back to `Result<$t>`.
macro_rules! raw_codec {
    ($t:ty, $raw:ty, $to:expr, $from:expr) => {
        impl Codec<$t> for Ir3Codec {
            type Error = ConsensusError;

            fn decode(&self, bytes: Bytes) -> Result<$t> {
                let raw: $raw = decode(&bytes)?;
                #[allow(clippy::redundant_closure_call)]
                ($from)(raw)
            }

            fn encode(&self, msg: &$t) -> Result<Bytes> {
                #[allow(clippy::redundant_closure_call)]
                let raw: $raw = ($to)(msg);
                encode(&raw)
            }
        }
    };
}

raw_codec!(Value, Value, |v: &Value| v.clone(), Ok);
raw_codec!(ProposalPart, ProposalPart, |p: &ProposalPart| p.clone(), Ok);
raw_codec!(
    SignedConsensusMsg<Ir3Context>,
    RawConsensusMsg,
    |m: &SignedConsensusMsg<Ir3Context>| match m {
        SignedConsensusMsg::Vote(v) => RawConsensusMsg::Vote(RawVote::from_signed(v)),
        SignedConsensusMsg::Proposal(p) => {
            RawConsensusMsg::Proposal(p.message.clone(), sig_bytes(&p.signature))
        }
    },
    |raw: RawConsensusMsg| match raw {
        RawConsensusMsg::Vote(v) => Ok(SignedConsensusMsg::Vote(v.into_signed()?)),
        RawConsensusMsg::Proposal(p, s) => {
            Ok(SignedConsensusMsg::Proposal(SignedMessage::new(p, sig(&s)?)))
        }
    }
);
raw_codec!(
    LivenessMsg<Ir3Context>,
    RawLiveness,
    |m: &LivenessMsg<Ir3Context>| match m {
        LivenessMsg::Vote(v) => RawLiveness::Vote(RawVote::from_signed(v)),
        LivenessMsg::PolkaCertificate(c) => RawLiveness::Polka(RawPolka::from_cert(c)),
        LivenessMsg::SkipRoundCertificate(c) => RawLiveness::Skip(RawRoundCert {
            height: c.height,
            round: c.round,
            cert_type: c.cert_type.clone(),
            signatures: c
                .round_signatures
                .iter()
                .map(|s| (s.vote_type, s.value_id, s.address, sig_bytes(&s.signature)))
                .collect(),
        }),
    },
    |raw: RawLiveness| match raw {
        RawLiveness::Vote(v) => Ok(LivenessMsg::Vote(v.into_signed()?)),
        RawLiveness::Polka(p) => Ok(LivenessMsg::PolkaCertificate(p.into_cert()?)),
        RawLiveness::Skip(c) => {
            let round_signatures = c
                .signatures
                .into_iter()
                .map(|(t, v, a, s)| Ok(RoundSignature::new(t, v, a, sig(&s)?)))
                .collect::<Result<_>>()?;
            Ok(LivenessMsg::SkipRoundCertificate(RoundCertificate {
                height: c.height,
                round: c.round,
                cert_type: c.cert_type,
                round_signatures,
            }))
        }
    }
);
raw_codec!(
    StreamMessage<ProposalPart>,
    RawStream,
    |m: &StreamMessage<ProposalPart>| RawStream {
        stream_id: m.stream_id.to_bytes(),
        sequence: m.sequence,
        content: m.content.as_data().cloned(),
    },
    |raw: RawStream| {
        let content = match raw.content {
            Some(part) => StreamContent::Data(part),
            None => StreamContent::Fin,
        };
        Ok(StreamMessage::new(StreamId::new(raw.stream_id), raw.sequence, content))
    }
);
raw_codec!(
    ValidatorProof<Ir3Context>,
    RawProof,
    |p: &ValidatorProof<Ir3Context>| RawProof {
        public_key: p.public_key.clone(),
        peer_id: p.peer_id.clone(),
        signature: sig_bytes(&p.signature),
    },
    |raw: RawProof| Ok(ValidatorProof::new(raw.public_key, raw.peer_id, sig(&raw.signature)?))
);
raw_codec!(
    Status<Ir3Context>,
    RawStatus,
    |s: &Status<Ir3Context>| RawStatus {
        peer_id: s.peer_id.to_bytes(),
        tip_height: s.tip_height,
        history_min_height: s.history_min_height,
    },
    |raw: RawStatus| Ok(Status {
        peer_id: peer(&raw.peer_id)?,
        tip_height: raw.tip_height,
        history_min_height: raw.history_min_height,
    })
);
raw_codec!(
    Request<Ir3Context>,
    (Height, Height),
    |r: &Request<Ir3Context>| match r {
        Request::ValueRequest(v) => (*v.range.start(), *v.range.end()),
    },
    |(start, end): (Height, Height)| Ok(Request::ValueRequest(
        malachitebft_sync::ValueRequest::new(start..=end)
    ))
);
raw_codec!(
    Response<Ir3Context>,
    RawResponse,
    |r: &Response<Ir3Context>| match r {
        Response::ValueResponse(v) => RawResponse {
            start_height: v.start_height,
            values: v
                .values
                .iter()
                .map(|d| (d.value_bytes.clone(), RawCertificate::from_extended(&d.certificate)))
                .collect(),
        },
    },
    |raw: RawResponse| {
        let values = raw
            .values
            .into_iter()
            .map(|(bytes, cert)| Ok(RawDecidedValue::new(bytes, cert.into_extended()?)))
            .collect::<Result<_>>()?;
        Ok(Response::ValueResponse(malachitebft_sync::ValueResponse::new(raw.start_height, values)))
    }
);
raw_codec!(
    ProposedValue<Ir3Context>,
    RawProposedValue,
    |p: &ProposedValue<Ir3Context>| RawProposedValue {
        height: p.height,
        round: p.round,
        valid_round: p.valid_round,
        proposer: p.proposer,
        value: p.value.clone(),
        valid: p.validity.is_valid(),
    },
    |raw: RawProposedValue| Ok(ProposedValue {
        height: raw.height,
        round: raw.round,
        valid_round: raw.valid_round,
        proposer: raw.proposer,
        value: raw.value,
        validity: Validity::from_bool(raw.valid),
    })
);
raw_codec!(PolkaCertificate<Ir3Context>, RawPolka, RawPolka::from_cert, RawPolka::into_cert);

impl HasEncodedLen<Response<Ir3Context>> for Ir3Codec {
    fn encoded_len(&self, msg: &Response<Ir3Context>) -> Result<usize> {
        Ok(Codec::<Response<Ir3Context>>::encode(self, msg)?.len())
    }
}

#[cfg(test)]
mod tests {
    use malachitebft_app_channel::app::types::core::{Context as _, ThresholdParams};
    use malachitebft_app_channel::{Signer, Verifier, VerifierExt};
    use malachitebft_signing_ed25519::PrivateKey;

    use super::*;
    use crate::context::{Validator, ValidatorSet};
    use crate::signing::{Ir3Signer, Ir3Verifier};

    fn keys(n: u8) -> Vec<PrivateKey> {
        (1..=n).map(|i| PrivateKey::from([i; 32])).collect()
    }

    #[tokio::test]
    async fn signed_messages_and_certificates_survive_the_codec() {
        let network = alloy_primitives::B256::repeat_byte(1);
        let keys = keys(4);
        let set =
            ValidatorSet::new(keys.iter().map(|k| Validator::new(k.public_key(), 1)).collect());
        let verifier = Ir3Verifier::new(network);
        let value = Value::new(network, Bytes::from_static(b"batch"));
        let (h, r) = (Height(7), Round::new(2));

        // A proposal, through the codec, still verifies; tampered, it does not.
        let signer = Ir3Signer::new(keys[0].clone(), network);
        let me = Address::from_public_key(&keys[0].public_key());
        let proposal = Ir3Context.new_proposal(h, r, value.clone(), Round::Nil, me);
        let signed = SignedConsensusMsg::Proposal(signer.sign_proposal(proposal).await.unwrap());
        let bytes = Ir3Codec.encode(&signed).unwrap();
        let back: SignedConsensusMsg<Ir3Context> = Ir3Codec.decode(bytes).unwrap();
        assert_eq!(back, signed);
        let SignedConsensusMsg::Proposal(p) = back else { panic!("not a proposal") };
        let key = keys[0].public_key();
        assert!(
            verifier
                .verify_signed_proposal(&p.message, &p.signature, &key)
                .await
                .unwrap()
                .is_valid()
        );
        let mut forged = p.message.clone();
        forged.value.payload = Bytes::from_static(b"other");
        assert!(
            verifier
                .verify_signed_proposal(&forged, &p.signature, &key)
                .await
                .unwrap()
                .is_invalid()
        );

        // Precommits of three of four make a certificate that survives both encodings.
        let mut commits = Vec::new();
        for k in &keys[..3] {
            let addr = Address::from_public_key(&k.public_key());
            let vote = Ir3Context.new_precommit(h, r, NilOrVal::Val(value.id()), addr);
            let signed = Ir3Signer::new(k.clone(), network).sign_vote(vote).await.unwrap();
            let msg = SignedConsensusMsg::Vote(signed.clone());
            let back: SignedConsensusMsg<Ir3Context> =
                Ir3Codec.decode(Ir3Codec.encode(&msg).unwrap()).unwrap();
            assert_eq!(back, msg);
            commits.push(signed);
        }
        let cert = CommitCertificate::new(h, r, value.id(), commits.clone());
        verifier.verify_certificate(&cert, &set).await.unwrap();
        let stored = encode(&RawCertificate::from_commit(&cert)).unwrap();
        let back = decode::<RawCertificate>(&stored).unwrap().into_commit().unwrap();
        assert_eq!(back, cert);
        verifier.verify_certificate(&back, &set).await.unwrap();
        // The stored record of a decided height reads back to the same height.
        let decided =
            Decided { height: 7, round: 2, value: value.clone(), certificate: cert.clone() };
        let record =
            decode::<DecidedRecord>(&encode(&DecidedRecord::of(&decided)).unwrap()).unwrap();
        let back = record.clone().into_decided().unwrap();
        assert_eq!((back.height, back.value, back.certificate), (7, value.clone(), cert.clone()));
        let mut wrong = record;
        wrong.height = 8;
        assert!(wrong.into_decided().is_err());
        // Two of four are not a quorum.
        let short = CommitCertificate::new(h, r, value.id(), commits[..2].to_vec());
        assert!(verifier.verify_certificate(&short, &set).await.is_err());
        // A proposal part is bound to its proposer, its value and the network.
        let mut part = ProposalPart {
            height: h,
            round: r,
            pol_round: Round::Nil,
            proposer: me,
            value: value.clone(),
            signature: Bytes::new(),
        };
        signer.sign_part(&mut part);
        let part: ProposalPart = Ir3Codec.decode(Ir3Codec.encode(&part).unwrap()).unwrap();
        assert!(verifier.verify_part(&part, &key));
        assert!(!verifier.verify_part(&part, &keys[1].public_key()));
        assert!(!Ir3Verifier::new(Default::default()).verify_part(&part, &key));
        let mut forged = part.clone();
        forged.value.payload = Bytes::from_static(b"injected");
        assert!(!verifier.verify_part(&forged, &key));

        let thresholds = ThresholdParams::default();
        assert!(
            verifier.verify_commit_certificate(&Ir3Context, &cert, &set, thresholds).await.is_ok()
        );
    }
}
