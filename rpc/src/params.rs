//! Typed parameters that parse the way geth parses them, where serde's defaults (through
//! alloy's types) are more lenient than the clients and the conformance suite expect.

use alloy_dyn_abi::TypedData;
use alloy_primitives::{B256, U256};
use serde::{Deserialize, Deserializer, Serialize, de::Error};

/// A storage slot parameter: hex, at most 32 bytes (a longer key is refused, as geth does,
/// even when its extra digits are leading zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageSlot(pub U256);

impl<'de> Deserialize<'de> for StorageSlot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .ok_or_else(|| D::Error::custom("hex string without 0x prefix"))?;
        if digits.len() > 64 {
            return Err(D::Error::custom(format!(
                "storage key too long (want at most 32 bytes): {text:?}"
            )));
        }
        if digits.is_empty() {
            return Ok(Self(U256::ZERO));
        }
        U256::from_str_radix(digits, 16)
            .map(Self)
            .map_err(|_| D::Error::custom(format!("invalid hex in storage key: {text:?}")))
    }
}

/// A 32-byte hash parameter that must be `0x`-prefixed (alloy's `B256` also takes bare hex,
/// which geth refuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixedHash(pub B256);

impl<'de> Deserialize<'de> for PrefixedHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if !text.starts_with("0x") && !text.starts_with("0X") {
            return Err(D::Error::custom("hex string without 0x prefix"));
        }
        text.parse::<B256>().map(Self).map_err(|e| D::Error::custom(format!("invalid hash: {e}")))
    }
}

/// A quantity given as a JSON number, a `0x` hex string or a decimal string (clients differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(pub U256);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        parse_quantity(&value).map(Quantity).ok_or_else(|| {
            D::Error::custom(format!("invalid quantity {value}: expected a number or hex string"))
        })
    }
}

/// Parses a JSON number, hex string or decimal string into a U256.
pub fn parse_quantity(value: &serde_json::Value) -> Option<U256> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().map(U256::from),
        serde_json::Value::String(s) => match s.strip_prefix("0x").or(s.strip_prefix("0X")) {
            Some(hex) if !hex.is_empty() => U256::from_str_radix(hex, 16).ok(),
            Some(_) => None,
            None => U256::from_str_radix(s, 10).ok(),
        },
        _ => None,
    }
}

/// `evm_mine`'s parameter: a timestamp, or `{timestamp, blocks}` (both optional; other fields
/// are ignored, as Anvil ignores them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MineOptions {
    /// The first block's timestamp.
    pub timestamp: Option<Quantity>,
    /// How many blocks (default 1).
    pub blocks: Option<Quantity>,
}

impl<'de> Deserialize<'de> for MineOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            timestamp: Option<Quantity>,
            #[serde(default)]
            blocks: Option<Quantity>,
        }
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.is_object() {
            let fields: Fields = serde_json::from_value(value).map_err(D::Error::custom)?;
            return Ok(Self { timestamp: fields.timestamp, blocks: fields.blocks });
        }
        let timestamp = parse_quantity(&value).ok_or_else(|| {
            D::Error::custom(format!(
                "invalid timestamp {value}: expected a number, a hex string or \
                 {{\"timestamp\", \"blocks\"}}"
            ))
        })?;
        Ok(Self { timestamp: Some(Quantity(timestamp)), blocks: None })
    }
}

/// `anvil_reset`'s options: `{"forking": {"jsonRpcUrl", "blockNumber"}}`, every field optional
/// (others are ignored, as Anvil ignores them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "reset options {\"forking\": {...}}")]
pub struct ResetOptions {
    /// Fork another chain (or the same parent at another block) instead of restarting.
    #[serde(default)]
    pub forking: Option<ForkingOptions>,
}

/// Where `anvil_reset` forks from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "forking options {\"jsonRpcUrl\", \"blockNumber\"}")]
pub struct ForkingOptions {
    /// The parent's JSON-RPC URL (default: the current parent).
    #[serde(default)]
    pub json_rpc_url: Option<String>,
    /// The fork block (default: the parent's latest).
    #[serde(default)]
    pub block_number: Option<Quantity>,
}

