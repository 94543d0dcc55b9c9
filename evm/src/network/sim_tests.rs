//! Deterministic simulation of a gateway set, no network: each gateway is an [`Ordering`] and a
//! [`Chain`]; envelopes and signed votes travel between them with random delays (some longer
//! than the grace period, so epochs finalize without them), duplicates, and a gateway cut off
//! for a while. Every gateway ends with the same finalized chain, no finalized block ever
//! changes, and every transaction is either included or dropped for the same reason everywhere.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{Address, B256, Bytes, TxKind};
use ir3_foundation::{
    finality::SignedVote,
    net::Keypair,
    order::{Envelope, HybridClock},
};
use proptest::prelude::*;

use super::Ordering;
use crate::{
    chain::Chain,
    dev::MiningMode,
    epoch_chain::{
        evm_envelope,
        tests::{GENESIS_MS, Rng, accounts, config, signed},
    },
};

const EPOCH_MS: u64 = 500;
const GRACE_MS: u64 = 300;
const STEP_MS: u64 = 50;

#[derive(Clone)]
enum Message {
    Envelope(Envelope),
    Vote(SignedVote),
}

struct Gateway {
    order: Ordering,
    chain: Chain,
    key: Keypair,
    clock: HybridClock,
    /// Finalized block hash per number, as this gateway reported it.
    finalized: BTreeMap<u64, B256>,
}

struct Sim {
    gateways: Vec<Gateway>,
    /// (delivery time, target, message), in no particular order.
    in_flight: Vec<(u64, usize, Message)>,
    rng: Rng,
    /// Gateway cut off from the others until this time.
    cut: Option<(usize, u64)>,
    max_delay: u64,
}

impl Sim {
    fn new(n: usize, seed: u64, max_delay: u64) -> Self {
        let accounts = accounts();
        let gateways = (0..n)
            .map(|i| Gateway {
                order: Ordering::new(EPOCH_MS, GRACE_MS, n as u64, Some(i as u64)),
                chain: Chain::genesis(config(&accounts), MiningMode::Manual).unwrap(),
                key: Keypair::generate_ed25519(),
                clock: HybridClock::default(),
                finalized: BTreeMap::new(),
            })
            .collect();
        Self { gateways, in_flight: Vec::new(), rng: Rng(seed), cut: None, max_delay }
    }

    fn broadcast(&mut self, from: usize, now: u64, message: Message) {
        for to in 0..self.gateways.len() {
            if to == from {
                continue;
            }
            let copies = 1 + self.rng.below(2);
            for _ in 0..copies {
                let mut at = now + self.rng.below(self.max_delay);
                if let Some((cut, until)) = self.cut
                    && (cut == from || cut == to)
                {
                    at = at.max(until);
                }
                self.in_flight.push((at, to, message.clone()));
            }
        }
    }

    /// A gateway receives what it was sent, then stamps its own late envelopes again.
    fn deliver(&mut self, to: usize, now: u64, messages: Vec<Message>) {
        let gateway = &mut self.gateways[to];
        let mut late = Vec::new();
        let (envelopes, votes): (Vec<Envelope>, Vec<SignedVote>) = {
            let mut envelopes = Vec::new();
            let mut votes = Vec::new();
            for message in messages {
                match message {
                    Message::Envelope(e) => envelopes.push(e),
                    Message::Vote(v) => votes.push(v),
                }
            }
            gateway.order.only_new(envelopes, votes)
        };
        let messages = envelopes
            .into_iter()
            .map(Message::Envelope)
            .chain(votes.into_iter().map(Message::Vote));
        for message in messages {
            let applied = match message {
                Message::Envelope(e) => {
                    gateway.clock.witness(e.stamp);
                    gateway.order.admit(Some(&mut gateway.chain), vec![e]).unwrap()
                }
                Message::Vote(v) => {
                    gateway.clock.witness(v.vote.stamp);
                    gateway.order.record_vote(Some(&mut gateway.chain), v).unwrap()
                }
            };
            late.extend(applied.late);
        }
        self.restamp(to, now, late);
    }

