//! CPU twins of the GPU filters: the same arithmetic in plain Rust, so golden
//! tests can check what the shaders compute, and so the daemon has something
//! to compare against when a driver misbehaves. Input and output are RGBA8.

use super::hash::hash_u32;
use super::lut::Lut3d;

type Rgb = [f32; 3];

fn luma(c: Rgb) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn scale(a: Rgb, k: f32) -> Rgb {
    [a[0] * k, a[1] * k, a[2] * k]
}

fn add(a: Rgb, b: Rgb) -> Rgb {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn hash01(v: u32) -> f32 {
    (hash_u32(v) & 0xffff) as f32 / 65535.0
}

fn posterize(c: Rgb, levels: f32) -> Rgb {
    let n = levels.max(2.0) - 1.0;
    // WGSL round() is round-half-to-even.
    c.map(|v| (v * n).round_ties_even() / n)
}

fn thermal(t: f32) -> Rgb {
    const STOPS: [Rgb; 6] = [
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 0.8],
        [0.8, 0.0, 0.8],
        [1.0, 0.0, 0.0],
        [1.0, 0.9, 0.0],
        [1.0, 1.0, 1.0],
    ];
    let s = t.clamp(0.0, 1.0) * 5.0;
    let i = (s.floor() as usize).min(4);
    mix(STOPS[i], STOPS[i + 1], s - i as f32)
}

/// An RGBA8 image being filtered.
struct Img<'a> {
    data: &'a [u8],
    w: i32,
    h: i32,
}

impl Img<'_> {
    fn load(&self, x: i32, y: i32) -> Rgb {
        let x = x.clamp(0, self.w - 1);
        let y = y.clamp(0, self.h - 1);
        let i = (y * self.w + x) as usize * 4;
        [
            self.data[i] as f32 / 255.0,
            self.data[i + 1] as f32 / 255.0,
            self.data[i + 2] as f32 / 255.0,
        ]
    }

    fn sobel(&self, x: i32, y: i32) -> f32 {
        let l = |dx: i32, dy: i32| luma(self.load(x + dx, y + dy));
        let gx = (l(1, -1) + 2.0 * l(1, 0) + l(1, 1)) - (l(-1, -1) + 2.0 * l(-1, 0) + l(-1, 1));
        let gy = (l(-1, 1) + 2.0 * l(0, 1) + l(1, 1)) - (l(-1, -1) + 2.0 * l(0, -1) + l(1, -1));
        (gx * gx + gy * gy).sqrt()
    }
}

/// Trilinear sample of a LUT quantised to 8 bits, as the GPU's RGBA8 3D texture is.
fn lut_sample(lut: &Lut3d, c: Rgb) -> Rgb {
    let n = lut.size;
    let q = |e: [f32; 3]| e.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0);
    let at = |r: usize, g: usize, b: usize| q(lut.entries[(b * n + g) * n + r]);
    let pos = c.map(|v| v.clamp(0.0, 1.0) * (n - 1) as f32);
    let i0 = pos.map(|p| (p.floor() as usize).min(n - 2));
    let f = [
        pos[0] - i0[0] as f32,
        pos[1] - i0[1] as f32,
        pos[2] - i0[2] as f32,
    ];
    let mut out = [0.0; 3];
    for (db, wb) in [(0, 1.0 - f[2]), (1, f[2])] {
        for (dg, wg) in [(0, 1.0 - f[1]), (1, f[1])] {
            for (dr, wr) in [(0, 1.0 - f[0]), (1, f[0])] {
                let e = at(i0[0] + dr, i0[1] + dg, i0[2] + db);
                out = add(out, scale(e, wr * wg * wb));
            }
        }
    }
    out
}

