//! The reducers' rules, every refusal path included, and the single-node log's replay.

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use ir3_foundation::{
    MemorySeries, SeriesHandle,
    order::{Envelope, HlcStamp},
};
use serde_json::{Value, json};

use crate::{
    AppError, LocalLog, NativeApps, NativeState, SignedOp, account_of,
    lending::{ESCROW, LENDING_APP},
    money::MONEY_APP,
};

fn signer(n: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(n)).unwrap()
}

/// An operation signed by `key`, with `from` its address unless the fields say otherwise.
fn op(key: &PrivateKeySigner, app: &str, kind: &str, seq: u64, fields: Value) -> SignedOp {
    let mut message =
        json!({"app": app, "op": kind, "from": format!("{:#x}", key.address()), "seq": seq});
    for (k, v) in fields.as_object().unwrap() {
        message[k] = v.clone();
    }
    let message = message.to_string();
    let signature = key.sign_message_sync(message.as_bytes()).unwrap();
    SignedOp { message, signature: signature.as_bytes().to_vec().into() }
}

fn envelope(signed: &SignedOp) -> Envelope {
    let op = signed.verify().unwrap();
    Envelope {
        app: op.app.clone(),
        account: account_of(op.from),
        sequence: op.seq,
        payload: signed.encode(),
        stamp: HlcStamp::default(),
        gateway: 0,
    }
}

/// Applies each operation as its own epoch; returns the statuses.
fn apply(state: &mut NativeState, ops: &[SignedOp]) -> Vec<String> {
    ops.iter()
        .map(|signed| {
            let epoch = state.now_ms + 1;
            state.apply_epoch(epoch, epoch, true, &[envelope(signed)], &[]);
            state.outcome(&signed.id()).map_or("skipped".into(), |o| o.status.clone())
        })
        .collect()
}

fn addr(key: &PrivateKeySigner) -> String {
    format!("{:#x}", key.address())
}

#[test]
fn signatures_and_envelopes_are_checked() {
    let (a, b) = (signer(1), signer(2));
    let good =
        op(&a, MONEY_APP, "mint", 0, json!({"currency": "GOLD", "to": addr(&a), "amount": 5}));
    assert!(good.verify().is_ok());
    // Signed by someone else.
    let forged =
        SignedOp { signature: op(&b, MONEY_APP, "mint", 0, json!({})).signature, ..good.clone() };
    assert!(matches!(forged.verify(), Err(AppError::BadSignature(_))));
    // A signature that is not 65 bytes, a message that is not JSON, a missing seq.
    let short = SignedOp { signature: vec![1, 2, 3].into(), ..good.clone() };
    assert!(matches!(short.verify(), Err(AppError::BadSignature(_))));
    let not_json = SignedOp { message: "mint me".into(), ..good.clone() };
    assert!(matches!(not_json.verify(), Err(AppError::Invalid(_))));
    let message = json!({"app": "money", "op": "mint", "from": addr(&a)}).to_string();
    let signature = a.sign_message_sync(message.as_bytes()).unwrap().as_bytes().to_vec().into();
    assert!(matches!(SignedOp { message, signature }.verify(), Err(AppError::Invalid(_))));
    // An envelope whose account, sequence or app does not match its operation.
    let mut wrong = envelope(&good);
    wrong.sequence = 7;
    assert!(crate::state::check_envelope(&wrong).is_err());
    let mut wrong = envelope(&good);
    wrong.account = account_of(b.address());
    assert!(crate::state::check_envelope(&wrong).is_err());
    let mut wrong = envelope(&good);
    wrong.app = LENDING_APP.into();
    assert!(crate::state::check_envelope(&wrong).is_err());
    assert!(crate::state::check_envelope(&envelope(&good)).is_ok());
}

#[test]
fn a_node_signs_for_the_accounts_whose_keys_it_holds() {
    let a = signer(1);
    let fields = json!({"app": "money", "op": "mint", "currency": "GOLD", "amount": 5});
    let Value::Object(fields) = fields else { unreachable!() };
    let sign =
        |message: &[u8]| Some(a.sign_message_sync(message).unwrap().as_bytes().to_vec().into());
    let signed = SignedOp::sign_with(a.address(), 3, fields.clone(), sign).unwrap();
    let op = signed.verify().unwrap();
    assert_eq!((op.from, op.seq, op.app.as_str()), (a.address(), 3, "money"));
    assert_eq!(
        signed.message,
        format!(
            r#"{{"amount":5,"app":"money","currency":"GOLD","from":"{}","op":"mint","seq":3}}"#,
            addr(&a)
        )
    );
    let refused = SignedOp::sign_with(a.address(), 0, fields, |_| None).unwrap_err();
    assert!(refused.to_string().contains("not a dev account"), "{refused}");
}

