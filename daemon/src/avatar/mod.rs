//! Avatars: packs of layered art (`pack`), the rig that places each layer on
//! the tracked face (`rig`), and `Wearer`, which the effect stage asks once
//! per frame for what to draw. Packs are loaded and rasterised on a worker
//! thread, once per (pack, size step): the frame path never waits for resvg.

pub mod pack;
pub mod rig;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::perception::FaceResult;
use pack::{Catalogue, Mode, Pack};
use rig::{LayerDraw, Motion, Pose};

/// A pack drawn at one size: premultiplied RGBA8 images ("slices"), all
/// `width` x `height` (the canvas scaled by `scale`). Neighbouring `head`
/// layers always move together, so they are drawn into one slice: one
/// texture fetch per pixel instead of several.
#[derive(Debug)]
pub struct Raster {
    /// Unique per raster: the GPU re-uploads only when it changes.
    pub id: u64,
    pub pack: String,
    pub width: u32,
    pub height: u32,
    pub slices: Vec<Vec<u8>>,
    /// For each slice, the manifest layer whose rig it follows (the first
    /// of the layers drawn into it).
    pub layer_of: Vec<usize>,
    /// For each slice, the texture-coordinate box holding all its
    /// non-transparent pixels (u0, v0, u1, v1): nothing outside is fetched.
    pub content: Vec<[f32; 4]>,
}

static RASTER_IDS: AtomicU64 = AtomicU64::new(1);

/// Draws every layer of `pack` at `scale` pixels per canvas unit.
pub fn rasterise(pack: &Pack, scale: f32) -> Result<Raster, String> {
    let [cw, ch] = pack.manifest.canvas.size;
    let width = ((cw as f32 * scale).round() as u32).clamp(1, pack::MAX_SIDE);
    let height = ((ch as f32 * scale).round() as u32).clamp(1, pack::MAX_SIDE);
    let mut drawn: HashMap<&str, Vec<u8>> = HashMap::new();
    let mut slices: Vec<Vec<u8>> = Vec::with_capacity(pack.manifest.layers.len());
    let mut layer_of = Vec::with_capacity(pack.manifest.layers.len());
    for (i, layer) in pack.manifest.layers.iter().enumerate() {
        let img = match drawn.get(layer.file.as_str()) {
            Some(done) => done.clone(),
            None => draw_layer(pack, layer, width, height)?,
        };
        drawn.insert(&layer.file, img.clone());
        let merge = i > 0
            && layer.driver == pack::Driver::Head
            && pack.manifest.layers[i - 1].driver == pack::Driver::Head;
        match slices.last_mut() {
            Some(below) if merge => over(below, &img),
            _ => {
                slices.push(img);
                layer_of.push(i);
            }
        }
    }
    let content = slices
        .iter()
        .map(|s| content_box(s, width, height))
        .collect();
    Ok(Raster {
        id: RASTER_IDS.fetch_add(1, Ordering::Relaxed),
        pack: pack.manifest.name.clone(),
        width,
        height,
        slices,
        layer_of,
        content,
    })
}

/// `top` drawn over `below`, both premultiplied RGBA8 of the same size.
fn over(below: &mut [u8], top: &[u8]) {
    for (b, t) in below.chunks_exact_mut(4).zip(top.chunks_exact(4)) {
        let keep = 255 - t[3] as u32;
        for c in 0..4 {
            b[c] = (t[c] as u32 + (b[c] as u32 * keep + 127) / 255).min(255) as u8;
        }
    }
}

