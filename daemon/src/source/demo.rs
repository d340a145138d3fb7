//! The built-in demo source: a real portrait photo with gentle, deterministic head
//! motion (pan, tilt, zoom), so perception and avatars have a person to work on
//! on machines without a webcam.

use std::f64::consts::TAU;
use std::time::{Duration, Instant};

use fast_image_resize as fir;

use super::{FrameSource, SourceError};
use crate::convert::{cover_crop, resize_rgba_into};
use crate::frame::{Frame, FramePool, PixelFormat, Size};

/// NASA portrait of astronaut Eileen Collins (public domain), from scikit-image's data.
static PORTRAIT_PNG: &[u8] = include_bytes!("../../assets/astronaut.png");

/// Where the face sits in the portrait, in its pixels (centre x, centre y).
const FACE_CENTRE: (f64, f64) = (225.0, 150.0);

/// The animated portrait.
pub struct DemoSource {
    portrait: Vec<u8>,
    portrait_size: Size,
    size: Size,
    fps: f64,
    index: u64,
    resizer: fir::Resizer,
    /// When set, the last time it looked for a webcam (the `auto` fallback).
    camera_watch: Option<Instant>,
    pool: FramePool,
}

/// How often the `auto` fallback looks for a newly plugged webcam.
const CAMERA_WATCH_EVERY: Duration = Duration::from_secs(2);

impl std::fmt::Debug for DemoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoSource")
            .field("size", &self.size)
            .field("index", &self.index)
            .finish()
    }
}

impl DemoSource {
    pub fn new(size: Size, fps: f64) -> Result<Self, SourceError> {
        let img = image::load_from_memory_with_format(PORTRAIT_PNG, image::ImageFormat::Png)
            .map_err(|e| SourceError::BadFile {
                path: "built-in portrait".into(),
                reason: e.to_string(),
            })?
            .to_rgba8();
        let portrait_size = Size::new(img.width(), img.height());
        Ok(DemoSource {
            portrait: img.into_raw(),
            portrait_size,
            size,
            fps: if fps > 0.0 { fps } else { 30.0 },
            index: 0,
            resizer: fir::Resizer::new(),
            camera_watch: None,
            pool: FramePool::default(),
        })
    }

    /// Makes this demo the stand-in of `--source auto`: it ends with
    /// `SourceError::CameraAppeared` as soon as a webcam is plugged in.
    pub fn watching_for_camera(mut self) -> Self {
        self.camera_watch = Some(Instant::now());
        self
    }

    /// The crop window (left, top, width, height) in portrait pixels for frame `index`.
    /// Pure and deterministic: the same index always gives the same picture.
    pub fn crop_at(&self, index: u64) -> (f64, f64, f64, f64) {
        let t = index as f64 / self.fps;
        let (pw, ph) = (
            self.portrait_size.width as f64,
            self.portrait_size.height as f64,
        );
        let (_, _, base_w, base_h) = cover_crop(self.portrait_size, self.size);
        // Zoom breathes between 1.04x and 1.20x over 9 s.
        let zoom = 1.12 + 0.08 * (TAU * t / 9.0).sin();
        let (cw, ch) = (base_w / zoom, base_h / zoom);
        // Pan sways left-right over 6 s, tilt nods over 4.3 s.
        let cx = FACE_CENTRE.0 + 0.8 * (pw - cw) / 2.0 * (TAU * t / 6.0).sin();
        let cy = FACE_CENTRE.1 + 14.0 * (TAU * t / 4.3).sin();
        let left = (cx - cw / 2.0).clamp(0.0, pw - cw);
        let top = (cy - ch / 2.0).clamp(0.0, ph - ch);
        (left, top, cw, ch)
    }
}

impl FrameSource for DemoSource {
    fn describe(&self) -> String {
        let until = if self.camera_watch.is_some() {
            ", until a webcam is plugged in"
        } else {
            ""
        };
        format!("demo portrait {} @ {} fps{until}", self.size, self.fps)
    }

    fn is_live(&self) -> bool {
        false
    }

    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        if let Some(last) = self.camera_watch {
            if last.elapsed() >= CAMERA_WATCH_EVERY {
                self.camera_watch = Some(Instant::now());
                if let Some(path) = crate::v4l2::discover::first_camera() {
                    return Err(SourceError::CameraAppeared {
                        path: path.display().to_string(),
                    });
                }
            }
        }
        let crop = self.crop_at(self.index);
        let mut data = self.pool.take(self.size.pixels() * 4);
        resize_rgba_into(
            &self.portrait,
            self.portrait_size,
            &mut data,
            self.size,
            Some(crop),
            fir::FilterType::Bilinear,
            &mut self.resizer,
        )
        .map_err(|e| SourceError::BadFile {
            path: "built-in portrait".into(),
            reason: e.to_string(),
        })?;
        let frame = Frame::new(self.size, PixelFormat::Rgba, data, self.index);
        self.index += 1;
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_move_and_are_deterministic() {
        let size = Size::new(320, 180);
        let mut a = DemoSource::new(size, 30.0).expect("demo");
        let mut b = DemoSource::new(size, 30.0).expect("demo");
        let f0 = a.next_frame().expect("frame");
        assert_eq!(f0.data.len(), 320 * 180 * 4);
        assert_eq!(
            f0.data,
            b.next_frame().expect("frame").data,
            "same index, same picture"
        );
        for _ in 0..29 {
            a.next_frame().expect("frame");
        }
        let f30 = a.next_frame().expect("frame");
        assert_eq!(f30.seq, 30);
        let changed = f0
            .data
            .iter()
            .zip(&f30.data)
            .filter(|(x, y)| x.abs_diff(**y) > 8)
            .count();
        assert!(
            changed > f0.data.len() / 10,
            "one second later the head has moved ({changed})"
        );
    }

    #[test]
    fn crop_stays_inside_the_portrait_and_holds_the_face() {
        let d = DemoSource::new(Size::new(1280, 720), 30.0).expect("demo");
        for i in (0..30 * 20).step_by(7) {
            let (l, t, w, h) = d.crop_at(i);
            assert!(l >= 0.0 && t >= 0.0 && l + w <= 512.0 + 1e-9 && t + h <= 512.0 + 1e-9);
            assert!((w / h - 16.0 / 9.0).abs() < 1e-9);
            assert!(l < FACE_CENTRE.0 && FACE_CENTRE.0 < l + w);
            assert!(t < FACE_CENTRE.1 && FACE_CENTRE.1 < t + h);
        }
    }

    #[test]
    fn portrait_shows_a_person_not_a_flat_card() {
        let mut d = DemoSource::new(Size::new(64, 36), 30.0).expect("demo");
        let f = d.next_frame().expect("frame");
        let lum: Vec<u32> = f
            .data
            .chunks(4)
            .map(|p| (p[0] as u32 + p[1] as u32 + p[2] as u32) / 3)
            .collect();
        let mean = lum.iter().sum::<u32>() as f64 / lum.len() as f64;
        let var = lum.iter().map(|&l| (l as f64 - mean).powi(2)).sum::<f64>() / lum.len() as f64;
        assert!(
            var.sqrt() > 30.0,
            "a photo has contrast (std {})",
            var.sqrt()
        );
        // The orange suit fills the lower right, beside the helmet ring.
        let p = &f.data[(35 * 64 + 46) * 4..][..4];
        assert!(p[0] > p[2] + 60, "orange suit at the bottom: {p:?}");
    }
}
