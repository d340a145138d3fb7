//! GPU effect tests on a real adapter (Mesa lavapipe in CI): every filter
//! against its CPU twin and a reviewed golden image, and the GPU format paths
//! against the CPU conversions. Skips, saying why, only where no adapter exists.
//!
//! `BYTEMEET_UPDATE_GOLDEN=1 cargo test --test gpu` rewrites the golden images
//! from the CPU reference; look at them before committing.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use bytemeetd::convert;
use bytemeetd::frame::{Frame, PixelFormat, Size};
use bytemeetd::gpu::background::{
    self, blur_plan, BlurPlan, FEATHER, GUIDE_EPS, GUIDE_RADIUS, MASK_KEEP_NEW,
};
use bytemeetd::gpu::engine::{Backdrop, GpuEngine, Look};
use bytemeetd::gpu::lut::Lut3d;
use bytemeetd::gpu::{reference, GpuContext};
use bytemeetd::settings::filter::{self, FilterSpec, FILTERS};
use bytemeetd::settings::gpu::GpuPreference;
use bytemeetd::source::{demo::DemoSource, FrameSource};

const SIZE: Size = Size::new(320, 180);
/// Frame number used for the time-driven filters (fixed: reproducible).
const FRAME_NO: u32 = 42;

/// The engine the tests share. No adapter is a failure, not a skip: CI runs
/// these on Mesa's lavapipe (`mesa-vulkan-drivers`).
fn engine() -> &'static Mutex<GpuEngine> {
    static ENGINE: OnceLock<Mutex<GpuEngine>> = OnceLock::new();
    ENGINE.get_or_init(
        || match GpuContext::new(GpuPreference::Auto).and_then(GpuEngine::new) {
            Ok(e) => {
                eprintln!("GPU tests on {}", e.adapter());
                Mutex::new(e)
            }
            Err(e) => panic!(
                "no GPU adapter here ({e}): install mesa-vulkan-drivers for lavapipe \
                 (bash tests/setup.sh does)"
            ),
        },
    )
}

fn filtered(spec: &FilterSpec) -> Look<'_> {
    Look {
        filter: Some(spec),
        backdrop: Backdrop::None,
        avatar: None,
    }
}

