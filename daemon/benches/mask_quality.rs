//! Mask quality: how well the person mask follows the person, and how
//! still it stays on a still person, against MediaPipe's own pipeline.
//!
//! Five photos with people, shipped by Debian packages (python3-skimage,
//! opencv-doc; `scripts/fetch-photos.sh` unpacks them without installing),
//! each with outlines drawn by hand (`benches/data/mask_outlines.json`):
//!
//! - agreement with the outline on the clean photo: intersection over
//!   union (mask at one half) and the boundary error, the mean distance in
//!   pixels from each edge pixel of one to the nearest edge pixel of the
//!   other, both ways;
//! - flicker: the photo with sensor-like noise (Gaussian, sigma 6 levels
//!   per channel, fixed seed) over 60 frames, each segmented from its own
//!   picture; the mean absolute change per frame of the person weight each
//!   pixel gets, in levels of 255.
//!
//! Ours is what the daemon composites with: the model's mask, smoothed as
//! the GPU's `mask_smooth` does (its CPU twin, `gpu::reference`: a 3x3
//! binomial blur and a running average over frames), upsampled bilinearly
//! and feathered. Theirs is MediaPipe selfie segmentation (the same
//! landscape model) run by `scripts/mask-quality-python.py` on the same
//! frames, its probability used as the weight, as the Python pipeline of
//! `scripts/compare-python.py` does. Both are scored by the same code here.
//!
//!   scripts/fetch-photos.sh
//!   BYTEMEET_PYTHON=/path/to/venv/bin/python cargo bench -p bytemeetd --bench mask_quality
//!
//! Without `BYTEMEET_PYTHON` only our side is measured.

use std::path::{Path, PathBuf};

use bytemeetd::frame::{Frame, PixelFormat, Size};
use bytemeetd::gpu::background::{FEATHER, MASK_KEEP_NEW};
use bytemeetd::gpu::reference::{person_weight, smooth_mask, Plane};
use bytemeetd::perception::{Downscaler, Mask, Segmenter};
use bytemeetd::settings::segmenter::SegmenterSpec;

mod common;
#[path = "../tests/common/portrait.rs"]
mod portrait;

const NOISY_FRAMES: usize = 60;
const NOISE_SIGMA: f32 = 6.0;
const SEED: u64 = 20261207;

struct Photo {
    name: String,
    size: Size,
    rgba: Vec<u8>,
    /// Hand-drawn truth: 1 inside a person.
    truth: Vec<bool>,
}

/// The scores of one side on one photo.
#[derive(Default, Clone, Copy)]
struct Scores {
    iou: f64,
    boundary_px: f64,
    flicker: f64,
}

