//! The chain of a gateway network, derived deterministically from ordered envelopes.
//!
//! Each non-empty epoch of the [`EpochBook`] becomes one block, built on the previous one: the
//! transactions carried over from earlier epochs (nonce gaps, full blocks) followed by the
//! epoch's envelopes in the book's order, each sender's transactions kept in nonce order. The
//! block's context is a pure function of the epoch and its parent (timestamp = epoch start, at
//! least parent + 1; base fee by EIP-1559; prevrandao = keccak(parent hash)). So two gateways
//! that admitted the same envelopes, in any order and in any batches, hold the same blocks, state
//! and receipts.
//!
//! An envelope that lands in an epoch already built (a late arrival, or an earlier stamp of a
//! known transaction) rebuilds the chain from that epoch: blocks built from it on are tentative
//! until finality (the peer-to-peer layer's job) closes the epoch.

use std::{collections::HashMap, sync::Arc};

use alloy_primitives::{B256, keccak256};
use ir3_foundation::order::{Envelope, EpochBook};

use crate::{
    block::{SignedTx, StoredBlock},
    chain::Chain,
    config::ChainConfig,
    dev::MiningMode,
    error::Result,
    events::{BlockContext, EVM_APP},
    execute::execute_block,
};

/// Why a transaction of the network did not make it into a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// Another transaction with the same sender and nonce came first in the epoch order.
    Conflict,
    /// The EVM refused it when its block was built (e.g. nonce already used, no funds).
    Rejected(String),
    /// Its payload is not a transaction signed by the envelope's account.
    Invalid(String),
    /// It reached the majority of gateways too late for its epoch, which became final without
    /// it (its gateway stamps it again into an open epoch).
    Late,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Conflict => {
                f.write_str("another transaction with the same sender and nonce came first")
            }
            Self::Rejected(reason) => write!(f, "rejected when its block was built: {reason}"),
            Self::Invalid(reason) => write!(f, "invalid: {reason}"),
            Self::Late => f.write_str("its epoch became final without it"),
        }
    }
}

/// What an admission changed.
#[derive(Debug, Default)]
pub struct Admitted {
    /// The blocks rebuilt (the new tip of the chain, tentative).
    pub blocks: Vec<Arc<StoredBlock>>,
    /// Envelopes stamped into epochs already final.
    pub late: Vec<Envelope>,
}

/// The block an epoch derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochBlock {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its state root.
    pub state_root: B256,
}

/// One block built from one epoch, with what it leaves for the next.
#[derive(Debug, Clone)]
struct BuiltEpoch {
    epoch: u64,
    number: u64,
    hash: B256,
    state_root: B256,
    carried_out: Vec<Arc<SignedTx>>,
    dropped: Vec<(B256, DropReason)>,
}

/// Builds a chain's blocks from an [`EpochBook`]: the book and what each built block left.
#[derive(Debug)]
pub struct EpochBuilder {
    book: EpochBook,
    built: Vec<BuiltEpoch>,
    /// Transactions left out of a final epoch, by hash, until a later block includes them.
    late: HashMap<B256, Envelope>,
    /// Decoded transactions (sender recovered) by payload hash: an open epoch is rebuilt on
    /// every admission, and recovering every sender again each time dominated the cost.
    decoded: HashMap<B256, Arc<SignedTx>>,
}

/// Most decoded transactions kept for rebuilds (the cache starts over past it).
pub const MAX_DECODED: usize = 65_536;

/// A chain together with the builder that derives it (for tests and tools; a node keeps the
/// chain under its own lock and the builder beside it).
#[derive(Debug)]
pub struct EpochChain {
    chain: Chain,
    builder: EpochBuilder,
}