fn input() -> Frame {
    let mut d = DemoSource::new(SIZE, 30.0).expect("demo");
    d.next_frame().expect("frame")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// A warm "film" look, written as a 9^3 .cube file.
fn warm_lut(dir: &Path) -> PathBuf {
    let n = 9;
    let mut text = String::from("TITLE \"warm\"\nLUT_3D_SIZE 9\n");
    for b in 0..n {
        for g in 0..n {
            for r in 0..n {
                let (r, g, b) = (r as f32 / 8.0, g as f32 / 8.0, b as f32 / 8.0);
                let rr = (r * 1.1 + 0.03).min(1.0);
                let gg = g * 0.98 + 0.01;
                let bb = b * 0.8;
                text.push_str(&format!("{rr:.5} {gg:.5} {bb:.5}\n"));
            }
        }
    }
    let p = dir.join("warm.cube");
    std::fs::write(&p, text).expect("write lut");
    p
}

struct Diff {
    mean: f64,
    /// Share of channel values more than 2 levels apart.
    outliers: f64,
}

fn diff(a: &[u8], b: &[u8]) -> Diff {
    assert_eq!(a.len(), b.len());
    let (mut sum, mut out, mut n) = (0u64, 0usize, 0usize);
    for (pa, pb) in a.chunks(4).zip(b.chunks(4)) {
        for c in 0..3 {
            let d = pa[c].abs_diff(pb[c]);
            sum += d as u64;
            out += (d > 2) as usize;
            n += 1;
        }
    }
    Diff {
        mean: sum as f64 / n as f64,
        outliers: out as f64 / n as f64,
    }
}

fn save_png(path: &Path, rgba: &[u8]) {
    image::save_buffer(
        path,
        rgba,
        SIZE.width,
        SIZE.height,
        image::ExtendedColorType::Rgba8,
    )
    .expect("save png");
}

/// Each filter on the GPU matches its CPU twin, and the CPU twin matches the
/// reviewed golden image. Tolerances: f32 arithmetic differs between GPU and
/// CPU only in the last bits, which rounding to 8 bits turns into at most one
/// level, except where a value sits right on a threshold (toon/neon edges,
/// posterize steps, LUT filtering precision): a mean below 0.6 levels and at
/// most 1 % of values more than 2 levels apart.
#[test]
fn every_filter_matches_its_cpu_twin_and_golden() {
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("tmp");
    let lut_path = warm_lut(dir.path());
    let lut = Lut3d::load(&lut_path).expect("lut");
    let src = input();
    let update = std::env::var_os("BYTEMEET_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for info in FILTERS {
        let spec: FilterSpec = if info.name == "lut" {
            format!("lut:{}", lut_path.display()).parse().expect("spec")
        } else {
            info.name.parse().expect("spec")
        };
        if info.name == "lut" {
            engine.set_lut(&lut);
        }
        let gpu = engine
            .process(&src, filtered(&spec), FRAME_NO, PixelFormat::Rgba)
            .expect("gpu filter");
        let mut p = spec.values(info);
        if info.name == "lut" {
            p[1] = lut.size as f32;
        }
        let cpu = reference::apply(
            info.id,
            p,
            FRAME_NO,
            &src.data,
            SIZE.width,
            SIZE.height,
            Some(&lut),
        );
        let golden_path = golden_dir().join(format!("filter-{}.png", info.name));
        if update {
            save_png(&golden_path, &cpu);
        }
        let golden = image::open(&golden_path)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (BYTEMEET_UPDATE_GOLDEN=1 creates it)",
                    golden_path.display()
                )
            })
            .to_rgba8()
            .into_raw();
        let g = diff(&gpu.data, &cpu);
        let c = diff(&cpu, &golden);
        eprintln!(
            "{:<10} gpu-vs-cpu mean {:.3} outliers {:.4}; cpu-vs-golden mean {:.3}",
            info.name, g.mean, g.outliers, c.mean
        );
        if g.mean > 0.6 || g.outliers > 0.01 {
            save_png(
                &dir.path().join(format!("gpu-{}.png", info.name)),
                &gpu.data,
            );
            failures.push(format!(
                "{}: GPU differs from CPU (mean {:.3}, outliers {:.4})",
                info.name, g.mean, g.outliers
            ));
        }
        if c.mean > 0.01 || c.outliers > 0.0 {
            failures.push(format!(
                "{}: CPU reference differs from golden (mean {:.3})",
                info.name, c.mean
            ));
        }
    }
    if !failures.is_empty() {
        let kept = dir.keep();
        panic!(
            "{}\n(GPU outputs kept in {})",
            failures.join("\n"),
            kept.display()
        );
    }
}

/// Filters change the picture in the way their name says (a sanity check
/// independent of the golden images).
#[test]
fn filters_do_what_they_say_on_the_gpu() {
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let src = input();
    let run = |e: &mut GpuEngine, name: &str| {
        e.process(
            &src,
            filtered(&name.parse().expect("spec")),
            0,
            PixelFormat::Rgba,
        )
        .expect("gpu")
        .data
    };
    let gray = run(&mut engine, "grayscale");
    assert!(gray
        .chunks(4)
        .all(|p| p[0].abs_diff(p[1]) <= 1 && p[1].abs_diff(p[2]) <= 1));
    let inv = run(&mut engine, "invert");
    assert!(inv
        .chunks(4)
        .zip(src.data.chunks(4))
        .all(|(a, b)| a[0].abs_diff(255 - b[0]) <= 1));
    let post = run(&mut engine, "posterize:levels=2");
    assert!(post
        .chunks(4)
        .all(|p| p[..3].iter().all(|&v| v == 0 || v == 255)));
    let brightness = |d: &[u8]| {
        d.chunks(4)
            .map(|p| p[0] as u64 + p[1] as u64 + p[2] as u64)
            .sum::<u64>()
    };
    let neon = run(&mut engine, "neon");
    assert!(
        brightness(&neon) * 2 < brightness(&src.data),
        "neon is glowing lines on black"
    );
}

