//! The ByteMeet rooms signalling protocol: what browsers, the daemon and the
//! room server say to each other over Socket.io. Each message is one
//! Socket.io event whose name is the enum tag and whose single argument is
//! the JSON object of its fields. Documented, with the order of events, in
//! `docs/signalling.md`.
//!
//! Parsing is strict: unknown events and fields, missing fields and
//! oversized payloads are errors with a code the server sends back.

use serde::{Deserialize, Serialize};

/// Largest raw event payload the server reads, in bytes (an SDP offer with
/// many candidates stays well below).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 500;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest room id, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// Longest ICE candidate line, in bytes.
pub const MAX_CANDIDATE_BYTES: usize = 2048;

/// A peer's id within the server: given by the server on join.
pub type PeerId = String;

/// An ICE candidate as the browser's `RTCIceCandidateInit` has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Candidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default)]
    pub sdp_m_line_index: Option<u16>,
}

/// Events a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    content = "data",
    rename_all = "kebab-case",
    deny_unknown_fields
)]
pub enum ClientMsg {
    /// Enter `room` under `name` (first event after connecting).
    Join { room: String, name: String },
    /// An SDP offer for one peer of the room.
    Offer { to: PeerId, sdp: String },
    /// An SDP answer for one peer of the room.
    Answer { to: PeerId, sdp: String },
    /// An ICE candidate for one peer of the room.
    Ice { to: PeerId, candidate: Candidate },
    /// A chat message to the room.
    Chat { text: String },
    /// Leave the room (closing the connection does the same).
    Leave {},
}

/// One participant as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub id: PeerId,
    pub name: String,
}

/// Events the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    content = "data",
    rename_all = "kebab-case",
    deny_unknown_fields
)]
pub enum ServerMsg {
    /// To a newcomer: its own id and who is already there (the newcomer
    /// sends each of them an offer).
    RoomState {
        room: String,
        you: PeerId,
        peers: Vec<Peer>,
    },
    /// To the others: someone joined (they wait for its offer).
    PeerJoined {
        peer: Peer,
    },
    /// To the others: someone left or vanished.
    PeerLeft {
        id: PeerId,
    },
    /// Relayed from `from`.
    Offer {
        from: PeerId,
        sdp: String,
    },
    Answer {
        from: PeerId,
        sdp: String,
    },
    Ice {
        from: PeerId,
        candidate: Candidate,
    },
    /// A chat message; `at` is the server's time in ms since the Unix epoch.
    Chat {
        from: PeerId,
        name: String,
        text: String,
        at: u64,
    },
    /// Something the client sent was refused; nothing else happened.
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Why an event was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, an unknown event, a missing or unknown field, a wrong type.
    Malformed,
    /// Larger than the limits above.
    TooLarge,
    /// A field out of its rules (room id characters, an empty name...).
    Invalid,
    /// An event that needs a room before `join`, or a second `join`.
    NotInRoom,
    AlreadyInRoom,
    /// The room has its largest number of peers.
    RoomFull,
    /// The server has its largest number of rooms.
    ServerFull,
    /// The named peer is not in the sender's room.
    UnknownPeer,
    /// Too many chat messages in a short time.
    RateLimited,
}

impl ClientMsg {
    /// Parses one Socket.io event: its name and its JSON argument as sent
    /// (`raw`); the size is checked before anything is parsed.
    pub fn parse(event: &str, raw: &str) -> Result<ClientMsg, (ErrorCode, String)> {
        if raw.len() > MAX_EVENT_BYTES || event.len() > 32 {
            return Err((
                ErrorCode::TooLarge,
                format!("events are at most {MAX_EVENT_BYTES} bytes"),
            ));
        }
        let data: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| (ErrorCode::Malformed, format!("not JSON: {e}")))?;
        let tagged = serde_json::json!({ "event": event, "data": data });
        serde_json::from_value(tagged).map_err(|e| (ErrorCode::Malformed, format!("{event}: {e}")))
    }
}

impl ServerMsg {
    /// The Socket.io event name and its JSON argument.
    pub fn to_event(&self) -> (String, serde_json::Value) {
        let v = serde_json::to_value(self).unwrap_or_default();
        let name = v["event"].as_str().unwrap_or("error").to_string();
        (name, v["data"].clone())
    }
}

