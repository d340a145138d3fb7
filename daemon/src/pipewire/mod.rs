//! The PipeWire edge: publishes "ByteMeet Camera" as a `Video/Source` node
//! that camera-aware apps (browsers through the Camera portal, OBS, GStreamer)
//! list as a camera, with no kernel module.
//!
//! One thread owns every PipeWire object (they are not `Send`). The output
//! thread hands it the newest picture through a one-slot mailbox and a wake-up
//! message; the PipeWire thread copies it into a shared-memory buffer of the
//! format a consumer negotiated, stamps a `SPA_META_Header`, and drives the
//! graph (the node is its own driver). It never waits on the frame loop nor
//! the frame loop on it. When PipeWire goes away the thread reconnects with a
//! back-off and publishes the node again under the same name.

pub mod format;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipewire as pw;
use pw::spa;

pub use format::{offers, Offer};

use crate::frame::{SharedFrame, Size};
use crate::say_once::SayOnce;

/// The node name consumers find the camera by; stable across restarts.
pub const NODE_NAME: &str = "bytemeet-camera";
/// What apps show in their camera list.
pub const NODE_DESCRIPTION: &str = "ByteMeet Camera";

const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How the node is published.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node name (`node.name`).
    pub name: String,
    /// The name apps show (`node.description`).
    pub description: String,
    /// The output size and frame rate: the first offer, the others are smaller.
    pub size: Size,
    pub fps: f64,
    /// The format of the first offer (what the daemon packs on the GPU).
    pub format: crate::frame::PixelFormat,
}

impl NodeConfig {
    pub fn camera(size: Size, fps: f64, format: crate::frame::PixelFormat) -> Self {
        NodeConfig {
            name: NODE_NAME.into(),
            description: NODE_DESCRIPTION.into(),
            size,
            fps,
            format,
        }
    }
}

/// What the PipeWire thread reports, read by the sink and by `status`.
#[derive(Debug, Default)]
pub struct NodeState {
    /// Connected to a PipeWire daemon and the node exists.
    pub published: AtomicBool,
    /// The node's id on the current connection (0 when none).
    pub node_id: AtomicU32,
    /// Links from the node to consumers.
    pub consumers: Arc<AtomicU32>,
    /// Frames handed to consumers.
    pub frames_sent: AtomicU64,
    /// Frames that found no free buffer (every consumer still held one).
    pub frames_skipped: AtomicU64,
    /// Time spent copying pictures into PipeWire's buffers, in total.
    pub fill_ns: AtomicU64,
    /// The format and size consumers agreed on, when streaming.
    negotiated: Mutex<Option<Offer>>,
    /// The newest picture not yet sent.
    mailbox: Mutex<Option<SharedFrame>>,
    /// When each of the last frames was queued to PipeWire, by sequence
    /// number in the buffer header (for latency measurements).
    pub last_queued: Mutex<Option<(u64, Instant)>>,
}

impl NodeState {
    pub fn negotiated(&self) -> Option<Offer> {
        *self.negotiated.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_negotiated(&self, offer: Option<Offer>) {
        *self.negotiated.lock().unwrap_or_else(|p| p.into_inner()) = offer;
    }
}

enum Wake {
    Frame,
    Stop,
}

/// A published camera node and the thread that serves it.
pub struct Published {
    state: Arc<NodeState>,
    waker: Arc<Mutex<Option<pw::channel::Sender<Wake>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    config: NodeConfig,
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Published")
            .field("config", &self.config)
            .field("state", &self.state)
            .finish()
    }
}

/// Whether a PipeWire daemon seems to serve this session: its socket exists.
pub fn session_available() -> bool {
    socket_path().is_some_and(|p| p.exists())
}

/// The socket libpipewire connects to (`$PIPEWIRE_REMOTE` or `pipewire-0`
/// in `$PIPEWIRE_RUNTIME_DIR`, `$XDG_RUNTIME_DIR`).
pub fn socket_path() -> Option<std::path::PathBuf> {
    let remote = std::env::var("PIPEWIRE_REMOTE").unwrap_or_else(|_| "pipewire-0".into());
    let remote = std::path::PathBuf::from(remote);
    if remote.is_absolute() {
        return Some(remote);
    }
    ["PIPEWIRE_RUNTIME_DIR", "XDG_RUNTIME_DIR"]
        .iter()
        .find_map(std::env::var_os)
        .map(|dir| std::path::PathBuf::from(dir).join(remote))
}

