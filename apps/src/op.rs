//! A native app's signed operation: a JSON message signed by its `from` account with EIP-191
//! (`personal_sign`, what `cast wallet sign`, viem's `signMessage` and eth-account sign), so
//! any Ethereum key and wallet can sign one, and the node checks the exact bytes that were
//! signed — no canonical re-encoding.
//!
//! ```json
//! {"app":"money","op":"mint","from":"0x…","seq":0,"currency":"GOLD","to":"0x…","amount":"1000"}
//! ```
//!
//! `seq` is the account's sequence across the native apps (0, 1, 2, …; `ir3_apps_nextSeq`).

use alloy_primitives::{Address, B256, Bytes, Signature, keccak256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{AppError, Result};

/// Prefix of the ordering account of a native app's operation (so that native sequences never
/// conflict with EVM nonces of the same address).
pub const ACCOUNT_PREFIX: &[u8] = b"ir3:";
/// Longest operation message accepted.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// An operation as it is ordered: the signed message and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOp {
    /// The JSON message, exactly as signed.
    pub message: String,
    /// The 65-byte EIP-191 signature of `message`.
    pub signature: Bytes,
}

/// The fields every operation has, and the rest for its app.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// The app (`money`, `lending`, …).
    pub app: String,
    /// The operation (`mint`, `transfer`, …).
    pub op: String,
    /// The signer.
    pub from: Address,
    /// The signer's sequence.
    pub seq: u64,
    /// The whole message (the app reads its own fields).
    pub fields: serde_json::Map<String, Value>,
    /// The operation's id: keccak-256 of the encoded signed operation.
    pub id: B256,
}

impl SignedOp {
    /// Builds the message of an operation for the account `from` (its `fields`, which name
    /// the `app` and `op`, with `from` and `seq` added) and signs it with `sign`: EIP-191 over
    /// the message's bytes by `from`'s key, or `None` when the signer does not hold that key.
    /// This is how a node signs for the dev accounts whose keys it holds.
    pub fn sign_with(
        from: Address,
        seq: u64,
        mut fields: serde_json::Map<String, Value>,
        sign: impl FnOnce(&[u8]) -> Option<Bytes>,
    ) -> Result<Self> {
        fields.insert("from".into(), format!("{from:#x}").into());
        fields.insert("seq".into(), seq.into());
        let message = Value::Object(fields).to_string();
        let signature = sign(message.as_bytes()).ok_or_else(|| {
            AppError::Invalid(format!(
                "{from:#x} is not a dev account of this node: sign the operation and send it \
                 with ir3_apps_submit"
            ))
        })?;
        Ok(Self { message, signature })
    }

    /// The bytes an envelope carries.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes an envelope's payload.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        postcard::from_bytes(payload).map_err(|e| AppError::Invalid(format!("payload: {e}")))
    }

    /// The id of the operation (what outcomes are looked up by).
    pub fn id(&self) -> B256 {
        keccak256(self.encode())
    }

    /// Parses the message and checks that the signature recovers to its `from`.
    pub fn verify(&self) -> Result<Op> {
        if self.message.len() > MAX_MESSAGE_BYTES {
            return Err(AppError::Invalid(format!(
                "message of {} bytes is longer than {MAX_MESSAGE_BYTES}",
                self.message.len()
            )));
        }
        let fields: serde_json::Map<String, Value> = serde_json::from_str(&self.message)
            .map_err(|e| AppError::Invalid(format!("message is not a JSON object: {e}")))?;
        let text = |name: &str| -> Result<String> {
            fields
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| AppError::Invalid(format!("missing string field `{name}`")))
        };
        let app = text("app")?;
        let op = text("op")?;
        let from: Address = text("from")?
            .parse()
            .map_err(|e| AppError::Invalid(format!("field `from` is not an address: {e}")))?;
        let seq = fields
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| AppError::Invalid("missing integer field `seq`".into()))?;
        let signature = Signature::try_from(self.signature.as_ref())
            .map_err(|e| AppError::BadSignature(format!("signature encoding: {e}")))?;
        let signer = signature
            .recover_address_from_msg(self.message.as_bytes())
            .map_err(|e| AppError::BadSignature(e.to_string()))?;
        if signer != from {
            return Err(AppError::BadSignature(format!(
                "signed by {signer}, but the operation is from {from}"
            )));
        }
        Ok(Op { app, op, from, seq, fields, id: self.id() })
    }
}

/// The ordering account of `address`'s native operations.
pub fn account_of(address: Address) -> Vec<u8> {
    [ACCOUNT_PREFIX, address.as_slice()].concat()
}

impl Op {
    /// A string field.
    pub fn text(&self, name: &str) -> Result<&str> {
        self.fields
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| AppError::Invalid(format!("{}: missing string field `{name}`", self.op)))
    }

    /// An address field.
    pub fn address(&self, name: &str) -> Result<Address> {
        self.text(name)?
            .parse()
            .map_err(|e| AppError::Invalid(format!("{}: `{name}` is not an address: {e}", self.op)))
    }

    /// An amount field: a JSON integer or a decimal string.
    pub fn amount(&self, name: &str) -> Result<u128> {
        let invalid = || {
            AppError::Invalid(format!(
                "{}: `{name}` must be a whole number of units below 2^128 (a JSON integer below \
                 2^64, or a decimal string)",
                self.op
            ))
        };
        match self.fields.get(name) {
            Some(Value::Number(n)) => n.as_u64().map(u128::from).ok_or_else(invalid),
            Some(Value::String(s)) => s.parse().map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }

    /// An optional integer field.
    pub fn integer(&self, name: &str) -> Result<Option<u64>> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                .map(Some)
                .ok_or_else(|| {
                    AppError::Invalid(format!(
                        "{}: `{name}` must be a non-negative integer",
                        self.op
                    ))
                }),
        }
    }
}
