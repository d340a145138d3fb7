// Background effects, driven by a person mask (1 = person, 0 = background).
//
//   mask_smooth  new mask (r8, mask size) + last smoothed mask -> smoothed mask:
//                a 3x3 binomial blur, then an exponential average over frames,
//                so edges neither shimmer nor flicker.
//   bg_down      camera RGBA (full size) -> low-res premultiplied background:
//                each low-res texel averages its factor x factor block, weighted
//                by how much of it is background; the person never bleeds in.
//   blur_h/v     separable Gaussian on the low-res texture; neighbouring taps
//                are paired into one bilinear sample between them (half the
//                fetches, the same weights).
//   guide_*      a fast guided filter (He & Sun) that lets the frame's own
//                edges shape the mask: at mask size, per-window linear
//                models mask ~ a * luma + b are fitted (guide_stats,
//                guide_coeffs) and averaged (guide_mean); packing evaluates
//                a * luma + b with the full-size luma, so the edge follows
//                hair and shoulders at full resolution. Used for pictures
//                behind the person, where a halo would show; the blur's
//                mask-weighted downsample already keeps the person's colours
//                out of the blurred room, so it composites with the smoothed
//                mask (stored as a = 0, b = mask) and saves the passes.
// The composite itself is fused into packing (pack.wgsl).
// Without a filter, bg_down and guide_stats read the camera's bytes
// (`in_format` > 0, decode.wgsl) instead of the filtered picture.
// CPU twins: daemon/src/gpu/reference.rs (smooth_mask, blur_background).
//#include common.wgsl
//#include decode.wgsl

struct Params {
    width: u32,
    height: u32,
    low_width: u32,
    low_height: u32,
    mask_width: u32,
    mask_height: u32,
    factor: u32,
    // Tap pairs on each side of the centre.
    pairs: u32,
    feather: f32,
    // Weight of the new mask in the running average (1 on the first mask).
    keep_new: f32,
    // Weight of the centre tap.
    center: f32,
    // Window radius of the guided filter, in mask texels.
    guide_radius: u32,
    // (offset, weight) of each tap pair, two pairs per vec4 (at most 20).
    taps: array<vec4<f32>, 10>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var person: texture_2d<f32>;
@group(0) @binding(2) var mask_new: texture_2d<f32>;
@group(0) @binding(3) var mask: texture_2d<f32>;
@group(0) @binding(4) var low: texture_2d<f32>;
@group(0) @binding(6) var lin: sampler;
@group(0) @binding(7) var dst_half: texture_storage_2d<rgba16float, write>;
@group(0) @binding(8) var<storage, read> frame: array<u32>;

fn mask_at(x: i32, y: i32) -> f32 {
    let cx = clamp(x, 0, i32(p.mask_width) - 1);
    let cy = clamp(y, 0, i32(p.mask_height) - 1);
    return textureLoad(mask_new, vec2<i32>(cx, cy), 0).r;
}

@compute @workgroup_size(16, 16)
fn mask_smooth(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.mask_width || id.y >= p.mask_height) {
        return;
    }
    let x = i32(id.x);
    let y = i32(id.y);
    let row0 = mask_at(x - 1, y - 1) + 2.0 * mask_at(x, y - 1) + mask_at(x + 1, y - 1);
    let row1 = mask_at(x - 1, y) + 2.0 * mask_at(x, y) + mask_at(x + 1, y);
    let row2 = mask_at(x - 1, y + 1) + 2.0 * mask_at(x, y + 1) + mask_at(x + 1, y + 1);
    let fresh = (row0 + 2.0 * row1 + row2) / 16.0;
    let before = textureLoad(mask, vec2<i32>(x, y), 0).g;
    let m = mix(before, fresh, p.keep_new);
    // Stored as the trivial linear model (a, b) = (0, m) that packing
    // evaluates, so the blur can composite with the smoothed mask directly.
    textureStore(dst_half, vec2<i32>(x, y), vec4<f32>(0.0, m, 0.0, 1.0));
}

// The person weight at normalised position uv: the smoothed mask, upsampled
// bilinearly, its edge set by `feather` (a wider ramp = softer edge).
fn person_weight(uv: vec2<f32>) -> f32 {
    return feathered(textureSampleLevel(mask, lin, uv, 0.0).g, p.feather);
}

