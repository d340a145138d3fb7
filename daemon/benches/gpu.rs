//! The GPU effect chain on whatever adapter `auto` picks (Mesa lavapipe on a
//! machine without a GPU), at 1280x720 (and 1920x1080 with `--full-hd`):
//!
//! - each stage, as the cost of a chain with it minus the chain without it:
//!   upload YUYV -> [filter] -> [mask smoothing] -> [feathered
//!   background blur] -> [composite] -> pack YUYV -> readback, without a
//!   filter (the passes decode the camera's bytes themselves) and with two;
//! - the full chain's median and p90 per frame, each frame waited for;
//! - the full chain's sustained rate with the readback ring (frames submitted
//!   while earlier ones are read back, as the daemon runs it);
//! - baselines in the same run: a memcpy of the frame, and Debian's ffmpeg
//!   `gblur` at the same sigma and size on one thread (yuv420p, as ffmpeg
//!   blurs it), timed over the same number of frames minus a `null` filter run.
//!
//! Run: `cargo bench -p bytemeetd --bench gpu [-- --full-hd]`. Prints a skip
//! line and measures nothing where no adapter exists.

mod common;

use std::hint::black_box;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytemeetd::convert;
use bytemeetd::frame::{Frame, PixelFormat, Size};
use bytemeetd::gpu::engine::{Backdrop, GpuEngine, Look, RING};
use bytemeetd::gpu::GpuContext;
use bytemeetd::perception::mask_size;
use bytemeetd::settings::filter::FilterSpec;
use bytemeetd::settings::gpu::GpuPreference;
use bytemeetd::source::{demo::DemoSource, FrameSource};

const WARMUP: usize = 8;
/// Frames per figure: 60, or `--frames N`.
static FRAMES: std::sync::LazyLock<usize> =
    std::sync::LazyLock::new(|| common::arg("--frames", 60));
/// Blur strength of the benchmark: sigma 12 px at 720p, ffmpeg's gblur=sigma=12.
const STRENGTH: f32 = 12.0;

fn median_p90(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[v.len() * 9 / 10]))
}

fn ellipse_mask(size: Size) -> Vec<u8> {
    let (w, h) = (size.width, size.height);
    let mut m = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let nx = (x as f32 - w as f32 / 2.0) / (w as f32 * 0.23);
            let ny = (y as f32 - h as f32 * 0.7) / (h as f32 * 0.55);
            m.push(if nx * nx + ny * ny < 1.0 { 255 } else { 0 });
        }
    }
    m
}