/// The texture-coordinate box of an image's non-transparent pixels, one
/// pixel wider on each side (bilinear fetches reach that far); empty when
/// all is transparent.
fn content_box(img: &[u8], width: u32, height: u32) -> [f32; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (i, px) in img.chunks_exact(4).enumerate() {
        if px[3] != 0 {
            let (x, y) = (i as u32 % width, i as u32 / width);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
    }
    if x0 > x1 {
        return [0.0; 4];
    }
    let (w, h) = (width as f32, height as f32);
    [
        (x0 as f32 - 1.0).max(0.0) / w,
        (y0 as f32 - 1.0).max(0.0) / h,
        (x1 as f32 + 1.0).min(w) / w,
        (y1 as f32 + 1.0).min(h) / h,
    ]
}

/// One layer's art at the raster size.
fn draw_layer(
    pack: &Pack,
    layer: &pack::Layer,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, String> {
    let bytes = pack
        .files
        .get(&layer.file)
        .ok_or_else(|| format!("{}: {} is not loaded", pack.manifest.name, layer.file))?;
    if layer.file.to_ascii_lowercase().ends_with(".svg") {
        draw_svg(bytes, width, height)
    } else {
        draw_png(bytes, width, height)
    }
    .map_err(|e| format!("{}: {}: {e}", pack.manifest.name, layer.file))
}

/// An SVG drawn over the canvas (its view box stretched to the canvas).
fn draw_svg(bytes: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let tree = resvg::usvg::Tree::from_data(bytes, &resvg::usvg::Options::default())
        .map_err(|e| e.to_string())?;
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(width, height).ok_or("cannot draw at this size")?;
    let view = tree.size();
    let (kx, ky) = (
        width as f32 / view.width().max(1e-3),
        height as f32 / view.height().max(1e-3),
    );
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(kx, ky),
        &mut pixmap.as_mut(),
    );
    // tiny-skia keeps premultiplied RGBA, as the compositor wants.
    Ok(pixmap.take())
}

/// A PNG scaled to the raster, premultiplied.
fn draw_png(bytes: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?
        .to_rgba8();
    let img = image::imageops::resize(&img, width, height, image::imageops::FilterType::Triangle);
    let mut data = img.into_raw();
    for px in data.chunks_exact_mut(4) {
        let a = px[3] as u32;
        for c in &mut px[..3] {
            *c = ((*c as u32 * a + 127) / 255) as u8;
        }
    }
    Ok(data)
}

/// Raster scales come in steps of a half octave, so a face moving closer or
/// further re-rasterises rarely, and the art is never magnified by more than
/// about 1.4.
pub fn scale_step(wanted: f32) -> f32 {
    let steps = (wanted.max(1e-3).log2() * 2.0).ceil();
    2f32.powf(steps / 2.0).clamp(1.0 / 16.0, 8.0)
}

/// How often a worn user pack is checked for edits.
const EDIT_CHECK: Duration = Duration::from_secs(2);
/// A raster request unanswered this long is sent again: the rasteriser was
/// restarted after a panic and lost it (or is slow, and then the second
/// request is answered from its cache).
const RESEND: Duration = Duration::from_secs(2);

/// Rasters kept by the worker (a few sizes of the worn pack and the last ones).
const RASTER_CACHE: usize = 8;

/// The newest modification time among a user pack's files (None for
/// built-in packs, which cannot change).
fn files_stamp(p: &Pack) -> Option<std::time::SystemTime> {
    let pack::Origin::Dir(dir) = &p.origin else {
        return None;
    };
    std::iter::once(pack::MANIFEST)
        .chain(p.files.keys().map(String::as_str))
        .filter_map(|f| {
            std::fs::metadata(dir.join(f))
                .and_then(|m| m.modified())
                .ok()
        })
        .max()
}

/// What the compositor draws this frame.
#[derive(Debug, Clone)]
pub struct Drawing {
    pub mode: Mode,
    pub raster: Arc<Raster>,
    /// Frame pixels -> raster texture coordinates (0..1), per layer.
    pub to_art: Vec<rig::Mat3>,
    pub opacity: Vec<f32>,
    /// Per slice: the frame-pixel box its art can touch (x0, y0, x1, y1).
    pub slice_bounds: Vec<[f32; 4]>,
    /// The union of the slice boxes: outside it nothing is drawn.
    pub bounds: [f32; 4],
}

/// Turns layer draws into what the compositor needs, per slice of the
/// raster: the inverse homography scaled to texture coordinates, the
/// opacity, and the frame box its art can touch. A slice whose matrix cannot
/// be inverted is hidden.
pub fn drawing(
    mode: Mode,
    raster: Arc<Raster>,
    m: &pack::Manifest,
    draws: &[LayerDraw],
    frame: (u32, u32),
) -> Drawing {
    let [cw, ch] = m.canvas.size.map(|v| v as f32);
    let to_uv = [[1.0 / cw, 0.0, 0.0], [0.0, 1.0 / ch, 0.0], [0.0, 0.0, 1.0]];
    let n = raster.slices.len();
    let mut to_art = Vec::with_capacity(n);
    let mut opacity = Vec::with_capacity(n);
    let mut slice_bounds = Vec::with_capacity(n);
    let mut bounds = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    let (fw, fh) = (frame.0 as f32, frame.1 as f32);
    for (s, &layer) in raster.layer_of.iter().enumerate() {
        let d = draws.get(layer).copied().unwrap_or(LayerDraw {
            canvas_to_frame: rig::IDENTITY,
            opacity: 0.0,
        });
        let inv = rig::invert(&d.canvas_to_frame).filter(|_| d.opacity > 0.0);
        let [u0, v0, u1, v1] = raster.content[s];
        let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        if inv.is_some() && u1 > u0 {
            for (u, v) in [(u0, v0), (u1, v0), (u0, v1), (u1, v1)] {
                match rig::apply(&d.canvas_to_frame, [u * cw, v * ch]) {
                    Some(p) => {
                        b = [
                            b[0].min(p[0]),
                            b[1].min(p[1]),
                            b[2].max(p[0]),
                            b[3].max(p[1]),
                        ]
                    }
                    // A corner behind the camera: the art may reach anywhere.
                    None => b = [0.0, 0.0, fw, fh],
                }
            }
        }
        let b = if b[0] > b[2] {
            [0.0; 4]
        } else {
            [
                b[0].floor().clamp(0.0, fw),
                b[1].floor().clamp(0.0, fh),
                b[2].ceil().clamp(0.0, fw),
                b[3].ceil().clamp(0.0, fh),
            ]
        };
        if b[2] > b[0] && b[3] > b[1] {
            bounds = [
                bounds[0].min(b[0]),
                bounds[1].min(b[1]),
                bounds[2].max(b[2]),
                bounds[3].max(b[3]),
            ];
        }
        slice_bounds.push(b);
        match inv {
            Some(inv) => {
                to_art.push(rig::mul(&to_uv, &inv));
                opacity.push(d.opacity);
            }
            None => {
                to_art.push(rig::IDENTITY);
                opacity.push(0.0);
            }
        }
    }
    if bounds[0] > bounds[2] {
        bounds = [0.0; 4];
    }
    Drawing {
        mode,
        raster,
        to_art,
        opacity,
        slice_bounds,
        bounds,
    }
}

/// Requests to the raster worker: a pack name and a scale.
type Request = (String, f32);

/// The worker's answer: the raster or why not.
type Answer = (Request, Result<Arc<Raster>, String>, Option<Arc<Pack>>);

/// How long the avatar holds its last place after the face is lost, before
/// a `mask` avatar hides (a blink of the tracker should not make it flicker).
const HOLD: Duration = Duration::from_millis(700);

/// The avatar being worn: keeps the pack and rasters, asks the worker for
/// new sizes, and rigs each frame.
#[derive(Debug)]
pub struct Wearer {
    requests: mpsc::Sender<Request>,
    answers: Arc<Mutex<Vec<Answer>>>,
    pending: Option<Request>,
    /// When `pending` was sent.
    asked_at: Instant,
    pack: Option<Arc<Pack>>,
    raster: Option<(f32, Arc<Raster>)>,
    last_pose: Option<(Pose, Instant)>,
    /// The head's recent motion, to place the art where the head is now.
    motion: Motion,
    last_error: Option<String>,
    started: Instant,
    /// When a user's pack was last checked for edits.
    checked: Instant,
}

impl Default for Wearer {
    fn default() -> Self {
        Self::new()
    }
}

impl Wearer {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel::<Request>();
        let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
        let out = answers.clone();
        // A panic while drawing a pack restarts the thread with empty caches.
        let spawned = crate::supervise::spawn("avatar-raster", move || {
            // Loaded packs with the stamp of their files, and their
            // rasters by scale: a face moving to and fro across a size
            // step does not redraw the art each time.
            let mut packs: HashMap<String, (Arc<Pack>, Option<std::time::SystemTime>)> =
                HashMap::new();
            let mut rasters: HashMap<(String, u32), Arc<Raster>> = HashMap::new();
            while let Ok(mut req) = rx.recv() {
                // Only the newest request matters.
                while let Ok(newer) = rx.try_recv() {
                    req = newer;
                }
                crate::inject::panic_if_due(crate::inject::Point::AvatarPanic);
                // A user's pack edited since it was loaded is read again.
                let fresh = packs
                    .get(&req.0)
                    .filter(|(p, stamp)| files_stamp(p) == *stamp)
                    .map(|(p, _)| p.clone());
                let pack = match fresh {
                    Some(p) => Ok(p),
                    None => {
                        rasters.retain(|(name, _), _| *name != req.0);
                        let cat = Catalogue::installed();
                        match cat.find(&req.0) {
                            Some(p) => {
                                let p = Arc::new(p.clone());
                                packs.insert(req.0.clone(), (p.clone(), files_stamp(&p)));
                                Ok(p)
                            }
                            None => Err(match cat.refused_named(&req.0) {
                                Some((d, e)) => format!(
                                    "the pack in {} is refused; the last good one stays on:\n{e}",
                                    d.display()
                                ),
                                None => format!("no avatar called {:?} any more", req.0),
                            }),
                        }
                    }
                };
                let answer = match pack {
                    Ok(p) => {
                        let key = (req.0.clone(), req.1.to_bits());
                        let raster = match rasters.get(&key) {
                            Some(r) => Ok(r.clone()),
                            None => rasterise(&p, req.1).map(Arc::new).inspect(|r| {
                                if rasters.len() >= RASTER_CACHE {
                                    rasters.clear();
                                }
                                rasters.insert(key, r.clone());
                            }),
                        };
                        (req.clone(), raster, Some(p))
                    }
                    Err(e) => (req.clone(), Err(e), None),
                };
                if let Ok(mut a) = out.lock() {
                    a.push(answer);
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start the avatar thread: {e}");
        }
        Wearer {
            requests: tx,
            answers,
            pending: None,
            asked_at: Instant::now(),
            pack: None,
            raster: None,
            last_pose: None,
            motion: Motion::default(),
            last_error: None,
            started: Instant::now(),
            checked: Instant::now(),
        }
    }

    /// The pack worn, once loaded.
    pub fn pack(&self) -> Option<&Arc<Pack>> {
        self.pack.as_ref()
    }

    fn take_answers(&mut self, name: &str) {
        let answers = match self.answers.lock() {
            Ok(mut a) => std::mem::take(&mut *a),
            Err(_) => return,
        };
        for ((pack, scale), result, loaded) in answers {
            if Some(&(pack.clone(), scale)) == self.pending.as_ref() {
                self.pending = None;
            }
            if pack != name {
                continue;
            }
            if let Some(p) = loaded {
                self.pack = Some(p);
            }
            match result {
                Ok(r) => {
                    self.last_error = None;
                    self.raster = Some((scale, r));
                }
                Err(e) => {
                    if self.last_error.as_ref() != Some(&e) {
                        tracing::error!("avatar {name}: {e}");
                        self.last_error = Some(e);
                    }
                }
            }
        }
        if let Some((pack, scale)) = self.pending.clone() {
            if self.asked_at.elapsed() > RESEND {
                self.request(&pack, scale);
            }
        }
    }

    /// What to draw for avatar `name` on a frame of `frame` pixels captured
    /// at `shown_at`, given the newest face result (or None). The face may
    /// come from an older frame: its place is then extrapolated to the
    /// frame's moment from its motion. `wait`: block until the pack is drawn
    /// at the size this face needs (recordings); otherwise the previous size
    /// (or nothing) is used meanwhile. `t`: seconds, for animated effects
    /// (None: time since start).
    pub fn frame(
        &mut self,
        name: &str,
        face: Option<&FaceResult>,
        frame: (u32, u32),
        shown_at: Instant,
        wait: bool,
        t: Option<f32>,
    ) -> Option<Drawing> {
        self.frame_within(name, face, frame, shown_at, wait, t, 2)
    }

    #[allow(clippy::too_many_arguments)]
    fn frame_within(
        &mut self,
        name: &str,
        face: Option<&FaceResult>,
        frame: (u32, u32),
        shown_at: Instant,
        wait: bool,
        t: Option<f32>,
        tries: u8,
    ) -> Option<Drawing> {
        if self.pack.as_ref().is_some_and(|p| p.manifest.name != name) {
            self.pack = None;
            self.raster = None;
            self.last_pose = None;
            self.motion.reset();
        }
        self.take_answers(name);
        let now = Instant::now();
        let secs = |i: Instant| i.saturating_duration_since(self.started).as_secs_f64();
        let tracked = face.and_then(|f| Some((f.face.as_ref().and_then(Pose::from_face)?, f)));
        let pose = match tracked {
            Some((p, f)) => {
                self.motion.observe(p, secs(f.captured_at), f.seq);
                self.last_pose = Some((p, now));
                self.motion.predict(secs(shown_at))
            }
            None => {
                self.motion.reset();
                self.last_pose
                    .filter(|(_, at)| now.duration_since(*at) < HOLD)
                    .map(|(p, _)| p)
            }
        };
        let full = self.pack.as_ref().map(|p| p.manifest.mode == Mode::Full);
        // A full avatar stands in the middle when nobody is in the picture.
        let pose = match (pose, full) {
            (Some(p), _) => p,
            (None, Some(true)) => idle_pose(frame),
            _ => {
                // Still load the pack, so its mode is known.
                if self.pack.is_none() && self.pending.is_none() {
                    self.request(name, 0.5);
                }
                return None;
            }
        };
        let scale = match &self.pack {
            Some(p) => {
                let c = &p.manifest.canvas;
                let art = (c.right_eye[0] - c.left_eye[0]).hypot(c.right_eye[1] - c.left_eye[1]);
                scale_step(pose.eye_distance / art.max(1e-3))
            }
            None => 0.5,
        };
        if self.raster.as_ref().is_none_or(|(s, _)| *s != scale) {
            let want = (name.to_string(), scale);
            if self.pending.as_ref() != Some(&want) {
                self.request(name, scale);
            }
            if wait {
                let deadline = now + Duration::from_secs(10);
                while self.pending.is_some() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(2));
                    self.take_answers(name);
                }
                let guessed = self.raster.as_ref().is_some_and(|(s, _)| *s != scale);
                if guessed && self.pack.is_some() && tries > 0 {
                    // The pack arrived drawn at a guessed size: draw it at the right one.
                    return self.frame_within(name, face, frame, shown_at, wait, t, tries - 1);
                }
            }
        }
        // A user's pack is looked at again every couple of seconds, so edits
        // show while it is worn (unchanged files cost a few stat calls).
        let user_pack = self
            .pack
            .as_ref()
            .is_some_and(|p| matches!(p.origin, pack::Origin::Dir(_)));
        if user_pack && self.pending.is_none() && now.duration_since(self.checked) > EDIT_CHECK {
            self.checked = now;
            self.request(name, scale);
        }
        let (pack, (_, raster)) = (self.pack.as_ref()?, self.raster.as_ref()?);
        let t = t.unwrap_or_else(|| now.duration_since(self.started).as_secs_f32());
        let draws = rig::rig(&pack.manifest, &pose, t);
        Some(drawing(
            pack.manifest.mode,
            raster.clone(),
            &pack.manifest,
            &draws,
            frame,
        ))
    }

    fn request(&mut self, name: &str, scale: f32) {
        let req = (name.to_string(), scale);
        if self.requests.send(req.clone()).is_ok() {
            self.pending = Some(req);
            self.asked_at = Instant::now();
        }
    }
}

/// Where a full avatar stands with nobody in the picture: centred, eyes at
/// 40 % of the height, eyes a tenth of the height apart.
fn idle_pose((w, h): (u32, u32)) -> Pose {
    let (w, h) = (w as f32, h as f32);
    let d = h / 10.0;
    Pose {
        eyes: [[w / 2.0 - d / 2.0, h * 0.4], [w / 2.0 + d / 2.0, h * 0.4]],
        eye_distance: d,
        yaw: 0.0,
        pitch: 0.0,
        eye_open: [1.0, 1.0],
        mouth_open: 0.0,
        smile: 0.0,
        brow_raise: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_steps_are_half_octaves() {
        assert_eq!(scale_step(1.0), 1.0);
        assert!((scale_step(1.2) - 2f32.sqrt()).abs() < 1e-6);
        for w in [0.1f32, 0.37, 0.9, 1.5, 3.3] {
            let s = scale_step(w);
            assert!(s >= w && s < w * 1.42, "{w} -> {s}");
        }
    }

    #[test]
    fn every_built_in_pack_rasterises_with_art_in_every_layer() {
        for p in pack::built_in() {
            let r = rasterise(&p, 0.25).expect("raster");
            assert_eq!(r.slices.len(), r.layer_of.len());
            assert!(r.slices.len() <= p.manifest.layers.len());
            for (i, l) in r.slices.iter().enumerate() {
                assert_eq!(l.len(), (r.width * r.height * 4) as usize);
                let covered = l.chunks_exact(4).filter(|px| px[3] > 0).count();
                assert!(covered > 20, "{} layer {i} is empty", p.manifest.name);
                // Premultiplied: no colour exceeds its alpha.
                assert!(l
                    .chunks_exact(4)
                    .all(|px| px[..3].iter().all(|&c| c <= px[3])));
            }
        }
    }

    fn result(face: crate::perception::face::FaceState, seq: u64, at: Instant) -> FaceResult {
        FaceResult {
            face: Some(face),
            seq,
            captured_at: at,
        }
    }

    #[test]
    fn the_wearer_loads_off_thread_and_draws_on_the_face() {
        let mut w = Wearer::new();
        let at = Instant::now();
        let face = result(synthetic_face(640.0, 360.0, 60.0), 1, at);
        // Recordings wait for the pack.
        let d = w
            .frame(
                "space-trooper",
                Some(&face),
                (1280, 720),
                at,
                true,
                Some(0.0),
            )
            .expect("drawn");
        assert_eq!(d.raster.pack, "space-trooper");
        assert_eq!(d.mode, Mode::Mask);
        let [x0, y0, x1, y1] = d.bounds;
        assert!(
            x0 < 610.0 && x1 > 670.0 && y0 < 300.0 && y1 > 420.0,
            "{:?}",
            d.bounds
        );
        // An unknown pack gives nothing, and says so once.
        assert!(w
            .frame("no-such", Some(&face), (1280, 720), at, true, None)
            .is_none());
    }

    #[test]
    fn bounds_cover_each_slice_s_art_and_hidden_slices_not_at_all() {
        let p = pack::built_in()
            .into_iter()
            .find(|p| p.manifest.name == "knight")
            .expect("knight");
        let r = Arc::new(rasterise(&p, 0.25).expect("raster"));
        let face = synthetic_face(640.0, 360.0, 100.0);
        let pose = Pose::from_face(&face).expect("pose");
        let draws = rig::rig(&p.manifest, &pose, 0.0);
        let d = drawing(p.manifest.mode, r.clone(), &p.manifest, &draws, (1280, 720));
        // Art eyes 100 units apart onto eyes 100 px apart: scale 1, the art's
        // eye midpoint (256, 250) onto the face's (640, 360). Helm and plume
        // (one slice) span x 108..440 and y 0..470 of the canvas, so about
        // 492..824 and 110..580 in the frame; the art is drawn at a quarter
        // scale, so its edges are known to 4 canvas units, plus a pixel.
        let [x0, y0, x1, y1] = d.bounds;
        let near = |a: f32, b: f32| (a - b).abs() <= 10.0;
        assert!(
            near(x0, 492.0) && near(x1, 824.0) && near(y0, 110.0) && near(y1, 580.0),
            "{:?}",
            d.bounds
        );
        for b in &d.slice_bounds {
            assert!(b[0] >= x0 && b[1] >= y0 && b[2] <= x1 && b[3] <= y1);
        }
        // Near the frame's edge the boxes are clipped to it.
        let edge = Pose::from_face(&synthetic_face(1250.0, 360.0, 100.0)).expect("pose");
        let d = drawing(
            p.manifest.mode,
            r.clone(),
            &p.manifest,
            &rig::rig(&p.manifest, &edge, 0.0),
            (1280, 720),
        );
        assert_eq!(d.bounds[2], 1280.0);
        // Hidden layers (opacity 0) have empty boxes.
        let hidden: Vec<LayerDraw> = draws
            .iter()
            .map(|x| LayerDraw { opacity: 0.0, ..*x })
            .collect();
        let d = drawing(p.manifest.mode, r, &p.manifest, &hidden, (1280, 720));
        assert_eq!(d.bounds, [0.0; 4]);
        assert!(d.slice_bounds.iter().all(|b| *b == [0.0; 4]));
    }

    #[test]
    fn the_avatar_is_placed_where_a_moving_head_is_now() {
        let mut w = Wearer::new();
        let t0 = Instant::now();
        let frame_gap = Duration::from_millis(33);
        let draw = |w: &mut Wearer, face: &FaceResult, shown: Instant| {
            w.frame("knight", Some(face), (1280, 720), shown, true, Some(0.0))
                .expect("drawn")
                .bounds
        };
        // The head moves 12 px right per frame; perception is two frames behind.
        let f1 = result(synthetic_face(600.0, 360.0, 60.0), 1, t0);
        let f2 = result(synthetic_face(612.0, 360.0, 60.0), 2, t0 + frame_gap);
        draw(&mut w, &f1, t0);
        let late = draw(&mut w, &f2, t0 + frame_gap * 3);
        let f4 = result(synthetic_face(636.0, 360.0, 60.0), 4, t0 + frame_gap * 3);
        let mut fresh_w = Wearer::new();
        let truth = draw(&mut fresh_w, &f4, t0 + frame_gap * 3);
        for k in 0..4 {
            assert!((late[k] - truth[k]).abs() <= 1.0, "{late:?} vs {truth:?}");
        }
    }

    #[test]
    fn a_user_pack_edit_changes_its_stamp_and_built_ins_have_none() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("p");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join(pack::MANIFEST),
            "format = 1\nname = \"p\"\ndescription = \"d\"\nauthor = \"a\"\nlicence = \"MIT\"\nmode = \"mask\"\n\
             [canvas]\nsize = [64, 64]\nleft_eye = [20, 30]\nright_eye = [44, 30]\n\
             [[layer]]\nfile = \"a.svg\"\ndriver = \"head\"\n",
        )
        .expect("manifest");
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="9" fill="#fff"/></svg>"##;
        std::fs::write(dir.join("a.svg"), svg).expect("svg");
        let p = pack::load_dir(&dir).expect("pack");
        let before = files_stamp(&p).expect("a user pack has a stamp");
        let art = std::fs::File::options()
            .write(true)
            .open(dir.join("a.svg"))
            .expect("open");
        art.set_modified(before + Duration::from_secs(5))
            .expect("touch");
        assert!(files_stamp(&p).expect("stamp") > before);
        assert!(pack::built_in().iter().all(|p| files_stamp(p).is_none()));
    }

    /// A face with its eyes `d` pixels apart around (x, y): only the points
    /// the rig reads are placed.
    pub(crate) fn synthetic_face(x: f32, y: f32, d: f32) -> crate::perception::face::FaceState {
        let mut lm = vec![[x, y + d * 0.6, 0.0]; 468];
        lm[33] = [x - d * 0.75, y, 0.0];
        lm[133] = [x - d * 0.25, y, 0.0];
        lm[362] = [x + d * 0.25, y, 0.0];
        lm[263] = [x + d * 0.75, y, 0.0];
        lm[159] = [x - d / 2.0, y - d * 0.1, 0.0];
        lm[386] = [x + d / 2.0, y - d * 0.1, 0.0];
        lm[105] = [x - d / 2.0, y - d * 0.34, 0.0];
        lm[334] = [x + d / 2.0, y - d * 0.34, 0.0];
        crate::perception::face::FaceState {
            bbox: [x - d, y - d, x + d, y + d * 1.5],
            landmarks: lm,
            yaw: 0.0,
            pitch: 0.0,
            roll: 0.0,
            eye_open: [1.0, 1.0],
            mouth_open: 0.0,
            smile: 0.0,
            score: 1.0,
        }
    }
}
