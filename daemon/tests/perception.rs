//! Perception on real photos: MediaPipe's models, run with tract, on the
//! public-domain astronaut portrait shipped in `daemon/assets/` (from the
//! scikit-image wheel), checked against hand-drawn expectations.

use bytemeetd::frame::{Frame, PixelFormat, Size};
use bytemeetd::perception::{Downscaler, Segmenter};
use bytemeetd::settings::segmenter::SegmenterSpec;

#[path = "common/portrait.rs"]
mod portrait;
use portrait::{inside, PERSON};

fn astronaut() -> Frame {
    let img = portrait::astronaut_rgba();
    Frame::new(Size::new(512, 512), PixelFormat::Rgba, img.into_raw(), 1)
}

/// Mask value at a pixel of a `w` x `h` frame (the mask covers the frame).
fn mask_at(mask: &bytemeetd::perception::Mask, w: u32, h: u32, x: u32, y: u32) -> u8 {
    let mx = (x as u64 * mask.width as u64 / w as u64) as u32;
    let my = (y as u64 * mask.height as u64 / h as u64) as u32;
    mask.data[(my * mask.width + mx) as usize]
}

#[test]
fn the_mask_covers_the_person_and_not_the_background() {
    let mut seg = Segmenter::new(&SegmenterSpec::Model).expect("model loads");
    let frame = astronaut();
    let mask = seg
        .segment(&frame, &mut Downscaler::default())
        .expect("segment");
    assert_eq!(mask.seq, 1);
    let (mut both, mut either) = (0u32, 0u32);
    for y in 0..512 {
        for x in 0..512 {
            let truth = inside(PERSON, x as f32 + 0.5, y as f32 + 0.5);
            let found = mask_at(&mask, 512, 512, x, y) > 127;
            both += (truth && found) as u32;
            either += (truth || found) as u32;
        }
    }
    let iou = both as f64 / either as f64;
    eprintln!("IoU with the hand-drawn outline: {iou:.3}");
    assert!(iou >= 0.85, "IoU {iou:.3}");
    // Plain spots: the face is person, the flag and the shuttle are not.
    assert!(mask_at(&mask, 512, 512, 225, 110) > 200, "face");
    assert!(mask_at(&mask, 512, 512, 30, 60) < 50, "flag");
    assert!(mask_at(&mask, 512, 512, 410, 150) < 50, "shuttle");
}

#[test]
fn frames_without_a_person_give_an_empty_mask_not_a_panic() {
    let mut seg = Segmenter::new(&SegmenterSpec::Model).expect("model loads");
    let mut down = Downscaler::default();
    let share = |m: &bytemeetd::perception::Mask| {
        m.data.iter().filter(|&&v| v > 127).count() as f64 / m.data.len() as f64
    };
    let black = Frame::new(
        Size::new(640, 360),
        PixelFormat::Rgba,
        vec![0; 640 * 360 * 4],
        2,
    );
    let m = seg.segment(&black, &mut down).expect("black frame");
    assert!(share(&m) < 0.05, "black frame: {:.3} person", share(&m));
    let tiny = Frame::new(Size::new(2, 2), PixelFormat::Rgba, vec![200; 16], 3);
    let m = seg.segment(&tiny, &mut down).expect("tiny frame");
    assert!(m.data.iter().all(|&v| v == 0));
    let huge = Frame::new(
        Size::new(3840, 2160),
        PixelFormat::Yuyv,
        vec![128; 3840 * 2160 * 2],
        4,
    );
    let m = seg.segment(&huge, &mut down).expect("4K grey frame");
    assert!(share(&m) < 0.05, "grey 4K frame: {:.3} person", share(&m));
}

use bytemeetd::perception::face::{FaceState, FaceTracker};

/// A similarity transform of the 512x512 portrait into a 640x640 frame:
/// scale `k` and rotation `deg` (clockwise in the image) about the centre,
/// then a shift by (tx, ty).
#[derive(Debug, Clone, Copy)]
struct Motion {
    k: f32,
    deg: f32,
    tx: f32,
    ty: f32,
}

const SRC: f32 = 512.0;
const OUT: u32 = 640;

