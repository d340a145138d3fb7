//! Perception: where the person is in the picture. Runs on its own thread on
//! a downscaled copy of each frame and publishes the newest result ("latest
//! wins"); the frame loop never waits for it.
//!
//! Segmenters: MediaPipe's selfie segmentation model (the default, run with
//! tract) or a chroma key (a green or blue screen). Both feed the same `Mask`.

pub mod chroma;
pub mod face;
pub mod motion;
pub mod net;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use fast_image_resize as fir;

use crate::convert;
use crate::frame::{Frame, PixelFormat, SharedFrame, Size};
use crate::queue::{FrameQueue, Overflow, Pop};
use crate::settings::segmenter::{ChromaKey, SegmenterSpec};

/// Width of the masks perception produces; the height follows the frame's aspect.
pub const MASK_WIDTH: u32 = 256;

/// A person mask: 0 = background, 255 = person, row-major, covering the whole frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
    /// `seq` of the frame it was computed from.
    pub seq: u64,
    /// When that frame was captured.
    pub captured_at: std::time::Instant,
}

/// The face tracker's result for one frame (None: no face in it).
#[derive(Debug, Clone)]
pub struct FaceResult {
    pub face: Option<face::FaceState>,
    pub seq: u64,
    pub captured_at: std::time::Instant,
}

/// Width of the copy the face tracker looks at: enough for landmarks on a
/// face a fifth of the frame wide.
pub const FACE_INPUT_WIDTH: u32 = 640;

/// The size of the mask for frames of `size`.
pub fn mask_size(size: Size) -> Size {
    let h = (MASK_WIDTH as u64 * size.height as u64 / size.width.max(1) as u64).max(1) as u32;
    Size::new(MASK_WIDTH.min(size.width), h.min(size.height))
}

/// Turns a frame into the small RGBA image segmenters look at.
#[derive(Debug, Default)]
pub struct Downscaler {
    resizer: fir::Resizer,
}

impl Downscaler {
    /// `frame` scaled to `to` (stretched: segmenters take the whole picture)
    /// as RGBA, through a bilinear (triangle) filter. YUV frames are shrunk
    /// as they are and only the small result is turned into RGBA: no
    /// full-size conversion, and no frame-sized buffer, for a 256-pixel mask.
    pub fn rgba(&mut self, frame: &Frame, to: Size) -> Result<Vec<u8>, convert::ConvertError> {
        self.shrink(frame, to, fir::FilterType::Bilinear)
    }

    /// [`Downscaler::rgba`] for the segmentation model: through a Lanczos
    /// (3-lobe) filter, which keeps the person's edge sharper after the 5x
    /// shrink than the triangle filter and still averages the sensor noise
    /// out. On the mask-quality photos (benches/mask_quality.rs) it raised
    /// the mean IoU from 0.743 to 0.747 and lowered the edge error from
    /// 12.4 to 10.8 px and the flicker from 0.33 to 0.31; sampling without
    /// a filter, as MediaPipe does, gave 0.748 but 1.5x the flicker.
    pub fn segmenter_input(
        &mut self,
        frame: &Frame,
        to: Size,
    ) -> Result<Vec<u8>, convert::ConvertError> {
        self.shrink(frame, to, fir::FilterType::Lanczos3)
    }

    fn shrink(
        &mut self,
        frame: &Frame,
        to: Size,
        filter: fir::FilterType,
    ) -> Result<Vec<u8>, convert::ConvertError> {
        let small_enough = frame.size.width >= 2 && frame.size.height >= 2;
        if frame.size != to && small_enough {
            match frame.format {
                PixelFormat::Yuyv => return self.yuyv(frame, to, filter),
                PixelFormat::I420 | PixelFormat::Nv12 => return self.planar(frame, to, filter),
                PixelFormat::Rgba => {}
            }
        }
        let rgba = if frame.format == PixelFormat::Rgba {
            std::borrow::Cow::Borrowed(&frame.data[..])
        } else {
            std::borrow::Cow::Owned(convert::convert(frame, PixelFormat::Rgba)?.data.into_vec())
        };
        if frame.size == to {
            return Ok(rgba.into_owned());
        }
        let whole = (0.0, 0.0, frame.size.width as f64, frame.size.height as f64);
        convert::resize_rgba(
            &rgba,
            frame.size,
            to,
            Some(whole),
            filter,
            &mut self.resizer,
        )
    }

