//! The room server's logic as a state machine: a connection's event goes in
//! with the time, the events to send come out, each addressed to one
//! connection. Limits: peers per room, rooms per server, chat length and
//! rate; peers can only signal peers of their own room, and a refused event
//! changes nothing.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytemeet_proto::signal::{
    display_name, valid_room, ClientMsg, ErrorCode, Peer, PeerId, ServerMsg, MAX_CANDIDATE_BYTES,
    MAX_CHAT_CHARS,
};

/// A connection, as the I/O layer numbers them.
pub type ConnId = u64;

/// The server's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub peers_per_room: usize,
    pub rooms: usize,
    /// At most `chat_burst` chat messages per `chat_window` per peer.
    pub chat_burst: usize,
    pub chat_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            peers_per_room: 8,
            rooms: 1000,
            chat_burst: 5,
            chat_window: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
struct Member {
    room: String,
    peer: Peer,
    /// When its recent chat messages were sent.
    chats: VecDeque<Instant>,
}

/// Every room and who is in it.
#[derive(Debug, Default)]
pub struct Rooms {
    limits: Limits,
    members: HashMap<ConnId, Member>,
    /// Room id -> its connections, in the order they joined.
    rooms: BTreeMap<String, Vec<ConnId>>,
}

/// One event to send to one connection.
pub type Out = (ConnId, ServerMsg);

fn error(conn: ConnId, code: ErrorCode, message: impl Into<String>) -> Vec<Out> {
    vec![(
        conn,
        ServerMsg::Error {
            code,
            message: message.into(),
        },
    )]
}

/// The peer id a connection gets: derived from the connection number, so
/// the I/O layer's ids never reach other clients.
fn peer_id(conn: ConnId) -> PeerId {
    format!("p{conn}")
}

impl Rooms {
    pub fn new(limits: Limits) -> Self {
        Rooms {
            limits,
            ..Default::default()
        }
    }