fn main() {
    let frames = common::arg("--frames", NOISY_FRAMES);
    let dir = std::env::var_os("BYTEMEET_PHOTOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("bytemeet/photos")
        });
    let photos = load_photos(&dir);
    let python = std::env::var("BYTEMEET_PYTHON").ok();
    let tmp = tempfile::tempdir().expect("tmp");

    // Every photo's frames: the clean one, then the noisy ones.
    let clips: Vec<Vec<Vec<u8>>> = photos.iter().map(|p| clip(p, frames)).collect();

    let mut seg = Segmenter::new(&SegmenterSpec::Model).expect("the model loads");
    let ours_masks: Vec<Vec<Mask>> = photos
        .iter()
        .zip(&clips)
        .map(|(p, frames)| masks(&mut seg, p, frames))
        .collect();
    let ours: Vec<Scores> = photos
        .iter()
        .zip(&ours_masks)
        .map(|(p, m)| score(p, &our_weights(p, m)))
        .collect();
    let raw: Vec<Scores> = photos
        .iter()
        .zip(&ours_masks)
        .map(|(p, m)| score(p, &raw_weights(p, m)))
        .collect();

    let theirs: Option<Vec<Scores>> = python.map(|py| {
        write_clips(tmp.path(), &photos, &clips);
        mediapipe(&py, tmp.path());
        photos
            .iter()
            .map(|p| score(p, &read_mediapipe(tmp.path(), p, frames + 1)))
            .collect()
    });

    println!(
        "mask quality: {} photos; flicker over {frames} frames with noise sigma {NOISE_SIGMA}",
        photos.len()
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "photo",
        "IoU ours",
        "IoU raw",
        "IoU MP",
        "edge ours",
        "edge MP",
        "flk ours",
        "flk raw",
        "flk MP"
    );
    let cell = |v: Option<f64>, prec: usize| match v {
        Some(v) if v.is_finite() => format!("{v:.prec$}"),
        _ => "-".to_string(),
    };
    let row = |name: &str, o: Scores, r: Scores, t: Option<Scores>| {
        println!(
            "{:<12} {:>9.3} {:>9.3} {:>9} {:>10} {:>9} {:>9.3} {:>9.3} {:>9}",
            name,
            o.iou,
            r.iou,
            cell(t.map(|t| t.iou), 3),
            cell(Some(o.boundary_px), 1),
            cell(t.map(|t| t.boundary_px), 1),
            o.flicker,
            r.flicker,
            cell(t.map(|t| t.flicker), 3),
        )
    };
    for (i, p) in photos.iter().enumerate() {
        row(&p.name, ours[i], raw[i], theirs.as_ref().map(|t| t[i]));
    }
    // Means over the photos; the edge error over those where a person was
    // found (an empty mask has no edge).
    let mean = |v: &[Scores]| {
        let n = v.len() as f64;
        let edges: Vec<f64> = v
            .iter()
            .map(|s| s.boundary_px)
            .filter(|e| e.is_finite())
            .collect();
        Scores {
            iou: v.iter().map(|s| s.iou).sum::<f64>() / n,
            boundary_px: edges.iter().sum::<f64>() / edges.len().max(1) as f64,
            flicker: v.iter().map(|s| s.flicker).sum::<f64>() / n,
        }
    };
    let (m_ours, m_raw, m_theirs) = (mean(&ours), mean(&raw), theirs.as_deref().map(mean));
    row("mean", m_ours, m_raw, m_theirs);
    println!("(IoU: mask at one half against the outline; raw: our model's mask with no smoothing; edge: mean distance between the edges, px, both ways; flk: mean change of the weight per frame, levels of 255)");
    println!(
        "RATIO mask.flicker.raw_vs_smoothed {:.2}",
        m_raw.flicker / m_ours.flicker
    );
    match m_theirs {
        Some(t) => {
            println!("RATIO mask.iou.ours_vs_mediapipe {:.3}", m_ours.iou / t.iou);
            println!("RATIO mask.flicker.mediapipe_vs_ours {:.2}", t.flicker / m_ours.flicker);
        }
        None => println!(
            "MediaPipe left out: set BYTEMEET_PYTHON to a Python with mediapipe==0.10.21 and opencv-python-headless"
        ),
    }
}

#[derive(serde::Deserialize)]
struct Outlines {
    photos: Vec<OutlinedPhoto>,
}

#[derive(serde::Deserialize)]
struct OutlinedPhoto {
    name: String,
    package: String,
    path: String,
    size: [u32; 2],
    /// Each person's outline: (x, y) points, read from [x, y] pairs.
    people: Vec<Vec<(f32, f32)>>,
}

fn load_photos(dir: &Path) -> Vec<Photo> {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/data/mask_outlines.json"
    );
    let outlines: Outlines =
        serde_json::from_str(&std::fs::read_to_string(file).expect("outlines"))
            .expect("outline JSON");
    outlines
        .photos
        .into_iter()
        .map(|o| {
            let path = dir.join(&o.path);
            let img = image::open(&path)
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: {e} (the photo comes from the Debian package {}: run scripts/fetch-photos.sh, or set BYTEMEET_PHOTOS to where it is unpacked)",
                        path.display(),
                        o.package
                    )
                })
                .to_rgba8();
            let size = Size::new(img.width(), img.height());
            assert_eq!([size.width, size.height], o.size, "{}: not the size outlined", o.name);
            let mut truth = Vec::with_capacity((size.width * size.height) as usize);
            for y in 0..size.height {
                for x in 0..size.width {
                    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                    truth.push(o.people.iter().any(|poly| portrait::inside(poly, px, py)));
                }
            }
            Photo {
                name: o.name,
                size,
                rgba: img.into_raw(),
                truth,
            }
        })
        .collect()
}