/// Applies filter `id` (as in shaders/filter.wgsl) with parameters `p` to an
/// RGBA8 image of `w` x `h`; `frame` drives the time-based effects.
pub fn apply(
    id: u32,
    p: [f32; 4],
    frame: u32,
    data: &[u8],
    w: u32,
    h: u32,
    lut: Option<&Lut3d>,
) -> Vec<u8> {
    let img = Img {
        data,
        w: w as i32,
        h: h as i32,
    };
    let mut out = Vec::with_capacity(data.len());
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let c = img.load(x, y);
            let v = match id {
                1 => mix(c, [luma(c); 3], p[0]),
                2 => {
                    let s = [
                        0.393 * c[0] + 0.769 * c[1] + 0.189 * c[2],
                        0.349 * c[0] + 0.686 * c[1] + 0.168 * c[2],
                        0.272 * c[0] + 0.534 * c[1] + 0.131 * c[2],
                    ];
                    mix(c, s.map(|v| v.min(1.0)), p[0])
                }
                3 => c.map(|v| 1.0 - v),
                4 => posterize(c, p[0]),
                5 => {
                    let bs = (p[0] as i32).max(1);
                    img.load((x / bs) * bs + bs / 2, (y / bs) * bs + bs / 2)
                }
                6 => {
                    if img.sobel(x, y) > p[1] {
                        [0.05; 3]
                    } else {
                        posterize(c, p[0])
                    }
                }
                7 => {
                    let e = (img.sobel(x, y) * p[0]).clamp(0.0, 1.0);
                    let phase = ((x + y) as f32 / (w + h) as f32 + frame as f32 * 0.01)
                        * std::f32::consts::TAU;
                    let hue = [
                        0.5 + 0.5 * phase.cos(),
                        0.5 + 0.5 * (phase - 2.094_395_1).cos(),
                        0.5 + 0.5 * (phase + 2.094_395_1).cos(),
                    ];
                    scale(hue, e)
                }
                8 => thermal(luma(c)),
                9 => {
                    let shift = (2.0 * p[0]).round_ties_even() as i32;
                    let rgb = [img.load(x + shift, y)[0], c[1], img.load(x - shift, y)[2]];
                    let l = luma(rgb);
                    let tint = add(scale([0.25, 0.9, 1.0], l * 1.1), scale(rgb, 0.25));
                    let scan = if y % 3 == 0 { 0.6 } else { 1.0 };
                    let flicker = 0.92 + 0.08 * hash01(frame.wrapping_mul(16).wrapping_add(7));
                    mix(c, scale(tint, scan * flicker), p[0])
                }
                10 => {
                    let row = hash_u32((y as u32 / 2).wrapping_add(frame.wrapping_mul(9973)));
                    let jitter = if row & 0xf0 == 0 {
                        (row % 9) as i32 - 4
                    } else {
                        0
                    };
                    let sx = x + (jitter as f32 * p[0]).round_ties_even() as i32;
                    let base = img.load(sx, y);
                    let bleed = img.load(sx + 3, y)[0];
                    let seed = (x as u32).wrapping_mul(73856093)
                        ^ (y as u32).wrapping_mul(19349663)
                        ^ frame.wrapping_mul(83492791);
                    let noise = (hash01(seed) - 0.5) * 0.12 * p[0];
                    let v = [base[0] + (bleed - base[0]) * 0.5 * p[0], base[1], base[2]];
                    add(mix(v, [luma(v); 3], 0.2 * p[0]), [noise; 3])
                }
                11 => match lut {
                    Some(l) => mix(c, lut_sample(l, c), p[0]),
                    None => c,
                },
                _ => c,
            };
            for ch in v {
                out.push((ch.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
            out.push(255);
        }
    }
    out
}

/// A single-channel float image (a person mask), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub w: u32,
    pub h: u32,
    pub data: Vec<f32>,
}

impl Plane {
    fn at(&self, x: i32, y: i32) -> f32 {
        let x = x.clamp(0, self.w as i32 - 1);
        let y = y.clamp(0, self.h as i32 - 1);
        self.data[(y as u32 * self.w + x as u32) as usize]
    }