    fn short(frame: &Frame) -> convert::ConvertError {
        convert::ConvertError::Resize(format!("a {} {} frame is short", frame.size, frame.format))
    }

    /// YUYV is shrunk as it is, each Y0 U Y1 V group one 4-byte pixel of a
    /// half-width image (the two lumas of a group averaged).
    fn yuyv(
        &mut self,
        frame: &Frame,
        to: Size,
        filter: fir::FilterType,
    ) -> Result<Vec<u8>, convert::ConvertError> {
        let half = Size::new(frame.size.width / 2, frame.size.height);
        let whole = (0.0, 0.0, half.width as f64, half.height as f64);
        let len = half.pixels() * 4;
        let groups = frame.data.get(..len).ok_or_else(|| Self::short(frame))?;
        let small = convert::resize_rgba(groups, half, to, Some(whole), filter, &mut self.resizer)?;
        let n = to.pixels();
        let (mut y, mut u, mut v) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for g in small.chunks_exact(4) {
            y.push((g[0] as u16 + g[2] as u16).div_ceil(2) as u8);
            u.push(g[1]);
            v.push(g[3]);
        }
        convert::yuv444_to_rgba(&y, &u, &v, to)
    }

    /// I420 and NV12: the Y plane and the chroma plane(s) are each scaled to
    /// `to`, then combined.
    fn planar(
        &mut self,
        frame: &Frame,
        to: Size,
        filter: fir::FilterType,
    ) -> Result<Vec<u8>, convert::ConvertError> {
        use fir::PixelType::{U8x2, U8};
        let full = frame.size;
        let half = Size::new(full.width / 2, full.height / 2);
        let data = frame
            .data
            .get(..frame.format.frame_len(full.width, full.height))
            .ok_or_else(|| Self::short(frame))?;
        let (y, chroma) = data.split_at(full.pixels());
        let y = convert::resize_plane(y, full, to, U8, filter, &mut self.resizer)?;
        let (u, v) = if frame.format == PixelFormat::I420 {
            let (u, v) = chroma.split_at(half.pixels());
            (
                convert::resize_plane(u, half, to, U8, filter, &mut self.resizer)?,
                convert::resize_plane(v, half, to, U8, filter, &mut self.resizer)?,
            )
        } else {
            let uv = convert::resize_plane(chroma, half, to, U8x2, filter, &mut self.resizer)?;
            uv.chunks_exact(2).map(|p| (p[0], p[1])).unzip()
        };
        convert::yuv444_to_rgba(&y, &u, &v, to)
    }
}

/// One segmenter, ready to run.
#[derive(Debug)]
pub enum Segmenter {
    /// MediaPipe selfie segmentation (landscape, 256x144 in, person
    /// probability out).
    Model(net::Net),
    Chroma(ChromaKey),
}

impl Segmenter {
    /// Loads what the spec needs (the model takes a fraction of a second).
    pub fn new(spec: &SegmenterSpec) -> Result<Self, net::NetError> {
        Ok(match spec {
            SegmenterSpec::Model => Segmenter::Model(net::Net::load(net::SELFIE_SEGMENTATION)?),
            SegmenterSpec::Chroma { key } => Segmenter::Chroma(*key),
        })
    }

