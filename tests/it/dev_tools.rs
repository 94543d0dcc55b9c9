//! The dev-node toolkit (`anvil_`, `evm_`, `hardhat_`, `txpool_`, `debug_`, `trace_`, `ots_`)
//! driven by real clients: viem's test client, the real `cast rpc`, and a real Anvil for state
//! dumps going both ways. Also: the toolkit's settings and snapshots survive `kill -9`, and bad
//! input gets JSON-RPC errors, never a crash.

use serde_json::{Value, json};

use crate::{
    anvil::{Anvil, call, result, send_and_wait},
    utils::{DEV0, DEV0_KEY, DEV1, Node, artifact_bytecode, quantity, run_node_script},
};

/// Dev account 3 (untouched by the other steps).
const DEV3: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
/// Fresh addresses.
const RICH: &str = "0x00000000000000000000000000000000000b0b01";
const CLONE: &str = "0x00000000000000000000000000000000000c10e5";
const ETHER: u128 = 1_000_000_000_000_000_000;

fn slot(value: u64) -> String {
    format!("0x{value:064x}")
}

/// Deploys `Counter` from dev 0 and sets its number; (address, runtime code).
fn deploy_counter(port: u16, number: u64) -> (String, String) {
    let receipt = send_and_wait(
        port,
        json!({"from": DEV0, "data": artifact_bytecode("Counter"), "gas": "0x200000"}),
    );
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let address = receipt["contractAddress"].as_str().unwrap().to_string();
    set_number(port, &address, number);
    let code = result(port, "eth_getCode", json!([address, "latest"]));
    (address, code.as_str().unwrap().to_string())
}

/// `Counter.setNumber(number)` from dev 0, mined.
fn set_number(port: u16, counter: &str, number: u64) -> Value {
    let data = format!("0x3fb5c1cb{number:064x}");
    let receipt = send_and_wait(port, json!({"from": DEV0, "to": counter, "data": data}));
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    receipt
}

/// `Counter.number()` through eth_call.
fn number(port: u16, counter: &str) -> u128 {
    quantity(&result(port, "eth_call", json!([{"to": counter, "data": "0x8381f58a"}, "latest"])))
}

fn block_number(port: u16) -> u128 {
    quantity(&result(port, "eth_blockNumber", json!([])))
}

/// Parses `cast rpc` output (JSON).
fn cast_rpc(node: &Node, args: &[&str]) -> Value {
    let mut all = vec!["rpc"];
    all.extend_from_slice(args);
    let out = node.cast(&all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("cast rpc {args:?}: {e}: {out}"))
}

/// A key of a JSON object, matched case-insensitively (addresses may be checksummed or not).
fn get_ci<'a>(object: &'a Value, key: &str) -> &'a Value {
    object
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
        .unwrap_or(&Value::Null)
}

// ------------------------------------------------------------------------------------ viem

#[test]
fn dev_tools_viem_test_client_actions() {
    let node = Node::start(&[]);
    let out = run_node_script(&node, "e2e-devtools.mjs");
    assert!(out.contains("\"ok\":true"), "{out}");
    for check in [
        "snapshot / revert restores balance, storage and block number",
        "stopImpersonatingAccount: the same send fails",
        "dropTransaction removes a pending transaction",
        "dumpState / loadState round trip",
    ] {
        assert!(out.contains(check), "check {check:?} did not run: {out}");
    }
}

// ------------------------------------------------------------------------------------ cast

