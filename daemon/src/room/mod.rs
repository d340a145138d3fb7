//! The daemon in ByteMeet rooms: joins a room as a participant over the
//! rooms' Socket.io signalling (`bytemeet_rooms::client`) and sends the
//! processed camera to every other participant over WebRTC.
//!
//! Per room: one encoder thread takes the newest output picture from the
//! `FrameTap`, encodes it once (VP8) at the lowest bitrate any viewer's
//! congestion control allows, and hands the frame to every viewer's peer
//! connection. A signalling task keeps the room: a [`session::RoomSession`]
//! (no I/O) decides how to negotiate with each peer and when to reconnect
//! after a network or server drop; the task's `Driver` carries that out
//! with the socket and the peer connections.

pub mod peer;
pub mod session;
pub mod stamp;
pub mod tap;
pub mod vp8;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytemeet_proto::RoomState;
use bytemeet_rooms::client::{Connection, Incoming, RoomUrl};
use tokio::sync::{broadcast, mpsc, watch};

use crate::convert::{FormatPools, FrameVariants};
use crate::frame::{PixelFormat, SharedFrame};
use crate::say_once::SayOnce;
use crate::stats::Stats;
use peer::{Feedback, Peer, PeerEvent};
use session::{Input, Output, RoomSession};
use tap::FrameTap;

/// One encoded picture, shared by every viewer of a room.
#[derive(Debug)]
pub struct EncodedFrame {
    pub data: bytes::Bytes,
    pub keyframe: bool,
    pub duration: Duration,
    pub captured_at: Instant,
}

/// Per-room encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomSettings {
    /// The most the encoder sends, whatever congestion control allows.
    pub max_kbps: u32,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings { max_kbps: 2500 }
    }
}

/// A joined room, as `JoinedRooms` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub id: String,
    pub url: String,
    pub name: String,
    pub state: RoomState,
}

/// Why joining or leaving failed.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error(transparent)]
    Url(#[from] bytemeet_rooms::client::ClientError),
    #[error("already in room {0:?} (`bytemeetctl room list`)")]
    AlreadyIn(String),
    #[error("not in a room {0:?} (`bytemeetctl room list` shows the rooms joined)")]
    NotIn(String),
    #[error("cannot start the rooms' worker: {0}")]
    Runtime(String),
}

struct Joined {
    info: Arc<Mutex<RoomInfo>>,
    stop: watch::Sender<bool>,
    encoder: Option<std::thread::JoinHandle<()>>,
}

/// Every joined room.
pub struct JoinedRooms {
    /// Always `Some` until dropped (taken there to shut down without
    /// blocking, which an async caller's thread may not do).
    runtime: Option<tokio::runtime::Runtime>,
    tap: Arc<FrameTap>,
    stats: Arc<Stats>,
    fps: u32,
    /// Draw each frame's capture time into the video (latency benchmark).
    stamp: bool,
    joined: Mutex<BTreeMap<String, Joined>>,
}

impl std::fmt::Debug for JoinedRooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinedRooms").finish_non_exhaustive()
    }
}

