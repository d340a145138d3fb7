//! Face recall: where does the avatar land, and where does MediaPipe find
//! the face? A real portrait (the astronaut photo, cut out along its
//! hand-drawn outline) is placed in 1280x720 frames at face widths from 60
//! to 400 px, centred and off-centre, on a plain and a busy background.
//! Each frame is looked at on its own, as a first sighting:
//!
//! - ours, track: `perception::track_face` with a fresh tracker, what the
//!   perception thread does with a frame (640-wide copy, detector, landmark
//!   model), given the frame up to three times (the zoomed second look
//!   takes one square per frame); counted when the face it returns is
//!   centred on the true face;
//! - MediaPipe (`scripts/face-recall-python.py`, when `BYTEMEET_PYTHON`
//!   names a Python with mediapipe): its short-range face detector, its
//!   full-range one, and its face mesh (static images), on the same PNGs.
//!
//!   cargo bench -p bytemeetd --bench face_recall [-- --keep DIR]
//!
//! Prints a table of hits per width (out of the frames at that width) and
//! the frames where MediaPipe's face mesh finds the face and ours does not.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bytemeetd::frame::{Frame, PixelFormat, Size};
use bytemeetd::perception::face::{mesh, FaceTracker};
use bytemeetd::perception::{track_face, Downscaler};
use bytemeetd::settings::background::SCENES;

mod common;
#[path = "../tests/common/portrait.rs"]
mod portrait;

const FRAME: Size = Size::new(1280, 720);
const WIDTHS: &[f32] = &[60., 80., 100., 120., 150., 200., 250., 300., 400.];
/// Where the face's centre goes, as fractions of the frame.
const PLACES: &[(&str, f32, f32)] = &[
    ("centre", 0.5, 0.45),
    ("left", 0.22, 0.42),
    ("upper right", 0.8, 0.3),
];

/// One frame of the sweep and where its face truly is.
struct Case {
    name: String,
    width: f32,
    rgba: Vec<u8>,
    /// The face's box in the frame: x0, y0, x1, y1.
    face: [f32; 4],
}

fn main() {
    let keep = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--keep")
        .map(|w| PathBuf::from(&w[1]));
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = keep.unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("dir");

    // The portrait's own face, found by our tracker at full size.
    let photo = portrait::astronaut_rgba();
    let mut tracker = FaceTracker::new().expect("models load");
    let native = tracker
        .track(photo.as_raw(), Size::new(512, 512), 0.0)
        .expect("tracker runs")
        .expect("the portrait's face is found at full size");
    let m = &native.landmarks;
    let face_w = (m[mesh::FACE_LEFT][0] - m[mesh::FACE_RIGHT][0]).abs();
    let face_box = native.bbox;
    println!(
        "portrait: face {face_w:.0} px wide in 512x512 (box {:.0},{:.0} to {:.0},{:.0})",
        face_box[0], face_box[1], face_box[2], face_box[3]
    );

    let cut = cut_out(&photo);
    let busy_scene = SCENES
        .iter()
        .find(|s| s.name == "starship-bridge")
        .expect("scene");
    let busy = bytemeetd::gpu::background::render_scene(busy_scene, FRAME).expect("scene renders");
    let plain = [128u8, 128, 128, 255].repeat(FRAME.pixels());
    let mut cases = Vec::new();
    for (bg_name, bg) in [("plain", &plain), ("busy", &busy)] {
        for &(place, fx, fy) in PLACES {
            for &w in WIDTHS {
                let k = w / face_w;
                let (cx, cy) = (
                    (face_box[0] + face_box[2]) / 2.0,
                    (face_box[1] + face_box[3]) / 2.0,
                );
                let (tx, ty) = (fx * FRAME.width as f32, fy * FRAME.height as f32);
                let side = (512.0 * k).round() as u32;
                let scaled = image::imageops::resize(
                    &cut,
                    side,
                    side,
                    image::imageops::FilterType::Triangle,
                );
                let (ox, oy) = (tx - cx * k, ty - cy * k);
                let mut rgba = bg.clone();
                paste(&mut rgba, &scaled, ox.round() as i64, oy.round() as i64);
                let face = face_box.map(|v| v * k);
                let face = [face[0] + ox, face[1] + oy, face[2] + ox, face[3] + oy];
                cases.push(Case {
                    name: format!("{bg_name}-{}-{w:03}", place.replace(' ', "_")),
                    width: w,
                    rgba,
                    face,
                });
            }
        }
    }

    // Ours: each frame a first sighting.
    let mut ours = Vec::new();
    let mut down = Downscaler::default();
    let start = Instant::now();
    let t0 = Instant::now();
    for (i, c) in cases.iter().enumerate() {
        let frame = Frame::new(FRAME, PixelFormat::Rgba, c.rgba.clone(), i as u64);
        tracker.reset();
        // Within three frames: a face the whole-frame look misses is
        // searched for in one zoomed square per frame.
        let mut hit = false;
        for _ in 0..3 {
            let found = track_face(&mut tracker, &frame, &mut down, start)
                .expect("tracker runs")
                .face;
            if found.is_some_and(|f| centred(&f.bbox, &c.face)) {
                hit = true;
                break;
            }
        }
        ours.push(hit);
    }
    let per_frame = t0.elapsed().as_secs_f64() * 1000.0 / cases.len() as f64;
    println!(
        "{} frames, ours {per_frame:.1} ms per first sighting",
        cases.len()
    );

    // What the zoomed looks cost: a frame with nobody in it, tracked as
    // the perception thread does (the whole-frame look, then one zoomed
    // square) against the whole-frame look alone. Frames are 640 wide, as
    // the perception thread gives them.
    let small = Size::new(640, 360);
    let nobody = down
        .rgba(
            &Frame::new(FRAME, PixelFormat::Rgba, plain.clone(), 0),
            small,
        )
        .expect("shrink");
    let mut whole_ms = Vec::new();
    let mut track_ms = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        assert!(tracker
            .detect_whole(&nobody, small)
            .expect("runs")
            .is_empty());
        whole_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        assert!(tracker.track(&nobody, small, 0.0).expect("runs").is_none());
        track_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (whole, tracked) = (common::median(&mut whole_ms), common::median(&mut track_ms));
    println!(
        "nobody in view: {tracked:.2} ms a frame (whole look + one zoomed square) vs {whole:.2} ms for the whole look alone: {:.2}x",
        tracked / whole
    );

    // MediaPipe on the same pictures.
    let python = std::env::var("BYTEMEET_PYTHON").ok();
    let theirs = python.map(|py| {
        let list = dir.join("cases.txt");
        let mut text = String::new();
        for c in &cases {
            let path = dir.join(format!("{}.png", c.name));
            image::RgbaImage::from_raw(FRAME.width, FRAME.height, c.rgba.clone())
                .expect("size")
                .save(&path)
                .expect("png");
            let [x0, y0, x1, y1] = c.face;
            text += &format!("{} {x0} {y0} {x1} {y1}\n", path.display());
        }
        std::fs::write(&list, text).expect("list");
        mediapipe(&py, &list)
    });

    println!();
    println!("face width | ours, track (within 3 frames) | MediaPipe short-range detector | full-range detector | face mesh");
    println!("---|---|---|---|---");
    for &w in WIDTHS {
        let at: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].width == w).collect();
        let n = at.len();
        let count = |hit: &dyn Fn(usize) -> bool| at.iter().filter(|&&i| hit(i)).count();
        let ours_n = count(&|i| ours[i]);
        let cols = match &theirs {
            Some(t) => format!(
                "{}/{n} | {}/{n} | {}/{n}",
                count(&|i| t[i][0]),
                count(&|i| t[i][1]),
                count(&|i| t[i][2])
            ),
            None => "- | - | -".into(),
        };
        println!("{w:.0} px | {ours_n}/{n} | {cols}");
    }
    if let Some(t) = &theirs {
        let missed: Vec<&str> = (0..cases.len())
            .filter(|&i| t[i][2] && !ours[i])
            .map(|i| cases[i].name.as_str())
            .collect();
        let extra = (0..cases.len()).filter(|&i| ours[i] && !t[i][2]).count();
        println!();
        println!(
            "MediaPipe's face mesh finds the face and ours does not: {} frame(s){}{}",
            missed.len(),
            if missed.is_empty() { "" } else { ": " },
            missed.join(", ")
        );
        println!("ours finds the face and MediaPipe's face mesh does not: {extra} frame(s)");
    } else {
        println!();
        println!("(set BYTEMEET_PYTHON to a Python with mediapipe for MediaPipe's columns)");
    }
    let missed: Vec<&str> = (0..cases.len())
        .filter(|&i| !ours[i])
        .map(|i| cases[i].name.as_str())
        .collect();
    println!(
        "ours: {} of {} frames (missed: {})",
        cases.len() - missed.len(),
        cases.len(),
        missed.join(", ")
    );
}