    /// The person mask of `frame`. Frames too small to hold a person (under
    /// 16 pixels a side) get an all-background mask.
    pub fn segment(&mut self, frame: &Frame, down: &mut Downscaler) -> Result<Mask, String> {
        let (size, data) = match self {
            Segmenter::Model(net) => {
                let [_, h, w, _] = net.input();
                let size = Size::new(w as u32, h as u32);
                if frame.size.width < 16 || frame.size.height < 16 {
                    (size, vec![0; w * h])
                } else {
                    let rgba = down
                        .segmenter_input(frame, size)
                        .map_err(|e| e.to_string())?;
                    let out = net
                        .run(net::to_input(&rgba, 0.0, 1.0))
                        .map_err(|e| e.to_string())?;
                    let probs = out.first().ok_or("the model gave no output")?;
                    let data = probs
                        .iter()
                        .map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
                        .collect();
                    (size, data)
                }
            }
            Segmenter::Chroma(key) => {
                let size = mask_size(frame.size);
                let rgba = down.rgba(frame, size).map_err(|e| e.to_string())?;
                (size, chroma::mask(key, &rgba))
            }
        };
        Ok(Mask {
            width: size.width,
            height: size.height,
            data,
            seq: frame.seq,
            captured_at: frame.captured_at,
        })
    }
}

/// The newest result, shared between the perception thread and the frame
/// loop. Each result gets a generation number, so readers can tell a new
/// result from one they have seen even when a new source restarts frame seqs.
#[derive(Debug, Default)]
pub struct Latest {
    slot: Mutex<(u64, Option<Arc<Mask>>)>,
    face: Mutex<Option<Arc<FaceResult>>>,
}

impl Latest {
    pub fn publish(&self, mask: Mask) {
        if let Ok(mut s) = self.slot.lock() {
            *s = (s.0 + 1, Some(Arc::new(mask)));
        }
    }

    pub fn publish_face(&self, result: FaceResult) {
        if let Ok(mut s) = self.face.lock() {
            *s = Some(Arc::new(result));
        }
    }

    /// The newest face result.
    pub fn face(&self) -> Option<Arc<FaceResult>> {
        self.face.lock().ok()?.clone()
    }

    /// The newest mask and its generation, if newer than generation `seen`.
    pub fn newer_than(&self, seen: u64) -> Option<(u64, Arc<Mask>)> {
        let s = self.slot.lock().ok()?;
        match &s.1 {
            Some(m) if s.0 > seen => Some((s.0, m.clone())),
            _ => None,
        }
    }
}

/// Tracks the face on a copy of `frame` at most `FACE_INPUT_WIDTH` wide;
/// coordinates come back in frame pixels. What the perception thread does
/// with each frame (public for the face-recall benchmark).
pub fn track_face(
    tracker: &mut face::FaceTracker,
    frame: &Frame,
    down: &mut Downscaler,
    start: std::time::Instant,
) -> Result<FaceResult, String> {
    let w = frame.size.width.clamp(1, FACE_INPUT_WIDTH);
    let h = ((frame.size.height as u64 * w as u64) / frame.size.width.max(1) as u64).max(1) as u32;
    let small = Size::new(w, h);
    let rgba = down.rgba(frame, small).map_err(|e| e.to_string())?;
    let t = frame
        .captured_at
        .saturating_duration_since(start)
        .as_secs_f64();
    let face = tracker
        .track(&rgba, small, t)
        .map_err(|e| e.to_string())?
        .map(|mut f| {
            let k = frame.size.width as f32 / w as f32;
            for p in f.landmarks.iter_mut() {
                *p = p.map(|v| v * k);
            }
            f.bbox = f.bbox.map(|v| v * k);
            f
        });
    Ok(FaceResult {
        face,
        seq: frame.seq,
        captured_at: frame.captured_at,
    })
}