/// The clean photo, then `n` frames of it with Gaussian noise on each
/// channel (Box-Muller from a seeded generator).
fn clip(p: &Photo, n: usize) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut gauss = move || {
        let u1 = rng.f32().max(1e-7);
        let u2 = rng.f32();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    };
    let mut out = vec![p.rgba.clone()];
    for _ in 0..n {
        let mut f = p.rgba.clone();
        for (i, v) in f.iter_mut().enumerate() {
            if i % 4 != 3 {
                *v = (*v as f32 + NOISE_SIGMA * gauss())
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
        }
        out.push(f);
    }
    out
}

/// The model's mask of every frame, each from its own picture.
fn masks(seg: &mut Segmenter, p: &Photo, frames: &[Vec<u8>]) -> Vec<Mask> {
    let mut down = Downscaler::default();
    frames
        .iter()
        .enumerate()
        .map(|(i, rgba)| {
            let frame = Frame::new(p.size, PixelFormat::Rgba, rgba.clone(), i as u64 + 1);
            seg.segment(&frame, &mut down).expect("segment")
        })
        .collect()
}

/// The person weight of every pixel, per frame, as the daemon composites:
/// each frame's mask smoothed into the running average, upsampled and
/// feathered.
fn our_weights(p: &Photo, masks: &[Mask]) -> Vec<Vec<f32>> {
    let mut prev: Option<Plane> = None;
    masks
        .iter()
        .enumerate()
        .map(|(i, mask)| {
            // The clean photo starts its own average; the noisy clip another.
            let first = i <= 1;
            let plane = smooth_mask(
                &mask.data,
                mask.width,
                mask.height,
                if first { None } else { prev.as_ref() },
                if first { 1.0 } else { MASK_KEEP_NEW },
            );
            let w = upsample(p.size, |u, v| person_weight(&plane, FEATHER, u, v));
            prev = Some(plane);
            w
        })
        .collect()
}

/// The model's masks as they come, upsampled, with no smoothing.
fn raw_weights(p: &Photo, masks: &[Mask]) -> Vec<Vec<f32>> {
    masks
        .iter()
        .map(|mask| {
            let plane = Plane {
                w: mask.width,
                h: mask.height,
                data: mask.data.iter().map(|&v| v as f32 / 255.0).collect(),
            };
            upsample(p.size, |u, v| plane.sample(u, v))
        })
        .collect()
}

fn upsample(size: Size, f: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    let mut out = Vec::with_capacity((size.width * size.height) as usize);
    for y in 0..size.height {
        for x in 0..size.width {
            out.push(f(
                (x as f32 + 0.5) / size.width as f32,
                (y as f32 + 0.5) / size.height as f32,
            ));
        }
    }
    out
}

/// IoU and edge error on the clean frame (the first), flicker over the rest.
fn score(p: &Photo, weights: &[Vec<f32>]) -> Scores {
    let found: Vec<bool> = weights[0].iter().map(|&w| w >= 0.5).collect();
    let both = found
        .iter()
        .zip(&p.truth)
        .filter(|(a, b)| **a && **b)
        .count();
    let either = found
        .iter()
        .zip(&p.truth)
        .filter(|(a, b)| **a || **b)
        .count();
    let a = edges(&found, p.size);
    let b = edges(&p.truth, p.size);
    let da = distance_to(&b, p.size);
    let db = distance_to(&a, p.size);
    let mean_to = |pts: &[bool], d: &[f32]| {
        let (sum, n) = pts
            .iter()
            .zip(d)
            .filter(|(e, _)| **e)
            .fold((0.0f64, 0usize), |(s, n), (_, d)| (s + *d as f64, n + 1));
        if n == 0 {
            f64::NAN // nobody found: no edge to measure
        } else {
            sum / n as f64
        }
    };
    Scores {
        iou: both as f64 / either.max(1) as f64,
        boundary_px: (mean_to(&a, &da) + mean_to(&b, &db)) / 2.0,
        flicker: flicker(&weights[1..]),
    }
}

