// Camera bytes -> RGBA texture, one invocation per pixel; the input format is
// the pipeline's `in_format` (decode.wgsl). Only filters read this texture:
// without one, packing and the background passes decode the frame themselves.
struct Params {
    width: u32,
    height: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> frame: array<u32>;
@group(0) @binding(2) var dst: texture_storage_2d<rgba8unorm, write>;
//#include decode.wgsl

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let rgb = camera(id.x, id.y, p.width, p.height);
    textureStore(dst, vec2<i32>(i32(id.x), i32(id.y)), vec4<f32>(rgb, 1.0));
}
