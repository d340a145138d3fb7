//! The signalling side of one room as a state machine that does no I/O.
//!
//! The session is fed what happened ([`Input`]: the connection opened or
//! was lost, a server message, a peer connection's local description or
//! ICE candidate, the user leaving) and the time, and answers with what to
//! do ([`Output`]: connect, send, make or close a peer connection). The
//! async driver in `room/mod.rs` owns the socket and the peer connections
//! and only carries out what the session asks; everything that decides
//! (who offers, glare, ICE candidates that come early, reconnecting with
//! back-off, refusals, the room state shown to the user) lives here and is
//! unit-tested with plain values and made-up `Instant`s.
//!
//! Roles follow the room server's rule: a newcomer offers to everyone
//! already there; the others answer. The daemon is the polite side of a
//! glare: an offer from a peer it is itself offering to replaces its own.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytemeet_proto::signal::{Candidate, ClientMsg, ErrorCode, PeerId, ServerMsg};
use bytemeet_proto::RoomState;

/// The first wait before reconnecting, and after each successful connection.
pub const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest wait between reconnection attempts after a loss.
pub const MAX_RETRY: Duration = Duration::from_secs(2);
/// The wait after the server refused the join (a full room may make room).
pub const REFUSED_RETRY: Duration = Duration::from_secs(10);
/// Remote ICE candidates kept per peer until its description is in place.
pub const MAX_EARLY_CANDIDATES: usize = 64;

/// What happened, for the session to decide on.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The connection to the room server is open.
    Connected,
    /// Opening the connection failed, sending on it failed, or it closed.
    Lost(String),
    /// A message from the room server.
    Server(ServerMsg),
    /// The peer connection for `peer` made the offer asked for.
    LocalOffer { peer: PeerId, sdp: String },
    /// The peer connection for `peer` took the remote offer and answered.
    LocalAnswer { peer: PeerId, sdp: String },
    /// A local ICE candidate of `peer`'s connection.
    LocalCandidate { peer: PeerId, candidate: Candidate },
    /// `peer`'s connection could not be made, or refused a description.
    PeerError { peer: PeerId, error: String },
    /// Media flows to `peer`.
    PeerConnected { peer: PeerId },
    /// `peer`'s connection failed or closed.
    PeerFailed { peer: PeerId },
    /// The user leaves the room.
    Leave,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a connection to the room server (answer with `Connected` or `Lost`).
    Connect,
    /// Send this to the server (answer with `Lost` when it cannot be sent).
    Send(ClientMsg),
    /// Make a peer connection for `peer` and offer (answer with
    /// `LocalOffer` or `PeerError`).
    Offer { peer: PeerId },
    /// Make a peer connection for `peer` that takes `sdp` and answers
    /// (answer with `LocalAnswer` or `PeerError`).
    Answer { peer: PeerId, sdp: String },
    /// Give `peer`'s connection the answer to its offer (`PeerError` when
    /// it refuses it).
    TakeAnswer { peer: PeerId, sdp: String },
    /// Give `peer`'s connection a remote ICE candidate.
    AddCandidate { peer: PeerId, candidate: Candidate },
    /// `peer` receives the room's video now: follow its feedback.
    ViewerUp { peer: PeerId },
    /// Close `peer`'s connection and forget its feedback.
    ClosePeer { peer: PeerId },
    /// Close the connection to the server (after what was sent went out).
    Disconnect,
}

/// Where a peer connection is in its negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerPhase {
    /// We asked for an offer and wait for it.
    MakingOffer,
    /// Our offer is sent; we wait for the answer.
    AwaitingAnswer,
    /// We asked for an answer to their offer and wait for it.
    MakingAnswer,
    /// Both descriptions are in place: candidates go straight through.
    Negotiated,
    /// Media flows.
    Connected,
}

