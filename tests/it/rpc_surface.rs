//! The JSON-RPC surface as wallets and hostile callers see it: Metamask's request sequence,
//! CORS, batches, and geth/Anvil-compatible errors for bad input.

use serde_json::{Value, json};

use crate::utils::{DEV0, DEV0_KEY, DEV1, Node, post, quantity, raw_request};

fn error_code(response: &Value) -> i64 {
    response["error"]["code"].as_i64().unwrap_or_else(|| panic!("no error in {response}"))
}

#[test]
fn metamask_request_sequence_and_cors() {
    let node = Node::start(&[]);
    // Preflight from a browser extension origin.
    let (status, head, _) = raw_request(
        node.port,
        "OPTIONS",
        b"",
        &[
            ("Origin", "chrome-extension://nkbihfbeogaeaoehlefnkodbefgpgknn"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
    );
    assert!(status == 200 || status == 204, "preflight status {status}: {head}");
    assert!(head.to_ascii_lowercase().contains("access-control-allow-origin: *"), "{head}");

    assert_eq!(node.result("eth_chainId", json!([])), "0x539");
    assert_eq!(node.result("net_version", json!([])), "1337");
    assert_eq!(node.result("net_listening", json!([])), true);
    assert!(node.result("web3_clientVersion", json!([])).as_str().unwrap().starts_with("ir3/"));
    let block = node.result("eth_getBlockByNumber", json!(["latest", false]));
    assert_eq!(block["number"], "0x0");
    assert_eq!(block["baseFeePerGas"], "0x3b9aca00");
    assert!(block["hash"].as_str().unwrap().len() == 66);
    let balance = quantity(&node.result("eth_getBalance", json!([DEV0, "latest"])));
    assert_eq!(balance, 10_000 * 10u128.pow(18));
    assert_eq!(node.result("eth_getTransactionCount", json!([DEV0, "pending"])), "0x0");
    let info = node.result("eth_getAccountInfo", json!([DEV0, "latest"]));
    assert_eq!(quantity(&info["balance"]), balance);
    assert_eq!(info["nonce"], "0x0");
    assert_eq!(info["code"], "0x");
    let history = node.result("eth_feeHistory", json!(["0x5", "latest", [10, 50]]));
    assert_eq!(history["oldestBlock"], "0x0");
    assert_eq!(history["baseFeePerGas"].as_array().unwrap().len(), 2);
    assert!(quantity(&node.result("eth_gasPrice", json!([]))) > 0);
    // No blob has ever been sent: the blob gas price is EIP-4844's minimum, as the
    // execution-apis case `eth_blobBaseFee/get-current-blobfee` expects.
    assert_eq!(node.result("eth_blobBaseFee", json!([])), "0x1");
    let estimate = node.result(
        "eth_estimateGas",
        json!([{"from": DEV0, "to": DEV1, "value": "0xde0b6b3a7640000"}]),
    );
    assert_eq!(estimate, "0x5208");
    assert_eq!(node.result("eth_getCode", json!([DEV1, "latest"])), "0x");

    let raw = node.cast(&[
        "mktx",
        "--private-key",
        DEV0_KEY,
        DEV1,
        "--value",
        "1ether",
        "--nonce",
        "0",
        "--gas-limit",
        "21000",
        "--chain",
        "1337",
    ]);
    let hash = node.result("eth_sendRawTransaction", json!([raw]));
    let receipt = node.result("eth_getTransactionReceipt", json!([hash]));
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["blockNumber"], "0x1");
    assert_eq!(receipt["from"].as_str().unwrap().to_lowercase(), DEV0.to_lowercase());
    let tx = node.result("eth_getTransactionByHash", json!([hash]));
    assert_eq!(tx["blockNumber"], "0x1");
    assert_eq!(tx["hash"], hash);
    assert_eq!(node.result("eth_blockNumber", json!([])), "0x1");
    // Block 1 carries the transaction, by number, by hash and by index.
    let block = node.result("eth_getBlockByNumber", json!(["0x1", true]));
    assert_eq!(block["transactions"][0]["hash"], hash);
    let by_hash = node.result("eth_getBlockByHash", json!([block["hash"], false]));
    assert_eq!(by_hash["transactions"][0], hash);
    let by_index = node.result("eth_getTransactionByBlockNumberAndIndex", json!(["0x1", "0x0"]));
    assert_eq!(by_index["hash"], hash);
    assert_eq!(node.result("eth_getBlockTransactionCountByNumber", json!(["0x1"])), "0x1");
    let receipts = node.result("eth_getBlockReceipts", json!(["0x1"]));
    assert_eq!(receipts.as_array().unwrap().len(), 1);
    // EIP-1898: state at a block hash.
    let genesis = node.result("eth_getBlockByNumber", json!(["0x0", false]));
    let at_genesis = node.result("eth_getBalance", json!([DEV1, {"blockHash": genesis["hash"]}]));
    assert_eq!(quantity(&at_genesis), 10_000 * 10u128.pow(18));
    for tag in ["earliest", "safe", "finalized", "pending"] {
        node.result("eth_getBalance", json!([DEV1, tag]));
    }
}

#[test]
fn signing_methods_match_the_dev_keys() {
    let node = Node::start(&[]);
    // personal_sign("hello") by dev account 0, as cast computes it locally.
    let expected = node.cast(&["wallet", "sign", "--private-key", DEV0_KEY, "hello"]);
    let personal = node.result("personal_sign", json!(["0x68656c6c6f", DEV0]));
    assert_eq!(personal, expected.as_str());
    let eth_sign = node.result("eth_sign", json!([DEV0, "0x68656c6c6f"]));
    assert_eq!(eth_sign, expected.as_str());
    let typed = json!({
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
            "Mail": [{"name": "contents", "type": "string"}]
        },
        "primaryType": "Mail",
        "domain": {"name": "ir3", "chainId": 1337},
        "message": {"contents": "hi"}
    });
    let as_object = node.result("eth_signTypedData_v4", json!([DEV0, typed]));
    let as_string = node.result("eth_signTypedData_v4", json!([DEV0, typed.to_string()]));
    assert_eq!(as_object, as_string);
    let expected =
        node.cast(&["wallet", "sign", "--private-key", DEV0_KEY, "--data", &typed.to_string()]);
    assert_eq!(as_object, expected.as_str());
    // eth_sendTransaction from a dev account fills nonce, gas and fees.
    let hash =
        node.result("eth_sendTransaction", json!([{"from": DEV0, "to": DEV1, "value": "0x1"}]));
    let receipt = node.result("eth_getTransactionReceipt", json!([hash]));
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["type"], "0x2");
    // ...but not from an account whose key the node does not hold.
    let stranger = node.call(
        "eth_sendTransaction",
        json!([{"from": "0x000000000000000000000000000000000000dEaD", "to": DEV1}]),
    );
    assert_eq!(error_code(&stranger), -32000);
}

