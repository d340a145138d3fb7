//! The studio page's server, over real sockets, against a real daemon on a
//! private bus: opened by the real `bytemeetctl studio`, its token, `Host`
//! and `Origin` checks (each refusal changes nothing), changes made on the
//! page seen by the CLI and the reverse, thumbnails of the current picture
//! that follow the source, the snapshot and the fallback picture. The page
//! itself, with its WebRTC preview, is driven in Chromium by
//! `tests/rooms/studio.mjs`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[path = "common/bus.rs"]
mod bus;
use bus::*;

struct Page {
    port: u16,
    prefix: String,
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One HTTP/1.1 request on a fresh connection; `headers` replace the
/// defaults of the same name (an empty value leaves the header out).
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the studio");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let host = format!("127.0.0.1:{port}");
    let mut all: Vec<(String, String)> =
        vec![("Host".into(), host), ("Connection".into(), "close".into())];
    for (k, v) in headers {
        all.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
        if !v.is_empty() {
            all.push((k.to_string(), v.to_string()));
        }
    }
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in &all {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    // Read until the answer is complete (a kept-alive connection, as after
    // `Connection: Upgrade`, never reaches EOF).
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let (head, body) = loop {
        let n = s.read(&mut buf).expect("read");
        raw.extend_from_slice(&buf[..n]);
        let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            assert!(n > 0, "connection closed before a response head");
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let body = &raw[split + 4..];
        let lower = head.to_ascii_lowercase();
        let length = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        let complete = match length {
            Some(len) => body.len() >= len,
            None if lower.contains("transfer-encoding: chunked") => body.ends_with(b"0\r\n\r\n"),
            None => n == 0,
        };
        if complete || n == 0 {
            let body = if lower.contains("transfer-encoding: chunked") {
                unchunk(body)
            } else {
                body.to_vec()
            };
            break (head, body);
        }
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    Answer { status, head, body }
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
}

fn open(bus: &Bus) -> Page {
    let url = bus.ok(&["studio", "--no-open"]);
    let url = url.trim();
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("studio address {url:?} is not on 127.0.0.1"));
    let (port, path) = rest.split_once('/').expect("a path");
    Page {
        port: port.parse().expect("port"),
        prefix: format!("/{path}"),
    }
}

impl Page {
    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn get(&self, what: &str) -> Answer {
        http(self.port, "GET", &format!("{}{what}", self.prefix), &[], "")
    }

    fn post(&self, what: &str, body: &str) -> Answer {
        let origin = self.origin();
        http(
            self.port,
            "POST",
            &format!("{}{what}", self.prefix),
            &[("Origin", &origin)],
            body,
        )
    }

    fn state(&self) -> serde_json::Value {
        let a = self.get("api/state");
        assert_eq!(a.status, 200, "{}", a.text());
        a.json()
    }
}

/// The page's pushed state: `api/events`, read as it arrives.
struct Events {
    reader: std::io::BufReader<TcpStream>,
}

impl Events {
    fn open(page: &Page) -> Self {
        let mut s = TcpStream::connect(("127.0.0.1", page.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "GET {}api/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\r\n",
            page.prefix, page.port
        )
        .expect("send");
        let mut reader = std::io::BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut reader, &mut line).expect("head");
            if line.trim().is_empty() {
                break;
            }
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/event-stream"),
            "{head}"
        );
        Events { reader }
    }

    /// The next `state` event's JSON (chunk sizes and keep-alive comments
    /// are skipped: only `data:` lines are read).
    fn next_state(&mut self) -> serde_json::Value {
        loop {
            let mut line = String::new();
            let n = std::io::BufRead::read_line(&mut self.reader, &mut line).expect("an event");
            assert!(n > 0, "the events stream ended");
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                return serde_json::from_str(data).expect("state JSON");
            }
        }
    }
}

fn status_json(bus: &Bus) -> serde_json::Value {
    serde_json::from_str(&bus.ok(&["status", "--json"])).expect("status JSON")
}

/// Mean (r, g, b) of an encoded picture, and its size.
fn mean_rgb(bytes: &[u8]) -> ((u32, u32), [f64; 3]) {
    let img = image::load_from_memory(bytes).expect("a picture").to_rgb8();
    let mut sum = [0f64; 3];
    for p in img.pixels() {
        for c in 0..3 {
            sum[c] += f64::from(p[c]);
        }
    }
    let n = f64::from(img.width() * img.height());
    ((img.width(), img.height()), sum.map(|s| s / n))
}

