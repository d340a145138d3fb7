// Camera bytes -> RGBA texture. One invocation per pixel.
// format: 0 RGBA, 1 YUYV, 2 NV12, 3 I420 (tightly packed, as daemon/src/frame.rs).
//#include common.wgsl

struct Params {
    width: u32,
    height: u32,
    format: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var dst: texture_storage_2d<rgba8unorm, write>;

fn byte_at(i: u32) -> f32 {
    return f32((src[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let w = p.width;
    let h = p.height;
    let x = id.x;
    let y = id.y;
    var out = vec4<f32>(0.0, 0.0, 0.0, 1.0);
    switch p.format {
        case 0u: {
            out = unpack4x8unorm(src[y * w + x]);
        }
        case 1u: {
            let i = (y * w + x) * 2u;
            let pair = (y * w + (x & ~1u)) * 2u;
            out = vec4<f32>(yuv_to_rgb(byte_at(i), byte_at(pair + 1u), byte_at(pair + 3u)), 1.0);
        }
        case 2u: {
            let c = w * h + (y / 2u) * w + (x & ~1u);
            out = vec4<f32>(yuv_to_rgb(byte_at(y * w + x), byte_at(c), byte_at(c + 1u)), 1.0);
        }
        default: {
            let cw = w / 2u;
            let c = (y / 2u) * cw + x / 2u;
            let u = byte_at(w * h + c);
            let v = byte_at(w * h + w * h / 4u + c);
            out = vec4<f32>(yuv_to_rgb(byte_at(y * w + x), u, v), 1.0);
        }
    }
    textureStore(dst, vec2<i32>(i32(x), i32(y)), out);
}
