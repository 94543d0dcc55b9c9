//! The apps that live between peers rather than in the ordered log: each node's own facts
//! (messages received, observations made, senders blocked, topics followed, answers to its
//! intents) are appended to its series and replayed at start; its intents are declared fire
//! and forget, and each peer answers on its own.
//!
//! - **messaging**: `messaging/message` declared to one peer (direct) or to all (a topic).
//!   The receiver answers YES — the delivery receipt — and keeps the message in its inbox; NO
//!   when the sender is blocked or over the rate limit; silence for a topic it does not follow.
//! - **territory**: `territory/want_observations` for a location: a peer with observations of
//!   it answers YES with its latest value; the requester derives a reputation-weighted value
//!   and reports who contributed, refused or stayed silent.
//! - **compute**: `compute/call` (EVM bytecode and calldata, run with `eth_call` semantics at
//!   the latest block): a peer answers YES and runs it, then declares `compute/result` to the
//!   requester; the requester reports agreement, disagreement and silence.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    future::Future,
    pin::Pin,
    sync::Arc,
    time::Instant,
};

use alloy_primitives::{Address, Bytes};
use ir3_foundation::{
    EntryBody, Intent, IntentId, SeriesHandle,
    net::{Answer, Decider, IntentMessage, NEVER, PeerId, RateLimiter},
    order::now_ms,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{SignedOp, error::Result};

/// The messaging app's name.
pub const MESSAGING_APP: &str = "messaging";
/// The territory app's name.
pub const TERRITORY_APP: &str = "territory";
/// The compute app's name.
pub const COMPUTE_APP: &str = "compute";
/// The series app name of a node's own peer-app facts.
pub const FACTS_APP: &str = "native-facts";
/// Longest message text.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Longest location name.
pub const MAX_LOCATION_BYTES: usize = 128;
/// Largest bytecode or calldata of a compute call.
pub const MAX_CODE_BYTES: usize = 24 * 1024;
/// Messages a peer may send per second before this node answers NO.
pub const MESSAGE_RATE: f64 = 20.0;
/// Requests (observations, compute calls) a peer may make per second before NO.
pub const REQUEST_RATE: f64 = 50.0;
/// How long a blocked sender is told to wait.
pub const BLOCKED_RETRY_MS: u64 = 3_600_000;
/// Most messages kept in the inbox in memory (all stay in the series).
pub const MAX_INBOX: usize = 10_000;

/// Runs a pure function: EVM bytecode with calldata, `eth_call` semantics.
pub trait Evaluator: Send + Sync + std::fmt::Debug {
    /// The return data, or why it failed (revert, halt).
    fn evaluate(
        &self,
        code: Bytes,
        data: Bytes,
    ) -> Pin<Box<dyn Future<Output = std::result::Result<Bytes, String>> + Send>>;
}

/// A message in the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The sending peer.
    pub from: String,
    /// The topic, for a broadcast.
    pub topic: Option<String>,
    /// The text.
    pub text: String,
    /// When it arrived (ms since the Unix epoch).
    pub at_ms: u64,
    /// The account that signed it, when the sender signed it (checked on arrival).
    #[serde(default)]
    pub account: Option<Address>,
}

/// What a message intent carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MessageBody {
    pub(crate) topic: Option<String>,
    pub(crate) text: String,
    /// Makes every send its own intent (the same text sent twice is two messages).
    pub(crate) nonce: u64,
    /// The sender account's signature over the message (see [`signed_fields`]).
    pub(crate) signed: Option<SignedOp>,
}

/// What an answer to `want_observations` carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObservationAnswer {
    pub(crate) value: f64,
    /// The observer account's signature over the observation, if it signed it.
    pub(crate) signed: Option<SignedOp>,
}

/// Checks that a signed peer-app operation is `app`/`op` and carries exactly `fields`; returns
/// the signer.
pub fn signed_fields(
    signed: &SignedOp,
    app: &str,
    op: &str,
    fields: &[(&str, serde_json::Value)],
) -> std::result::Result<Address, String> {
    let checked = signed.verify().map_err(|e| e.to_string())?;
    let covers = checked.app == app
        && checked.op == op
        && fields.iter().all(|(name, value)| checked.fields.get(*name) == Some(value));
    if !covers {
        return Err(format!("the signature does not cover this {app} {op}"));
    }
    Ok(checked.from)
}