/// The portrait with everything outside the hand-drawn outline transparent.
fn cut_out(photo: &image::RgbaImage) -> image::RgbaImage {
    let mut out = photo.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        if !portrait::inside(portrait::PERSON, x as f32 + 0.5, y as f32 + 0.5) {
            p.0[3] = 0;
        }
    }
    out
}

/// `top` over `frame` (RGBA, FRAME-sized) with its corner at `x`, `y`.
fn paste(frame: &mut [u8], top: &image::RgbaImage, x: i64, y: i64) {
    for (tx, ty, p) in top.enumerate_pixels() {
        let (fx, fy) = (x + tx as i64, y + ty as i64);
        if fx < 0 || fy < 0 || fx >= FRAME.width as i64 || fy >= FRAME.height as i64 {
            continue;
        }
        let a = p.0[3] as u32;
        let at = (fy as usize * FRAME.width as usize + fx as usize) * 4;
        for c in 0..3 {
            let under = frame[at + c] as u32;
            frame[at + c] = ((p.0[c] as u32 * a + under * (255 - a)) / 255) as u8;
        }
    }
}

/// A face found is the true one when its centre lies in the true box and
/// its width is within a factor of two.
fn centred(found: &[f32; 4], truth: &[f32; 4]) -> bool {
    let (cx, cy) = ((found[0] + found[2]) / 2.0, (found[1] + found[3]) / 2.0);
    let (fw, tw) = (found[2] - found[0], truth[2] - truth[0]);
    cx >= truth[0]
        && cx <= truth[2]
        && cy >= truth[1]
        && cy <= truth[3]
        && fw > tw / 2.0
        && fw < tw * 2.0
}

/// MediaPipe's verdicts per case: short-range detector, full-range
/// detector, face mesh.
fn mediapipe(python: &str, list: &Path) -> Vec<[bool; 3]> {
    let text = common::run_python(python, "face-recall-python.py", [list]);
    text.lines()
        .filter_map(|l| l.strip_prefix("case "))
        .map(|l| {
            let v: Vec<bool> = l.split_whitespace().skip(1).map(|x| x == "1").collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}