#[test]
fn bad_input_gets_geth_and_anvil_errors_and_loses_nothing() {
    let node = Node::start(&[]);
    // Malformed JSON, unknown method, bad params.
    let (_, body) = post(node.port, b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":", &[]);
    let response: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error_code(&response), -32700);
    assert_eq!(error_code(&node.call("eth_doesNotExist", json!([]))), -32601);
    assert_eq!(error_code(&node.call("eth_getBalance", json!(["0x1234"]))), -32602);
    assert_eq!(error_code(&node.call("eth_getBlockByNumber", json!([{}]))), -32602);
    assert_eq!(error_code(&node.call("eth_sendRawTransaction", json!(["0xdeadbeef"]))), -32602);
    // A request over the size limit is refused; the node keeps serving.
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"web3_sha3\",\"params\":[\"0x{}\"]}}",
        "ab".repeat(6 * 1024 * 1024)
    );
    let (status, _) = post(node.port, huge.as_bytes(), &[]);
    assert_ne!(status, 200, "oversized request accepted");
    // Batches: answered in one array, errors per entry.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": []}
    ]);
    let (status, body) = post(node.port, batch.to_string().as_bytes(), &[]);
    assert_eq!(status, 200);
    let answers: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answers.as_array().unwrap().len(), 3);

    // Transaction rejections with geth's messages and Anvil's code.
    let mktx = |extra: &[&str]| {
        let mut args = vec!["mktx", "--private-key", DEV0_KEY, DEV1, "--value", "1"];
        args.extend_from_slice(extra);
        node.cast(&args)
    };
    let raw = mktx(&["--nonce", "0", "--gas-limit", "21000"]);
    node.result("eth_sendRawTransaction", json!([raw]));
    let again = node.call("eth_sendRawTransaction", json!([raw]));
    assert_eq!(error_code(&again), -32003);
    assert!(again["error"]["message"].as_str().unwrap().contains("already known"), "{again}");
    let low = node
        .call("eth_sendRawTransaction", json!([mktx(&["--nonce", "0", "--gas-limit", "21001"])]));
    assert_eq!(error_code(&low), -32003);
    assert!(low["error"]["message"].as_str().unwrap().contains("nonce too low"), "{low}");
    let wrong_chain = node.call(
        "eth_sendRawTransaction",
        json!([mktx(&["--nonce", "1", "--gas-limit", "21000", "--chain", "1"])]),
    );
    assert!(
        wrong_chain["error"]["message"].as_str().unwrap().contains("chain id"),
        "{wrong_chain}"
    );
    let cheap = node.call(
        "eth_sendRawTransaction",
        json!([mktx(&[
            "--nonce",
            "1",
            "--gas-limit",
            "21000",
            "--gas-price",
            "1",
            "--priority-gas-price",
            "1"
        ])]),
    );
    assert!(cheap["error"]["message"].as_str().unwrap().contains("base fee"), "{cheap}");
    let rich = node.call(
        "eth_sendRawTransaction",
        json!([node.cast(&[
            "mktx",
            "--private-key",
            DEV0_KEY,
            DEV1,
            "--value",
            "100000ether",
            "--nonce",
            "1",
            "--gas-limit",
            "21000"
        ])]),
    );
    assert!(rich["error"]["message"].as_str().unwrap().contains("insufficient funds"), "{rich}");

    // Nothing above disturbed the chain: one transaction mined, the node still answers.
    assert_eq!(node.result("eth_blockNumber", json!([])), "0x1");
    assert_eq!(node.result("eth_getTransactionCount", json!([DEV0, "latest"])), "0x1");
}

