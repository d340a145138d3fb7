// RGBA texture -> output bytes, one 32-bit word per invocation.
// pack_rgba: a pixel per word. pack_yuyv: two pixels per word (Y0 U Y1 V).
// pack_nv12: the Y plane (4 pixels per word) for rows < height, then the UV
// plane (2 chroma pairs per word, each averaged over its 2x2 block).
//#include common.wgsl

struct Params {
    width: u32,
    height: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var src: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

fn px(x: u32, y: u32) -> vec3<f32> {
    return textureLoad(src, vec2<i32>(i32(x), i32(y)), 0).rgb;
}

fn b(v: f32) -> u32 {
    return u32(clamp(round(v), 0.0, 255.0));
}

@compute @workgroup_size(8, 8)
fn pack_rgba(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let c = textureLoad(src, vec2<i32>(i32(id.x), i32(id.y)), 0);
    dst[id.y * p.width + id.x] = pack4x8unorm(vec4<f32>(c.rgb, 1.0));
}

@compute @workgroup_size(8, 8)
fn pack_yuyv(@builtin(global_invocation_id) id: vec3<u32>) {
    let half = p.width / 2u;
    if (id.x >= half || id.y >= p.height) {
        return;
    }
    let a = px(id.x * 2u, id.y);
    let c = px(id.x * 2u + 1u, id.y);
    let m = (a + c) * 0.5;
    dst[id.y * half + id.x] = b(rgb_to_y(a)) | (b(rgb_to_u(m)) << 8u) | (b(rgb_to_y(c)) << 16u) | (b(rgb_to_v(m)) << 24u);
}

@compute @workgroup_size(8, 8)
fn pack_nv12(@builtin(global_invocation_id) id: vec3<u32>) {
    let words = p.width / 4u;
    if (id.x >= words || id.y >= p.height + p.height / 2u) {
        return;
    }
    let x = id.x * 4u;
    if (id.y < p.height) {
        let y = id.y;
        dst[y * words + id.x] = b(rgb_to_y(px(x, y))) | (b(rgb_to_y(px(x + 1u, y))) << 8u)
            | (b(rgb_to_y(px(x + 2u, y))) << 16u) | (b(rgb_to_y(px(x + 3u, y))) << 24u);
        return;
    }
    let y = (id.y - p.height) * 2u;
    let m0 = (px(x, y) + px(x + 1u, y) + px(x, y + 1u) + px(x + 1u, y + 1u)) * 0.25;
    let m1 = (px(x + 2u, y) + px(x + 3u, y) + px(x + 2u, y + 1u) + px(x + 3u, y + 1u)) * 0.25;
    dst[id.y * words + id.x] = b(rgb_to_u(m0)) | (b(rgb_to_v(m0)) << 8u) | (b(rgb_to_u(m1)) << 16u) | (b(rgb_to_v(m1)) << 24u);
}