impl PeerPhase {
    /// Whether the connection has the remote description, so that remote
    /// candidates can be given to it.
    fn has_remote(self) -> bool {
        matches!(self, PeerPhase::Negotiated | PeerPhase::Connected)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Waiting to connect, until the time given.
    Waiting(Instant),
    /// `Connect` asked for; waiting for `Connected` or `Lost`.
    Connecting,
    /// Connected; `Join` sent.
    Open,
    /// Left for good.
    Left,
}

/// The daemon's side of one room.
#[derive(Debug)]
pub struct RoomSession {
    room: String,
    name: String,
    link: Link,
    state: RoomState,
    retry: Duration,
    others: u32,
    peers: HashMap<PeerId, PeerPhase>,
    /// Remote candidates that came before their peer's remote description.
    early: HashMap<PeerId, Vec<Candidate>>,
    out: VecDeque<Output>,
}

impl RoomSession {
    /// A session that connects at once.
    pub fn new(room: &str, name: &str, now: Instant) -> Self {
        RoomSession {
            room: room.to_string(),
            name: name.to_string(),
            link: Link::Waiting(now),
            state: RoomState::Connecting,
            retry: FIRST_RETRY,
            others: 0,
            peers: HashMap::new(),
            early: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    pub fn state(&self) -> &RoomState {
        &self.state
    }

    /// Whether the session is over (the user left).
    pub fn is_done(&self) -> bool {
        self.link == Link::Left
    }

    /// Whether the driver should be reading from a connection now.
    pub fn is_connected(&self) -> bool {
        self.link == Link::Open
    }

    /// The next thing to do, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When `handle_timeout` is next due, if anything waits for a time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.link {
            Link::Waiting(at) => Some(at),
            _ => None,
        }
    }

