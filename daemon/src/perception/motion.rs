//! The person's motion from the last two masks: the newest mask moved to
//! where the person is at a newer frame's moment. Perception runs a frame
//! or two behind the picture; without this the cut-out trails a moving
//! person (a halo on the side they move away from, the background eating
//! into the side they move to).
//!
//! The motion is the shift of the mask's centre of mass, the person's bulk,
//! per second; it is applied for at most `MAX_AHEAD`, never across a jump
//! (a cut, a second person), and not at all when the person is still.

use std::time::{Duration, Instant};

use super::Mask;

/// The furthest ahead a mask is moved.
pub const MAX_AHEAD: Duration = Duration::from_millis(100);
/// A shift between two masks larger than this share of the mask's width is
/// a jump, not motion.
const MAX_STEP: f64 = 0.15;
/// Shifts below this (mask pixels) are left alone: still people stay exact.
const MIN_SHIFT: f64 = 0.25;

/// The centre of mass of a mask (mask pixels) and its total weight.
fn centroid(m: &Mask) -> Option<(f64, f64)> {
    let (mut sx, mut sy, mut total) = (0.0f64, 0.0f64, 0.0f64);
    for (y, row) in m.data.chunks_exact(m.width as usize).enumerate() {
        let mut row_sum = 0u64;
        let mut row_x = 0u64;
        for (x, &v) in row.iter().enumerate() {
            row_sum += u64::from(v);
            row_x += u64::from(v) * x as u64;
        }
        sx += row_x as f64;
        sy += row_sum as f64 * y as f64;
        total += row_sum as f64;
    }
    // Less than a few pixels of person: no meaningful centre.
    (total >= 255.0 * 16.0).then(|| (sx / total, sy / total))
}

#[derive(Debug, Clone, Default)]
pub struct MaskMotion {
    /// The newest mask's centre, its capture time and frame number.
    last: Option<((f64, f64), Instant, u64)>,
    prev: Option<((f64, f64), Instant)>,
}

impl MaskMotion {
    /// Takes a new mask (the same frame twice counts once).
    pub fn observe(&mut self, m: &Mask) {
        if self.last.is_some_and(|(_, _, s)| s == m.seq) {
            return;
        }
        match centroid(m) {
            Some(c) => {
                self.prev = self.last.map(|(c, t, _)| (c, t));
                self.last = Some((c, m.captured_at, m.seq));
            }
            None => *self = MaskMotion::default(),
        }
    }

    /// How far (mask pixels) to move the newest mask for a frame captured
    /// at `at`; `None` when it should stay as it is.
    pub fn shift(&self, width: u32, at: Instant) -> Option<(f64, f64)> {
        let (c1, t1, _) = self.last?;
        let (c0, t0) = self.prev?;
        let dt = t1.checked_duration_since(t0)?.as_secs_f64();
        if !(0.001..=0.25).contains(&dt) {
            return None;
        }
        let step = (c1.0 - c0.0).hypot(c1.1 - c0.1);
        if step > MAX_STEP * f64::from(width) {
            return None;
        }
        let ahead = at.checked_duration_since(t1)?.min(MAX_AHEAD).as_secs_f64();
        let (dx, dy) = ((c1.0 - c0.0) / dt * ahead, (c1.1 - c0.1) / dt * ahead);
        (dx.hypot(dy) >= MIN_SHIFT).then_some((dx, dy))
    }

    /// The newest mask moved to `at`, or `None` when it stays as it is.
    pub fn warp(&self, m: &Mask, at: Instant) -> Option<Vec<u8>> {
        let (dx, dy) = self.shift(m.width, at)?;
        Some(translate(m, dx, dy))
    }
}