    fn restamp(&mut self, at: usize, now: u64, late: Vec<Envelope>) {
        let gateway = &mut self.gateways[at];
        let mine: Vec<Envelope> = late
            .into_iter()
            .filter(|e| e.gateway == at as u64)
            .filter(|e| !gateway.chain.contains_tx(&alloy_primitives::keccak256(&e.payload)))
            .collect();
        for envelope in mine {
            let gateway = &mut self.gateways[at];
            let open = gateway.order.first_open_epoch() * EPOCH_MS;
            let fresh = Envelope { stamp: gateway.clock.tick(now.max(open)), ..envelope };
            let applied =
                gateway.order.admit(Some(&mut gateway.chain), vec![fresh.clone()]).unwrap();
            assert!(applied.late.is_empty());
            self.broadcast(at, now, Message::Envelope(fresh));
        }
    }

    /// Runs until `end`: submissions at their times, deliveries, votes every step.
    fn run(&mut self, mut submissions: Vec<(u64, usize, crate::block::SignedTx)>, end: u64) {
        submissions.sort_by_key(|(t, ..)| *t);
        let mut submissions = submissions.into_iter().peekable();
        let mut now = GENESIS_MS + 1_000;
        while now <= end {
            while let Some((_, gateway, tx)) = submissions.next_if(|(t, ..)| *t <= now) {
                let g = &mut self.gateways[gateway];
                let open = g.order.first_open_epoch() * EPOCH_MS;
                let envelope = evm_envelope(&tx, g.clock.tick(now.max(open)), gateway as u64);
                g.order.admit(Some(&mut g.chain), vec![envelope.clone()]).unwrap();
                self.broadcast(gateway, now, Message::Envelope(envelope));
            }
            let (due, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.in_flight).into_iter().partition(|(t, ..)| *t <= now);
            self.in_flight = later;
            let mut by_target: HashMap<usize, Vec<Message>> = HashMap::new();
            for (_, to, message) in due {
                by_target.entry(to).or_default().push(message);
            }
            for to in 0..self.gateways.len() {
                if let Some(messages) = by_target.remove(&to) {
                    self.deliver(to, now, messages);
                }
                let g = &mut self.gateways[to];
                let clock = &g.clock;
                if let Some((vote, cut)) =
                    g.order.next_vote(Some(&mut g.chain), now, || clock.tick(now))
                {
                    let signed = SignedVote::sign(vote, &g.key).unwrap();
                    let applied = g.order.record_vote(Some(&mut g.chain), signed.clone()).unwrap();
                    self.restamp(to, now, cut.late);
                    self.restamp(to, now, applied.late);
                    self.broadcast(to, now, Message::Vote(signed));
                }
                self.check_finality_never_moves(to);
            }
            // Anti-entropy, as the nodes' catch-up pulls: every 2 s each gateway pulls a page
            // from one peer (not across a cut).
            if (now / STEP_MS).is_multiple_of(40) {
                for to in 0..self.gateways.len() {
                    let from = (to + 1 + self.rng.below(self.gateways.len() as u64 - 1) as usize)
                        % self.gateways.len();
                    if self
                        .cut
                        .is_some_and(|(cut, until)| now < until && (cut == to || cut == from))
                    {
                        continue;
                    }
                    let page = self.gateways[from].order.page(self.gateways[to].order.pull_from());
                    let messages = page
                        .envelopes
                        .into_iter()
                        .map(Message::Envelope)
                        .chain(page.votes.into_iter().map(Message::Vote))
                        .collect();
                    self.deliver(to, now, messages);
                }
            }
            now += STEP_MS;
        }
    }