/// Camera formats in, output formats out, without a filter: the GPU paths
/// agree with the CPU conversions.
#[test]
fn gpu_format_paths_agree_with_cpu_conversion() {
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let rgba = input();
    for inf in [
        PixelFormat::Rgba,
        PixelFormat::Yuyv,
        PixelFormat::Nv12,
        PixelFormat::I420,
    ] {
        let frame = convert::convert(&rgba, inf).expect("to input format");
        for outf in [
            PixelFormat::Rgba,
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::I420,
        ] {
            let gpu = engine.process(&frame, Look::PLAIN, 0, outf).expect("gpu");
            assert_eq!(gpu.format, outf);
            let cpu = convert::convert(&frame, outf).expect("cpu");
            let mean = gpu
                .data
                .iter()
                .zip(&cpu.data)
                .map(|(a, b)| a.abs_diff(*b) as f64)
                .sum::<f64>()
                / cpu.data.len() as f64;
            // Two conversions with different rounding (and for 4:2:0 out of
            // YUYV, different chroma averaging): within a level or two on average.
            assert!(mean < 2.0, "{inf} -> {outf}: mean abs diff {mean:.3}");
        }
    }
}

/// Without a filter the background passes and packing decode the camera's
/// bytes themselves; with one they read the filter's picture. Through a
/// filter that changes nothing (grayscale at amount 0) both ways give the
/// same frame, for every input format and both kinds of background.
#[test]
fn decoding_in_place_matches_the_filtered_picture() {
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let rgba = input();
    let (mask, mw, mh) = ellipse_mask(0.0);
    let moon = bytemeetd::settings::background::find_scene("moon").expect("moon");
    let picture = background::render_scene(moon, SIZE).expect("render");
    engine.set_picture(&picture, SIZE).expect("picture");
    let nothing: FilterSpec = "grayscale:amount=0".parse().expect("filter");
    for inf in [
        PixelFormat::Rgba,
        PixelFormat::Yuyv,
        PixelFormat::Nv12,
        PixelFormat::I420,
    ] {
        let frame = convert::convert(&rgba, inf).expect("to input format");
        for backdrop in [Backdrop::Blur { strength: 24.0 }, Backdrop::Picture] {
            let mut run = |filter: Option<&FilterSpec>| {
                engine.clear_mask();
                engine.set_mask(&mask, mw, mh).expect("mask");
                let look = Look {
                    filter,
                    backdrop,
                    avatar: None,
                };
                engine
                    .process(&frame, look, 0, PixelFormat::Rgba)
                    .expect("gpu")
            };
            let direct = run(None);
            let filtered = run(Some(&nothing));
            let d = diff(&direct.data, &filtered.data);
            eprintln!(
                "{inf} {backdrop:?}: decoded in place vs filtered: mean {:.3}, outliers {:.4}",
                d.mean, d.outliers
            );
            // The filtered picture is stored in 8 bits, and the sampler rounds
            // its averages for the blur's downsample to 8 bits; decoding in
            // place does neither: a level apart here and there, never more
            // than two.
            assert!(
                d.mean < 0.5 && d.outliers < 0.002,
                "{inf} {backdrop:?}: mean {:.3}, outliers {:.4}",
                d.mean,
                d.outliers
            );
        }
    }
}

/// A bad `.cube` file is refused where it is parsed (off the frame path),
/// naming the file; the engine keeps the LUT it had and goes on filtering.
#[test]
fn a_bad_lut_file_is_a_clear_error_and_the_engine_goes_on() {
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.cube");
    std::fs::write(&bad, "LUT_3D_SIZE 4\n0 0 0\n").expect("write");
    let err = Lut3d::load(&bad).expect_err("bad lut");
    assert!(err.to_string().contains("bad.cube"), "{err}");
    // With no LUT given, the lut filter samples the identity LUT.
    engine.set_lut(&Lut3d::identity(2));
    let spec: FilterSpec = format!("lut:{}", bad.display()).parse().expect("spec");
    let src = input();
    let out = engine
        .process(&src, filtered(&spec), 0, PixelFormat::Rgba)
        .expect("identity lut");
    let d = diff(&out.data, &src.data);
    assert!(d.mean < 1.0, "identity LUT changed the picture: {}", d.mean);
    let ok = engine.process(
        &src,
        filtered(&"sepia".parse().expect("spec")),
        0,
        PixelFormat::Rgba,
    );
    assert!(ok.is_ok());
    assert!(filter::find("sepia").is_some());
}