impl Published {
    /// Starts the thread that publishes the node. It connects in the
    /// background: a PipeWire that is not there yet (or restarts) is waited for.
    pub fn start(config: NodeConfig) -> std::io::Result<Self> {
        let state = Arc::new(NodeState::default());
        let waker = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, waker, stop, config) =
                (state.clone(), waker.clone(), stop.clone(), config.clone());
            std::thread::Builder::new()
                .name("pipewire".into())
                .spawn(move || serve(config, state, waker, stop))?
        };
        Ok(Published {
            state,
            waker,
            stop,
            thread: Some(thread),
            config,
        })
    }

    pub fn state(&self) -> &Arc<NodeState> {
        &self.state
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Hands over the newest picture (already in the negotiated format and
    /// size) and wakes the PipeWire thread. Never blocks on PipeWire: an
    /// unsent older picture is replaced.
    pub fn send(&self, frame: SharedFrame) {
        *self.state.mailbox.lock().unwrap_or_else(|p| p.into_inner()) = Some(frame);
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = waker.as_ref() {
            // Fails only while the connection is being torn down; the next
            // connection starts from the mailbox anyway.
            let _ = w.send(Wake::Frame);
        }
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self
            .waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = w.send(Wake::Stop);
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the PipeWire thread panicked");
            }
        }
    }
}

/// How one connection ended.
enum Ended {
    Stopped,
    Lost(String),
}