/// Room ids: 1-64 of A-Z, a-z, 0-9, `-` and `_` (they appear in URLs).
pub fn valid_room(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ROOM_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A display name as the server, the daemon's config and its D-Bus join all
/// take it: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control
/// characters. The error says the rule.
pub fn display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        Err(format!(
            "a display name is 1-{MAX_NAME_CHARS} printable characters"
        ))
    } else {
        Ok(name.to_string())
    }
}

/// The scheme policy for room servers, in one place: the daemon speaks
/// plain `http://` to them (a TLS proxy in front of a server serves
/// browsers). Returns what follows the scheme, or why the address is refused.
pub fn strip_scheme(url: &str) -> Result<&str, String> {
    if let Some(rest) = url.strip_prefix("http://") {
        Ok(rest)
    } else if url.starts_with("https://") {
        Err("https room servers are not supported yet; use the server's http address (a TLS proxy in front of it serves browsers)".into())
    } else {
        Err("give the server's http address, http://HOST:3030".into())
    }
}

/// A room server's base address (`[rooms] server` in the config):
/// `http://HOST[:PORT]`, nothing after but an optional `/`.
pub fn check_server(url: &str) -> Result<(), String> {
    let rest = strip_scheme(url).map_err(|why| format!("server {url:?}: {why}"))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(format!(
            "server {url:?}: give only the server, http://HOST:3030 (rooms are joined by id)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_events_parse_from_their_socket_io_form() {
        assert_eq!(
            ClientMsg::parse("join", r#"{"room":"abc","name":"Ada"}"#),
            Ok(ClientMsg::Join {
                room: "abc".into(),
                name: "Ada".into()
            })
        );
        assert_eq!(
            ClientMsg::parse(
                "ice",
                r#"{"to":"p1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#
            ),
            Ok(ClientMsg::Ice {
                to: "p1".into(),
                candidate: Candidate {
                    candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                }
            })
        );
        assert_eq!(ClientMsg::parse("leave", "{}"), Ok(ClientMsg::Leave {}));
    }

    #[test]
    fn malformed_and_oversized_events_are_refused_with_a_code() {
        for (event, raw) in [
            ("join", "not json"),
            ("join", r#"{"room":"abc"}"#),
            ("join", r#"{"room":"abc","name":"A","admin":true}"#),
            ("join", r#"{"room":7,"name":"A"}"#),
            ("shutdown", "{}"),
            ("chat", "[]"),
        ] {
            let e = ClientMsg::parse(event, raw).expect_err(raw);
            assert_eq!(e.0, ErrorCode::Malformed, "{event} {raw}: {e:?}");
        }
        let big = format!(r#"{{"text":"{}"}}"#, "x".repeat(MAX_EVENT_BYTES));
        assert_eq!(
            ClientMsg::parse("chat", &big).expect_err("big").0,
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn server_events_have_their_documented_names() {
        let (name, data) = ServerMsg::PeerLeft { id: "p2".into() }.to_event();
        assert_eq!(name, "peer-left");
        assert_eq!(data, serde_json::json!({ "id": "p2" }));
        let (name, data) = ServerMsg::Error {
            code: ErrorCode::RoomFull,
            message: "full".into(),
        }
        .to_event();
        assert_eq!(name, "error");
        assert_eq!(data["code"], "room-full");
        let (name, _) = ServerMsg::RoomState {
            room: "r".into(),
            you: "p1".into(),
            peers: vec![],
        }
        .to_event();
        assert_eq!(name, "room-state");
    }

    #[test]
    fn room_ids_are_url_safe() {
        assert!(valid_room("Kq3-x_9"));
        for bad in ["", "a b", "../x", "é", &"x".repeat(65)] {
            assert!(!valid_room(bad), "{bad:?}");
        }
    }

    #[test]
    fn display_names_follow_one_rule() {
        assert_eq!(display_name("  Ada  "), Ok("Ada".to_string()));
        assert_eq!(
            display_name(&"é".repeat(64)).map(|n| n.chars().count()),
            Ok(64)
        );
        for bad in ["", "   ", "a\u{7}b", &"x".repeat(65)] {
            let e = display_name(bad).expect_err(bad);
            assert!(e.contains("1-64"), "{e}");
        }
    }
}
