//! Native apps across a gateway network: operations sent to different gateways converge to the
//! same app state on every node; a money double spend sent to two gateways at once ends with
//! exactly one transfer applied everywhere; the state survives a `kill -9` and a newcomer with
//! an empty disk derives it from the history chunks.

use std::time::Duration;

use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};

use crate::{
    network::{EngineNet, outside_key, start_gateways, start_gateways_with, wait_for},
    utils::{ADDRS, KEYS, Node},
};

/// Short history segments, so that the newcomer takes its history from chunks.
const SEGMENTS: &[&str] = &["--segment-blocks", "2"];

/// An operation signed client-side (EIP-191 over the exact message), as any wallet would.
fn signed(key: &str, message: &Value) -> Value {
    let signer: PrivateKeySigner = key.parse().unwrap();
    let message = message.to_string();
    let signature = signer.sign_message_sync(message.as_bytes()).unwrap();
    json!({"message": message, "signature": format!("0x{}", alloy_primitives::hex::encode(signature.as_bytes()))})
}

fn outcome(node: &Node, id: &Value) -> Value {
    node.result("ir3_apps_outcome", json!([id]))
}

fn final_everywhere(nodes: &[&Node], id: &Value) -> bool {
    nodes.iter().all(|n| outcome(n, id)["isFinal"] == true)
}

fn balances(node: &Node) -> Vec<Value> {
    ADDRS.iter().take(4).map(|a| node.result("ir3_money_balances", json!([a]))).collect()
}

/// The apps' operations are ordered by the decided heights like the EVM's transactions; the
/// newcomer is an observer (a key outside the set) that takes its history from chunks, then
/// follows the engine.
#[test]
fn native_apps_converge_across_gateways_and_survive_restart_and_sync() {
    let net = start_gateways(3, 120, SEGMENTS);
    let EngineNet { nodes, dir, network, p2p, engines } = net;
    let key = outside_key(dir.path());
    let mut args: Vec<String> = vec![
        "--network".into(),
        network.display().to_string(),
        "--key".into(),
        key.display().to_string(),
    ];
    args.extend(SEGMENTS.iter().map(|s| s.to_string()));
    for (p2p, engine) in p2p.iter().zip(&engines) {
        args.extend(["--consensus-peer".into(), engine.clone(), "--bootstrap".into(), p2p.clone()]);
    }
    native_apps_scenario(nodes, args);
}

