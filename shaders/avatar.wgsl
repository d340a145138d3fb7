// Avatar layers into an overlay: premultiplied RGBA8, one u32 per pixel,
// covering the avatar's box. `clear` empties it; `layer` blends one slice of
// the art over it, dispatched over that slice's own box only, bottom slice
// first (on a software rasteriser a pixel costs every layer it is tested
// against, so each layer visits only the pixels it can touch). The pack
// pass then puts the overlay over the picture (pack.wgsl, `wear`).
// CPU twin: wear_avatar in daemon/src/gpu/reference.rs.

struct Slice {
    // Rows of the homography frame pixel -> texture coordinate.
    m0: vec4<f32>,
    m1: vec4<f32>,
    m2: vec4<f32>,
    // x: opacity.
    opacity: vec4<f32>,
    // The texture-coordinate box of the slice's non-transparent art.
    content: vec4<f32>,
    // The pixels this dispatch covers: x0, y0, width, height (frame pixels).
    rect: vec4<u32>,
    // The overlay: x0, y0 (frame pixels), width; and the slice's array layer.
    overlay: vec4<u32>,
}

@group(0) @binding(0) var<uniform> s: Slice;
@group(0) @binding(1) var<storage, read_write> ov: array<u32>;
@group(0) @binding(2) var art: texture_2d_array<f32>;
@group(0) @binding(3) var art_lin: sampler;

@compute @workgroup_size(16, 16)
fn clear(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= s.rect.z || id.y >= s.rect.w) {
        return;
    }
    ov[id.y * s.overlay.z + id.x] = 0u;
}

@compute @workgroup_size(16, 16)
fn layer(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= s.rect.z || id.y >= s.rect.w) {
        return;
    }
    let x = s.rect.x + id.x;
    let y = s.rect.y + id.y;
    let q = vec3<f32>(f32(x) + 0.5, f32(y) + 0.5, 1.0);
    let w = dot(s.m2.xyz, q);
    let uv = vec2<f32>(dot(s.m0.xyz, q), dot(s.m1.xyz, q)) / w;
    let k = s.content;
    if (w <= 0.0 || uv.x < k.x || uv.y < k.y || uv.x > k.z || uv.y > k.w) {
        return;
    }
    let t = textureSampleLevel(art, art_lin, uv, i32(s.overlay.w), 0.0) * s.opacity.x;
    let i = (y - s.overlay.y) * s.overlay.z + (x - s.overlay.x);
    let o = unpack4x8unorm(ov[i]);
    ov[i] = pack4x8unorm(t + o * (1.0 - t.a));
}
