// The picture -> output bytes.
// pack_rgba: a pixel per word. pack_yuyv: two pixels per word (Y0 U Y1 V).
// pack_nv12: the Y plane (4 pixels per word), then the UV plane (2 chroma
// pairs per word, each averaged over its 2x2 block). Each invocation packs
// a block of pixels (see `block`), each pixel composited once.
// Packing is also where the background is composited (fused: one pass less
// at full size): with `backdrop` 1 the blurred room (premultiplied, low res,
// from background.wgsl), with 2 the picture, goes behind the person through
// the feathered mask. CPU twins: blur_background and composite_picture in
// daemon/src/gpu/reference.rs.
// An avatar is drawn by a second dispatch of the same entry point (`avatar`
// 1) over its box only, so pixels elsewhere pay nothing for it: it puts the
// overlay avatar.wgsl drew (the layers, placed by the rig,
// daemon/src/avatar/rig.rs) over the picture. With `full` 1 (a full avatar)
// the person is replaced by what is behind them, in both passes. CPU twin:
// wear_avatar in reference.rs.
// Without a filter the picture is decoded from the camera's bytes here
// (`in_format` > 0, decode.wgsl); after one it is read from the filter's
// texture (`in_format` 0).
//#include common.wgsl
//#include decode.wgsl

override backdrop: u32 = 0u;
override avatar: u32 = 0u;
override full: u32 = 0u;

// The avatar pass: where it writes, and the overlay avatar.wgsl drew.
struct Avatar {
    // The box in blocks (see `block`): first column, first row, rows, columns.
    ox: u32,
    oy: u32,
    rows: u32,
    cols: u32,
    // The overlay: x0, y0 (frame pixels), width, height.
    overlay: vec4<u32>,
}

struct Params {
    width: u32,
    height: u32,
    _pad0: u32,
    _pad1: u32,
}