@compute @workgroup_size(16, 16)
fn bg_down(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.low_width || id.y >= p.low_height) {
        return;
    }
    let f = i32(p.factor);
    var avg = vec3<f32>(0.0);
    if (in_format == 2u && (p.factor & 1u) == 0u && (p.width & 1u) == 0u
        && (id.x + 1u) * p.factor <= p.width && (id.y + 1u) * p.factor <= p.height) {
        // YUYV, the whole block inside the frame: the mean of its Y, U and V
        // bytes, converted once. The conversion is affine, so this equals the
        // mean of the converted pixels except where single pixels clip.
        // The bytes are summed two lanes to a word (Y0 and Y1, U and V in
        // 16-bit lanes; at most 32 words of 255 per lane for factor 8).
        let x0 = id.x * p.factor;
        let y0 = id.y * p.factor;
        let words = p.factor / 2u;
        var luma2 = 0u;
        var chroma = 0u;
        for (var dy = 0u; dy < p.factor; dy = dy + 1u) {
            let row = ((y0 + dy) * p.width + x0) >> 1u;
            for (var k = 0u; k < words; k = k + 1u) {
                let word = frame[row + k];
                luma2 = luma2 + (word & 0x00ff00ffu);
                chroma = chroma + ((word >> 8u) & 0x00ff00ffu);
            }
        }
        let n = f32(p.factor * p.factor);
        let pairs = n * 0.5;
        avg = yuv_to_rgb(
            f32((luma2 & 0xffffu) + (luma2 >> 16u)) / n,
            f32(chroma & 0xffffu) / pairs,
            f32(chroma >> 16u) / pairs,
        );
    } else if ((in_format == 3u || in_format == 4u) && (p.factor & 3u) == 0u && (p.width & 3u) == 0u
        && (id.x + 1u) * p.factor <= p.width && (id.y + 1u) * p.factor <= p.height) {
        // NV12 or I420, the whole block inside the frame: the mean of its Y
        // bytes (four to a word, summed in two 16-bit lanes: at most 16
        // words of two bytes of 255 per lane for factor 8) and of the U and
        // V bytes of its half-size chroma block, converted once, as for YUYV.
        let x0 = id.x * p.factor;
        let y0 = id.y * p.factor;
        let words = p.factor / 4u;
        var luma2 = 0u;
        for (var dy = 0u; dy < p.factor; dy = dy + 1u) {
            let row = ((y0 + dy) * p.width + x0) >> 2u;
            for (var k = 0u; k < words; k = k + 1u) {
                let word = frame[row + k];
                luma2 = luma2 + (word & 0x00ff00ffu) + ((word >> 8u) & 0x00ff00ffu);
            }
        }
        let plane = p.width * p.height;
        let half = p.factor / 2u;
        var u = 0.0;
        var v = 0.0;
        for (var dy = 0u; dy < half; dy = dy + 1u) {
            let cy = y0 / 2u + dy;
            for (var dx = 0u; dx < half; dx = dx + 1u) {
                let cx = x0 / 2u + dx;
                if (in_format == 3u) {
                    let c = plane + cy * p.width + cx * 2u;
                    u = u + frame_byte(c);
                    v = v + frame_byte(c + 1u);
                } else {
                    let c = cy * (p.width / 2u) + cx;
                    u = u + frame_byte(plane + c);
                    v = v + frame_byte(plane + plane / 4u + c);
                }
            }
        }
        let n = f32(half * half);
        avg = yuv_to_rgb(f32((luma2 & 0xffffu) + (luma2 >> 16u)) / f32(p.factor * p.factor), u / n, v / n);
    } else if (in_format != 0u) {
        // Every pixel of the block, decoded (edges clamped, as the twin does).
        let x0 = id.x * p.factor;
        let y0 = id.y * p.factor;
        for (var dy = 0u; dy < p.factor; dy = dy + 1u) {
            let y = min(y0 + dy, p.height - 1u);
            for (var dx = 0u; dx < p.factor; dx = dx + 1u) {
                avg = avg + camera(min(x0 + dx, p.width - 1u), y, p.width, p.height);
            }
        }
        avg = avg / f32(p.factor * p.factor);
    } else if (f == 1) {
        avg = textureLoad(person, vec2<i32>(id.xy), 0).rgb;
    } else {
        // A bilinear sample on the corner between four pixels is their mean:
        // (f/2)^2 samples average the whole f x f block.
        let size = vec2<f32>(f32(p.width), f32(p.height));
        let origin = vec2<f32>(id.xy) * f32(f);
        let half = f / 2;
        for (var dy = 0; dy < half; dy = dy + 1) {
            for (var dx = 0; dx < half; dx = dx + 1) {
                let at = origin + vec2<f32>(f32(2 * dx + 1), f32(2 * dy + 1));
                avg = avg + textureSampleLevel(person, lin, at / size, 0.0).rgb;
            }
        }
        avg = avg / f32(half * half);
    }
    // The mask is coarser than a low-res texel: one weight per texel.
    let uv = (vec2<f32>(id.xy) + 0.5) / vec2<f32>(f32(p.low_width), f32(p.low_height));
    let w = 1.0 - person_weight(uv);
    textureStore(dst_half, vec2<i32>(id.xy), vec4<f32>(avg * w, w));
}