/// Mean absolute change of the weight from one frame to the next, in
/// levels of 255.
fn flicker(weights: &[Vec<f32>]) -> f64 {
    let steps = weights.windows(2).map(|w| {
        let sum: f64 = w[0]
            .iter()
            .zip(&w[1])
            .map(|(a, b)| (a - b).abs() as f64)
            .sum();
        sum / w[0].len() as f64
    });
    let n = weights.len().saturating_sub(1).max(1);
    steps.sum::<f64>() / n as f64 * 255.0
}

/// Edge pixels: inside, with a 4-neighbour outside (the frame's border is
/// not an edge: a person cut by it has no outline there).
fn edges(m: &[bool], size: Size) -> Vec<bool> {
    let (w, h) = (size.width as usize, size.height as usize);
    let mut out = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            if !m[y * w + x] {
                continue;
            }
            let out_at = |xx: usize, yy: usize| !m[yy * w + xx];
            out[y * w + x] = (x > 0 && out_at(x - 1, y))
                || (x + 1 < w && out_at(x + 1, y))
                || (y > 0 && out_at(x, y - 1))
                || (y + 1 < h && out_at(x, y + 1));
        }
    }
    out
}

/// Distance from every pixel to the nearest set pixel (a two-pass chamfer
/// transform with steps 1 and sqrt 2: within a few percent of Euclidean).
fn distance_to(set: &[bool], size: Size) -> Vec<f32> {
    let (w, h) = (size.width as usize, size.height as usize);
    let far = (w + h) as f32 * 2.0;
    let mut d: Vec<f32> = set.iter().map(|&s| if s { 0.0 } else { far }).collect();
    let diag = std::f32::consts::SQRT_2;
    for y in 0..h {
        for x in 0..w {
            let mut v = d[y * w + x];
            if x > 0 {
                v = v.min(d[y * w + x - 1] + 1.0);
            }
            if y > 0 {
                v = v.min(d[(y - 1) * w + x] + 1.0);
                if x > 0 {
                    v = v.min(d[(y - 1) * w + x - 1] + diag);
                }
                if x + 1 < w {
                    v = v.min(d[(y - 1) * w + x + 1] + diag);
                }
            }
            d[y * w + x] = v;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let mut v = d[y * w + x];
            if x + 1 < w {
                v = v.min(d[y * w + x + 1] + 1.0);
            }
            if y + 1 < h {
                v = v.min(d[(y + 1) * w + x] + 1.0);
                if x + 1 < w {
                    v = v.min(d[(y + 1) * w + x + 1] + diag);
                }
                if x > 0 {
                    v = v.min(d[(y + 1) * w + x - 1] + diag);
                }
            }
            d[y * w + x] = v;
        }
    }
    d
}

/// Each photo's frames as RGB for the Python side, and the list it reads.
fn write_clips(dir: &Path, photos: &[Photo], clips: &[Vec<Vec<u8>>]) {
    let mut list = String::new();
    for (p, frames) in photos.iter().zip(clips) {
        let mut rgb =
            Vec::with_capacity(frames.len() * (p.size.width * p.size.height * 3) as usize);
        for f in frames {
            for px in f.chunks_exact(4) {
                rgb.extend_from_slice(&px[..3]);
            }
        }
        std::fs::write(dir.join(format!("{}.rgb", p.name)), rgb).expect("write clip");
        list += &format!(
            "{} {} {} {}\n",
            p.name,
            p.size.width,
            p.size.height,
            frames.len()
        );
    }
    std::fs::write(dir.join("list.txt"), list).expect("write list");
}

fn mediapipe(python: &str, dir: &Path) {
    common::run_python(python, "mask-quality-python.py", [dir]);
}

fn read_mediapipe(dir: &Path, p: &Photo, frames: usize) -> Vec<Vec<f32>> {
    let raw = std::fs::read(dir.join(format!("{}.mediapipe", p.name))).expect("MediaPipe's masks");
    let n = (p.size.width * p.size.height) as usize;
    assert_eq!(
        raw.len(),
        n * frames,
        "{}: MediaPipe gave the wrong count",
        p.name
    );
    raw.chunks_exact(n)
        .map(|m| m.iter().map(|&v| v as f32 / 255.0).collect())
        .collect()
}