struct Composite {
    feather: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var src: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> comp: Composite;
// The guided filter's (a, b) at mask size (see background.wgsl).
@group(0) @binding(4) var mask: texture_2d<f32>;
@group(0) @binding(5) var low: texture_2d<f32>;
@group(0) @binding(6) var picture: texture_2d<f32>;
@group(0) @binding(7) var lin: sampler;
@group(0) @binding(8) var<storage, read> frame: array<u32>;
@group(1) @binding(0) var<uniform> av: Avatar;
@group(1) @binding(1) var<storage, read> overlay: array<u32>;

// The avatar's overlay (premultiplied) over colour `c` at pixel (x, y).
fn wear(c: vec3<f32>, x: u32, y: u32) -> vec3<f32> {
    let o = av.overlay;
    if (x < o.x || y < o.y || x >= o.x + o.z || y >= o.y + o.w) {
        return c;
    }
    let t = unpack4x8unorm(overlay[(y - o.y) * o.z + (x - o.x)]);
    return t.rgb + c * (1.0 - t.a);
}

// The two pixels (x, y) and (x + 1, y), x even, with the avatar on top.
fn px_pair(x: u32, y: u32, shared_room: bool) -> array<vec3<f32>, 2> {
    let s = scene_pair(x, y, shared_room);
    if (avatar == 0u) {
        return s;
    }
    return array<vec3<f32>, 2>(wear(s[0], x, y), wear(s[1], x + 1u, y));
}

// The camera picture at (x, y): filtered, or decoded here.
fn fg_at(x: u32, y: u32) -> vec3<f32> {
    if (in_format == 0u) {
        return textureLoad(src, vec2<i32>(i32(x), i32(y)), 0).rgb;
    }
    return camera(x, y, p.width, p.height);
}

fn uv_of(x: f32, y: f32) -> vec2<f32> {
    return vec2<f32>(x, y) / vec2<f32>(f32(p.width), f32(p.height));
}

// How much of the person is at uv: the guided filter's mean linear model,
// evaluated with this pixel's luma, feathered.
fn person_at(uv: vec2<f32>, fg: vec3<f32>) -> f32 {
    let ab = textureSampleLevel(mask, lin, uv, 0.0);
    return feathered(clamp(ab.x * luma(fg) + ab.y, 0.0, 1.0), comp.feather);
}

// The blurred room at uv; where no background is near (deep inside the
// person) the person's own colour, which the mask hides there anyway.
fn room_at(uv: vec2<f32>, fg: vec3<f32>) -> vec3<f32> {
    let b = textureSampleLevel(low, lin, uv, 0.0);
    if (b.a > 0.002) {
        return b.rgb / b.a;
    }
    return fg;
}

// The camera picture with the background effect, for two neighbours at
// once: the camera word is read once. With `shared_room` (YUYV, whose
// chroma is shared by the pair anyway) the blurred room, a factor of 2 or
// more below full size, is sampled once between them; otherwise per pixel.
// The mask stays per pixel: it carries the edge.
fn scene_pair(x: u32, y: u32, shared_room: bool) -> array<vec3<f32>, 2> {
    if (full == 1u && backdrop == 2u) {
        return array<vec3<f32>, 2>(
            textureLoad(picture, vec2<i32>(i32(x), i32(y)), 0).rgb,
            textureLoad(picture, vec2<i32>(i32(x + 1u), i32(y)), 0).rgb,
        );
    }
    var fg: array<vec3<f32>, 2>;
    if (in_format == 0u) {
        fg = array<vec3<f32>, 2>(fg_at(x, y), fg_at(x + 1u, y));
    } else {
        fg = camera_pair(x, y, p.width, p.height);
    }
    if (backdrop == 0u) {
        return fg;
    }
    let uv0 = uv_of(f32(x) + 0.5, f32(y) + 0.5);
    let uv1 = uv_of(f32(x) + 1.5, f32(y) + 0.5);
    var bg0: vec3<f32>;
    var bg1: vec3<f32>;
    if (backdrop == 1u && shared_room) {
        let b = textureSampleLevel(low, lin, uv_of(f32(x) + 1.0, f32(y) + 0.5), 0.0);
        bg0 = fg[0];
        bg1 = fg[1];
        if (b.a > 0.002) {
            bg0 = b.rgb / b.a;
            bg1 = bg0;
        }
    } else if (backdrop == 1u) {
        bg0 = room_at(uv0, fg[0]);
        bg1 = room_at(uv1, fg[1]);
    } else {
        bg0 = textureLoad(picture, vec2<i32>(i32(x), i32(y)), 0).rgb;
        bg1 = textureLoad(picture, vec2<i32>(i32(x + 1u), i32(y)), 0).rgb;
    }
    return array<vec3<f32>, 2>(
        mix(bg0, fg[0], person_at(uv0, fg[0])),
        mix(bg1, fg[1], person_at(uv1, fg[1])),
    );
}

fn b(v: f32) -> u32 {
    return u32(clamp(round(v), 0.0, 255.0));
}

// The block of pixels an invocation packs (bw x bh, set per format by
// `Packed::block` in daemon/src/gpu/pipelines.rs: 2x1 for RGBA and YUYV,
// 4x2 for NV12, so every pixel is composited once and a pair shares its
// camera word and its blurred-room sample), in block units. In the avatar
// pass it is offset into the avatar's box; the main pass leaves the box's
// blocks to the avatar pass (an off-frame block is skipped by the callers'
// bounds checks).
fn block(id: vec3<u32>) -> vec2<u32> {
    let off = vec2<u32>(0xffffffffu, 0xffffffffu);
    let in_box = id.x >= av.ox && id.x < av.ox + av.cols && id.y >= av.oy && id.y < av.oy + av.rows;
    if (avatar == 0u) {
        if (av.rows > 0u && in_box) {
            return off;
        }
        return id.xy;
    }
    if (id.x >= av.cols || id.y >= av.rows) {
        return off;
    }
    return vec2<u32>(id.x + av.ox, id.y + av.oy);
}

@compute @workgroup_size(16, 16)
fn pack_rgba(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = block(gid);
    let x = id.x * 2u;
    if (x >= p.width || id.y >= p.height) {
        return;
    }
    let pair = px_pair(x, id.y, false);
    let i = id.y * p.width + x;
    dst[i] = pack4x8unorm(vec4<f32>(pair[0], 1.0));
    if (x + 1u < p.width) {
        dst[i + 1u] = pack4x8unorm(vec4<f32>(pair[1], 1.0));
    }
}

@compute @workgroup_size(16, 16)
fn pack_yuyv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = block(gid);
    let half = p.width / 2u;
    if (id.x >= half || id.y >= p.height) {
        return;
    }
    let pair = px_pair(id.x * 2u, id.y, true);
    let a = pair[0];
    let c = pair[1];
    let m = (a + c) * 0.5;
    dst[id.y * half + id.x] = b(rgb_to_y(a)) | (b(rgb_to_u(m)) << 8u) | (b(rgb_to_y(c)) << 16u) | (b(rgb_to_v(m)) << 24u);
}

fn y4(a: array<vec3<f32>, 2>, c: array<vec3<f32>, 2>) -> u32 {
    return b(rgb_to_y(a[0])) | (b(rgb_to_y(a[1])) << 8u) | (b(rgb_to_y(c[0])) << 16u) | (b(rgb_to_y(c[1])) << 24u);
}

// A 4x2 block: its two words of the Y plane and its word of the UV plane.
@compute @workgroup_size(16, 16)
fn pack_nv12(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = block(gid);
    let words = p.width / 4u;
    if (id.x >= words || id.y >= p.height / 2u) {
        return;
    }
    let x = id.x * 4u;
    let y = id.y * 2u;
    let a = px_pair(x, y, false);
    let c = px_pair(x + 2u, y, false);
    let d = px_pair(x, y + 1u, false);
    let e = px_pair(x + 2u, y + 1u, false);
    dst[y * words + id.x] = y4(a, c);
    dst[(y + 1u) * words + id.x] = y4(d, e);
    let m0 = (a[0] + a[1] + d[0] + d[1]) * 0.25;
    let m1 = (c[0] + c[1] + e[0] + e[1]) * 0.25;
    dst[(p.height + id.y) * words + id.x] = b(rgb_to_u(m0)) | (b(rgb_to_v(m0)) << 8u) | (b(rgb_to_u(m1)) << 16u) | (b(rgb_to_v(m1)) << 24u);
}
