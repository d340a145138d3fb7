//! A small Socket.io client (protocol 5 over Engine.IO 4, WebSocket
//! transport only) that speaks the rooms protocol. The daemon joins rooms
//! with it; the load client and the fault tests use it too.
//!
//! Engine.IO packets are one WebSocket text message each: `0` open (with the
//! ping timing), `2`/`3` ping/pong, `4` message. A Socket.io packet rides in
//! a message: `40` connect to the main namespace, `41` disconnect, `42` an
//! event as the JSON array `[name, data]`, `44` a refused connect.

use std::time::Duration;

use bytemeet_proto::signal::{ClientMsg, ServerMsg};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    BadUrl(String),
    #[error("cannot reach the room server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the room server at {url} does not speak Socket.io as expected: {reason}")]
    Protocol { url: String, reason: String },
    #[error("the connection to the room server closed")]
    Closed,
}

/// A room address, `http://HOST[:PORT]/ROOM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomUrl {
    /// `HOST:PORT`.
    pub authority: String,
    pub room: String,
}

impl RoomUrl {
    pub fn parse(url: &str) -> Result<RoomUrl, ClientError> {
        let bad = |why: &str| ClientError::BadUrl(format!("room address {url:?}: {why}"));
        let rest = bytemeet_proto::signal::strip_scheme(url).map_err(|why| bad(&why))?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("it names no room (http://HOST:3030/ROOM)"))?;
        let room = path.split(['?', '#']).next().unwrap_or("");
        let room = room.trim_end_matches('/');
        if host.is_empty() {
            return Err(bad("it names no host"));
        }
        if !bytemeet_proto::signal::valid_room(room) {
            return Err(bad(
                "the room id must be 1-64 letters, digits, '-' or '_' (http://HOST:3030/ROOM)",
            ));
        }
        let authority = if host.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(']')
        }) {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        Ok(RoomUrl {
            authority,
            room: room.to_string(),
        })
    }

    /// The page's address.
    pub fn page(&self) -> String {
        format!("http://{}/{}", self.authority, self.room)
    }
}

/// One event from the server: the parsed message, or the raw event when it
/// is not one this protocol knows.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Msg(ServerMsg),
    Unknown(String, Value),
}

/// An open Socket.io connection. Dropping it closes the connection.
#[derive(Debug)]
pub struct Connection {
    out: mpsc::UnboundedSender<Message>,
    events: mpsc::UnboundedReceiver<Incoming>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Silence allowed when the server does not say (Socket.io's defaults).
const DEFAULT_SILENCE: Duration = Duration::from_secs(45);

/// How long the link may stay silent, from the Engine.IO open packet's
/// `pingInterval` and `pingTimeout` (ms), with a second of slack.
fn silence_allowed(open: &str) -> Duration {
    let v: Value = serde_json::from_str(open).unwrap_or(Value::Null);
    match (v["pingInterval"].as_u64(), v["pingTimeout"].as_u64()) {
        (Some(i), Some(t)) => Duration::from_millis(i + t + 1000),
        _ => DEFAULT_SILENCE,
    }
}

/// How long the open handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

impl Connection {
    /// Connects to the server at `authority` (`HOST:PORT`).
    pub async fn open(authority: &str) -> Result<Connection, ClientError> {
        let url = format!("ws://{authority}/socket.io/?EIO=4&transport=websocket");
        let unreachable = |reason: String| ClientError::Unreachable {
            url: format!("http://{authority}/"),
            reason,
        };
        let protocol = |reason: String| ClientError::Protocol {
            url: format!("http://{authority}/"),
            reason,
        };
        let (mut ws, _) = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .map_err(|_| unreachable("no answer within 5 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        // Engine.IO open, then the Socket.io connect to "/".
        let mut opened = false;
        // The server pings every `pingInterval` and gives up `pingTimeout`
        // after; hearing nothing for their sum means the link is gone.
        let mut silence = DEFAULT_SILENCE;
        let handshake = async {
            while let Some(msg) = ws.next().await {
                let text = match msg.map_err(|e| protocol(e.to_string()))? {
                    Message::Text(t) => t.to_string(),
                    Message::Close(_) => return Err(ClientError::Closed),
                    _ => continue,
                };
                if let (Some(open), false) = (text.strip_prefix('0'), opened) {
                    opened = true;
                    silence = silence_allowed(open);
                    ws.send(Message::text("40"))
                        .await
                        .map_err(|e| protocol(e.to_string()))?;
                } else if text.starts_with("40") {
                    return Ok(());
                } else if let Some(why) = text.strip_prefix("44") {
                    return Err(protocol(format!("connect refused: {why}")));
                } else if text == "2" {
                    ws.send(Message::text("3"))
                        .await
                        .map_err(|e| protocol(e.to_string()))?;
                }
            }
            Err(ClientError::Closed)
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
            .await
            .map_err(|_| protocol("no Socket.io handshake within 5 s".into()))??;

        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    msg = tokio::time::timeout(silence, ws.next()) => {
                        let text = match msg {
                            Ok(Some(Ok(Message::Text(t)))) => t,
                            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => break,
                            // Not even a ping: the network or the server is gone.
                            Err(_) => break,
                            Ok(Some(Ok(_))) => continue,
                        };
                        match classify(text.as_str()) {
                            Frame::Ping => {
                                if ws.send(Message::text("3")).await.is_err() {
                                    break;
                                }
                            }
                            Frame::Event(ev) => {
                                if events_tx.send(ev).is_err() {
                                    break;
                                }
                            }
                            Frame::Closed => break,
                            Frame::Other => {}
                        }
                    }
                    msg = out_rx.recv() => match msg {
                        Some(m) => if ws.send(m).await.is_err() { break },
                        None => {
                            let _ = ws.send(Message::text("41")).await;
                            let _ = ws.close(None).await;
                            break;
                        }
                    }
                }
            }
        });
        Ok(Connection { out, events, task })
    }

    /// Sends a protocol message.
    pub fn send(&self, msg: &ClientMsg) -> Result<(), ClientError> {
        let v = serde_json::to_value(msg).map_err(|_| ClientError::Closed)?;
        let name = v["event"].as_str().unwrap_or_default().to_string();
        self.send_raw(&name, &v["data"])
    }

    /// Sends any event with one argument (tests use it for bad events).
    pub fn send_raw(&self, event: &str, data: &Value) -> Result<(), ClientError> {
        let packet = format!("42{}", Value::Array(vec![event.into(), data.clone()]));
        self.send_packet(packet)
    }

    /// Sends a raw Engine.IO packet as it is.
    pub fn send_packet(&self, packet: String) -> Result<(), ClientError> {
        self.out
            .send(Message::text(packet))
            .map_err(|_| ClientError::Closed)
    }

    /// The next event; `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<Incoming> {
        self.events.recv().await
    }