/// Mints, transfers, a double spend, a loan across three gateways; a `kill -9`; a newcomer
/// with an empty disk, started with `newcomer` flags.
fn native_apps_scenario(mut nodes: Vec<Node>, newcomer: Vec<String>) {
    let [a, b, c, d] = [ADDRS[0], ADDRS[1], ADDRS[2], ADDRS[3]];

    // A mints through gateway 0 and becomes GOLD's issuer.
    let mint = nodes[0]
        .result("ir3_money_mint", json!([{"from": a, "currency": "GOLD", "amount": "1000"}]));
    assert_eq!(mint["outcome"]["status"], "mint_accepted", "{mint}");
    let all: Vec<&Node> = nodes.iter().collect();
    wait_for("the mint final everywhere", Duration::from_secs(30), || {
        final_everywhere(&all, &mint["id"])
    });
    // B's mint of GOLD through gateway 1 is refused with the reason, and leaves no trace.
    let refused =
        nodes[1].call("ir3_money_mint", json!([{"from": b, "currency": "GOLD", "amount": "5"}]));
    assert_eq!(refused["error"]["code"], -32003, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("mint_rejected"));
    assert_eq!(nodes[1].result("ir3_apps_nextSeq", json!([b])), 0);

    // Transfers through different gateways.
    let t1 = nodes[1].result(
        "ir3_money_transfer",
        json!([{"from": a, "currency": "GOLD", "to": b, "amount": 300}]),
    );
    wait_for("the transfer final everywhere", Duration::from_secs(30), || {
        final_everywhere(&all, &t1["id"])
    });
    let t2 = nodes[2].result(
        "ir3_money_transfer",
        json!([{"from": b, "currency": "GOLD", "to": c, "amount": 100}]),
    );
    assert_eq!(t2["outcome"]["status"], "transfer_accepted", "{t2}");

    // The double spend: two transfers of A's whole balance with the same sequence, signed by
    // the client and sent to two gateways at once.
    let seq = nodes[0].result("ir3_apps_nextSeq", json!([a])).as_u64().unwrap();
    let spend = |to: &str| {
        signed(
            KEYS[0],
            &json!({"app": "money", "op": "transfer", "from": a, "seq": seq,
                    "currency": "GOLD", "to": to, "amount": "700"}),
        )
    };
    let (first, second) = (spend(c), spend(d));
    let (r1, r2) = std::thread::scope(|s| {
        let h1 = s.spawn(|| nodes[0].call("ir3_apps_submit", json!([first])));
        let h2 = s.spawn(|| nodes[1].call("ir3_apps_submit", json!([second])));
        (h1.join().unwrap(), h2.join().unwrap())
    });
    let ids: Vec<Value> = [&r1, &r2]
        .iter()
        .filter(|r| r.get("error").is_none())
        .map(|r| r["result"]["id"].clone())
        .collect();
    assert!(!ids.is_empty(), "both spends refused: {r1} {r2}");
    eprintln!("double spend: {} of 2 accepted by their gateway", ids.len());
    wait_for("the spends settled everywhere", Duration::from_secs(60), || {
        ids.iter().all(|id| final_everywhere(&all, id)) && final_everywhere(&all, &t2["id"])
    });
    for node in &nodes {
        let statuses: Vec<Value> =
            ids.iter().map(|id| outcome(node, id)["status"].clone()).collect();
        let applied = statuses.iter().filter(|s| **s == "transfer_accepted").count();
        assert_eq!(applied, 1, "exactly one spend applied: {statuses:?}");
        assert_eq!(node.result("ir3_money_balance", json!([a, "GOLD"])), "0");
    }
    let spent_to_c = ids.iter().any(|id| {
        outcome(&nodes[0], id)["status"] == "transfer_accepted"
            && r1.get("result").is_some_and(|r| r["id"] == *id)
    });
    let (c_gold, d_gold) = if spent_to_c { ("800", "0") } else { ("100", "700") };
    assert_eq!(nodes[2].result("ir3_money_balance", json!([c, "GOLD"])), c_gold);
    assert_eq!(nodes[2].result("ir3_money_balance", json!([d, "GOLD"])), d_gold);

    // A loan through gateway 2, accepted through gateway 0.
    let offer = nodes[2].result(
        "ir3_lending_offer",
        json!([{"from": b, "currency": "GOLD", "amount": 100, "interestBps": 1000, "durationMs": 600000}]),
    );
    assert_eq!(offer["outcome"]["status"], "offer_accepted", "{offer}");
    wait_for("the offer seen by gateway 0", Duration::from_secs(30), || {
        final_everywhere(&all, &offer["id"])
    });
    let accept = nodes[0].result("ir3_lending_accept", json!([{"from": a, "loan": offer["id"]}]));
    assert_eq!(accept["outcome"]["status"], "accept_accepted", "{accept}");
    wait_for("the loan final everywhere", Duration::from_secs(30), || {
        final_everywhere(&all, &accept["id"])
    });
    let reference = balances(&nodes[0]);
    assert_eq!(reference[0], json!({"GOLD": "100"}), "the borrower holds the loan");
    for node in &nodes[1..] {
        assert_eq!(balances(node), reference);
        assert_eq!(
            node.result("ir3_lending_loans", json!([])),
            nodes[0].result("ir3_lending_loans", json!([]))
        );
    }
    // History: A's balance before the loan, at the epoch of the mint.
    let mint_epoch = outcome(&nodes[0], &mint["id"])["epoch"].clone();
    assert_eq!(nodes[1].result("ir3_money_balance", json!([a, "GOLD", mint_epoch])), "1000");

    // kill -9 and restart: the same state.
    nodes[2].restart();
    wait_for("gateway 2 back with the same balances", Duration::from_secs(30), || {
        nodes[2].call("ir3_money_balances", json!([a])).get("result").is_some()
            && balances(&nodes[2]) == reference
    });

    // A newcomer with an empty disk derives the same state from the history chunks (with the
    // engine: from the engine's value sync).
    let mut args: Vec<&str> = vec!["--p2p-port", "0"];
    args.extend(newcomer.iter().map(String::as_str));
    let newcomer = Node::start_at("127.0.0.124", &args);
    wait_for("the newcomer's balances", Duration::from_secs(60), || {
        balances(&newcomer) == reference
    });
    let status = newcomer.result("ir3_networkStatus", json!([]));
    assert!(status["heightsFromHistory"].as_u64().unwrap() > 0, "no history chunks: {status}");
    assert_eq!(
        newcomer.result("ir3_lending_loans", json!([])),
        nodes[0].result("ir3_lending_loans", json!([]))
    );
    // An observer refuses operations with a clear error.
    let observer = newcomer
        .call("ir3_money_transfer", json!([{"from": b, "currency": "GOLD", "to": a, "amount": 1}]));
    assert!(observer["error"]["message"].as_str().unwrap().contains("observer"), "{observer}");
}