    /// Bilinear sample at normalised `uv`, clamped at the edges, as a GPU
    /// sampler with linear filtering and clamp-to-edge does.
    pub fn sample(&self, u: f32, v: f32) -> f32 {
        let x = u * self.w as f32 - 0.5;
        let y = v * self.h as f32 - 0.5;
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as i32, y0 as i32);
        let top = self.at(x0, y0) * (1.0 - fx) + self.at(x0 + 1, y0) * fx;
        let bottom = self.at(x0, y0 + 1) * (1.0 - fx) + self.at(x0 + 1, y0 + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// Twin of `mask_smooth`: a 3x3 binomial blur of the new 8-bit mask, averaged
/// with the previous smoothed mask (`keep_new` = weight of the new one).
pub fn smooth_mask(new: &[u8], w: u32, h: u32, prev: Option<&Plane>, keep_new: f32) -> Plane {
    let at = |x: i32, y: i32| {
        let x = x.clamp(0, w as i32 - 1);
        let y = y.clamp(0, h as i32 - 1);
        new[(y as u32 * w + x as u32) as usize] as f32 / 255.0
    };
    let mut data = Vec::with_capacity((w * h) as usize);
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let row = |y: i32| at(x - 1, y) + 2.0 * at(x, y) + at(x + 1, y);
            let fresh = (row(y - 1) + 2.0 * row(y) + row(y + 1)) / 16.0;
            let before = prev.map_or(0.0, |p| p.at(x, y));
            data.push(before + (fresh - before) * keep_new);
        }
    }
    Plane { w, h, data }
}

/// The guided filter's mean coefficients at mask size: the composite's
/// person weight is `a * luma + b` at each full-size pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct Guide {
    pub a: Plane,
    pub b: Plane,
}

impl Guide {
    fn weight(&self, u: f32, v: f32, fg: Rgb, feather: f32) -> f32 {
        let m = (self.a.sample(u, v) * luma(fg) + self.b.sample(u, v)).clamp(0.0, 1.0);
        smoothstep(0.5 - feather, 0.5 + feather, m)
    }
}

/// Twin of `guide_stats`, `guide_coeffs` and `guide_mean`: a fast guided
/// filter of the smoothed `mask` with the luma of `camera` (RGBA8, w x h) as
/// the guide, at mask size.
pub fn guide(camera: &[u8], w: u32, h: u32, mask: &Plane, radius: u32, eps: f32) -> Guide {
    let lum = Plane {
        w,
        h,
        data: camera
            .chunks_exact(4)
            .map(|p| {
                luma([
                    p[0] as f32 / 255.0,
                    p[1] as f32 / 255.0,
                    p[2] as f32 / 255.0,
                ])
            })
            .collect(),
    };
    let (mw, mh) = (mask.w, mask.h);
    let n = (mw * mh) as usize;
    let mut stats = vec![[0f32; 4]; n];
    for y in 0..mh {
        for x in 0..mw {
            let (cu, cv) = ((x as f32 + 0.5) / mw as f32, (y as f32 + 0.5) / mh as f32);
            let i = lum.sample(cu, cv);
            let m = mask.at(x as i32, y as i32);
            stats[(y * mw + x) as usize] = [i, m, i * m, i * i];
        }
    }
    let r = radius as i32;
    let box_mean = |src: &[[f32; 4]]| {
        let mut out = vec![[0f32; 4]; n];
        let count = ((2 * r + 1) * (2 * r + 1)) as f32;
        for y in 0..mh as i32 {
            for x in 0..mw as i32 {
                let mut acc = [0f32; 4];
                for dy in -r..=r {
                    for dx in -r..=r {
                        let sx = (x + dx).clamp(0, mw as i32 - 1);
                        let sy = (y + dy).clamp(0, mh as i32 - 1);
                        let v = src[(sy as u32 * mw + sx as u32) as usize];
                        for k in 0..4 {
                            acc[k] += v[k];
                        }
                    }
                }
                out[(y as u32 * mw + x as u32) as usize] = acc.map(|a| a / count);
            }
        }
        out
    };
    let coeffs: Vec<[f32; 4]> = box_mean(&stats)
        .into_iter()
        .map(|s| {
            let a = (s[2] - s[0] * s[1]) / (s[3] - s[0] * s[0] + eps);
            [a, s[1] - a * s[0], 0.0, 1.0]
        })
        .collect();
    let means = box_mean(&coeffs);
    let plane = |k: usize| Plane {
        w: mw,
        h: mh,
        data: means.iter().map(|v| v[k]).collect(),
    };
    Guide {
        a: plane(0),
        b: plane(1),
    }
}

fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The composite's person weight at normalised `uv`: the smoothed mask,
/// upsampled, its edge ramped over `feather` on each side of one half.
pub fn person_weight(mask: &Plane, feather: f32, u: f32, v: f32) -> f32 {
    smoothstep(0.5 - feather, 0.5 + feather, mask.sample(u, v))
}

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Twin of `bg_down`, `blur_h`, `blur_v` and `composite` in mode 1: the
/// background behind the person blurred as `plan` says, the person on top.
pub fn blur_background(
    person: &[u8],
    w: u32,
    h: u32,
    mask: &Plane,
    plan: &super::background::BlurPlan,
    feather: f32,
) -> Vec<u8> {
    let img = Img {
        data: person,
        w: w as i32,
        h: h as i32,
    };
    let (lw, lh, f) = (plan.low.width, plan.low.height, plan.factor as i32);
    let uv = |x: i32, y: i32| ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
    // Premultiplied low-res background: rgb * background weight, weight.
    let mut low = vec![[0f32; 4]; (lw * lh) as usize];
    for ly in 0..lh as i32 {
        for lx in 0..lw as i32 {
            let mut acc = [0f32; 3];
            for dy in 0..f {
                for dx in 0..f {
                    let x = (lx * f + dx).min(w as i32 - 1);
                    let y = (ly * f + dy).min(h as i32 - 1);
                    let c = img.load(x, y);
                    for k in 0..3 {
                        acc[k] += c[k];
                    }
                }
            }
            // One background weight per low-res texel, at its centre.
            let (u, v) = ((lx as f32 + 0.5) / lw as f32, (ly as f32 + 0.5) / lh as f32);
            let wt = 1.0 - person_weight(mask, feather, u, v);
            let n = (f * f) as f32;
            low[(ly as u32 * lw + lx as u32) as usize] =
                [acc[0] / n * wt, acc[1] / n * wt, acc[2] / n * wt, wt];
        }
    }
    let r = plan.radius as i32;
    let half = plan.weights();
    let pass = |src: &[[f32; 4]], dx: i32, dy: i32| {
        let mut out = vec![[0f32; 4]; src.len()];
        for y in 0..lh as i32 {
            for x in 0..lw as i32 {
                let mut acc = [0f32; 4];
                for i in -r..=r {
                    let wt = half[i.unsigned_abs() as usize];
                    let sx = (x + dx * i).clamp(0, lw as i32 - 1);
                    let sy = (y + dy * i).clamp(0, lh as i32 - 1);
                    let s = src[(sy as u32 * lw + sx as u32) as usize];
                    for k in 0..4 {
                        acc[k] += s[k] * wt;
                    }
                }
                out[(y as u32 * lw + x as u32) as usize] = acc;
            }
        }
        out
    };
    let blurred = pass(&pass(&low, 1, 0), 0, 1);
    let channel = |k: usize| Plane {
        w: lw,
        h: lh,
        data: blurred.iter().map(|p| p[k]).collect(),
    };
    let planes = [channel(0), channel(1), channel(2), channel(3)];
    let mut out = Vec::with_capacity(person.len());
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let (u, v) = uv(x, y);
            let fg = img.load(x, y);
            let m = person_weight(mask, feather, u, v);
            let a = planes[3].sample(u, v);
            let bg = if a > 0.002 {
                [0, 1, 2].map(|k| planes[k].sample(u, v) / a)
            } else {
                fg
            };
            let c = mix(bg, fg, m);
            out.extend_from_slice(&[to_u8(c[0]), to_u8(c[1]), to_u8(c[2]), 255]);
        }
    }
    out
}

/// Twin of packing with a picture: `picture` (RGBA8, same size) behind the
/// person, the edge from the guided filter.
pub fn composite_picture(
    person: &[u8],
    picture: &[u8],
    w: u32,
    h: u32,
    guide: &Guide,
    feather: f32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(person.len());
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) * 4) as usize;
            let (u, v) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
            let fg = [0, 1, 2].map(|k| person[i + k] as f32 / 255.0);
            let m = guide.weight(u, v, fg, feather);
            for k in 0..3 {
                let fg = person[i + k] as f32 / 255.0;
                let bg = picture[i + k] as f32 / 255.0;
                out.push(to_u8(bg + (fg - bg) * m));
            }
            out.push(255);
        }
    }
    out
}

