//! Capture-format negotiation: which of the modes a camera offers best meets what
//! the configuration asks for. Pure, so it is tested (and fuzzed) without a device.

use crate::frame::Size;
use crate::settings::source::{CameraFormat, SourceRequest};

/// One way a camera can stream: format, size and frame rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mode {
    pub format: CameraFormat,
    pub size: Size,
    pub fps: f64,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {}@{}", self.format, self.size, self.fps)
    }
}

/// A size range as drivers describe it (`V4L2_FRMSIZE_TYPE_STEPWISE`/`CONTINUOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRange {
    pub min: Size,
    pub max: Size,
    pub step: Size,
}

impl SizeRange {
    /// The size in the range nearest to `want`, on the step grid.
    pub fn nearest(&self, want: Size) -> Size {
        fn snap(v: u32, min: u32, max: u32, step: u32) -> u32 {
            let step = step.max(1);
            let v = v.clamp(min, max.max(min));
            let k = (v - min + step / 2) / step;
            (min + k * step).min(max.max(min))
        }
        Size::new(
            snap(want.width, self.min.width, self.max.width, self.step.width),
            snap(
                want.height,
                self.min.height,
                self.max.height,
                self.step.height,
            ),
        )
    }
}

/// The cost of a mode against the request; lower is better.
fn cost(mode: &Mode, req: &SourceRequest) -> f64 {
    let want = req.size.pixels() as f64;
    let have = mode.size.pixels() as f64;
    // Big enough to fill the output is what matters; beyond that, extra pixels
    // only cost bandwidth. Too small means upscaling blur: much worse.
    let size_cost = if mode.size.width >= req.size.width && mode.size.height >= req.size.height {
        (have - want) / want * 0.5
    } else {
        4.0 + (want - have) / want * 4.0
    };
    let fps_cost = if mode.fps + 0.01 >= req.fps {
        (mode.fps - req.fps) / 1000.0
    } else {
        (req.fps - mode.fps) / req.fps * 6.0
    };
    let format_cost = match req.format {
        Some(f) if f == mode.format => 0.0,
        Some(_) => 2.0,
        // Raw formats skip a JPEG decode; MJPEG is still fine when raw cannot keep up.
        None => match mode.format {
            CameraFormat::Yuyv => 0.0,
            CameraFormat::Nv12 => 0.05,
            CameraFormat::Mjpeg => 0.3,
        },
    };
    size_cost + fps_cost + format_cost
}

/// Picks the best mode, or `None` when the camera offers nothing usable.
pub fn choose(modes: &[Mode], req: &SourceRequest) -> Option<Mode> {
    modes
        .iter()
        .filter(|m| m.size.width >= 2 && m.size.height >= 2 && m.fps > 0.0 && m.fps.is_finite())
        .min_by(|a, b| cost(a, req).total_cmp(&cost(b, req)))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(format: CameraFormat, w: u32, h: u32, fps: f64) -> Mode {
        Mode {
            format,
            size: Size::new(w, h),
            fps,
        }
    }

    fn req(w: u32, h: u32, fps: f64) -> SourceRequest {
        SourceRequest {
            size: Size::new(w, h),
            fps,
            format: None,
        }
    }

    /// What a typical USB webcam offers: raw only at low rates for big sizes.
    fn typical() -> Vec<Mode> {
        use CameraFormat::*;
        vec![
            m(Yuyv, 640, 480, 30.0),
            m(Yuyv, 1280, 720, 10.0),
            m(Yuyv, 1920, 1080, 5.0),
            m(Mjpeg, 640, 480, 30.0),
            m(Mjpeg, 1280, 720, 30.0),
            m(Mjpeg, 1920, 1080, 30.0),
        ]
    }

    #[test]
    fn hd_at_30_prefers_mjpeg_over_slow_raw() {
        assert_eq!(
            choose(&typical(), &req(1280, 720, 30.0)),
            Some(m(CameraFormat::Mjpeg, 1280, 720, 30.0))
        );
    }

    #[test]
    fn vga_prefers_raw() {
        assert_eq!(
            choose(&typical(), &req(640, 480, 30.0)),
            Some(m(CameraFormat::Yuyv, 640, 480, 30.0))
        );
    }

    #[test]
    fn low_rate_request_takes_raw_hd() {
        assert_eq!(
            choose(&typical(), &req(1280, 720, 10.0)),
            Some(m(CameraFormat::Yuyv, 1280, 720, 10.0))
        );
    }

    #[test]
    fn asked_format_wins_when_it_fits() {
        let mut r = req(640, 480, 30.0);
        r.format = Some(CameraFormat::Mjpeg);
        assert_eq!(
            choose(&typical(), &r),
            Some(m(CameraFormat::Mjpeg, 640, 480, 30.0))
        );
    }

    #[test]
    fn bigger_beats_smaller_when_exact_is_missing() {
        let modes = vec![
            m(CameraFormat::Yuyv, 640, 360, 30.0),
            m(CameraFormat::Yuyv, 1920, 1080, 30.0),
        ];
        assert_eq!(
            choose(&modes, &req(1280, 720, 30.0)).map(|x| x.size),
            Some(Size::new(1920, 1080))
        );
    }

    #[test]
    fn nothing_usable_gives_none() {
        assert_eq!(choose(&[], &req(1280, 720, 30.0)), None);
        assert_eq!(
            choose(
                &[m(CameraFormat::Yuyv, 640, 480, 0.0)],
                &req(640, 480, 30.0)
            ),
            None
        );
    }

    #[test]
    fn stepwise_ranges_snap_to_the_grid() {
        let r = SizeRange {
            min: Size::new(48, 32),
            max: Size::new(1920, 1080),
            step: Size::new(16, 8),
        };
        assert_eq!(r.nearest(Size::new(1280, 720)), Size::new(1280, 720));
        assert_eq!(r.nearest(Size::new(4000, 4000)), Size::new(1920, 1080));
        assert_eq!(r.nearest(Size::new(10, 10)), Size::new(48, 32));
        let odd = SizeRange {
            min: Size::new(2, 2),
            max: Size::new(100, 100),
            step: Size::new(0, 0),
        };
        assert_eq!(odd.nearest(Size::new(50, 60)), Size::new(50, 60));
    }
}