/// A person-shaped mask (an upright ellipse, soft at its rim) at perception's
/// size for SIZE, shifted by `dx` mask pixels.
fn ellipse_mask(dx: f32) -> (Vec<u8>, u32, u32) {
    let (w, h) = (256u32, 144u32);
    let mut m = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let nx = (x as f32 + 0.5 - 128.0 - dx) / 60.0;
            let ny = (y as f32 + 0.5 - 100.0) / 80.0;
            let r = (nx * nx + ny * ny).sqrt();
            m.push(((1.15 - r) / 0.3 * 255.0).clamp(0.0, 255.0) as u8);
        }
    }
    (m, w, h)
}

/// Compares GPU output with the CPU twin and the golden image.
/// Tolerances: the blur's intermediate textures are half floats on the GPU
/// and f32 on the CPU, and the GPU's bilinear sampler uses 8-bit fractions
/// (lavapipe) where the CPU uses exact ones, so values near a steep mask edge
/// can differ by a few levels: a mean below 0.6 levels and at most 1.5 % of
/// values more than 2 levels apart.
fn check_background(name: &str, gpu: &[u8], cpu: &[u8]) -> Result<(), String> {
    let golden_path = golden_dir().join(format!("background-{name}.png"));
    if std::env::var_os("BYTEMEET_UPDATE_GOLDEN").is_some() {
        save_png(&golden_path, cpu);
    }
    let golden = image::open(&golden_path)
        .map_err(|e| {
            format!(
                "{}: {e} (BYTEMEET_UPDATE_GOLDEN=1 creates it)",
                golden_path.display()
            )
        })?
        .to_rgba8()
        .into_raw();
    let g = diff(gpu, cpu);
    let c = diff(cpu, &golden);
    eprintln!(
        "background {name:<8} gpu-vs-cpu mean {:.3} outliers {:.4}; cpu-vs-golden mean {:.3}",
        g.mean, g.outliers, c.mean
    );
    if g.mean > 0.6 || g.outliers > 0.015 {
        let kept = std::env::temp_dir().join(format!("bytemeet-gpu-background-{name}.png"));
        save_png(&kept, gpu);
        return Err(format!(
            "{name}: GPU differs from CPU (mean {:.3}, outliers {:.4}); GPU output in {}",
            g.mean,
            g.outliers,
            kept.display()
        ));
    }
    if c.mean > 0.01 || c.outliers > 0.0 {
        return Err(format!(
            "{name}: CPU reference differs from golden (mean {:.3})",
            c.mean
        ));
    }
    Ok(())
}

