//! Perception per frame on one thread, on the 1280x720 demo portrait:
//! segmentation (downscale + model), the face detector, and the landmark
//! model in tracking mode (crop from the last landmarks + model + smoothing).
//! Then the background path as a whole: the daemon itself in batch mode
//! (every output frame masked from its own picture) on a 1280x720 clip,
//! beside the Python pipeline Linux background tools run (MediaPipe +
//! OpenCV, `scripts/compare-python.py`) on the same clip with the same work
//! per frame, when `BYTEMEET_PYTHON` names a Python that has mediapipe and
//! opencv-python. The rounds are taken in turn and the spread is printed.
//!
//! Run: `cargo bench -p bytemeetd --bench perception [-- --frames N --rounds R]`.
//! The live figures (masks per second beside frames per second, the mask's
//! age) come from `scripts/bench-live.py`, which runs the daemon live.

mod common;

use std::hint::black_box;
use std::time::Instant;

use bytemeetd::convert;
use bytemeetd::frame::{PixelFormat, Size};
use bytemeetd::gpu::GpuContext;
use bytemeetd::perception::face::FaceTracker;
use bytemeetd::perception::{Downscaler, Segmenter, FACE_INPUT_WIDTH};
use bytemeetd::settings::gpu::GpuPreference;
use bytemeetd::settings::segmenter::SegmenterSpec;
use bytemeetd::source::{demo::DemoSource, FrameSource};

const WARMUP: usize = 5;
const RUNS: usize = 40;

fn timed(mut f: impl FnMut(usize)) -> f64 {
    common::median_ms(
        (0..WARMUP + RUNS)
            .map(|i| {
                let t = Instant::now();
                f(i);
                t.elapsed()
            })
            .skip(WARMUP)
            .collect(),
    )
}

fn main() {
    let size = Size::new(1280, 720);
    let rgba = DemoSource::new(size, 30.0)
        .expect("demo")
        .next_frame()
        .expect("frame");
    let yuyv = convert::convert(&rgba, PixelFormat::Yuyv).expect("yuyv");
    let mut down = Downscaler::default();
    let mut seg = Segmenter::new(&SegmenterSpec::Model).expect("model");
    println!("1280x720 YUYV frames, one thread, median of {RUNS}:");
    let seg_ms = timed(|_| {
        black_box(seg.segment(&yuyv, &mut down).expect("segment"));
    });
    println!("segmentation (downscale to 256x144 + model)  {seg_ms:>6.2} ms");
    // The model's input alone: the Lanczos filter it uses against the
    // triangle filter everything else shrinks with, frames taken in turn.
    let input = Size::new(256, 144);
    let mut lanczos = Vec::with_capacity(RUNS);
    let mut triangle = Vec::with_capacity(RUNS);
    for _ in 0..WARMUP + RUNS {
        let t = Instant::now();
        black_box(down.segmenter_input(&yuyv, input).expect("downscale"));
        lanczos.push(t.elapsed());
        let t = Instant::now();
        black_box(down.rgba(&yuyv, input).expect("downscale"));
        triangle.push(t.elapsed());
    }
    let median = |v: Vec<_>| common::median_ms(v.into_iter().skip(WARMUP).collect());
    let (l, tr) = (median(lanczos), median(triangle));
    println!("  of which the downscale (Lanczos)             {l:>6.2} ms (triangle filter: {tr:.2} ms, {:.2}x)", l / tr);

    let mut tracker = FaceTracker::new().expect("models");
    let small = Size::new(FACE_INPUT_WIDTH, FACE_INPUT_WIDTH * 9 / 16);
    let face_rgba = down.rgba(&yuyv, small).expect("downscale");
    let det_ms = timed(|_| {
        black_box(tracker.detect(&face_rgba, small).expect("detect"));
    });
    println!("face detector (128x128)                      {det_ms:>6.2} ms");
    tracker
        .track(&face_rgba, small, 0.0)
        .expect("run")
        .expect("a face in the portrait");
    let track_ms = timed(|i| {
        let t = (i + 1) as f64 / 30.0;
        black_box(tracker.track(&face_rgba, small, t).expect("track"));
    });
    println!("face landmarks, tracking (crop + model)      {track_ms:>6.2} ms");

    // The background path as a whole, by the daemon itself in batch mode:
    // every output frame gets a mask made from its own picture.
    match GpuContext::new(GpuPreference::Auto) {
        Ok(gpu) => println!("\nGPU: {}", bytemeetd::gpu::describe(&gpu.info)),
        Err(e) => panic!("no GPU adapter ({e}): install mesa-vulkan-drivers"),
    }
    whole_chain(common::arg("--frames", 60), common::arg("--rounds", 3));
}

