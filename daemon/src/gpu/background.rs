//! Drawing what goes behind the person: the blur plan, the mask smoothing
//! constants the shaders share, and the scenes (SVG art of our own in
//! `daemon/assets/scenes/`, named in `settings::background`) rendered once
//! per size with resvg. The choice itself is `settings::background`.

use crate::frame::Size;
use crate::settings::background::{SceneInfo, BLUR_RANGE};

/// How a blur of a given strength is run: a box downsample by `factor`, a
/// separable Gaussian of `sigma` (in low-res pixels) out to `radius`, and a
/// bilinear upsample in the composite. The variances of the box and of the
/// bilinear upsample are taken off, so the whole approximates a Gaussian of
/// the asked sigma at full size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlurPlan {
    pub factor: u32,
    pub low: Size,
    pub sigma: f32,
    pub radius: u32,
}

/// The plan for `strength` (sigma at 720p) on frames of `size`.
pub fn blur_plan(strength: f32, size: Size) -> BlurPlan {
    let sigma_px =
        strength.clamp(*BLUR_RANGE.start(), *BLUR_RANGE.end()) * size.height as f32 / 720.0;
    let mut factor = 1u32;
    while factor < 8 && (factor * 2) as f32 * 1.5 <= sigma_px {
        factor *= 2;
    }
    let f = factor as f32;
    let box_var = (f * f - 1.0) / 12.0;
    let tent_var = if factor > 1 { f * f / 6.0 } else { 0.0 };
    let var_low = ((sigma_px * sigma_px - box_var - tent_var) / (f * f)).max(0.25);
    let sigma = var_low.sqrt();
    BlurPlan {
        factor,
        low: Size::new(size.width.div_ceil(factor), size.height.div_ceil(factor)),
        sigma,
        radius: ((sigma * 3.0).ceil() as u32).min(MAX_RADIUS),
    }
}

/// The longest kernel half the shader holds (weights for offsets 0..=39).
pub const MAX_RADIUS: u32 = 39;

impl BlurPlan {
    /// Normalised Gaussian weights for offsets 0..=radius (the kernel is
    /// symmetric: the full kernel sums to 1).
    pub fn weights(&self) -> Vec<f32> {
        let k = -0.5 / (self.sigma * self.sigma);
        let raw: Vec<f32> = (0..=self.radius)
            .map(|i| ((i * i) as f32 * k).exp())
            .collect();
        let total = raw[0] + 2.0 * raw[1..].iter().sum::<f32>();
        raw.into_iter().map(|w| w / total).collect()
    }

    /// The kernel as the shader runs it: the centre weight, and each pair of
    /// neighbouring taps (i, i + 1) merged into one bilinear sample at the
    /// offset between them that gives each its own weight.
    pub fn tap_pairs(&self) -> (f32, Vec<(f32, f32)>) {
        let w = self.weights();
        let pairs = (1..w.len())
            .step_by(2)
            .map(|i| {
                let (a, b) = (w[i], w.get(i + 1).copied().unwrap_or(0.0));
                let offset = (i as f32 * a + (i + 1) as f32 * b) / (a + b);
                (offset, a + b)
            })
            .collect();
        (w[0], pairs)
    }
}

/// Edge softness of the person mask: half the width of the ramp around 0.5.
pub const FEATHER: f32 = 0.3;
/// Window radius of the guided filter that shapes the mask's edge with the
/// frame's own edges, in mask texels (a 3x3 window: about 15 px at 720p).
pub const GUIDE_RADIUS: u32 = 1;
/// Regularisation of the guided filter (as `GUIDE_EPS` in background.wgsl).
pub const GUIDE_EPS: f32 = 0.002;
/// Weight of a new mask in the running average across frames.
pub const MASK_KEEP_NEW: f32 = 0.6;

/// Why a scene could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("scene {name}: {reason}")]
    Render { name: String, reason: String },
}