/// `m` moved by (dx, dy) pixels, bilinear, edges repeated.
fn translate(m: &Mask, dx: f64, dy: f64) -> Vec<u8> {
    let (w, h) = (m.width as usize, m.height as usize);
    let mut out = vec![0u8; w * h];
    // Integer and fractional parts of the source offset.
    let (sx, sy) = (-dx, -dy);
    let (ix, iy) = (sx.floor() as isize, sy.floor() as isize);
    let (fx, fy) = ((sx - sx.floor()) as f32, (sy - sy.floor()) as f32);
    let at = |x: isize, y: isize| -> f32 {
        let x = x.clamp(0, w as isize - 1) as usize;
        let y = y.clamp(0, h as isize - 1) as usize;
        f32::from(m.data[y * w + x])
    };
    for y in 0..h {
        let y0 = y as isize + iy;
        for x in 0..w {
            let x0 = x as isize + ix;
            let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
            let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
            out[y * w + x] = (top * (1.0 - fy) + bottom * fy).round() as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disc of radius 30 centred at (cx, cy) in a 256x144 mask.
    fn disc(cx: f64, cy: f64, seq: u64, at: Instant) -> Mask {
        let (w, h) = (256u32, 144u32);
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = (f64::from(i % w), f64::from(i / w));
                if (x - cx).hypot(y - cy) < 30.0 {
                    255
                } else {
                    0
                }
            })
            .collect();
        Mask {
            width: w,
            height: h,
            data,
            seq,
            captured_at: at,
        }
    }

    fn iou(a: &[u8], b: &[u8]) -> f64 {
        let (mut inter, mut union) = (0u32, 0u32);
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (*x > 127, *y > 127);
            inter += u32::from(x && y);
            union += u32::from(x || y);
        }
        f64::from(inter) / f64::from(union.max(1))
    }

    #[test]
    fn a_moving_person_is_met_where_they_are_now() {
        let t0 = Instant::now();
        let frame = Duration::from_millis(33);
        // 6 mask pixels a frame to the right (a brisk sway at 720p).
        let mut motion = MaskMotion::default();
        motion.observe(&disc(100.0, 70.0, 0, t0));
        let newest = disc(106.0, 70.0, 1, t0 + frame);
        motion.observe(&newest);
        // The picture is two frames ahead of the newest mask.
        let now = t0 + 3 * frame;
        let truth = disc(118.0, 70.0, 3, now);
        let warped = motion.warp(&newest, now).expect("moved");
        let stale = iou(&newest.data, &truth.data);
        let fresh = iou(&warped, &truth.data);
        assert!(stale < 0.75, "stale {stale:.3}");
        assert!(fresh > 0.95, "warped {fresh:.3}");
        let (dx, dy) = motion.shift(256, now).expect("shift");
        assert!((dx - 12.0).abs() < 0.05 && dy.abs() < 0.05, "{dx} {dy}");
    }

    #[test]
    fn still_people_jumps_and_old_masks_are_left_alone() {
        let t0 = Instant::now();
        let frame = Duration::from_millis(33);
        let mut motion = MaskMotion::default();
        motion.observe(&disc(100.0, 70.0, 0, t0));
        motion.observe(&disc(100.0, 70.0, 1, t0 + frame));
        assert!(motion
            .warp(&disc(100.0, 70.0, 1, t0 + frame), t0 + 3 * frame)
            .is_none());
        // A cut: the person is elsewhere at once.
        motion.observe(&disc(200.0, 70.0, 2, t0 + 2 * frame));
        assert!(motion.shift(256, t0 + 4 * frame).is_none());
        // Far ahead: at most MAX_AHEAD of motion.
        let mut motion = MaskMotion::default();
        motion.observe(&disc(100.0, 70.0, 0, t0));
        motion.observe(&disc(103.0, 70.0, 1, t0 + frame));
        let (dx, _) = motion
            .shift(256, t0 + Duration::from_secs(5))
            .expect("shift");
        assert!((dx - 3.0 / 0.033 * 0.1).abs() < 0.05, "{dx}");
        // An empty mask forgets the motion.
        let mut empty = disc(0.0, 0.0, 2, t0 + 2 * frame);
        empty.data.fill(0);
        motion.observe(&empty);
        assert!(motion.shift(256, t0 + 3 * frame).is_none());
    }

    #[test]
    fn translation_is_exact_for_whole_pixels() {
        let m = disc(100.0, 70.0, 0, Instant::now());
        let moved = translate(&m, 5.0, -3.0);
        assert_eq!(moved, disc(105.0, 67.0, 0, Instant::now()).data);
    }
}