/// Seconds `bytemeetd ARGS` takes, start to exit; panics on a failure.
fn run_daemon(args: &[&str]) -> f64 {
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bytemeetd"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("bytemeetd runs");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "bytemeetd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

/// The median of `v`, and its smallest and largest values.
fn mid_min_max(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn spread(v: &[f64]) -> String {
    let (mid, min, max) = mid_min_max(v);
    format!("{mid:.2} ({min:.2}..{max:.2})")
}

/// The daemon in batch mode on a 1280x720 clip of the demo portrait (its
/// head moving), frames per second with start-up left out: a run of
/// 2 x `frames` minus a run of `frames`. Beside it, in turn, the Python
/// pipeline on the same clip, doing the same work per frame
/// (`scripts/compare-python.py`), when `BYTEMEET_PYTHON` names a Python
/// with mediapipe and opencv-python.
fn whole_chain(frames: usize, rounds: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = dir.path().join("portrait-720p.y4m");
    let clip_s = clip.to_str().expect("utf-8 path");
    run_daemon(&[
        "--source",
        "demo",
        "--size",
        "1280x720",
        "--output",
        &format!("y4m:{clip_s}"),
        "--frames",
        &frames.to_string(),
    ]);
    let python = std::env::var("BYTEMEET_PYTHON").ok();
    let chains: [(&str, &[&str]); 2] = [
        ("mask + blur", &["--background", "blur"]),
        (
            "mask + blur + avatar",
            &["--background", "blur", "--avatar", "space-trooper"],
        ),
    ];
    let source = format!("file:{clip_s}");
    let fps_of = |extra: &[&str]| {
        let base = ["--source", &source, "--output", "y4m:/dev/null", "--frames"];
        let run = |n: usize| {
            let n = n.to_string();
            let mut args: Vec<&str> = base.to_vec();
            args.push(&n);
            args.extend_from_slice(extra);
            run_daemon(&args)
        };
        let one = run(frames);
        let two = run(frames * 2);
        frames as f64 / (two - one).max(1e-3)
    };
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); chains.len()];
    let mut theirs = Vec::new();
    let mut ratios = Vec::new();
    println!(
        "\nthe whole chain, batch mode (every frame masked from its own picture), \
         {frames} frames of 1280x720, {rounds} rounds taken in turn:"
    );
    for round in 0..rounds {
        for (i, (name, extra)) in chains.iter().enumerate() {
            let fps = fps_of(extra);
            println!("  round {round}: bytemeetd {name}: {fps:.2} fps");
            ours[i].push(fps);
        }
        if let Some(py) = &python {
            let text = common::run_python(py, "compare-python.py", [clip_s, &*frames.to_string()]);
            let fps = text
                .lines()
                .find_map(|l| l.strip_prefix("python fps "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("compare-python.py printed no fps: {text}"));
            println!("  round {round}: python mediapipe + opencv blur: {fps:.2} fps");
            theirs.push(fps);
            ratios.push(ours[0][round] / fps);
        }
    }
    println!("\n| chain, batch | fps, median (min..max) of {rounds} |");
    println!("|---|---|");
    for ((name, _), fps) in chains.iter().zip(&ours) {
        println!("| bytemeetd {name} | {} |", spread(fps));
    }
    if python.is_some() {
        println!(
            "| Python MediaPipe + OpenCV, mask + blur | {} |",
            spread(&theirs)
        );
        println!(
            "bytemeetd / python, mask + blur, per round: {}",
            spread(&ratios)
        );
        println!(
            "RATIO perception.batch_blur.vs_python {:.2}",
            mid_min_max(&ratios).0
        );
    } else {
        println!(
            "(set BYTEMEET_PYTHON to a Python with mediapipe and opencv-python for the reference)"
        );
    }
    println!(
        "RATIO perception.batch_avatar.vs_blur {:.2}",
        mid_min_max(&ours[1]).0 / mid_min_max(&ours[0]).0
    );
}