/// A nonce no earlier send of this process used.
pub(crate) fn message_nonce() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    now_ms().wrapping_shl(16) ^ NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What a compute call carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CallBody {
    pub(crate) code: Bytes,
    pub(crate) data: Bytes,
}

/// A compute result declared back to the requester.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResultBody {
    pub(crate) call: IntentId,
    pub(crate) output: std::result::Result<Bytes, String>,
}

/// A node's own facts, as the series keeps them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Fact {
    Message(Message),
    Observation {
        location: String,
        value: f64,
        at_ms: u64,
        signed: Option<SignedOp>,
    },
    Blocked {
        peer: String,
        blocked: bool,
    },
    Followed {
        topic: String,
        follow: bool,
    },
    /// An intent this node declared (what it asked, to read the answers back).
    Asked {
        intent: IntentId,
        app: String,
        subject: String,
    },
    /// A peer's answer detail to one of this node's intents.
    Answered {
        intent: IntentId,
        peer: String,
        detail: Vec<u8>,
    },
}

/// The facts, derived.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub(crate) inbox: Vec<Message>,
    pub(crate) observations: BTreeMap<String, Vec<(f64, u64, Option<SignedOp>)>>,
    pub(crate) blocked: BTreeSet<String>,
    pub(crate) topics: BTreeSet<String>,
    pub(crate) asked: HashMap<IntentId, (String, String)>,
    pub(crate) answers: HashMap<IntentId, BTreeMap<String, Vec<u8>>>,
}

impl Facts {
    pub(crate) fn apply(&mut self, fact: Fact) {
        match fact {
            Fact::Message(message) => {
                self.inbox.push(message);
                if self.inbox.len() > MAX_INBOX {
                    self.inbox.remove(0);
                }
            }
            Fact::Observation { location, value, at_ms, signed } => {
                self.observations.entry(location).or_default().push((value, at_ms, signed));
            }
            Fact::Blocked { peer, blocked: true } => {
                self.blocked.insert(peer);
            }
            Fact::Blocked { peer, blocked: false } => {
                self.blocked.remove(&peer);
            }
            Fact::Followed { topic, follow: true } => {
                self.topics.insert(topic);
            }
            Fact::Followed { topic, follow: false } => {
                self.topics.remove(&topic);
            }
            Fact::Asked { intent, app, subject } => {
                self.asked.insert(intent, (app, subject));
            }
            Fact::Answered { intent, peer, detail } => {
                self.answers.entry(intent).or_default().insert(peer, detail);
            }
        }
    }
}

/// The peer apps' shared state: the facts and the series they are appended to.
#[derive(Debug)]
pub struct PeerApps {
    series: SeriesHandle,
    pub(crate) facts: Mutex<Facts>,
    pub(crate) evaluator: std::sync::OnceLock<Arc<dyn Evaluator>>,
    pub(crate) p2p: std::sync::OnceLock<ir3_foundation::net::P2pHandle>,
}

impl PeerApps {
    /// Opens the facts over a series, replaying them.
    pub fn open(series: SeriesHandle) -> Result<Arc<Self>> {
        let mut replay = PeerFactsReplay::default();
        series.replay_raw(&mut |entry| {
            replay.observe(entry);
            Ok(())
        })?;
        Ok(replay.open(series))
    }

    /// Appends a fact (fire and forget: the series keeps the order of submission) and
    /// applies it.
    pub(crate) fn record(&self, fact: Fact) {
        if let Ok(payload) = postcard::to_allocvec(&fact) {
            drop(self.series.submit(vec![EntryBody::App { app: FACTS_APP.into(), payload }]));
        }
        self.facts.lock().apply(fact);
    }

    /// The decider answering peers' messages, observation wants and compute calls.
    pub fn decider(self: &Arc<Self>) -> PeerAppsDecider {
        PeerAppsDecider {
            apps: self.clone(),
            messages: RateLimiter::new(MESSAGE_RATE, MESSAGE_RATE * 2.0),
            requests: RateLimiter::new(REQUEST_RATE, REQUEST_RATE * 2.0),
        }
    }
}

