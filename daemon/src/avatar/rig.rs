//! The rig: what the face tracker saw -> where each layer of a pack goes.
//! Pure arithmetic, no GPU: every layer gets a homography from its canvas to
//! frame pixels (the head's position, scale and roll, with yaw and pitch as
//! a perspective warp of the art's plane) and an opacity.

use super::pack::{Driver, EffectKind, Manifest, Trigger};
use crate::perception::face::FaceState;

/// A 3x3 matrix, row-major, acting on column vectors (x, y, 1).
pub type Mat3 = [[f32; 3]; 3];

pub const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

pub fn mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    m
}

pub fn apply(m: &Mat3, p: [f32; 2]) -> Option<[f32; 2]> {
    let w = m[2][0] * p[0] + m[2][1] * p[1] + m[2][2];
    if w <= 1e-6 {
        return None;
    }
    Some([
        (m[0][0] * p[0] + m[0][1] * p[1] + m[0][2]) / w,
        (m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]) / w,
    ])
}

pub fn invert(m: &Mat3) -> Option<Mat3> {
    let [[a, b, c], [d, e, f], [g, h, i]] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let k = 1.0 / det;
    Some([
        [
            (e * i - f * h) * k,
            (c * h - b * i) * k,
            (b * f - c * e) * k,
        ],
        [
            (f * g - d * i) * k,
            (a * i - c * g) * k,
            (c * d - a * f) * k,
        ],
        [
            (d * h - e * g) * k,
            (b * g - a * h) * k,
            (a * e - b * d) * k,
        ],
    ])
}

fn translate(x: f32, y: f32) -> Mat3 {
    [[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]]
}

/// Turns by `deg` degrees, clockwise in the picture (y points down).
fn rotate(deg: f32) -> Mat3 {
    let (s, c) = deg.to_radians().sin_cos();
    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
}

fn scale_about(p: [f32; 2], sx: f32, sy: f32) -> Mat3 {
    mul(
        &translate(p[0], p[1]),
        &mul(
            &[[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]],
            &translate(-p[0], -p[1]),
        ),
    )
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The head as the rig needs it, in frame pixels and degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Eye centres: the one on the picture's left, then right.
    pub eyes: [[f32; 2]; 2],
    /// Distance between the eye centres as if seen face on (pixels).
    pub eye_distance: f32,
    /// As in `FaceState`: yaw > 0 turns to the picture's right, pitch > 0 looks up.
    pub yaw: f32,
    pub pitch: f32,
    /// Openness of the eye on the picture's left and right, 0..1.
    pub eye_open: [f32; 2],
    pub mouth_open: f32,
    pub smile: f32,
    /// 0 (resting) to 1 (raised high).
    pub brow_raise: f32,
}

/// Face mesh points used here (MediaPipe's 468-point topology).
mod mesh {
    /// Corners of the eye on the picture's left (the subject's right eye).
    pub const LEFT_EYE: [usize; 2] = [33, 133];
    /// Corners of the eye on the picture's right.
    pub const RIGHT_EYE: [usize; 2] = [362, 263];
    /// Middle of each brow and the upper lid below it (picture left, right).
    pub const BROWS: [(usize, usize); 2] = [(105, 159), (334, 386)];
}

/// Brow-to-lid distance, over the eye distance, at rest and raised high.
const BROW_REST: f32 = 0.24;
const BROW_HIGH: f32 = 0.36;

