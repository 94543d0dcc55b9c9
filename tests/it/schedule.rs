//! A randomized schedule of faults over four validators on the BFT engine, each gateway in a
//! network namespace of its own (as in the partition tests): SIGKILLs, restarts, partitions
//! and heals in a seeded random order, with transfers sent to live gateways in between. After
//! every step: no two gateways hold different finalized blocks at one height, and no block
//! seen finalized is ever rewritten. At the end everything is healed and restarted: one chain,
//! every acknowledged transfer final on every gateway.
//!
//! The seed is printed and named in every failure message; `IR3_SCHEDULE_SEED=N` replays a
//! schedule (the faults' order and timing; the engine's own timing still varies).

use std::{collections::BTreeMap, thread, time::Duration};

use serde_json::json;

use crate::{
    network::{ADDRS, KEYS, wait_for},
    partition::{Lab, agreed},
    sync::transfer,
    utils::quantity,
};

/// Steps of one schedule.
const STEPS: usize = 24;
/// Validators (f = 1).
const GATEWAYS: usize = 4;

/// SplitMix64: a small seeded generator, so a schedule is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick(&mut self, from: &[usize]) -> usize {
        from[self.below(from.len())]
    }
}

/// What the schedule did, for the failure messages.
struct Run {
    seed: u64,
    log: Vec<String>,
}

impl Run {
    fn context(&self) -> String {
        format!("seed {} (IR3_SCHEDULE_SEED={} replays it); steps: {}", self.seed, self.seed, {
            self.log.join("; ")
        })
    }
}

/// Checks every live gateway's finalized blocks against all the finalized blocks seen so far.
fn check_finalized(lab: &Lab, alive: &[bool], seen: &mut BTreeMap<u64, String>, run: &Run) {
    for i in (0..lab.size).filter(|i| alive[*i]) {
        let (finalized, _) = lab.finalized(i);
        for number in 1..=finalized {
            let block = lab.rpc(i, "eth_getBlockByNumber", json!([format!("0x{number:x}"), false]));
            let hash = block["hash"].as_str().unwrap_or_default().to_string();
            let first = seen.entry(number).or_insert_with(|| hash.clone());
            assert_eq!(
                *first,
                hash,
                "gateway {i} holds another finalized block at {number} — {}",
                run.context()
            );
        }
    }
}

#[test]
fn a_random_schedule_of_kills_restarts_and_partitions_never_splits_finality() {
    let seed =
        std::env::var("IR3_SCHEDULE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                as u64
        });
    eprintln!("schedule seed {seed} (IR3_SCHEDULE_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let mut run = Run { seed, log: Vec::new() };
    let mut lab = Lab::new(GATEWAYS);
    lab.start();
    let mut alive = [true; GATEWAYS];
    let mut split: Option<(Vec<usize>, Vec<usize>)> = None;
    let mut nonces = [0u64; 4];
    let mut sent: Vec<String> = Vec::new();
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();

    for step in 0..STEPS {
        let live: Vec<usize> = (0..GATEWAYS).filter(|i| alive[*i]).collect();
        let dead: Vec<usize> = (0..GATEWAYS).filter(|i| !alive[*i]).collect();
        let what = match rng.below(6) {
            // Kill one, as long as one stays up to take transfers.
            0 if live.len() > 1 => {
                let i = rng.pick(&live);
                lab.nodes[i].kill9();
                alive[i] = false;
                format!("kill -9 gateway {i}")
            }
            1 if !dead.is_empty() => {
                let i = rng.pick(&dead);
                lab.nodes[i].restart();
                alive[i] = true;
                format!("restart gateway {i}")
            }
            2 if split.is_none() => {
                // A random split into two non-empty sides.
                let mask = 1 + rng.below((1 << GATEWAYS) - 2);
                let (side, other): (Vec<usize>, Vec<usize>) =
                    (0..GATEWAYS).partition(|i| mask & (1 << i) != 0);
                lab.partition(&side, &other, false);
                let what = format!("partition {side:?} | {other:?}");
                split = Some((side, other));
                what
            }
            3 if split.is_some() => {
                let (side, other) = split.take().unwrap();
                lab.partition(&side, &other, true);
                format!("heal {side:?} | {other:?}")
            }
            _ => {
                // Transfers from random senders through random live gateways.
                let mut hashes = Vec::new();
                for _ in 0..3 {
                    let sender = rng.below(nonces.len());
                    let gateway = rng.pick(&live);
                    let raw = transfer(KEYS[sender], nonces[sender], ADDRS[9], 1 + step as u64);
                    let response = lab.call(gateway, "eth_sendRawTransaction", json!([raw]));
                    let hash = response["result"].as_str().unwrap_or_else(|| {
                        panic!("a transfer was refused: {response} — {}", run.context())
                    });
                    nonces[sender] += 1;
                    sent.push(hash.to_string());
                    hashes.push(format!("{sender}→gw{gateway}"));
                }
                format!("send {}", hashes.join(" "))
            }
        };
        let pause = 300 + rng.below(2000) as u64;
        run.log.push(format!("{step}: {what}, wait {pause} ms"));
        eprintln!("schedule step {step}: {what}, wait {pause} ms");
        thread::sleep(Duration::from_millis(pause));
        check_finalized(&lab, &alive, &mut seen, &run);
    }

    // Heal everything, restart the dead: one chain with every acknowledged transfer final.
    if let Some((side, other)) = split.take() {
        lab.partition(&side, &other, true);
    }
    for (node, up) in lab.nodes.iter_mut().zip(alive.iter_mut()) {
        if !*up {
            node.restart();
            *up = true;
        }
    }
    run.log.push("heal all, restart all".into());
    wait_for(
        &format!("every gateway to agree at the end — {}", run.context()),
        Duration::from_secs(120),
        || agreed(&lab, &sent),
    );
    check_finalized(&lab, &alive, &mut seen, &run);
    let balance = quantity(&lab.rpc(0, "eth_getBalance", json!([ADDRS[9], "latest"])));
    for i in 1..GATEWAYS {
        let other = quantity(&lab.rpc(i, "eth_getBalance", json!([ADDRS[9], "latest"])));
        assert_eq!(other, balance, "gateway {i}'s balance — {}", run.context());
    }
}
