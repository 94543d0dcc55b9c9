//! Start-up options: `--fork-url` against another running `ir3`, `--init` with a geth genesis
//! file, and `--state` written at exit and loaded into a new chain.

use serde_json::{Value, json};

use crate::utils::{DEV0, Node};

const TARGET: &str = "0x0000000000000000000000000000000000001234";
/// Runtime code that returns 42: PUSH1 0x2a PUSH1 0 MSTORE PUSH1 0x20 PUSH1 0 RETURN.
const RETURNS_42: &str = "0x602a60005260206000f3";
const SLOT_VALUE: &str = "0x00000000000000000000000000000000000000000000000000000000000000aa";

#[test]
fn forked_node_reads_its_parent_at_the_fork_block() {
    let parent = Node::start(&[]);
    parent.result("eth_sendTransaction", json!([{"from": DEV0, "to": TARGET, "value": "0x3039"}]));
    parent.result("anvil_setCode", json!([TARGET, RETURNS_42]));
    parent.result("anvil_setStorageAt", json!([TARGET, "0x1", SLOT_VALUE]));
    parent.result("evm_mine", json!([]));
    let fork_block = parent.result("eth_blockNumber", json!([]));
    let parent_block = parent.result("eth_getBlockByNumber", json!([fork_block, false]));

    let mut child = Node::start(&["--fork-url", &parent.http()]);
    assert_eq!(child.result("eth_blockNumber", json!([])), fork_block);
    assert_eq!(child.result("eth_chainId", json!([])), parent.result("eth_chainId", json!([])));
    // The fork block is the parent's own block, hash included.
    let child_block = child.result("eth_getBlockByNumber", json!([fork_block, false]));
    assert_eq!(child_block["hash"], parent_block["hash"]);
    // State the child never wrote is read from the parent at the fork block.
    assert_eq!(child.result("eth_getBalance", json!([TARGET, "latest"])), "0x3039");
    assert_eq!(child.result("eth_getCode", json!([TARGET, "latest"])), RETURNS_42);
    assert_eq!(child.result("eth_getStorageAt", json!([TARGET, "0x1", "latest"])), SLOT_VALUE);
    let output = child.result("eth_call", json!([{"to": TARGET}, "latest"]));
    assert_eq!(output.as_str().unwrap(), format!("0x{:064x}", 42));
    // Blocks before the fork point are the parent's, not the child's.
    let before = child.call("eth_getBalance", json!([TARGET, "0x0"]));
    assert!(before["error"]["message"].as_str().unwrap().contains("before the fork block"));

    // The child's writes stay in the child.
    child.result("eth_sendTransaction", json!([{"from": DEV0, "to": TARGET, "value": "0x5"}]));
    assert_eq!(child.result("eth_getBalance", json!([TARGET, "latest"])), "0x303e");
    assert_eq!(parent.result("eth_getBalance", json!([TARGET, "latest"])), "0x3039");
    // The parent moves on; the child still reads it at the fork block.
    parent.result("evm_mine", json!([]));
    parent.result("anvil_setStorageAt", json!([TARGET, "0x2", SLOT_VALUE]));
    assert_eq!(
        child.result("eth_getStorageAt", json!([TARGET, "0x2", "latest"])),
        format!("0x{:064x}", 0)
    );

    // A restarted fork derives the same chain from its series.
    let head = child.result("eth_getBlockByNumber", json!(["latest", false]));
    child.restart();
    assert_eq!(child.result("eth_getBlockByNumber", json!(["latest", false])), head);
    assert_eq!(child.result("eth_getBalance", json!([TARGET, "latest"])), "0x303e");
    assert_eq!(child.result("eth_getStorageAt", json!([TARGET, "0x1", "latest"])), SLOT_VALUE);
}

#[test]
fn fork_block_number_picks_an_older_parent_state() {
    let parent = Node::start(&[]);
    parent.result("eth_sendTransaction", json!([{"from": DEV0, "to": TARGET, "value": "0x1"}]));
    parent.result("eth_sendTransaction", json!([{"from": DEV0, "to": TARGET, "value": "0x1"}]));
    let child = Node::start(&["--fork-url", &parent.http(), "--fork-block-number", "1"]);
    assert_eq!(child.result("eth_blockNumber", json!([])), "0x1");
    assert_eq!(child.result("eth_getBalance", json!([TARGET, "latest"])), "0x1");
    assert_eq!(child.result("eth_getTransactionCount", json!([DEV0, "latest"])), "0x1");
    // anvil_reset with forking moves the fork point.
    child.result("anvil_reset", json!([{"forking": {"jsonRpcUrl": parent.http()}}]));
    assert_eq!(child.result("eth_blockNumber", json!([])), "0x2");
    assert_eq!(child.result("eth_getBalance", json!([TARGET, "latest"])), "0x2");
}