/// The facts of [`PeerApps`] gathered from a pass over the series that other consumers share
/// (see `EvmNode::open_observed`).
#[derive(Debug, Default)]
pub struct PeerFactsReplay {
    facts: Facts,
}

impl PeerFactsReplay {
    /// Applies the fact an entry records, if it is one.
    pub fn observe(&mut self, entry: &ir3_foundation::RawEntry<'_>) {
        if let Some((FACTS_APP, payload)) = entry.app()
            && let Ok(fact) = postcard::from_bytes::<Fact>(payload)
        {
            self.facts.apply(fact);
        }
    }

    /// The peer apps, once every entry was observed.
    pub fn open(self, series: SeriesHandle) -> Arc<PeerApps> {
        Arc::new(PeerApps {
            series,
            facts: Mutex::new(self.facts),
            evaluator: std::sync::OnceLock::new(),
            p2p: std::sync::OnceLock::new(),
        })
    }
}

/// Answers the peer apps' intents (see the module docs).
#[derive(Debug)]
pub struct PeerAppsDecider {
    apps: Arc<PeerApps>,
    messages: RateLimiter,
    requests: RateLimiter,
}

fn refused(reason: &str) -> Option<Answer> {
    Some(Answer::No { reason: reason.into(), retry_after_ms: NEVER })
}

impl PeerAppsDecider {
    fn on_message(&mut self, from: &PeerId, payload: &[u8]) -> Option<Answer> {
        let Ok(body) = postcard::from_bytes::<MessageBody>(payload) else {
            return refused("malformed message");
        };
        if body.text.len() > MAX_TEXT_BYTES {
            return refused("message too long");
        }
        if let Some(topic) = &body.topic
            && !self.apps.facts.lock().topics.contains(topic)
        {
            return None;
        }
        if self.apps.facts.lock().blocked.contains(&from.to_string()) {
            return Some(Answer::No {
                reason: "blocked sender".into(),
                retry_after_ms: BLOCKED_RETRY_MS,
            });
        }
        let account = match &body.signed {
            None => None,
            Some(signed) => {
                let fields = [
                    ("text", body.text.clone().into()),
                    ("topic", body.topic.clone().into()),
                    ("nonce", body.nonce.into()),
                ];
                match signed_fields(signed, MESSAGING_APP, "send", &fields) {
                    Ok(account) => Some(account),
                    Err(reason) => return Some(Answer::No { reason, retry_after_ms: NEVER }),
                }
            }
        };
        if let no @ Answer::No { .. } = self.messages.check(from, Instant::now()) {
            return Some(no);
        }
        self.apps.record(Fact::Message(Message {
            from: from.to_string(),
            topic: body.topic,
            text: body.text,
            at_ms: now_ms(),
            account,
        }));
        Some(Answer::Yes { detail: Vec::new() })
    }

    fn on_want_observations(&mut self, from: &PeerId, payload: &[u8]) -> Option<Answer> {
        let Ok(location) = std::str::from_utf8(payload) else {
            return refused("malformed location");
        };
        let (value, _, signed) =
            self.apps.facts.lock().observations.get(location)?.last().cloned()?;
        if let no @ Answer::No { .. } = self.requests.check(from, Instant::now()) {
            return Some(no);
        }
        let detail = postcard::to_allocvec(&ObservationAnswer { value, signed }).ok()?;
        Some(Answer::Yes { detail })
    }

    fn on_call(&mut self, from: &PeerId, intent: IntentId, payload: &[u8]) -> Option<Answer> {
        let Ok(call) = postcard::from_bytes::<CallBody>(payload) else {
            return refused("malformed compute call");
        };
        if call.code.len() > MAX_CODE_BYTES || call.data.len() > MAX_CODE_BYTES {
            return refused("compute call too large");
        }
        let (Some(evaluator), Some(p2p)) =
            (self.apps.evaluator.get().cloned(), self.apps.p2p.get().cloned())
        else {
            return None;
        };
        if let no @ Answer::No { .. } = self.requests.check(from, Instant::now()) {
            return Some(no);
        }
        let requester = *from;
        // YES now; the result is declared back to the requester when it is ready.
        tokio::spawn(async move {
            let output = evaluator.evaluate(call.code, call.data).await;
            let body = ResultBody { call: intent, output };
            if let Ok(payload) = postcard::to_allocvec(&body) {
                let intent = Intent::new(COMPUTE_APP, "result", payload);
                let stamp = ir3_foundation::order::HlcStamp { wall_ms: now_ms(), logical: 0 };
                let _ = p2p.push_intent_to(intent, stamp, vec![requester]);
            }
        });
        Some(Answer::Yes { detail: Vec::new() })
    }