fn serve(
    config: NodeConfig,
    state: Arc<NodeState>,
    waker: Arc<Mutex<Option<pw::channel::Sender<Wake>>>>,
    stop: Arc<AtomicBool>,
) {
    pw::init();
    let mut retry = RETRY_FIRST;
    let mut problem = SayOnce::new();
    while !stop.load(Ordering::Relaxed) {
        let result = connect_once(&config, &state, &waker, &stop);
        *waker.lock().unwrap_or_else(|p| p.into_inner()) = None;
        state.published.store(false, Ordering::Relaxed);
        state.node_id.store(0, Ordering::Relaxed);
        state.consumers.store(0, Ordering::Relaxed);
        state.set_negotiated(None);
        let why = match result {
            Ok(Ended::Stopped) => break,
            Ok(Ended::Lost(why)) => {
                retry = RETRY_FIRST;
                format!("PipeWire connection lost ({why}); publishing {:?} again when it is back", config.description)
            }
            Err(e) => format!(
                "cannot publish {:?} on PipeWire ({e}); is PipeWire running for this user (systemctl --user status pipewire wireplumber)? Retrying",
                config.description
            ),
        };
        // Say each distinct problem once, not at every retry.
        if problem.first(&why) {
            tracing::warn!("{why}");
        }
        let until = Instant::now() + retry;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// What the stream's callbacks keep between calls.
struct StreamData {
    state: Arc<NodeState>,
    offers: Vec<Offer>,
    seq: u64,
}

fn connect_once(
    config: &NodeConfig,
    state: &Arc<NodeState>,
    waker: &Arc<Mutex<Option<pw::channel::Sender<Wake>>>>,
    stop: &AtomicBool,
) -> Result<Ended, pw::Error> {
    let mainloop = pw::main_loop::MainLoopRc::new(None)?;
    let context = pw::context::ContextRc::new(&mainloop, None)?;
    let core = context.connect_rc(None)?;
    let ended: Rc<Cell<Option<String>>> = Rc::new(Cell::new(None));

    let _core_listener = core
        .add_listener_local()
        .error({
            let (mainloop, ended) = (mainloop.clone(), ended.clone());
            move |id, _seq, res, message| {
                if id == pw::core::PW_ID_CORE {
                    ended.set(Some(format!("{message} ({res})")));
                    mainloop.quit();
                } else {
                    tracing::debug!(id, res, "PipeWire: {message}");
                }
            }
        })
        .register();

    let offers = offers(config.size, config.format);
    let stream = pw::stream::StreamRc::new(
        core.clone(),
        &config.name,
        pw::properties::properties! {
            *pw::keys::MEDIA_CLASS => "Video/Source",
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Camera",
            *pw::keys::NODE_NAME => config.name.as_str(),
            *pw::keys::NODE_DESCRIPTION => config.description.as_str(),
            *pw::keys::APP_NAME => "bytemeetd",
            "node.nick" => config.description.as_str(),
        },
    )?;
    let _stream_listener = stream
        .add_local_listener_with_user_data(StreamData {
            state: state.clone(),
            offers: offers.clone(),
            seq: 0,
        })
        .state_changed({
            let (mainloop, ended) = (mainloop.clone(), ended.clone());
            move |stream, data, old, new| {
                tracing::debug!("PipeWire stream {old:?} -> {new:?}");
                match new {
                    pw::stream::StreamState::Error(why) => {
                        ended.set(Some(why));
                        mainloop.quit();
                    }
                    pw::stream::StreamState::Paused | pw::stream::StreamState::Streaming => {
                        let id = stream.node_id();
                        if data.state.node_id.swap(id, Ordering::Relaxed) != id {
                            data.state.published.store(true, Ordering::Relaxed);
                            tracing::info!(node = id, name = %stream.name(), "camera published on PipeWire");
                        }
                    }
                    _ => {}
                }
            }
        })
        .param_changed(|stream, data, id, param| {
            if id != spa::param::ParamType::Format.as_raw() {
                return;
            }
            let Some(param) = param else {
                data.state.set_negotiated(None);
                return;
            };
            let mut info = spa::param::video::VideoInfoRaw::new();
            if let Err(e) = info.parse(param) {
                tracing::warn!("PipeWire: a consumer proposed a format we cannot read ({e})");
                return;
            }
            let Some(offer) = format::matching(&data.offers, &info) else {
                tracing::warn!(
                    "PipeWire: a consumer asked for {:?} {}x{}, which was not offered",
                    info.format(),
                    info.size().width,
                    info.size().height
                );
                return;
            };
            tracing::info!(format = %offer.format, size = %offer.size, "PipeWire consumer format");
            data.state.set_negotiated(Some(offer));
            let (buffers, meta) = (format::buffers_param(offer), format::header_meta_param());
            match (buffers, meta) {
                (Ok(b), Ok(m)) => {
                    let (Some(b), Some(m)) = (spa::pod::Pod::from_bytes(&b), spa::pod::Pod::from_bytes(&m)) else {
                        return;
                    };
                    if let Err(e) = stream.update_params(&mut [b, m]) {
                        tracing::error!("PipeWire: cannot set the buffer parameters: {e}");
                    }
                }
                (Err(e), _) | (_, Err(e)) => tracing::error!("PipeWire: {e}"),
            }
        })
        .process(fill_buffer)
        .register()?;

    let pods = offers
        .iter()
        .map(|o| format::enum_format_param(*o, config.fps))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| pw::Error::CreationFailed)?;
    let mut params: Vec<&spa::pod::Pod> = pods
        .iter()
        .filter_map(|p| spa::pod::Pod::from_bytes(p))
        .collect();
    stream.connect(
        spa::utils::Direction::Output,
        None,
        pw::stream::StreamFlags::DRIVER | pw::stream::StreamFlags::MAP_BUFFERS,
        &mut params,
    )?;

    // Consumers: links whose output is our node.
    let registry = core.get_registry_rc()?;
    let links: Rc<std::cell::RefCell<HashMap<u32, u32>>> = Rc::default();
    let count = {
        let (links, state) = (links.clone(), state.clone());
        move || {
            let node = state.node_id.load(Ordering::Relaxed);
            let n = links.borrow().values().filter(|out| **out == node).count() as u32;
            if state.consumers.swap(n, Ordering::Relaxed) != n {
                tracing::info!(consumers = n, "PipeWire camera consumers");
            }
        }
    };
    let count = Rc::new(count);
    let _registry_listener = registry
        .add_listener_local()
        .global({
            let (links, count) = (links.clone(), count.clone());
            move |global| {
                if global.type_ != pw::types::ObjectType::Link {
                    return;
                }
                let out = global
                    .props
                    .and_then(|p| p.get("link.output.node"))
                    .and_then(|v| v.parse::<u32>().ok());
                if let Some(out) = out {
                    links.borrow_mut().insert(global.id, out);
                    count();
                }
            }
        })
        .global_remove({
            let (links, count) = (links.clone(), count.clone());
            move |id| {
                if links.borrow_mut().remove(&id).is_some() {
                    count();
                }
            }
        })
        .register();

    let (tx, rx) = pw::channel::channel::<Wake>();
    let _receiver = rx.attach(mainloop.loop_(), {
        let (mainloop, stream, state, count) = (
            mainloop.clone(),
            stream.clone(),
            state.clone(),
            count.clone(),
        );
        move |wake| match wake {
            Wake::Frame => {
                // The node id is known once the stream is set up; recount
                // links seen before it was.
                count();
                if state.negotiated().is_some() {
                    if let Err(e) = stream.trigger_process() {
                        tracing::debug!("PipeWire: trigger failed: {e}");
                    }
                }
            }
            Wake::Stop => mainloop.quit(),
        }
    });
    *waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    if stop.load(Ordering::Relaxed) {
        return Ok(Ended::Stopped);
    }
    mainloop.run();
    if let Err(e) = stream.disconnect() {
        tracing::debug!("PipeWire: disconnect: {e}");
    }
    Ok(match ended.take() {
        Some(why) if !stop.load(Ordering::Relaxed) => Ended::Lost(why),
        _ => Ended::Stopped,
    })
}

/// The process callback: copies the newest picture into a free buffer.
fn fill_buffer(stream: &pw::stream::Stream, data: &mut StreamData) {
    let Some(offer) = data.state.negotiated() else {
        return;
    };
    let frame = {
        let mut slot = data.state.mailbox.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(f) if f.format == offer.format && f.size == offer.size => slot.take(),
            // A picture for the previous format: the sink converts the next one.
            Some(_) => None,
            None => None,
        }
    };
    let Some(frame) = frame else {
        return;
    };
    // SAFETY: the stream is valid for the callback; the buffer comes from
    // it and goes back to it below, exactly once.
    let raw = unsafe { stream.dequeue_raw_buffer() };
    if raw.is_null() {
        data.state.frames_skipped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    data.seq += 1;
    let t = Instant::now();
    // SAFETY: `raw` is a buffer of this stream, not yet queued back.
    let copied = unsafe { write_frame(raw, &frame.data, offer, data.seq) };
    data.state
        .fill_ns
        .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    // SAFETY: as above; it is queued back exactly once.
    unsafe {
        stream.queue_raw_buffer(raw);
    }
    if copied {
        data.state.frames_sent.fetch_add(1, Ordering::Relaxed);
        *data
            .state
            .last_queued
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((data.seq, Instant::now()));
    } else {
        data.state.frames_skipped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Copies one picture into a dequeued buffer and fills its header.
///
/// # Safety
/// `raw` must be a buffer dequeued from a stream with mapped buffers.
unsafe fn write_frame(raw: *mut pw::sys::pw_buffer, bytes: &[u8], offer: Offer, seq: u64) -> bool {
    let buf = unsafe { (*raw).buffer };
    if buf.is_null() || unsafe { (*buf).n_datas } < 1 {
        return false;
    }
    let d = unsafe { &mut *(*buf).datas };
    let len = bytes.len();
    if d.data.is_null() || (d.maxsize as usize) < len || d.chunk.is_null() {
        return false;
    }
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), d.data.cast::<u8>(), len);
        let chunk = &mut *d.chunk;
        chunk.offset = 0;
        chunk.size = len as u32;
        chunk.stride = offer.stride() as i32;
        chunk.flags = 0;
    }
    let header = unsafe {
        spa::sys::spa_buffer_find_meta_data(
            buf,
            spa::sys::SPA_META_Header,
            std::mem::size_of::<spa::sys::spa_meta_header>(),
        )
    }
    .cast::<spa::sys::spa_meta_header>();
    if !header.is_null() {
        let h = unsafe { &mut *header };
        h.flags = 0;
        h.offset = 0;
        h.pts = monotonic_ns();
        h.dts_offset = 0;
        h.seq = seq;
    }
    true
}

