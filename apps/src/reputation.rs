//! **reputation**: a score per peer, derived from what the series holds about it — how often
//! it answered this node's intents (YES or NO) rather than staying silent, how many decided
//! heights hold its precommit (a validator's agreement, read from the commit certificates), and how many of its messages were refused as
//! forged or malformed. Every component is shown; the score weighs the territory and compute
//! apps' multi-perspective results.
//!
//! `score = 0.4 × responsiveness + 0.4 × agreement + 0.2 × honesty`, where
//! responsiveness = (yes + no) / (yes + no + silence), agreement = agreed / (agreed +
//! disagreed) (both ½ without data), honesty = 1 / (1 + refused).

use ir3_foundation::{apps::SeatAgreement, net::PeerInsight};
use serde::Serialize;

/// The reputation app's name.
pub const REPUTATION_APP: &str = "reputation";
/// The score of a peer nothing is known about.
pub const NEUTRAL: f64 = 0.5;

/// A peer's reputation and its components.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reputation {
    /// The peer id.
    pub node: String,
    /// Its seat in the gateway set, if it has one.
    pub seat: Option<u64>,
    /// YES answers it gave this node.
    pub yes: u64,
    /// NO answers.
    pub no: u64,
    /// Silences.
    pub silence: u64,
    /// Its messages refused as forged or malformed.
    pub refused: u64,
    /// Decided heights whose commit certificate holds its precommit.
    pub votes_agreed: u64,
    /// Decided heights it is known to have voted against (see
    /// [`SeatAgreement::disagreed`]).
    pub votes_disagreed: u64,
    /// (yes + no) / (yes + no + silence).
    pub responsiveness: f64,
    /// agreed / (agreed + disagreed).
    pub agreement: f64,
    /// 1 / (1 + refused).
    pub honesty: f64,
    /// The weighted score in [0, 1].
    pub score: f64,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { NEUTRAL } else { part as f64 / whole as f64 }
}

/// Every known peer's reputation, from the P2P insights and the validators' agreement.
pub fn reputations(peers: &[PeerInsight], seats: &[SeatAgreement]) -> Vec<Reputation> {
    let mut names: Vec<String> = peers.iter().map(|p| p.peer.clone()).collect();
    names.extend(seats.iter().filter_map(|s| s.peer.clone()));
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|node| {
            let insight = peers.iter().find(|p| p.peer == node);
            let seat = seats.iter().find(|s| s.peer.as_deref() == Some(node.as_str()));
            let (yes, no, silence, refused) =
                insight.map_or((0, 0, 0, 0), |p| (p.yes, p.no, p.silence, p.refused));
            let (agreed, disagreed) = seat.map_or((0, 0), |s| (s.agreed, s.disagreed));
            let responsiveness = ratio(yes + no, yes + no + silence);
            let agreement = ratio(agreed, agreed + disagreed);
            let honesty = 1.0 / (1.0 + refused as f64);
            Reputation {
                seat: seat.map(|s| s.seat),
                node,
                yes,
                no,
                silence,
                refused,
                votes_agreed: agreed,
                votes_disagreed: disagreed,
                responsiveness,
                agreement,
                honesty,
                score: 0.4 * responsiveness + 0.4 * agreement + 0.2 * honesty,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insight(peer: &str, yes: u64, no: u64, silence: u64, refused: u64) -> PeerInsight {
        PeerInsight {
            peer: peer.into(),
            yes,
            no,
            silence,
            intents_received: 0,
            refused,
            last_refusal: None,
        }
    }

    #[test]
    fn components_and_score() {
        let peers = [insight("a", 8, 2, 0, 0), insight("b", 1, 0, 9, 3)];
        let seats = [
            SeatAgreement { seat: 0, peer: Some("a".into()), agreed: 10, disagreed: 0 },
            SeatAgreement { seat: 1, peer: Some("c".into()), agreed: 1, disagreed: 3 },
        ];
        let all = reputations(&peers, &seats);
        assert_eq!(all.iter().map(|r| r.node.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        let (a, b, c) = (&all[0], &all[1], &all[2]);
        assert_eq!((a.seat, a.responsiveness, a.agreement, a.honesty), (Some(0), 1.0, 1.0, 1.0));
        assert!((a.score - 1.0).abs() < 1e-9);
        // Mostly silent, refused three times, no precommits known.
        assert_eq!((b.responsiveness, b.agreement, b.honesty), (0.1, NEUTRAL, 0.25));
        assert!((b.score - (0.04 + 0.2 + 0.05)).abs() < 1e-9);
        // Only precommits known: neutral responsiveness, a quarter agreement.
        assert_eq!((c.responsiveness, c.agreement), (NEUTRAL, 0.25));
        assert!(a.score > c.score && c.score > b.score);
    }
}
