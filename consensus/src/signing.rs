//! Ed25519 signing and verification of votes, proposals and validator proofs.
//!
//! Every signed byte string starts with a tag and the network identity (the hash of the
//! network file), so a signature made for one network or one message kind is worthless for
//! another.

use alloy_primitives::B256;
use async_trait::async_trait;
use bytes::Bytes;
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, NilOrVal, Round, SignedMessage, ThresholdParams, ValidatorProof,
    VoteExtensionScope, VoteType,
};
use malachitebft_app_channel::{Signer, Verifier, VerifierExt};
use malachitebft_signing::{Error as SignError, VerificationResult};
use malachitebft_signing_ed25519::{PrivateKey, PublicKey, Signature};

use crate::context::{Ir3Context, Proposal, ProposalPart, ValidatorSet, Vote};
use crate::error::{ConsensusError, Result};

fn round_bytes(round: Round) -> [u8; 8] {
    round.as_i64().to_be_bytes()
}

/// The bytes a vote's signature covers (its extension excluded).
pub fn vote_signing_bytes(network: &B256, vote: &Vote) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"ir3/vote");
    out.extend_from_slice(network.as_slice());
    out.push(match vote.vote_type {
        VoteType::Prevote => 0,
        VoteType::Precommit => 1,
    });
    out.extend_from_slice(&vote.height.0.to_be_bytes());
    out.extend_from_slice(&round_bytes(vote.round));
    match &vote.value {
        NilOrVal::Nil => out.push(0),
        NilOrVal::Val(id) => {
            out.push(1);
            out.extend_from_slice(id.0.as_slice());
        }
    }
    out.extend_from_slice(&vote.validator.0);
    out
}

/// The bytes a proposal's signature covers.
pub fn proposal_signing_bytes(network: &B256, proposal: &Proposal) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"ir3/proposal");
    out.extend_from_slice(network.as_slice());
    out.extend_from_slice(&proposal.height.0.to_be_bytes());
    out.extend_from_slice(&round_bytes(proposal.round));
    out.extend_from_slice(proposal.value.id().0.as_slice());
    out.extend_from_slice(&round_bytes(proposal.pol_round));
    out.extend_from_slice(&proposal.proposer.0);
    out
}

/// The bytes a proposal part's signature covers (the value by its id).
pub fn part_signing_bytes(network: &B256, part: &ProposalPart) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"ir3/proposal-part");
    out.extend_from_slice(network.as_slice());
    out.extend_from_slice(&part.height.0.to_be_bytes());
    out.extend_from_slice(&round_bytes(part.round));
    out.extend_from_slice(&round_bytes(part.pol_round));
    out.extend_from_slice(&part.proposer.0);
    out.extend_from_slice(part.value.id().0.as_slice());
    out
}

fn extension_signing_bytes(network: &B256, scope: &VoteExtensionScope<Ir3Context>) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"ir3/extension");
    out.extend_from_slice(network.as_slice());
    out.extend_from_slice(&scope.height.0.to_be_bytes());
    out.extend_from_slice(&round_bytes(scope.round));
    out.extend_from_slice(scope.value_id.0.as_slice());
    out.extend_from_slice(&scope.validator_address.0);
    out
}

fn proof_signing_bytes(network: &B256, public_key: &[u8], peer_id: &[u8]) -> Vec<u8> {
    let mut out = b"ir3/validator-proof".to_vec();
    out.extend_from_slice(network.as_slice());
    out.extend_from_slice(&ValidatorProof::<Ir3Context>::signing_bytes(public_key, peer_id));
    out
}

fn verdict(key: &PublicKey, bytes: &[u8], signature: &Signature) -> VerificationResult {
    VerificationResult::from_bool(key.verify(bytes, signature).is_ok())
}

/// Signs this validator's votes, proposals and validator proof.
#[derive(Clone)]
pub struct Ir3Signer {
    key: PrivateKey,
    network: B256,
}

impl Ir3Signer {
    /// A signer with the validator's key, for the network with the given identity.
    pub fn new(key: PrivateKey, network: B256) -> Self {
        Self { key, network }
    }

    /// Signs a proposal part this validator publishes (sets its `signature`).
    pub fn sign_part(&self, part: &mut ProposalPart) {
        let signature = self.key.sign(&part_signing_bytes(&self.network, part));
        part.signature = Bytes::copy_from_slice(&signature.to_bytes());
    }
}

#[async_trait]
impl Signer<Ir3Context> for Ir3Signer {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<Ir3Context, Vote>, SignError> {
        let signature = self.key.sign(&vote_signing_bytes(&self.network, &vote));
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<Ir3Context, Proposal>, SignError> {
        let signature = self.key.sign(&proposal_signing_bytes(&self.network, &proposal));
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<Ir3Context>,
        extension: (),
    ) -> Result<SignedMessage<Ir3Context, ()>, SignError> {
        let signature = self.key.sign(&extension_signing_bytes(&self.network, &scope));
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<Ir3Context>, SignError> {
        let signature = self.key.sign(&proof_signing_bytes(&self.network, &public_key, &peer_id));
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

/// Verifies signatures made by [`Ir3Signer`] for one network.
#[derive(Clone, Copy, Debug)]
pub struct Ir3Verifier {
    network: B256,
}

impl Ir3Verifier {
    /// A verifier for the network with the given identity.
    pub fn new(network: B256) -> Self {
        Self { network }
    }

    /// Whether a proposal part is signed by `key` for this network.
    pub fn verify_part(&self, part: &ProposalPart, key: &PublicKey) -> bool {
        Signature::try_from(part.signature.as_ref())
            .is_ok_and(|s| key.verify(&part_signing_bytes(&self.network, part), &s).is_ok())
    }

    /// Checks a commit certificate against a validator set: every signature a valid precommit
    /// of a distinct member for the certificate's value, and together more than ⅔ of the power.
    pub async fn verify_certificate(
        &self,
        certificate: &CommitCertificate<Ir3Context>,
        validators: &ValidatorSet,
    ) -> Result<()> {
        self.verify_commit_certificate(
            &Ir3Context,
            certificate,
            validators,
            ThresholdParams::default(),
        )
        .await
        .map_err(|e| ConsensusError::Invalid(format!("commit certificate: {e:?}")))
    }
}

#[async_trait]
impl Verifier<Ir3Context> for Ir3Verifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SignError> {
        Ok(verdict(public_key, &vote_signing_bytes(&self.network, vote), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SignError> {
        Ok(verdict(public_key, &proposal_signing_bytes(&self.network, proposal), signature))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<Ir3Context>,
        _extension: &(),
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SignError> {
        Ok(verdict(public_key, &extension_signing_bytes(&self.network, scope), signature))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<Ir3Context>,
    ) -> Result<VerificationResult, SignError> {
        let Ok(bytes) = <[u8; 32]>::try_from(proof.public_key.as_slice()) else {
            return Ok(VerificationResult::Invalid);
        };
        let Ok(key) = PublicKey::from_bytes(bytes) else {
            return Ok(VerificationResult::Invalid);
        };
        let signed = proof_signing_bytes(&self.network, &proof.public_key, &proof.peer_id);
        Ok(verdict(&key, &signed, &proof.signature))
    }
}