#[test]
fn money_rules() {
    let (a, b) = (signer(1), signer(2));
    let mut state = NativeState::default();
    let statuses = apply(
        &mut state,
        &[
            op(
                &a,
                MONEY_APP,
                "mint",
                0,
                json!({"currency": "GOLD", "to": addr(&a), "amount": "1000"}),
            ),
            // Not the issuer.
            op(&b, MONEY_APP, "mint", 0, json!({"currency": "GOLD", "to": addr(&b), "amount": 1})),
            op(
                &a,
                MONEY_APP,
                "transfer",
                1,
                json!({"currency": "GOLD", "to": addr(&b), "amount": 400}),
            ),
            // More than b holds.
            op(
                &b,
                MONEY_APP,
                "transfer",
                1,
                json!({"currency": "GOLD", "to": addr(&a), "amount": 401}),
            ),
            op(
                &b,
                MONEY_APP,
                "transfer",
                2,
                json!({"currency": "GOLD", "to": addr(&a), "amount": 400}),
            ),
            // Zero, a bad currency name, a missing field, an unknown operation.
            op(
                &a,
                MONEY_APP,
                "transfer",
                2,
                json!({"currency": "GOLD", "to": addr(&b), "amount": 0}),
            ),
            op(
                &a,
                MONEY_APP,
                "mint",
                3,
                json!({"currency": "no way!", "to": addr(&a), "amount": 1}),
            ),
            op(&a, MONEY_APP, "transfer", 4, json!({"currency": "GOLD", "amount": 1})),
            op(&a, MONEY_APP, "burn", 5, json!({"currency": "GOLD", "amount": 1})),
            // Overflow of the supply.
            op(
                &a,
                MONEY_APP,
                "mint",
                6,
                json!({"currency": "GOLD", "to": addr(&a), "amount": u128::MAX.to_string()}),
            ),
        ],
    );
    assert_eq!(
        statuses,
        [
            "mint_accepted",
            "mint_rejected",
            "transfer_accepted",
            "transfer_rejected",
            "transfer_accepted",
            "transfer_rejected",
            "mint_rejected",
            "transfer_rejected",
            "burn_rejected",
            "mint_rejected",
        ]
    );
    assert_eq!(state.money.balance(a.address(), "GOLD"), 1000);
    assert_eq!(state.money.balance(b.address(), "GOLD"), 0);
    let currencies = state.money.currencies();
    assert_eq!((currencies[0].issuer, currencies[0].supply.as_str()), (a.address(), "1000"));
    // b's refused mint used its sequence 0 (as a reverted transaction uses its nonce).
    assert_eq!(state.next_seq(b.address()), 3);
    assert_eq!(state.next_seq(a.address()), 7);
}

#[test]
fn sequences_and_conflicts() {
    let a = signer(1);
    let mint = |seq, amount: u64| {
        op(&a, MONEY_APP, "mint", seq, json!({"currency": "SEQ", "to": addr(&a), "amount": amount}))
    };
    let mut state = NativeState::default();
    // Out of sequence: skipped, the sequence not used.
    assert_eq!(apply(&mut state, &[mint(1, 5)]), ["skipped"]);
    assert_eq!(state.next_seq(a.address()), 0);
    // Two operations with one sequence in one epoch: the first applied, the other a conflict.
    let (first, second) = (mint(0, 10), mint(0, 20));
    state.apply_epoch(9, 9, true, &[envelope(&first)], &[envelope(&second)]);
    assert_eq!(state.outcome(&first.id()).unwrap().status, "mint_accepted");
    assert_eq!(state.outcome(&second.id()).unwrap().status, "conflict");
    assert_eq!(state.money.balance(a.address(), "SEQ"), 10);
    // The same operation again: applied once.
    state.apply_epoch(10, 10, true, &[envelope(&first)], &[]);
    assert_eq!(state.money.balance(a.address(), "SEQ"), 10);
    // dry_run refuses what would not be accepted, and changes nothing.
    let next = mint(1, 1).verify().unwrap();
    assert!(state.dry_run(&next).is_ok());
    assert!(matches!(state.dry_run(&mint(5, 1).verify().unwrap()), Err(AppError::Rule(_))));
    assert_eq!(state.next_seq(a.address()), 1);
}

