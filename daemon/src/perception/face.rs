//! Face tracking: BlazeFace (short range) finds a face when none is tracked;
//! the 468-point landmark model then follows it frame to frame from a crop
//! placed by the previous landmarks, as MediaPipe does. Landmarks are smoothed
//! with One Euro filters (steady when still, quick when moving) and turned
//! into head pose, eye and mouth openness and a smile.

use super::net::{self, Net, NetError};
use crate::frame::Size;

/// Landmark indices of MediaPipe's face mesh that the face state uses.
pub mod mesh {
    /// Outer corner of the right eye (the subject's right: image left).
    pub const RIGHT_EYE_OUTER: usize = 33;
    pub const RIGHT_EYE_INNER: usize = 133;
    pub const RIGHT_EYE_TOP: usize = 159;
    pub const RIGHT_EYE_BOTTOM: usize = 145;
    pub const LEFT_EYE_OUTER: usize = 263;
    pub const LEFT_EYE_INNER: usize = 362;
    pub const LEFT_EYE_TOP: usize = 386;
    pub const LEFT_EYE_BOTTOM: usize = 374;
    pub const LIP_TOP_INNER: usize = 13;
    pub const LIP_BOTTOM_INNER: usize = 14;
    pub const MOUTH_RIGHT: usize = 61;
    pub const MOUTH_LEFT: usize = 291;
    pub const FACE_RIGHT: usize = 234;
    pub const FACE_LEFT: usize = 454;
    pub const FOREHEAD: usize = 10;
    pub const CHIN: usize = 152;
    pub const NOSE_TIP: usize = 1;
}

/// What perception knows about the face, in frame pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaceState {
    /// Box around the landmarks: x0, y0, x1, y1.
    pub bbox: [f32; 4],
    /// 468 points: x, y in frame pixels, z (depth, smaller = nearer) in the same scale.
    pub landmarks: Vec<[f32; 3]>,
    /// Degrees. Yaw > 0: the face turns towards the image's right; pitch > 0:
    /// it looks up; roll > 0: it tilts clockwise in the image.
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
    /// 0 (closed) to 1 (wide open), the subject's left and right eye.
    pub eye_open: [f32; 2],
    /// 0 (closed) to 1 (wide open).
    pub mouth_open: f32,
    /// 0 (neutral) to 1 (broad smile).
    pub smile: f32,
    /// Landmark model's face presence, 0..1.
    pub score: f32,
}

/// A square, rotated crop of the frame: centre and side in pixels, rotation in
/// radians (clockwise in the image, the eye line's angle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    pub side: f32,
    pub angle: f32,
}

impl Roi {
    /// Crop-normalised (0..1) coordinates to frame pixels.
    fn to_frame(self, u: f32, v: f32) -> (f32, f32) {
        let (lx, ly) = ((u - 0.5) * self.side, (v - 0.5) * self.side);
        let (s, c) = self.angle.sin_cos();
        (self.cx + lx * c - ly * s, self.cy + lx * s + ly * c)
    }
}

/// Samples `roi` of an RGBA frame into an `n` x `n` model input, values
/// mapped to `lo..hi`; outside the frame is black.
pub fn crop(rgba: &[u8], size: Size, roi: &Roi, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let (w, h) = (size.width as i64, size.height as i64);
    let k = (hi - lo) / 255.0;
    let px = |x: i64, y: i64, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            0.0
        } else {
            rgba[((y * w + x) * 4) as usize + c] as f32
        }
    };
    let mut out = Vec::with_capacity(n * n * 3);
    for v in 0..n {
        for u in 0..n {
            let (x, y) = roi.to_frame((u as f32 + 0.5) / n as f32, (v as f32 + 0.5) / n as f32);
            let (x, y) = (x - 0.5, y - 0.5);
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            for c in 0..3 {
                let top = px(x0, y0, c) * (1.0 - fx) + px(x0 + 1, y0, c) * fx;
                let bottom = px(x0, y0 + 1, c) * (1.0 - fx) + px(x0 + 1, y0 + 1, c) * fx;
                out.push(lo + (top * (1.0 - fy) + bottom * fy) * k);
            }
        }
    }
    out
}