    /// Peers in `room`, in joining order.
    pub fn peers(&self, room: &str) -> Vec<Peer> {
        self.rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter_map(|c| self.members.get(c).map(|m| m.peer.clone()))
            .collect()
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// A raw Socket.io event from `conn`: parsed, checked, handled. `now_ms`
    /// stamps chat messages (ms since the Unix epoch).
    pub fn event(
        &mut self,
        conn: ConnId,
        event: &str,
        raw: &str,
        now: Instant,
        now_ms: u64,
    ) -> Vec<Out> {
        match ClientMsg::parse(event, raw) {
            Ok(msg) => self.handle(conn, msg, now, now_ms),
            Err((code, message)) => error(conn, code, message),
        }
    }

    /// A parsed event from `conn`.
    pub fn handle(&mut self, conn: ConnId, msg: ClientMsg, now: Instant, now_ms: u64) -> Vec<Out> {
        match msg {
            ClientMsg::Join { room, name } => self.join(conn, room, name),
            ClientMsg::Leave {} => self.disconnect(conn),
            ClientMsg::Chat { text } => self.chat(conn, text, now, now_ms),
            ClientMsg::Offer { to, sdp } => {
                self.relay(conn, &to, sdp.len(), |from| ServerMsg::Offer { from, sdp })
            }
            ClientMsg::Answer { to, sdp } => {
                self.relay(conn, &to, sdp.len(), |from| ServerMsg::Answer { from, sdp })
            }
            ClientMsg::Ice { to, candidate } => {
                if candidate.candidate.len() > MAX_CANDIDATE_BYTES {
                    return error(
                        conn,
                        ErrorCode::TooLarge,
                        "an ICE candidate is at most 2048 bytes",
                    );
                }
                self.relay(conn, &to, 0, |from| ServerMsg::Ice { from, candidate })
            }
        }
    }

    fn join(&mut self, conn: ConnId, room: String, name: String) -> Vec<Out> {
        if self.members.contains_key(&conn) {
            return error(
                conn,
                ErrorCode::AlreadyInRoom,
                "already in a room: leave it first",
            );
        }
        if !valid_room(&room) {
            return error(
                conn,
                ErrorCode::Invalid,
                "a room id is 1-64 letters, digits, '-' or '_'",
            );
        }
        let name = match display_name(&name) {
            Ok(n) => n,
            Err(why) => return error(conn, ErrorCode::Invalid, why),
        };
        let existing = self.rooms.get(&room).map_or(0, Vec::len);
        if existing == 0 && self.rooms.len() >= self.limits.rooms {
            return error(
                conn,
                ErrorCode::ServerFull,
                "this server has as many rooms as it takes; try later",
            );
        }
        if existing >= self.limits.peers_per_room {
            return error(
                conn,
                ErrorCode::RoomFull,
                format!("this room is full ({} people)", self.limits.peers_per_room),
            );
        }
        let peer = Peer {
            id: peer_id(conn),
            name,
        };
        let mut out = vec![(
            conn,
            ServerMsg::RoomState {
                room: room.clone(),
                you: peer.id.clone(),
                peers: self.peers(&room),
            },
        )];
        for other in self.rooms.get(&room).into_iter().flatten() {
            out.push((*other, ServerMsg::PeerJoined { peer: peer.clone() }));
        }
        self.rooms.entry(room.clone()).or_default().push(conn);
        self.members.insert(
            conn,
            Member {
                room,
                peer,
                chats: VecDeque::new(),
            },
        );
        out
    }

    /// The connection closed or left: the others are told; an empty room goes.
    pub fn disconnect(&mut self, conn: ConnId) -> Vec<Out> {
        let Some(m) = self.members.remove(&conn) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(conns) = self.rooms.get_mut(&m.room) {
            conns.retain(|c| *c != conn);
            for other in conns.iter() {
                out.push((
                    *other,
                    ServerMsg::PeerLeft {
                        id: m.peer.id.clone(),
                    },
                ));
            }
            if conns.is_empty() {
                self.rooms.remove(&m.room);
            }
        }
        out
    }

    fn relay(
        &mut self,
        conn: ConnId,
        to: &str,
        sdp_len: usize,
        msg: impl FnOnce(PeerId) -> ServerMsg,
    ) -> Vec<Out> {
        let Some(from) = self.members.get(&conn) else {
            return error(conn, ErrorCode::NotInRoom, "join a room first");
        };
        if sdp_len > bytemeet_proto::signal::MAX_EVENT_BYTES {
            return error(conn, ErrorCode::TooLarge, "the description is too large");
        }
        let target = self
            .rooms
            .get(&from.room)
            .into_iter()
            .flatten()
            .find(|c| **c != conn && self.members.get(c).is_some_and(|m| m.peer.id == to));
        match target {
            Some(t) => vec![(*t, msg(from.peer.id.clone()))],
            None => error(
                conn,
                ErrorCode::UnknownPeer,
                format!("no peer {to:?} in this room"),
            ),
        }
    }

    fn chat(&mut self, conn: ConnId, text: String, now: Instant, now_ms: u64) -> Vec<Out> {
        let limits = self.limits;
        let Some(m) = self.members.get_mut(&conn) else {
            return error(conn, ErrorCode::NotInRoom, "join a room first");
        };
        let text = text.trim().to_string();
        if text.is_empty() {
            return error(conn, ErrorCode::Invalid, "an empty message");
        }
        if text.chars().count() > MAX_CHAT_CHARS {
            return error(
                conn,
                ErrorCode::TooLarge,
                format!("a message is at most {MAX_CHAT_CHARS} characters"),
            );
        }
        while m
            .chats
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limits.chat_window)
        {
            m.chats.pop_front();
        }
        if m.chats.len() >= limits.chat_burst {
            return error(conn, ErrorCode::RateLimited, "slow down: too many messages");
        }
        m.chats.push_back(now);
        let (from, name, room) = (m.peer.id.clone(), m.peer.name.clone(), m.room.clone());
        self.rooms
            .get(&room)
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    *c,
                    ServerMsg::Chat {
                        from: from.clone(),
                        name: name.clone(),
                        text: text.clone(),
                        at: now_ms,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(r: &mut Rooms, conn: ConnId, room: &str, name: &str) -> Vec<Out> {
        r.event(
            conn,
            "join",
            &format!(r#"{{"room":"{room}","name":"{name}"}}"#),
            Instant::now(),
            0,
        )
    }

    fn code(out: &[Out]) -> Option<ErrorCode> {
        match out {
            [(_, ServerMsg::Error { code, .. })] => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn a_newcomer_gets_the_room_and_the_others_hear_of_it() {
        let mut r = Rooms::default();
        let out = join(&mut r, 1, "abc", "Ada");
        assert_eq!(
            out,
            vec![(
                1,
                ServerMsg::RoomState {
                    room: "abc".into(),
                    you: "p1".into(),
                    peers: vec![]
                }
            )]
        );
        let out = join(&mut r, 2, "abc", " Bob ");
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0],
            (
                2,
                ServerMsg::RoomState {
                    room: "abc".into(),
                    you: "p2".into(),
                    peers: vec![Peer {
                        id: "p1".into(),
                        name: "Ada".into()
                    }],
                }
            )
        );
        assert_eq!(
            out[1],
            (
                1,
                ServerMsg::PeerJoined {
                    peer: Peer {
                        id: "p2".into(),
                        name: "Bob".into()
                    }
                }
            )
        );
        // Leaving tells the rest; the last one out closes the room.
        assert_eq!(
            r.disconnect(1),
            vec![(2, ServerMsg::PeerLeft { id: "p1".into() })]
        );
        assert_eq!(r.disconnect(2), vec![]);
        assert_eq!(r.room_count(), 0);
        assert_eq!(r.disconnect(2), vec![], "a second close is harmless");
    }

    #[test]
    fn signals_reach_one_named_peer_of_the_same_room_only() {
        let mut r = Rooms::default();
        join(&mut r, 1, "a", "A1");
        join(&mut r, 2, "a", "A2");
        join(&mut r, 3, "b", "B1");
        let now = Instant::now();
        let out = r.event(1, "offer", r#"{"to":"p2","sdp":"v=0"}"#, now, 0);
        assert_eq!(
            out,
            vec![(
                2,
                ServerMsg::Offer {
                    from: "p1".into(),
                    sdp: "v=0".into()
                }
            )]
        );
        let out = r.event(2, "answer", r#"{"to":"p1","sdp":"v=0 a"}"#, now, 0);
        assert_eq!(
            out,
            vec![(
                1,
                ServerMsg::Answer {
                    from: "p2".into(),
                    sdp: "v=0 a".into()
                }
            )]
        );
        // Across rooms, to oneself, or to nobody: refused to the sender only.
        for to in ["p3", "p1", "p9"] {
            let out = r.event(1, "offer", &format!(r#"{{"to":"{to}","sdp":"x"}}"#), now, 0);
            assert_eq!(code(&out), Some(ErrorCode::UnknownPeer), "{to}: {out:?}");
            assert_eq!(out[0].0, 1);
        }
        // Before joining: nothing to signal.
        let out = r.event(4, "offer", r#"{"to":"p1","sdp":"x"}"#, now, 0);
        assert_eq!(code(&out), Some(ErrorCode::NotInRoom));
    }

    #[test]
    fn bad_joins_are_refused_and_change_nothing() {
        let mut r = Rooms::new(Limits {
            peers_per_room: 2,
            rooms: 1,
            ..Limits::default()
        });
        assert_eq!(
            code(&join(&mut r, 1, "bad room", "A")),
            Some(ErrorCode::Invalid)
        );
        assert_eq!(code(&join(&mut r, 1, "r", "")), Some(ErrorCode::Invalid));
        assert_eq!(
            code(&join(&mut r, 1, "r", &"n".repeat(65))),
            Some(ErrorCode::Invalid)
        );
        assert_eq!(r.room_count(), 0);
        join(&mut r, 1, "r", "A");
        assert_eq!(
            code(&join(&mut r, 1, "r", "A")),
            Some(ErrorCode::AlreadyInRoom)
        );
        join(&mut r, 2, "r", "B");
        assert_eq!(code(&join(&mut r, 3, "r", "C")), Some(ErrorCode::RoomFull));
        assert_eq!(
            code(&join(&mut r, 3, "other", "C")),
            Some(ErrorCode::ServerFull)
        );
        assert_eq!(r.peers("r").len(), 2);
        assert_eq!(
            code(&r.event(3, "join", "{]", Instant::now(), 0)),
            Some(ErrorCode::Malformed)
        );
    }

    #[test]
    fn chat_goes_to_the_whole_room_as_text_within_its_limits() {
        let mut r = Rooms::default();
        join(&mut r, 1, "a", "Ada");
        join(&mut r, 2, "a", "Bob");
        join(&mut r, 3, "b", "Eve");
        let t0 = Instant::now();
        let out = r.event(1, "chat", r#"{"text":"<b>hi</b>"}"#, t0, 42);
        let want = ServerMsg::Chat {
            from: "p1".into(),
            name: "Ada".into(),
            text: "<b>hi</b>".into(),
            at: 42,
        };
        assert_eq!(
            out,
            vec![(1, want.clone()), (2, want)],
            "the room only; the text as sent (pages show it as text)"
        );
        assert_eq!(
            code(&r.event(1, "chat", r#"{"text":"   "}"#, t0, 0)),
            Some(ErrorCode::Invalid)
        );
        let long = format!(r#"{{"text":"{}"}}"#, "x".repeat(MAX_CHAT_CHARS + 1));
        assert_eq!(
            code(&r.event(1, "chat", &long, t0, 0)),
            Some(ErrorCode::TooLarge)
        );
        // Five messages per five seconds; the sixth waits.
        for _ in 0..4 {
            assert_eq!(r.event(1, "chat", r#"{"text":"x"}"#, t0, 0).len(), 2);
        }
        assert_eq!(
            code(&r.event(1, "chat", r#"{"text":"x"}"#, t0, 0)),
            Some(ErrorCode::RateLimited)
        );
        let later = t0 + Duration::from_secs(5);
        assert_eq!(r.event(1, "chat", r#"{"text":"x"}"#, later, 0).len(), 2);
        // Others are not limited by one peer's burst.
        assert_eq!(r.event(2, "chat", r#"{"text":"x"}"#, t0, 0).len(), 2);
    }

    #[test]
    fn oversized_candidates_are_refused() {
        let mut r = Rooms::default();
        join(&mut r, 1, "a", "A");
        join(&mut r, 2, "a", "B");
        let big = "c".repeat(MAX_CANDIDATE_BYTES + 1);
        let raw = format!(r#"{{"to":"p2","candidate":{{"candidate":"{big}"}}}}"#);
        assert_eq!(
            code(&r.event(1, "ice", &raw, Instant::now(), 0)),
            Some(ErrorCode::TooLarge)
        );
        let ok = r#"{"to":"p2","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0"}}"#;
        assert_eq!(r.event(1, "ice", ok, Instant::now(), 0)[0].0, 2);
    }
}
