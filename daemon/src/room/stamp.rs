//! A machine-readable clock in the video, for measuring glass-to-glass
//! latency: the low 32 bits of the frame's capture time (ms since the Unix
//! epoch) as a row of 32 blocks of 16x16 pixels at the top left, white for
//! 1 and black for 0, most significant bit first. Big flat blocks survive
//! VP8 at any bitrate; a viewer reads each block's centre and compares with
//! its own clock. Only drawn when `BYTEMEET_LATENCY_STAMP=1` is set.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub const ENV: &str = "BYTEMEET_LATENCY_STAMP";
pub const BLOCK: u32 = 16;
pub const BITS: u32 = 32;

/// `at` on the wall clock, in ms since the epoch, low 32 bits.
pub fn wall_ms(at: Instant) -> u32 {
    let now = SystemTime::now();
    let then = now.checked_sub(at.elapsed()).unwrap_or(now);
    then.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u32)
        .unwrap_or(0)
}

/// Draws `value` into an I420 picture of `w`x`h` (too small: nothing).
pub fn draw(i420: &mut [u8], w: u32, h: u32, value: u32) {
    if w < BLOCK * BITS || h < BLOCK || i420.len() < (w * h * 3 / 2) as usize {
        return;
    }
    let (cw, ch) = (w / 2, h / 2);
    let (y_len, c_len) = ((w * h) as usize, (cw * ch) as usize);
    for bit in 0..BITS {
        let on = value >> (BITS - 1 - bit) & 1 == 1;
        let x0 = bit * BLOCK;
        for y in 0..BLOCK {
            let row = (y * w + x0) as usize;
            i420[row..row + BLOCK as usize].fill(if on { 235 } else { 16 });
        }
        // Grey, whatever the picture's colour was.
        for plane in [y_len, y_len + c_len] {
            for y in 0..BLOCK / 2 {
                let row = plane + (y * cw + x0 / 2) as usize;
                i420[row..row + (BLOCK / 2) as usize].fill(128);
            }
        }
    }
}

/// Reads a value drawn by `draw` (from the luma plane).
pub fn read(i420: &[u8], w: u32) -> u32 {
    (0..BITS).fold(0, |v, bit| {
        let centre = ((BLOCK / 2) * w + bit * BLOCK + BLOCK / 2) as usize;
        (v << 1) | u32::from(i420.get(centre).is_some_and(|&y| y > 128))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::vp8::{Decoder, Encoder, EncoderConfig};

    #[test]
    fn the_stamp_survives_vp8() {
        let (w, h) = (640, 360);
        let mut enc = Encoder::new(EncoderConfig::new(w, h, 30, 300)).expect("encoder");
        let mut dec = Decoder::new().expect("decoder");
        for value in [0u32, u32::MAX, 0xdead_beef, 1_234_567_890] {
            let mut picture: Vec<u8> = (0..w * h * 3 / 2).map(|i| (i % 251) as u8).collect();
            draw(&mut picture, w, h, value);
            assert_eq!(read(&picture, w), value);
            // Keyframes: each picture is unrelated to the one before.
            let e = enc
                .encode(&picture, 33, true)
                .expect("encode")
                .expect("frame");
            let d = dec.decode(&e.data).expect("decode").expect("picture");
            assert_eq!(read(&d.i420, w), value, "{value:#x}");
        }
    }

    #[test]
    fn small_pictures_are_left_alone() {
        let mut p = vec![7u8; 64 * 16 * 3 / 2];
        draw(&mut p, 64, 16, u32::MAX);
        assert!(p.iter().all(|&v| v == 7));
    }
}