/// Star markers (`<!--stars N SEED x0 y0 x1 y1-->`) are expanded into N small
/// circles placed by the shared integer hash, so star fields need no thousand
/// hand-written circles and come out the same every time.
fn expand_stars(svg: &str) -> String {
    let mut out = String::with_capacity(svg.len() * 2);
    for line in svg.lines() {
        let t = line.trim();
        let fields: Option<Vec<f32>> = t
            .strip_prefix("<!--stars ")
            .and_then(|r| r.strip_suffix("-->"))
            .map(|r| {
                r.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            });
        match fields {
            Some(f) if f.len() == 6 => {
                let (n, seed) = (f[0] as u32, f[1] as u32);
                let (x0, y0, x1, y1) = (f[2], f[3], f[4], f[5]);
                for i in 0..n {
                    let h = |k: u32| {
                        (super::hash::hash_u32(seed.wrapping_mul(7919) ^ (i * 4 + k)) & 0xffff)
                            as f32
                            / 65535.0
                    };
                    let (x, y) = (x0 + (x1 - x0) * h(0), y0 + (y1 - y0) * h(1));
                    let b = h(2);
                    let r = 0.5 + b * b * 1.8;
                    let warm = h(3);
                    let colour = if warm < 0.15 {
                        "#ffd9b0"
                    } else if warm > 0.85 {
                        "#b8d4ff"
                    } else {
                        "#ffffff"
                    };
                    out.push_str(&format!(
                        "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r:.2}\" fill=\"{colour}\" opacity=\"{:.2}\"/>\n",
                        0.35 + 0.65 * b
                    ));
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Draws a scene as RGBA8 at `size`, scaled to cover (centre crop).
pub fn render_scene(scene: &SceneInfo, size: Size) -> Result<Vec<u8>, SceneError> {
    let err = |reason: String| SceneError::Render {
        name: scene.name.to_string(),
        reason,
    };
    let svg = expand_stars(scene.svg);
    let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default())
        .map_err(|e| err(e.to_string()))?;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width, size.height)
        .ok_or_else(|| err(format!("cannot draw at {size}")))?;
    let view = tree.size();
    let k = (size.width as f32 / view.width()).max(size.height as f32 / view.height());
    let tx = (size.width as f32 - view.width() * k) / 2.0;
    let ty = (size.height as f32 - view.height() * k) / 2.0;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_row(k, 0.0, 0.0, k, tx, ty),
        &mut pixmap.as_mut(),
    );
    // Scenes are opaque, so the premultiplied pixels are the plain ones; force
    // alpha to 255 in case an edge pixel was left partly covered.
    let mut data = pixmap.take();
    for px in data.chunks_exact_mut(4) {
        px[3] = 255;
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::background::SCENES;

    #[test]
    fn every_scene_renders_with_detail() {
        assert!(SCENES.len() >= 4);
        let size = Size::new(320, 180);
        for s in SCENES {
            let img = render_scene(s, size).expect(s.name);
            assert_eq!(img.len(), size.pixels() * 4);
            // Not a flat colour: a real picture has many distinct values.
            let mut seen = std::collections::HashSet::new();
            for px in img.chunks_exact(4) {
                seen.insert([px[0] >> 3, px[1] >> 3, px[2] >> 3]);
            }
            assert!(seen.len() > 200, "{} has {} colours", s.name, seen.len());
        }
    }

    #[test]
    fn blur_plans_downsample_more_for_stronger_blurs() {
        let hd = Size::new(1280, 720);
        let p = blur_plan(12.0, hd);
        assert_eq!((p.factor, p.low), (8, Size::new(160, 90)));
        assert!((p.sigma - 1.41).abs() < 0.02, "{p:?}");
        assert_eq!(p.radius, 5);
        assert_eq!(blur_plan(1.0, hd).factor, 1);
        assert_eq!(blur_plan(5.0, hd).factor, 2);
        assert_eq!(blur_plan(64.0, hd).factor, 8);
        // Total variance matches the asked sigma (18 px at 1080p).
        let full = blur_plan(12.0, Size::new(1920, 1080));
        let f = full.factor as f32;
        let total = full.sigma.powi(2) * f * f + (f * f - 1.0) / 12.0 + f * f / 6.0;
        assert!((total.sqrt() - 18.0).abs() < 0.1);
        // The paired taps keep the kernel's weights: they sum to one.
        let (centre, pairs) = p.tap_pairs();
        let sum = centre + 2.0 * pairs.iter().map(|(_, w)| w).sum::<f32>();
        assert!((sum - 1.0).abs() < 1e-5, "{sum}");
        assert!(pairs
            .iter()
            .all(|(o, _)| (1.0..=p.radius as f32).contains(o)));
    }

    #[test]
    fn star_markers_expand_reproducibly() {
        let a = expand_stars("<svg>\n<!--stars 20 7 0 0 100 50-->\n</svg>");
        assert_eq!(a.matches("<circle").count(), 20);
        assert_eq!(
            a,
            expand_stars("<svg>\n<!--stars 20 7 0 0 100 50-->\n</svg>")
        );
    }
}