#[test]
fn reverts_carry_code_3_reason_and_data() {
    let node = Node::start(&[]);
    let bytecode = crate::utils::artifact_bytecode("Counter");
    let hash = node.result("eth_sendTransaction", json!([{"from": DEV0, "data": bytecode}]));
    let receipt = node.result("eth_getTransactionReceipt", json!([hash]));
    let counter = receipt["contractAddress"].as_str().unwrap().to_string();
    let data = node.cast(&["calldata", "fail(string)", "boom"]);
    let response = node.call("eth_call", json!([{"to": counter, "data": data}, "latest"]));
    assert_eq!(error_code(&response), 3);
    assert_eq!(response["error"]["message"], "execution reverted: boom");
    assert!(response["error"]["data"].as_str().unwrap().starts_with("0x08c379a0"));
    let estimate =
        node.call("eth_estimateGas", json!([{"from": DEV0, "to": counter, "data": data}]));
    assert_eq!(error_code(&estimate), 3);
    // State overrides: eth_call sees an overridden slot.
    let number = node.cast(&["calldata", "number()"]);
    let overridden = node.result(
        "eth_call",
        json!([
            {"to": counter, "data": number},
            "latest",
            {counter.clone(): {"stateDiff": {format!("0x{:064x}", 0): format!("0x{:064x}", 99)}}}
        ]),
    );
    assert_eq!(quantity(&overridden), 99);
    // An access list for a storage write names the slot.
    let set = node.cast(&["calldata", "setNumber(uint256)", "5"]);
    let list =
        node.result("eth_createAccessList", json!([{"from": DEV0, "to": counter, "data": set}]));
    assert_eq!(list["accessList"][0]["storageKeys"].as_array().unwrap().len(), 1);
}

#[test]
fn filters_and_pool_follow_the_chain() {
    let node = Node::start(&["--no-mining"]);
    let block_filter = node.result("eth_newBlockFilter", json!([]));
    let pending_filter = node.result("eth_newPendingTransactionFilter", json!([]));
    // With mining off, a future-nonce and a next-nonce transaction both wait in the pool.
    let raw = |nonce: &str| {
        node.cast(&[
            "mktx",
            "--private-key",
            DEV0_KEY,
            DEV1,
            "--value",
            "1",
            "--nonce",
            nonce,
            "--gas-limit",
            "21000",
        ])
    };
    let later = node.result("eth_sendRawTransaction", json!([raw("1")]));
    let first = node.result("eth_sendRawTransaction", json!([raw("0")]));
    assert_eq!(node.result("eth_getTransactionCount", json!([DEV0, "pending"])), "0x2");
    assert_eq!(node.result("eth_getTransactionCount", json!([DEV0, "latest"])), "0x0");
    let pooled = node.result("eth_getTransactionByHash", json!([later]));
    assert_eq!(pooled["blockNumber"], Value::Null);
    assert_eq!(node.result("eth_getTransactionReceipt", json!([first])), Value::Null);
    let changes = node.result("eth_getFilterChanges", json!([pending_filter]));
    assert_eq!(changes.as_array().unwrap().len(), 2);
    // Nothing mined yet.
    assert_eq!(node.result("eth_getFilterChanges", json!([block_filter])), json!([]));
    assert_eq!(node.result("eth_uninstallFilter", json!([block_filter])), true);
    assert_eq!(error_code(&node.call("eth_getFilterChanges", json!([block_filter]))), -32000);
}

#[test]
fn filters_follow_a_revert() {
    let node = Node::start(&[]);
    let snapshot = node.result("evm_snapshot", json!([]));
    let blocks = node.result("eth_newBlockFilter", json!([]));
    let logs = node.result("eth_newFilter", json!([{}]));
    node.result("anvil_mine", json!(["0x2"]));
    let seen = node.result("eth_getFilterChanges", json!([blocks]));
    assert_eq!(seen.as_array().unwrap().len(), 2);
    node.result("eth_getFilterChanges", json!([logs]));

    assert_eq!(node.result("evm_revert", json!([snapshot])), true);
    assert_eq!(node.result("eth_blockNumber", json!([])), "0x0");
    // The block that replaces block 1 is reported, and so is its log-less content.
    node.result("evm_mine", json!([]));
    let after = node.result("eth_getFilterChanges", json!([blocks]));
    let latest = node.result("eth_getBlockByNumber", json!(["latest", false]));
    assert_eq!(after, json!([latest["hash"]]));
    assert_eq!(node.result("eth_getFilterChanges", json!([logs])), json!([]));
}