/// A face found by the detector, in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub bbox: [f32; 4],
    /// Right eye, left eye, nose tip, mouth, right ear, left ear.
    pub keypoints: [[f32; 2]; 6],
    pub score: f32,
}

impl Detection {
    fn area(&self) -> f32 {
        (self.bbox[2] - self.bbox[0]).max(0.0) * (self.bbox[3] - self.bbox[1]).max(0.0)
    }

    fn centre(&self) -> (f32, f32) {
        (
            (self.bbox[0] + self.bbox[2]) / 2.0,
            (self.bbox[1] + self.bbox[3]) / 2.0,
        )
    }

    /// The landmark crop for this face: square, 1.5 x the box, turned with the eyes.
    pub fn roi(&self) -> Roi {
        let [re, le, ..] = self.keypoints;
        let (cx, cy) = self.centre();
        let side = (self.bbox[2] - self.bbox[0]).max(self.bbox[3] - self.bbox[1]) * 1.5;
        Roi {
            cx,
            cy,
            side,
            angle: (le[1] - re[1]).atan2(le[0] - re[0]),
        }
    }
}

/// Best first, and of overlapping boxes only the best.
fn suppress(mut found: Vec<Detection>) -> Vec<Detection> {
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for d in found {
        if kept.iter().all(|k| iou(&k.bbox, &d.bbox) < 0.3) {
            kept.push(d);
        }
    }
    kept
}

/// The zoomed second look: squares with the frame's short side, along its
/// long side, overlapping by at least a third (16:9: three squares). None
/// for a frame that is nearly square (the whole-frame look is as close).
fn zoom_tiles(size: Size) -> Vec<Roi> {
    let (long, short) = (
        size.width.max(size.height) as f32,
        size.width.min(size.height) as f32,
    );
    if long < short * 1.25 {
        return Vec::new();
    }
    let n = ((long - short) / (short * 2.0 / 3.0)).ceil() as usize + 1;
    let step = (long - short) / (n - 1) as f32;
    (0..n)
        .map(|i| {
            let along = short / 2.0 + step * i as f32;
            let (cx, cy) = if size.width >= size.height {
                (along, short / 2.0)
            } else {
                (short / 2.0, along)
            };
            Roi {
                cx,
                cy,
                side: short,
                angle: 0.0,
            }
        })
        .collect()
}

/// An RGBA picture shrunk by the whole factor `k`, each pixel the mean of
/// a `k` x `k` block (a ragged edge is dropped).
fn shrink(rgba: &[u8], size: Size, k: u32) -> (Vec<u8>, Size) {
    let to = Size::new((size.width / k).max(1), (size.height / k).max(1));
    let (w, k) = (size.width as usize, k as usize);
    let mut out = vec![0u8; to.pixels() * 4];
    let mut sums = vec![0u32; to.width as usize * 4];
    let area = (k * k) as u32;
    for (oy, row_out) in out.chunks_exact_mut(to.width as usize * 4).enumerate() {
        sums.fill(0);
        for y in oy * k..oy * k + k {
            let row = &rgba[y * w * 4..(y * w + to.width as usize * k) * 4];
            for (ox, block) in row.chunks_exact(k * 4).enumerate() {
                for px in block.chunks_exact(4) {
                    for c in 0..4 {
                        sums[ox * 4 + c] += px[c] as u32;
                    }
                }
            }
        }
        for (o, s) in row_out.iter_mut().zip(&sums) {
            *o = ((s + area / 2) / area) as u8;
        }
    }
    (out, to)
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let area = |r: &[f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter).max(1e-6)
}

/// BlazeFace short-range anchor centres (normalised): a 16x16 grid with 2
/// anchors per cell, then an 8x8 grid with 6.
fn anchors() -> Vec<(f32, f32)> {
    let mut out = Vec::with_capacity(896);
    for (grid, per_cell) in [(16usize, 2usize), (8, 6)] {
        for y in 0..grid {
            for x in 0..grid {
                for _ in 0..per_cell {
                    out.push((
                        (x as f32 + 0.5) / grid as f32,
                        (y as f32 + 0.5) / grid as f32,
                    ));
                }
            }
        }
    }
    out
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v.clamp(-80.0, 80.0)).exp())
}

