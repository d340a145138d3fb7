//! Avatars at 1280x720 on whatever adapter `auto` picks (Mesa lavapipe on a
//! machine without a GPU):
//!
//! - composition: the GPU chain with an avatar (mask mode over the camera
//!   picture; full mode in front of its scene) minus the same chain without
//!   it, per pack, medians of per-frame times, each frame waited for;
//! - the rig (landmarks -> layer homographies) per frame, on the CPU;
//! - pack load (manifest, checks, SVG parse) and rasterisation at the size a
//!   face a tenth of the frame wide needs, per pack;
//! - the baseline in the same run: the plain chain (upload, pack,
//!   readback) and a memcpy of the frame, so figures read as ratios.
//!
//! Run: `cargo bench -p bytemeetd --bench avatar`.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemeetd::avatar::{self, pack, rig};
use bytemeetd::convert;
use bytemeetd::frame::{PixelFormat, Size};
use bytemeetd::gpu::background;
use bytemeetd::gpu::engine::{Backdrop, GpuEngine, Look};
use bytemeetd::gpu::GpuContext;
use bytemeetd::settings::gpu::GpuPreference;
use bytemeetd::source::{demo::DemoSource, FrameSource};

const WARMUP: usize = 8;
/// Frames per figure: 60, or `--frames N`.
static FRAMES: std::sync::LazyLock<usize> =
    std::sync::LazyLock::new(|| common::arg("--frames", 60));

/// Per-frame times of `base` and `look`, frames of the two taken in turn
/// (so drift in the machine's speed hits both alike), each waited for.
struct Paired {
    /// Median ms of each.
    base: f64,
    look: f64,
    /// `look / base` of each pair of neighbouring frames: median, and the
    /// 10th and 90th percentiles (the spread within the run).
    ratio: f64,
    ratio_p10: f64,
    ratio_p90: f64,
}

fn paired(
    engine: &mut GpuEngine,
    frame: &bytemeetd::frame::Frame,
    base: Look<'_>,
    look: Look<'_>,
) -> Paired {
    let mut times = (Vec::new(), Vec::new());
    let mut ratios = Vec::new();
    for i in 0..WARMUP + *FRAMES {
        let mut pair = [Duration::ZERO; 2];
        for (which, l) in [(0, base), (1, look)] {
            let t = Instant::now();
            black_box(
                engine
                    .process(frame, l, i as u32, PixelFormat::Yuyv)
                    .expect("gpu"),
            );
            pair[which] = t.elapsed();
        }
        if i >= WARMUP {
            times.0.push(pair[0]);
            times.1.push(pair[1]);
            ratios.push(pair[1].as_secs_f64() / pair[0].as_secs_f64());
        }
    }
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    Paired {
        base: common::median_ms(times.0),
        look: common::median_ms(times.1),
        ratio: at(0.5),
        ratio_p10: at(0.1),
        ratio_p90: at(0.9),
    }
}