/// CLOCK_MONOTONIC in nanoseconds, the clock PipeWire stamps with.
pub fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid pointer.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// What `bytemeetd --list-pipewire` (and so `bytemeetctl doctor`) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The PipeWire daemon's version.
    pub version: String,
    /// The session manager's client name (WirePlumber, pipewire-media-session).
    pub session_manager: Option<String>,
    /// The camera node, if published: its id and how many links read it.
    pub node: Option<(u32, u32)>,
}

impl Probe {
    /// Tab-separated lines, one fact each, for `bytemeetctl doctor`.
    pub fn lines(&self, node_name: &str) -> Vec<String> {
        vec![
            format!("pipewire\t{}", self.version),
            format!(
                "session-manager\t{}",
                self.session_manager.as_deref().unwrap_or("-")
            ),
            match self.node {
                Some((id, n)) => format!("node\t{node_name}\t{id}\t{n}"),
                None => format!("node\t{node_name}\t-\t0"),
            },
        ]
    }
}

/// Connects, lists what is there, and says whether the session can carry
/// the camera: the daemon's version, a session manager (without one no app
/// is ever linked to the node), and the node `node_name` with its consumers.
pub fn probe(node_name: &str, timeout: Duration) -> Result<Probe, String> {
    pw::init();
    let fail = |e: pw::Error| format!("cannot connect to PipeWire: {e}");
    let mainloop = pw::main_loop::MainLoopRc::new(None).map_err(fail)?;
    let context = pw::context::ContextRc::new(&mainloop, None).map_err(fail)?;
    let core = context.connect_rc(None).map_err(fail)?;
    let registry = core.get_registry_rc().map_err(fail)?;
    let version: Rc<std::cell::RefCell<Option<String>>> = Rc::default();
    let clients: Rc<std::cell::RefCell<Vec<String>>> = Rc::default();
    let nodes: Rc<std::cell::RefCell<Vec<(u32, String)>>> = Rc::default();
    let links: Rc<std::cell::RefCell<Vec<u32>>> = Rc::default();
    let done = Rc::new(Cell::new(false));
    let pending = core.sync(0).map_err(fail)?;
    let _core_listener = core
        .add_listener_local()
        .info({
            let version = version.clone();
            move |info| *version.borrow_mut() = Some(info.version().to_string())
        })
        .done({
            let (mainloop, done) = (mainloop.clone(), done.clone());
            move |id, seq| {
                if id == pw::core::PW_ID_CORE && seq == pending {
                    done.set(true);
                    mainloop.quit();
                }
            }
        })
        .error({
            let mainloop = mainloop.clone();
            move |_, _, _, _| mainloop.quit()
        })
        .register();
    let _registry_listener = registry
        .add_listener_local()
        .global({
            let (clients, nodes, links) = (clients.clone(), nodes.clone(), links.clone());
            move |g| {
                let prop = |k: &str| g.props.and_then(|p| p.get(k)).map(str::to_string);
                match g.type_ {
                    pw::types::ObjectType::Client => {
                        if let Some(name) = prop("application.name") {
                            clients.borrow_mut().push(name);
                        }
                    }
                    pw::types::ObjectType::Node => {
                        if let Some(name) = prop("node.name") {
                            nodes.borrow_mut().push((g.id, name));
                        }
                    }
                    pw::types::ObjectType::Link => {
                        if let Some(out) = prop("link.output.node").and_then(|v| v.parse().ok()) {
                            links.borrow_mut().push(out);
                        }
                    }
                    _ => {}
                }
            }
        })
        .register();
    let timer = mainloop.loop_().add_timer({
        let mainloop = mainloop.clone();
        move |_| mainloop.quit()
    });
    let _ = timer.update_timer(Some(timeout), None);
    mainloop.run();
    if !done.get() {
        return Err(format!(
            "PipeWire did not answer within {} ms",
            timeout.as_millis()
        ));
    }
    let session_manager = clients
        .borrow()
        .iter()
        .find(|c| {
            let c = c.to_ascii_lowercase();
            c.contains("wireplumber") || c.contains("media-session")
        })
        .cloned();
    let node = nodes
        .borrow()
        .iter()
        .find(|(_, n)| n == node_name)
        .map(|(id, _)| {
            let n = links.borrow().iter().filter(|out| **out == *id).count() as u32;
            (*id, n)
        });
    let version = version.borrow().clone().unwrap_or_else(|| "?".into());
    Ok(Probe {
        version,
        session_manager,
        node,
    })
}