impl Motion {
    /// The moved portrait; outside it is mid grey.
    fn warp(self, src: &[u8]) -> Vec<u8> {
        let (s, c) = self.deg.to_radians().sin_cos();
        let (ocx, ocy) = (OUT as f32 / 2.0 + self.tx, OUT as f32 / 2.0 + self.ty);
        let mut out = vec![128u8; (OUT * OUT * 4) as usize];
        for y in 0..OUT {
            for x in 0..OUT {
                let (dx, dy) = (
                    (x as f32 + 0.5 - ocx) / self.k,
                    (y as f32 + 0.5 - ocy) / self.k,
                );
                let (sx, sy) = (dx * c + dy * s + SRC / 2.0, -dx * s + dy * c + SRC / 2.0);
                if sx >= 0.0 && sy >= 0.0 && sx < SRC && sy < SRC {
                    let i = ((sy as u32 * 512 + sx as u32) * 4) as usize;
                    let o = ((y * OUT + x) * 4) as usize;
                    out[o..o + 4].copy_from_slice(&src[i..i + 4]);
                }
            }
        }
        out
    }

    /// Where the transform sends a point of the portrait.
    fn apply(self, p: [f32; 3]) -> (f32, f32) {
        let (s, c) = self.deg.to_radians().sin_cos();
        let (dx, dy) = (p[0] - SRC / 2.0, p[1] - SRC / 2.0);
        (
            OUT as f32 / 2.0 + self.tx + self.k * (dx * c - dy * s),
            OUT as f32 / 2.0 + self.ty + self.k * (dx * s + dy * c),
        )
    }
}

fn face_in(tracker: &mut FaceTracker, rgba: &[u8], size: Size) -> FaceState {
    tracker.reset();
    tracker
        .track(rgba, size, 0.0)
        .expect("model runs")
        .expect("a face is found")
}

#[test]
fn the_face_is_found_with_its_landmarks_where_the_eyes_and_mouth_are() {
    let mut t = FaceTracker::new().expect("models load");
    let frame = astronaut();
    let dets = t.detect(&frame.data, frame.size).expect("detect");
    assert_eq!(dets.len(), 1, "one face: {dets:?}");
    let b = dets[0].bbox;
    // Hand-checked in the photo: eyes near (205, 100) and (240, 100), mouth near (222, 145).
    for (x, y) in [(205.0, 100.0), (240.0, 100.0), (222.0, 145.0)] {
        assert!(
            b[0] < x && x < b[2] && b[1] < y && y < b[3],
            "{:?} misses ({x}, {y})",
            b
        );
    }
    let f = face_in(&mut t, &frame.data, frame.size);
    assert_eq!(f.landmarks.len(), 468);
    let m = |i: usize| f.landmarks[i];
    let near = |p: [f32; 3], x: f32, y: f32, tol: f32| {
        ((p[0] - x).powi(2) + (p[1] - y).powi(2)).sqrt() < tol
    };
    assert!(near(m(1), 222.0, 125.0, 15.0), "nose tip {:?}", m(1));
    assert!(m(33)[0] < m(263)[0], "the right eye is on the image's left");
    assert!(
        m(13)[1] < m(14)[1] + 1.0 && m(14)[1] < m(152)[1],
        "lips above the chin"
    );
    assert!(
        f.roll.abs() < 10.0 && f.yaw.abs() < 20.0,
        "a frontal portrait: {f:?}"
    );
    assert!(
        f.eye_open[0] > 0.2 && f.eye_open[1] > 0.2,
        "eyes open: {:?}",
        f.eye_open
    );
    assert!(f.smile > 0.3, "she smiles: {}", f.smile);
    // Tracking (no detector) on the next frame stays on the face.
    let again = t
        .track(&frame.data, frame.size, 1.0 / 30.0)
        .expect("run")
        .expect("tracked");
    assert!(near(again.landmarks[1], m(1)[0], m(1)[1], 3.0));
}