    fn on_result(&mut self, from: &PeerId, payload: &[u8]) -> Option<Answer> {
        let Ok(body) = postcard::from_bytes::<ResultBody>(payload) else {
            return refused("malformed compute result");
        };
        let asked = self.apps.facts.lock().asked.contains_key(&body.call);
        if !asked {
            return refused("result of a call never made");
        }
        let detail = postcard::to_allocvec(&body.output).unwrap_or_default();
        self.apps.record(Fact::Answered { intent: body.call, peer: from.to_string(), detail });
        Some(Answer::Yes { detail: Vec::new() })
    }
}

impl Decider for PeerAppsDecider {
    fn decide(&mut self, from: &PeerId, message: &IntentMessage) -> Option<Answer> {
        let intent = &message.intent;
        match (intent.app.as_str(), intent.kind.as_str()) {
            (MESSAGING_APP, "message") => self.on_message(from, &intent.payload),
            (TERRITORY_APP, "want_observations") => {
                self.on_want_observations(from, &intent.payload)
            }
            (COMPUTE_APP, "call") => self.on_call(from, intent.id(), &intent.payload),
            (COMPUTE_APP, "result") => self.on_result(from, &intent.payload),
            _ => None,
        }
    }

    /// A YES with a value to one of this node's observation wants: kept as data.
    fn on_reply(
        &mut self,
        from: &PeerId,
        intent: &IntentId,
        answer: &Answer,
    ) -> std::result::Result<Option<ir3_foundation::net::Direct>, String> {
        let Answer::Yes { detail } = answer else { return Ok(None) };
        let kind = self.apps.facts.lock().asked.get(intent).map(|(app, _)| app.clone());
        if kind.as_deref() == Some(TERRITORY_APP) {
            if postcard::from_bytes::<ObservationAnswer>(detail).is_err() {
                return Err("observation answer is not an observation".into());
            }
            self.apps.record(Fact::Answered {
                intent: *intent,
                peer: from.to_string(),
                detail: detail.clone(),
            });
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use ir3_foundation::{MemorySeries, order::HlcStamp};

    use super::*;

    fn message(app: &str, kind: &str, payload: Vec<u8>) -> IntentMessage {
        IntentMessage { intent: Intent::new(app, kind, payload), stamp: HlcStamp::default() }
    }

    fn text(topic: Option<&str>, text: &str) -> Vec<u8> {
        let body = MessageBody {
            topic: topic.map(str::to_string),
            text: text.into(),
            nonce: 0,
            signed: None,
        };
        postcard::to_allocvec(&body).unwrap()
    }

    fn is_no(answer: &Option<Answer>, expected: &str) -> bool {
        matches!(answer, Some(Answer::No { reason, .. }) if reason == expected)
    }

    /// Every answer of the peer apps' decider: YES, NO (blocked, rate-limited, malformed) and
    /// silence; the facts it keeps survive a replay of the series.
    #[test]
    fn the_peer_apps_answer_by_their_rules() {
        let series: SeriesHandle = Arc::new(MemorySeries::new());
        let apps = PeerApps::open(series.clone()).unwrap();
        let mut decider = apps.decider();
        let (friend, pest) = (PeerId::random(), PeerId::random());

        // Messaging: delivered, blocked, malformed, too long, an unfollowed topic.
        let hello = message(MESSAGING_APP, "message", text(None, "hello"));
        assert_eq!(decider.decide(&friend, &hello), Some(Answer::Yes { detail: vec![] }));
        apps.block(pest.to_string(), true);
        assert!(is_no(&decider.decide(&pest, &hello), "blocked sender"));
        let garbage = message(MESSAGING_APP, "message", vec![0xff; 3]);
        assert!(is_no(&decider.decide(&friend, &garbage), "malformed message"));
        let long = message(MESSAGING_APP, "message", text(None, &"x".repeat(MAX_TEXT_BYTES + 1)));
        assert!(is_no(&decider.decide(&friend, &long), "message too long"));
        let news = message(MESSAGING_APP, "message", text(Some("news"), "flash"));
        assert_eq!(decider.decide(&friend, &news), None);
        apps.follow("news".into(), true);
        assert_eq!(decider.decide(&friend, &news), Some(Answer::Yes { detail: vec![] }));
        // Over the rate: NO with a retry-after.
        let flood = (0..100).map(|_| decider.decide(&friend, &hello)).collect::<Vec<_>>();
        assert!(flood.iter().any(|a| matches!(a, Some(Answer::No { retry_after_ms, .. }) if *retry_after_ms > 0 && *retry_after_ms != NEVER)));

        // Territory: silence without an observation, YES with the latest value after one.
        let want = message(TERRITORY_APP, "want_observations", b"paris".to_vec());
        assert_eq!(decider.decide(&friend, &want), None);
        apps.observe("paris".into(), 20.5, None).unwrap();
        apps.observe("paris".into(), 21.5, None).unwrap();
        let answer = ObservationAnswer { value: 21.5, signed: None };
        assert_eq!(
            decider.decide(&friend, &want),
            Some(Answer::Yes { detail: postcard::to_allocvec(&answer).unwrap() })
        );
        assert!(apps.observe("paris".into(), f64::NAN, None).is_err());

        // Compute: malformed, too large, a result of a call never made.
        assert!(is_no(
            &decider.decide(&friend, &message(COMPUTE_APP, "call", vec![1])),
            "malformed compute call"
        ));
        let big = CallBody { code: vec![0; MAX_CODE_BYTES + 1].into(), data: Bytes::new() };
        let big = message(COMPUTE_APP, "call", postcard::to_allocvec(&big).unwrap());
        assert!(is_no(&decider.decide(&friend, &big), "compute call too large"));
        let stray = ResultBody { call: alloy_primitives::B256::ZERO, output: Ok(Bytes::new()) };
        let stray = message(COMPUTE_APP, "result", postcard::to_allocvec(&stray).unwrap());
        assert!(is_no(&decider.decide(&friend, &stray), "result of a call never made"));
        // Other apps' intents: silence.
        assert_eq!(decider.decide(&friend, &message("evm", "execute_eth_tx", vec![])), None);

        // The facts are in the series: a restarted node has the same inbox, blocks, topics and
        // observations.
        let again = PeerApps::open(series).unwrap();
        let facts = again.facts.lock();
        assert_eq!(facts.inbox.len(), apps.inbox().len());
        assert!(facts.blocked.contains(&pest.to_string()) && facts.topics.contains("news"));
        assert_eq!(facts.observations["paris"].last().unwrap().0, 21.5);
        drop(facts);

        // A signed message whose signature does not cover its text is refused.
        let signer = alloy_signer_local::PrivateKeySigner::random();
        let signed_text = serde_json::json!({"app": MESSAGING_APP, "op": "send", "from":
            format!("{:#x}", signer.address()), "seq": 0, "text": "pay me", "topic": null,
            "nonce": 7})
        .to_string();
        let signature =
            alloy_signer::SignerSync::sign_message_sync(&signer, signed_text.as_bytes())
                .unwrap()
                .as_bytes()
                .to_vec()
                .into();
        let signed = SignedOp { message: signed_text, signature };
        let honest = MessageBody {
            topic: None,
            text: "pay me".into(),
            nonce: 7,
            signed: Some(signed.clone()),
        };
        let honest = message(MESSAGING_APP, "message", postcard::to_allocvec(&honest).unwrap());
        let other = PeerId::random();
        assert_eq!(decider.decide(&other, &honest), Some(Answer::Yes { detail: vec![] }));
        assert_eq!(apps.inbox().last().unwrap().account, Some(signer.address()));
        let forged = MessageBody {
            topic: None,
            text: "pay someone else".into(),
            nonce: 7,
            signed: Some(signed),
        };
        let forged = message(MESSAGING_APP, "message", postcard::to_allocvec(&forged).unwrap());
        assert!(matches!(
            decider.decide(&other, &forged),
            Some(Answer::No { retry_after_ms: NEVER, .. })
        ));
    }
}