impl Pose {
    /// The pose of a tracked face; None when the landmarks are not all there.
    pub fn from_face(f: &FaceState) -> Option<Pose> {
        let lm = &f.landmarks;
        if lm.len() < 468 {
            return None;
        }
        let centre = |[a, b]: [usize; 2]| {
            let (p, q) = (lm[a], lm[b]);
            [
                (p[0] + q[0]) / 2.0,
                (p[1] + q[1]) / 2.0,
                (p[2] + q[2]) / 2.0,
            ]
        };
        let (l, r) = (centre(mesh::LEFT_EYE), centre(mesh::RIGHT_EYE));
        // Depth is in the same scale as x and y, so the 3D distance does not
        // shrink when the head turns.
        let d3 = ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2) + (r[2] - l[2]).powi(2)).sqrt();
        let d2 = ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt();
        let turned = d2 / f.yaw.to_radians().cos().max(0.3);
        let eye_distance = d3.max(turned);
        if !eye_distance.is_finite() || eye_distance < 2.0 {
            return None;
        }
        let raise = mesh::BROWS
            .iter()
            .map(|&(b, lid)| {
                let (b, lid) = (lm[b], lm[lid]);
                ((b[0] - lid[0]).powi(2) + (b[1] - lid[1]).powi(2)).sqrt() / eye_distance
            })
            .sum::<f32>()
            / 2.0;
        Some(Pose {
            eyes: [[l[0], l[1]], [r[0], r[1]]],
            eye_distance,
            yaw: f.yaw,
            pitch: f.pitch,
            // FaceState counts eyes as the subject's: left is the picture's right.
            eye_open: [f.eye_open[1], f.eye_open[0]],
            mouth_open: f.mouth_open,
            smile: f.smile,
            brow_raise: ((raise - BROW_REST) / (BROW_HIGH - BROW_REST)).clamp(0.0, 1.0),
        })
    }

    /// The roll: the eye line's angle, clockwise in the picture, in degrees.
    pub fn roll(&self) -> f32 {
        let [l, r] = self.eyes;
        (r[1] - l[1]).atan2(r[0] - l[0]).to_degrees()
    }
}

/// Furthest ahead a pose is extrapolated (perception is at most a few frames behind).
const MAX_AHEAD: f64 = 0.1;
/// Two results further apart than this (eye distances) are a jump of the
/// tracker (another face, a re-detection), not motion: no extrapolation.
const MAX_STEP: f32 = 1.0;

/// The head's motion from the last two tracked poses: where it is now, for a
/// frame newer than the newest result (the perception thread runs behind the
/// picture), so the avatar does not trail a moving head.
#[derive(Debug, Clone, Default)]
pub struct Motion {
    /// The newest pose, its frame's time (seconds) and sequence number.
    last: Option<(Pose, f64, u64)>,
    prev: Option<(Pose, f64)>,
}

impl Motion {
    /// Takes a tracker result (the same frame twice counts once).
    pub fn observe(&mut self, pose: Pose, at: f64, seq: u64) {
        if self.last.as_ref().is_some_and(|(_, _, s)| *s == seq) {
            return;
        }
        self.prev = self.last.map(|(p, t, _)| (p, t));
        self.last = Some((pose, at, seq));
    }

    /// Forgets the history (the face was lost or the source changed).
    pub fn reset(&mut self) {
        *self = Motion::default();
    }

    /// The pose at time `at` (seconds): the newest one moved on by its
    /// velocity for up to `MAX_AHEAD`, position and size only (angles and
    /// expressions are not extrapolated).
    pub fn predict(&self, at: f64) -> Option<Pose> {
        let (p1, t1, _) = self.last?;
        let Some((p0, t0)) = self.prev else {
            return Some(p1);
        };
        let dt = t1 - t0;
        let ahead = (at - t1).clamp(0.0, MAX_AHEAD);
        let mid = |p: &Pose| {
            [
                (p.eyes[0][0] + p.eyes[1][0]) / 2.0,
                (p.eyes[0][1] + p.eyes[1][1]) / 2.0,
            ]
        };
        let (m0, m1) = (mid(&p0), mid(&p1));
        let step = (m1[0] - m0[0]).hypot(m1[1] - m0[1]) / p1.eye_distance.max(1.0);
        if !(0.001..=0.25).contains(&dt) || ahead <= 0.0 || step > MAX_STEP {
            return Some(p1);
        }
        let k = (ahead / dt) as f32;
        let mut p = p1;
        for e in 0..2 {
            for c in 0..2 {
                p.eyes[e][c] += (p1.eyes[e][c] - p0.eyes[e][c]) * k;
            }
        }
        p.eye_distance = (p1.eye_distance + (p1.eye_distance - p0.eye_distance) * k)
            .clamp(p1.eye_distance * 0.5, p1.eye_distance * 2.0);
        Some(p)
    }
}

