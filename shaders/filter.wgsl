// The colour/stylise filters, one invocation per pixel. The pipeline-
// overridable constant `kind` picks one (ids in daemon/src/gpu/filters.rs), so
// each filter's pipeline compiles to its own branch only; p0..p3 are its
// parameters; `frame`
// drives time-based effects deterministically. Each branch has a CPU twin in
// daemon/src/gpu/reference.rs that the golden tests compare against.
// The filter reads the camera's bytes where they lie (decode.wgsl, the
// pipeline's `in_format`) and writes the filtered picture, which the later
// passes read instead of the bytes.
//#include common.wgsl
//#include decode.wgsl

override kind: u32 = 0u;

struct Params {
    width: u32,
    height: u32,
    _pad: u32,
    frame: u32,
    p0: f32,
    p1: f32,
    p2: f32,
    p3: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var dst: texture_storage_2d<rgba8unorm, write>;
@group(0) @binding(3) var lut: texture_3d<f32>;
@group(0) @binding(4) var lut_sampler: sampler;
@group(0) @binding(5) var<storage, read> frame: array<u32>;

fn load(x: i32, y: i32) -> vec3<f32> {
    let cx = clamp(x, 0, i32(p.width) - 1);
    let cy = clamp(y, 0, i32(p.height) - 1);
    return camera(u32(cx), u32(cy), p.width, p.height);
}

fn load_luma(x: i32, y: i32) -> f32 {
    let cx = clamp(x, 0, i32(p.width) - 1);
    let cy = clamp(y, 0, i32(p.height) - 1);
    return camera_luma(u32(cx), u32(cy), p.width);
}

// Sobel gradient magnitude of luma around (x, y).
fn sobel(x: i32, y: i32) -> f32 {
    let tl = load_luma(x - 1, y - 1);
    let t = load_luma(x, y - 1);
    let tr = load_luma(x + 1, y - 1);
    let l = load_luma(x - 1, y);
    let r = load_luma(x + 1, y);
    let bl = load_luma(x - 1, y + 1);
    let bm = load_luma(x, y + 1);
    let br = load_luma(x + 1, y + 1);
    let gx = (tr + 2.0 * r + br) - (tl + 2.0 * l + bl);
    let gy = (bl + 2.0 * bm + br) - (tl + 2.0 * t + tr);
    return sqrt(gx * gx + gy * gy);
}

fn posterize(c: vec3<f32>, levels: f32) -> vec3<f32> {
    let n = max(levels, 2.0) - 1.0;
    return round(c * n) / n;
}

fn thermal(t: f32) -> vec3<f32> {
    // black -> blue -> magenta -> red -> yellow -> white
    let s = clamp(t, 0.0, 1.0) * 5.0;
    let i = min(u32(floor(s)), 4u);
    let f = s - f32(i);
    var stops = array<vec3<f32>, 6>(
        vec3<f32>(0.0, 0.0, 0.0),
        vec3<f32>(0.0, 0.0, 0.8),
        vec3<f32>(0.8, 0.0, 0.8),
        vec3<f32>(1.0, 0.0, 0.0),
        vec3<f32>(1.0, 0.9, 0.0),
        vec3<f32>(1.0, 1.0, 1.0),
    );
    return mix(stops[i], stops[i + 1u], f);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let x = i32(id.x);
    let y = i32(id.y);
    let c = load(x, y);
    var out = c;
    switch kind {
        // grayscale: p0 amount
        case 1u: {
            out = mix(c, vec3<f32>(luma(c)), p.p0);
        }
        // sepia: p0 amount
        case 2u: {
            let s = vec3<f32>(
                dot(c, vec3<f32>(0.393, 0.769, 0.189)),
                dot(c, vec3<f32>(0.349, 0.686, 0.168)),
                dot(c, vec3<f32>(0.272, 0.534, 0.131)),
            );
            out = mix(c, min(s, vec3<f32>(1.0)), p.p0);
        }
        // invert
        case 3u: {
            out = vec3<f32>(1.0) - c;
        }
        // posterize: p0 levels
        case 4u: {
            out = posterize(c, p.p0);
        }
        // pixelate: p0 block size in pixels
        case 5u: {
            let bs = max(i32(p.p0), 1);
            out = load((x / bs) * bs + bs / 2, (y / bs) * bs + bs / 2);
        }
        // toon: p0 levels, p1 edge threshold
        case 6u: {
            let edge = sobel(x, y);
            out = select(posterize(c, p.p0), vec3<f32>(0.05), edge > p.p1);
        }
        // neon edges: p0 glow gain; hue follows position and time
        case 7u: {
            let e = clamp(sobel(x, y) * p.p0, 0.0, 1.0);
            let phase = (f32(id.x + id.y) / f32(p.width + p.height) + f32(p.frame) * 0.01) * 6.2831853;
            let hue = 0.5 + 0.5 * vec3<f32>(cos(phase), cos(phase - 2.0943951), cos(phase + 2.0943951));
            out = hue * e;
        }
        // thermal / infrared false colour
        case 8u: {
            out = thermal(luma(c));
        }
        // hologram: p0 strength; cyan tint, scanlines, chromatic aberration, flicker
        case 9u: {
            let shift = i32(round(2.0 * p.p0));
            let r = load(x + shift, y).r;
            let g = c.g;
            let bl = load(x - shift, y).b;
            let l = luma(vec3<f32>(r, g, bl));
            let tint = vec3<f32>(0.25, 0.9, 1.0) * l * 1.1 + vec3<f32>(r, g, bl) * 0.25;
            let scan = select(1.0, 0.6, (id.y % 3u) == 0u);
            let flicker = 0.92 + 0.08 * hash01(p.frame * 16u + 7u);
            out = mix(c, tint * scan * flicker, p.p0);
        }
        // VHS / glitch: p0 strength; per-row jitter, colour bleed, noise
        case 10u: {
            let row = hash_u32(id.y / 2u + p.frame * 9973u);
            let jitter = select(0, i32(row % 9u) - 4, (row & 0xf0u) == 0u);
            let sx = x + i32(round(f32(jitter) * p.p0));
            let base = load(sx, y);
            let bleed = load(sx + 3, y).r;
            let noise = (hash01(id.x * 73856093u ^ id.y * 19349663u ^ p.frame * 83492791u) - 0.5) * 0.12 * p.p0;
            let v = vec3<f32>(mix(base.r, bleed, 0.5 * p.p0), base.g, base.b);
            out = mix(v, vec3<f32>(luma(v)), 0.2 * p.p0) + vec3<f32>(noise);
        }
        // 3D LUT (.cube): p0 strength, p1 LUT size
        case 11u: {
            let n = max(p.p1, 2.0);
            let coord = c * ((n - 1.0) / n) + vec3<f32>(0.5 / n);
            let graded = textureSampleLevel(lut, lut_sampler, coord, 0.0).rgb;
            out = mix(c, graded, p.p0);
        }
        default: {}
    }
    textureStore(dst, vec2<i32>(x, y), vec4<f32>(clamp(out, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0));
}