/// Bilinear fetch of a premultiplied RGBA8 image at texture coordinates
/// (u, v), clamped at the edges, as a GPU's linear sampler does.
fn sample_rgba(img: &[u8], w: u32, h: u32, u: f32, v: f32) -> [f32; 4] {
    let x = u * w as f32 - 0.5;
    let y = v * h as f32 - 0.5;
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at = |xi: f32, yi: f32, c: usize| -> f32 {
        let xi = (xi as i64).clamp(0, w as i64 - 1) as u32;
        let yi = (yi as i64).clamp(0, h as i64 - 1) as u32;
        img[((yi * w + xi) * 4) as usize + c] as f32 / 255.0
    };
    [0, 1, 2, 3].map(|c| {
        let top = at(x0, y0, c) * (1.0 - fx) + at(x0 + 1.0, y0, c) * fx;
        let bottom = at(x0, y0 + 1.0, c) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0, c) * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// Twin of `layer` in avatar.wgsl and `wear` in pack.wgsl: the avatar's
/// slices blended into an 8-bit premultiplied overlay, bottom first (each
/// only within its own box), then the overlay over `base` (RGBA8).
pub fn wear_avatar(base: &[u8], w: u32, h: u32, a: &crate::avatar::Drawing) -> Vec<u8> {
    let mut out = base.to_vec();
    let r = &a.raster;
    let quantise = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0;
    for y in 0..h {
        for x in 0..w {
            let q = [x as f32 + 0.5, y as f32 + 0.5];
            let mut o = [0f32; 4];
            for (l, art) in r.slices.iter().enumerate() {
                let (m, op, b) = (a.to_art[l], a.opacity[l], a.slice_bounds[l]);
                if op <= 0.0 || q[0] < b[0] || q[1] < b[1] || q[0] >= b[2] || q[1] >= b[3] {
                    continue;
                }
                let wq = m[2][0] * q[0] + m[2][1] * q[1] + m[2][2];
                let u = (m[0][0] * q[0] + m[0][1] * q[1] + m[0][2]) / wq;
                let v = (m[1][0] * q[0] + m[1][1] * q[1] + m[1][2]) / wq;
                let k = r.content[l];
                if wq <= 0.0 || u < k[0] || v < k[1] || u > k[2] || v > k[3] {
                    continue;
                }
                let t = sample_rgba(art, r.width, r.height, u, v).map(|t| t * op);
                o = [0, 1, 2, 3].map(|c| quantise(t[c] + o[c] * (1.0 - t[3])));
            }
            if o[3] == 0.0 && o[..3].iter().all(|&c| c == 0.0) {
                continue;
            }
            let i = ((y * w + x) * 4) as usize;
            for k in 0..3 {
                out[i + k] = to_u8(o[k] + base[i + k] as f32 / 255.0 * (1.0 - o[3]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_spreads_its_inputs() {
        let mut v: Vec<u32> = (0..1000).map(hash_u32).collect();
        v.sort();
        v.dedup();
        assert!(v.len() > 995);
        let mean = (0..1000).map(hash01).sum::<f32>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }

    #[test]
    fn simple_filters_do_what_they_say() {
        let px = [200u8, 100, 50, 255];
        let inv = apply(3, [0.0; 4], 0, &px, 1, 1, None);
        assert_eq!(inv, vec![55, 155, 205, 255]);
        let gray = apply(1, [1.0, 0.0, 0.0, 0.0], 0, &px, 1, 1, None);
        assert!(gray[0] == gray[1] && gray[1] == gray[2]);
        let post = apply(4, [2.0, 0.0, 0.0, 0.0], 0, &px, 1, 1, None);
        assert_eq!(post, vec![255, 0, 0, 255]);
        let lut = Lut3d::identity(17);
        let same = apply(11, [1.0, 17.0, 0.0, 0.0], 0, &px, 1, 1, Some(&lut));
        for c in 0..3 {
            assert!(
                same[c].abs_diff(px[c]) <= 1,
                "identity LUT keeps colours: {same:?}"
            );
        }
    }
}