/// Where one layer goes: canvas units -> frame pixels, and how opaque it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerDraw {
    pub canvas_to_frame: Mat3,
    pub opacity: f32,
}

/// The head's homography: canvas -> frame. The art is a plane through the
/// eyes, scaled so its eyes are as far apart as the face's, turned by pitch,
/// yaw and roll, seen through a camera whose focal length is ten eye
/// distances (a face at arm's length), and placed at the eyes' midpoint.
pub fn head(m: &Manifest, pose: &Pose, upright: bool) -> Mat3 {
    let c = &m.canvas;
    let e = [
        (c.left_eye[0] + c.right_eye[0]) / 2.0,
        (c.left_eye[1] + c.right_eye[1]) / 2.0,
    ];
    let canvas_eyes = ((c.right_eye[0] - c.left_eye[0]).powi(2)
        + (c.right_eye[1] - c.left_eye[1]).powi(2))
    .sqrt();
    // The art's own eye line may be tilted; level it first.
    let art_tilt = (c.right_eye[1] - c.left_eye[1])
        .atan2(c.right_eye[0] - c.left_eye[0])
        .to_degrees();
    let s = pose.eye_distance / canvas_eyes.max(1e-3);
    let [l, r] = pose.eyes;
    let mid = [(l[0] + r[0]) / 2.0, (l[1] + r[1]) / 2.0];
    let (yaw, pitch, roll) = if upright {
        (0.0, 0.0, 0.0)
    } else {
        (
            pose.yaw.clamp(-60.0, 60.0),
            pose.pitch.clamp(-45.0, 45.0),
            pose.roll(),
        )
    };
    let (sy, cy) = yaw.to_radians().sin_cos();
    let (sp, cp) = pitch.to_radians().sin_cos();
    let (sr, cr) = roll.to_radians().sin_cos();
    // Rz(roll) * Ry(yaw) * Rx(pitch); z points away from the camera.
    let rz = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
    let ry = [[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]];
    let rx = [[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]];
    let rot = mul(&rz, &mul(&ry, &rx));
    let f = 10.0 * pose.eye_distance;
    // A levelled canvas point (u, v) relative to the art's eyes lands at
    // X = s (r00 u + r01 v), Y = s (r10 u + r11 v), depth Z = s (r20 u + r21 v)
    // from the face's eye midpoint, and is seen at mid + f (X, Y) / (f + Z).
    // In homogeneous form, with w = 1 + Z / f:
    let (a, b) = (s * rot[2][0] / f, s * rot[2][1] / f);
    let project = [
        [
            s * rot[0][0] + mid[0] * a,
            s * rot[0][1] + mid[0] * b,
            mid[0],
        ],
        [
            s * rot[1][0] + mid[1] * a,
            s * rot[1][1] + mid[1] * b,
            mid[1],
        ],
        [a, b, 1.0],
    ];
    let level = mul(&rotate(-art_tilt), &translate(-e[0], -e[1]));
    mul(&project, &level)
}

/// How far a trigger holds, 0..1.
fn trigger_weight(t: Trigger, threshold: Option<f32>, pose: &Pose) -> f32 {
    match t {
        Trigger::Always => 1.0,
        Trigger::MouthOpen => smoothstep(0.08, 0.3, pose.mouth_open),
        Trigger::MouthWide => {
            let th = threshold.unwrap_or(0.5);
            smoothstep(th - 0.1, th + 0.05, pose.mouth_open)
        }
        Trigger::Smile => smoothstep(0.3, 0.6, pose.smile),
        Trigger::EyesClosed => {
            1.0 - smoothstep(0.15, 0.45, (pose.eye_open[0] + pose.eye_open[1]) / 2.0)
        }
    }
}

