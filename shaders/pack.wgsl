// RGBA texture -> output bytes, one 32-bit word per invocation.
// pack_rgba: a pixel per word. pack_yuyv: two pixels per word (Y0 U Y1 V).
// pack_nv12: the Y plane (4 pixels per word) for rows < height, then the UV
// plane (2 chroma pairs per word, each averaged over its 2x2 block).
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
    // First output word column, first pixel row (even), rows (even).
    ox: u32,
    oy: u32,
    rows: u32,
    _pad0: u32,
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

fn px(x: u32, y: u32) -> vec3<f32> {
    if (avatar == 0u) {
        return scene(x, y);
    }
    return wear(scene(x, y), x, y);
}

// The two pixels of a YUYV word, (x, y) and (x + 1, y).
fn px_pair(x: u32, y: u32) -> array<vec3<f32>, 2> {
    let s = scene_pair(x, y);
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

// The camera picture with the background effect.
fn scene(x: u32, y: u32) -> vec3<f32> {
    let xy = vec2<i32>(i32(x), i32(y));
    if (full == 1u && backdrop == 2u) {
        // A full avatar: the person is replaced by the picture.
        return textureLoad(picture, xy, 0).rgb;
    }
    let fg = fg_at(x, y);
    if (backdrop == 0u) {
        return fg;
    }
    let uv = uv_of(f32(x) + 0.5, f32(y) + 0.5);
    var bg: vec3<f32>;
    if (backdrop == 1u) {
        bg = room_at(uv, fg);
    } else {
        bg = textureLoad(picture, xy, 0).rgb;
    }
    return mix(bg, fg, person_at(uv, fg));
}

// `scene` for two neighbours at once: the camera word is read once, and
// the blurred room (a factor of 2 or more below full size) is sampled once,
// between them. The mask stays per pixel: it carries the edge.
fn scene_pair(x: u32, y: u32) -> array<vec3<f32>, 2> {
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
    if (backdrop == 1u) {
        let b = textureSampleLevel(low, lin, uv_of(f32(x) + 1.0, f32(y) + 0.5), 0.0);
        bg0 = fg[0];
        bg1 = fg[1];
        if (b.a > 0.002) {
            bg0 = b.rgb / b.a;
            bg1 = bg0;
        }
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

// The output word an invocation writes: in the avatar pass, offset into the
// avatar's box. NV12's box covers its Y rows, then the matching UV rows. The
// main pass leaves the words of that box to the avatar pass (an off-frame
// word is skipped by the callers' bounds checks).
fn word(id: vec3<u32>, per_word: u32, nv12: bool) -> vec2<u32> {
    if (avatar == 0u) {
        let x_in = id.x >= av.ox && id.x < av.ox + av.overlay.z / per_word;
        var y_in = id.y >= av.oy && id.y < av.oy + av.rows;
        if (nv12 && id.y >= p.height) {
            let r = id.y - p.height;
            y_in = r >= av.oy / 2u && r < (av.oy + av.rows) / 2u;
        }
        if (av.rows > 0u && x_in && y_in) {
            return vec2<u32>(0xffffffffu, 0xffffffffu);
        }
        return id.xy;
    }
    if (nv12 && id.y >= av.rows) {
        return vec2<u32>(id.x + av.ox, p.height + av.oy / 2u + (id.y - av.rows));
    }
    if (id.y >= av.rows) {
        return vec2<u32>(0xffffffffu, 0xffffffffu);
    }
    return vec2<u32>(id.x + av.ox, id.y + av.oy);
}

@compute @workgroup_size(16, 16)
fn pack_rgba(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = word(gid, 1u, false);
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    dst[id.y * p.width + id.x] = pack4x8unorm(vec4<f32>(px(id.x, id.y), 1.0));
}

@compute @workgroup_size(16, 16)
fn pack_yuyv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = word(gid, 2u, false);
    let half = p.width / 2u;
    if (id.x >= half || id.y >= p.height) {
        return;
    }
    let pair = px_pair(id.x * 2u, id.y);
    let a = pair[0];
    let c = pair[1];
    let m = (a + c) * 0.5;
    dst[id.y * half + id.x] = b(rgb_to_y(a)) | (b(rgb_to_u(m)) << 8u) | (b(rgb_to_y(c)) << 16u) | (b(rgb_to_v(m)) << 24u);
}

@compute @workgroup_size(16, 16)
fn pack_nv12(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = word(gid, 4u, true);
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
