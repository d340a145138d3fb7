//! A camera read through PipeWire (`--source pipewire:NODE`): the webcam as
//! the desktop's session manager offers it, which is how cameras reach apps
//! on systems where only PipeWire may open them (libcamera cameras, Flatpak,
//! portals).
//!
//! One thread owns every PipeWire object. It checks that a video source
//! named NODE (its `node.name` or `object.serial`) is there, connects an
//! input stream to it that accepts raw YUY2, NV12 or I420 at any size
//! (preferring the configured size and rate), and copies each buffer into a
//! [`Frame`] with unpadded rows. Frames reach `next_frame` through a
//! two-slot channel; when the pipeline is slower than the camera, the newest
//! frames are the ones dropped, as a V4L2 queue does. The node going away
//! or PipeWire stopping ends the stream with [`SourceError::PipeWire`],
//! which the pipeline retries with back-off like an unplugged webcam.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipewire as pw;
use pw::spa;

use super::{FrameSource, SourceError};
use crate::frame::{Frame, FrameBuf, FramePool, PixelFormat, Size};
use crate::pipewire::format;
use crate::settings::source::SourceRequest;

/// How long a camera may go without a frame before it counts as stalled.
const FRAME_TIMEOUT: Duration = Duration::from_secs(3);
/// How long PipeWire has to answer the first round trip.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

enum Event {
    Frame(Frame),
    Failed(SourceError),
}

/// A PipeWire video source being read.
pub struct PipeWireSource {
    node: String,
    events: Receiver<Event>,
    describe: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    waker: Option<pw::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    seq: u64,
}

impl std::fmt::Debug for PipeWireSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeWireSource")
            .field("node", &self.node)
            .finish()
    }
}

fn failure(node: &str, reason: impl Into<String>) -> SourceError {
    SourceError::PipeWire {
        node: node.to_string(),
        reason: reason.into(),
    }
}