/// EIP-712 typed data as wallets send it to `eth_signTypedData_v4`: an object, or the same
/// object as a JSON string.
#[derive(Debug, Clone)]
pub struct TypedDataParam(pub TypedData);

impl<'de> Deserialize<'de> for TypedDataParam {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parsed = match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(text) => serde_json::from_str::<TypedData>(&text),
            other => serde_json::from_value::<TypedData>(other),
        };
        parsed.map(Self).map_err(|e| D::Error::custom(format!("invalid typed data: {e}")))
    }
}

/// A whole number in a native app's operation (an amount, a duration): a JSON integer below
/// 2^64 or a decimal string below 2^128. It is kept as the client wrote it, so the signed
/// message carries the same JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum WholeNumber {
    /// A JSON integer.
    Number(u64),
    /// A decimal string.
    Text(String),
}

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let parsed = match &value {
            serde_json::Value::Number(n) => n.as_u64().map(Self::Number),
            serde_json::Value::String(s) if s.parse::<u128>().is_ok() => {
                Some(Self::Text(s.clone()))
            }
            _ => None,
        };
        parsed.ok_or_else(|| {
            D::Error::custom(format!(
                "invalid whole number {value}: expected a JSON integer below 2^64 or a decimal \
                 string below 2^128"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_hashes_parse_as_geth_parses_them() {
        let slot = |s: &str| serde_json::from_str::<StorageSlot>(&format!("\"{s}\""));
        assert_eq!(slot("0x01").unwrap().0, U256::from(1));
        assert!(slot(&format!("0x{}", "0".repeat(65))).is_err());
        assert!(slot("0xasdf").is_err());
        let hash = |s: &str| serde_json::from_str::<PrefixedHash>(&format!("\"{s}\""));
        assert!(hash(&"1".repeat(64)).is_err());
        assert!(hash(&format!("0x{}", "1".repeat(64))).is_ok());
    }

    #[test]
    fn mine_and_reset_options_parse_as_anvil_takes_them() {
        let mine = |s: &str| serde_json::from_str::<MineOptions>(s);
        assert_eq!(mine("7").unwrap().timestamp, Some(Quantity(U256::from(7))));
        let both = mine(r#"{"timestamp": "0x10", "blocks": 2, "other": 1}"#).unwrap();
        assert_eq!(
            (both.timestamp.unwrap().0, both.blocks.unwrap().0),
            (U256::from(16), U256::from(2))
        );
        assert_eq!(mine("{}").unwrap(), MineOptions::default());
        assert!(mine(r#""yesterday""#).unwrap_err().to_string().contains("invalid timestamp"));
        assert!(mine(r#"{"blocks": -1}"#).unwrap_err().to_string().contains("invalid quantity"));

        let reset = |s: &str| serde_json::from_str::<ResetOptions>(s);
        assert_eq!(reset("{}").unwrap(), ResetOptions::default());
        assert_eq!(reset(r#"{"forking": null}"#).unwrap(), ResetOptions::default());
        let fork = reset(r#"{"forking": {"jsonRpcUrl": "http://x", "blockNumber": "0x2"}}"#);
        let fork = fork.unwrap().forking.unwrap();
        assert_eq!(fork.json_rpc_url.as_deref(), Some("http://x"));
        assert_eq!(fork.block_number, Some(Quantity(U256::from(2))));
        assert!(reset(r#""x""#).unwrap_err().to_string().contains("expected reset options"));
        assert!(reset(r#"{"forking": 5}"#).unwrap_err().to_string().contains("forking options"));
    }

    #[test]
    fn whole_numbers_keep_their_form_and_refuse_the_rest() {
        let whole = |s: &str| serde_json::from_str::<WholeNumber>(s);
        assert_eq!(whole("5").unwrap(), WholeNumber::Number(5));
        assert_eq!(serde_json::to_string(&whole("5").unwrap()).unwrap(), "5");
        assert_eq!(serde_json::to_string(&whole("\"1000\"").unwrap()).unwrap(), "\"1000\"");
        for bad in ["-5", "1.5", "\"1e3\"", "\"\"", "null", "\"0x10\""] {
            let error = whole(bad).unwrap_err().to_string();
            assert!(error.contains("invalid whole number"), "{bad}: {error}");
        }
    }
}
