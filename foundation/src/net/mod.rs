//! The peer-to-peer layer (rust-libp2p): intents are declared to peers over gossipsub, each
//! peer decides on its own and answers the declaring node directly (request-response) with YES
//! or NO, or stays silent. Every intent sent and received, every answer given and received, and
//! every silence (one per expected peer that did not answer within the reply window) is a
//! [`P2pRecord`] in the series: all three outcomes are data.
//!
//! Transport: TCP + Noise + Yamux. Kademlia (private protocol, server mode) keeps the routing
//! table, fed with identify's listen addresses. Pure flux: [`P2pHandle::push_intent`] queues and
//! returns at once; nothing on a request path waits on the network.
//!
//! A dropped request-response channel reaches the requester as a failure, not as silence, so a
//! YES/NO is a request of its own from the answering peer to the declaring one (acknowledged with
//! an empty response), and SILENCE is the absence of one within the window. Gossipsub refuses to
//! publish before a peer has subscribed, so intents wait in a queue until one has.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering as AtomicOrdering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::{B256, keccak256};
use futures::StreamExt;
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, gossipsub, identify, kad,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, SwarmEvent},
};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

mod decide;
mod direct;
mod handle;
mod insights;
mod protocol;
#[cfg(test)]
mod tests;

pub use decide::{Both, Decider, MAX_RATE_BUCKETS, RateLimiter};
pub use insights::{
    Insights, IntentInsight, MAX_TRACKED_INTENTS, NoAnswer, PeerInsight, p2p_records,
};
pub use libp2p::{Multiaddr, PeerId, identity, identity::Keypair};
pub use protocol::{
    Ack, Answer, Direct, IntentMessage, MAX_RECORDED_DETAIL, P2pRecord, Page, Pull,
};

use crate::{
    error::{FoundationError, Result},
    intent::IntentId,
    series::{EntryBody, SeriesHandle},
};

/// The gossipsub topic intents are declared on.
pub const INTENT_TOPIC: &str = "ir3/intents/1";
/// The request-response protocol of direct answers.
pub const DIRECT_PROTOCOL: &str = "/ir3/direct/1";
/// The private Kademlia protocol.
pub const KAD_PROTOCOL: &str = "/ir3/kad/1.0.0";
/// How long a declaring node waits for answers before recording silence.
pub const DEFAULT_REPLY_WINDOW: Duration = Duration::from_secs(2);
/// Largest intent or answer accepted on the wire.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most intents waiting for a subscribed peer before new ones are dropped (and counted).
pub const MAX_QUEUED_INTENTS: usize = 10_000;
/// Capacity of the command channel into the network task.
pub const COMMAND_CAPACITY: usize = 4096;
/// How often a node pulls from one of its peers what it may have missed (anti-entropy).
pub const PULL_INTERVAL: Duration = Duration::from_secs(2);
/// The retry-after of a NO that refuses a declaration outright (malformed, forged): the peer
/// is told, and the refusal is counted against it.
pub const NEVER: u64 = u64::MAX;
/// Most peers a node dials on its own when it discovers them (a full mesh up to this size).
pub const MAX_MESH_PEERS: usize = 64;
/// Refused messages after which a peer is disconnected and ignored.
pub const MAX_REFUSALS: u64 = 100;
/// Direct requests (chunk fetches, answers, declarations) one connection carries at once:
/// yamux's stream limit (libp2p's request-response default of 100 dropped the fetches of a
/// large file's chunks).
pub const MAX_CONCURRENT_STREAMS: usize = 512;
/// How long a provider record lives in the DHT unless its provider announces it again.
pub const PROVIDER_RECORD_TTL: Duration = Duration::from_secs(10 * 60);
/// How often a node announces again every provider record of its own (well inside the TTL).
pub const PROVIDER_REPUBLISH_INTERVAL: Duration = Duration::from_secs(3 * 60);
/// Most keys a node provides, and most provider records of others it keeps.
pub const MAX_PROVIDER_KEYS: usize = 1 << 20;
/// How long a provider found by a DHT lookup is used before it is looked up again.
pub const FOUND_PROVIDER_TTL: Duration = Duration::from_secs(5 * 60);

