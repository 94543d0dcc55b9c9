//! Direct messages between two peers (request-response): answers to intents, intents declared
//! to chosen peers, catch-up pages, chunk fetches and history indexes.

use libp2p::{PeerId, request_response};
use tracing::debug;

use std::time::Instant;

use super::{Ack, Direct, JOIN_APP, NetworkTask, P2pRecord, PULL_INTERVAL, Pull};

/// Which per-peer budget a direct request draws on.
#[derive(Clone, Copy)]
enum Budget {
    /// Catch-up pulls and history-index requests.
    Requests,
    /// Chunk gets.
    ChunkGets,
}

impl NetworkTask {
    /// Whether `peer` is over its budget of these requests; if so the request is refused and
    /// counted against it (`what` names the requests in the record).
    fn over_budget(&mut self, peer: PeerId, budget: Budget, what: &str) -> bool {
        let limiter = match budget {
            Budget::Requests => &mut self.direct_requests,
            Budget::ChunkGets => &mut self.chunk_gets,
        };
        let over = !limiter.allows(&peer, Instant::now());
        if over {
            self.refuse(peer, format!("too many {what}"));
        }
        over
    }

    pub(super) fn on_direct(&mut self, event: request_response::Event<Direct, Ack>) {
        match event {
            request_response::Event::Message { peer, .. } if self.banned.contains(&peer) => {}
            // A joining node may ask for the network file and nothing else.
            request_response::Event::Message {
                peer,
                message: request_response::Message::Request { request, .. },
                ..
            } if self.joiners.contains(&peer)
                && !matches!(&request, Direct::Index(app) if app == JOIN_APP) => {}
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { .. },
                ..
            } if self.joiners.contains(&peer) => {}
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request { request: Direct::Pull(pull), channel, .. },
                ..
            } => {
                let busy = Ack::Busy { retry_after_ms: PULL_INTERVAL.as_millis() as u64 };
                let answer = match self.over_budget(peer, Budget::Requests, "catch-up pulls") {
                    true => busy,
                    false => self.decider.serve_pull(&peer, &pull).map_or(busy, Ack::Page),
                };
                let _ = self.swarm.behaviour_mut().direct.send_response(channel, answer);
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request: Direct::GetChunk(id), channel, ..
                    },
                ..
            } => {
                let served = match self.over_budget(peer, Budget::ChunkGets, "chunk gets") {
                    true => None,
                    false => self.decider.serve_chunk(&peer, &id),
                };
                let answer = match served {
                    Some(data) => Ack::Chunk { id, data: data.into() },
                    None => Ack::Busy { retry_after_ms: 1000 },
                };
                let _ = self.swarm.behaviour_mut().direct.send_response(channel, answer);
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request: Direct::Declare(message),
                        channel,
                        ..
                    },
                ..
            } => {
                let _ = self.swarm.behaviour_mut().direct.send_response(channel, Ack::Received);
                self.on_intent(peer, message);
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request { request: Direct::Index(app), channel, .. },
                ..
            } => {
                let served =
                    match self.over_budget(peer, Budget::Requests, "history index requests") {
                        true => None,
                        false => self.decider.serve_index(&peer, &app),
                    };
                let answer = match served {
                    Some(data) => Ack::Index { app, data: data.into() },
                    None => Ack::Busy { retry_after_ms: 1000 },
                };
                let _ = self.swarm.behaviour_mut().direct.send_response(channel, answer);
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response { response: Ack::Index { app, data }, .. },
                ..
            } => self.decider.on_index(&peer, &app, &data),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response { response: Ack::Chunk { id, data }, .. },
                ..
            } => {
                if let Err(reason) = self.decider.on_chunk(&peer, &id, &data) {
                    self.refuse(peer, reason);
                }
            }
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { response: Ack::Page(page), .. },
                ..
            } => {
                let more = page.next_epoch.map(|from_epoch| Pull { from_epoch });
                self.decider.on_page(&peer, page);
                if let Some(pull) = more {
                    self.swarm.behaviour_mut().direct.send_request(&peer, Direct::Pull(pull));
                }
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request: Direct::Reply { intent, answer },
                        channel,
                        ..
                    },
                ..
            } => {
                let _ = self.swarm.behaviour_mut().direct.send_response(channel, Ack::Received);
                if let Some(pending) = self.pending.get_mut(&intent) {
                    pending.expected.remove(&peer);
                } else if !self.sent.contains(&intent) {
                    // An answer to nothing this node declared: forged or misrouted.
                    self.refuse(peer, format!("answer to an intent never declared: {intent}"));
                    return;
                }
                match self.decider.on_reply(&peer, &intent, &answer) {
                    Ok(Some(request)) => {
                        self.swarm.behaviour_mut().direct.send_request(&peer, request);
                    }
                    Ok(None) => {}
                    Err(reason) => self.refuse(peer, reason),
                }
                self.record(vec![P2pRecord::ReplyReceived {
                    id: intent,
                    from: peer.to_string(),
                    answer: answer.recorded(),
                }]);
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "answer not delivered");
            }
            _ => {}
        }
    }
}