/// When the face is looked at. While the two models together take well
/// under a frame interval, on every frame; when they take most of it (a
/// busy machine: the models share the cores with the effects), on every
/// second frame, so the person mask keeps to every frame and the effects
/// keep their share; the avatar is carried between looks by the rig's
/// extrapolation of the face's motion (`avatar::rig::Motion`). The switch
/// has a gap between its two thresholds, so it does not flap. Recordings
/// (`paced` false) look at every frame.
#[derive(Debug, Default)]
pub struct FacePace {
    face_ms: Option<f64>,
    mask_ms: Option<f64>,
    interval_ms: Option<f64>,
    last: Option<(u64, std::time::Instant)>,
    last_face: Option<u64>,
    every_second: bool,
}

impl FacePace {
    /// Above this share of the frame interval, faces go to every second frame.
    const SLOW: f64 = 0.85;
    /// Below this share, back to every frame.
    const FAST: f64 = 0.6;

    fn average(into: &mut Option<f64>, ms: f64) {
        *into = Some(into.map_or(ms, |a| a + (ms - a) * 0.1));
    }

    /// Whether frame `seq`, captured at `at`, gets its face looked at.
    pub fn due(&mut self, seq: u64, at: std::time::Instant, paced: bool) -> bool {
        if let Some((last_seq, last_at)) = self.last {
            let frames = seq.saturating_sub(last_seq);
            let ms = at.saturating_duration_since(last_at).as_secs_f64() * 1000.0;
            if frames > 0 && ms > 0.0 && ms < 1000.0 {
                Self::average(&mut self.interval_ms, ms / frames as f64);
            }
        }
        self.last = Some((seq, at));
        if let (Some(f), Some(m), Some(i)) = (self.face_ms, self.mask_ms, self.interval_ms) {
            if f + m > Self::SLOW * i {
                self.every_second = true;
            } else if f + m < Self::FAST * i {
                self.every_second = false;
            }
        }
        !paced || !self.every_second || self.last_face.is_none_or(|l| seq >= l + 2 || seq < l)
    }

    pub fn face_took(&mut self, seq: u64, took: std::time::Duration) {
        Self::average(&mut self.face_ms, took.as_secs_f64() * 1000.0);
        self.last_face = Some(seq);
    }

    pub fn mask_took(&mut self, took: std::time::Duration) {
        Self::average(&mut self.mask_ms, took.as_secs_f64() * 1000.0);
    }

    /// Whether faces are on every second frame now.
    pub fn every_second(&self) -> bool {
        self.every_second
    }
}