impl PipeWireSource {
    /// Connects to the video source `node` and waits until PipeWire has
    /// answered whether it is there.
    pub fn open(node: &str, req: &SourceRequest) -> Result<PipeWireSource, SourceError> {
        if !crate::pipewire::session_available() {
            return Err(failure(
                node,
                "no PipeWire session for this user (no socket in $XDG_RUNTIME_DIR); start it with `systemctl --user start pipewire wireplumber`",
            ));
        }
        let (tx, events) = mpsc::sync_channel(2);
        let (ready_tx, ready_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let describe = Arc::new(Mutex::new(format!("PipeWire node {node}")));
        let thread = std::thread::Builder::new()
            .name("pw-source".into())
            .spawn({
                let (node, req, stop, describe) =
                    (node.to_string(), *req, stop.clone(), describe.clone());
                move || {
                    if let Err(e) = capture(&node, &req, &tx, &ready_tx, &stop, &describe) {
                        let _ = ready_tx.send(Err(failure(&node, e.to_string())));
                    }
                }
            })
            .map_err(|e| failure(node, format!("cannot start its thread: {e}")))?;
        let mut source = PipeWireSource {
            node: node.to_string(),
            events,
            describe,
            stop,
            waker: None,
            thread: Some(thread),
            seq: 0,
        };
        match ready_rx.recv_timeout(CONNECT_TIMEOUT + Duration::from_secs(1)) {
            Ok(Ok(waker)) => {
                source.waker = Some(waker);
                Ok(source)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(failure(
                node,
                format!(
                    "PipeWire did not answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

impl FrameSource for PipeWireSource {
    fn describe(&self) -> String {
        self.describe
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        match self.events.recv_timeout(FRAME_TIMEOUT) {
            Ok(Event::Frame(mut f)) => {
                f.seq = self.seq;
                self.seq += 1;
                Ok(f)
            }
            Ok(Event::Failed(e)) => Err(e),
            Err(RecvTimeoutError::Timeout) => Err(SourceError::Stalled {
                path: format!("pipewire:{}", self.node),
                waited_ms: FRAME_TIMEOUT.as_millis() as u64,
            }),
            Err(RecvTimeoutError::Disconnected) => {
                Err(failure(&self.node, "the PipeWire thread ended"))
            }
        }
    }
}

impl Drop for PipeWireSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.waker.take() {
            let _ = w.send(());
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the PipeWire source thread panicked");
            }
        }
    }
}

/// A video source node in the registry.
#[derive(Debug, Clone)]
struct NodeInfo {
    name: String,
    serial: String,
    class: String,
}

/// What the stream's callbacks keep between calls.
struct CaptureData {
    node: String,
    format: Option<(PixelFormat, Size)>,
    frames: SyncSender<Event>,
    describe: Arc<Mutex<String>>,
    pool: FramePool,
}

/// The capture thread: runs until `stop`, the node going away, or an error.
fn capture(
    node: &str,
    req: &SourceRequest,
    frames: &SyncSender<Event>,
    ready: &mpsc::Sender<Result<pw::channel::Sender<()>, SourceError>>,
    stop: &AtomicBool,
    describe: &Arc<Mutex<String>>,
) -> Result<(), pw::Error> {
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None)?;
    let context = pw::context::ContextRc::new(&mainloop, None)?;
    let core = context.connect_rc(None)?;
    let registry = core.get_registry_rc()?;
    let nodes: Rc<RefCell<HashMap<u32, NodeInfo>>> = Rc::default();
    let target: Rc<Cell<Option<u32>>> = Rc::default();
    let ended: Rc<RefCell<Option<SourceError>>> = Rc::default();
    let pending = core.sync(0)?;
    let answered = Rc::new(Cell::new(false));

    let _core_listener = core
        .add_listener_local()
        .done({
            let (mainloop, answered) = (mainloop.clone(), answered.clone());
            move |id, seq| {
                if id == pw::core::PW_ID_CORE && seq == pending {
                    answered.set(true);
                    mainloop.quit();
                }
            }
        })
        .error({
            let (mainloop, ended, node) = (mainloop.clone(), ended.clone(), node.to_string());
            move |id, _seq, res, message| {
                if id == pw::core::PW_ID_CORE {
                    *ended.borrow_mut() = Some(failure(
                        &node,
                        format!("PipeWire connection lost ({message}, {res})"),
                    ));
                    mainloop.quit();
                }
            }
        })
        .register();
    let _registry_listener = registry
        .add_listener_local()
        .global({
            let nodes = nodes.clone();
            move |g| {
                if g.type_ != pw::types::ObjectType::Node {
                    return;
                }
                let prop = |k: &str| {
                    g.props
                        .and_then(|p| p.get(k))
                        .unwrap_or_default()
                        .to_string()
                };
                nodes.borrow_mut().insert(
                    g.id,
                    NodeInfo {
                        name: prop("node.name"),
                        serial: prop("object.serial"),
                        class: prop("media.class"),
                    },
                );
            }
        })
        .global_remove({
            let (mainloop, nodes, target, ended, node) = (
                mainloop.clone(),
                nodes.clone(),
                target.clone(),
                ended.clone(),
                node.to_string(),
            );
            move |id| {
                nodes.borrow_mut().remove(&id);
                if target.get() == Some(id) {
                    *ended.borrow_mut() = Some(failure(
                        &node,
                        "the camera node went away (unplugged, or its program stopped); waiting for it to come back",
                    ));
                    mainloop.quit();
                }
            }
        })
        .register();

    // First round trip: the registry as it is now.
    let timer = mainloop.loop_().add_timer({
        let mainloop = mainloop.clone();
        move |_| mainloop.quit()
    });
    let _ = timer.update_timer(Some(CONNECT_TIMEOUT), None);
    mainloop.run();
    let _ = timer.update_timer(None, None);
    if let Some(e) = ended.borrow_mut().take() {
        let _ = ready.send(Err(e));
        return Ok(());
    }
    if !answered.get() {
        let _ = ready.send(Err(failure(node, "PipeWire did not answer")));
        return Ok(());
    }
    let found = nodes
        .borrow()
        .iter()
        .find(|(_, n)| n.name == node || n.serial == node)
        .map(|(id, n)| (*id, n.clone()));
    let Some((id, info)) = found else {
        let mut sources: Vec<String> = nodes
            .borrow()
            .values()
            .filter(|n| n.class == "Video/Source")
            .map(|n| n.name.clone())
            .collect();
        sources.sort();
        let listed = if sources.is_empty() {
            "PipeWire has no video source at all".to_string()
        } else {
            format!("video sources: {}", sources.join(", "))
        };
        let _ = ready.send(Err(failure(
            node,
            format!("no PipeWire node has this node.name or object.serial; {listed} (`pw-cli ls Node` lists every node)"),
        )));
        return Ok(());
    };
    if info.class != "Video/Source" {
        let _ = ready.send(Err(SourceError::NotACamera {
            path: format!("pipewire:{node}"),
            why: format!("its media.class is {:?}, not Video/Source", info.class),
        }));
        return Ok(());
    }
    target.set(Some(id));

    let stream = pw::stream::StreamRc::new(
        core.clone(),
        "bytemeetd camera input",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Camera",
            *pw::keys::APP_NAME => "bytemeetd",
            *pw::keys::TARGET_OBJECT => info.serial.as_str(),
            // Never fall back to another camera when this one goes.
            "node.dont-reconnect" => "true",
        },
    )?;
    let _stream_listener = stream
        .add_local_listener_with_user_data(CaptureData {
            node: node.to_string(),
            format: None,
            frames: frames.clone(),
            describe: describe.clone(),
            pool: FramePool::default(),
        })
        .state_changed({
            let (mainloop, ended, node) = (mainloop.clone(), ended.clone(), node.to_string());
            move |_, _, old, new| {
                tracing::debug!("PipeWire capture {old:?} -> {new:?}");
                if let pw::stream::StreamState::Error(why) = new {
                    *ended.borrow_mut() = Some(failure(&node, format!("stream failed: {why}")));
                    mainloop.quit();
                }
            }
        })
        .param_changed(|stream, data, id, param| {
            if id != spa::param::ParamType::Format.as_raw() {
                return;
            }
            let Some(param) = param else {
                data.format = None;
                return;
            };
            let mut info = spa::param::video::VideoInfoRaw::new();
            if let Err(e) = info.parse(param) {
                tracing::warn!("PipeWire: the camera proposed a format we cannot read ({e})");
                return;
            }
            let Some(pixel) = format::from_spa_format(info.format()) else {
                tracing::warn!("PipeWire: the camera proposed {:?}", info.format());
                return;
            };
            let size = Size::new(info.size().width, info.size().height);
            let rate = info.framerate();
            let fps = if rate.denom > 0 {
                rate.num as f64 / rate.denom as f64
            } else {
                0.0
            };
            tracing::info!(format = %pixel, size = %size, fps, "PipeWire camera format");
            *data.describe.lock().unwrap_or_else(|p| p.into_inner()) =
                format!("PipeWire node {} ({pixel} {size}@{fps:.0})", data.node);
            data.format = Some((pixel, size));
            match format::capture_buffers_param() {
                Ok(b) => {
                    if let Some(b) = spa::pod::Pod::from_bytes(&b) {
                        if let Err(e) = stream.update_params(&mut [b]) {
                            tracing::warn!("PipeWire: cannot set the buffer parameters: {e}");
                        }
                    }
                }
                Err(e) => tracing::warn!("PipeWire: {e}"),
            }
        })
        .process(take_buffer)
        .register()?;

    let pod =
        format::capture_format_param(req.size, req.fps).map_err(|_| pw::Error::CreationFailed)?;
    let mut params = [spa::pod::Pod::from_bytes(&pod).ok_or(pw::Error::CreationFailed)?];
    stream.connect(
        spa::utils::Direction::Input,
        Some(id),
        pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
        &mut params,
    )?;

    let (wake_tx, wake_rx) = pw::channel::channel::<()>();
    let _receiver = wake_rx.attach(mainloop.loop_(), {
        let mainloop = mainloop.clone();
        move |()| mainloop.quit()
    });
    if ready.send(Ok(wake_tx)).is_err() || stop.load(Ordering::Relaxed) {
        return Ok(());
    }
    mainloop.run();
    if let Err(e) = stream.disconnect() {
        tracing::debug!("PipeWire: disconnect: {e}");
    }
    if !stop.load(Ordering::Relaxed) {
        let e = ended
            .borrow_mut()
            .take()
            .unwrap_or_else(|| failure(node, "the stream ended"));
        // The reader may be gone already; nothing is left to tell then.
        let _ = frames.send(Event::Failed(e));
    }
    Ok(())
}

/// The process callback: copies the newest buffer into a frame.
fn take_buffer(stream: &pw::stream::Stream, data: &mut CaptureData) {
    // SAFETY: the stream is valid for the callback; the buffer goes back to
    // it below, exactly once.
    let raw = unsafe { stream.dequeue_raw_buffer() };
    if raw.is_null() {
        return;
    }
    // SAFETY: `raw` is a mapped buffer of this stream, not yet queued back.
    let frame = data
        .format
        .and_then(|(format, size)| unsafe { read_frame(raw, format, size, &data.pool) });
    // SAFETY: as above; queued back exactly once.
    unsafe { stream.queue_raw_buffer(raw) };
    if let Some(frame) = frame {
        // Full: the pipeline is behind and this frame is dropped, as a full
        // V4L2 queue would. Disconnected: the reader is gone and the thread
        // is being stopped.
        let _ = data.frames.try_send(Event::Frame(frame));
    }
}

/// Reads one picture out of a dequeued buffer, dropping row padding.
///
/// # Safety
/// `raw` must be a buffer dequeued from a stream with mapped buffers.
unsafe fn read_frame(
    raw: *mut pw::sys::pw_buffer,
    format: PixelFormat,
    size: Size,
    pool: &FramePool,
) -> Option<Frame> {
    let buf = unsafe { (*raw).buffer };
    if buf.is_null() || unsafe { (*buf).n_datas } < 1 {
        return None;
    }
    let d = unsafe { &*(*buf).datas };
    if d.data.is_null() || d.chunk.is_null() {
        return None;
    }
    let chunk = unsafe { &*d.chunk };
    let offset = (chunk.offset as usize).min(d.maxsize as usize);
    let len = (chunk.size as usize).min(d.maxsize as usize - offset);
    // SAFETY: mapped memory of `maxsize` bytes; offset + len stay inside.
    let bytes = unsafe { std::slice::from_raw_parts(d.data.cast::<u8>().add(offset), len) };
    let stride = usize::try_from(chunk.stride).unwrap_or(0);
    let data = unpad(bytes, format, size, stride, pool)?;
    Some(Frame {
        size,
        format,
        data,
        seq: 0,
        captured_at: Instant::now(),
    })
}

/// The picture in `bytes` with its rows packed: a plane's rows are `stride`
/// bytes apart (chroma rows of planar formats at the matching fraction of
/// it, planes one after the other, as GStreamer and libcamera lay them out).
/// `None` when the bytes are too few for the size. The result is a buffer
/// from `pool`: this is the one copy a PipeWire frame takes.
pub fn unpad(
    bytes: &[u8],
    format: PixelFormat,
    size: Size,
    stride: usize,
    pool: &FramePool,
) -> Option<FrameBuf> {
    let (w, h) = (size.width as usize, size.height as usize);
    let tight = format.frame_len(size.width, size.height);
    // (row bytes, rows, stride) for each plane.
    let planes: Vec<(usize, usize, usize)> = match format {
        PixelFormat::Yuyv => vec![(w * 2, h, stride.max(w * 2))],
        PixelFormat::Rgba => vec![(w * 4, h, stride.max(w * 4))],
        PixelFormat::Nv12 => {
            let s = stride.max(w);
            vec![(w, h, s), (w.div_ceil(2) * 2, h.div_ceil(2), s)]
        }
        PixelFormat::I420 => {
            let s = stride.max(w);
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let cs = s.div_ceil(2);
            vec![(w, h, s), (cw, ch, cs), (cw, ch, cs)]
        }
    };
    if bytes.len() < tight {
        return None;
    }
    if planes.iter().all(|(row, _, s)| row == s) {
        return Some(pool.copy_of(&bytes[..tight]));
    }
    let mut out = pool.take(tight);
    let (mut at, mut to) = (0, 0);
    for (row, rows, s) in planes {
        for r in 0..rows {
            let start = at + r * s;
            out.get_mut(to..to + row)?
                .copy_from_slice(bytes.get(start..start + row)?);
            to += row;
        }
        at += s * rows;
    }
    (to == tight).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rows_pass_through() {
        let pool = FramePool::default();
        let size = Size::new(4, 2);
        let bytes: Vec<u8> = (0..16).collect();
        assert_eq!(
            unpad(&bytes, PixelFormat::Yuyv, size, 8, &pool),
            Some(bytes.into())
        );
    }

    #[test]
    fn padded_rows_are_packed() {
        let pool = FramePool::default();
        // YUYV 2x2 with rows of 4 bytes padded to 8.
        let size = Size::new(2, 2);
        let bytes = [1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0];
        assert_eq!(
            unpad(&bytes, PixelFormat::Yuyv, size, 8, &pool),
            Some(vec![1, 2, 3, 4, 5, 6, 7, 8].into())
        );
        // NV12 2x2, Y rows of 2 padded to 4, then one UV row padded to 4.
        let bytes = [1, 2, 0, 0, 3, 4, 0, 0, 9, 9, 0, 0];
        assert_eq!(
            unpad(&bytes, PixelFormat::Nv12, size, 4, &pool),
            Some(vec![1, 2, 3, 4, 9, 9].into())
        );
        // I420 4x2: Y rows of 4 padded to 8, U and V rows of 2 padded to 4.
        let size = Size::new(4, 2);
        let bytes = [
            1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0, 10, 11, 0, 0, 20, 21, 0, 0,
        ];
        assert_eq!(
            unpad(&bytes, PixelFormat::I420, size, 8, &pool),
            Some(vec![1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 20, 21].into())
        );
    }

    #[test]
    fn too_few_bytes_are_refused() {
        let pool = FramePool::default();
        assert_eq!(
            unpad(&[0; 7], PixelFormat::Yuyv, Size::new(2, 2), 4, &pool).map(FrameBuf::into_vec),
            None
        );
    }
}
