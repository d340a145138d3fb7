//! The room server over real sockets: HTTP routes, and Socket.io clients
//! (the crate's own client) joining, relaying, chatting, and sending bad
//! events that must be refused without disturbing anyone else.

use std::time::Duration;

use bytemeet_proto::signal::{Candidate, ClientMsg, ErrorCode, ServerMsg};
use bytemeet_rooms::client::{Connection, Incoming};
use bytemeet_rooms::room::Limits;
use bytemeet_rooms::server::Server;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(limits: Limits) -> (Server, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = Server::new(limits);
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener, std::future::pending()).await });
    (server, addr)
}

async fn next(conn: &mut Connection) -> ServerMsg {
    match tokio::time::timeout(Duration::from_secs(5), conn.recv()).await {
        Ok(Some(Incoming::Msg(m))) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn nothing_for(conn: &mut Connection, ms: u64) {
    if let Ok(m) = tokio::time::timeout(Duration::from_millis(ms), conn.recv()).await {
        panic!("expected nothing, got {m:?}");
    }
}

async fn joined(addr: &str, room: &str, name: &str) -> (Connection, String) {
    let mut c = Connection::open(addr).await.expect("connect");
    c.send(&ClientMsg::Join {
        room: room.into(),
        name: name.into(),
    })
    .expect("send");
    match next(&mut c).await {
        ServerMsg::RoomState { you, room: r, .. } => {
            assert_eq!(r, room);
            (c, you)
        }
        m => panic!("expected room-state, got {m:?}"),
    }
}

fn error_code(m: &ServerMsg) -> ErrorCode {
    match m {
        ServerMsg::Error { code, .. } => *code,
        m => panic!("expected an error, got {m:?}"),
    }
}

async fn http_get(addr: &str, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut body = String::new();
    s.read_to_string(&mut body).await.expect("read");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes_make_rooms_and_serve_the_page() {
    let (_server, addr) = start(Limits::default()).await;
    let r = http_get(&addr, "/").await;
    assert!(r.starts_with("HTTP/1.1 303"), "{r}");
    let location = r
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("location");
    assert_eq!(location.len(), 17, "{location}");
    let page = http_get(&addr, location).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("content-security-policy"), "{page}");
    assert!(page.contains("/assets/socket.io.min.js"), "{page}");
    for asset in [
        "/assets/room.js",
        "/assets/room.css",
        "/assets/socket.io.min.js",
    ] {
        let r = http_get(&addr, asset).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{asset}: {r}");
    }
    for bad in ["/a.b", "/%3Cscript%3E", &format!("/{}", "x".repeat(65))] {
        let r = http_get(&addr, bad).await;
        assert!(r.starts_with("HTTP/1.1 404"), "{bad}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_meet_relay_and_chat_through_the_server() {
    let (server, addr) = start(Limits::default()).await;
    let (mut a, pa) = joined(&addr, "r1", "Ada").await;
    let (mut b, pb) = joined(&addr, "r1", "Bob").await;
    assert_eq!(
        next(&mut a).await,
        ServerMsg::PeerJoined {
            peer: bytemeet_proto::signal::Peer {
                id: pb.clone(),
                name: "Bob".into()
            }
        }
    );
    b.send(&ClientMsg::Offer {
        to: pa.clone(),
        sdp: "v=0".into(),
    })
    .expect("send");
    assert_eq!(
        next(&mut a).await,
        ServerMsg::Offer {
            from: pb.clone(),
            sdp: "v=0".into()
        }
    );
    // A client's events reach the other side in the order they were sent.
    for i in 0..100 {
        b.send(&ClientMsg::Offer {
            to: pa.clone(),
            sdp: format!("v=0 {i}"),
        })
        .expect("send");
    }
    for i in 0..100 {
        assert_eq!(
            next(&mut a).await,
            ServerMsg::Offer {
                from: pb.clone(),
                sdp: format!("v=0 {i}")
            }
        );
    }
    a.send(&ClientMsg::Ice {
        to: pb.clone(),
        candidate: Candidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        },
    })
    .expect("send");
    assert!(matches!(next(&mut b).await, ServerMsg::Ice { from, .. } if from == pa));
    a.send(&ClientMsg::Chat {
        text: "<b>hi</b>".into(),
    })
    .expect("send");
    for c in [&mut a, &mut b] {
        match next(c).await {
            ServerMsg::Chat { text, name, .. } => {
                assert_eq!(text, "<b>hi</b>");
                assert_eq!(name, "Ada");
            }
            m => panic!("{m:?}"),
        }
    }
    assert_eq!(server.counts(), (1, 2));
    drop(b);
    assert_eq!(next(&mut a).await, ServerMsg::PeerLeft { id: pb });
    assert_eq!(server.counts(), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_get_errors_and_disturb_no_one() {
    let (server, addr) = start(Limits::default()).await;
    // A call in another room, which must not notice anything.
    let (mut x, _) = joined(&addr, "calm", "Xena").await;
    let (mut y, py) = joined(&addr, "calm", "Yuri").await;
    assert!(matches!(next(&mut x).await, ServerMsg::PeerJoined { .. }));

    let (mut bad, _) = joined(&addr, "noisy", "Mallory").await;
    let cases: Vec<(&str, Value, ErrorCode)> = vec![
        (
            "join",
            json!({"room": "calm", "name": "again"}),
            ErrorCode::AlreadyInRoom,
        ),
        (
            "offer",
            json!({"to": py, "sdp": "v=0"}),
            ErrorCode::UnknownPeer,
        ),
        ("offer", json!({"to": 5}), ErrorCode::Malformed),
        ("shutdown", json!({}), ErrorCode::Malformed),
        ("chat", json!("just a string"), ErrorCode::Malformed),
        (
            "chat",
            json!({"text": "x".repeat(80_000)}),
            ErrorCode::TooLarge,
        ),
        (
            "chat",
            json!({"text": "y".repeat(501)}),
            ErrorCode::TooLarge,
        ),
        ("chat", Value::Null, ErrorCode::Malformed),
        (
            "ice",
            json!({"to": py, "candidate": {"candidate": "c".repeat(3000)}}),
            ErrorCode::TooLarge,
        ),
    ];
    for (event, data, code) in &cases {
        bad.send_raw(event, data).expect("send");
        let got = next(&mut bad).await;
        assert_eq!(error_code(&got), *code, "{event} {data}: {got:?}");
    }
    // An event with no argument.
    bad.send_packet(r#"42["chat"]"#.into()).expect("send");
    assert_eq!(error_code(&next(&mut bad).await), ErrorCode::Malformed);
    // A packet that is not Socket.io at all: the transport drops that
    // connection (it cannot know what the client meant), and only that one.
    let mut garbage = Connection::open(&addr).await.expect("connect");
    garbage.send_packet("42not json".into()).expect("send");
    tokio::time::timeout(Duration::from_secs(5), async {
        while garbage.recv().await.is_some() {}
    })
    .await
    .expect("the garbage sender is disconnected");
    // An event over the transport's limit closes that connection only.
    bad.send_raw("chat", &json!({"text": "z".repeat(2 << 20)}))
        .expect("send");
    tokio::time::timeout(Duration::from_secs(5), async {
        while bad.recv().await.is_some() {}
    })
    .await
    .expect("the oversized sender is disconnected");

    // The calm room saw nothing and still works.
    nothing_for(&mut x, 300).await;
    nothing_for(&mut y, 0).await;
    y.send(&ClientMsg::Chat {
        text: "still here".into(),
    })
    .expect("send");
    assert!(matches!(next(&mut x).await, ServerMsg::Chat { text, .. } if text == "still here"));
    assert_eq!(
        server.counts().0,
        1,
        "the noisy room went with its only peer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_rooms_and_full_servers_refuse_with_a_reason() {
    let limits = Limits {
        peers_per_room: 2,
        rooms: 1,
        ..Limits::default()
    };
    let (_server, addr) = start(limits).await;
    let (_a, _) = joined(&addr, "one", "A").await;
    let (_b, _) = joined(&addr, "one", "B").await;
    let mut c = Connection::open(&addr).await.expect("connect");
    c.send(&ClientMsg::Join {
        room: "one".into(),
        name: "C".into(),
    })
    .expect("send");
    assert_eq!(error_code(&next(&mut c).await), ErrorCode::RoomFull);
    c.send(&ClientMsg::Join {
        room: "two".into(),
        name: "C".into(),
    })
    .expect("send");
    assert_eq!(error_code(&next(&mut c).await), ErrorCode::ServerFull);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_link_counts_as_closed() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    // A server that shakes hands, then says nothing more, as when the
    // network drops without a word: no ping, no close.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws");
        ws.send(Message::text(
            r#"0{"sid":"s","upgrades":[],"pingInterval":200,"pingTimeout":200,"maxPayload":1000000}"#,
        ))
        .await
        .expect("open");
        while let Some(Ok(m)) = ws.next().await {
            if m.to_text().is_ok_and(|t| t == "40") {
                ws.send(Message::text(r#"40{"sid":"n"}"#))
                    .await
                    .expect("connect");
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(ws);
    });
    let mut c = Connection::open(&addr).await.expect("connect");
    let t = std::time::Instant::now();
    // The link is given up after about 1.4 s of silence (200 + 200 ms, and
    // a second of slack); the bound leaves room for a loaded machine, and
    // is still far below the 30 s the server's silence would last.
    let got = tokio::time::timeout(Duration::from_secs(15), c.recv())
        .await
        .expect("the client gives up on a silent link");
    assert!(got.is_none(), "{got:?}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}
