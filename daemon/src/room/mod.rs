//! The daemon in ByteMeet rooms: joins a room as a participant over the
//! rooms' Socket.io signalling (`bytemeet_rooms::client`) and sends the
//! processed camera to every other participant over WebRTC.
//!
//! Three parts per room: the registry here (`Rooms`, `JoinedRooms`), an
//! `encoder` thread (the newest output picture from the `FrameTap`, encoded
//! once in VP8 for every viewer), and the signalling: a
//! [`session::RoomSession`] (no I/O) decides how to negotiate with each peer
//! and when to reconnect after a network or server drop, and a `driver` task
//! carries that out with the socket and the peer connections.

mod driver;
mod encoder;
pub mod peer;
pub mod preview;
pub mod session;
pub mod stamp;
pub mod tap;
pub mod vp8;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytemeet_proto::RoomState;
use bytemeet_rooms::client::RoomUrl;
use tokio::sync::{broadcast, mpsc, watch};

use crate::stats::Stats;
use driver::Driver;
use encoder::{encode_loop, EncoderCtx, Viewers};
pub use encoder::{halve_i420, halve_i420_into};
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
    /// Send pictures wider than 640 at half width and height whatever
    /// the bitrate (the studio's preview, which the page shows at most 640
    /// wide).
    pub half_size: bool,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            max_kbps: 2500,
            half_size: false,
        }
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
            // A panic in the encoder restarts it (the next picture is a
            // keyframe); the room stays joined.
            let mut ctx = ctx;
            crate::supervise::spawn("room-encode", move || encode_loop(&mut ctx))
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