/// One Euro filter (Casiez et al.): a low-pass whose cut-off rises with speed.
#[derive(Debug, Clone, Copy)]
struct OneEuro {
    x: f32,
    dx: f32,
}

const MIN_CUTOFF_HZ: f32 = 1.0;
const BETA: f32 = 8.0;
const D_CUTOFF_HZ: f32 = 1.0;

fn alpha(cutoff: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * std::f32::consts::PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

impl OneEuro {
    /// `v` in units of the face size, so one tuning fits near and far faces.
    fn step(&mut self, v: f32, dt: f32) -> f32 {
        let dx = (v - self.x) / dt;
        self.dx += alpha(D_CUTOFF_HZ, dt) * (dx - self.dx);
        let cutoff = MIN_CUTOFF_HZ + BETA * self.dx.abs();
        self.x += alpha(cutoff, dt) * (v - self.x);
        self.x
    }
}

/// The face tracker: owns the two models and the state between frames.
#[derive(Debug)]
pub struct FaceTracker {
    detector: Net,
    landmarker: Net,
    anchors: Vec<(f32, f32)>,
    roi: Option<Roi>,
    last_centre: Option<(f32, f32)>,
    filters: Vec<OneEuro>,
    last_t: Option<f64>,
    /// The zoomed square the next search looks at.
    next_tile: usize,
}

/// The detector's input side (BlazeFace short range: 128x128).
const DETECTOR_INPUT: usize = 128;

/// Detector score needed to report a face.
const DETECTION_THRESHOLD: f32 = 0.5;
/// Landmark model presence under which tracking is lost.
const PRESENCE_THRESHOLD: f32 = 0.5;

impl FaceTracker {
    pub fn new() -> Result<Self, NetError> {
        Ok(FaceTracker {
            detector: Net::load(net::FACE_DETECTION)?,
            landmarker: Net::load(net::FACE_LANDMARK)?,
            anchors: anchors(),
            roi: None,
            last_centre: None,
            filters: Vec::new(),
            last_t: None,
            next_tile: 0,
        })
    }

    /// Every face in the frame, best first (after non-maximum suppression).
    /// The whole frame is looked at first; when no face is there, squares
    /// as tall as the frame are looked at, zoomed in (1.8x for 16:9), so a
    /// face too small for the whole-frame look (under about a ninth of the
    /// frame's width) is still found. (`track` looks at one square per
    /// frame, in turn.)
    pub fn detect(&self, rgba: &[u8], size: Size) -> Result<Vec<Detection>, NetError> {
        let found = self.detect_whole(rgba, size)?;
        if !found.is_empty() || size.width < 8 || size.height < 8 {
            return Ok(found);
        }
        let mut found = Vec::new();
        for tile in zoom_tiles(size) {
            found.extend(self.detect_in(rgba, size, &tile)?);
        }
        Ok(suppress(found))
    }

    /// The faces found by looking at the whole frame at once.
    pub fn detect_whole(&self, rgba: &[u8], size: Size) -> Result<Vec<Detection>, NetError> {
        if size.width < 8 || size.height < 8 {
            return Ok(Vec::new());
        }
        let whole = Roi {
            cx: size.width as f32 / 2.0,
            cy: size.height as f32 / 2.0,
            side: size.width.max(size.height) as f32,
            angle: 0.0,
        };
        self.detect_in(rgba, size, &whole)
    }

    /// The faces in the whole frame; when there are none, in the next
    /// zoomed square (one per call, in turn: a small face is found within
    /// three frames, and a frame with nobody in it costs two looks, not
    /// four).
    fn detect_turn(&mut self, rgba: &[u8], size: Size) -> Result<Vec<Detection>, NetError> {
        let found = self.detect_whole(rgba, size)?;
        if !found.is_empty() || size.width < 8 || size.height < 8 {
            return Ok(found);
        }
        let tiles = zoom_tiles(size);
        if tiles.is_empty() {
            return Ok(found);
        }
        let tile = tiles[self.next_tile % tiles.len()];
        self.next_tile = self.next_tile.wrapping_add(1);
        self.detect_in(rgba, size, &tile)
    }

    /// The faces the detector finds in `roi` (upright), letterboxed into
    /// its square input. The picture is first shrunk by averaging, by the
    /// whole factor that leaves it at least the input's size: sampling a
    /// large picture straight into 128 pixels skips most of its pixels,
    /// and small faces drown in the aliasing.
    fn detect_in(&self, rgba: &[u8], size: Size, roi: &Roi) -> Result<Vec<Detection>, NetError> {
        let k = ((roi.side / DETECTOR_INPUT as f32).floor().max(1.0) as u32)
            .min(size.width.min(size.height))
            .max(1);
        let shrunk;
        let (pixels, at, roi_at) = if k >= 2 {
            shrunk = shrink(rgba, size, k);
            let s = 1.0 / k as f32;
            let scaled = Roi {
                cx: roi.cx * s,
                cy: roi.cy * s,
                side: roi.side * s,
                angle: 0.0,
            };
            (&shrunk.0[..], shrunk.1, scaled)
        } else {
            (rgba, size, *roi)
        };
        let out = self
            .detector
            .run(crop(pixels, at, &roi_at, DETECTOR_INPUT, -1.0, 1.0))?;
        let (Some(boxes), Some(scores)) = (out.first(), out.get(1)) else {
            return Ok(Vec::new());
        };
        let n = DETECTOR_INPUT as f32;
        let mut found: Vec<Detection> = Vec::new();
        for (i, &(ax, ay)) in self.anchors.iter().enumerate() {
            let score = sigmoid(scores[i]);
            if score < DETECTION_THRESHOLD {
                continue;
            }
            let r = &boxes[i * 16..i * 16 + 16];
            // In frame pixels: `roi` itself, not its shrunk twin.
            let at = |dx: f32, dy: f32| roi.to_frame(ax + dx / n, ay + dy / n);
            let (cx, cy) = at(r[0], r[1]);
            let (bw, bh) = (r[2] / n * roi.side, r[3] / n * roi.side);
            let mut keypoints = [[0.0; 2]; 6];
            for (k, kp) in keypoints.iter_mut().enumerate() {
                let (x, y) = at(r[4 + 2 * k], r[5 + 2 * k]);
                *kp = [x, y];
            }
            found.push(Detection {
                bbox: [cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0],
                keypoints,
                score,
            });
        }
        Ok(suppress(found))
    }

    /// Raw landmarks in `roi` (frame pixels) and the face presence score.
    pub fn landmarks(
        &self,
        rgba: &[u8],
        size: Size,
        roi: &Roi,
    ) -> Result<(Vec<[f32; 3]>, f32), NetError> {
        let out = self.landmarker.run(crop(rgba, size, roi, 192, 0.0, 1.0))?;
        let (Some(points), Some(flag)) = (out.first(), out.get(1)) else {
            return Ok((Vec::new(), 0.0));
        };
        let marks = points
            .chunks_exact(3)
            .map(|p| {
                let (x, y) = roi.to_frame(p[0] / 192.0, p[1] / 192.0);
                [x, y, p[2] / 192.0 * roi.side]
            })
            .collect();
        Ok((marks, flag.first().copied().map_or(0.0, sigmoid)))
    }

    /// Forgets the tracked face (a new source, a cut).
    pub fn reset(&mut self) {
        self.roi = None;
        self.last_centre = None;
        self.filters.clear();
        self.last_t = None;
    }

    /// Tracks the face in one frame taken at `t` seconds. None: no face.
    pub fn track(
        &mut self,
        rgba: &[u8],
        size: Size,
        t: f64,
    ) -> Result<Option<FaceState>, NetError> {
        if size.width < 8 || size.height < 8 || rgba.len() < size.pixels() * 4 {
            self.reset();
            return Ok(None);
        }
        let mut attempt = 0;
        let (marks, score) = loop {
            let roi = match self.roi {
                Some(r) => r,
                None => {
                    let faces = self.detect_turn(rgba, size)?;
                    // Several faces: the one we followed (nearest its last
                    // place), else the largest.
                    let pick = match self.last_centre {
                        Some((lx, ly)) => faces.iter().min_by(|a, b| {
                            let d = |f: &Detection| {
                                let (x, y) = f.centre();
                                (x - lx).powi(2) + (y - ly).powi(2)
                            };
                            d(a).total_cmp(&d(b))
                        }),
                        None => faces.iter().max_by(|a, b| a.area().total_cmp(&b.area())),
                    };
                    match pick {
                        Some(d) => d.roi(),
                        None => {
                            self.reset();
                            return Ok(None);
                        }
                    }
                }
            };
            let (marks, score) = self.landmarks(rgba, size, &roi)?;
            if score >= PRESENCE_THRESHOLD && marks.len() == 468 {
                break (marks, score);
            }
            // Lost: look for the face again, once per frame.
            self.roi = None;
            attempt += 1;
            if attempt > 1 {
                self.reset();
                return Ok(None);
            }
        };
        let marks = self.smooth(marks, t);
        let state = face_state(marks, score);
        self.roi = Some(roi_from_landmarks(&state.landmarks));
        self.last_centre = Some((
            (state.bbox[0] + state.bbox[2]) / 2.0,
            (state.bbox[1] + state.bbox[3]) / 2.0,
        ));
        Ok(Some(state))
    }

    fn smooth(&mut self, marks: Vec<[f32; 3]>, t: f64) -> Vec<[f32; 3]> {
        let dt = match self.last_t {
            Some(last) if t > last => (t - last) as f32,
            _ => 0.0,
        };
        self.last_t = Some(t);
        let scale = face_width(&marks).max(1.0);
        if self.filters.len() != marks.len() * 3 || dt <= 0.0 {
            self.filters = marks
                .iter()
                .flat_map(|p| {
                    p.map(|v| OneEuro {
                        x: v / scale,
                        dx: 0.0,
                    })
                })
                .collect();
            return marks;
        }
        marks
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut q = [0.0; 3];
                for c in 0..3 {
                    q[c] = self.filters[i * 3 + c].step(p[c] / scale, dt) * scale;
                }
                q
            })
            .collect()
    }
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn face_width(marks: &[[f32; 3]]) -> f32 {
    match (marks.get(mesh::FACE_RIGHT), marks.get(mesh::FACE_LEFT)) {
        (Some(&a), Some(&b)) => dist(a, b),
        _ => 0.0,
    }
}

