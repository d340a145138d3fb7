// Shared colour helpers. BT.601, limited range: what webcams send and what the
// CPU conversions in daemon/src/convert.rs use.

fn yuv_to_rgb(y: f32, u: f32, v: f32) -> vec3<f32> {
    let c = (y - 16.0) * 1.164383;
    let d = u - 128.0;
    let e = v - 128.0;
    let rgb = vec3<f32>(c + 1.596027 * e, c - 0.391762 * d - 0.812968 * e, c + 2.017232 * d);
    return clamp(rgb / 255.0, vec3<f32>(0.0), vec3<f32>(1.0));
}

fn rgb_to_y(c: vec3<f32>) -> f32 {
    return 16.0 + 65.481 * c.r + 128.553 * c.g + 24.966 * c.b;
}

fn rgb_to_u(c: vec3<f32>) -> f32 {
    return 128.0 - 37.797 * c.r - 74.203 * c.g + 112.0 * c.b;
}

fn rgb_to_v(c: vec3<f32>) -> f32 {
    return 128.0 + 112.0 * c.r - 93.786 * c.g - 18.214 * c.b;
}

fn luma(c: vec3<f32>) -> f32 {
    return dot(c, vec3<f32>(0.299, 0.587, 0.114));
}

// A 32-bit integer hash (PCG output permutation): the same bits on every GPU
// and in the CPU reference, so "random" effects are reproducible.
fn hash_u32(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

fn hash01(v: u32) -> f32 {
    return f32(hash_u32(v) & 0xffffu) / 65535.0;
}

// The person weight from a smoothed mask value: a smooth ramp of half-width
// `feather` around 0.5 (wider = softer edge).
fn feathered(m: f32, feather: f32) -> f32 {
    return smoothstep(0.5 - feather, 0.5 + feather, m);
}