fn peer_id(node: &Node) -> String {
    node.result("ir3_networkStatus", json!([]))["peerId"].as_str().unwrap().to_string()
}

/// The peer apps with three gateways: messaging (delivery receipt YES, a blocked sender's NO,
/// a topic's followers YES and the others silent, the inbox surviving `kill -9`), territory
/// (a reputation-weighted consensus with contributors and silences), compute (a pure function
/// run on the peers, agreeing) and reputation (components from the series).
#[test]
fn peer_apps_answer_yes_no_and_silence() {
    let mut net = start_gateways_with(3, 66, &[], &["--grace-ms", "300"]);
    let nodes = &mut net.nodes;
    let ids: Vec<String> = nodes.iter().map(peer_id).collect();

    // Messaging: direct, with a receipt.
    let sent = nodes[0].result("ir3_messaging_send", json!([ids[1], "hello gateway 1"]));
    wait_for("the delivery receipt", Duration::from_secs(20), || {
        nodes[0].result("ir3_messaging_receipts", json!([sent]))["yes"] == json!([ids[1]])
    });
    let inbox = nodes[1].result("ir3_messaging_inbox", json!([]));
    assert_eq!(inbox[0]["text"], "hello gateway 1");
    assert_eq!(inbox[0]["from"], ids[0].as_str());
    assert_eq!(inbox[0]["account"], Value::Null);
    // Signed by the caller's account (a dev account: the node signs): the receiver checks it.
    let signed = nodes[0].result("ir3_messaging_send", json!([ids[1], "signed hello", ADDRS[3]]));
    wait_for("the signed message", Duration::from_secs(20), || {
        nodes[0].result("ir3_messaging_receipts", json!([signed]))["yes"] == json!([ids[1]])
    });
    let inbox = nodes[1].result("ir3_messaging_inbox", json!([]));
    assert_eq!(inbox[1]["account"], ADDRS[3].to_lowercase());
    let not_mine = nodes[0].call(
        "ir3_messaging_send",
        json!([ids[1], "x", "0x000000000000000000000000000000000000dEaD"]),
    );
    assert_eq!(not_mine["error"]["code"], -32602, "{not_mine}");
    // A blocked sender is told NO.
    nodes[1].result("ir3_messaging_block", json!([ids[0]]));
    let blocked = nodes[0].result("ir3_messaging_send", json!([ids[1], "are you there?"]));
    wait_for("the refusal", Duration::from_secs(20), || {
        let receipts = nodes[0].result("ir3_messaging_receipts", json!([blocked]));
        receipts["no"].as_array().is_some_and(|no| {
            no.iter().any(|n| n["peer"] == ids[1].as_str() && n["reason"] == "blocked sender")
        })
    });
    // A topic: its follower answers YES, the other peer stays silent.
    nodes[2].result("ir3_messaging_follow", json!(["news"]));
    let broadcast = nodes[0].result("ir3_messaging_broadcast", json!(["news", "epoch 1 done"]));
    wait_for("the topic's receipts", Duration::from_secs(20), || {
        let receipts = nodes[0].result("ir3_messaging_receipts", json!([broadcast]));
        receipts["yes"] == json!([ids[2]]) && receipts["silence"] == json!([ids[1]])
    });
    nodes[2].restart();
    wait_for("gateway 2's inbox after kill -9", Duration::from_secs(20), || {
        let inbox = nodes[2].call("ir3_messaging_inbox", json!([]));
        inbox["result"].as_array().is_some_and(|m| m.len() == 1 && m[0]["topic"] == "news")
    });
    wait_for("gateway 2 back in the mesh", Duration::from_secs(30), || {
        nodes.iter().all(|n| n.result("net_peerCount", json!([])) == "0x2")
    });

    // Territory: three observers of one place; one place only gateway 1 saw.
    for ((node, value), account) in nodes.iter().zip([21.0, 20.0, 22.0]).zip(ADDRS) {
        assert_eq!(node.result("ir3_territory_observe", json!(["paris", value, account])), true);
    }
    nodes[1].result("ir3_territory_observe", json!(["rome", 30.0]));
    nodes[0].result("ir3_territory_want", json!(["paris"]));
    nodes[0].result("ir3_territory_want", json!(["rome"]));
    wait_for("the observations", Duration::from_secs(20), || {
        let paris = nodes[0].result("ir3_territory_consensus", json!(["paris"]));
        let rome = nodes[0].result("ir3_territory_consensus", json!(["rome"]));
        paris["contributors"].as_array().unwrap().len() == 3
            && rome["silent"] == json!([ids[2]])
            && rome["contributors"].as_array().unwrap().len() == 1
    });
    let paris = nodes[0].result("ir3_territory_consensus", json!(["paris"]));
    let value = paris["value"].as_f64().unwrap();
    assert!((20.0..=22.0).contains(&value), "{paris}");
    assert_eq!(paris["median"], 21.0, "{paris}");
    let mut accounts: Vec<Value> =
        paris["contributors"].as_array().unwrap().iter().map(|c| c["account"].clone()).collect();
    accounts.sort_by_key(Value::to_string);
    let mut expected: Vec<Value> = ADDRS[..3].iter().map(|a| json!(a.to_lowercase())).collect();
    expected.sort_by_key(Value::to_string);
    assert_eq!(accounts, expected, "every observation signed by its account: {paris}");
    let rome = nodes[0].result("ir3_territory_consensus", json!(["rome"]));
    assert!((rome["value"].as_f64().unwrap() - 30.0).abs() < 1e-9, "{rome}");
    assert_eq!(rome["contributors"][0]["peer"], ids[1].as_str());

    // Compute: a pure function (returns 42) run on the two peers; they agree.
    let code = "0x602a60005260206000f3";
    let call = nodes[0].result("ir3_compute_call", json!([code]));
    wait_for("both results", Duration::from_secs(20), || {
        let report = nodes[0].result("ir3_compute_result", json!([call]));
        report["results"][0]["peers"].as_array().is_some_and(|p| p.len() == 2)
    });
    let report = nodes[0].result("ir3_compute_result", json!([call]));
    assert_eq!(report["status"], "agree", "{report}");
    assert_eq!(
        report["result"]["Ok"],
        "0x000000000000000000000000000000000000000000000000000000000000002a",
        "{report}"
    );

    // Reputation: gateway 1 answered, and precommitted decided heights (its agreement comes
    // from the engine's commit certificates; its seat is its key's place in the network file).
    nodes[1].result("ir3_money_mint", json!([{"from": ADDRS[1], "currency": "REP", "amount": 1}]));
    wait_for("some decided heights", Duration::from_secs(20), || {
        let r = nodes[0].result("ir3_reputation_query", json!([ids[1]]));
        r["votesAgreed"].as_u64().unwrap_or(0) > 0
    });
    let reputation = nodes[0].result("ir3_reputation_query", json!([ids[1]]));
    assert!(reputation["yes"].as_u64().unwrap() > 0, "{reputation}");
    assert_eq!(reputation["seat"], 1, "{reputation}");
    assert_eq!(reputation["votesDisagreed"], 0, "{reputation}");
    let score = reputation["score"].as_f64().unwrap();
    assert!(score > 0.5 && score <= 1.0, "{reputation}");
    let unknown = nodes[0].result("ir3_reputation_query", json!(["12D3KooWnobody"]));
    assert_eq!(unknown["score"], 0.5 * 0.4 + 0.5 * 0.4 + 0.2, "{unknown}");
}