#[test]
fn unreachable_fork_url_is_a_clear_start_up_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ir3"))
        .args(["--ephemeral", "--port", "0", "--fork-url", "http://127.0.0.1:9"])
        .output()
        .expect("run ir3");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fork http://127.0.0.1:9"), "{stderr}");
}

#[test]
fn init_takes_a_geth_genesis_file() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    let slot = format!("0x{:064x}", 1);
    let spec = json!({
        "config": {"chainId": 4242, "londonBlock": 0, "shanghaiTime": 0, "cancunTime": 0,
                   "pragueTime": 0, "terminalTotalDifficulty": 0},
        "gasLimit": "0x2faf080", "timestamp": "0x0", "difficulty": "0x0",
        "baseFeePerGas": "0x3b9aca00",
        "alloc": {TARGET: {"balance": "0x64", "nonce": "0x7", "code": RETURNS_42,
                           "storage": {slot: SLOT_VALUE}}}
    });
    std::fs::write(&genesis, spec.to_string()).unwrap();
    let mut node = Node::start(&["--init", genesis.to_str().unwrap()]);
    let check = |node: &Node| {
        assert_eq!(node.result("eth_chainId", json!([])), "0x1092");
        assert_eq!(node.result("eth_getBalance", json!([TARGET, "latest"])), "0x64");
        assert_eq!(node.result("eth_getTransactionCount", json!([TARGET, "latest"])), "0x7");
        assert_eq!(node.result("eth_getCode", json!([TARGET, "latest"])), RETURNS_42);
        assert_eq!(node.result("eth_getStorageAt", json!([TARGET, "0x1", "latest"])), SLOT_VALUE);
        let block = node.result("eth_getBlockByNumber", json!(["0x0", false]));
        assert_eq!(block["gasLimit"], "0x2faf080");
    };
    check(&node);
    // Dev accounts are still funded and can transact on the new chain.
    let hash =
        node.result("eth_sendTransaction", json!([{"from": DEV0, "to": TARGET, "value": "0x1"}]));
    let receipt = node.result("eth_getTransactionReceipt", json!([hash]));
    assert_eq!(receipt["status"], "0x1");
    node.restart();
    assert_eq!(node.result("eth_getBalance", json!([TARGET, "latest"])), "0x65");

    // A fork scheduled after genesis applies from its time on: Shanghai blocks, then Cancun
    // ones (blob gas fields) from timestamp 1000.
    let later = json!({"config": {"chainId": 1, "londonBlock": 0, "terminalTotalDifficulty": 0,
                                  "shanghaiTime": 0, "cancunTime": 1000},
                       "gasLimit": "0x1c9c380", "timestamp": "0x0", "difficulty": "0x0",
                       "alloc": {}});
    std::fs::write(&genesis, later.to_string()).unwrap();
    let scheduled = Node::start(&["--init", genesis.to_str().unwrap(), "--no-mining"]);
    scheduled.result("evm_mine", json!([999]));
    let shanghai = scheduled.result("eth_getBlockByNumber", json!(["0x1", false]));
    assert!(shanghai.get("blobGasUsed").is_none(), "{shanghai}");
    assert_eq!(shanghai["withdrawalsRoot"].as_str().map(str::len), Some(66), "{shanghai}");
    scheduled.result("evm_mine", json!([1000]));
    let cancun = scheduled.result("eth_getBlockByNumber", json!(["0x2", false]));
    assert_eq!(cancun["blobGasUsed"], "0x0", "{cancun}");
    assert_eq!(cancun["excessBlobGas"], "0x0", "{cancun}");

    // The DAO fork's irregular state change is refused with a clear message.
    let dao = json!({"config": {"chainId": 1, "daoForkBlock": 5, "daoForkSupport": true},
                     "gasLimit": "0x1", "difficulty": "0x0", "alloc": {}});
    std::fs::write(&genesis, dao.to_string()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ir3"))
        .args(["--ephemeral", "--port", "0", "--init", genesis.to_str().unwrap()])
        .output()
        .expect("run ir3");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DAO fork"));
}

#[test]
fn state_file_is_written_at_exit_and_loaded_into_a_new_chain() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let mut first = Node::start(&["--state", state_arg]);
    first.result("anvil_setBalance", json!([TARGET, "0x1234"]));
    first.result("anvil_setCode", json!([TARGET, RETURNS_42]));
    first.result("anvil_setStorageAt", json!([TARGET, "0x1", SLOT_VALUE]));
    first.stop();
    let written: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let account = &written["accounts"][TARGET.to_lowercase()];
    assert_eq!(account["balance"], "0x1234", "{written}");

    let second = Node::start(&["--state", state_arg]);
    assert_eq!(second.result("eth_getBalance", json!([TARGET, "latest"])), "0x1234");
    assert_eq!(second.result("eth_getCode", json!([TARGET, "latest"])), RETURNS_42);
    assert_eq!(second.result("eth_getStorageAt", json!([TARGET, "0x1", "latest"])), SLOT_VALUE);
}