    fn check_finality_never_moves(&mut self, at: usize) {
        let g = &mut self.gateways[at];
        let finalized = g.order.tags().finalized;
        for number in 0..=finalized {
            let hash = g.chain.block(number).unwrap().hash;
            let seen = *g.finalized.entry(number).or_insert(hash);
            assert_eq!(seen, hash, "gateway {at} rewrote finalized block {number}");
        }
    }
}

/// Transfers from four accounts (each sender through one or two gateways, nonces in order) and
/// a same-nonce conflict sent to two gateways.
fn workload(rng: &mut Rng, gateways: usize) -> Vec<(u64, usize, crate::block::SignedTx)> {
    let accounts = accounts();
    let senders = accounts.addresses();
    let mut out = Vec::new();
    for (i, sender) in senders.iter().enumerate() {
        let mut at = GENESIS_MS + 1_000 + rng.below(1_000);
        for nonce in 0..4 {
            let to = TxKind::Call(senders[(i + 1) % senders.len()]);
            let tx = signed(&accounts, *sender, nonce, to, 1 + nonce, Bytes::new());
            out.push((at, rng.below(gateways as u64) as usize, tx));
            at += 100 + rng.below(900);
        }
    }
    let sender = senders[0];
    let a = signed(&accounts, sender, 4, TxKind::Call(Address::repeat_byte(1)), 7, Bytes::new());
    let b = signed(&accounts, sender, 4, TxKind::Call(Address::repeat_byte(2)), 8, Bytes::new());
    let at = GENESIS_MS + 6_000;
    out.push((at, 0, a));
    out.push((at + rng.below(300), gateways - 1, b));
    out
}

fn assert_converged(sim: &Sim, txs: &[(u64, usize, crate::block::SignedTx)]) {
    let reference = &sim.gateways[0];
    let final_head = reference.order.tags().finalized;
    assert!(final_head > 0, "nothing was finalized");
    for (i, g) in sim.gateways.iter().enumerate() {
        assert_eq!(g.order.diverged, None, "gateway {i}");
        assert_eq!(g.order.tags().finalized, final_head, "gateway {i} finalized another head");
        assert_eq!(g.chain.head().hash, reference.chain.head().hash, "gateway {i} head");
        for (_, _, tx) in txs {
            assert_eq!(g.chain.contains_tx(&tx.hash), reference.chain.contains_tx(&tx.hash));
            assert_eq!(
                g.order.builder.drop_reason(&tx.hash).is_some(),
                reference.order.builder.drop_reason(&tx.hash).is_some()
            );
        }
    }
    // Everything but the conflict's loser is in the chain and final.
    let included = txs.iter().filter(|(_, _, tx)| reference.chain.contains_tx(&tx.hash)).count();
    assert_eq!(included, txs.len() - 1);
    assert_eq!(reference.chain.head_number(), final_head, "the tip is not final");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Deliveries within the grace period: every gateway sees every envelope before voting.
    #[test]
    fn gateways_converge_on_one_final_chain(seed in 1u64..u64::MAX) {
        let mut sim = Sim::new(3, seed, GRACE_MS / 2);
        let mut rng = Rng(seed ^ 0x9e37_79b9);
        let txs = workload(&mut rng, 3);
        sim.run(txs.clone(), GENESIS_MS + 12_000);
        assert_converged(&sim, &txs);
    }

    /// Deliveries slower than the grace period and a gateway cut off for two seconds: epochs
    /// finalize without some envelopes, which their gateways stamp again; all still converge.
    #[test]
    fn late_envelopes_and_a_cut_off_gateway_still_converge(seed in 1u64..u64::MAX) {
        let mut sim = Sim::new(5, seed, GRACE_MS * 3);
        sim.cut = Some((4, GENESIS_MS + 3_000));
        let mut rng = Rng(seed ^ 0x51ed_2701);
        let txs = workload(&mut rng, 5);
        sim.run(txs.clone(), GENESIS_MS + 25_000);
        assert_converged(&sim, &txs);
    }
}
