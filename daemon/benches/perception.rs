//! Perception per frame on one thread, on the 1280x720 demo portrait:
//! segmentation (downscale + model), the face detector, and the landmark
//! model in tracking mode (crop from the last landmarks + model + smoothing).
//! Then the background path as a whole, segmentation + GPU blur chain, in
//! frames per second, beside the Python pipeline Linux background tools run
//! (MediaPipe + OpenCV, `scripts/compare-python.py`) on the same frames, when
//! `BYTEMEET_PYTHON` names a Python that has mediapipe and opencv-python.
//!
//! Run: `cargo bench -p bytemeetd --bench perception`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytemeetd::convert;
use bytemeetd::frame::{PixelFormat, Size};
use bytemeetd::gpu::engine::{Backdrop, GpuEngine, Look, RING};
use bytemeetd::gpu::GpuContext;
use bytemeetd::perception::face::FaceTracker;
use bytemeetd::perception::{Downscaler, Segmenter, FACE_INPUT_WIDTH};
use bytemeetd::settings::gpu::GpuPreference;
use bytemeetd::settings::segmenter::SegmenterSpec;
use bytemeetd::source::{demo::DemoSource, FrameSource};

const WARMUP: usize = 5;
const RUNS: usize = 40;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn timed(mut f: impl FnMut(usize)) -> f64 {
    median(
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

    // The background path: segmentation then the GPU blur chain, one frame
    // after another on this thread (no overlap: a conservative rate).
    let gpu = GpuContext::new(GpuPreference::Auto).and_then(GpuEngine::new);
    let mut engine = match gpu {
        Ok(e) => e,
        Err(e) => {
            println!("no GPU adapter ({e}): no end-to-end figure");
            return;
        }
    };
    let look = Look {
        filter: None,
        backdrop: Backdrop::Blur { strength: 12.0 },
        avatar: None,
    };
    let frames = 60;
    let t = Instant::now();
    for _ in 0..frames {
        let m = seg.segment(&yuyv, &mut down).expect("segment");
        engine.set_mask(&m.data, m.width, m.height).expect("mask");
        black_box(
            engine
                .process(&yuyv, look, 0, PixelFormat::Yuyv)
                .expect("gpu"),
        );
    }
    let in_turn = frames as f64 / t.elapsed().as_secs_f64();
    println!(
        "segmentation + blur (sigma 12) + YUYV out, one after the other: {in_turn:.1} fps ({})",
        engine.adapter()
    );
    // As the daemon runs it: segmentation on the perception thread, the GPU
    // chain on the effects thread with the newest mask; both rates counted.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let latest = std::sync::Arc::new(std::sync::Mutex::new(None));
    let offered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let worker = {
        let (stop, latest, frame, offered) =
            (stop.clone(), latest.clone(), yuyv.clone(), offered.clone());
        std::thread::spawn(move || {
            let mut down = Downscaler::default();
            let mut n = 0u32;
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Like the daemon: only the newest offered frame, once.
                let now = offered.load(std::sync::atomic::Ordering::Relaxed);
                if now == seen {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                seen = now;
                let m = seg.segment(&frame, &mut down).expect("segment");
                *latest.lock().expect("lock") = Some(m);
                n += 1;
            }
            n
        })
    };
    // The effects thread as the daemon runs it: frames go through the
    // readback ring (submitted while earlier ones are read back; a full ring
    // waits for its oldest).
    let t = Instant::now();
    let mut out = 0;
    for i in 0..frames * 2 {
        offered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(m) = latest.lock().expect("lock").take() {
            engine.set_mask(&m.data, m.width, m.height).expect("mask");
        }
        while engine.in_flight() >= RING - 1 {
            black_box(engine.collect(true).expect("in flight").expect("gpu"));
            out += 1;
        }
        engine
            .submit(&yuyv, look, i as u32, PixelFormat::Yuyv)
            .expect("gpu");
        while let Some(r) = engine.collect(false) {
            black_box(r.expect("gpu"));
            out += 1;
        }
    }
    while let Some(r) = engine.collect(true) {
        black_box(r.expect("gpu"));
        out += 1;
    }
    assert_eq!(out, frames * 2);
    let elapsed = t.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let masks = worker.join().expect("worker");
    let ours = (frames * 2) as f64 / elapsed;
    println!(
        "as the daemon runs it (perception thread + effects thread): {ours:.1} fps out, {:.1} masks/s",
        masks as f64 / elapsed
    );
    match std::env::var("BYTEMEET_PYTHON") {
        Ok(python) => {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/compare-python.py");
            let out = std::process::Command::new(python)
                .arg(script)
                .arg(frames.to_string())
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    let text = String::from_utf8_lossy(&o.stdout);
                    print!("{text}");
                    if let Some(fps) = text
                        .lines()
                        .find_map(|l| l.strip_prefix("python fps "))
                        .and_then(|v| v.trim().parse::<f64>().ok())
                    {
                        println!("ours / python = {:.2}x", ours / fps);
                    }
                }
                Ok(o) => println!("python reference failed: {}", String::from_utf8_lossy(&o.stderr)),
                Err(e) => println!("python reference did not start: {e}"),
            }
        }
        Err(_) => println!("set BYTEMEET_PYTHON to a Python with mediapipe and opencv-python for the reference figure"),
    }
}