/// Catch-up pulls and history-index requests one peer may make per second on average (an
/// honest peer pulls every [`PULL_INTERVAL`], a syncing one asks for indexes a few times a
/// second); past [`DIRECT_REQUEST_BURST`] at once the request is answered busy and counted as a
/// refused message against the peer.
pub const DIRECT_REQUEST_RATE: f64 = 20.0;
/// See [`DIRECT_REQUEST_RATE`].
pub const DIRECT_REQUEST_BURST: f64 = 100.0;
/// Chunk gets one peer may make per second on average before they are refused and counted
/// (far above any serve rate: the chunk decider serves only the wants it said YES to).
pub const CHUNK_GET_RATE: f64 = 1000.0;
/// Peers whose refused messages are counted before the counts of the least refused are dropped.
pub const MAX_REFUSAL_COUNTS: usize = 65_536;

/// How a node joins the network.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// The node's identity (keep it in the data directory so the peer id survives restarts).
    pub keypair: Keypair,
    /// Where to listen, e.g. `/ip4/127.0.0.1/tcp/0`.
    pub listen: Multiaddr,
    /// Further addresses to listen on (every protocol is served on each).
    pub also_listen: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
    /// How long to wait for answers before recording silence.
    pub reply_window: Duration,
    /// The network this node belongs to (e.g. the first bytes of a network file's hash):
    /// announced in identify's protocol version, and a peer announcing another one is refused
    /// and disconnected as soon as it identifies. `None`: any `ir3` peer.
    pub network: Option<String>,
}

/// The network a node announces while it joins without its network's file
/// ([`P2pConfig::network`]): peers of any network let it in, but only to ask for their
/// [`JOIN_APP`] index (the network file); everything else from it is ignored.
pub const JOIN_NETWORK: &str = "join";
/// The index app a joining node asks for (answered by the decider's `serve_index`).
pub const JOIN_APP: &str = "network";
/// Joining peers kept at once (more are disconnected).
pub const MAX_JOINERS: usize = 256;