    /// Does what is due at `now` (reconnecting after the back-off).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Link::Waiting(at) = self.link {
            if now >= at {
                self.link = Link::Connecting;
                self.out.push_back(Output::Connect);
            }
        }
    }

    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Connected if self.link == Link::Connecting => {
                self.link = Link::Open;
                self.retry = FIRST_RETRY;
                self.out.push_back(Output::Send(ClientMsg::Join {
                    room: self.room.clone(),
                    name: self.name.clone(),
                }));
            }
            Input::Connected => {}
            Input::Lost(reason) => {
                if matches!(self.link, Link::Open | Link::Connecting) {
                    self.end_connection(now, self.retry, RoomState::Reconnecting { reason });
                    self.retry = (self.retry * 2).min(MAX_RETRY);
                }
            }
            Input::Server(msg) if self.link == Link::Open => self.on_server(msg, now),
            Input::Server(_) => {}
            Input::LocalOffer { peer, sdp } => {
                if self.peers.get(&peer) == Some(&PeerPhase::MakingOffer) {
                    self.peers.insert(peer.clone(), PeerPhase::AwaitingAnswer);
                    self.out
                        .push_back(Output::Send(ClientMsg::Offer { to: peer, sdp }));
                }
            }
            Input::LocalAnswer { peer, sdp } => {
                if self.peers.get(&peer) == Some(&PeerPhase::MakingAnswer) {
                    self.peers.insert(peer.clone(), PeerPhase::Negotiated);
                    self.out.push_back(Output::Send(ClientMsg::Answer {
                        to: peer.clone(),
                        sdp,
                    }));
                    self.flush_early(&peer);
                }
            }
            Input::LocalCandidate { peer, candidate } => {
                if self.link == Link::Open && self.peers.contains_key(&peer) {
                    self.out.push_back(Output::Send(ClientMsg::Ice {
                        to: peer,
                        candidate,
                    }));
                }
            }
            Input::PeerError { peer, error } => {
                tracing::warn!(room = %self.room, %peer, "{error}");
                self.close_peer(&peer);
            }
            Input::PeerConnected { peer } => {
                if let Some(phase) = self.peers.get_mut(&peer) {
                    *phase = PeerPhase::Connected;
                    self.out.push_back(Output::ViewerUp { peer });
                }
            }
            Input::PeerFailed { peer } => self.close_peer(&peer),
            Input::Leave => {
                if self.link == Link::Open {
                    self.out.push_back(Output::Send(ClientMsg::Leave {}));
                }
                self.close_all_peers();
                if matches!(self.link, Link::Open | Link::Connecting) {
                    self.out.push_back(Output::Disconnect);
                }
                self.link = Link::Left;
            }
        }
    }

    fn on_server(&mut self, msg: ServerMsg, now: Instant) {
        match msg {
            ServerMsg::RoomState { peers, .. } => {
                self.set_others(peers.len());
                // The newcomer offers to everyone already there.
                for p in peers {
                    self.close_peer(&p.id);
                    self.peers.insert(p.id.clone(), PeerPhase::MakingOffer);
                    self.out.push_back(Output::Offer { peer: p.id });
                }
            }
            ServerMsg::PeerJoined { peer } => {
                tracing::info!(room = %self.room, peer = %peer.id, name = %peer.name, "peer joined");
                self.set_others(self.others as usize + 1);
            }
            ServerMsg::PeerLeft { id } => {
                tracing::info!(room = %self.room, peer = %id, "peer left");
                self.set_others((self.others as usize).saturating_sub(1));
                self.close_peer(&id);
            }
            ServerMsg::Offer { from, sdp } => {
                // A newcomer offers, or a peer renegotiates, or both sides
                // offered at once: their offer wins, on a fresh connection.
                // Candidates already queued for it stay: they belong to
                // this offer.
                let early = self.early.remove(&from);
                self.close_peer(&from);
                if let Some(c) = early {
                    self.early.insert(from.clone(), c);
                }
                self.peers.insert(from.clone(), PeerPhase::MakingAnswer);
                self.out.push_back(Output::Answer { peer: from, sdp });
            }
            ServerMsg::Answer { from, sdp } => {
                if self.peers.get(&from) == Some(&PeerPhase::AwaitingAnswer) {
                    self.peers.insert(from.clone(), PeerPhase::Negotiated);
                    self.out.push_back(Output::TakeAnswer {
                        peer: from.clone(),
                        sdp,
                    });
                    self.flush_early(&from);
                } else {
                    tracing::debug!(room = %self.room, peer = %from, "an answer nobody asked for: ignored");
                }
            }
            ServerMsg::Ice { from, candidate } => match self.peers.get(&from) {
                Some(phase) if phase.has_remote() => {
                    self.out.push_back(Output::AddCandidate {
                        peer: from,
                        candidate,
                    });
                }
                // Early: keep it until the description is in place (a
                // peer we do not know yet may be about to offer).
                _ => {
                    let queue = self.early.entry(from).or_default();
                    if queue.len() < MAX_EARLY_CANDIDATES {
                        queue.push(candidate);
                    }
                }
            },
            ServerMsg::Chat { name, text, .. } => {
                tracing::debug!(room = %self.room, %name, %text, "chat");
            }
            ServerMsg::Error { code, message } => {
                tracing::warn!(room = %self.room, ?code, "the room server says: {message}");
                if matches!(
                    code,
                    ErrorCode::RoomFull
                        | ErrorCode::ServerFull
                        | ErrorCode::Invalid
                        | ErrorCode::AlreadyInRoom
                ) {
                    self.end_connection(now, REFUSED_RETRY, RoomState::Refused { reason: message });
                    self.retry = MAX_RETRY;
                }
            }
        }
    }

    fn set_others(&mut self, n: usize) {
        self.others = u32::try_from(n).unwrap_or(u32::MAX);
        self.state = RoomState::InRoom {
            others: self.others,
        };
    }

    fn flush_early(&mut self, peer: &str) {
        for candidate in self.early.remove(peer).unwrap_or_default() {
            self.out.push_back(Output::AddCandidate {
                peer: peer.to_string(),
                candidate,
            });
        }
    }

    fn close_peer(&mut self, peer: &str) {
        self.early.remove(peer);
        if self.peers.remove(peer).is_some() {
            self.out.push_back(Output::ClosePeer {
                peer: peer.to_string(),
            });
        }
    }

    fn close_all_peers(&mut self) {
        let mut ids: Vec<PeerId> = self.peers.keys().cloned().collect();
        ids.sort();
        for id in ids {
            self.close_peer(&id);
        }
        self.early.clear();
    }

    fn end_connection(&mut self, now: Instant, wait: Duration, state: RoomState) {
        self.close_all_peers();
        if self.link == Link::Open {
            self.out.push_back(Output::Disconnect);
        }
        self.others = 0;
        self.state = state;
        self.link = Link::Waiting(now + wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytemeet_proto::signal::Peer;

    fn peer(id: &str) -> Peer {
        Peer {
            id: id.into(),
            name: format!("name of {id}"),
        }
    }

    fn cand(n: u32) -> Candidate {
        Candidate {
            candidate: format!("candidate:{n} 1 udp 1 127.0.0.1 {n} typ host"),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }
    }

    fn drain(s: &mut RoomSession) -> Vec<Output> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    /// A session that connected and joined `room` at `t0`.
    fn joined(t0: Instant) -> RoomSession {
        let mut s = RoomSession::new("room", "me", t0);
        s.handle_timeout(t0);
        assert_eq!(drain(&mut s), vec![Output::Connect]);
        s.handle(Input::Connected, t0);
        assert_eq!(
            drain(&mut s),
            vec![Output::Send(ClientMsg::Join {
                room: "room".into(),
                name: "me".into()
            })]
        );
        assert_eq!(s.state(), &RoomState::Connecting);
        s
    }

    fn server(s: &mut RoomSession, msg: ServerMsg, now: Instant) -> Vec<Output> {
        s.handle(Input::Server(msg), now);
        drain(s)
    }

    #[test]
    fn a_newcomer_offers_to_everyone_there_and_takes_their_answers() {
        let t0 = Instant::now();
        let mut s = joined(t0);
        let out = server(
            &mut s,
            ServerMsg::RoomState {
                room: "room".into(),
                you: "me-id".into(),
                peers: vec![peer("a"), peer("b")],
            },
            t0,
        );
        assert_eq!(
            out,
            vec![
                Output::Offer { peer: "a".into() },
                Output::Offer { peer: "b".into() }
            ]
        );
        assert_eq!(s.state(), &RoomState::InRoom { others: 2 });
        s.handle(
            Input::LocalOffer {
                peer: "a".into(),
                sdp: "offer-a".into(),
            },
            t0,
        );
        assert_eq!(
            drain(&mut s),
            vec![Output::Send(ClientMsg::Offer {
                to: "a".into(),
                sdp: "offer-a".into()
            })]
        );
        // The answer is taken; local candidates go to the server.
        let out = server(
            &mut s,
            ServerMsg::Answer {
                from: "a".into(),
                sdp: "answer-a".into(),
            },
            t0,
        );
        assert_eq!(
            out,
            vec![Output::TakeAnswer {
                peer: "a".into(),
                sdp: "answer-a".into()
            }]
        );
        s.handle(
            Input::LocalCandidate {
                peer: "a".into(),
                candidate: cand(1),
            },
            t0,
        );
        assert_eq!(
            drain(&mut s),
            vec![Output::Send(ClientMsg::Ice {
                to: "a".into(),
                candidate: cand(1)
            })]
        );
        s.handle(Input::PeerConnected { peer: "a".into() }, t0);
        assert_eq!(drain(&mut s), vec![Output::ViewerUp { peer: "a".into() }]);
        // An answer from someone we never offered to is ignored.
        let out = server(
            &mut s,
            ServerMsg::Answer {
                from: "z".into(),
                sdp: "x".into(),
            },
            t0,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn early_candidates_wait_for_the_description_then_go_in_order() {
        let t0 = Instant::now();
        let mut s = joined(t0);
        server(
            &mut s,
            ServerMsg::RoomState {
                room: "room".into(),
                you: "me".into(),
                peers: vec![],
            },
            t0,
        );
        // A newcomer's candidates overtake its offer's answer: kept.
        for n in 0..2 {
            let out = server(
                &mut s,
                ServerMsg::Ice {
                    from: "n".into(),
                    candidate: cand(n),
                },
                t0,
            );
            assert!(out.is_empty());
        }
        let out = server(
            &mut s,
            ServerMsg::Offer {
                from: "n".into(),
                sdp: "offer-n".into(),
            },
            t0,
        );
        assert_eq!(
            out,
            vec![Output::Answer {
                peer: "n".into(),
                sdp: "offer-n".into()
            }]
        );
        // More while the answer is being made: still kept.
        assert!(server(
            &mut s,
            ServerMsg::Ice {
                from: "n".into(),
                candidate: cand(2)
            },
            t0
        )
        .is_empty());
        s.handle(
            Input::LocalAnswer {
                peer: "n".into(),
                sdp: "answer-n".into(),
            },
            t0,
        );
        let mut want = vec![Output::Send(ClientMsg::Answer {
            to: "n".into(),
            sdp: "answer-n".into(),
        })];
        want.extend((0..3).map(|n| Output::AddCandidate {
            peer: "n".into(),
            candidate: cand(n),
        }));
        assert_eq!(drain(&mut s), want);
        // Now candidates go straight in.
        assert_eq!(
            server(
                &mut s,
                ServerMsg::Ice {
                    from: "n".into(),
                    candidate: cand(9)
                },
                t0
            ),
            vec![Output::AddCandidate {
                peer: "n".into(),
                candidate: cand(9)
            }]
        );
    }

    #[test]
    fn the_queue_of_early_candidates_is_bounded() {
        let t0 = Instant::now();
        let mut s = joined(t0);
        for n in 0..(MAX_EARLY_CANDIDATES as u32 + 50) {
            server(
                &mut s,
                ServerMsg::Ice {
                    from: "flood".into(),
                    candidate: cand(n),
                },
                t0,
            );
        }
        assert_eq!(s.early["flood"].len(), MAX_EARLY_CANDIDATES);
        // Leaving forgets them.
        server(&mut s, ServerMsg::PeerLeft { id: "flood".into() }, t0);
        assert!(s.early.is_empty());
    }

    #[test]
    fn in_a_glare_their_offer_replaces_ours() {
        let t0 = Instant::now();
        let mut s = joined(t0);
        server(
            &mut s,
            ServerMsg::RoomState {
                room: "room".into(),
                you: "me".into(),
                peers: vec![peer("a")],
            },
            t0,
        );
        s.handle(
            Input::LocalOffer {
                peer: "a".into(),
                sdp: "ours".into(),
            },
            t0,
        );
        drain(&mut s);
        let out = server(
            &mut s,
            ServerMsg::Offer {
                from: "a".into(),
                sdp: "theirs".into(),
            },
            t0,
        );
        assert_eq!(
            out,
            vec![
                Output::ClosePeer { peer: "a".into() },
                Output::Answer {
                    peer: "a".into(),
                    sdp: "theirs".into()
                }
            ]
        );
        // The answer to our withdrawn offer, arriving late, is ignored.
        assert!(server(
            &mut s,
            ServerMsg::Answer {
                from: "a".into(),
                sdp: "late".into()
            },
            t0
        )
        .is_empty());
        // An offer made for a peer closed meanwhile is not sent.
        server(&mut s, ServerMsg::PeerLeft { id: "a".into() }, t0);
        s.handle(
            Input::LocalAnswer {
                peer: "a".into(),
                sdp: "too late".into(),
            },
            t0,
        );
        assert!(drain(&mut s).is_empty());
    }

    #[test]
    fn presence_follows_joins_and_leaves() {
        let t0 = Instant::now();
        let mut s = joined(t0);
        server(
            &mut s,
            ServerMsg::RoomState {
                room: "room".into(),
                you: "me".into(),
                peers: vec![peer("a")],
            },
            t0,
        );
        assert_eq!(s.state().to_string(), "in the room with 1 other");
        server(&mut s, ServerMsg::PeerJoined { peer: peer("b") }, t0);
        assert_eq!(s.state(), &RoomState::InRoom { others: 2 });
        server(&mut s, ServerMsg::PeerLeft { id: "b".into() }, t0);
        server(&mut s, ServerMsg::PeerLeft { id: "a".into() }, t0);
        server(&mut s, ServerMsg::PeerLeft { id: "a".into() }, t0);
        assert_eq!(s.state().to_string(), "in the room, alone");
    }

    #[test]
    fn a_lost_connection_closes_peers_and_retries_with_back_off() {
        let t0 = Instant::now();
        let mut s = joined(t0);
        server(
            &mut s,
            ServerMsg::RoomState {
                room: "room".into(),
                you: "me".into(),
                peers: vec![peer("a")],
            },
            t0,
        );
        drain(&mut s);
        s.handle(Input::Lost("the server closed the connection".into()), t0);
        assert_eq!(
            drain(&mut s),
            vec![Output::ClosePeer { peer: "a".into() }, Output::Disconnect]
        );
        assert_eq!(
            s.state().to_string(),
            "reconnecting: the server closed the connection"
        );
        // Waits are 250 ms, then 500 ms, 1 s, 2 s, 2 s...
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            let due = s.poll_timeout().expect("a retry is planned");
            waits.push(due - now);
            s.handle_timeout(due - Duration::from_millis(1));
            assert!(drain(&mut s).is_empty(), "not before it is due");
            s.handle_timeout(due);
            assert_eq!(drain(&mut s), vec![Output::Connect]);
            assert_eq!(s.poll_timeout(), None);
            now = due;
            s.handle(Input::Lost("connection refused".into()), now);
            assert!(drain(&mut s).is_empty(), "nothing was open");
        }
        let ms: Vec<u128> = waits.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![250, 500, 1000, 2000, 2000]);
        // A connection that opens resets the back-off.
        let due = s.poll_timeout().expect("retry");
        s.handle_timeout(due);
        s.handle(Input::Connected, due);
        drain(&mut s);
        s.handle(Input::Lost("gone again".into()), due);
        assert_eq!(s.poll_timeout(), Some(due + FIRST_RETRY));
    }

    #[test]
    fn a_refusal_is_shown_and_retried_later_and_small_errors_are_not_refusals() {
        let t0 = Instant::now();
        let mut s = joined(t0);
        let out = server(
            &mut s,
            ServerMsg::Error {
                code: ErrorCode::UnknownPeer,
                message: "no such peer".into(),
            },
            t0,
        );
        assert!(out.is_empty());
        assert!(s.is_connected());
        let out = server(
            &mut s,
            ServerMsg::Error {
                code: ErrorCode::RoomFull,
                message: "room is full".into(),
            },
            t0,
        );
        assert_eq!(out, vec![Output::Disconnect]);
        assert_eq!(s.state().to_string(), "refused: room is full");
        assert_eq!(s.poll_timeout(), Some(t0 + REFUSED_RETRY));
    }

    #[test]
    fn leaving_says_goodbye_closes_everything_and_ends() {
        let t0 = Instant::now();
        let mut s = joined(t0);
        server(
            &mut s,
            ServerMsg::RoomState {
                room: "room".into(),
                you: "me".into(),
                peers: vec![peer("b"), peer("a")],
            },
            t0,
        );
        drain(&mut s);
        s.handle(Input::Leave, t0);
        assert_eq!(
            drain(&mut s),
            vec![
                Output::Send(ClientMsg::Leave {}),
                Output::ClosePeer { peer: "a".into() },
                Output::ClosePeer { peer: "b".into() },
                Output::Disconnect
            ]
        );
        assert!(s.is_done());
        assert_eq!(s.poll_timeout(), None);
        // Nothing comes after the end.
        s.handle(Input::Lost("closed".into()), t0);
        s.handle_timeout(t0 + Duration::from_secs(60));
        assert!(drain(&mut s).is_empty());
        // Leaving while waiting to reconnect ends at once, sending nothing.
        let mut w = RoomSession::new("room", "me", t0);
        w.handle(Input::Leave, t0);
        assert!(drain(&mut w).is_empty());
        assert!(w.is_done());
    }

    #[test]
    fn messages_of_a_closed_connection_are_not_acted_on() {
        let t0 = Instant::now();
        let mut s = joined(t0);
        s.handle(Input::Lost("gone".into()), t0);
        drain(&mut s);
        let out = server(
            &mut s,
            ServerMsg::Offer {
                from: "a".into(),
                sdp: "stale".into(),
            },
            t0,
        );
        assert!(out.is_empty());
        s.handle(
            Input::LocalCandidate {
                peer: "a".into(),
                candidate: cand(1),
            },
            t0,
        );
        assert!(drain(&mut s).is_empty());
    }
}