#[test]
fn lending_rules() {
    let (lender, borrower, other) = (signer(1), signer(2), signer(3));
    let mut state = NativeState::default();
    let mint = op(
        &lender,
        MONEY_APP,
        "mint",
        0,
        json!({"currency": "G", "to": addr(&lender), "amount": 1000}),
    );
    let offer = op(
        &lender,
        LENDING_APP,
        "offer",
        1,
        json!({"currency": "G", "amount": 600, "interestBps": 500, "durationMs": 100}),
    );
    let loan = format!("{:#x}", offer.id());
    let statuses = apply(
        &mut state,
        &[
            mint,
            offer,
            // No funds left for a second offer of 600; interest above 100 %; no duration.
            op(
                &lender,
                LENDING_APP,
                "offer",
                2,
                json!({"currency": "G", "amount": 600, "durationMs": 100}),
            ),
            op(
                &lender,
                LENDING_APP,
                "offer",
                3,
                json!({"currency": "G", "amount": 1, "interestBps": 10001, "durationMs": 1}),
            ),
            op(&lender, LENDING_APP, "offer", 4, json!({"currency": "G", "amount": 1})),
            // The lender cannot borrow its own offer; an unknown loan.
            op(&lender, LENDING_APP, "accept", 5, json!({"loan": loan})),
            op(&borrower, LENDING_APP, "accept", 0, json!({"loan": format!("{:#x}", B256::ZERO)})),
            op(&borrower, LENDING_APP, "accept", 1, json!({"loan": loan})),
            // Accepted already; cancel once active; repay by someone else.
            op(&other, LENDING_APP, "accept", 0, json!({"loan": loan})),
            op(&lender, LENDING_APP, "cancel", 6, json!({"loan": loan})),
            op(&other, LENDING_APP, "repay", 1, json!({"loan": loan})),
            // The borrower holds 600 but owes 630.
            op(&borrower, LENDING_APP, "repay", 2, json!({"loan": loan})),
        ],
    );
    assert_eq!(
        statuses,
        [
            "mint_accepted",
            "offer_accepted",
            "offer_rejected",
            "offer_rejected",
            "offer_rejected",
            "accept_rejected",
            "accept_rejected",
            "accept_accepted",
            "accept_rejected",
            "cancel_rejected",
            "repay_rejected",
            "repay_rejected",
        ]
    );
    assert_eq!(state.money.balance(borrower.address(), "G"), 600);
    assert_eq!(state.money.balance(ESCROW, "G"), 0);
    // Active until its deadline, defaulted after it (derived, not declared).
    let loans = state.lending.loans_at(state.now_ms);
    assert_eq!(loans[0].status, "active");
    let deadline = loans[0].deadline_ms.unwrap();
    assert_eq!(state.lending.loans_at(deadline + 1)[0].status, "defaulted");
    // Repaid with interest once the borrower holds enough.
    let statuses = apply(
        &mut state,
        &[
            op(
                &lender,
                MONEY_APP,
                "transfer",
                7,
                json!({"currency": "G", "to": addr(&borrower), "amount": 30}),
            ),
            op(&borrower, LENDING_APP, "repay", 3, json!({"loan": loan})),
        ],
    );
    assert_eq!(statuses, ["transfer_accepted", "repay_accepted"]);
    assert_eq!(state.money.balance(lender.address(), "G"), 1000);
    assert_eq!(state.money.balance(borrower.address(), "G"), 0);
    assert_eq!(state.lending.loans_at(deadline + 1)[0].status, "repaid");

    // An offer nobody accepted is cancelled by its lender, who gets the funds back.
    let second = op(
        &lender,
        LENDING_APP,
        "offer",
        8,
        json!({"currency": "G", "amount": 100, "durationMs": 5}),
    );
    let cancel =
        op(&lender, LENDING_APP, "cancel", 9, json!({"loan": format!("{:#x}", second.id())}));
    assert_eq!(apply(&mut state, &[second, cancel]), ["offer_accepted", "cancel_accepted"]);
    assert_eq!(state.money.balance(lender.address(), "G"), 1000);
}

/// A single node's operations survive a restart (replay of the series), and a refused
/// submission leaves no trace.
#[test]
fn the_single_node_log_replays_and_refusals_leave_no_trace() {
    let series: SeriesHandle = Arc::new(MemorySeries::new());
    let apps = || {
        let log = LocalLog::open(series.clone()).unwrap();
        NativeApps::new(Arc::new(log), [MONEY_APP.to_string(), LENDING_APP.to_string()])
    };
    let (a, b) = (signer(1), signer(2));
    let first = apps();
    first
        .submit(op(
            &a,
            MONEY_APP,
            "mint",
            0,
            json!({"currency": "G", "to": addr(&a), "amount": 50}),
        ))
        .unwrap();
    let entries = series.len();
    for refused in [
        op(&b, MONEY_APP, "mint", 0, json!({"currency": "G", "to": addr(&b), "amount": 1})),
        op(&a, MONEY_APP, "transfer", 1, json!({"currency": "G", "to": addr(&b), "amount": 51})),
        op(&a, MONEY_APP, "transfer", 9, json!({"currency": "G", "to": addr(&b), "amount": 1})),
        op(&a, "territory", "observe", 1, json!({})),
    ] {
        assert!(first.submit(refused).is_err());
    }
    assert_eq!(series.len(), entries, "a refusal was recorded");
    first
        .submit(op(
            &a,
            MONEY_APP,
            "transfer",
            1,
            json!({"currency": "G", "to": addr(&b), "amount": 20}),
        ))
        .unwrap();
    let again = apps();
    let view = again.view();
    assert_eq!(view.money.balance(a.address(), "G"), 30);
    assert_eq!(view.money.balance(b.address(), "G"), 20);
    assert_eq!(again.next_seq(a.address()), 2);
    assert_eq!(again.next_seq(Address::ZERO), 0);
}