/// Eyelid opacity for an eye this open: hidden while open, shown once shut.
fn lid(open: f32) -> f32 {
    1.0 - smoothstep(0.15, 0.45, open)
}

/// Where every layer of `m` goes for `pose` at time `t` (seconds; effects
/// animate with it). Layers come back in the manifest's order (bottom first).
pub fn rig(m: &Manifest, pose: &Pose, t: f32) -> Vec<LayerDraw> {
    let h = head(m, pose, false);
    let body = head(m, pose, true);
    let tau = std::f32::consts::TAU;
    m.layers
        .iter()
        .map(|l| {
            let pivot = l
                .pivot
                .unwrap_or([m.canvas.size[0] as f32 / 2.0, m.canvas.size[1] as f32 * 0.7]);
            let (local, opacity) = match l.driver {
                Driver::Head => (IDENTITY, 1.0),
                Driver::Body => {
                    return LayerDraw {
                        canvas_to_frame: body,
                        opacity: 1.0,
                    }
                }
                Driver::Jaw => {
                    let open = smoothstep(0.05, 0.7, pose.mouth_open);
                    let turn = mul(
                        &translate(pivot[0], pivot[1]),
                        &mul(
                            &rotate(l.angle.unwrap_or(0.0) * open),
                            &translate(-pivot[0], -pivot[1]),
                        ),
                    );
                    (
                        mul(&translate(0.0, l.drop.unwrap_or(0.0) * open), &turn),
                        1.0,
                    )
                }
                Driver::Mouth => (IDENTITY, smoothstep(0.05, 0.35, pose.mouth_open)),
                Driver::Eyelids => (IDENTITY, lid((pose.eye_open[0] + pose.eye_open[1]) / 2.0)),
                Driver::EyelidLeft => (IDENTITY, lid(pose.eye_open[0])),
                Driver::EyelidRight => (IDENTITY, lid(pose.eye_open[1])),
                Driver::Pupils => {
                    let range = l.range.unwrap_or(0.0);
                    (
                        translate(
                            range * (pose.yaw / 30.0).clamp(-1.0, 1.0),
                            -range * (pose.pitch / 30.0).clamp(-1.0, 1.0),
                        ),
                        1.0,
                    )
                }
                Driver::Brows => (
                    translate(0.0, -l.lift.unwrap_or(0.0) * pose.brow_raise),
                    1.0,
                ),
                Driver::Effect => {
                    let w = trigger_weight(l.trigger.unwrap_or_default(), l.threshold, pose);
                    match l.effect {
                        Some(EffectKind::Glow) => {
                            (IDENTITY, w * (0.7 + 0.3 * (tau * 1.2 * t).sin()))
                        }
                        Some(EffectKind::Flicker) => {
                            let jitter =
                                1.0 + 0.08 * (tau * 7.0 * t).sin() + 0.05 * (tau * 11.3 * t).sin();
                            let sy = (0.4 + 0.6 * w) * jitter;
                            let sx = 1.0 + 0.04 * (tau * 5.1 * t).sin();
                            (scale_about(pivot, sx, sy), w)
                        }
                        Some(EffectKind::Scan) => (
                            translate(l.range.unwrap_or(0.0) * (tau * 0.5 * t).sin(), 0.0),
                            w,
                        ),
                        None => (IDENTITY, 0.0),
                    }
                }
            };
            LayerDraw {
                canvas_to_frame: mul(&h, &local),
                opacity: opacity.clamp(0.0, 1.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avatar::pack::{Canvas, Layer, Mode};

    fn layer(driver: Driver) -> Layer {
        Layer {
            file: "x.svg".into(),
            driver,
            pivot: None,
            angle: None,
            drop: None,
            range: None,
            lift: None,
            effect: None,
            trigger: None,
            threshold: None,
        }
    }

    fn manifest(layers: Vec<Layer>) -> Manifest {
        Manifest {
            format: 1,
            name: "t".into(),
            description: "t".into(),
            author: "t".into(),
            licence: "t".into(),
            mode: Mode::Mask,
            scene: None,
            canvas: Canvas {
                size: [200, 200],
                left_eye: [80.0, 100.0],
                right_eye: [120.0, 100.0],
            },
            layers,
        }
    }

    fn pose() -> Pose {
        Pose {
            eyes: [[600.0, 300.0], [680.0, 300.0]],
            eye_distance: 80.0,
            yaw: 0.0,
            pitch: 0.0,
            eye_open: [1.0, 1.0],
            mouth_open: 0.0,
            smile: 0.0,
            brow_raise: 0.0,
        }
    }

    fn at(d: &LayerDraw, p: [f32; 2]) -> [f32; 2] {
        apply(&d.canvas_to_frame, p).expect("in front of the camera")
    }

    fn close(a: [f32; 2], b: [f32; 2], tol: f32) -> bool {
        (a[0] - b[0]).abs() <= tol && (a[1] - b[1]).abs() <= tol
    }

    #[test]
    fn the_art_eyes_land_on_the_face_eyes() {
        let m = manifest(vec![layer(Driver::Head)]);
        let d = rig(&m, &pose(), 0.0)[0];
        assert!(close(at(&d, [80.0, 100.0]), [600.0, 300.0], 0.01));
        assert!(close(at(&d, [120.0, 100.0]), [680.0, 300.0], 0.01));
        // Scale 2: a point 50 units below the eyes is 100 pixels below.
        assert!(close(at(&d, [100.0, 150.0]), [640.0, 400.0], 0.01));
    }

    #[test]
    fn translated_and_scaled_faces_move_the_art_alike() {
        let m = manifest(vec![layer(Driver::Head)]);
        let base = rig(&m, &pose(), 0.0)[0];
        let mut moved = pose();
        // Twice as far from the middle (scale 1.5 about (640, 300)), then 40 px down.
        moved.eyes = [[580.0, 340.0], [700.0, 340.0]];
        moved.eye_distance = 120.0;
        let d = rig(&m, &moved, 0.0)[0];
        for p in [[10.0, 10.0], [190.0, 30.0], [100.0, 180.0]] {
            let b = at(&base, p);
            let want = [
                640.0 + (b[0] - 640.0) * 1.5,
                300.0 + (b[1] - 300.0) * 1.5 + 40.0,
            ];
            assert!(
                close(at(&d, p), want, 0.05),
                "{p:?}: {:?} vs {want:?}",
                at(&d, p)
            );
        }
    }

    #[test]
    fn a_tilted_head_tilts_the_art_by_the_same_angle() {
        let m = manifest(vec![layer(Driver::Head)]);
        let mut p = pose();
        let a = 20f32.to_radians();
        let mid = [640.0, 300.0];
        p.eyes = [
            [mid[0] - 40.0 * a.cos(), mid[1] - 40.0 * a.sin()],
            [mid[0] + 40.0 * a.cos(), mid[1] + 40.0 * a.sin()],
        ];
        assert!((p.roll() - 20.0).abs() < 1e-3);
        let d = rig(&m, &p, 0.0)[0];
        // The chin point (straight below the eyes in the art) turns 20 degrees clockwise.
        let chin = at(&d, [100.0, 150.0]);
        let angle = (chin[0] - mid[0]).atan2(chin[1] - mid[1]).to_degrees();
        assert!(
            (angle + 20.0).abs() < 0.01,
            "chin at {angle} degrees from straight down"
        );
        assert!(((chin[0] - mid[0]).hypot(chin[1] - mid[1]) - 100.0).abs() < 0.01);
    }

    #[test]
    fn yaw_narrows_the_far_side_and_pitch_the_far_half() {
        let m = manifest(vec![layer(Driver::Head)]);
        let mut p = pose();
        p.yaw = 30.0;
        let d = rig(&m, &p, 0.0)[0];
        let left = at(&d, [40.0, 100.0]);
        let right = at(&d, [160.0, 100.0]);
        let mid = at(&d, [100.0, 100.0]);
        // Turned towards the picture's right: that side recedes and shrinks.
        assert!(mid[0] - left[0] > right[0] - mid[0]);
        // Its width is about cos(30) of the straight-on 240 px.
        let w = right[0] - left[0];
        assert!(
            (w - 240.0 * 30f32.to_radians().cos()).abs() < 6.0,
            "width {w}"
        );
        // Vertical edges keep their direction but the far one is shorter.
        let tall = |x: f32| at(&d, [x, 190.0])[1] - at(&d, [x, 10.0])[1];
        assert!(tall(190.0) < tall(10.0));
        p.yaw = 0.0;
        p.pitch = 20.0;
        let d = rig(&m, &p, 0.0)[0];
        let wide = |y: f32| at(&d, [190.0, y])[0] - at(&d, [10.0, y])[0];
        // Looking up: the chin comes nearer (wider), the forehead recedes.
        assert!(wide(190.0) > wide(10.0));
    }

    #[test]
    fn the_body_stays_upright_when_the_head_turns() {
        let m = manifest(vec![layer(Driver::Body), layer(Driver::Head)]);
        let mut p = pose();
        p.yaw = 25.0;
        p.eyes = [[600.0, 290.0], [680.0, 310.0]];
        let d = rig(&m, &p, 0.0);
        let shoulders = [at(&d[0], [0.0, 200.0]), at(&d[0], [200.0, 200.0])];
        assert!((shoulders[0][1] - shoulders[1][1]).abs() < 1e-3);
        let head = [at(&d[1], [0.0, 200.0]), at(&d[1], [200.0, 200.0])];
        assert!((head[0][1] - head[1][1]).abs() > 5.0);
    }

    #[test]
    fn closed_eyes_show_the_lids_and_an_open_mouth_drops_the_jaw() {
        let mut jaw = layer(Driver::Jaw);
        jaw.drop = Some(20.0);
        jaw.angle = Some(10.0);
        jaw.pivot = Some([100.0, 140.0]);
        let m = manifest(vec![
            layer(Driver::EyelidLeft),
            layer(Driver::EyelidRight),
            jaw,
            layer(Driver::Mouth),
        ]);
        let mut p = pose();
        let open = rig(&m, &p, 0.0);
        assert_eq!(open[0].opacity, 0.0);
        assert_eq!(open[1].opacity, 0.0);
        assert_eq!(open[3].opacity, 0.0);
        assert!(close(at(&open[2], [100.0, 140.0]), [640.0, 380.0], 0.01));
        p.eye_open = [0.05, 0.9];
        p.mouth_open = 0.8;
        let d = rig(&m, &p, 0.0);
        assert_eq!(d[0].opacity, 1.0, "the left eye is shut");
        assert_eq!(d[1].opacity, 0.0, "the right eye is open");
        assert_eq!(d[3].opacity, 1.0, "the mouth is open");
        // The pivot drops by 20 units = 40 px; the jaw tip turns clockwise.
        let pivot = at(&d[2], [100.0, 140.0]);
        assert!(
            close(pivot, [640.0, 300.0 + 80.0 + 40.0], 0.01),
            "{pivot:?}"
        );
        let tip = at(&d[2], [140.0, 140.0]);
        let angle = (tip[1] - pivot[1]).atan2(tip[0] - pivot[0]).to_degrees();
        assert!((angle - 10.0).abs() < 0.01, "jaw turned {angle}");
    }

    #[test]
    fn pupils_follow_the_head_and_brows_rise() {
        let mut pupils = layer(Driver::Pupils);
        pupils.range = Some(6.0);
        let mut brows = layer(Driver::Brows);
        brows.lift = Some(10.0);
        let m = manifest(vec![pupils, brows]);
        let mut p = pose();
        p.yaw = -15.0;
        p.brow_raise = 1.0;
        p.eye_open = [1.0, 1.0];
        let d = rig(&m, &p, 0.0);
        let h = head(&m, &p, false);
        let moved = |d: &LayerDraw, pt: [f32; 2]| {
            let a = at(d, pt);
            let b = apply(&h, pt).expect("front");
            [a[0] - b[0], a[1] - b[1]]
        };
        let pupil = moved(&d[0], [100.0, 100.0]);
        assert!(pupil[0] < -4.0 && pupil[1].abs() < 0.5, "{pupil:?}");
        let brow = moved(&d[1], [100.0, 80.0]);
        assert!(brow[1] < -18.0, "{brow:?}");
    }

    #[test]
    fn effects_follow_their_trigger() {
        let mut fire = layer(Driver::Effect);
        fire.effect = Some(EffectKind::Flicker);
        fire.trigger = Some(Trigger::MouthWide);
        fire.threshold = Some(0.5);
        let mut glow = layer(Driver::Effect);
        glow.effect = Some(EffectKind::Glow);
        let m = manifest(vec![fire, glow]);
        let mut p = pose();
        p.mouth_open = 0.2;
        let d = rig(&m, &p, 0.3);
        assert_eq!(d[0].opacity, 0.0);
        assert!(d[1].opacity > 0.3);
        p.mouth_open = 0.7;
        assert_eq!(rig(&m, &p, 0.3)[0].opacity, 1.0);
        // Animated effects are a function of time alone: the same t, the same draw.
        assert_eq!(rig(&m, &p, 1.25), rig(&m, &p, 1.25));
        assert_ne!(rig(&m, &p, 1.25)[1], rig(&m, &p, 1.5)[1]);
    }

    #[test]
    fn motion_extrapolates_steady_movement_only() {
        let at = |x: f32, d: f32| Pose {
            eyes: [[x - d / 2.0, 300.0], [x + d / 2.0, 300.0]],
            eye_distance: d,
            ..pose()
        };
        let mut m = Motion::default();
        assert_eq!(m.predict(0.0), None);
        m.observe(at(600.0, 80.0), 0.0, 1);
        // One result: nothing to extrapolate from.
        assert_eq!(m.predict(0.05), Some(at(600.0, 80.0)));
        m.observe(at(610.0, 82.0), 1.0 / 30.0, 2);
        m.observe(at(610.0, 82.0), 1.0 / 30.0, 2);
        // 10 px and 2 px of size per frame: two frames on, 20 px and 4 px further.
        let p = m.predict(3.0 / 30.0).expect("pose");
        assert!((p.eyes[0][0] - (630.0 - 43.0)).abs() < 1e-3, "{p:?}");
        assert!((p.eye_distance - 86.0).abs() < 1e-3);
        // No further than 100 ms ahead, and never backwards.
        let far = m.predict(10.0).expect("pose");
        let capped = m.predict(1.0 / 30.0 + 0.1).expect("pose");
        assert_eq!(far, capped);
        assert_eq!(m.predict(0.0), Some(at(610.0, 82.0)));
        // A jump of more than an eye distance is a new face: held, not flung.
        m.observe(at(900.0, 82.0), 2.0 / 30.0, 3);
        assert_eq!(m.predict(0.1), Some(at(900.0, 82.0)));
        m.reset();
        assert_eq!(m.predict(0.1), None);
    }

    #[test]
    fn matrices_invert() {
        let m = manifest(vec![layer(Driver::Head)]);
        let mut p = pose();
        p.yaw = 20.0;
        p.pitch = -10.0;
        let h = rig(&m, &p, 0.0)[0].canvas_to_frame;
        let inv = invert(&h).expect("invertible");
        let back = apply(&inv, apply(&h, [33.0, 150.0]).expect("front")).expect("front");
        assert!(close(back, [33.0, 150.0], 1e-2), "{back:?}");
    }
}