/// Wraps an EVM transaction into an envelope stamped by `gateway` at `stamp`.
pub fn evm_envelope(
    tx: &SignedTx,
    stamp: ir3_foundation::order::HlcStamp,
    gateway: u64,
) -> Envelope {
    Envelope {
        app: EVM_APP.to_string(),
        account: tx.sender.to_vec(),
        sequence: tx.nonce(),
        payload: tx.raw.to_vec(),
        stamp,
        gateway,
    }
}

impl EpochChain {
    /// A network chain from a genesis, with epochs of `epoch_ms` milliseconds.
    pub fn new(config: ChainConfig, epoch_ms: u64) -> Result<Self> {
        Ok(Self {
            chain: Chain::genesis(config, MiningMode::Manual)?,
            builder: EpochBuilder::new(epoch_ms),
        })
    }

    /// The derived chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The builder.
    pub fn builder(&self) -> &EpochBuilder {
        &self.builder
    }

    /// Admits envelopes and rebuilds; see [`EpochBuilder::admit`].
    pub fn admit(&mut self, envelopes: impl IntoIterator<Item = Envelope>) -> Result<Admitted> {
        self.builder.admit(&mut self.chain, envelopes)
    }

    /// Fixes an epoch's content; see [`EpochBuilder::finalize`].
    pub fn finalize(&mut self, epoch: u64, envelopes: Vec<Envelope>) -> Vec<Envelope> {
        self.builder.finalize(&mut self.chain, epoch, envelopes).1
    }

    /// Why each dropped transaction was dropped.
    pub fn dropped(&self) -> HashMap<B256, DropReason> {
        self.builder.dropped()
    }

    /// Transactions waiting for a later epoch.
    pub fn carried(&self) -> &[Arc<SignedTx>] {
        self.builder.carried()
    }
}

impl EpochBuilder {
    /// An empty builder with epochs of `epoch_ms` milliseconds.
    pub fn new(epoch_ms: u64) -> Self {
        Self {
            book: EpochBook::new(epoch_ms),
            built: Vec::new(),
            late: HashMap::new(),
            decoded: HashMap::new(),
        }
    }

    /// The envelopes admitted so far.
    pub fn book(&self) -> &EpochBook {
        &self.book
    }

    /// Admits envelopes and rebuilds `chain` from the earliest epoch they changed; returns the
    /// blocks built (the new tip of the chain, tentative).
    pub fn admit(
        &mut self,
        chain: &mut Chain,
        envelopes: impl IntoIterator<Item = Envelope>,
    ) -> Result<Admitted> {
        let mut earliest: Option<u64> = None;
        let mut late = Vec::new();
        for envelope in envelopes {
            let admission = self.book.admit(envelope.clone());
            if let ir3_foundation::order::Admission::Late { .. } = admission {
                self.note_late(&envelope);
                late.push(envelope);
            } else if let Some(epoch) = admission.changed_epoch() {
                earliest = Some(earliest.map_or(epoch, |e: u64| e.min(epoch)));
            }
        }
        let blocks = match earliest {
            Some(epoch) => self.rebuild_from(chain, epoch),
            None => Vec::new(),
        };
        self.forget_included_late(chain);
        Ok(Admitted { blocks, late })
    }

    /// Fixes an epoch's content to exactly `envelopes` (the majority's) and rebuilds from it.
    /// Returns the rebuilt blocks and the envelopes left out (now late).
    pub fn finalize(
        &mut self,
        chain: &mut Chain,
        epoch: u64,
        envelopes: Vec<Envelope>,
    ) -> (Vec<Arc<StoredBlock>>, Vec<Envelope>) {
        let excluded = self.book.finalize(epoch, envelopes);
        if excluded.is_empty() {
            // The usual case: the book did not change, so neither does any block (a block's
            // hash alone would not do: transactions carried to the next epoch are not in it).
            return (Vec::new(), Vec::new());
        }
        for envelope in &excluded {
            self.note_late(envelope);
        }
        let from = excluded.iter().map(|e| self.book.epoch_of(e.stamp)).fold(epoch, u64::min);
        let blocks = self.rebuild_from(chain, from);
        self.forget_included_late(chain);
        (blocks, excluded)
    }