/// The portrait moved by known similarity transforms: landmarks (tracked: the
/// second frame, cropped from the first frame's landmarks) follow the same
/// transform within 6 % of the eye distance on average, and the roll follows
/// the rotation within 3 degrees.
#[test]
fn landmarks_and_roll_follow_known_motion() {
    let mut t = FaceTracker::new().expect("models load");
    let frame = astronaut();
    let base = face_in(&mut t, &frame.data, frame.size);
    let (ow, oh) = (OUT, OUT);
    for (k, deg, tx, ty) in [
        (1.0, 0.0, 40.0, 25.0),
        (1.0, 15.0, 0.0, 0.0),
        (0.75, 0.0, -20.0, 10.0),
        (1.1, -20.0, 10.0, -15.0),
    ] {
        let motion = Motion { k, deg, tx, ty };
        let img = motion.warp(&frame.data);
        face_in(&mut t, &img, Size::new(ow, oh));
        // A still frame long after: the smoothing has settled on it.
        let f = t
            .track(&img, Size::new(ow, oh), 10.0)
            .expect("run")
            .expect("tracked");
        let eyes = k * {
            let (a, b) = (base.landmarks[33], base.landmarks[263]);
            ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
        };
        let mean = base
            .landmarks
            .iter()
            .zip(&f.landmarks)
            .map(|(a, b)| {
                let (x, y) = motion.apply(*a);
                ((x - b[0]).powi(2) + (y - b[1]).powi(2)).sqrt()
            })
            .sum::<f32>()
            / 468.0;
        let roll_error = (f.roll - base.roll - deg).abs();
        eprintln!("scale {k} rotate {deg} shift ({tx}, {ty}): landmarks off by {mean:.2} px ({:.1} % of the eye distance), roll off by {roll_error:.2} deg", 100.0 * mean / eyes);
        assert!(mean < 0.06 * eyes, "landmarks off by {mean:.2} px");
        assert!(roll_error < 3.0, "roll {} vs {}", f.roll, base.roll + deg);
    }
}

/// Head pose against known turns. The portrait's landmarks, turned back to
/// a zero pose and then rigidly by known yaw, pitch and roll (the rig's
/// order and the conventions of `FaceState`: x right, y down, z away), read
/// back those angles within half a degree; and the mirrored portrait, run
/// through the models, gives the opposite yaw and roll and the same pitch
/// within 4 degrees.
#[test]
fn head_pose_follows_known_turns_and_a_mirror() {
    use bytemeetd::perception::face::{face_state, mesh};
    let mut t = FaceTracker::new().expect("models load");
    let frame = astronaut();
    let base = face_in(&mut t, &frame.data, frame.size);
    let m = |i: usize| base.landmarks[i];
    // MediaPipe's depth: smaller is nearer, so the nose tip is in front of
    // the face's sides, its forehead and its chin.
    for side in [
        mesh::FACE_LEFT,
        mesh::FACE_RIGHT,
        mesh::FOREHEAD,
        mesh::CHIN,
    ] {
        assert!(
            m(mesh::NOSE_TIP)[2] < m(side)[2] - 5.0,
            "nose {:?} not in front of {side}: {:?}",
            m(mesh::NOSE_TIP),
            m(side)
        );
    }
    assert!(base.pitch.abs() < 15.0, "a level portrait: {base:?}");
    // Rotations about the nose tip, in degrees.
    let pivot = m(mesh::NOSE_TIP);
    let spin = |marks: &[[f32; 3]], axis: usize, deg: f32| -> Vec<[f32; 3]> {
        let (s, c) = deg.to_radians().sin_cos();
        marks
            .iter()
            .map(|p| {
                let [x, y, z] = [p[0] - pivot[0], p[1] - pivot[1], p[2] - pivot[2]];
                let [x, y, z] = match axis {
                    // Pitch: the nose goes up.
                    0 => [x, c * y + s * z, -s * y + c * z],
                    // Yaw: the nose goes towards the image's right.
                    1 => [c * x - s * z, y, s * x + c * z],
                    // Roll: clockwise in the image.
                    _ => [c * x - s * y, s * x + c * y, z],
                };
                [x + pivot[0], y + pivot[1], z + pivot[2]]
            })
            .collect()
    };
    // R = Rz(roll) Ry(yaw) Rx(pitch): pitch is applied first.
    let turn = |marks: &[[f32; 3]], yaw: f32, pitch: f32, roll: f32| {
        spin(&spin(&spin(marks, 0, pitch), 1, yaw), 2, roll)
    };
    let zero = spin(
        &spin(&spin(&base.landmarks, 2, -base.roll), 1, -base.yaw),
        0,
        -base.pitch,
    );
    for (yaw, pitch, roll) in [
        (25.0f32, 0.0f32, 0.0f32),
        (-25.0, 0.0, 0.0),
        (0.0, 15.0, 0.0),
        (0.0, -15.0, 0.0),
        (20.0, -10.0, 15.0),
    ] {
        let f = face_state(turn(&zero, yaw, pitch, roll), base.score);
        eprintln!(
            "turned to yaw {yaw} pitch {pitch} roll {roll}: read {:.2} {:.2} {:.2}",
            f.yaw, f.pitch, f.roll
        );
        assert!(
            (f.yaw - yaw).abs() < 0.5
                && (f.pitch - pitch).abs() < 0.5
                && (f.roll - roll).abs() < 0.5,
            "turned to {yaw} {pitch} {roll}, read {} {} {}",
            f.yaw,
            f.pitch,
            f.roll
        );
    }
    let mirrored: Vec<u8> = frame
        .data
        .chunks_exact(512 * 4)
        .flat_map(|row| row.chunks_exact(4).rev().flatten().copied())
        .collect();
    let f = face_in(&mut t, &mirrored, frame.size);
    eprintln!(
        "mirrored: yaw {:.1} / {:.1}, pitch {:.1} / {:.1}, roll {:.1} / {:.1}",
        base.yaw, f.yaw, base.pitch, f.pitch, base.roll, f.roll
    );
    assert!(
        (f.yaw + base.yaw).abs() < 4.0,
        "yaw {} vs {}",
        f.yaw,
        base.yaw
    );
    assert!(
        (f.roll + base.roll).abs() < 4.0,
        "roll {} vs {}",
        f.roll,
        base.roll
    );
    assert!(
        (f.pitch - base.pitch).abs() < 4.0,
        "pitch {} vs {}",
        f.pitch,
        base.pitch
    );
}

