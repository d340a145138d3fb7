//! `bytemeet-rooms-load`: a load client for the room server. Many Socket.io
//! peers join many rooms and relay offers and ICE candidates to each other
//! for a while; it reports the messages relayed per second, the relay
//! latency (p50, p99, max) and the server's memory before and after. It
//! stops by itself, and fails when a message is lost or refused.
//!
//! Without `--server` it starts `bytemeet-rooms` from its own directory on
//! a free loopback port and measures that.

use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytemeet_proto::signal::{Candidate, ClientMsg, ServerMsg};
use bytemeet_rooms::client::{Connection, Incoming};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Load test for the ByteMeet room server")]
struct Args {
    /// The server (http://HOST:PORT); default: start one here.
    #[arg(long)]
    server: Option<String>,
    /// The server's process id, to read its memory (with --server).
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value_t = 200)]
    peers: usize,
    #[arg(long, default_value_t = 50)]
    rooms: usize,
    /// How long the relaying goes on.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Messages each peer sends per second.
    #[arg(long, default_value_t = 10)]
    rate: u32,
}

#[derive(Debug, Default)]
struct Tally {
    sent: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
    /// Relay latencies in microseconds.
    latencies: Mutex<Vec<u64>>,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A small fixed-seed generator: the same run sends the same pattern.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn start_server() -> Result<(Child, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let server = exe.with_file_name("bytemeet-rooms");
    let mut child = Command::new(&server)
        .args(["--port", "0", "--rooms", "100000", "--peers-per-room", "64"])
        // Every peer here comes from 127.0.0.1: the per-address limits
        // would refuse most of them. The load run measures relaying; the
        // limits have their own tests (tests/attacks.rs).
        .args([
            "--conns-per-addr",
            "100000",
            "--new-conns-per-sec",
            "100000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .map_err(|e| e.to_string())?;
    Ok((child, line.trim().trim_end_matches('/').to_string()))
}

struct Peer {
    authority: String,
    room: String,
    index: usize,
    start: Instant,
    /// Set when everyone has joined.
    until: Arc<OnceLock<Instant>>,
    rate: u32,
    tally: Arc<Tally>,
    ready: Arc<tokio::sync::Barrier>,
    go: Arc<tokio::sync::Notify>,
}

impl Peer {
    async fn run(self) {
        let Peer {
            authority,
            room,
            index,
            start,
            until,
            rate,
            tally,
            ready,
            go,
        } = self;
        let mut conn = match Connection::open(&authority).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("peer {index}: {e}");
                tally.errors.fetch_add(1, Ordering::Relaxed);
                ready.wait().await;
                return;
            }
        };
        let _ = conn.send(&ClientMsg::Join {
            room,
            name: format!("load {index}"),
        });
        let mut others: Vec<String> = Vec::new();
        // Wait for our room state.
        loop {
            match tokio::time::timeout(Duration::from_secs(10), conn.recv()).await {
                Ok(Some(Incoming::Msg(ServerMsg::RoomState { peers, .. }))) => {
                    others.extend(peers.into_iter().map(|p| p.id));
                    break;
                }
                Ok(Some(_)) => {}
                _ => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    ready.wait().await;
                    return;
                }
            }
        }
        let notified = go.notified();
        ready.wait().await;
        // Everyone has joined; learn the later joiners from peer-joined.
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
        notified.await;
        let until = until.get().copied().unwrap_or_else(Instant::now);
        let mut n = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if Instant::now() >= until {
                        break;
                    }
                    if others.is_empty() {
                        continue;
                    }
                    let to = others[(rng.next() % others.len() as u64) as usize].clone();
                    let stamp = start.elapsed().as_micros();
                    n += 1;
                    let msg = if n.is_multiple_of(2) {
                        ClientMsg::Offer { to, sdp: format!("v=0 t={stamp}") }
                    } else {
                        ClientMsg::Ice {
                            to,
                            candidate: Candidate {
                                candidate: format!("candidate:1 1 udp 1 127.0.0.1 9 typ host t={stamp}"),
                                sdp_mid: Some("0".into()),
                                sdp_m_line_index: Some(0),
                            },
                        }
                    };
                    if conn.send(&msg).is_ok() {
                        tally.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                ev = conn.recv() => match ev {
                    Some(Incoming::Msg(m)) => on_message(m, start, &tally, &mut others),
                    Some(Incoming::Unknown(..)) => {}
                    None => {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
        // Drain what is still in flight to us.
        let drain = Instant::now() + Duration::from_secs(2);
        while let Ok(Some(ev)) = tokio::time::timeout_at(drain.into(), conn.recv()).await {
            if let Incoming::Msg(m) = ev {
                on_message(m, start, &tally, &mut others);
            }
        }
    }
}

fn on_message(m: ServerMsg, start: Instant, tally: &Tally, others: &mut Vec<String>) {
    let stamp = match &m {
        ServerMsg::Offer { sdp, .. } => sdp.rsplit("t=").next(),
        ServerMsg::Ice { candidate, .. } => candidate.candidate.rsplit("t=").next(),
        ServerMsg::PeerJoined { peer } => {
            others.push(peer.id.clone());
            None
        }
        ServerMsg::Error { message, .. } => {
            eprintln!("server error: {message}");
            tally.errors.fetch_add(1, Ordering::Relaxed);
            None
        }
        _ => None,
    };
    if let Some(sent) = stamp.and_then(|s| s.parse::<u128>().ok()) {
        let now = start.elapsed().as_micros();
        tally.received.fetch_add(1, Ordering::Relaxed);
        tally
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(now.saturating_sub(sent) as u64);
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (mut child, base, pid) = match &args.server {
        Some(url) => (None, url.trim_end_matches('/').to_string(), args.server_pid),
        None => match start_server() {
            Ok((c, url)) => {
                let pid = c.id();
                (Some(c), url, Some(pid))
            }
            Err(e) => {
                eprintln!("bytemeet-rooms-load: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let authority = base.trim_start_matches("http://").to_string();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bytemeet-rooms-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tally = Arc::new(Tally::default());
    let rss_start = pid.and_then(rss_kib);
    let (rss_joined, rss_series, relayed_for) = runtime.block_on(async {
        let start = Instant::now();
        let ready = Arc::new(tokio::sync::Barrier::new(args.peers + 1));
        let go = Arc::new(tokio::sync::Notify::new());
        let until = Arc::new(OnceLock::new());
        let mut tasks = Vec::new();
        for i in 0..args.peers {
            let p = Peer {
                authority: authority.clone(),
                room: format!("load-{}", i % args.rooms.max(1)),
                index: i,
                start,
                until: until.clone(),
                rate: args.rate,
                tally: tally.clone(),
                ready: ready.clone(),
                go: go.clone(),
            };
            tasks.push(tokio::spawn(p.run()));
        }
        ready.wait().await;
        // Everyone is in: a moment for the joins to settle, then measure.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_joined = pid.and_then(rss_kib);
        let began = Instant::now();
        let _ = until.set(began + Duration::from_secs(args.secs));
        go.notify_waiters();
        // The server's memory every 10 s while relaying.
        let sampler = tokio::spawn(async move {
            let mut series = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                if began.elapsed() > Duration::from_secs(args.secs) {
                    break;
                }
                series.push(pid.and_then(rss_kib));
            }
            series
        });
        for t in tasks {
            let _ = t.await;
        }
        let series = sampler.await.unwrap_or_default();
        (
            rss_joined,
            series,
            began.elapsed().min(Duration::from_secs(args.secs)),
        )
    });
    let rss_end = rss_series.last().copied().flatten();
    let mut lat = tally
        .latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    lat.sort_unstable();
    let sent = tally.sent.load(Ordering::Relaxed);
    let received = tally.received.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    let secs = relayed_for.as_secs_f64().max(0.001);
    println!(
        "{} peers in {} rooms for {:.0} s: {sent} sent, {received} relayed ({:.0} messages/s), {errors} errors",
        args.peers,
        args.rooms,
        secs,
        received as f64 / secs
    );
    println!(
        "relay latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );
    let kib =
        |v: Option<u64>| v.map_or("?".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    let series: Vec<String> = rss_series.iter().map(|v| kib(*v)).collect();
    println!(
        "server RSS: {} at start, {} with everyone joined, every 10 s while relaying: [{}]",
        kib(rss_start),
        kib(rss_joined),
        series.join(", ")
    );
    let mut ok = errors == 0 && received == sent && sent > 0;
    if received != sent {
        eprintln!(
            "lost: {} of {sent} messages never arrived",
            sent.saturating_sub(received)
        );
    }
    // Relaying keeps no state: once its buffers are warm (the first sample)
    // the server must not keep growing with the messages.
    if let (Some(Some(a)), Some(b)) = (rss_series.first(), rss_end) {
        if b > a + 4 * 1024 {
            eprintln!("the server grew by {} KiB while relaying", b - a);
            ok = false;
        }
    }
    if let Some(c) = child.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