    /// Whether the connection is still up.
    pub fn is_open(&self) -> bool {
        !self.task.is_finished()
    }
}

/// What one Engine.IO text frame from the server means to a connected client.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `2`: answer `3`.
    Ping,
    /// `42[...]`: an event, decoded.
    Event(Incoming),
    /// `41` (Socket.io disconnect) or `1` (Engine.IO close).
    Closed,
    /// Anything else (noise, unknown packet types, undecodable events).
    Other,
}

/// Reads one text frame as the client's loop does; pure, so a fuzzer can
/// feed it anything a server (or a man in the middle) could send.
pub fn classify(text: &str) -> Frame {
    if text == "2" {
        Frame::Ping
    } else if let Some(body) = text.strip_prefix("42") {
        decode_event(body).map_or(Frame::Other, Frame::Event)
    } else if text.starts_with("41") || text.starts_with('1') {
        Frame::Closed
    } else {
        Frame::Other
    }
}

/// The link's allowed silence from an Engine.IO open packet (public for
/// the fuzzer; see `silence_allowed`).
pub fn open_packet_silence(open: &str) -> Duration {
    silence_allowed(open)
}

fn decode_event(body: &str) -> Option<Incoming> {
    let v: Value = serde_json::from_str(body).ok()?;
    let mut items = match v {
        Value::Array(items) if !items.is_empty() => items,
        _ => return None,
    };
    let name = items.remove(0).as_str()?.to_string();
    let data = items.into_iter().next().unwrap_or(Value::Null);
    let tagged = serde_json::json!({ "event": name, "data": data });
    Some(match serde_json::from_value::<ServerMsg>(tagged) {
        Ok(msg) => Incoming::Msg(msg),
        Err(_) => Incoming::Unknown(name, data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_urls_name_host_port_and_room() {
        let u = RoomUrl::parse("http://127.0.0.1:3030/abc-1").expect("url");
        assert_eq!(u.authority, "127.0.0.1:3030");
        assert_eq!(u.room, "abc-1");
        assert_eq!(
            RoomUrl::parse("http://meet.example/r?x=1")
                .expect("url")
                .authority,
            "meet.example:80"
        );
        assert_eq!(
            RoomUrl::parse("http://[::1]:3030/r")
                .expect("url")
                .authority,
            "[::1]:3030"
        );
        assert_eq!(
            RoomUrl::parse("http://[::1]/r").expect("url").authority,
            "[::1]:80"
        );
        for bad in [
            "ftp://x/r",
            "http://host",
            "http://host/",
            "http:///r",
            "http://h/a b",
            "https://h/r",
        ] {
            assert!(RoomUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_silence_allowed_follows_the_servers_ping_timing() {
        assert_eq!(
            silence_allowed(r#"{"sid":"x","pingInterval":5000,"pingTimeout":5000}"#),
            Duration::from_secs(11)
        );
        assert_eq!(silence_allowed("garbage"), DEFAULT_SILENCE);
    }

    #[test]
    fn events_decode_to_messages_or_stay_raw() {
        assert_eq!(
            decode_event(r#"["peer-left",{"id":"p2"}]"#),
            Some(Incoming::Msg(ServerMsg::PeerLeft { id: "p2".into() }))
        );
        assert_eq!(
            decode_event(r#"["mystery",1]"#),
            Some(Incoming::Unknown("mystery".into(), Value::from(1)))
        );
        assert_eq!(decode_event("[]"), None);
        assert_eq!(decode_event("{}"), None);
        assert_eq!(decode_event("not json"), None);
    }

    #[test]
    fn frames_are_classified_as_the_loop_acts_on_them() {
        assert_eq!(classify("2"), Frame::Ping);
        assert_eq!(classify("41"), Frame::Closed);
        assert_eq!(classify("1"), Frame::Closed);
        assert_eq!(classify("3"), Frame::Other);
        assert_eq!(classify("42[]"), Frame::Other);
        assert_eq!(
            classify(r#"42["peer-left",{"id":"p"}]"#),
            Frame::Event(Incoming::Msg(ServerMsg::PeerLeft { id: "p".into() }))
        );
    }
}