#[test]
fn no_face_tiny_or_huge_frames_give_no_face_and_no_panic() {
    let mut t = FaceTracker::new().expect("models load");
    let black = vec![0u8; 640 * 360 * 4];
    assert!(t
        .track(&black, Size::new(640, 360), 0.0)
        .expect("run")
        .is_none());
    let tiny = vec![255u8; 4];
    assert!(t.track(&tiny, Size::new(1, 1), 0.1).expect("run").is_none());
    let short = vec![0u8; 10];
    assert!(t
        .track(&short, Size::new(640, 360), 0.2)
        .expect("run")
        .is_none());
    let huge = vec![90u8; 3840 * 2160 * 4];
    assert!(t
        .track(&huge, Size::new(3840, 2160), 0.3)
        .expect("run")
        .is_none());
    // The shuttle and flag corner of the portrait: no face there.
    let frame = astronaut();
    let corner: Vec<u8> = (0..200)
        .flat_map(|y| frame.data[(y * 512 + 312) * 4..(y * 512 + 512) * 4].to_vec())
        .collect();
    assert!(t
        .track(&corner, Size::new(200, 200), 0.4)
        .expect("run")
        .is_none());
}

/// The perception thread end to end: a frame in, the newest mask and face out,
/// stamped with the frame they came from.
#[test]
fn the_perception_thread_publishes_mask_and_face() {
    let p = bytemeetd::perception::Perception::start(&SegmenterSpec::Model, true).expect("start");
    let frame = astronaut();
    let captured = frame.captured_at;
    p.offer(std::sync::Arc::new(frame));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let (Some((_, mask)), Some(face)) = (p.latest().newer_than(0), p.latest().face()) {
            assert_eq!((mask.seq, face.seq), (1, 1));
            assert_eq!(mask.captured_at, captured);
            let f = face.face.as_ref().expect("a face");
            assert!(f.bbox[0] > 150.0 && f.bbox[2] < 300.0, "{:?}", f.bbox);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no result");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The portrait's head and shoulders (x 110..330, y 10..260), at `scale`
/// with its top-left corner at (x, y), on a grey 640x480 frame.
fn heads(placed: &[(f32, i64, i64)]) -> Vec<u8> {
    let portrait =
        image::RgbaImage::from_raw(512, 512, astronaut().data.into_vec()).expect("portrait");
    let head = image::imageops::crop_imm(&portrait, 110, 10, 220, 250).to_image();
    let mut canvas = image::RgbaImage::from_pixel(640, 480, image::Rgba([128, 128, 128, 255]));
    for &(scale, x, y) in placed {
        let (w, h) = ((220.0 * scale) as u32, (250.0 * scale) as u32);
        let sized = image::imageops::resize(&head, w, h, image::imageops::FilterType::Triangle);
        image::imageops::overlay(&mut canvas, &sized, x, y);
    }
    canvas.into_raw()
}

fn centre_x(f: &FaceState) -> f32 {
    (f.bbox[0] + f.bbox[2]) / 2.0
}

/// Two people in the picture: the larger face is picked, and the tracker
/// stays on that person when the other one comes nearer (grows larger), and
/// when a sudden jump loses the crop and the detector is asked again (the
/// face nearest to where it was wins, not the largest). After a reset, the
/// largest face is picked again.
#[test]
fn of_several_faces_the_largest_is_picked_and_then_kept() {
    let size = Size::new(640, 480);
    let mut t = FaceTracker::new().expect("models load");
    let first = heads(&[(1.2, 10, 90), (0.9, 420, 160)]);
    let dets = t.detect(&first, size).expect("detect");
    assert_eq!(dets.len(), 2, "two faces: {dets:?}");
    let f = t.track(&first, size, 0.0).expect("run").expect("a face");
    assert!(
        centre_x(&f) < 320.0,
        "the larger face, on the left: {:?}",
        f.bbox
    );
    // The right-hand person comes nearer, the left one steps back.
    let mut time = 0.0;
    for (a, b) in [(1.1, 1.0), (1.0, 1.15), (1.0, 1.3)] {
        time += 1.0 / 30.0;
        let frame = heads(&[(a, 10, 100), (b, 354, 100)]);
        let f = t.track(&frame, size, time).expect("run").expect("a face");
        assert!(
            centre_x(&f) < 320.0,
            "kept the left face at sizes {a}/{b}: {:?}",
            f.bbox
        );
    }
    let swapped = heads(&[(1.0, 10, 100), (1.3, 354, 100)]);
    let dets = t.detect(&swapped, size).expect("detect");
    assert_eq!(dets.len(), 2, "two faces: {dets:?}");
    // A jump of 130 px down: the crop from the last landmarks misses.
    let jumped = heads(&[(1.0, 10, 230), (1.3, 354, 100)]);
    let f = t
        .track(&jumped, size, time + 1.0 / 30.0)
        .expect("run")
        .expect("a face");
    assert!(
        centre_x(&f) < 320.0 && f.bbox[1] > 230.0,
        "followed the jump: {:?}",
        f.bbox
    );
    t.reset();
    let f = t.track(&swapped, size, 10.0).expect("run").expect("a face");
    assert!(
        centre_x(&f) > 320.0,
        "after a reset, the now larger right face: {:?}",
        f.bbox
    );
}

/// A face walking out of the frame's left edge, 16 px a frame: tracked
/// while most of it is inside, its visible landmarks where the motion puts
/// them, and no face (no panic) once it has left.
#[test]
fn a_face_leaving_through_the_frame_edge_is_followed_then_let_go() {
    let mut t = FaceTracker::new().expect("models load");
    let frame = astronaut();
    let size = Size::new(OUT, OUT);
    let still = Motion {
        k: 1.0,
        deg: 0.0,
        tx: 0.0,
        ty: 0.0,
    };
    let base = face_in(&mut t, &still.warp(&frame.data), size);
    let eyes = {
        let (a, b) = (base.landmarks[33], base.landmarks[263]);
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
    };
    let mut last_seen = None;
    for step in 1..=24 {
        let tx = -16.0 * step as f32;
        let img = Motion { tx, ..still }.warp(&frame.data);
        let f = t.track(&img, size, step as f64 / 30.0).expect("run");
        let nose_x = base.landmarks[1][0] + tx;
        match f {
            Some(f) => {
                last_seen = Some(nose_x);
                // Landmarks that are in the frame, against where they went.
                let (mut sum, mut n) = (0.0, 0);
                for (a, b) in base.landmarks.iter().zip(&f.landmarks) {
                    if a[0] + tx >= 0.0 {
                        sum += ((a[0] + tx - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
                        n += 1;
                    }
                }
                let mean = sum / n.max(1) as f32;
                eprintln!("nose at x {nose_x:.0}: {n} landmarks inside, off by {mean:.1} px ({:.0} % of the eye distance)", 100.0 * mean / eyes);
                if nose_x > eyes {
                    assert!(
                        mean < 0.15 * eyes,
                        "nose at x {nose_x}: landmarks off by {mean:.1} px"
                    );
                }
            }
            None => eprintln!("nose at x {nose_x:.0}: no face"),
        }
        if nose_x > 1.5 * eyes {
            assert!(
                last_seen == Some(nose_x),
                "lost while the face was inside (nose at x {nose_x})"
            );
        }
        if nose_x < -eyes {
            assert!(
                last_seen != Some(nose_x),
                "a face that has left is still reported (nose at x {nose_x})"
            );
        }
    }
}