    /// Puts exact envelopes a decided epoch names in place of other stamps of the same
    /// content, without building; returns the earliest epoch whose content changed.
    pub fn replace_unbuilt(&mut self, envelopes: Vec<Envelope>) -> Option<u64> {
        envelopes.into_iter().filter_map(|e| self.book.replace(e)).min()
    }

    /// Replay: admits one envelope into the book without building (see
    /// [`EpochBuilder::rebuild_all`]); returns whether it was late.
    pub fn admit_unbuilt(&mut self, envelope: Envelope) -> bool {
        let late = matches!(
            self.book.admit(envelope.clone()),
            ir3_foundation::order::Admission::Late { .. }
        );
        if late {
            self.note_late(&envelope);
        }
        late
    }

    /// Replay: fixes an epoch's content without building; returns the envelopes left out.
    pub fn finalize_unbuilt(&mut self, epoch: u64, envelopes: Vec<Envelope>) -> Vec<Envelope> {
        let excluded = self.book.finalize(epoch, envelopes);
        for envelope in &excluded {
            self.note_late(envelope);
        }
        excluded
    }

    /// Builds every epoch of the book on `chain` (after replay).
    pub fn rebuild_all(&mut self, chain: &mut Chain) -> Vec<Arc<StoredBlock>> {
        let first = self.book.epochs().next();
        let blocks = match first {
            Some(epoch) => self.rebuild_from(chain, epoch),
            None => Vec::new(),
        };
        self.forget_included_late(chain);
        blocks
    }