/// Identify's protocol version for a network (see [`P2pConfig::network`]).
fn protocol_version(network: Option<&str>) -> String {
    match network {
        Some(tag) => format!("/ir3/1.0.0/{tag}"),
        None => "/ir3/1.0.0".into(),
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    direct: request_response::cbor::Behaviour<Direct, Ack>,
    kademlia: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
}

enum Command {
    Push(IntentMessage),
    PushTo(IntentMessage, Vec<PeerId>),
    FindProviders(B256),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Peers(oneshot::Sender<Vec<PeerId>>),
    Subscribed(oneshot::Sender<Vec<PeerId>>),
    Dial(Multiaddr),
    PullNow,
    Provide(B256),
    Index(String),
    Refuse(PeerId, String),
    /// Test only: what a hostile peer would send.
    #[cfg(test)]
    Hostile(Hostile),
}

/// What a hostile test peer sends.
#[cfg(test)]
#[derive(Debug)]
enum Hostile {
    Gossip(Vec<u8>),
    Direct(PeerId, Direct),
}

/// The handle apps use to talk to the network task.
#[derive(Debug, Clone)]
pub struct P2pHandle {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
    insights: Arc<Mutex<Insights>>,
    connected: Arc<AtomicUsize>,
    shared: Arc<Shared>,
}

/// What the network task publishes for synchronous readers.
#[derive(Debug, Default)]
struct Shared {
    /// Connected peers, banned ones excluded.
    peers: Mutex<Vec<PeerId>>,
    /// Providers found by DHT lookups, per key, and when.
    providers: Mutex<HashMap<B256, HashMap<PeerId, Instant>>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// Starts the network task on the current tokio runtime.
/// The answers already in the series (replayed at start) seed the insights.
pub fn spawn(config: P2pConfig, series: SeriesHandle, decider: impl Decider) -> Result<P2pHandle> {
    let mut insights = Insights::default();
    for record in p2p_records(&*series)? {
        insights.apply(&record);
    }
    let insights = Arc::new(Mutex::new(insights));
    let connected = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(Shared::default());
    let net_error = |e: String| FoundationError::Network(e);
    let peer_id = config.keypair.public().to_peer_id();
    let version = protocol_version(config.network.as_deref());
    let mut swarm = SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(Default::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .map_err(|e| net_error(e.to_string()))?
        .with_behaviour(|key| behaviour(key, peer_id, &version))
        .map_err(|e| net_error(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm.listen_on(config.listen.clone()).map_err(|e| net_error(e.to_string()))?;
    for addr in &config.also_listen {
        swarm.listen_on(addr.clone()).map_err(|e| net_error(e.to_string()))?;
    }
    for addr in &config.bootstrap {
        if let Err(error) = swarm.dial(fresh_port(addr.clone())) {
            warn!(%addr, %error, "cannot dial bootstrap peer");
        }
    }
    let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
    let task = NetworkTask {
        swarm,
        series,
        decider: Box::new(decider),
        topic: gossipsub::IdentTopic::new(INTENT_TOPIC),
        reply_window: config.reply_window,
        queued: VecDeque::new(),
        pending: HashMap::new(),
        sent: HashSet::new(),
        subscribed: HashSet::new(),
        insights: insights.clone(),
        refusals: HashMap::new(),
        banned: HashSet::new(),
        joiners: HashSet::new(),
        direct_requests: RateLimiter::new(DIRECT_REQUEST_RATE, DIRECT_REQUEST_BURST),
        chunk_gets: RateLimiter::new(CHUNK_GET_RATE, CHUNK_GET_RATE * 4.0),
        pull_turn: 0,
        connected: connected.clone(),
        shared: shared.clone(),
        bootstrap: config.bootstrap.iter().map(|a| (a.clone(), None)).collect(),
        kad_bootstrapped: false,
        version,
    };
    tokio::spawn(task.run(receiver));
    Ok(P2pHandle { commands, peer_id, insights, connected, shared })
}

/// Dial options that bind a new local port: reusing the listen port binds `0.0.0.0:port`,
/// and on loopback a dial to another node listening on the same port (at another 127.0.0.x)
/// would then connect to itself.
fn fresh_port(addr: Multiaddr) -> libp2p::swarm::dial_opts::DialOpts {
    libp2p::swarm::dial_opts::DialOpts::unknown_peer_id().address(addr).allocate_new_port().build()
}

fn behaviour(
    key: &Keypair,
    peer_id: PeerId,
    version: &str,
) -> std::result::Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(500))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(MAX_MESSAGE_BYTES)
        // Content-addressed: the same declaration is one message, whoever relays it.
        .message_id_fn(|message: &gossipsub::Message| {
            gossipsub::MessageId::from(keccak256(&message.data).to_vec())
        })
        .build()?;
    let gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config,
    )?;
    let direct = request_response::cbor::Behaviour::new(
        [(StreamProtocol::new(DIRECT_PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(10))
            .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
    );
    let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
    kad_config.set_query_timeout(Duration::from_secs(30));
    kad_config.set_provider_record_ttl(Some(PROVIDER_RECORD_TTL));
    kad_config.set_provider_publication_interval(Some(PROVIDER_REPUBLISH_INTERVAL));
    let store_config = kad::store::MemoryStoreConfig {
        max_records: MAX_PROVIDER_KEYS,
        max_provided_keys: MAX_PROVIDER_KEYS,
        ..Default::default()
    };
    let store = kad::store::MemoryStore::with_config(peer_id, store_config);
    let mut kademlia = kad::Behaviour::with_config(peer_id, store, kad_config);
    kademlia.set_mode(Some(kad::Mode::Server));
    let identify = identify::Behaviour::new(identify::Config::new(version.into(), key.public()));
    Ok(Behaviour { gossipsub, direct, kademlia, identify })
}

/// An intent waiting for answers.
struct Pending {
    expected: HashSet<PeerId>,
    deadline: Instant,
}

struct NetworkTask {
    swarm: Swarm<Behaviour>,
    series: SeriesHandle,
    decider: Box<dyn Decider>,
    topic: gossipsub::IdentTopic,
    reply_window: Duration,
    queued: VecDeque<IntentMessage>,
    pending: HashMap<IntentId, Pending>,
    sent: HashSet<IntentId>,
    subscribed: HashSet<PeerId>,
    insights: Arc<Mutex<Insights>>,
    refusals: HashMap<PeerId, u64>,
    banned: HashSet<PeerId>,
    /// Peers that joined without a network file: they may only ask for [`JOIN_APP`].
    joiners: HashSet<PeerId>,
    /// Per-peer budget of pulls and index requests.
    direct_requests: RateLimiter,
    /// Per-peer budget of chunk gets.
    chunk_gets: RateLimiter,
    pull_turn: usize,
    connected: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    bootstrap: HashMap<Multiaddr, Option<PeerId>>,
    kad_bootstrapped: bool,
    /// This node's identify protocol version (names its network).
    version: String,
}

impl NetworkTask {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        if let Err(error) = self.swarm.behaviour_mut().gossipsub.subscribe(&self.topic) {
            warn!(%error, "cannot subscribe to the intent topic");
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut pull = tokio::time::interval(PULL_INTERVAL);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                _ = tick.tick() => self.on_tick(),
                _ = pull.tick() => {
                    self.redial_bootstrap();
                    self.pull_one(None);
                }
            }
        }
    }

    fn record(&self, records: Vec<P2pRecord>) {
        {
            let mut insights = self.insights.lock();
            for record in &records {
                insights.apply(record);
            }
        }
        // Fire and forget: the series keeps the order of submission.
        drop(self.series.submit(records.into_iter().map(EntryBody::P2p).collect()));
    }

    /// Dials again every bootstrap address not connected (it may have started after us, been
    /// restarted, or been cut off by a partition).
    fn redial_bootstrap(&mut self) {
        let down: Vec<Multiaddr> = self
            .bootstrap
            .iter()
            .filter(|(_, peer)| peer.is_none_or(|p| !self.swarm.is_connected(&p)))
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in down {
            if let Err(error) = self.swarm.dial(fresh_port(addr.clone())) {
                debug!(%addr, %error, "bootstrap dial failed");
            }
        }
    }

    /// Sends a catch-up pull to `peer`, or to the next connected peer in turn.
    fn pull_one(&mut self, peer: Option<PeerId>) {
        let Some(pull) = self.decider.pull_cursor() else { return };
        let peer = match peer {
            Some(peer) => peer,
            None => {
                let peers = self.members();
                if peers.is_empty() {
                    return;
                }
                self.pull_turn = self.pull_turn.wrapping_add(1);
                peers[self.pull_turn % peers.len()]
            }
        };
        self.swarm.behaviour_mut().direct.send_request(&peer, Direct::Pull(pull));
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Push(message) => {
                if self.queued.len() >= MAX_QUEUED_INTENTS {
                    warn!("intent queue full; intent dropped");
                    return;
                }
                self.queued.push_back(message);
                self.flush_queue();
            }
            Command::PushTo(message, peers) => self.declare_to(message, peers),
            Command::FindProviders(key) => {
                let record = kad::RecordKey::new(&key.as_slice());
                self.swarm.behaviour_mut().kademlia.get_providers(record);
            }
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            #[cfg(test)]
            Command::Hostile(Hostile::Gossip(bytes)) => {
                let _ = self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes);
            }
            #[cfg(test)]
            Command::Hostile(Hostile::Direct(peer, message)) => {
                self.swarm.behaviour_mut().direct.send_request(&peer, message);
            }
            Command::Subscribed(reply) => {
                let _ = reply.send(self.subscribed.iter().copied().collect());
            }
            Command::Dial(addr) => {
                if let Err(error) = self.swarm.dial(fresh_port(addr)) {
                    debug!(%error, "dial failed");
                }
            }
            Command::PullNow => self.pull_one(None),
            Command::Refuse(peer, reason) => self.refuse(peer, reason),
            Command::Index(app) => {
                let peers = self.members();
                if !peers.is_empty() {
                    self.pull_turn = self.pull_turn.wrapping_add(1);
                    let peer = peers[self.pull_turn % peers.len()];
                    self.swarm.behaviour_mut().direct.send_request(&peer, Direct::Index(app));
                }
            }
            Command::Provide(key) => {
                let record = kad::RecordKey::new(&key.as_slice());
                if let Err(error) = self.swarm.behaviour_mut().kademlia.start_providing(record) {
                    debug!(%error, "provider record not announced");
                }
            }
        }
    }

    /// Publishes queued intents once some peer listens on the topic.
    fn flush_queue(&mut self) {
        if self.subscribed.is_empty() {
            return;
        }
        while let Some(message) = self.queued.pop_front() {
            let id = message.intent.id();
            let bytes = match postcard::to_allocvec(&message) {
                Ok(bytes) => bytes,
                Err(error) => {
                    warn!(%error, "cannot encode intent");
                    continue;
                }
            };
            match self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes) {
                Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
                Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                    self.queued.push_front(message);
                    return;
                }
                Err(error) => {
                    warn!(%error, "intent not published");
                    continue;
                }
            }
            let expected: HashSet<PeerId> = self.subscribed.clone();
            self.record(vec![P2pRecord::IntentSent {
                id,
                app: message.intent.app.clone(),
                kind: message.intent.kind.clone(),
                expected: expected.iter().map(ToString::to_string).collect(),
            }]);
            self.pending
                .insert(id, Pending { expected, deadline: Instant::now() + self.reply_window });
            self.sent.insert(id);
        }
    }

    /// Declares an intent directly to the chosen peers that are connected (to all, by gossip,
    /// when none is).
    fn declare_to(&mut self, message: IntentMessage, peers: Vec<PeerId>) {
        let expected: HashSet<PeerId> = peers
            .into_iter()
            .filter(|p| self.swarm.is_connected(p) && !self.banned.contains(p))
            .collect();
        if expected.is_empty() {
            self.queued.push_back(message);
            self.flush_queue();
            return;
        }
        let id = message.intent.id();
        for peer in &expected {
            self.swarm.behaviour_mut().direct.send_request(peer, Direct::Declare(message.clone()));
        }
        self.record(vec![P2pRecord::IntentSent {
            id,
            app: message.intent.app.clone(),
            kind: message.intent.kind,
            expected: expected.iter().map(ToString::to_string).collect(),
        }]);
        self.pending.insert(id, Pending { expected, deadline: Instant::now() + self.reply_window });
        self.sent.insert(id);
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let expired: Vec<IntentId> =
            self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        let mut records = Vec::new();
        for id in expired {
            if let Some(pending) = self.pending.remove(&id) {
                let mut silent: Vec<String> =
                    pending.expected.iter().map(ToString::to_string).collect();
                silent.sort();
                records.extend(silent.into_iter().map(|peer| P2pRecord::Silence { id, peer }));
            }
        }
        if !records.is_empty() {
            self.record(records);
        }
    }

    /// Counts a refused message against a peer; past [`MAX_REFUSALS`] it is disconnected and
    /// ignored from then on.
    fn refuse(&mut self, peer: PeerId, reason: String) {
        warn!(%peer, %reason, "peer message refused");
        self.record(vec![P2pRecord::PeerRefused { peer: peer.to_string(), reason }]);
        if self.refusals.len() >= MAX_REFUSAL_COUNTS && !self.refusals.contains_key(&peer) {
            self.refusals.retain(|_, count| *count > MAX_REFUSALS / 10);
        }
        let count = self.refusals.entry(peer).or_default();
        *count += 1;
        if *count >= MAX_REFUSALS && self.banned.insert(peer) {
            warn!(%peer, "peer banned after repeated refused messages");
            self.subscribed.remove(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.publish_peers();
        }
    }

    /// The connected peers of this network (not banned, not joining), sorted.
    fn members(&self) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|p| !self.banned.contains(p) && !self.joiners.contains(p))
            .copied()
            .collect();
        peers.sort();
        peers
    }

    /// Publishes the connected peers for synchronous readers.
    fn publish_peers(&self) {
        let peers = self.members();
        self.connected.store(peers.len(), AtomicOrdering::Relaxed);
        *self.shared.peers.lock() = peers;
    }

    /// Providers a DHT lookup found.
    fn on_providers_found(&mut self, key: &kad::RecordKey, providers: HashSet<PeerId>) {
        let Ok(key) = B256::try_from(key.as_ref()) else { return };
        let now = Instant::now();
        let mut found = self.shared.providers.lock();
        if found.len() >= MAX_PROVIDER_KEYS && !found.contains_key(&key) {
            found.retain(|_, peers| {
                peers.retain(|_, at| now.duration_since(*at) < FOUND_PROVIDER_TTL);
                !peers.is_empty()
            });
            if found.len() >= MAX_PROVIDER_KEYS {
                return;
            }
        }
        let entry = found.entry(key).or_default();
        for peer in providers {
            if peer != *self.swarm.local_peer_id() && !self.banned.contains(&peer) {
                entry.insert(peer, now);
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        if matches!(
            event,
            SwarmEvent::ConnectionEstablished { .. } | SwarmEvent::ConnectionClosed { .. }
        ) {
            self.publish_peers();
        }
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if self.banned.contains(&peer_id) => {
                let _ = self.swarm.disconnect_peer_id(peer_id);
            }
            SwarmEvent::ConnectionEstablished { peer_id, num_established, endpoint, .. } => {
                if let libp2p::core::ConnectedPoint::Dialer { address, .. } = &endpoint
                    && let Some(slot) = self.bootstrap.get_mut(address)
                {
                    *slot = Some(peer_id);
                }
                if num_established.get() == 1 {
                    // A new (or returning) peer: catch up with it at once.
                    self.pull_one(Some(peer_id));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Direct(event)) => self.on_direct(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                let joining = |version: &str| version == protocol_version(Some(JOIN_NETWORK));
                if joining(&self.version) {
                    // This node is the one joining: any iR³ peer may hand it the network file.
                    return;
                }
                if joining(&info.protocol_version) {
                    // A node joining without the network file: it may ask for it, nothing more.
                    if self.joiners.len() >= MAX_JOINERS {
                        let _ = self.swarm.disconnect_peer_id(peer_id);
                    } else {
                        self.joiners.insert(peer_id);
                        self.subscribed.remove(&peer_id);
                        self.publish_peers();
                    }
                    return;
                }
                if info.protocol_version != self.version {
                    // Another network (or none): refused at once, never dialled again.
                    let reason = format!(
                        "peer runs network {}, this node runs {}",
                        info.protocol_version, self.version
                    );
                    warn!(peer = %peer_id, %reason, "peer of another network disconnected");
                    self.record(vec![P2pRecord::PeerRefused { peer: peer_id.to_string(), reason }]);
                    self.banned.insert(peer_id);
                    self.subscribed.remove(&peer_id);
                    self.swarm.behaviour_mut().kademlia.remove_peer(&peer_id);
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    self.publish_peers();
                    return;
                }
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kademlia.add_address(&peer_id, addr);
                }
                if !self.kad_bootstrapped {
                    // The first peer known: look ourselves up to find the others.
                    self.kad_bootstrapped = self.swarm.behaviour_mut().kademlia.bootstrap().is_ok();
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kademlia(kad::Event::RoutingUpdated {
                peer,
                addresses,
                ..
            })) => {
                // Small networks form a full mesh: every gateway talks to every other directly.
                let connected = self.swarm.connected_peers().count();
                if !self.swarm.is_connected(&peer)
                    && connected < MAX_MESH_PEERS
                    && !self.banned.contains(&peer)
                {
                    let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                        .addresses(addresses.into_vec())
                        .allocate_new_port()
                        .build();
                    if let Err(error) = self.swarm.dial(opts) {
                        debug!(%peer, %error, "mesh dial failed");
                    }
                }
            }

            SwarmEvent::Behaviour(BehaviourEvent::Kademlia(
                kad::Event::OutboundQueryProgressed {
                    result:
                        kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                            key,
                            providers,
                        })),
                    ..
                },
            )) => self.on_providers_found(&key, providers),
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(?peer_id, %error, "dial failed");
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                self.subscribed.remove(&peer_id);
                self.joiners.remove(&peer_id);
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Subscribed { peer_id, topic } if topic == self.topic.hash() => {
                self.subscribed.insert(peer_id);
                self.flush_queue();
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } if topic == self.topic.hash() => {
                self.subscribed.remove(&peer_id);
            }
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                let origin = message.source.unwrap_or(propagation_source);
                let shut_out = |p: &PeerId| self.banned.contains(p) || self.joiners.contains(p);
                if shut_out(&origin) || shut_out(&propagation_source) {
                    self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Reject,
                    );
                    return;
                }
                let decoded: std::result::Result<IntentMessage, _> =
                    postcard::from_bytes(&message.data);
                let acceptance = match &decoded {
                    Ok(_) => gossipsub::MessageAcceptance::Accept,
                    Err(_) => gossipsub::MessageAcceptance::Reject,
                };
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
                match decoded {
                    Ok(intent) => self.on_intent(origin, intent),
                    Err(error) => {
                        self.refuse(propagation_source, format!("malformed intent: {error}"))
                    }
                }
            }
            _ => {}
        }
    }

    fn on_intent(&mut self, from: PeerId, message: IntentMessage) {
        let id = message.intent.id();
        let mut records = vec![P2pRecord::IntentReceived {
            id,
            from: from.to_string(),
            app: message.intent.app.clone(),
            kind: message.intent.kind.clone(),
        }];
        let decision = self.decider.decide(&from, &message);
        if let Some(Answer::No { reason, retry_after_ms: NEVER }) = &decision {
            // A refusal: the declaration itself was bad (malformed, forged).
            self.refuse(from, format!("{}/{}: {reason}", message.intent.app, message.intent.kind));
        }
        match decision {
            Some(answer) => {
                records.push(P2pRecord::Answered {
                    id,
                    to: from.to_string(),
                    answer: answer.recorded(),
                });
                self.swarm
                    .behaviour_mut()
                    .direct
                    .send_request(&from, Direct::Reply { intent: id, answer });
            }
            None => records.push(P2pRecord::StayedSilent { id, to: from.to_string() }),
        }
        self.record(records);
    }
}