/// The perception thread: frames in (only the newest is kept), masks and faces out.
#[derive(Debug)]
pub struct Perception {
    input: Arc<FrameQueue<SharedFrame>>,
    latest: Arc<Latest>,
    stop: Arc<AtomicBool>,
    /// Whether faces are tracked too; changed while the thread runs.
    faces: Arc<AtomicBool>,
    /// Whether faces may go to every second frame on a busy machine.
    paced: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Perception {
    /// Starts the thread; with `faces` it tracks the face too (see `set_faces`).
    pub fn start(spec: &SegmenterSpec, faces: bool) -> std::io::Result<Self> {
        let input = Arc::new(FrameQueue::<SharedFrame>::new(1, Overflow::DropOldest));
        let latest = Arc::new(Latest::default());
        let stop = Arc::new(AtomicBool::new(false));
        let faces = Arc::new(AtomicBool::new(faces));
        let paced = Arc::new(AtomicBool::new(true));
        let spec = spec.clone();
        let handle = {
            let (input, latest, stop, want_faces, may_pace) = (
                input.clone(),
                latest.clone(),
                stop.clone(),
                faces.clone(),
                paced.clone(),
            );
            // A panic in a model or the tracker restarts the thread (models
            // loaded again); the frame loop keeps the last mask meanwhile.
            crate::supervise::spawn("perception", move || {
                // Loaded here, not by the caller: the frame loop never waits.
                let mut segmenter = match Segmenter::new(&spec) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!("{e}; backgrounds stay off until the daemon is reinstalled or the segmenter changed");
                        return;
                    }
                };
                // Made when faces are wanted and dropped when not, on this
                // thread: its memory is reused by the next one rather than
                // left in another thread's allocator arena.
                let mut tracker: Option<face::FaceTracker> = None;
                let mut tracker_failed = false;
                let mut down = Downscaler::default();
                let mut last_error = None;
                let mut pace = FacePace::default();
                let start = std::time::Instant::now();
                while let Pop::Item(frame) = input.pop(None) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    crate::inject::panic_if_due(crate::inject::Point::PerceptionPanic);
                    if !want_faces.load(Ordering::Relaxed) {
                        tracker = None;
                        tracker_failed = false;
                    } else if tracker.is_none() && !tracker_failed {
                        match face::FaceTracker::new() {
                            Ok(t) => tracker = Some(t),
                            Err(e) => {
                                tracing::error!("{e}; face tracking stays off");
                                tracker_failed = true;
                            }
                        }
                    }
                    let paced = may_pace.load(Ordering::Relaxed);
                    let was_every_second = pace.every_second();
                    let face_due = pace.due(frame.seq, frame.captured_at, paced);
                    if pace.every_second() != was_every_second {
                        if pace.every_second() {
                            tracing::info!("the models take most of a frame interval: the face is tracked on every second frame, the mask on every frame");
                        } else {
                            tracing::info!("the models fit in a frame interval again: the face is tracked on every frame");
                        }
                    }
                    if let (Some(t), true) = (tracker.as_mut(), face_due) {
                        let t0 = std::time::Instant::now();
                        let result = track_face(t, &frame, &mut down, start);
                        pace.face_took(frame.seq, t0.elapsed());
                        match result {
                            Ok(r) => latest.publish_face(r),
                            Err(e) => tracing::warn!("face tracking failed on a frame: {e}"),
                        }
                    }
                    let t0 = std::time::Instant::now();
                    let segmented = segmenter.segment(&frame, &mut down);
                    pace.mask_took(t0.elapsed());
                    match segmented {
                        Ok(mask) => {
                            last_error = None;
                            latest.publish(mask);
                        }
                        Err(e) => {
                            if last_error.as_ref() != Some(&e) {
                                tracing::warn!("perception failed on a frame: {e}");
                                last_error = Some(e);
                            }
                        }
                    }
                }
            })?
        };
        Ok(Perception {
            input,
            latest,
            stop,
            faces,
            paced,
            handle: Some(handle),
        })
    }

    /// Whether faces may go to every second frame when the models take most
    /// of a frame interval (see `FacePace`); recordings switch it off.
    pub fn set_paced(&self, on: bool) {
        self.paced.store(on, Ordering::Relaxed);
    }

    /// Starts or stops tracking faces from the next frame on, keeping the
    /// thread and its segmenter (no model is loaded again).
    pub fn set_faces(&self, on: bool) {
        self.faces.store(on, Ordering::Relaxed);
    }

    /// Offers a frame (shared, not copied); an older one still waiting is dropped.
    pub fn offer(&self, frame: SharedFrame) {
        self.input.push(frame);
    }

    pub fn latest(&self) -> &Latest {
        &self.latest
    }
}