#[test]
fn dev_tools_cast_rpc_every_namespace() {
    let node = Node::start(&[]);
    let port = node.port;
    let (counter, _) = deploy_counter(port, 7);
    let set_hash =
        result(port, "eth_getBlockByNumber", json!(["latest", false]))["transactions"][0].clone();
    let set_hash = set_hash.as_str().unwrap();

    // anvil_
    let info = cast_rpc(&node, &["anvil_nodeInfo"]);
    assert_eq!(info["currentBlockNumber"], "0x2", "{info}");
    assert_eq!(info["environment"]["chainId"], 1337, "{info}");
    assert!(info["hardFork"].as_str().unwrap().eq_ignore_ascii_case("osaka"), "{info}");
    assert!(info["forkConfig"].is_object(), "{info}");
    assert_eq!(cast_rpc(&node, &["anvil_setBalance", RICH, "0x56bc75e2d63100000"]), Value::Null);
    assert_eq!(node.cast(&["balance", RICH]), "100000000000000000000");
    assert_eq!(cast_rpc(&node, &["anvil_addBalance", RICH, "0x1"]), Value::Null);
    assert_eq!(node.cast(&["balance", RICH]), "100000000000000000001");
    assert_eq!(cast_rpc(&node, &["anvil_setStorageAt", &counter, "0x0", &slot(42)]), true);
    assert_eq!(node.cast(&["call", &counter, "number()(uint256)"]), "42");
    assert_eq!(cast_rpc(&node, &["anvil_getAutomine"]), true);
    assert_eq!(cast_rpc(&node, &["anvil_getIntervalMining"]), Value::Null);
    let metadata = cast_rpc(&node, &["anvil_metadata"]);
    assert_eq!(metadata["chainId"], 1337, "{metadata}");
    assert_eq!(metadata["latestBlockNumber"], 2, "{metadata}");
    assert_eq!(metadata["snapshots"], json!({}), "{metadata}");

    // evm_
    let snapshot = cast_rpc(&node, &["evm_snapshot"]);
    assert_eq!(snapshot, "0x0");
    assert_eq!(cast_rpc(&node, &["evm_mine"]), "0x0");
    assert_eq!(block_number(port), 3);
    assert_eq!(cast_rpc(&node, &["evm_increaseTime", "60"]), 60);
    let head = result(port, "eth_getBlockByNumber", json!(["latest", false]));
    let target = quantity(&head["timestamp"]) as u64 + 1000;
    assert_eq!(cast_rpc(&node, &["evm_setNextBlockTimestamp", &target.to_string()]), Value::Null);
    assert_eq!(cast_rpc(&node, &["evm_mine"]), "0x0");
    assert_eq!(node.cast(&["block", "latest", "--field", "timestamp"]), target.to_string());
    let metadata = cast_rpc(&node, &["anvil_metadata"]);
    assert!(get_ci(&metadata["snapshots"], "0x0").is_array(), "{metadata}");
    assert_eq!(cast_rpc(&node, &["evm_revert", "0x0"]), true);
    assert_eq!(block_number(port), 2);
    assert_eq!(node.cast(&["call", &counter, "number()(uint256)"]), "42");
    assert_eq!(cast_rpc(&node, &["evm_revert", "0x0"]), false, "a snapshot is used up");
    assert_eq!(cast_rpc(&node, &["evm_setBlockGasLimit", "0x1c9c381"]), true);
    assert_eq!(cast_rpc(&node, &["evm_mine", r#"{"timestamp": 4000000000, "blocks": 2}"#]), "0x0");
    assert_eq!(block_number(port), 4);
    assert_eq!(node.cast(&["block", "3", "--field", "timestamp"]), "4000000000");
    assert_eq!(node.cast(&["block", "latest", "--field", "gasLimit"]), "30000001");

    // hardhat_
    assert_eq!(cast_rpc(&node, &["hardhat_mine", "0x2"]), Value::Null);
    assert_eq!(block_number(port), 6);
    assert_eq!(cast_rpc(&node, &["hardhat_setCode", CLONE, "0x6001600101"]), Value::Null);
    assert_eq!(node.cast(&["code", CLONE]), "0x6001600101");
    assert_eq!(cast_rpc(&node, &["hardhat_setNonce", CLONE, "0x9"]), Value::Null);
    assert_eq!(node.cast(&["nonce", CLONE]), "9");
    assert_eq!(cast_rpc(&node, &["hardhat_setBalance", CLONE, "0x10"]), Value::Null);
    assert_eq!(node.cast(&["balance", CLONE]), "16");
    assert_eq!(cast_rpc(&node, &["hardhat_setStorageAt", CLONE, "0x3", &slot(5)]), true);
    assert_eq!(node.cast(&["storage", CLONE, "3"]), slot(5));
    assert_eq!(cast_rpc(&node, &["hardhat_getAutomine"]), true);
    assert!(cast_rpc(&node, &["hardhat_metadata"])["clientVersion"].is_string());

    // txpool_ (automine off, one pending transfer).
    assert_eq!(cast_rpc(&node, &["evm_setAutomine", "false"]), Value::Null);
    assert_eq!(cast_rpc(&node, &["anvil_getAutomine"]), false);
    let pending =
        node.cast(&["send", "--async", "--private-key", DEV0_KEY, DEV1, "--value", "1000"]);
    assert_eq!(cast_rpc(&node, &["txpool_status"]), json!({"pending": "0x1", "queued": "0x0"}));
    let inspect = cast_rpc(&node, &["txpool_inspect"]);
    let summary = &get_ci(&inspect["pending"], DEV0)["2"];
    let summary = summary.as_str().unwrap_or_else(|| panic!("txpool_inspect: {inspect}"));
    assert!(summary.to_lowercase().starts_with(&DEV1.to_lowercase()), "{summary}");
    assert!(summary.contains(": 1000 wei + 21000 gas × "), "{summary}");
    assert_eq!(inspect["queued"], json!({}));
    let content = cast_rpc(&node, &["txpool_content"]);
    let tx = &get_ci(&content["pending"], DEV0)["2"];
    assert_eq!(tx["hash"], pending.as_str(), "{content}");
    assert_eq!(tx["blockNumber"], Value::Null);
    assert_eq!(tx["nonce"], "0x2");
    let from = cast_rpc(&node, &["txpool_contentFrom", DEV0]);
    assert_eq!(from["pending"]["2"]["hash"], pending.as_str(), "{from}");
    assert_eq!(from["queued"], json!({}));
    assert_eq!(cast_rpc(&node, &["evm_mine"]), "0x0");
    assert_eq!(cast_rpc(&node, &["txpool_status"]), json!({"pending": "0x0", "queued": "0x0"}));
    assert_eq!(cast_rpc(&node, &["evm_setAutomine", "true"]), Value::Null);

    // debug_ on the setNumber(7) transaction (block 2).
    let trace =
        cast_rpc(&node, &["debug_traceTransaction", set_hash, r#"{"tracer":"callTracer"}"#]);
    assert_eq!(trace["type"], "CALL", "{trace}");
    assert_eq!(trace["from"], DEV0.to_lowercase());
    assert_eq!(trace["to"], counter.to_lowercase());
    assert!(trace["input"].as_str().unwrap().starts_with("0x3fb5c1cb"), "{trace}");
    let logs = cast_rpc(&node, &["debug_traceTransaction", set_hash]);
    assert_eq!(logs["failed"], false);
    assert!(logs["structLogs"].as_array().unwrap().iter().any(|s| s["op"] == "SSTORE"));
    let raw_tx = cast_rpc(&node, &["debug_getRawTransaction", set_hash]);
    assert_eq!(node.cast(&["keccak", raw_tx.as_str().unwrap()]), set_hash);
    let block2 = result(port, "eth_getBlockByNumber", json!(["0x2", false]));
    let raw_header = cast_rpc(&node, &["debug_getRawHeader", "0x2"]);
    assert_eq!(node.cast(&["keccak", raw_header.as_str().unwrap()]), block2["hash"]);
    let raw_block = cast_rpc(&node, &["debug_getRawBlock", "0x2"]);
    assert!(raw_block.as_str().unwrap().contains(&raw_tx.as_str().unwrap()[2..]), "{raw_block}");
    let raw_receipts = cast_rpc(&node, &["debug_getRawReceipts", "0x2"]);
    assert_eq!(raw_receipts.as_array().unwrap().len(), 1, "{raw_receipts}");
    let traced_block =
        cast_rpc(&node, &["debug_traceBlockByNumber", "0x2", r#"{"tracer":"callTracer"}"#]);
    assert_eq!(traced_block[0]["txHash"], set_hash);
    assert_eq!(traced_block[0]["result"], trace);
    let by_hash = cast_rpc(
        &node,
        &["debug_traceBlockByHash", block2["hash"].as_str().unwrap(), r#"{"tracer":"callTracer"}"#],
    );
    assert_eq!(by_hash, traced_block);
    let request = json!({"from": DEV0, "to": counter, "data": "0x8381f58a"}).to_string();
    let call =
        cast_rpc(&node, &["debug_traceCall", &request, "latest", r#"{"tracer":"callTracer"}"#]);
    assert_eq!(call["output"], slot(42), "{call}");
    let prestate = cast_rpc(
        &node,
        &[
            "debug_traceTransaction",
            set_hash,
            r#"{"tracer":"prestateTracer","tracerConfig":{"diffMode":true}}"#,
        ],
    );
    let post = get_ci(&prestate["post"], &counter);
    assert_eq!(post["storage"][slot(0)], slot(7), "{prestate}");

    // trace_
    let traces = cast_rpc(&node, &["trace_transaction", set_hash]);
    assert_eq!(traces[0]["type"], "call", "{traces}");
    assert_eq!(traces[0]["action"]["from"], DEV0.to_lowercase());
    assert_eq!(traces[0]["action"]["callType"], "call");
    assert_eq!(traces[0]["traceAddress"], json!([]));
    assert_eq!(traces[0]["transactionHash"], set_hash);
    assert_eq!(traces[0]["blockNumber"], 2);
    let block_traces = cast_rpc(&node, &["trace_block", "0x2"]);
    assert_eq!(block_traces, traces);
    let replay =
        cast_rpc(&node, &["trace_replayTransaction", set_hash, r#"["trace","stateDiff"]"#]);
    assert_eq!(replay["trace"][0]["action"], traces[0]["action"], "{replay}");
    let diff = get_ci(&replay["stateDiff"], &counter);
    assert_eq!(diff["storage"][slot(0)]["*"]["to"], slot(7), "{replay}");
    assert_eq!(replay["vmTrace"], Value::Null);

    // ots_
    assert_eq!(cast_rpc(&node, &["ots_getApiLevel"]), 8);
    assert_eq!(cast_rpc(&node, &["ots_hasCode", &counter, "latest"]), true);
    assert_eq!(cast_rpc(&node, &["ots_hasCode", DEV1, "latest"]), false);
    let details = cast_rpc(&node, &["ots_getBlockDetails", "2"]);
    assert_eq!(details["block"]["hash"], block2["hash"], "{details}");
    assert_eq!(details["block"]["transactionCount"], 1, "{details}");
    assert!(details["issuance"].is_object() && details["totalFees"].is_string(), "{details}");
    let details_by_hash =
        cast_rpc(&node, &["ots_getBlockDetailsByHash", block2["hash"].as_str().unwrap()]);
    assert_eq!(details_by_hash, details);
    let page = cast_rpc(&node, &["ots_getBlockTransactions", "2", "0", "10"]);
    assert_eq!(page["fullblock"]["transactions"][0]["hash"], set_hash, "{page}");
    assert_eq!(page["receipts"][0]["status"], "0x1", "{page}");
    let before = cast_rpc(&node, &["ots_searchTransactionsBefore", DEV0, "0", "10"]);
    let hashes: Vec<&str> =
        before["txs"].as_array().unwrap().iter().map(|t| t["hash"].as_str().unwrap()).collect();
    assert_eq!(hashes.len(), 3, "deploy, setNumber, transfer: {before}");
    assert_eq!(hashes[1], set_hash, "newest first: {before}");
    assert_eq!(before["receipts"].as_array().unwrap().len(), 3);
    assert_eq!(before["firstPage"], true);
    assert_eq!(before["lastPage"], true);
    let after = cast_rpc(&node, &["ots_searchTransactionsAfter", DEV0, "0", "10"]);
    assert_eq!(after["txs"].as_array().unwrap().len(), 3, "{after}");
    assert_eq!(cast_rpc(&node, &["ots_getTransactionBySenderAndNonce", DEV0, "1"]), set_hash);
    assert_eq!(cast_rpc(&node, &["ots_getTransactionBySenderAndNonce", DEV0, "99"]), Value::Null);
    let creator = cast_rpc(&node, &["ots_getContractCreator", &counter]);
    assert_eq!(creator["creator"], DEV0.to_lowercase(), "{creator}");
    assert_eq!(creator["hash"], before["txs"][2]["hash"], "{creator}");
    assert_eq!(cast_rpc(&node, &["ots_getInternalOperations", set_hash]), json!([]));
    assert_eq!(cast_rpc(&node, &["ots_getTransactionError", set_hash]), "0x");
}

/// A block's `size` is the length of its RLP encoding, as `debug_getRawBlock` returns it.
#[test]
fn dev_tools_raw_block_length_is_the_block_size() {
    let node = Node::start(&[]);
    node.result("eth_sendTransaction", json!([{"from": DEV0, "to": DEV1, "value": "0x1"}]));
    for number in ["0x0", "0x1"] {
        let block = node.result("eth_getBlockByNumber", json!([number, false]));
        let raw = node.result("debug_getRawBlock", json!([number]));
        let length = (raw.as_str().unwrap().len() - 2) / 2;
        assert_eq!(quantity(&block["size"]), length as u128, "block {number}");
    }
}

// ------------------------------------------------------------------------------ state dumps

/// Balance, nonce and code of `address`, and the given storage slots.
fn account(port: u16, address: &str, slots: &[u64]) -> Value {
    let storage: Vec<Value> = slots
        .iter()
        .map(|s| result(port, "eth_getStorageAt", json!([address, format!("{s:#x}"), "latest"])))
        .collect();
    json!({
        "balance": result(port, "eth_getBalance", json!([address, "latest"])),
        "nonce": result(port, "eth_getTransactionCount", json!([address, "latest"])),
        "code": result(port, "eth_getCode", json!([address, "latest"])),
        "storage": storage,
    })
}

/// Builds a state on the node at `port`: a Counter with number 42, a rich account with a
/// nonce, a clone of Counter with storage, a transfer. Returns the addresses to compare.
fn build_state(port: u16) -> Vec<String> {
    let (counter, code) = deploy_counter(port, 42);
    assert_eq!(
        result(port, "anvil_setBalance", json!([RICH, "0x3635c9adc5dea00000"])),
        Value::Null
    );
    assert_eq!(result(port, "anvil_setNonce", json!([RICH, "0x7"])), Value::Null);
    assert_eq!(result(port, "anvil_setCode", json!([CLONE, code])), Value::Null);
    assert_eq!(result(port, "anvil_setStorageAt", json!([CLONE, "0x0", slot(99)])), true);
    assert_eq!(result(port, "anvil_setStorageAt", json!([CLONE, "0x5", slot(5)])), true);
    let receipt =
        send_and_wait(port, json!({"from": DEV1, "to": DEV3, "value": "0xde0b6b3a7640000"}));
    assert_eq!(receipt["status"], "0x1");
    [DEV0, DEV1, DEV3, RICH, CLONE, counter.as_str()].iter().map(|s| s.to_string()).collect()
}

fn assert_same_state(from: u16, to: u16, addresses: &[String], what: &str) {
    for address in addresses {
        assert_eq!(
            account(to, address, &[0, 1, 5]),
            account(from, address, &[0, 1, 5]),
            "{what}: account {address}"
        );
    }
}

/// Mines empty blocks on Anvil up to `height`: Anvil refuses a dump whose
/// `best_block_number` is above its own head when the dump carries no blocks (ir3's never do),
/// see `state_dump_from_ir3_loads_into_a_fresh_anvil`.
fn raise_anvil_to(anvil: &Anvil, height: u128) {
    let head = block_number(anvil.port);
    if head < height {
        anvil.result("anvil_mine", json!([format!("{:#x}", height - head)]));
    }
    assert_eq!(block_number(anvil.port), height.max(head));
}

/// ir3's dump of a built state; (node, dump, addresses, counter).
fn ir3_dump() -> (Node, Value, Vec<String>, String) {
    let node = Node::start(&[]);
    let addresses = build_state(node.port);
    let counter = addresses.last().unwrap().clone();
    let dump = node.result("anvil_dumpState", json!([]));
    assert!(dump.as_str().unwrap().starts_with("0x1f8b"), "hex of gzip: {dump}");
    (node, dump, addresses, counter)
}

#[test]
fn state_dump_from_ir3_loads_into_anvil_at_the_same_height() {
    let (node, dump, addresses, counter) = ir3_dump();
    // The hardhat_ alias answers the same state.
    assert_eq!(node.result("hardhat_dumpState", json!([])), dump, "two dumps differ");

    let anvil = Anvil::start(&[]);
    raise_anvil_to(&anvil, block_number(node.port));
    assert_eq!(anvil.result("anvil_loadState", json!([dump])), true);
    assert_same_state(node.port, anvil.port, &addresses, "ir3 -> Anvil");
    assert_eq!(number(anvil.port, &counter), 42);
    assert_eq!(number(anvil.port, CLONE), 99);
    // Anvil goes on from the loaded state.
    set_number(anvil.port, &counter, 43);
    assert_eq!(number(anvil.port, &counter), 43);
}

/// A dump taken by ir3 loads into a fresh Anvil (it carries accounts only: Anvil resolves a
/// best block number against blocks a dump does not carry).
#[test]
fn state_dump_from_ir3_loads_into_a_fresh_anvil() {
    let (node, dump, addresses, _) = ir3_dump();
    let anvil = Anvil::start(&[]);
    let response = crate::anvil::call(anvil.port, "anvil_loadState", json!([dump]));
    assert_eq!(response["result"], true, "Anvil's answer: {response}");
    assert_same_state(node.port, anvil.port, &addresses, "ir3 -> fresh Anvil");
}

#[test]
fn state_dump_from_anvil_loads_into_ir3() {
    let anvil = Anvil::start(&[]);
    let mut addresses = build_state(anvil.port);
    let counter = addresses.last().unwrap().clone();
    // Anvil's genesis also holds the EIP-2935 history contract and the CREATE2 deployer.
    addresses.push("0x0000f90827f1c53a10cb7a02335b175320002935".into());
    addresses.push("0x4e59b44847b379578588920ca78fbf26c0b4956c".into());
    let dump = anvil.result("anvil_dumpState", json!([]));

    let node = Node::start(&[]);
    assert_eq!(node.result("anvil_loadState", json!([dump])), true);
    assert_same_state(anvil.port, node.port, &addresses, "Anvil -> ir3");
    assert_eq!(number(node.port, &counter), 42);
    assert_eq!(number(node.port, CLONE), 99);
    // ir3 goes on from the loaded state (dev 0's nonce came from the dump).
    set_number(node.port, &counter, 43);
    assert_eq!(number(node.port, &counter), 43);
    // And its own dump of it loads back into Anvil with the same accounts.
    let back = node.result("anvil_dumpState", json!([]));
    let other = Anvil::start(&[]);
    raise_anvil_to(&other, block_number(node.port));
    assert_eq!(other.result("anvil_loadState", json!([back])), true);
    assert_same_state(node.port, other.port, &addresses, "Anvil -> ir3 -> Anvil");
}

/// `anvil_loadState` never lowers a nonce (Anvil keeps `max(current, dumped)`), so a deployer's
/// next contract never lands on an address already used after the dump.
#[test]
fn state_dump_load_never_lowers_a_nonce() {
    // Returns a contract that returns 42.
    let init = "0x600a600c600039600a6000f3602a60005260206000f3";
    let deploy =
        |port: u16| send_and_wait(port, json!({"from": DEV3, "data": init, "gas": "0x30000"}));
    let anvil = Anvil::start(&[]);
    let node = Node::start(&[]);
    for port in [anvil.port, node.port] {
        let dump = result(port, "anvil_dumpState", json!([]));
        let first = deploy(port);
        assert_eq!(first["status"], "0x1");
        assert_eq!(result(port, "anvil_loadState", json!([dump])), true);
        let name = if port == anvil.port { "Anvil" } else { "ir3" };
        assert_eq!(
            result(port, "eth_getTransactionCount", json!([DEV3, "latest"])),
            "0x1",
            "{name}: the nonce after loading an older dump"
        );
        let second = deploy(port);
        assert_eq!(second["status"], "0x1", "{name}: the next deployment: {second}");
        assert_ne!(second["contractAddress"], first["contractAddress"], "{name}");
    }
}

// ---------------------------------------------------------------------------- persistence

#[test]
fn dev_tools_state_settings_snapshots_and_pool_survive_kill9() {
    let mut node = Node::start(&[]);
    let port = node.port;
    let (counter, code) = deploy_counter(port, 5);
    node.result("anvil_setBalance", json!([RICH, "0x1000"]));
    node.result("anvil_setCode", json!([CLONE, code]));
    node.result("anvil_setStorageAt", json!([CLONE, "0x0", slot(77)]));
    node.result("anvil_setNonce", json!([RICH, "0x4"]));
    let snap0 = node.result("evm_snapshot", json!([]));
    assert_eq!(snap0, "0x0");
    let snap0_block = block_number(port);

    // After the snapshot: more cheats and a mined transaction.
    node.result("anvil_setBalance", json!([RICH, "0x2000"]));
    set_number(port, &counter, 6);
    // Manual mining with two pending transactions, a second snapshot between them.
    node.result("evm_setAutomine", json!([false]));
    let p1 =
        node.result("eth_sendTransaction", json!([{"from": DEV1, "to": DEV3, "value": "0x1"}]));
    let snap1 = node.result("evm_snapshot", json!([]));
    assert_eq!(snap1, "0x1");
    let p2 =
        node.result("eth_sendTransaction", json!([{"from": DEV1, "to": DEV3, "value": "0x2"}]));
    let head = node.result("eth_getBlockByNumber", json!(["latest", false]));
    let pool = node.result("txpool_content", json!([]));
    let metadata = node.result("anvil_metadata", json!([]));
    let observe = |node: &Node| {
        json!({
            "rich": node.result("eth_getBalance", json!([RICH, "latest"])),
            "richNonce": node.result("eth_getTransactionCount", json!([RICH, "latest"])),
            "clone": node.result("eth_getCode", json!([CLONE, "latest"])),
            "cloneSlot": node.result("eth_getStorageAt", json!([CLONE, "0x0", "latest"])),
            "counter": number(node.port, &counter).to_string(),
        })
    };
    let before = observe(&node);
    assert_eq!(before["rich"], "0x2000");
    assert_eq!(before["counter"], "6");
    assert_eq!(get_ci(&pool["pending"], DEV1).as_object().unwrap().len(), 2, "{pool}");

    node.restart(); // kill -9, then the same data dir
    assert_eq!(observe(&node), before, "state after kill -9");
    assert_eq!(node.result("eth_getBlockByNumber", json!(["latest", false])), head);
    assert_eq!(node.result("anvil_getAutomine", json!([])), false, "automine setting");
    assert_eq!(node.result("txpool_content", json!([])), pool, "pool after kill -9");
    assert_eq!(node.result("anvil_metadata", json!([]))["snapshots"], metadata["snapshots"]);
    assert_eq!(node.result("eth_getTransactionByHash", json!([p2]))["blockNumber"], Value::Null);
    // Still manual: a new transaction is pooled, not mined.
    let p3 =
        node.result("eth_sendTransaction", json!([{"from": DEV1, "to": DEV3, "value": "0x3"}]));
    assert_eq!(node.result("eth_getBlockByNumber", json!(["latest", false])), head);
    assert_eq!(node.result("txpool_status", json!([]))["pending"], "0x3");

    // Revert to the second snapshot: only p1 is pooled again.
    assert_eq!(node.result("evm_revert", json!([snap1])), true);
    let status = node.result("txpool_status", json!([]));
    assert_eq!(status["pending"], "0x1", "pool restored to the snapshot's: {status}");
    assert_eq!(node.result("eth_getTransactionByHash", json!([p2])), Value::Null);
    assert_eq!(node.result("eth_getTransactionByHash", json!([p3])), Value::Null);
    assert_eq!(node.result("eth_getTransactionByHash", json!([p1]))["hash"], p1);
    node.result("evm_mine", json!([]));
    let receipt = node.result("eth_getTransactionReceipt", json!([p1]));
    assert_eq!(receipt["status"], "0x1", "{receipt}");

    // Revert to the first snapshot: state, blocks, receipts and pool as they were then.
    assert_eq!(node.result("evm_revert", json!([snap0])), true);
    let reverted = json!({
        "rich": "0x1000",
        "richNonce": "0x4",
        "clone": before["clone"],
        "cloneSlot": slot(77),
        "counter": "5",
    });
    assert_eq!(observe(&node), reverted, "state after the revert");
    assert_eq!(block_number(port), snap0_block);
    assert_eq!(node.result("eth_getTransactionReceipt", json!([p1])), Value::Null);
    assert_eq!(node.result("txpool_status", json!([])), json!({"pending": "0x0", "queued": "0x0"}));
    assert_eq!(node.result("anvil_metadata", json!([]))["snapshots"], json!({}));
    let reverted_head = node.result("eth_getBlockByNumber", json!(["latest", false]));

    // The revert itself is durable.
    node.restart();
    assert_eq!(observe(&node), reverted, "reverted state after kill -9");
    assert_eq!(node.result("eth_getBlockByNumber", json!(["latest", false])), reverted_head);
    assert_eq!(node.result("eth_getTransactionReceipt", json!([p1])), Value::Null);
    assert_eq!(node.result("txpool_status", json!([]))["pending"], "0x0");
    assert_eq!(node.result("evm_revert", json!([snap1])), false, "consumed by the revert");
    // And the chain goes on from there.
    node.result("evm_setAutomine", json!([true]));
    set_number(port, &counter, 8);
    assert_eq!(block_number(port), snap0_block + 1);
}

#[test]
fn dev_tools_mining_settings_and_impersonation_survive_kill9() {
    const DEAD: &str = "0x000000000000000000000000000000000000dEaD";
    const MINER: &str = "0x00000000000000000000000000000000000000cc";
    let mut node = Node::start(&[]);
    node.result("anvil_setBalance", json!([DEAD, "0xde0b6b3a7640000"]));
    node.result("anvil_impersonateAccount", json!([DEAD]));
    node.result("anvil_setCoinbase", json!([MINER]));
    assert_eq!(node.result("evm_setBlockGasLimit", json!(["0x2000000"])), true);
    node.result("anvil_setNextBlockBaseFeePerGas", json!(["0x77359400"]));
    node.result("anvil_setBlockTimestampInterval", json!([100]));
    node.result("evm_setAutomine", json!([false]));
    let transfer = json!({"from": DEAD, "to": DEV1, "value": "0x1",
        "maxFeePerGas": "0x2540be400", "maxPriorityFeePerGas": "0x1"});
    let pending = node.result("eth_sendTransaction", json!([transfer]));
    let head = node.result("eth_getBlockByNumber", json!(["latest", false]));

    node.restart();
    assert_eq!(node.result("anvil_getAutomine", json!([])), false);
    let content = node.result("txpool_content", json!([]));
    // (Not compared by hash: see dev_tools_impersonated_transactions_report_their_own_hash.)
    let pooled = &get_ci(&content["pending"], DEAD)["0"];
    assert_eq!(pooled["from"], DEAD.to_lowercase(), "{content}");
    assert_eq!(pooled["value"], "0x1", "{content}");
    // The next block uses every setting made before the crash.
    node.result("evm_mine", json!([]));
    let block = node.result("eth_getBlockByNumber", json!(["latest", false]));
    assert_eq!(block["transactions"], json!([pending]), "the impersonated tx is mined");
    assert_eq!(block["miner"], MINER);
    assert_eq!(block["gasLimit"], "0x2000000");
    assert_eq!(block["baseFeePerGas"], "0x77359400");
    assert_eq!(quantity(&block["timestamp"]), quantity(&head["timestamp"]) + 100);
    let receipt = node.result("eth_getTransactionReceipt", json!([pending]));
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["from"], DEAD.to_lowercase());
    // Still impersonating: another send is accepted.
    let again = node.call("eth_sendTransaction", json!([transfer]));
    assert!(again["result"].is_string(), "{again}");

    node.result("anvil_stopImpersonatingAccount", json!([DEAD]));
    node.result("anvil_removeBlockTimestampInterval", json!([]));
    node.result("evm_setIntervalMining", json!([3600]));
    node.restart();
    let refused = node.call("eth_sendTransaction", json!([transfer]));
    assert!(refused.get("error").is_some(), "sent from {DEAD} after stopping: {refused}");
    assert_eq!(node.result("anvil_getIntervalMining", json!([])), 3600);
    assert_eq!(node.result("anvil_nodeInfo", json!([]))["mining"], json!({"interval": 3600.0}));
    node.result("evm_setIntervalMining", json!([0]));
    assert_eq!(node.result("anvil_getIntervalMining", json!([])), Value::Null);
}

/// An impersonated transaction reports the hash `eth_sendTransaction` returned everywhere:
/// pool content, `eth_getTransactionByHash` (pending and mined), full blocks, receipts.
#[test]
fn dev_tools_impersonated_transactions_report_their_own_hash() {
    const DEAD: &str = "0x000000000000000000000000000000000000dEaD";
    let node = Node::start(&[]);
    node.result("anvil_setBalance", json!([DEAD, "0xde0b6b3a7640000"]));
    node.result("anvil_impersonateAccount", json!([DEAD]));
    node.result("evm_setAutomine", json!([false]));
    let hash =
        node.result("eth_sendTransaction", json!([{"from": DEAD, "to": DEV1, "value": "0x1"}]));
    let content = node.result("txpool_content", json!([]));
    assert_eq!(get_ci(&content["pending"], DEAD)["0"]["hash"], hash, "txpool_content");
    let pending = node.result("eth_getTransactionByHash", json!([hash]));
    assert_eq!(pending["hash"], hash, "pending eth_getTransactionByHash");
    node.result("evm_mine", json!([]));
    let block = node.result("eth_getBlockByNumber", json!(["latest", false]));
    assert_eq!(block["transactions"], json!([hash]));
    let receipt = node.result("eth_getTransactionReceipt", json!([hash]));
    assert_eq!(receipt["transactionHash"], hash);
    let mined = node.result("eth_getTransactionByHash", json!([hash]));
    assert_eq!(mined["hash"], hash, "mined eth_getTransactionByHash");
    let full = node.result("eth_getBlockByNumber", json!(["latest", true]));
    assert_eq!(full["transactions"][0]["hash"], hash, "full block");
}

// ------------------------------------------------------------------------------ bad input

#[test]
fn dev_tools_bad_input_gets_invalid_params_never_a_crash() {
    let node = Node::start(&[]);
    let port = node.port;
    let (counter, _) = deploy_counter(port, 1);
    let tx_hash =
        node.result("eth_getBlockByNumber", json!(["latest", false]))["transactions"][0].clone();
    let too_big = format!("0x1{}", "0".repeat(64)); // 2^256
    let u64_overflow = "0x10000000000000000"; // 2^64
    let cases: Vec<(&str, Value)> = vec![
        ("anvil_setBalance", json!(["not-an-address", "0x1"])),
        ("anvil_setBalance", json!([DEV1])),
        ("anvil_setBalance", json!([])),
        ("anvil_setBalance", json!([DEV1, too_big])),
        ("anvil_setBalance", json!([DEV1, -1])),
        ("anvil_setBalance", json!([DEV1, true])),
        ("anvil_setBalance", json!([DEV1, 1e30])),
        ("anvil_setBalance", json!([DEV1, "12abc"])),
        ("anvil_addBalance", json!([DEV1, {"wei": 1}])),
        ("anvil_setNonce", json!([DEV1, u64_overflow])),
        ("hardhat_setNonce", json!([DEV1, "nonce"])),
        ("anvil_setCode", json!([CLONE, "0xzz"])),
        ("anvil_setCode", json!([CLONE, 123])),
        ("anvil_setStorageAt", json!([counter, "0x0", "0x1"])),
        ("anvil_setStorageAt", json!([counter, too_big, slot(1)])),
        ("anvil_setStorageAt", json!([counter, "0x0"])),
        ("anvil_impersonateAccount", json!([42])),
        ("anvil_autoImpersonateAccount", json!(["yes"])),
        ("anvil_mine", json!([u64_overflow])),
        ("anvil_mine", json!(["zz"])),
        ("anvil_mine", json!([1, "zz"])),
        ("anvil_mine", json!([100_001])),
        ("evm_mine", json!(["yesterday"])),
        ("evm_mine", json!([{"timestamp": "0xzz"}])),
        ("evm_mine", json!([{"blocks": -1}])),
        ("evm_increaseTime", json!(["abc"])),
        ("evm_increaseTime", json!([1e30])),
        ("evm_increaseTime", json!([])),
        ("evm_increaseTime", json!([-100])),
        ("evm_setNextBlockTimestamp", json!([-5])),
        ("evm_setNextBlockTimestamp", json!([too_big])),
        ("evm_setNextBlockTimestamp", json!(["0x0"])), // before the head's timestamp
        ("evm_setBlockGasLimit", json!(["0x"])),
        ("evm_setBlockGasLimit", json!([u64_overflow])),
        ("evm_setAutomine", json!(["yes"])),
        ("evm_setAutomine", json!([])),
        ("evm_setIntervalMining", json!(["x"])),
        ("anvil_setTime", json!(["later"])),
        ("anvil_setBlockTimestampInterval", json!([-1])),
        ("anvil_setNextBlockBaseFeePerGas", json!([format!("0x1{}", "0".repeat(20))])),
        ("anvil_setMinGasPrice", json!(["0x1"])), // EIP-1559 chain, as Anvil
        ("anvil_setCoinbase", json!(["0x1234"])),
        ("evm_revert", json!(["abc"])),
        ("evm_revert", json!([])),
        ("evm_revert", json!([format!("0x{}", "f".repeat(70))])),
        ("anvil_dropTransaction", json!(["0x1234"])),
        ("anvil_removePoolTransactions", json!([7])),
        ("anvil_loadState", json!(["0x1f8b00"])),
        ("anvil_loadState", json!(["0xdeadbeef"])),
        ("anvil_loadState", json!(["not hex"])),
        ("hardhat_loadState", json!([])),
        ("txpool_contentFrom", json!(["bad"])),
        ("debug_traceTransaction", json!(["0x12"])),
        ("debug_traceTransaction", json!([tx_hash, {"tracerConfig": 5, "tracer": 7}])),
        ("debug_getRawBlock", json!(["zz"])),
        ("trace_replayTransaction", json!([tx_hash, ["nosuch"]])),
        ("ots_getTransactionBySenderAndNonce", json!([DEV0, too_big])),
        ("ots_getBlockTransactions", json!([1, "zero", 10])),
    ];
    let mut wrong = Vec::new();
    for (method, params) in &cases {
        let response = call(port, method, params.clone());
        let code = response["error"]["code"].as_i64();
        if code != Some(-32602) {
            wrong.push(format!("{method} {params} -> {response}"));
        }
    }
    assert!(wrong.is_empty(), "expected -32602 for:\n{}", wrong.join("\n"));

    // Unknown snapshots: false, not an error (Anvil's answer).
    for id in ["0x99", "0x0", "0xffffffffffffffff"] {
        assert_eq!(node.result("evm_revert", json!([id])), false, "evm_revert({id})");
    }
    assert_eq!(node.result("anvil_revert", json!(["0x5"])), false);
    // Unknown pooled transaction: null.
    let unknown = format!("0x{}", "ab".repeat(32));
    assert_eq!(node.result("anvil_dropTransaction", json!([unknown])), Value::Null);
    // Huge but valid values are accepted and stay usable.
    node.result("anvil_setBalance", json!([RICH, format!("0x{}", "f".repeat(64))]));
    assert_eq!(
        node.result("eth_getBalance", json!([RICH, "latest"])),
        format!("0x{}", "f".repeat(64))
    );
    node.result("anvil_setNonce", json!([RICH, "0xfffffffffffffffe"]));
    node.result("anvil_setTime", json!(["0xffffffffffffffff"]));
    node.result("evm_mine", json!([]));
    node.result("evm_mine", json!([]));
    let page = node.result("ots_getBlockTransactions", json!([1, 0, u64::MAX]));
    assert_eq!(page["fullblock"]["transactions"].as_array().unwrap().len(), 1);
    let search = node.result("ots_searchTransactionsBefore", json!([DEV0, 0, u64::MAX]));
    assert!(search["txs"].is_array());

    // Still alive, and still mining.
    let head = block_number(port);
    assert!(head >= 4, "head {head}");
    set_number(port, &counter, 2);
    assert_eq!(block_number(port), head + 1);
    assert_eq!(number(port, &counter), 2);
}

/// `anvil_reset` with a parameter that is not an options object is refused with -32602 and
/// leaves the chain alone, as Anvil does.
#[test]
fn dev_tools_anvil_reset_rejects_a_non_object_param() {
    let node = Node::start(&[]);
    node.result("anvil_mine", json!(["0x3"]));
    let response = node.call("anvil_reset", json!(["x"]));
    assert_eq!(response["error"]["code"], -32602, "{response}");
    assert_eq!(block_number(node.port), 3, "the chain was reset");
    let response = node.call("hardhat_reset", json!([42]));
    assert_eq!(response["error"]["code"], -32602, "{response}");
    // No parameter at all resets, as in Anvil.
    assert_eq!(node.result("anvil_reset", json!([])), Value::Null);
    assert_eq!(block_number(node.port), 0);
    assert_eq!(quantity(&node.result("eth_getBalance", json!([DEV0, "latest"]))), 10_000 * ETHER);
}