fn tap(j: u32) -> vec2<f32> {
    let v = p.taps[j / 2u];
    if (j % 2u == 0u) {
        return v.xy;
    }
    return v.zw;
}

fn gauss(dir: vec2<f32>, id: vec2<u32>) -> vec4<f32> {
    let size = vec2<f32>(f32(p.low_width), f32(p.low_height));
    let centre = vec2<f32>(id) + 0.5;
    var acc = textureLoad(low, vec2<i32>(id), 0) * p.center;
    for (var j = 0u; j < p.pairs; j = j + 1u) {
        let t = tap(j);
        let d = dir * t.x;
        acc = acc + (textureSampleLevel(low, lin, (centre + d) / size, 0.0)
            + textureSampleLevel(low, lin, (centre - d) / size, 0.0)) * t.y;
    }
    return acc;
}

@compute @workgroup_size(16, 16)
fn blur_h(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.low_width || id.y >= p.low_height) {
        return;
    }
    textureStore(dst_half, vec2<i32>(id.xy), gauss(vec2<f32>(1.0, 0.0), id.xy));
}

@compute @workgroup_size(16, 16)
fn blur_v(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.low_width || id.y >= p.low_height) {
        return;
    }
    textureStore(dst_half, vec2<i32>(id.xy), gauss(vec2<f32>(0.0, 1.0), id.xy));
}

// Regularisation of the guided filter: larger keeps the mask's own edge
// where the frame has little contrast.
const GUIDE_EPS: f32 = 0.002;

// Luma of the frame at a mask texel (one bilinear tap at its centre).
fn guide_luma(id: vec2<u32>) -> f32 {
    let size = vec2<f32>(f32(p.mask_width), f32(p.mask_height));
    let uv = (vec2<f32>(id) + 0.5) / size;
    if (in_format != 0u) {
        return luma(camera_bilinear(uv * vec2<f32>(f32(p.width), f32(p.height)), p.width, p.height));
    }
    return luma(textureSampleLevel(person, lin, uv, 0.0).rgb);
}

@compute @workgroup_size(16, 16)
fn guide_stats(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.mask_width || id.y >= p.mask_height) {
        return;
    }
    let i = guide_luma(id.xy);
    let m = textureLoad(mask, vec2<i32>(id.xy), 0).g;
    textureStore(dst_half, vec2<i32>(id.xy), vec4<f32>(i, m, i * m, i * i));
}

// Mean of `low` over the guided filter's window around `id`, edges clamped.
fn box_mean(id: vec2<u32>) -> vec4<f32> {
    let r = i32(p.guide_radius);
    let hi = vec2<i32>(i32(p.mask_width) - 1, i32(p.mask_height) - 1);
    var acc = vec4<f32>(0.0);
    for (var dy = -r; dy <= r; dy = dy + 1) {
        for (var dx = -r; dx <= r; dx = dx + 1) {
            acc = acc + textureLoad(low, clamp(vec2<i32>(id) + vec2<i32>(dx, dy), vec2<i32>(0), hi), 0);
        }
    }
    let n = f32((2 * r + 1) * (2 * r + 1));
    return acc / n;
}

@compute @workgroup_size(16, 16)
fn guide_coeffs(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.mask_width || id.y >= p.mask_height) {
        return;
    }
    let s = box_mean(id.xy);
    let var_i = s.w - s.x * s.x;
    let cov = s.z - s.x * s.y;
    let a = cov / (var_i + GUIDE_EPS);
    let b = s.y - a * s.x;
    textureStore(dst_half, vec2<i32>(id.xy), vec4<f32>(a, b, 0.0, 1.0));
}

@compute @workgroup_size(16, 16)
fn guide_mean(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.mask_width || id.y >= p.mask_height) {
        return;
    }
    textureStore(dst_half, vec2<i32>(id.xy), box_mean(id.xy));
}