fn ir3(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ir3")).args(args).output().expect("run ir3")
}

/// `ir3 money …` and `ir3 lending …` against a single node: one JSON-RPC call each, the result
/// printed as JSON, a refusal a non-zero exit with the node's reason; the state survives
/// `kill -9`.
#[test]
fn the_app_commands_on_a_single_node() {
    let mut node = Node::start(&[]);
    let url = node.http();
    let (a, b) = (ADDRS[0], ADDRS[1]);
    let run = |args: &[&str]| {
        let mut all = vec![args[0], "--rpc-url", &url];
        all.extend_from_slice(&args[1..]);
        ir3(&all)
    };
    let mint = run(&["money", "mint", "--from", a, "--currency", "CLI", "--amount", "500"]);
    assert!(mint.status.success(), "{}", String::from_utf8_lossy(&mint.stderr));
    let receipt: Value = serde_json::from_slice(&mint.stdout).unwrap();
    assert_eq!(receipt["outcome"]["status"], "mint_accepted");
    assert_eq!(receipt["outcome"]["isFinal"], true, "a single node is final at once");
    let send =
        run(&["money", "transfer", "--from", a, "--currency", "CLI", "--to", b, "--amount", "20"]);
    assert!(send.status.success());
    let refused = run(&["money", "mint", "--from", b, "--currency", "CLI", "--amount", "1"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("mint_rejected"));
    let offer = run(&[
        "lending",
        "offer",
        "--from",
        a,
        "--currency",
        "CLI",
        "--amount",
        "100",
        "--interest-bps",
        "250",
        "--duration-ms",
        "60000",
    ]);
    let offer: Value = serde_json::from_slice(&offer.stdout).unwrap();
    let loan = offer["id"].as_str().unwrap().to_string();
    let accept = run(&["lending", "accept", "--from", b, "--loan", &loan]);
    assert!(accept.status.success(), "{}", String::from_utf8_lossy(&accept.stderr));

    node.restart();
    let url = node.http();
    let balance = |who: &str| {
        let out = ir3(&["money", "--rpc-url", &url, "balance", who, "CLI"]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(balance(a), "380");
    assert_eq!(balance(b), "120");
    let loans = ir3(&["lending", "--rpc-url", &url, "loans"]);
    let loans: Value = serde_json::from_slice(&loans.stdout).unwrap();
    assert_eq!(loans[0]["status"], "active");
    assert_eq!(loans[0]["borrower"], b.to_lowercase());
}

/// Malformed calls to every native-app method get a clear JSON-RPC error, leave no trace, and
/// the node keeps serving.
#[test]
fn malformed_app_calls_get_clear_errors() {
    let node = Node::start(&[]);
    let a = ADDRS[0];
    let long = "x".repeat(20_000);
    let cases: Vec<(&str, Value)> = vec![
        ("ir3_apps_submit", json!([{"message": "{}", "signature": "0x00"}])),
        ("ir3_apps_submit", json!([{"message": long, "signature": "0x00"}])),
        ("ir3_apps_submit", json!(["not an object"])),
        ("ir3_apps_nextSeq", json!(["0x1234"])),
        ("ir3_apps_outcome", json!(["0xzz"])),
        ("ir3_money_mint", json!([{"currency": "GOLD", "amount": 1}])),
        ("ir3_money_mint", json!([{"from": a, "currency": "GOLD", "amount": -5}])),
        ("ir3_money_mint", json!([{"from": a, "currency": "", "amount": 5}])),
        ("ir3_money_mint", json!([{"from": a, "currency": "GOLD", "amount": "1e3"}])),
        ("ir3_money_mint", json!([{"from": a, "currency": "GOLD", "amount": 5, "seq": 9}])),
        (
            "ir3_money_mint",
            json!([{"from": ADDRS[9].replace("0x", "0x00"), "currency": "G", "amount": 1}]),
        ),
        (
            "ir3_money_mint",
            json!([{"from": "0x000000000000000000000000000000000000dEaD", "currency": "G", "amount": 1}]),
        ),
        (
            "ir3_money_transfer",
            json!([{"from": a, "currency": "GOLD", "to": "nobody", "amount": 1}]),
        ),
        ("ir3_money_balance", json!([a])),
        (
            "ir3_lending_offer",
            json!([{"from": a, "currency": "GOLD", "amount": 1, "durationMs": 0}]),
        ),
        ("ir3_lending_accept", json!([{"from": a, "loan": "0x1234"}])),
        ("ir3_territory_observe", json!(["paris", "warm"])),
        ("ir3_territory_observe", json!([long, 1.0])),
        ("ir3_messaging_send", json!(["not a peer id", "hi"])),
        ("ir3_compute_call", json!(["0xzz"])),
        ("ir3_reputation_query", json!([])),
    ];
    for (method, params) in &cases {
        let response = node.call(method, params.clone());
        let code = response["error"]["code"].as_i64();
        assert!(
            matches!(code, Some(-32602 | -32003 | -32000)),
            "{method} {params}: expected a clear error, got {response}"
        );
        assert!(!response["error"]["message"].as_str().unwrap_or("").is_empty(), "{response}");
    }
    // Nothing was ordered; the node still serves.
    assert_eq!(node.result("ir3_apps_nextSeq", json!([a])), 0);
    assert_eq!(node.result("ir3_money_currencies", json!([])), json!([]));
    assert_eq!(node.result("eth_chainId", json!([])), "0x539");
}
