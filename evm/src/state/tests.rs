//! Property and unit tests of the versioned state, its tries and the store.

use super::*;
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use proptest::prelude::*;

/// The root computed from scratch over the latest values, as the node did before the
/// incremental tries.
fn full_root(state: &VersionedState) -> B256 {
    let accounts = state.latest_accounts().into_iter().map(|(address, record)| {
        let storage = state.latest_storage(address);
        let storage_root = alloy_trie::root::storage_root_unhashed(
            storage.into_iter().map(|(slot, value)| (B256::from(slot), value)),
        );
        let account = TrieAccount {
            nonce: record.nonce,
            balance: record.balance,
            storage_root,
            code_hash: record.code_hash,
        };
        (address, account)
    });
    alloy_trie::root::state_root_unhashed(accounts)
}

#[derive(Debug, Clone)]
enum Op {
    Account(u8, Option<u64>),
    Slot(u8, u8, u64),
    Root,
    Truncate(u8),
    /// Everything flushed, then the state resumed from the store alone (a restart).
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..40, proptest::option::weighted(0.8, 0u64..5)).prop_map(|(a, b)| Op::Account(a, b)),
        4 => (0u8..8, 0u8..20, 0u64..4).prop_map(|(a, s, v)| Op::Slot(a, s, v)),
        2 => Just(Op::Root),
        1 => (0u8..10).prop_map(Op::Truncate),
        1 => Just(Op::Restart),
    ]
}

fn apply(state: &mut VersionedState, op: &Op, revision: &mut u64) -> Option<B256> {
    match *op {
        Op::Account(a, balance) => {
            let record = balance.map(|b| AccountRecord {
                balance: U256::from(b),
                nonce: u64::from(a % 3),
                code_hash: KECCAK_EMPTY,
            });
            state.set_account(Address::repeat_byte(a), *revision, record);
        }
        Op::Slot(a, slot, value) => {
            let address = Address::repeat_byte(a);
            if state.latest_account(&address).unwrap().is_none() {
                let record =
                    AccountRecord { balance: U256::from(1), nonce: 1, code_hash: KECCAK_EMPTY };
                state.set_account(address, *revision, Some(record));
            }
            state.set_storage(address, U256::from(slot), *revision, U256::from(value));
        }
        Op::Root => {
            let root = state.state_root();
            if state.wants_flush() {
                state.flush(*revision, None, Vec::new());
            }
            *revision += 1;
            return Some(root);
        }
        Op::Truncate(back) => {
            let to = revision.saturating_sub(u64::from(back)).max(1);
            state.truncate_after(to);
            *revision = to + 1;
        }
        Op::Restart if state.flush_at != usize::MAX => {
            // Versions are tagged up to `revision` (changes since the last root included).
            assert!(state.flush_and_wait(*revision, None, Vec::new()));
            let (store, root) = (state.store.clone(), state.trie_root());
            let flush_at = state.flush_at;
            *state = VersionedState::resume(store, None, *revision, root).unwrap();
            state.flush_at = flush_at;
            *revision += 1;
        }
        Op::Restart => *revision += 1,
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random changes, roots, flushes to the store and truncations: the incremental root
    /// always equals the root computed from scratch, and every read at every revision equals
    /// the one of a state that keeps everything in memory.
    #[test]
    fn incremental_root_and_store_reads_equal_the_in_memory_model(ops in proptest::collection::vec(op(), 1..150)) {
        let mut stored = VersionedState { flush_at: 3, ..Default::default() };
        let mut model = VersionedState {
            flush_at: usize::MAX,
            flush_every: std::time::Duration::MAX,
            ..Default::default()
        };
        let (mut revision, mut model_revision) = (1u64, 1u64);
        for op in &ops {
            let root = apply(&mut stored, op, &mut revision);
            apply(&mut model, op, &mut model_revision);
            if let Some(root) = root {
                prop_assert_eq!(root, full_root(&stored));
            }
        }
        prop_assert_eq!(stored.state_root(), full_root(&stored));
        prop_assert_eq!(stored.state_root(), model.state_root());
        prop_assert_eq!((stored.trie_failures, model.trie_failures), (0, 0));
        for at in 0..=revision {
            for a in 0u8..40 {
                let address = Address::repeat_byte(a);
                prop_assert_eq!(stored.account_at(address, at), model.account_at(address, at));
                for slot in 0u8..20 {
                    let slot = U256::from(slot);
                    prop_assert_eq!(stored.storage_at(address, slot, at), model.storage_at(address, slot, at));
                }
            }
        }
    }
}

#[test]
fn reads_see_the_value_in_force_at_each_block() {
    let mut state = VersionedState::default();
    let a = Address::repeat_byte(1);
    let rec = |balance: u64| AccountRecord {
        balance: U256::from(balance),
        nonce: 0,
        code_hash: KECCAK_EMPTY,
    };
    state.set_account(a, 0, Some(rec(10)));
    state.set_account(a, 3, Some(rec(7)));
    state.set_storage(a, U256::from(1), 2, U256::from(99));
    assert_eq!(state.account_at(a, 0).unwrap().balance, U256::from(10));
    assert_eq!(state.account_at(a, 2).unwrap().balance, U256::from(10));
    assert_eq!(state.account_at(a, 3).unwrap().balance, U256::from(7));
    assert_eq!(state.account_at(a, 100).unwrap().balance, U256::from(7));
    assert_eq!(state.storage_at(a, U256::from(1), 1), U256::ZERO);
    assert_eq!(state.storage_at(a, U256::from(1), 2), U256::from(99));
    state.truncate_after(2);
    assert_eq!(state.account_at(a, 100).unwrap().balance, U256::from(10));
}

#[test]
fn empty_state_has_the_empty_root() {
    assert_eq!(VersionedState::default().state_root(), EMPTY_ROOT_HASH);
}

#[test]
fn state_root_matches_a_full_recomputation() {
    let mut state = VersionedState::default();
    let a = Address::repeat_byte(1);
    let b = Address::repeat_byte(2);
    let rec = AccountRecord { balance: U256::from(5), nonce: 1, code_hash: KECCAK_EMPTY };
    state.set_account(a, 0, Some(rec));
    state.set_account(b, 0, Some(rec));
    state.set_storage(b, U256::from(3), 0, U256::from(4));
    let incremental = state.state_root();
    let expected = alloy_trie::root::state_root_unhashed([
        (a, TrieAccount { nonce: 1, balance: U256::from(5), ..Default::default() }),
        (
            b,
            TrieAccount {
                nonce: 1,
                balance: U256::from(5),
                storage_root: alloy_trie::root::storage_root_unhashed([(
                    B256::from(U256::from(3)),
                    U256::from(4),
                )]),
                ..Default::default()
            },
        ),
    ]);
    assert_eq!(incremental, expected);
}
