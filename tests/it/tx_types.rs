//! Every transaction type a client may send through `eth_sendRawTransaction`: legacy with and
//! without EIP-155, EIP-2930, EIP-1559 and EIP-7702.

use alloy_consensus::{SignableTransaction, TxEip2930, TxEnvelope, TxLegacy};
use alloy_eips::{eip2718::Encodable2718, eip2930::AccessList};
use alloy_network::TxSignerSync;
use alloy_signer_local::PrivateKeySigner;
use serde_json::json;

use crate::utils::{DEV0_KEY, DEV1, Node};

fn signer() -> PrivateKeySigner {
    DEV0_KEY.parse().unwrap()
}

fn send(node: &Node, raw: Vec<u8>) -> serde_json::Value {
    let hex = format!("0x{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let hash = node.result("eth_sendRawTransaction", json!([hex]));
    node.result("eth_getTransactionReceipt", json!([hash]))
}

#[test]
fn every_transaction_type_is_accepted_and_mined() {
    let node = Node::start(&[]);
    let to = DEV1.parse().unwrap();
    let signer = signer();

    // Legacy without EIP-155 replay protection (chain id absent from the signature).
    let mut legacy = TxLegacy {
        chain_id: None,
        nonce: 0,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to: alloy_primitives::TxKind::Call(to),
        value: alloy_primitives::U256::from(1),
        input: Default::default(),
    };
    let signature = signer.sign_transaction_sync(&mut legacy).unwrap();
    let receipt = send(&node, TxEnvelope::from(legacy.into_signed(signature)).encoded_2718());
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["type"], "0x0");

    // Legacy with EIP-155.
    let mut protected = TxLegacy {
        chain_id: Some(1337),
        nonce: 1,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to: alloy_primitives::TxKind::Call(to),
        value: alloy_primitives::U256::from(1),
        input: Default::default(),
    };
    let signature = signer.sign_transaction_sync(&mut protected).unwrap();
    let receipt = send(&node, TxEnvelope::from(protected.into_signed(signature)).encoded_2718());
    assert_eq!(receipt["status"], "0x1");

    // EIP-2930 with an access list.
    let mut eip2930 = TxEip2930 {
        chain_id: 1337,
        nonce: 2,
        gas_price: 2_000_000_000,
        gas_limit: 30_000,
        to: alloy_primitives::TxKind::Call(to),
        value: alloy_primitives::U256::from(1),
        access_list: AccessList(vec![alloy_eips::eip2930::AccessListItem {
            address: to,
            storage_keys: vec![Default::default()],
        }]),
        input: Default::default(),
    };
    let signature = signer.sign_transaction_sync(&mut eip2930).unwrap();
    let receipt = send(&node, TxEnvelope::from(eip2930.into_signed(signature)).encoded_2718());
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["type"], "0x1");

    // EIP-1559 and EIP-7702 through cast (it estimates gas for the authorization too).
    let receipt = node.cast(&["send", "--private-key", DEV0_KEY, DEV1, "--value", "1", "--json"]);
    assert!(receipt.contains("\"type\":\"0x2\""), "{receipt}");
    let account2_key = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
    let delegate = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let receipt =
        node.cast(&["send", "--private-key", account2_key, DEV1, "--auth", delegate, "--json"]);
    assert!(receipt.contains("\"type\":\"0x4\""), "{receipt}");
    let account2 = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
    assert_eq!(
        node.cast(&["code", account2]),
        format!("0xef0100{}", delegate.trim_start_matches("0x").to_lowercase())
    );
}
