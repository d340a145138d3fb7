//! The integer hash the shaders use for noise and star fields, on the CPU:
//! the CPU twins of the filters and the scene renderer draw the same
//! pseudo-random patterns as the GPU.

/// The same integer hash as `hash_u32` in shaders/common.wgsl.
pub fn hash_u32(v: u32) -> u32 {
    let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}