/// Per-frame times of each row's look, each frame waited for; with a mask,
/// a fresh mask is sent before every frame, as perception does. The rows
/// take frames in turn (one frame of each, then the next), so drift in the
/// machine's speed hits every row alike.
fn timed_rows(
    engine: &mut GpuEngine,
    frame: &Frame,
    rows: &[(Look<'_>, Option<&[u8]>)],
) -> Vec<Vec<Duration>> {
    let ms = mask_size(frame.size);
    let mut times = vec![Vec::new(); rows.len()];
    for i in 0..WARMUP + *FRAMES {
        for (r, (look, mask)) in rows.iter().enumerate() {
            let t = Instant::now();
            if let Some(m) = mask {
                engine.set_mask(m, ms.width, ms.height).expect("mask");
            }
            black_box(
                engine
                    .process(frame, *look, i as u32, PixelFormat::Yuyv)
                    .expect("gpu"),
            );
            if i >= WARMUP {
                times[r].push(t.elapsed());
            }
        }
    }
    times
}

/// Frames per second through the ring: submit, then collect whatever is done,
/// waiting only when the ring is full.
fn sustained(engine: &mut GpuEngine, frame: &Frame, look: Look<'_>, mask: &[u8]) -> f64 {
    let ms = mask_size(frame.size);
    let n = *FRAMES * 2;
    let mut got = 0;
    let t = Instant::now();
    for i in 0..n {
        engine.set_mask(mask, ms.width, ms.height).expect("mask");
        while engine.in_flight() >= RING - 1 {
            if engine.collect(true).is_some() {
                got += 1;
            }
        }
        engine
            .submit(frame, look, i as u32, PixelFormat::Yuyv)
            .expect("submit");
        while let Some(r) = engine.collect(false) {
            black_box(r.expect("frame"));
            got += 1;
        }
    }
    while let Some(r) = engine.collect(true) {
        black_box(r.expect("frame"));
        got += 1;
    }
    assert_eq!(got, n);
    n as f64 / t.elapsed().as_secs_f64()
}

/// ffmpeg's per-frame cost of `filter` on `frames` yuv420p frames, one thread,
/// minus the same run through `null` (best of three each); None when ffmpeg
/// is missing.
fn ffmpeg_ms(yuv420: &[u8], size: Size, frames: usize, filter: &str) -> Option<f64> {
    let run = |vf: &str| -> Option<Duration> {
        let mut child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-threads", "1"])
            .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s"])
            .arg(format!("{}x{}", size.width, size.height))
            .args([
                "-i",
                "-",
                "-filter_threads",
                "1",
                "-vf",
                vf,
                "-f",
                "null",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let t = Instant::now();
        let mut stdin = child.stdin.take()?;
        for _ in 0..frames {
            stdin.write_all(yuv420).ok()?;
        }
        drop(stdin);
        child.wait().ok()?.success().then(|| t.elapsed())
    };
    let best = |vf: &str| (0..3).filter_map(|_| run(vf)).min();
    let base = best("null")?;
    let with = best(filter)?;
    Some(with.saturating_sub(base).as_secs_f64() * 1e3 / frames as f64)
}

fn look(filter: Option<&FilterSpec>, backdrop: Backdrop) -> Look<'_> {
    Look {
        filter,
        backdrop,
        avatar: None,
    }
}

fn main() {
    let full_hd = std::env::args().any(|a| a == "--full-hd");
    let size = if full_hd {
        Size::new(1920, 1080)
    } else {
        Size::new(1280, 720)
    };
    let mut engine = match GpuContext::new(GpuPreference::Auto).and_then(GpuEngine::new) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("no GPU adapter ({e}): install mesa-vulkan-drivers for lavapipe");
            std::process::exit(1);
        }
    };
    println!(
        "adapter: {}; {size}; {} frames after {WARMUP} warm-up",
        engine.adapter(),
        *FRAMES
    );
    let rgba = DemoSource::new(size, 30.0)
        .expect("demo")
        .next_frame()
        .expect("frame");
    let yuyv = convert::convert(&rgba, PixelFormat::Yuyv).expect("yuyv");
    let mask = ellipse_mask(mask_size(size));
    let blur = Backdrop::Blur { strength: STRENGTH };

    let mut dst = vec![0u8; yuyv.data.len()];
    let memcpy: Vec<Duration> = (0..WARMUP + *FRAMES)
        .map(|_| {
            let t = Instant::now();
            dst.copy_from_slice(black_box(&yuyv.data));
            t.elapsed()
        })
        .skip(WARMUP)
        .collect();
    let (memcpy_ms, _) = median_p90(memcpy);

    // Every pipeline compiled and lavapipe's threads started before any
    // figure: the chain measured first would otherwise pay for it.
    for filter_name in [None, Some("sepia"), Some("toon")] {
        let filter: Option<FilterSpec> = filter_name.map(|n| n.parse().expect("filter"));
        let f = filter.as_ref();
        timed_rows(
            &mut engine,
            &yuyv,
            &[
                (look(f, Backdrop::Picture), Some(&mask[..])),
                (look(f, blur), Some(&mask[..])),
            ],
        );
    }
    let mut summary = Vec::new();
    // Without a filter the passes decode the camera's bytes; with one they
    // read the filter's picture.
    for filter_name in [None, Some("sepia"), Some("toon")] {
        let filter: Option<FilterSpec> = filter_name.map(|n| n.parse().expect("filter"));
        let f = filter.as_ref();
        let mut names: Vec<String> = vec!["plain (upload, pack, readback)".into()];
        let mut looks = vec![(look(None, Backdrop::None), None)];
        if let Some(name) = filter_name {
            names.push(format!("+ {name} filter"));
            looks.push((look(f, Backdrop::None), None));
        }
        names.push("+ new mask each frame (smoothing)".into());
        looks.push((look(f, Backdrop::None), Some(&mask[..])));
        names.push("+ picture behind (guided edge + composite)".into());
        looks.push((look(f, Backdrop::Picture), Some(&mask[..])));
        names.push("blur instead of the picture (full chain)".into());
        looks.push((look(f, blur), Some(&mask[..])));
        let rows: Vec<(String, (f64, f64))> = names
            .into_iter()
            .zip(
                timed_rows(&mut engine, &yuyv, &looks)
                    .into_iter()
                    .map(median_p90),
            )
            .collect();
        let masked = rows[rows.len() - 3].1 .0;
        let name = filter_name.unwrap_or("no filter");
        println!(
            "{:<44} {:>9} {:>9} {:>9}",
            format!("chain, {name}"),
            "median",
            "p90",
            "stage"
        );
        let mut before = 0.0;
        for (row, (median, p90)) in &rows {
            println!(
                "{row:<44} {median:>7.2}ms {p90:>7.2}ms {:>+7.2}ms",
                median - before
            );
            before = *median;
        }
        let fps = sustained(&mut engine, &yuyv, look(f, blur), &mask);
        println!("full chain, {name}, through the readback ring: {fps:.1} fps sustained\n");
        // The blur stage: downsample, Gaussian and the composite in the pack,
        // i.e. the full chain minus the chain without a background.
        let full = before;
        let plain = rows[0].1 .0;
        let picture = rows[rows.len() - 2].1 .0;
        let key = name.replace(' ', "_");
        println!("RATIO gpu.{key}.full_vs_plain {:.2}", full / plain);
        println!("RATIO gpu.{key}.blur_vs_picture {:.2}", full / picture);
        summary.push((name, full, full - masked, fps));
    }
    let (_, full, blur_stage, _) = summary[0];
    println!(
        "memcpy of one YUYV frame: {memcpy_ms:.3} ms (full blur chain, no filter = {:.0}x memcpy)",
        full / memcpy_ms
    );
    let sigma = STRENGTH * size.height as f32 / 720.0;
    let yuv420 = convert::convert(&rgba, PixelFormat::I420).expect("i420");
    match ffmpeg_ms(&yuv420.data, size, *FRAMES, &format!("gblur=sigma={sigma}")) {
        Some(ff) => println!(
            "blur stage (downsample + Gaussian + composite) {blur_stage:.2} ms vs ffmpeg gblur=sigma={sigma} (blur only, 1 thread) {ff:.2} ms: ffmpeg/ours = {:.2}",
            ff / blur_stage.max(1e-3)
        ),
        None => println!("ffmpeg not found: no gblur baseline"),
    }
}