    /// Envelopes left out of final epochs whose transactions no block includes.
    pub fn late_envelopes(&self) -> impl Iterator<Item = &Envelope> + '_ {
        self.late.values()
    }

    fn note_late(&mut self, envelope: &Envelope) {
        self.late.insert(tx_hash_of(&envelope.payload), envelope.clone());
    }

    fn forget_included_late(&mut self, chain: &Chain) {
        self.late.retain(|hash, _| !chain.contains_tx(hash));
    }

    /// The block derived from an epoch, if it derived one.
    pub fn block_of_epoch(&self, epoch: u64) -> Option<EpochBlock> {
        let index = self.built.binary_search_by_key(&epoch, |b| b.epoch).ok()?;
        let built = &self.built[index];
        Some(EpochBlock { number: built.number, hash: built.hash, state_root: built.state_root })
    }

    /// Rebuilds `chain` from `epoch` on (after the book changed without building).
    pub fn rebuild_from_epoch(&mut self, chain: &mut Chain, epoch: u64) -> Vec<Arc<StoredBlock>> {
        let blocks = self.rebuild_from(chain, epoch);
        self.forget_included_late(chain);
        blocks
    }

    /// The epoch of the last block built before `epoch` (`None`: the genesis).
    pub fn parent_epoch_of(&self, epoch: u64) -> Option<u64> {
        let index = self.built.partition_point(|b| b.epoch < epoch);
        index.checked_sub(1).map(|i| self.built[i].epoch)
    }

    /// The epochs that derived blocks, from `from` on, ascending.
    pub fn built_epochs_from(&self, from: u64) -> impl Iterator<Item = u64> + '_ {
        let start = self.built.partition_point(|b| b.epoch < from);
        self.built[start..].iter().map(|b| b.epoch)
    }

    /// Why each dropped transaction of the current chain was dropped.
    pub fn dropped(&self) -> HashMap<B256, DropReason> {
        let mut dropped: HashMap<B256, DropReason> =
            self.built.iter().flat_map(|b| b.dropped.iter().cloned()).collect();
        dropped.extend(self.late.keys().map(|hash| (*hash, DropReason::Late)));
        dropped
    }

    /// Why a transaction was dropped, if it was.
    pub fn drop_reason(&self, hash: &B256) -> Option<DropReason> {
        if self.late.contains_key(hash) {
            return Some(DropReason::Late);
        }
        self.built.iter().rev().find_map(|b| {
            b.dropped.iter().find(|(h, _)| h == hash).map(|(_, reason)| reason.clone())
        })
    }

    /// Transactions waiting for a later epoch (nonce gaps, full blocks).
    pub fn carried(&self) -> &[Arc<SignedTx>] {
        self.built.last().map(|b| b.carried_out.as_slice()).unwrap_or_default()
    }

    fn rebuild_from(&mut self, chain: &mut Chain, epoch: u64) -> Vec<Arc<StoredBlock>> {
        let keep = self.built.partition_point(|b| b.epoch < epoch);
        if keep < self.built.len() {
            let head = self.built[keep].number - 1;
            let revision = chain.revision_of(head);
            chain.truncate_to(head, revision);
            self.built.truncate(keep);
        }
        let from = self.built.last().map_or(0, |b| b.epoch + 1).min(epoch);
        let epochs: Vec<u64> = self.book.epochs_from(from).collect();
        epochs.into_iter().map(|epoch| self.build_epoch(chain, epoch)).collect()
    }

    fn build_epoch(&mut self, chain: &mut Chain, epoch: u64) -> Arc<StoredBlock> {
        let ordered = self.book.ordered(epoch);
        let mut dropped: Vec<(B256, DropReason)> = Vec::new();
        // Native apps' envelopes ride the same epochs; their apps derive what they mean.
        for conflict in ordered.conflicts.iter().filter(|e| e.app == EVM_APP) {
            dropped.push((tx_hash_of(&conflict.payload), DropReason::Conflict));
        }
        let mut candidates: Vec<Arc<SignedTx>> = self.carried().to_vec();
        for envelope in ordered.envelopes.into_iter().filter(|e| e.app == EVM_APP) {
            let hash = tx_hash_of(&envelope.payload);
            if let Some(tx) = self.decoded.get(&hash)
                && tx.sender.as_slice() == envelope.account.as_slice()
            {
                candidates.push(tx.clone());
                continue;
            }
            match SignedTx::decode(&envelope.payload) {
                Ok(tx) if tx.sender.as_slice() == envelope.account.as_slice() => {
                    let tx = Arc::new(tx);
                    if self.decoded.len() >= MAX_DECODED {
                        self.decoded.clear();
                    }
                    self.decoded.insert(hash, tx.clone());
                    candidates.push(tx);
                }
                Ok(tx) => {
                    dropped.push((tx.hash, DropReason::Invalid("signer is not the account".into())))
                }
                Err(error) => {
                    dropped.push((
                        tx_hash_of(&envelope.payload),
                        DropReason::Invalid(error.to_string()),
                    ));
                }
            }
        }
        keep_nonce_order(&mut candidates);
        // A carried transaction and one of this epoch may share a sender and nonce: the first
        // in order stays, the other is a conflict (it must not block the sender's later ones).
        // A nonce already used (by a transaction of an earlier epoch) is refused before execution,
        // so it never holds back the sender's later transactions in this block.
        let mut seen = std::collections::HashSet::new();
        candidates.retain(|tx| {
            let state_nonce = chain.latest_nonce(tx.sender);
            if tx.nonce() < state_nonce {
                let reason =
                    format!("nonce too low: next nonce {state_nonce}, tx nonce {}", tx.nonce());
                dropped.push((tx.hash, DropReason::Rejected(reason)));
                return false;
            }
            let first = seen.insert((tx.sender, tx.nonce()));
            if !first {
                dropped.push((tx.hash, DropReason::Conflict));
            }
            first
        });
        let context = self.next_context(chain, epoch);
        let execution = {
            let parent = chain.state_at(chain.head_number());
            let excess = chain.next_excess_blob_gas(context.timestamp);
            execute_block(parent, chain.config(), &context, excess, candidates)
        };
        for (tx, error) in &execution.rejected {
            dropped.push((tx.hash, DropReason::Rejected(error.to_string())));
        }
        let carried_out = execution.deferred.clone();
        let block = chain.seal(&context, execution);
        let block = chain.publish(block);
        self.built.push(BuiltEpoch {
            epoch,
            number: block.number(),
            hash: block.hash,
            state_root: block.header.state_root,
            carried_out,
            dropped,
        });
        block
    }

    fn next_context(&self, chain: &Chain, epoch: u64) -> BlockContext {
        let head = chain.head();
        let epoch_start = epoch.saturating_mul(self.book.epoch_ms()) / 1000;
        let config = chain.config();
        BlockContext {
            number: head.number() + 1,
            timestamp: epoch_start.max(head.header.timestamp + 1),
            base_fee: chain.next_base_fee(),
            gas_limit: config.gas_limit,
            coinbase: config.coinbase,
            prevrandao: keccak256(head.hash),
        }
    }
}