impl Drop for Perception {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.input.close();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_go_to_every_second_frame_only_while_the_models_take_most_of_a_frame() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let at = |seq: u64| t0 + Duration::from_millis(seq * 33);
        let mut pace = FacePace::default();
        let ms = Duration::from_millis;
        // Quick models (8 + 6 ms of 33): every frame.
        for seq in 1..40 {
            assert!(pace.due(seq, at(seq), true), "frame {seq}");
            pace.face_took(seq, ms(8));
            pace.mask_took(ms(6));
        }
        // Slow ones (16 + 14 ms of 33): every second frame once the
        // averages catch up, and the mask still on every frame.
        let mut looked = Vec::new();
        for seq in 40..140 {
            if pace.due(seq, at(seq), true) {
                pace.face_took(seq, ms(16));
                looked.push(seq);
            }
            pace.mask_took(ms(14));
        }
        assert!(pace.every_second());
        let late: Vec<_> = looked.iter().filter(|&&s| s >= 100).collect();
        assert_eq!(late.len(), 20, "{looked:?}");
        assert!(late.windows(2).all(|w| w[1] - w[0] == 2), "{late:?}");
        // A little faster (within the gap): still every second frame.
        for seq in 140..240 {
            if pace.due(seq, at(seq), true) {
                pace.face_took(seq, ms(12));
            }
            pace.mask_took(ms(11));
        }
        assert!(pace.every_second(), "no flapping inside the gap");
        // Recordings: every frame whatever the cost.
        assert!(pace.due(240, at(240), false) && pace.due(241, at(241), false));
        // Quick again: back to every frame.
        for seq in 242..400 {
            pace.due(seq, at(seq), true);
            pace.face_took(seq, ms(7));
            pace.mask_took(ms(6));
        }
        assert!(!pace.every_second());
    }

    #[test]
    fn masks_keep_the_frame_aspect() {
        assert_eq!(mask_size(Size::new(1280, 720)), Size::new(256, 144));
        assert_eq!(mask_size(Size::new(640, 480)), Size::new(256, 192));
        assert_eq!(mask_size(Size::new(160, 90)), Size::new(160, 90));
    }

    #[test]
    fn yuv_frames_shrink_like_their_rgba_conversion() {
        let size = Size::new(320, 180);
        let rgba = crate::source::demo::DemoSource::new(size, 30.0)
            .and_then(|mut d| crate::source::FrameSource::next_frame(&mut d))
            .expect("demo frame");
        let to = Size::new(64, 36);
        let mut down = Downscaler::default();
        for model in [false, true] {
            let mut shrink = |f: &Frame| {
                if model {
                    down.segmenter_input(f, to)
                } else {
                    down.rgba(f, to)
                }
            };
            let slow = shrink(&rgba).expect("rgba path");
            for format in [PixelFormat::Yuyv, PixelFormat::I420, PixelFormat::Nv12] {
                let yuv = convert::convert(&rgba, format).expect("yuv");
                let fast = shrink(&yuv).expect("fast path");
                assert_eq!(fast.len(), slow.len(), "{format}");
                let mean = fast
                    .iter()
                    .zip(&slow)
                    .map(|(a, b)| a.abs_diff(*b) as f64)
                    .sum::<f64>()
                    / fast.len() as f64;
                assert!(
                    mean < 3.0,
                    "{format} (model {model}): mean difference {mean:.2} levels"
                );
            }
        }
        let mut short = convert::convert(&rgba, PixelFormat::I420).expect("i420");
        short.data = vec![0; 100].into();
        assert!(down.rgba(&short, to).is_err(), "a short frame is an error");
    }

    #[test]
    fn the_thread_publishes_the_newest_mask() {
        let chroma = SegmenterSpec::Chroma {
            key: ChromaKey::GREEN,
        };
        let p = Perception::start(&chroma, false).expect("start");
        // A green frame with a grey square in the middle.
        let size = Size::new(64, 36);
        let mut data = Vec::new();
        for y in 0..36 {
            for x in 0..64 {
                let inside = (16..48).contains(&x) && (8..28).contains(&y);
                data.extend_from_slice(if inside {
                    &[128, 120, 110, 255]
                } else {
                    &[20, 200, 30, 255]
                });
            }
        }
        p.offer(Arc::new(Frame::new(size, PixelFormat::Rgba, data, 7)));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mask = loop {
            if let Some((_, m)) = p.latest().newer_than(0) {
                break m;
            }
            assert!(std::time::Instant::now() < deadline, "no mask");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!((mask.width, mask.height, mask.seq), (64, 36, 7));
        assert_eq!(mask.data[18 * 64 + 32], 255, "centre is the person");
        assert_eq!(mask.data[2 * 64 + 2], 0, "corner is the green screen");
        assert!(p.latest().newer_than(1).is_none());
    }
}