impl JoinedRooms {
    pub fn new(tap: Arc<FrameTap>, stats: Arc<Stats>, fps: u32) -> Result<Self, RoomError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rooms")
            .enable_all()
            .build()
            .map_err(|e| RoomError::Runtime(e.to_string()))?;
        Ok(JoinedRooms {
            runtime: Some(runtime),
            tap,
            stats,
            fps: fps.max(1),
            stamp: std::env::var_os(stamp::ENV).is_some_and(|v| v == "1"),
            joined: Mutex::new(BTreeMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Joined>> {
        self.joined.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins the room at `url` as `name`; returns the room's id here.
    pub fn join(&self, url: &str, name: &str, settings: RoomSettings) -> Result<String, RoomError> {
        let target = RoomUrl::parse(url)?;
        let mut joined = self.lock();
        let id = target.room.clone();
        if joined.contains_key(&id) {
            return Err(RoomError::AlreadyIn(id));
        }
        let info = Arc::new(Mutex::new(RoomInfo {
            id: id.clone(),
            url: target.page(),
            name: name.to_string(),
            state: RoomState::Connecting,
        }));
        let (stop, stop_rx) = watch::channel(false);
        let (frames, _) = broadcast::channel::<Arc<EncodedFrame>>(8);
        let keyframe = Arc::new(AtomicBool::new(true));
        let viewers: Viewers = Arc::new(Mutex::new(HashMap::new()));
        let encoder = {
            let ctx = EncoderCtx {
                reader: self.tap.reader(),
                frames: frames.clone(),
                keyframe: keyframe.clone(),
                viewers: viewers.clone(),
                stop: stop_rx.clone(),
                settings,
                fps: self.fps,
                stats: self.stats.clone(),
                room: id.clone(),
                stamp: self.stamp,
            };
            std::thread::Builder::new()
                .name("room-encode".into())
                .spawn(move || encode_loop(ctx))
                .map_err(|e| RoomError::Runtime(e.to_string()))?
        };
        let (peer_tx, _) = mpsc::unbounded_channel();
        let driver = Driver {
            target,
            info: info.clone(),
            frames,
            keyframe,
            viewers,
            stop: stop_rx,
            conn: None,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            peers: HashMap::new(),
            peer_tx,
        };
        match &self.runtime {
            Some(rt) => drop(rt.spawn(driver.run(name.to_string()))),
            None => return Err(RoomError::Runtime("shutting down".into())),
        }
        tracing::info!(room = %id, url, "joining room");
        joined.insert(
            id.clone(),
            Joined {
                info,
                stop,
                encoder: Some(encoder),
            },
        );
        Ok(id)
    }

    /// Leaves a room: peers are told, connections closed.
    pub fn leave(&self, id: &str) -> Result<(), RoomError> {
        let room = self
            .lock()
            .remove(id)
            .ok_or_else(|| RoomError::NotIn(id.to_string()))?;
        Self::stop(room);
        tracing::info!(room = id, "left room");
        Ok(())
    }

    fn stop(mut room: Joined) {
        let _ = room.stop.send(true);
        if let Some(h) = room.encoder.take() {
            let _ = h.join();
        }
    }

    pub fn list(&self) -> Vec<RoomInfo> {
        self.lock()
            .values()
            .map(|j| j.info.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// Leaves every room (on shutdown), giving each a moment to say so.
    pub fn leave_all(&self) {
        let rooms: Vec<Joined> = std::mem::take(&mut *self.lock()).into_values().collect();
        if rooms.is_empty() {
            return;
        }
        for r in rooms {
            Self::stop(r);
        }
        // The sessions send their goodbye on the runtime.
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for JoinedRooms {
    fn drop(&mut self) {
        self.leave_all();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The rooms service, owned by `main` and used by control: the frame loop
/// only ever sees the `FrameTap`. The runtime and threads of
/// [`JoinedRooms`] are made on the first join.
pub struct Rooms {
    tap: Arc<FrameTap>,
    stats: Arc<Stats>,
    fps: u32,
    joined: std::sync::OnceLock<Result<JoinedRooms, String>>,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms")
            .field("fps", &self.fps)
            .finish_non_exhaustive()
    }
}

impl Rooms {
    /// Rooms fed from `tap` (the loop's output pictures) at `fps`.
    pub fn new(tap: Arc<FrameTap>, stats: Arc<Stats>, fps: f64) -> Self {
        Rooms {
            tap,
            stats,
            fps: fps.round().clamp(1.0, 240.0) as u32,
            joined: std::sync::OnceLock::new(),
        }
    }

    /// The joined rooms, started on first use.
    pub fn joined(&self) -> Result<&JoinedRooms, String> {
        self.joined
            .get_or_init(|| {
                JoinedRooms::new(self.tap.clone(), self.stats.clone(), self.fps)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The rooms joined so far (none if rooms were never used).
    pub fn list(&self) -> Vec<RoomInfo> {
        match self.joined.get() {
            Some(Ok(r)) => r.list(),
            _ => Vec::new(),
        }
    }

    /// Leaves a room joined before.
    pub fn leave(&self, id: &str) -> Result<(), RoomError> {
        match self.joined.get() {
            Some(Ok(r)) => r.leave(id),
            _ => Err(RoomError::NotIn(id.to_string())),
        }
    }

    /// Leaves every room (on shutdown).
    pub fn leave_all(&self) {
        if let Some(Ok(r)) = self.joined.get() {
            r.leave_all();
        }
    }
}

/// Each connected viewer's feedback, by peer id.
type Viewers = Arc<Mutex<HashMap<String, Arc<Feedback>>>>;

struct EncoderCtx {
    reader: tap::TapReader,
    frames: broadcast::Sender<Arc<EncodedFrame>>,
    keyframe: Arc<AtomicBool>,
    viewers: Viewers,
    stop: watch::Receiver<bool>,
    settings: RoomSettings,
    fps: u32,
    stats: Arc<Stats>,
    room: String,
    stamp: bool,
}

/// The bitrate for the room: the lowest of the connected viewers'
/// estimates, within the room's ceiling.
fn room_kbps(estimates_bps: impl Iterator<Item = f64>, max_kbps: u32) -> u32 {
    let lowest = estimates_bps
        .filter(|b| *b > 0.0)
        .fold(f64::INFINITY, f64::min);
    if lowest.is_finite() {
        ((lowest / 1000.0) as u32).clamp(vp8::MIN_KBPS, max_kbps.max(vp8::MIN_KBPS))
    } else {
        max_kbps
    }
}

fn encode_loop(mut ctx: EncoderCtx) {
    let mut encoder: Option<vp8::Encoder> = None;
    let mut scratch = Scratch::default();
    let frame_ms = 1000 / ctx.fps;
    let mut last_taken: Option<Instant> = None;
    let mut half = false;
    let stage = format!("room {} encode", ctx.room);
    let mut problem = SayOnce::new();
    while !*ctx.stop.borrow() {
        let Some(frame) = ctx.reader.next(Duration::from_millis(200)) else {
            continue;
        };
        let estimates: Vec<f64> = {
            let v = ctx.viewers.lock().unwrap_or_else(|p| p.into_inner());
            v.values()
                .filter(|f| f.connected.load(Ordering::Relaxed))
                .map(|f| f.target_bps())
                .collect()
        };
        if estimates.is_empty() {
            // Nobody to send to: no encoding.
            continue;
        }
        let t = Instant::now();
        // The RTP clock must follow real time: each frame lasts until the
        // next is taken, whatever the nominal rate (repeats, a slow camera).
        let frame_ms = last_taken.map_or(frame_ms, |at: Instant| {
            (t.saturating_duration_since(at).as_millis() as u32).clamp(1, 1000)
        });
        last_taken = Some(t);
        match encode_one(
            &mut encoder,
            &mut scratch,
            &mut half,
            &frame,
            &ctx,
            &estimates,
            frame_ms,
        ) {
            Ok(Some(e)) => {
                // No receiver: every viewer left between the check and now.
                let _ = ctx.frames.send(Arc::new(e));
                problem.clear();
            }
            Ok(None) => {}
            Err(e) => {
                let msg = e.to_string();
                if problem.first(&msg) {
                    tracing::error!(room = %ctx.room, "{msg}");
                }
            }
        }
        ctx.stats.stage(&stage, t.elapsed());
    }
}

/// Below this many bits per pixel and frame the picture is sent at half
/// size (sharper than a full-size picture starved of bits, and at the full
/// frame rate); above `FULL_BPP` at full size again. The gap keeps it from
/// flapping.
const HALF_BPP: f64 = 0.03;
const FULL_BPP: f64 = 0.05;

/// Whether to send a `w`x`h` picture at half size at `kbps`.
fn send_half(half: bool, kbps: u32, w: u32, h: u32, fps: u32) -> bool {
    if w < 640 {
        return false;
    }
    let bpp = f64::from(kbps) * 1000.0 / (f64::from(w) * f64::from(h) * f64::from(fps.max(1)));
    if half {
        bpp < FULL_BPP
    } else {
        bpp < HALF_BPP
    }
}

/// An I420 picture at half width and height (2x2 averages), even sizes.
pub fn halve_i420(src: &[u8], w: u32, h: u32) -> (Vec<u8>, u32, u32) {
    let mut out = Vec::new();
    let (w2, h2) = halve_i420_into(src, w, h, &mut out);
    (out, w2, h2)
}

/// [`halve_i420`] into `out`, whose allocation is reused from frame to frame.
pub fn halve_i420_into(src: &[u8], w: u32, h: u32, out: &mut Vec<u8>) -> (u32, u32) {
    let (w2, h2) = ((w / 2) & !1, (h / 2) & !1);
    out.clear();
    out.reserve((w2 * h2 * 3 / 2) as usize);
    let planes = [
        (0usize, w as usize, w2 as usize, h2 as usize),
        (
            (w * h) as usize,
            (w / 2) as usize,
            (w2 / 2) as usize,
            (h2 / 2) as usize,
        ),
        (
            (w * h + (w / 2) * (h / 2)) as usize,
            (w / 2) as usize,
            (w2 / 2) as usize,
            (h2 / 2) as usize,
        ),
    ];
    for (start, stride, pw, ph) in planes {
        for y in 0..ph {
            let r0 = start + 2 * y * stride;
            let r1 = r0 + stride;
            for x in 0..pw {
                let sum = u16::from(src[r0 + 2 * x])
                    + u16::from(src[r0 + 2 * x + 1])
                    + u16::from(src[r1 + 2 * x])
                    + u16::from(src[r1 + 2 * x + 1]);
                out.push(((sum + 2) / 4) as u8);
            }
        }
    }
    (w2, h2)
}

/// Buffers the encoder thread reuses from frame to frame: the I420
/// conversion's pool and the picture it changes (halved or stamped).
#[derive(Debug, Default)]
struct Scratch {
    pools: FormatPools,
    own: Vec<u8>,
}

fn encode_one(
    encoder: &mut Option<vp8::Encoder>,
    scratch: &mut Scratch,
    half: &mut bool,
    frame: &SharedFrame,
    ctx: &EncoderCtx,
    estimates: &[f64],
    frame_ms: u32,
) -> Result<Option<EncodedFrame>, vp8::VpxError> {
    let (fw, fh) = (frame.size.width & !1, frame.size.height & !1);
    let kbps = room_kbps(estimates.iter().copied(), ctx.settings.max_kbps);
    let was_half = *half;
    *half = send_half(*half, kbps, fw, fh, ctx.fps);
    if *half != was_half {
        tracing::info!(room = %ctx.room, kbps, half = *half, "picture size follows the bitrate");
    }
    let (w, h) = if *half {
        ((fw / 2) & !1, (fh / 2) & !1)
    } else {
        (fw, fh)
    };
    if encoder
        .as_ref()
        .is_none_or(|e| (e.config().width, e.config().height) != (w, h))
    {
        *encoder = Some(vp8::Encoder::new(vp8::EncoderConfig::new(
            w, h, ctx.fps, kbps,
        ))?);
        ctx.keyframe.store(true, Ordering::Relaxed);
    }
    let Some(enc) = encoder.as_mut() else {
        return Ok(None);
    };
    if enc.config().bitrate_kbps.abs_diff(kbps) * 10 > enc.config().bitrate_kbps {
        tracing::debug!(room = %ctx.room, kbps, "bitrate");
        enc.set_bitrate(kbps)?;
    }
    let i420 = if frame.format == PixelFormat::I420 && frame.size.width == w {
        frame.clone()
    } else {
        FrameVariants::pooled(frame.clone(), scratch.pools.clone())
            .get(PixelFormat::I420)
            .map_err(|e| vp8::VpxError::input(e.to_string()))?
    };
    let key = ctx.keyframe.swap(false, Ordering::Relaxed);
    let own = &mut scratch.own;
    let changed = if *half {
        halve_i420_into(&i420.data, fw, fh, own);
        true
    } else if ctx.stamp {
        own.clear();
        own.extend_from_slice(&i420.data);
        true
    } else {
        false
    };
    if ctx.stamp {
        stamp::draw(own, w, h, stamp::wall_ms(frame.captured_at));
    }
    let picture = if changed { &own[..] } else { &i420.data[..] };
    Ok(enc.encode(picture, frame_ms, key)?.map(|e| EncodedFrame {
        data: bytes::Bytes::from(e.data),
        keyframe: e.keyframe,
        duration: Duration::from_millis(frame_ms.into()),
        captured_at: frame.captured_at,
    }))
}

/// The local address that reaches `authority`: peer connections bind
/// there, so a server on loopback gets loopback candidates and one on the
/// LAN gets the LAN address. The name is resolved without blocking the
/// runtime; connecting a UDP socket sends nothing.
async fn local_ip_towards(authority: &str) -> IpAddr {
    let fallback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let Ok(mut addrs) = tokio::net::lookup_host(authority).await else {
        return fallback;
    };
    let Some(to) = addrs.next() else {
        return fallback;
    };
    let probe = || -> std::io::Result<IpAddr> {
        let any: IpAddr = if to.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        };
        let s = UdpSocket::bind((any, 0))?;
        s.connect(to)?;
        Ok(s.local_addr()?.ip())
    };
    probe().unwrap_or(fallback)
}

/// The driver of one room: carries out what its [`RoomSession`] decides,
/// with the socket to the server and the peer connections, and feeds it
/// what happens.
struct Driver {
    target: RoomUrl,
    info: Arc<Mutex<RoomInfo>>,
    frames: broadcast::Sender<Arc<EncodedFrame>>,
    keyframe: Arc<AtomicBool>,
    viewers: Viewers,
    stop: watch::Receiver<bool>,
    conn: Option<Connection>,
    bind_ip: IpAddr,
    peers: HashMap<String, Peer>,
    peer_tx: mpsc::UnboundedSender<PeerEvent>,
}

impl Driver {
    fn show(&self, state: &RoomState) {
        let mut info = self.info.lock().unwrap_or_else(|p| p.into_inner());
        if &info.state != state {
            tracing::info!(room = %info.id, state = %state, "room");
            info.state = state.clone();
        }
    }

    async fn run(mut self, name: String) {
        let (peer_tx, mut peer_rx) = mpsc::unbounded_channel();
        self.peer_tx = peer_tx;
        let mut session = RoomSession::new(&self.target.room, &name, Instant::now());
        loop {
            while let Some(out) = session.poll_output() {
                if let Some(input) = self.carry_out(out).await {
                    session.handle(input, Instant::now());
                }
            }
            self.show(session.state());
            if session.is_done() {
                break;
            }
            let due = session.poll_timeout();
            let input = tokio::select! {
                ev = recv(&mut self.conn) => Some(match ev {
                    Some(Incoming::Msg(msg)) => Input::Server(msg),
                    Some(Incoming::Unknown(event, _)) => {
                        tracing::debug!(room = %self.target.room, %event, "an event this version does not know: ignored");
                        continue;
                    }
                    None => Input::Lost("the server closed the connection".into()),
                }),
                Some(ev) = peer_rx.recv() => Some(match ev {
                    PeerEvent::Candidate { peer, candidate } => Input::LocalCandidate { peer, candidate },
                    PeerEvent::Connected { peer } => Input::PeerConnected { peer },
                    PeerEvent::Failed { peer } => Input::PeerFailed { peer },
                }),
                _ = sleep_until(due) => None,
                _ = self.stop.changed() => Some(Input::Leave),
            };
            match input {
                Some(input) => session.handle(input, Instant::now()),
                None => session.handle_timeout(Instant::now()),
            }
        }
        self.viewers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Does one thing the session asked for; what came of it, if the
    /// session needs to know.
    async fn carry_out(&mut self, out: Output) -> Option<Input> {
        let room = &self.target.room;
        match out {
            Output::Connect => {
                let open = tokio::select! {
                    c = Connection::open(&self.target.authority) => c,
                    _ = self.stop.changed() => return Some(Input::Leave),
                };
                match open {
                    Ok(conn) => {
                        self.conn = Some(conn);
                        self.bind_ip = local_ip_towards(&self.target.authority).await;
                        Some(Input::Connected)
                    }
                    Err(e) => Some(Input::Lost(e.to_string())),
                }
            }
            Output::Send(msg) => {
                let conn = self.conn.as_ref()?;
                conn.send(&msg)
                    .err()
                    .map(|e| Input::Lost(format!("sending to the room server failed: {e}")))
            }
            Output::Disconnect => {
                if self.conn.is_some() {
                    // Let a goodbye go out before the socket closes.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                self.conn = None;
                None
            }
            Output::Offer { peer } => {
                let p = match self.new_peer(&peer).await {
                    Ok(p) => p,
                    Err(error) => return Some(Input::PeerError { peer, error }),
                };
                let made = p.offer().await;
                self.peers.insert(peer.clone(), p);
                Some(match made {
                    Ok(sdp) => Input::LocalOffer { peer, sdp },
                    Err(e) => Input::PeerError {
                        peer,
                        error: e.to_string(),
                    },
                })
            }
            Output::Answer { peer, sdp } => {
                let mut p = match self.new_peer(&peer).await {
                    Ok(p) => p,
                    Err(error) => return Some(Input::PeerError { peer, error }),
                };
                let made = p.answer(sdp).await;
                self.peers.insert(peer.clone(), p);
                Some(match made {
                    Ok(sdp) => Input::LocalAnswer { peer, sdp },
                    Err(e) => Input::PeerError {
                        peer,
                        error: e.to_string(),
                    },
                })
            }
            Output::TakeAnswer { peer, sdp } => {
                let p = self.peers.get_mut(&peer)?;
                p.answered(sdp).await.err().map(|e| Input::PeerError {
                    peer,
                    error: e.to_string(),
                })
            }
            Output::AddCandidate { peer, candidate } => {
                if let Some(p) = self.peers.get(&peer) {
                    p.candidate(candidate).await;
                }
                None
            }
            Output::ViewerUp { peer } => {
                if let Some(p) = self.peers.get(&peer) {
                    tracing::info!(%room, %peer, "viewer connected");
                    self.viewers
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(peer, p.feedback.clone());
                }
                None
            }
            Output::ClosePeer { peer } => {
                self.viewers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&peer);
                if let Some(p) = self.peers.remove(&peer) {
                    p.close().await;
                }
                None
            }
        }
    }

    async fn new_peer(&self, id: &str) -> Result<Peer, String> {
        Peer::new(
            id,
            self.bind_ip,
            &self.frames,
            self.keyframe.clone(),
            self.peer_tx.clone(),
        )
        .await
        .map_err(|e| e.to_string())
    }
}

/// The next event of the connection, or never when there is none.
async fn recv(conn: &mut Option<Connection>) -> Option<Incoming> {
    match conn {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `due`, or forever when nothing is due.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_sends_what_its_slowest_viewer_can_take() {
        assert_eq!(room_kbps([].into_iter(), 2500), 2500);
        assert_eq!(room_kbps([3e6, 800e3].into_iter(), 2500), 800);
        assert_eq!(room_kbps([9e6].into_iter(), 2500), 2500);
        assert_eq!(room_kbps([20e3].into_iter(), 2500), vp8::MIN_KBPS);
        // Not yet estimated (0) does not count.
        assert_eq!(room_kbps([0.0, 1.2e6].into_iter(), 2500), 1200);
    }

    #[test]
    fn starved_pictures_go_half_size_and_come_back_with_room_to_spare() {
        // 1280x720 at 30 fps: half below ~830 kbit/s, full again above ~1380.
        assert!(!send_half(false, 2500, 1280, 720, 30));
        assert!(send_half(false, 600, 1280, 720, 30));
        assert!(send_half(true, 1000, 1280, 720, 30), "held in the gap");
        assert!(!send_half(false, 1000, 1280, 720, 30), "held in the gap");
        assert!(!send_half(true, 1500, 1280, 720, 30));
        // Small pictures are never halved.
        assert!(!send_half(false, 100, 320, 180, 30));
    }

    #[test]
    fn halving_averages_each_plane() {
        let (w, h) = (8u32, 4u32);
        let mut p: Vec<u8> = (0..w * h).map(|i| (i % w) as u8 * 10).collect();
        p.extend(std::iter::repeat_n(100u8, (w * h / 4) as usize));
        p.extend(std::iter::repeat_n(200u8, (w * h / 4) as usize));
        let (q, w2, h2) = halve_i420(&p, w, h);
        assert_eq!((w2, h2), (4, 2));
        assert_eq!(q.len(), 12);
        assert_eq!(&q[..4], &[5, 25, 45, 65]);
        assert_eq!(&q[8..10], &[100, 100]);
        assert_eq!(&q[10..], &[200, 200]);
    }

    #[test]
    fn the_local_address_towards_loopback_is_loopback() {
        assert_eq!(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(local_ip_towards("127.0.0.1:3030")),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }
}