/// The hash of raw transaction bytes (for reporting a payload that did not decode).
fn tx_hash_of(payload: &[u8]) -> B256 {
    keccak256(payload)
}

/// Puts each sender's transactions back in nonce order in the positions they occupy (carried
/// transactions come first, so a gap filled by this epoch is executed in order).
fn keep_nonce_order(candidates: &mut [Arc<SignedTx>]) {
    let mut positions: HashMap<alloy_primitives::Address, Vec<usize>> = HashMap::new();
    for (index, tx) in candidates.iter().enumerate() {
        positions.entry(tx.sender).or_default().push(index);
    }
    for indexes in positions.values() {
        let mut mine: Vec<Arc<SignedTx>> = indexes.iter().map(|i| candidates[*i].clone()).collect();
        mine.sort_by_key(|tx| tx.nonce());
        for (slot, tx) in indexes.iter().zip(mine) {
            candidates[*slot] = tx;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy_network::TxSignerSync;
    use alloy_primitives::{Address, Bytes, TxKind, U256};
    use ir3_foundation::order::HlcStamp;
    use proptest::prelude::*;

    use super::*;
    use crate::{DevAccounts, config::DEFAULT_MNEMONIC};

    const EPOCH_MS: u64 = 500;
    const GATEWAYS: u64 = 3;
    /// Genesis at t = 1000 s; envelopes are stamped within a few epochs after it.
    pub(crate) const GENESIS_MS: u64 = 1_000_000;

    /// Deterministic pseudo-random numbers (xorshift64*), seeded by proptest.
    pub(crate) struct Rng(pub(crate) u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
        fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                items.swap(i, self.below(i as u64 + 1) as usize);
            }
        }
    }

    pub(crate) fn accounts() -> DevAccounts {
        DevAccounts::from_mnemonic(DEFAULT_MNEMONIC, 4).unwrap()
    }

    pub(crate) fn config(accounts: &DevAccounts) -> ChainConfig {
        let alloc = accounts
            .addresses()
            .into_iter()
            .map(|a| (a, U256::from(10u64).pow(U256::from(20))))
            .collect();
        ChainConfig::dev(1337, alloc, GENESIS_MS / 1000)
    }

    pub(crate) fn signed(
        accounts: &DevAccounts,
        from: Address,
        nonce: u64,
        to: TxKind,
        value: u64,
        input: Bytes,
    ) -> SignedTx {
        let mut tx = TxEip1559 {
            chain_id: 1337,
            nonce,
            gas_limit: 200_000,
            max_fee_per_gas: 100_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to,
            value: U256::from(value),
            input,
            ..Default::default()
        };
        let signature = accounts.signer(from).unwrap().sign_transaction_sync(&mut tx).unwrap();
        let envelope: TxEnvelope = tx.into_signed(signature).into();
        SignedTx::from_envelope(envelope, from)
    }

    /// Runtime code that stores CALLVALUE at slot 0 and adds it to slot 1:
    /// CALLVALUE PUSH1 0 SSTORE PUSH1 1 SLOAD CALLVALUE ADD PUSH1 1 SSTORE STOP.
    const ACCUMULATOR_RUNTIME: &[u8] =
        &[0x34, 0x60, 0x00, 0x55, 0x60, 0x01, 0x54, 0x34, 0x01, 0x60, 0x01, 0x55, 0x00];

    /// Init code returning ACCUMULATOR_RUNTIME.
    fn accumulator_init() -> Bytes {
        let runtime = ACCUMULATOR_RUNTIME;
        let mut init = vec![
            0x60,
            runtime.len() as u8,
            0x60,
            0x0c,
            0x60,
            0x00,
            0x39,
            0x60,
            runtime.len() as u8,
            0x60,
            0x00,
            0xf3,
        ];
        init.extend_from_slice(runtime);
        Bytes::from(init)
    }

    /// A workload: every account sends a few transactions (transfers and calls writing the same
    /// contract slots), one account also sends a conflicting same-nonce transaction, and each
    /// transaction is stamped by one or two gateways at random times.
    fn workload(rng: &mut Rng) -> Vec<Envelope> {
        let accounts = accounts();
        let senders = accounts.addresses();
        let deployer = senders[0];
        let contract = deployer.create(0);
        let mut txs = vec![signed(&accounts, deployer, 0, TxKind::Create, 0, accumulator_init())];
        for (i, sender) in senders.iter().enumerate() {
            let first = if *sender == deployer { 1 } else { 0 };
            for nonce in first..first + 3 {
                let (to, value) = if nonce % 2 == 0 {
                    (TxKind::Call(contract), 1 + i as u64)
                } else {
                    (TxKind::Call(senders[(i + 1) % senders.len()]), 1_000 + nonce)
                };
                txs.push(signed(&accounts, *sender, nonce, to, value, Bytes::new()));
            }
        }
        // Same sender and nonce as an existing transaction, different content.
        txs.push(signed(
            &accounts,
            senders[1],
            1,
            TxKind::Call(Address::repeat_byte(9)),
            77,
            Bytes::new(),
        ));
        let mut envelopes = Vec::new();
        for tx in &txs {
            let copies = 1 + rng.below(2);
            for _ in 0..copies {
                let stamp = HlcStamp {
                    wall_ms: GENESIS_MS + 1_000 + rng.below(4 * EPOCH_MS),
                    logical: rng.below(3) as u32,
                };
                envelopes.push(evm_envelope(tx, stamp, rng.below(GATEWAYS)));
            }
        }
        envelopes
    }

    /// Per block: each transaction's hash, success and gas used.
    type Receipts = Vec<Vec<(B256, bool, u64)>>;

    /// What two gateways must agree on: head hash, state root, receipts, dropped transactions.
    fn fingerprint(chain: &EpochChain) -> (B256, B256, Receipts, Vec<B256>) {
        let chain_ref = chain.chain();
        let head = chain_ref.head();
        let receipts = (0..=chain_ref.head_number())
            .filter_map(|n| chain_ref.block(n))
            .map(|b| {
                b.transactions
                    .iter()
                    .zip(&b.receipts)
                    .map(|(tx, r)| (tx.hash, r.envelope.status(), r.gas_used))
                    .collect()
            })
            .collect();
        let mut dropped: Vec<B256> = chain.dropped().into_keys().collect();
        dropped.sort();
        (head.hash, head.header.state_root, receipts, dropped)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Shuffled, split, duplicated and delayed deliveries give the same chain.
        #[test]
        fn any_delivery_order_gives_the_same_chain(seed in 1u64..u64::MAX) {
            let mut rng = Rng(seed);
            let envelopes = workload(&mut rng);
            let accounts = accounts();

            let mut reference = EpochChain::new(config(&accounts), EPOCH_MS).unwrap();
            reference.admit(envelopes.clone()).unwrap();
            let expected = fingerprint(&reference);
            // Everything valid was included; exactly one side of the conflict was dropped.
            let chain_ref = reference.chain();
            let included: usize = (0..=chain_ref.head_number()).filter_map(|n| chain_ref.block(n)).map(|b| b.transactions.len()).sum();
            prop_assert_eq!(included, 1 + 4 * 3, "dropped: {:?}", reference.dropped());
            prop_assert!(reference.carried().is_empty());

            for _ in 0..2 {
                let mut delivery = envelopes.clone();
                // Duplicates: some envelopes arrive twice.
                for _ in 0..rng.below(4) {
                    let copy = delivery[rng.below(delivery.len() as u64) as usize].clone();
                    delivery.push(copy);
                }
                rng.shuffle(&mut delivery);
                let mut gateway = EpochChain::new(config(&accounts), EPOCH_MS).unwrap();
                // Split into random batches, each admitted (and the chain rebuilt) on its own.
                while !delivery.is_empty() {
                    let take = 1 + rng.below(delivery.len() as u64) as usize;
                    let batch: Vec<Envelope> = delivery.drain(..take.min(delivery.len())).collect();
                    gateway.admit(batch).unwrap();
                }
                prop_assert_eq!(fingerprint(&gateway), expected.clone());
            }
        }
    }

    #[test]
    fn a_same_nonce_conflict_keeps_one_and_drops_the_other_everywhere() {
        let accounts = accounts();
        let sender = accounts.addresses()[0];
        let a =
            signed(&accounts, sender, 0, TxKind::Call(Address::repeat_byte(1)), 1, Bytes::new());
        let b =
            signed(&accounts, sender, 0, TxKind::Call(Address::repeat_byte(2)), 2, Bytes::new());
        let at = |ms| HlcStamp { wall_ms: GENESIS_MS + ms, logical: 0 };
        // Same epoch: the earlier stamp wins. Different epochs: the later one is refused.
        for (stamp_a, stamp_b) in [(at(10), at(20)), (at(10), at(2_000))] {
            let envelopes = [evm_envelope(&a, stamp_a, 0), evm_envelope(&b, stamp_b, 1)];
            let mut one = EpochChain::new(config(&accounts), EPOCH_MS).unwrap();
            one.admit(envelopes.clone()).unwrap();
            let mut other = EpochChain::new(config(&accounts), EPOCH_MS).unwrap();
            other.admit(envelopes.iter().rev().cloned()).unwrap();
            for chain in [&one, &other] {
                assert!(chain.chain().contains_tx(&a.hash));
                assert!(!chain.chain().contains_tx(&b.hash));
                assert!(chain.dropped().contains_key(&b.hash));
            }
            assert_eq!(fingerprint(&one), fingerprint(&other));
        }
    }

    #[test]
    fn a_nonce_gap_waits_for_its_filler_in_a_later_epoch() {
        let accounts = accounts();
        let sender = accounts.addresses()[0];
        let to = TxKind::Call(Address::repeat_byte(1));
        let first = signed(&accounts, sender, 0, to, 1, Bytes::new());
        let second = signed(&accounts, sender, 1, to, 1, Bytes::new());
        let at = |ms| HlcStamp { wall_ms: GENESIS_MS + ms, logical: 0 };
        let mut chain = EpochChain::new(config(&accounts), EPOCH_MS).unwrap();
        chain.admit([evm_envelope(&second, at(100), 0)]).unwrap();
        assert_eq!(chain.carried().len(), 1);
        chain.admit([evm_envelope(&first, at(1_600), 1)]).unwrap();
        assert!(chain.carried().is_empty());
        assert!(chain.chain().contains_tx(&first.hash) && chain.chain().contains_tx(&second.hash));
    }
}