/// Background blur, a scene behind the person, and the mask smoothed over
/// two frames: each on the GPU against its CPU twin and a reviewed golden.
#[test]
fn backgrounds_match_their_cpu_twins_and_goldens() {
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let src = input();
    let (mask, mw, mh) = ellipse_mask(0.0);
    let smoothed = reference::smooth_mask(&mask, mw, mh, None, 1.0);
    let guide = |m: &reference::Plane| {
        reference::guide(
            &src.data,
            SIZE.width,
            SIZE.height,
            m,
            GUIDE_RADIUS,
            GUIDE_EPS,
        )
    };
    let mut failures = Vec::new();

    // Blur, strength 24 (sigma 6 px at this 180-line size).
    engine.clear_mask();
    engine.set_mask(&mask, mw, mh).expect("mask");
    let look = Look {
        filter: None,
        backdrop: Backdrop::Blur { strength: 24.0 },
        avatar: None,
    };
    let gpu = engine
        .process(&src, look, 0, PixelFormat::Rgba)
        .expect("blur");
    let plan = blur_plan(24.0, SIZE);
    let cpu = reference::blur_background(
        &src.data,
        SIZE.width,
        SIZE.height,
        &smoothed,
        &plan,
        FEATHER,
    );
    failures.extend(check_background("blur", &gpu.data, &cpu).err());

    // The moon scene behind the person, after a toon filter.
    let moon = bytemeetd::settings::background::find_scene("moon").expect("moon");
    let picture = background::render_scene(moon, SIZE).expect("render");
    engine.set_picture(&picture, SIZE).expect("picture");
    let toon: FilterSpec = "toon".parse().expect("toon");
    let look = Look {
        filter: Some(&toon),
        backdrop: Backdrop::Picture,
        avatar: None,
    };
    let gpu = engine
        .process(&src, look, 0, PixelFormat::Rgba)
        .expect("scene");
    let info = filter::find("toon").expect("toon");
    let person = reference::apply(
        info.id,
        toon.values(info),
        0,
        &src.data,
        SIZE.width,
        SIZE.height,
        None,
    );
    let cpu = reference::composite_picture(
        &person,
        &picture,
        SIZE.width,
        SIZE.height,
        &guide(&smoothed),
        FEATHER,
    );
    failures.extend(check_background("moon", &gpu.data, &cpu).err());

    // The person moved: the new mask is averaged with the old one.
    let (moved, _, _) = ellipse_mask(24.0);
    engine.set_mask(&moved, mw, mh).expect("mask");
    let look = Look {
        filter: None,
        backdrop: Backdrop::Picture,
        avatar: None,
    };
    let gpu = engine
        .process(&src, look, 0, PixelFormat::Rgba)
        .expect("moved");
    let twice = reference::smooth_mask(&moved, mw, mh, Some(&smoothed), MASK_KEEP_NEW);
    let cpu = reference::composite_picture(
        &src.data,
        &picture,
        SIZE.width,
        SIZE.height,
        &guide(&twice),
        FEATHER,
    );
    failures.extend(check_background("smoothed", &gpu.data, &cpu).err());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// With nobody in the picture (an all-background mask) the blur stage is the
/// whole-frame blur, and it is a real Gaussian: downsampling, a low-res
/// Gaussian and bilinear upsampling land within a level of an exact
/// full-size Gaussian of the same sigma, at 720p where it runs.
#[test]
fn the_background_blur_is_a_gaussian_of_the_asked_sigma() {
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let hd = Size::new(1280, 720);
    let src = DemoSource::new(hd, 30.0)
        .expect("demo")
        .next_frame()
        .expect("frame");
    engine.clear_mask();
    engine
        .set_mask(&vec![0u8; 256 * 144], 256, 144)
        .expect("mask");
    // Strength 12 at 720p = sigma 12 px: the same as ffmpeg's gblur=sigma=12.
    let plan: BlurPlan = blur_plan(12.0, hd);
    assert!(plan.factor > 1, "runs at reduced size: {plan:?}");
    let look = Look {
        filter: None,
        backdrop: Backdrop::Blur { strength: 12.0 },
        avatar: None,
    };
    let gpu = engine
        .process(&src, look, 0, PixelFormat::Rgba)
        .expect("blur");
    let exact = exact_gaussian(&src.data, 1280, 720, 12.0);
    let d = diff(&gpu.data, &exact);
    eprintln!(
        "blur vs exact Gaussian (sigma 12, {plan:?}): mean {:.3} levels, outliers {:.4}",
        d.mean, d.outliers
    );
    assert!(
        d.mean < 1.0 && d.outliers < 0.05,
        "mean {:.3}, outliers {:.4}",
        d.mean,
        d.outliers
    );
    // And it is not a no-op: the exact blur differs a lot from the input.
    assert!(diff(&exact, &src.data).mean > 3.0);
}

/// A separable Gaussian at full size in f64, edges clamped.
fn exact_gaussian(rgba: &[u8], w: usize, h: usize, sigma: f64) -> Vec<u8> {
    let r = (sigma * 4.0).ceil() as i64;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = k.iter().sum();
    let mut tmp = vec![0f64; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut acc = 0.0;
                for (i, kv) in (-r..=r).zip(&k) {
                    let sx = (x as i64 + i).clamp(0, w as i64 - 1) as usize;
                    acc += rgba[(y * w + sx) * 4 + c] as f64 * kv;
                }
                tmp[(y * w + x) * 3 + c] = acc / total;
            }
        }
    }
    let mut out = vec![255u8; w * h * 4];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut acc = 0.0;
                for (i, kv) in (-r..=r).zip(&k) {
                    let sy = (y as i64 + i).clamp(0, h as i64 - 1) as usize;
                    acc += tmp[(sy * w + x) * 3 + c] * kv;
                }
                out[(y * w + x) * 4 + c] = (acc / total).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// A mask of the wrong length is refused with a clear error, and nothing breaks.