fn main() {
    let size = Size::new(1280, 720);
    let rgba = DemoSource::new(size, 30.0)
        .and_then(|mut d| d.next_frame())
        .expect("demo");
    let frame = convert::convert(&rgba, PixelFormat::Yuyv).expect("yuyv");
    let mut tracker = bytemeetd::perception::face::FaceTracker::new().expect("models");
    let face = tracker
        .track(&rgba.data, size, 0.0)
        .expect("track")
        .expect("a face in the demo");
    let pose = rig::Pose::from_face(&face).expect("pose");
    println!(
        "demo portrait at {size}: eyes {:.0} px apart",
        pose.eye_distance
    );

    let copy: Vec<Duration> = (0..WARMUP + *FRAMES)
        .map(|_| {
            let t = Instant::now();
            black_box(frame.data.clone());
            t.elapsed()
        })
        .skip(WARMUP)
        .collect();
    let memcpy = common::median_ms(copy);

    println!("\npack load and rasterisation (CPU, one thread):");
    println!(
        "{:<14} {:>8} {:>10} {:>10}",
        "pack", "load ms", "raster ms", "raster px"
    );
    let t = Instant::now();
    let packs = pack::built_in();
    let all = t.elapsed().as_secs_f64() * 1e3;
    let mut rasters = Vec::new();
    for p in &packs {
        let m = &p.manifest;
        let t = Instant::now();
        let _ = black_box(
            pack::built_in()
                .into_iter()
                .find(|q| q.manifest.name == m.name),
        );
        let load = t.elapsed().as_secs_f64() * 1e3 / packs.len() as f64;
        let art = (m.canvas.right_eye[0] - m.canvas.left_eye[0]).abs();
        let scale = avatar::scale_step(pose.eye_distance / art);
        let t = Instant::now();
        let r = avatar::rasterise(p, scale).expect("raster");
        let raster = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{:<14} {:>8.2} {:>10.1} {:>10}",
            m.name,
            load,
            raster,
            format!("{}x{}", r.width, r.height)
        );
        rasters.push(Arc::new(r));
    }
    println!("all {} built-in packs loaded and checked in {all:.1} ms (load ms: that / packs, as each load reads them all)", packs.len());

    let rig_times: Vec<Duration> = (0..WARMUP + *FRAMES * 10)
        .map(|i| {
            let t = Instant::now();
            black_box(rig::rig(
                &packs[i % packs.len()].manifest,
                &pose,
                i as f32 / 30.0,
            ));
            t.elapsed()
        })
        .skip(WARMUP)
        .collect();
    println!(
        "\nrig per frame: {:.4} ms median",
        common::median_ms(rig_times)
    );

    let mut engine = match GpuContext::new(GpuPreference::Auto).and_then(GpuEngine::new) {
        Ok(e) => e,
        Err(e) => {
            panic!("no GPU adapter ({e}): install mesa-vulkan-drivers for lavapipe");
        }
    };
    engine.precompile(
        &[PixelFormat::Yuyv],
        &[PixelFormat::Yuyv],
        &std::sync::atomic::AtomicBool::new(false),
    );
    println!("\ncomposition at {size} on {}:", engine.adapter());
    let plain = paired(&mut engine, &frame, Look::PLAIN, Look::PLAIN).base;
    println!(
        "plain chain (upload, pack, readback): {plain:.2} ms = {:.0}x memcpy ({memcpy:.3} ms)",
        plain / memcpy
    );
    println!("each pack against the plain chain, frames taken in turn (a full avatar");
    println!("replaces the camera picture with its scene, so its figure includes that);");
    println!("\"vs plain\" is the median of each pair's ratio, p10..p90 beside it:");
    println!(
        "{:<14} {:>5} {:>10} {:>10} {:>10} {:>9} {:>13}",
        "pack", "mode", "plain ms", "chain ms", "avatar ms", "vs plain", "p10..p90"
    );
    let mut costs = Vec::new();
    for (p, raster) in packs.iter().zip(&rasters) {
        let m = &p.manifest;
        let draws = rig::rig(m, &pose, 0.5);
        let drawing = avatar::drawing(m.mode, raster.clone(), m, &draws, (size.width, size.height));
        let look = if m.mode == pack::Mode::Full {
            let scene = bytemeetd::settings::background::find_scene(
                m.scene.as_deref().unwrap_or("deep-space"),
            )
            .expect("scene");
            let pic = background::render_scene(scene, size).expect("scene");
            engine.set_picture(&pic, size).expect("picture");
            Look {
                filter: None,
                backdrop: Backdrop::Picture,
                avatar: Some(&drawing),
            }
        } else {
            Look {
                avatar: Some(&drawing),
                ..Look::PLAIN
            }
        };
        let p = paired(&mut engine, &frame, Look::PLAIN, look);
        let cost = p.look - p.base;
        costs.push(cost);
        println!(
            "{:<14} {:>5} {:>10.2} {:>10.2} {:>10.2} {:>8.2}x {:>6.2}..{:.2}",
            m.name,
            m.mode.as_str(),
            p.base,
            p.look,
            cost,
            p.ratio,
            p.ratio_p10,
            p.ratio_p90
        );
        println!("RATIO avatar.{}.vs_plain {:.2}", m.name, p.ratio);
    }
    costs.sort_by(f64::total_cmp);
    println!(
        "avatar composition: median over packs {:.2} ms, worst {:.2} ms ({:.2} plain chains)",
        costs[costs.len() / 2],
        costs[costs.len() - 1],
        costs[costs.len() - 1] / plain
    );
}