/// The box around points: x0, y0, x1, y1.
fn extent(marks: &[[f32; 3]]) -> [f32; 4] {
    marks.iter().fold(
        [f32::MAX, f32::MAX, f32::MIN, f32::MIN],
        |[x0, y0, x1, y1], p| [x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1])],
    )
}

/// The next frame's crop: around the landmarks, 1.5 x their extent, turned
/// with the eye line.
pub fn roi_from_landmarks(marks: &[[f32; 3]]) -> Roi {
    let [x0, y0, x1, y1] = extent(marks);
    let re = marks[mesh::RIGHT_EYE_OUTER];
    let le = marks[mesh::LEFT_EYE_OUTER];
    let angle = (le[1] - re[1]).atan2(le[0] - re[0]);
    // The extent measured along the face's own axes, so a tilted face does
    // not grow its crop.
    let (s, c) = angle.sin_cos();
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let mut half: f32 = 0.0;
    for p in marks {
        let (dx, dy) = (p[0] - cx, p[1] - cy);
        half = half
            .max((dx * c + dy * s).abs())
            .max((-dx * s + dy * c).abs());
    }
    Roi {
        cx,
        cy,
        side: half * 2.0 * 1.5,
        angle,
    }
}

/// The head's rotation as yaw, pitch and roll in degrees, in the order the
/// avatar rig applies them: R = Rz(roll) Ry(yaw) Rx(pitch), x to the image's
/// right, y down, z away from the camera. The head's own axes are the line
/// across the face (outer eye corner to outer eye corner) and the line down
/// it (forehead to chin, made square to the first); they are R's first two
/// columns. In MediaPipe's
/// canonical face the forehead and chin points are level in depth (0.7
/// degrees apart), so a face looking at the camera reads zero pitch.
pub fn head_pose(marks: &[[f32; 3]]) -> (f32, f32, f32) {
    use mesh::*;
    let sub = |a: [f32; 3], b: [f32; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let dot = |a: [f32; 3], b: [f32; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let unit = |a: [f32; 3]| {
        let n = dot(a, a).sqrt().max(1e-6);
        a.map(|v| v / n)
    };
    let across = unit(sub(marks[LEFT_EYE_OUTER], marks[RIGHT_EYE_OUTER]));
    let down = sub(marks[CHIN], marks[FOREHEAD]);
    let k = dot(down, across);
    let down = unit([
        down[0] - k * across[0],
        down[1] - k * across[1],
        down[2] - k * across[2],
    ]);
    // Depth of the third axis (across x down): R22.
    let r22 = across[0] * down[1] - across[1] * down[0];
    (
        across[2].clamp(-1.0, 1.0).asin().to_degrees(),
        (-down[2]).atan2(r22).to_degrees(),
        across[1].atan2(across[0]).to_degrees(),
    )
}

/// Pose, eyes, mouth and smile from the 468 landmarks.
pub fn face_state(marks: Vec<[f32; 3]>, score: f32) -> FaceState {
    use mesh::*;
    let m = |i: usize| marks[i];
    let (yaw, pitch, roll) = head_pose(&marks);
    let ratio =
        |a: usize, b: usize, c: usize, d: usize| dist(m(a), m(b)) / dist(m(c), m(d)).max(1e-3);
    let eye = |r: f32| ((r - 0.08) / 0.2).clamp(0.0, 1.0);
    let right = ratio(
        RIGHT_EYE_TOP,
        RIGHT_EYE_BOTTOM,
        RIGHT_EYE_OUTER,
        RIGHT_EYE_INNER,
    );
    let left = ratio(
        LEFT_EYE_TOP,
        LEFT_EYE_BOTTOM,
        LEFT_EYE_OUTER,
        LEFT_EYE_INNER,
    );
    let mouth = ratio(LIP_TOP_INNER, LIP_BOTTOM_INNER, MOUTH_RIGHT, MOUTH_LEFT);
    let width = ratio(MOUTH_RIGHT, MOUTH_LEFT, FACE_RIGHT, FACE_LEFT);
    FaceState {
        bbox: extent(&marks),
        yaw,
        pitch,
        roll,
        eye_open: [eye(left), eye(right)],
        mouth_open: (mouth / 0.6).clamp(0.0, 1.0),
        smile: ((width - 0.38) / 0.1).clamp(0.0, 1.0),
        score,
        landmarks: marks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_896_anchors_inside_the_square() {
        let a = anchors();
        assert_eq!(a.len(), 896);
        assert!(a
            .iter()
            .all(|&(x, y)| (0.0..1.0).contains(&x) && (0.0..1.0).contains(&y)));
    }

    #[test]
    fn one_euro_is_steady_when_still_and_follows_motion() {
        let mut f = OneEuro { x: 0.0, dx: 0.0 };
        // Jitter around 0: the output stays much closer to 0 than the input.
        let mut worst: f32 = 0.0;
        for i in 0..60 {
            let v = if i % 2 == 0 { 0.01 } else { -0.01 };
            worst = worst.max(f.step(v, 1.0 / 30.0).abs());
        }
        assert!(worst < 0.006, "{worst}");
        // A steady move: it catches up within a few frames.
        let mut out = 0.0;
        for i in 1..=10 {
            out = f.step(i as f32 * 0.05, 1.0 / 30.0);
        }
        assert!((out - 0.5).abs() < 0.08, "{out}");
    }

    #[test]
    fn shrinking_averages_whole_blocks() {
        // 5x3, k = 2: two 2x2 blocks; the last column and row are dropped.
        let mut rgba = Vec::new();
        for y in 0..3u8 {
            for x in 0..5u8 {
                rgba.extend([x * 10 + y, 100, 200, 255]);
            }
        }
        let (out, size) = shrink(&rgba, Size::new(5, 3), 2);
        assert_eq!(size, Size::new(2, 1));
        // Block 0: x 0..2, y 0..2: red 0, 1, 10, 11 -> 5.5, rounded to 6.
        assert_eq!(&out[..4], &[6, 100, 200, 255]);
        assert_eq!(&out[4..], &[26, 100, 200, 255]);
    }

    #[test]
    fn zoom_tiles_cover_the_long_side_with_overlap() {
        let tiles = zoom_tiles(Size::new(640, 360));
        assert_eq!(tiles.len(), 3);
        assert_eq!(
            (tiles[0].cx, tiles[0].cy, tiles[0].side),
            (180.0, 180.0, 360.0)
        );
        assert_eq!(tiles[2].cx, 460.0);
        for pair in tiles.windows(2) {
            let overlap = pair[0].cx + 180.0 - (pair[1].cx - 180.0);
            assert!(overlap >= 120.0, "{overlap}");
        }
        let tall = zoom_tiles(Size::new(360, 640));
        assert_eq!(tall.len(), 3);
        assert_eq!((tall[1].cx, tall[1].cy), (180.0, 320.0));
        // 4:3: two squares, zoomed 1.33x; nearly square: none.
        assert_eq!(zoom_tiles(Size::new(640, 480)).len(), 2);
        assert!(zoom_tiles(Size::new(600, 500)).is_empty());
        assert!(zoom_tiles(Size::new(512, 512)).is_empty());
    }

    #[test]
    fn roi_maps_corners_through_its_rotation() {
        let r = Roi {
            cx: 100.0,
            cy: 50.0,
            side: 20.0,
            angle: std::f32::consts::FRAC_PI_2,
        };
        let (x, y) = r.to_frame(1.0, 0.5);
        assert!((x - 100.0).abs() < 1e-4 && (y - 60.0).abs() < 1e-4);
    }

    /// A head turned by a known rotation (the rig's order, all three angles at
    /// once) reads back those angles.
    #[test]
    fn head_pose_reads_back_a_known_rotation() {
        // Canonical points (x right, y down, z away), in centimetres.
        let mut marks = vec![[0.0f32; 3]; 468];
        marks[mesh::RIGHT_EYE_OUTER] = [-4.4, -2.7, -3.2];
        marks[mesh::LEFT_EYE_OUTER] = [4.4, -2.7, -3.2];
        marks[mesh::FOREHEAD] = [0.0, -8.3, -4.5];
        marks[mesh::CHIN] = [0.0, 9.4, -4.3];
        assert!(head_pose(&marks).0.abs() < 1e-3);
        for (yaw, pitch, roll) in [
            (30.0f32, 0.0f32, 0.0f32),
            (0.0, -20.0, 0.0),
            (-35.0, 15.0, 25.0),
        ] {
            let (sy, cy) = yaw.to_radians().sin_cos();
            let (sp, cp) = pitch.to_radians().sin_cos();
            let (sr, cr) = roll.to_radians().sin_cos();
            let turned: Vec<[f32; 3]> = marks
                .iter()
                .map(|&[x, y, z]| {
                    let (y, z) = (cp * y + sp * z, -sp * y + cp * z);
                    let (x, z) = (cy * x - sy * z, sy * x + cy * z);
                    [cr * x - sr * y, sr * x + cr * y, z]
                })
                .collect();
            let (y, p, r) = head_pose(&turned);
            // The canonical face's own 0.7 degree tilt stays in the pitch.
            assert!(
                (y - yaw).abs() < 0.05 && (p - pitch + 0.65).abs() < 0.1 && (r - roll).abs() < 0.05,
                "{yaw} {pitch} {roll} read as {y} {p} {r}"
            );
        }
    }
}