#[test]
fn a_bad_mask_is_refused_and_the_engine_goes_on() {
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let err = engine
        .set_mask(&[0u8; 10], 256, 144)
        .expect_err("short mask");
    assert!(err.to_string().contains("256x144"), "{err}");
    let look = Look {
        filter: None,
        backdrop: Backdrop::Blur { strength: 12.0 },
        avatar: None,
    };
    assert!(engine.process(&input(), look, 0, PixelFormat::Yuyv).is_ok());
}

/// Size of the avatar goldens: big enough to judge the art by eye.
const AVATAR_SIZE: Size = Size::new(480, 270);

/// Every built-in avatar on the demo portrait, placed by the real face
/// tracker: the GPU matches the CPU twin, and the twin the reviewed golden
/// (`tests/golden/avatar-NAME.png`). A full avatar stands in front of its
/// scene; a mask avatar over the camera picture. Tolerances: GPU and CPU
/// differ only in the last bits of the bilinear fetch (mean under 0.5
/// levels, under 1 % of values more than 2 apart); against the golden, the
/// landmarks may differ in their last bits between machines, which moves
/// art edges by a fraction of a pixel (mean under 1 level, under 2 %).
#[test]
fn avatars_match_their_cpu_twin_and_goldens() {
    use bytemeetd::avatar::{self, pack, rig};
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let size = AVATAR_SIZE;
    let frame = DemoSource::new(size, 30.0)
        .and_then(|mut d| d.next_frame())
        .expect("demo");
    let mut tracker = bytemeetd::perception::face::FaceTracker::new().expect("models");
    let face = tracker
        .track(&frame.data, size, 0.0)
        .expect("tracking runs")
        .expect("the demo portrait has a face");
    let pose = rig::Pose::from_face(&face).expect("pose");
    let update = std::env::var_os("BYTEMEET_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let packs = pack::built_in();
    assert!(packs.len() >= 8);
    for p in packs {
        let m = &p.manifest;
        let c = &m.canvas;
        let art = (c.right_eye[0] - c.left_eye[0]).hypot(c.right_eye[1] - c.left_eye[1]);
        let raster =
            avatar::rasterise(&p, avatar::scale_step(pose.eye_distance / art)).expect("raster");
        let draws = rig::rig(m, &pose, 0.0);
        let drawing = avatar::drawing(
            m.mode,
            std::sync::Arc::new(raster),
            m,
            &draws,
            (size.width, size.height),
        );
        let full = m.mode == pack::Mode::Full;
        let base = if full {
            let scene = m.scene.as_deref().unwrap_or("deep-space");
            let pic = background::render_scene(
                bytemeetd::settings::background::find_scene(scene).expect("scene"),
                size,
            )
            .expect("scene drawn");
            engine.set_picture(&pic, size).expect("picture");
            pic
        } else {
            frame.data.to_vec()
        };
        let look = Look {
            filter: None,
            backdrop: if full {
                Backdrop::Picture
            } else {
                Backdrop::None
            },
            avatar: Some(&drawing),
        };
        let gpu = engine
            .process(&frame, look, FRAME_NO, PixelFormat::Rgba)
            .expect("gpu")
            .data;
        let cpu = reference::wear_avatar(&base, size.width, size.height, &drawing);
        // The avatar pass writes its box straight into YUYV and NV12 too.
        let twin = Frame::new(size, PixelFormat::Rgba, cpu.clone(), 0);
        for f in [PixelFormat::Yuyv, PixelFormat::Nv12] {
            let g = engine
                .process(&frame, look, FRAME_NO, f)
                .expect("gpu packed");
            let c = convert::convert(&twin, f).expect("cpu packed");
            let mean = g
                .data
                .iter()
                .zip(&c.data)
                .map(|(a, b)| a.abs_diff(*b) as f64)
                .sum::<f64>()
                / c.data.len() as f64;
            if mean > 2.0 {
                failures.push(format!("{} in {f}: mean abs diff {mean:.3}", m.name));
            }
        }
        let d = diff(&gpu, &cpu);
        eprintln!(
            "{:<14} gpu vs cpu: mean {:.3}, outliers {:.3}%",
            m.name,
            d.mean,
            d.outliers * 100.0
        );
        if d.mean > 0.5 || d.outliers > 0.01 {
            failures.push(format!(
                "{}: gpu vs cpu mean {:.3} outliers {:.4}",
                m.name, d.mean, d.outliers
            ));
        }
        // The avatar changed the picture where the face is.
        let changed = diff(&cpu, &base);
        if changed.mean < 1.0 {
            failures.push(format!(
                "{}: the avatar barely shows (mean change {:.2})",
                m.name, changed.mean
            ));
        }
        let path = golden_dir().join(format!("avatar-{}.png", m.name));
        if update {
            image::save_buffer(
                &path,
                &cpu,
                size.width,
                size.height,
                image::ExtendedColorType::Rgba8,
            )
            .expect("save golden");
            continue;
        }
        let golden = image::open(&path)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (BYTEMEET_UPDATE_GOLDEN=1 makes it)",
                    path.display()
                )
            })
            .to_rgba8()
            .into_raw();
        let g = diff(&cpu, &golden);
        eprintln!(
            "{:<14} cpu vs golden: mean {:.3}, outliers {:.3}%",
            m.name,
            g.mean,
            g.outliers * 100.0
        );
        if g.mean > 1.0 || g.outliers > 0.02 {
            failures.push(format!(
                "{}: cpu vs golden mean {:.3} outliers {:.4}",
                m.name, g.mean, g.outliers
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A mask avatar with a background: the background goes behind the person,
/// then the avatar over the face; switching the avatar off leaves the
/// background alone.
#[test]
fn an_avatar_sits_over_the_background_and_comes_off_cleanly() {
    use bytemeetd::avatar::{self, pack, rig};
    let engine = engine();
    let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
    let frame = input();
    let (mask, mw, mh) = ellipse_mask(0.0);
    engine.set_mask(&mask, mw, mh).expect("mask");
    let blur = Look {
        filter: None,
        backdrop: Backdrop::Blur { strength: 12.0 },
        avatar: None,
    };
    let plain = engine
        .process(&frame, blur, FRAME_NO, PixelFormat::Rgba)
        .expect("blur")
        .data;
    let p = pack::built_in()
        .into_iter()
        .find(|p| p.manifest.name == "knight")
        .expect("knight");
    let pose = rig::Pose {
        eyes: [[142.5, 80.0], [177.5, 80.0]],
        eye_distance: 35.0,
        yaw: 0.0,
        pitch: 0.0,
        eye_open: [1.0, 1.0],
        mouth_open: 0.0,
        smile: 0.0,
        brow_raise: 0.0,
    };
    let raster = avatar::rasterise(&p, 0.5).expect("raster");
    let draws = rig::rig(&p.manifest, &pose, 0.0);
    let d = avatar::drawing(
        p.manifest.mode,
        std::sync::Arc::new(raster),
        &p.manifest,
        &draws,
        (SIZE.width, SIZE.height),
    );
    let worn = engine
        .process(
            &frame,
            Look {
                avatar: Some(&d),
                ..blur
            },
            FRAME_NO,
            PixelFormat::Rgba,
        )
        .expect("worn")
        .data;
    let want = reference::wear_avatar(&plain, SIZE.width, SIZE.height, &d);
    let dd = diff(&worn, &want);
    assert!(
        dd.mean < 0.5 && dd.outliers < 0.01,
        "mean {} outliers {}",
        dd.mean,
        dd.outliers
    );
    // Outside the avatar's box the picture is the blurred one, untouched.
    let [x0, y0, x1, y1] = d.bounds;
    for y in 0..SIZE.height {
        for x in 0..SIZE.width {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            if fx < x0 || fx >= x1 || fy < y0 || fy >= y1 {
                let i = ((y * SIZE.width + x) * 4) as usize;
                assert_eq!(worn[i..i + 3], plain[i..i + 3], "({x}, {y})");
            }
        }
    }
    let off = engine
        .process(&frame, blur, FRAME_NO, PixelFormat::Rgba)
        .expect("off")
        .data;
    assert!(diff(&off, &plain).mean < 0.01);
}
