//! Large allocations per frame on the real frame path, counted by a global
//! allocator that wraps the system one.
//!
//! `pipeline::run` carries a 1280x720 y4m clip to an output that copies each
//! frame (as the virtual camera's mmap write does), in batch mode so that
//! every frame goes through every stage. Each chain runs twice, for
//! `SHORT` and `LONG` frames; the difference divided by `LONG - SHORT` is the
//! steady-state cost per frame, with start-up (models, GPU pipelines, pools
//! filling) left out. "Large" is 64 KiB and more: a 720p frame is 1.4 to
//! 3.7 MB, a mask 37 KB, so every frame-sized buffer is counted and the small
//! bookkeeping of queues and channels is not.
//!
//! `cargo bench -p bytemeetd --bench alloc`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

mod common;

use bytemeetd::control::Hub;
use bytemeetd::frame::{PixelFormat, Size};
use bytemeetd::pipeline::{self, PipelineConfig};
use bytemeetd::settings::background::BackgroundSpec;
use bytemeetd::settings::effects::EffectsState;
use bytemeetd::settings::source::{SourceRequest, SourceSpec};
use bytemeetd::source::{demo::DemoSource, FrameSource};
use bytemeetd::stats::Stats;
use common::CopySink;

const LARGE: usize = 64 * 1024;
const SIZE: Size = Size::new(1280, 720);
const SHORT: u64 = 20;
const LONG: u64 = 80;

struct Counting;

static LARGE_COUNT: AtomicU64 = AtomicU64::new(0);
static LARGE_BYTES: AtomicU64 = AtomicU64::new(0);
static ALL_COUNT: AtomicU64 = AtomicU64::new(0);

impl Counting {
    fn count(size: usize) {
        ALL_COUNT.fetch_add(1, Ordering::Relaxed);
        if size >= LARGE {
            LARGE_COUNT.fetch_add(1, Ordering::Relaxed);
            LARGE_BYTES.fetch_add(size as u64, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is passed on to `System` unchanged; the counters are
// atomics and allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A growing buffer is a new allocation of its new size.
        if new_size > layout.size() {
            Self::count(new_size);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn write_clip(path: &std::path::Path) {
    let mut demo = DemoSource::new(SIZE, 30.0).expect("demo");
    let mut out = Vec::new();
    let mut enc = y4m::encode(1280, 720, y4m::Ratio::new(30, 1))
        .with_colorspace(y4m::Colorspace::C420jpeg)
        .write_header(&mut out)
        .expect("header");
    for _ in 0..30 {
        let f = demo.next_frame().expect("frame");
        let f = bytemeetd::convert::convert(&f, PixelFormat::I420).expect("convert");
        let y = SIZE.pixels();
        let (yp, rest) = f.data.split_at(y);
        let (u, v) = rest.split_at(y / 4);
        enc.write_frame(&y4m::Frame::new([yp, u, v], None))
            .expect("frame");
    }
    std::fs::write(path, out).expect("write");
}

#[derive(Clone, Copy, Debug)]
struct Counts {
    large: u64,
    large_bytes: u64,
    all: u64,
}

fn counts() -> Counts {
    Counts {
        large: LARGE_COUNT.load(Ordering::Relaxed),
        large_bytes: LARGE_BYTES.load(Ordering::Relaxed),
        all: ALL_COUNT.load(Ordering::Relaxed),
    }
}

fn run(clip: &std::path::Path, effects: &EffectsState, frames: u64) -> Counts {
    let sink = Box::new(CopySink {
        buf: vec![0u8; PixelFormat::Yuyv.frame_len(SIZE.width, SIZE.height)],
    });
    let cfg = PipelineConfig {
        request: SourceRequest {
            size: SIZE,
            fps: 30.0,
            format: None,
        },
        frames: Some(frames),
        gpu: Default::default(),
    };
    let hub = Arc::new(Hub::new(
        effects.clone(),
        SourceSpec::File(clip.to_path_buf()),
        Arc::new(Stats::new()),
    ));
    let before = counts();
    let summary = pipeline::run(cfg, vec![sink], Arc::new(AtomicBool::new(false)), hub)
        .expect("pipeline run");
    let after = counts();
    assert_eq!(summary.frames_out, frames, "every frame reaches the output");
    Counts {
        large: after.large - before.large,
        large_bytes: after.large_bytes - before.large_bytes,
        all: after.all - before.all,
    }
}

/// Large allocations per run of one model, its input tensor included: what
/// the inference library (tract) allocates for itself, apart from the frame
/// path.
fn model_runs(file: bytemeetd::perception::net::ModelFile) -> (f64, f64, f64) {
    let net = bytemeetd::perception::net::Net::load(file).expect("model");
    let len: usize = file.input.iter().product();
    let run = || {
        net.run(vec![0.5; len]).expect("run");
    };
    for _ in 0..3 {
        run();
    }
    let before = counts();
    let n = 20;
    for _ in 0..n {
        run();
    }
    let after = counts();
    (
        (after.large - before.large) as f64 / n as f64,
        (after.large_bytes - before.large_bytes) as f64 / n as f64 / 1e6,
        (after.all - before.all) as f64 / n as f64,
    )
}

fn main() {
    // `cargo bench` passes `--bench`; a filter word picks chains by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = tempfile::tempdir().expect("tmp");
    let clip = dir.path().join("clip.y4m");
    write_clip(&clip);
    let chains: [(&str, EffectsState); 4] = [
        ("plain", EffectsState::default()),
        (
            "filter-sepia",
            EffectsState {
                filter: Some("sepia".parse().expect("sepia")),
                ..Default::default()
            },
        ),
        (
            "mask-blur",
            EffectsState {
                background: BackgroundSpec::Blur { strength: 12.0 },
                ..Default::default()
            },
        ),
        (
            "mask-blur-avatar",
            EffectsState {
                background: BackgroundSpec::Blur { strength: 12.0 },
                avatar: Some("space-trooper".into()),
                ..Default::default()
            },
        ),
    ];
    println!(
        "large allocations (>= {} KiB) per frame, steady state ({}..{} frames of 1280x720):",
        LARGE / 1024,
        SHORT,
        LONG
    );
    println!(
        "{:<18} {:>12} {:>14} {:>16}",
        "chain", "large/frame", "MB/frame", "all allocs/frame"
    );
    for (name, effects) in chains {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let short = run(&clip, &effects, SHORT);
        let long = run(&clip, &effects, LONG);
        let n = (LONG - SHORT) as f64;
        let per = |a: u64, b: u64| (b as f64 - a as f64) / n;
        println!(
            "{:<18} {:>12.2} {:>14.2} {:>16.1}",
            name,
            per(short.large, long.large),
            per(short.large_bytes, long.large_bytes) / 1e6,
            per(short.all, long.all),
        );
        println!(
            "RATIO alloc.{name}.large_per_frame {:.2}",
            per(short.large, long.large)
        );
    }
    println!("of which inside the models, per run (the frame runs segmentation once; face detection and landmarks once each with an avatar):");
    use bytemeetd::perception::net;
    for file in [
        net::SELFIE_SEGMENTATION,
        net::FACE_DETECTION,
        net::FACE_LANDMARK,
    ] {
        if !filter.is_empty() && !filter.iter().any(|f| "models".contains(f.as_str())) {
            continue;
        }
        let (large, mb, all) = model_runs(file);
        println!(
            "{:<30} {:>8.2} {:>14.2} {:>16.1}",
            file.name, large, mb, all
        );
    }
}