#[test]
fn the_studio_is_guarded_and_shares_one_state_with_the_cli() {
    let bus = Bus::start();
    let d = bus.daemon(&[]);
    let page = open(&bus);
    // Asking again gives the same server and token.
    let again = open(&bus);
    assert_eq!((again.port, &again.prefix), (page.port, &page.prefix));
    assert!(page.prefix.starts_with("/s/") && page.prefix.len() == "/s/".len() + 32 + 1);

    // The page and its assets, with the strict headers.
    let index = page.get("");
    assert_eq!(index.status, 200);
    assert!(index.text().contains("ByteMeet Studio"));
    let head = index.head.to_ascii_lowercase();
    for h in [
        "content-security-policy: default-src 'none'",
        "x-frame-options: deny",
        "referrer-policy: no-referrer",
        "x-content-type-options: nosniff",
    ] {
        assert!(head.contains(h), "missing {h}: {head}");
    }
    assert!(
        !head.contains("access-control-allow-origin"),
        "no CORS: {head}"
    );
    for asset in ["studio.js", "studio.css"] {
        assert_eq!(page.get(asset).status, 200, "{asset}");
    }

    // Refused: no token, a wrong token, a foreign Host, cross-origin
    // changes and WebSockets. Each is a 403 and changes nothing.
    let wrong = format!("/s/{}/api/state", "0".repeat(32));
    let set_sepia = r#"{"what":"filter","spec":"sepia"}"#;
    let p = page.port;
    let set_path = format!("{}api/set", page.prefix);
    let state_path = format!("{}api/state", page.prefix);
    let refusals = [
        ("no token", http(p, "GET", "/", &[], "")),
        ("no token, API", http(p, "GET", "/api/state", &[], "")),
        ("no token, events", http(p, "GET", "/api/events", &[], "")),
        ("wrong token", http(p, "GET", &wrong, &[], "")),
        (
            "wrong token, change",
            http(
                p,
                "POST",
                &wrong.replace("state", "set"),
                &[("Origin", &page.origin())],
                set_sepia,
            ),
        ),
        (
            "foreign Host (DNS rebinding)",
            http(
                p,
                "GET",
                &state_path,
                &[("Host", &format!("evil.example:{p}"))],
                "",
            ),
        ),
        (
            "cross-origin POST",
            http(
                p,
                "POST",
                &set_path,
                &[("Origin", "http://evil.example")],
                set_sepia,
            ),
        ),
        (
            "POST without an Origin",
            http(p, "POST", &set_path, &[], set_sepia),
        ),
        (
            "cross-origin WebSocket",
            http(
                p,
                "GET",
                &state_path,
                &[
                    ("Origin", "http://evil.example"),
                    ("Upgrade", "websocket"),
                    ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("Sec-WebSocket-Version", "13"),
                ],
                "",
            ),
        ),
        (
            "WebSocket without an Origin",
            http(
                p,
                "GET",
                &state_path,
                &[("Upgrade", "websocket"), ("Connection", "Upgrade")],
                "",
            ),
        ),
    ];
    for (what, a) in &refusals {
        assert_eq!(a.status, 403, "{what}: {} {}", a.status, a.text());
        assert!(a.text().contains("forbidden"), "{what}: {}", a.text());
    }
    assert!(
        status_json(&bus)["filter"].is_null(),
        "a refused request changed the filter"
    );

    // A change on the page is the daemon's state: the CLI sees it.
    let a = page.post("api/set", set_sepia);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(status_json(&bus)["filter"], "sepia");
    // Refused by the same rules as D-Bus, with the same words.
    let a = page.post("api/set", r#"{"what":"filter","spec":"no-such"}"#);
    assert_eq!(a.status, 400);
    assert!(a.text().contains("unknown filter"), "{}", a.text());
    let a = page.post("api/set", r#"{"what":"avatar","spec":"nobody"}"#);
    assert_eq!(a.status, 400);
    assert!(a.text().contains("no avatar named"), "{}", a.text());
    let a = page.post("api/set", "{not json");
    assert_eq!(a.status, 400);
    assert_eq!(status_json(&bus)["filter"], "sepia");

    // The page's state is pushed: the events stream sends it at once, then
    // on the CLI's change without being asked (and every second for the
    // figures). The bound is for a loaded machine; the time is printed.
    let mut events = Events::open(&page);
    let first = events.next_state();
    assert_eq!(first["effects"]["filter"], "sepia", "{first}");
    assert_eq!(first["effects"]["segmenter"], "model", "{first}");
    bus.ok(&["segmenter", "chroma", "blue"]);
    let t = Instant::now();
    loop {
        let s = events.next_state();
        if s["effects"]["segmenter"] == "chroma:blue" {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the CLI's change was never pushed: {s}"
        );
    }
    eprintln!(
        "the CLI's change was pushed to the page in {:?}",
        t.elapsed()
    );
    // A change on the page reaches the same stream, and the CLI.
    let a = page.post("api/set", r#"{"what":"segmenter","spec":"model"}"#);
    assert_eq!(a.status, 200, "{}", a.text());
    while events.next_state()["effects"]["segmenter"] != "model" {}
    assert_eq!(status_json(&bus)["segmenter"], "model");
    let a = page.post("api/set", r#"{"what":"segmenter","spec":"chroma:mauve"}"#);
    assert_eq!(a.status, 400);
    assert!(a.text().contains("green, blue or #RRGGBB"), "{}", a.text());
    drop(events);

    // And `api/state` answers the same state when asked.
    bus.ok(&["background", "blur", "--strength", "20"]);
    let t = Instant::now();
    while page.state()["effects"]["background"] != "blur:20" {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the page never saw the CLI's change"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "the CLI's change reached the page's state in {:?}",
        t.elapsed()
    );
    let s = page.state();
    assert_eq!(s["effects"]["filter"], "sepia");
    assert!(s["stats"]["fps_out"].as_f64().is_some(), "{s}");
    assert!(s["camera_active"].as_bool().expect("camera"));

    // The galleries: every filter but lut, the scenes, the avatar packs.
    let tiles = page.get("api/tiles").json();
    let specs: Vec<String> = tiles["tiles"]
        .as_array()
        .expect("tiles")
        .iter()
        .map(|t| {
            format!(
                "{}:{}",
                t["kind"].as_str().unwrap_or(""),
                t["spec"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in [
        "filter:sepia",
        "filter:toon",
        "background:blur",
        "background:scene:moon",
        "avatar:robot",
    ] {
        assert!(specs.iter().any(|s| s == want), "{want} not in {specs:?}");
    }
    assert!(!specs.iter().any(|s| s == "filter:lut"));

    // Thumbnails of the current picture: a round is drawn while the page
    // is open; the sepia tile is warm.
    let round = |page: &Page| page.state()["thumbs"].as_u64().expect("round");
    let wait_round = |page: &Page, after: u64| {
        let t = Instant::now();
        loop {
            let r = round(page);
            if r > after {
                return r;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "no thumbnails drawn: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let r1 = wait_round(&page, 0);
    let sepia = page.get("api/thumb?tile=filter:sepia");
    assert_eq!(sepia.status, 200, "{}", sepia.text());
    let (size, rgb) = mean_rgb(&sepia.body);
    assert_eq!(size, (384, 216));
    assert!(rgb[0] > rgb[2] + 10.0, "sepia tile is not warm: {rgb:?}");
    let plain_before = mean_rgb(&page.get("api/thumb?tile=background:none").body).1;
    let missing = page.get("api/thumb?tile=filter:no-such");
    assert_eq!(missing.status, 404);

    // The source changes: the tiles follow it.
    let still = bus.path("blue.png");
    image::RgbImage::from_pixel(320, 240, image::Rgb([20, 40, 220]))
        .save(&still)
        .expect("still");
    bus.ok(&["source", "set", &format!("file:{}", still.display())]);
    let r2 = wait_round(&page, r1);
    wait_round(&page, r2);
    let plain_after = mean_rgb(&page.get("api/thumb?tile=background:none").body).1;
    assert!(
        plain_after[2] > plain_before[2] + 40.0 && plain_after[2] > 150.0,
        "the plain tile did not follow the source: {plain_before:?} -> {plain_after:?}"
    );

    // Snapshot (a PNG download) and the fallback preview picture.
    let snap = page.get("api/snapshot.png");
    assert_eq!(snap.status, 200, "{}", snap.text());
    assert!(snap
        .head
        .to_ascii_lowercase()
        .contains("content-disposition: attachment"));
    assert_eq!(mean_rgb(&snap.body).0, (160, 120));
    let frame = page.get("api/frame.jpg");
    assert_eq!(frame.status, 200, "{}", frame.text());
    assert_eq!(mean_rgb(&frame.body).0, (160, 120));

    // Clear all, from the page.
    assert_eq!(page.post("api/set", r#"{"what":"clear"}"#).status, 200);
    let st = status_json(&bus);
    assert!(st["filter"].is_null(), "{st}");
    assert_eq!(st["background"], "none");
    let log = d.stop();
    assert!(!log.contains("panicked"), "{log}");
}
