//! The real webcam: open a V4L2 capture node, negotiate format, size and rate,
//! stream through mmap buffers, and decode (YUYV and NV12 pass through; MJPEG is
//! decoded by zune-jpeg).

use std::path::{Path, PathBuf};
use std::time::Duration;

use fast_image_resize as fir;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream as MmapStream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;

use super::{FrameSource, SourceError};
use crate::convert::fit_pooled;
pub use crate::decode::camera_buffer as decode_frame;
use crate::frame::{Frame, FramePool, Size};
use crate::settings::source::{CameraFormat, SourceRequest};
use crate::v4l2::negotiate::{self, Mode, SizeRange};
use crate::v4l2::{holders_note, LOOPBACK_DRIVER};

/// How long a camera may stay silent before it counts as stalled.
const FRAME_TIMEOUT: Duration = Duration::from_secs(3);

/// An open, streaming webcam.
pub struct V4l2Source {
    path: PathBuf,
    card: String,
    mode: Mode,
    stride: u32,
    out_size: Size,
    stream: MmapStream<'static>,
    // Keeps the device open for as long as the stream lives.
    _dev: v4l::Device,
    seq: u64,
    bad_frames: u64,
    resizer: fir::Resizer,
    pool: FramePool,
}

impl std::fmt::Debug for V4l2Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4l2Source")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .finish()
    }
}

fn classify(path: &Path, e: std::io::Error) -> SourceError {
    let p = path.display().to_string();
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENXIO) => SourceError::NotFound { path: p },
        Some(libc::ENODEV) | Some(libc::EIO) | Some(libc::EPIPE) => SourceError::Lost {
            path: p,
            reason: e.to_string(),
        },
        Some(libc::EACCES) | Some(libc::EPERM) => SourceError::PermissionDenied { path: p },
        Some(libc::EBUSY) => SourceError::Busy {
            holders: holders_note(path),
            path: p,
        },
        _ => SourceError::Io { path: p, source: e },
    }
}

/// Every (format, size, rate) the device offers among the formats ByteMeet reads.
fn offered_modes(dev: &v4l::Device, want: Size) -> std::io::Result<(Vec<Mode>, Vec<String>)> {
    let mut modes = Vec::new();
    let mut names = Vec::new();
    for desc in Capture::enum_formats(dev)? {
        names.push(desc.fourcc.to_string());
        let Some(format) = CameraFormat::from_fourcc(desc.fourcc.repr) else {
            continue;
        };
        let mut sizes = Vec::new();
        for fs in Capture::enum_framesizes(dev, desc.fourcc).unwrap_or_default() {
            match fs.size {
                FrameSizeEnum::Discrete(d) => sizes.push(Size::new(d.width, d.height)),
                FrameSizeEnum::Stepwise(s) => sizes.push(
                    SizeRange {
                        min: Size::new(s.min_width, s.min_height),
                        max: Size::new(s.max_width, s.max_height),
                        step: Size::new(s.step_width, s.step_height),
                    }
                    .nearest(want),
                ),
            }
        }
        for size in sizes {
            let intervals = Capture::enum_frameintervals(dev, desc.fourcc, size.width, size.height)
                .unwrap_or_default();
            let mut rates: Vec<f64> = Vec::new();
            for iv in intervals {
                match iv.interval {
                    v4l::frameinterval::FrameIntervalEnum::Discrete(f) => {
                        if f.numerator > 0 {
                            rates.push(f.denominator as f64 / f.numerator as f64);
                        }
                    }
                    v4l::frameinterval::FrameIntervalEnum::Stepwise(s) => {
                        // The fastest the range allows.
                        if s.min.numerator > 0 {
                            rates.push(s.min.denominator as f64 / s.min.numerator as f64);
                        }
                    }
                }
            }
            if rates.is_empty() {
                // Drivers that do not enumerate intervals: assume a common rate.
                rates.push(30.0);
            }
            modes.extend(rates.into_iter().map(|fps| Mode { format, size, fps }));
        }
    }
    Ok((modes, names))
}

impl V4l2Source {
    /// Opens and starts the camera. Fails with an actionable error when the
    /// device is missing, busy, a virtual camera, or offers no readable format.
    pub fn open(path: &Path, req: &SourceRequest) -> Result<Self, SourceError> {
        let p = path.display().to_string();
        let dev = v4l::Device::with_path(path).map_err(|e| classify(path, e))?;
        let caps = dev.query_caps().map_err(|e| classify(path, e))?;
        if caps.driver == LOOPBACK_DRIVER {
            return Err(SourceError::NotACamera {
                path: p,
                why: format!(
                    "it is a virtual camera (\"{}\"); reading it back would loop ByteMeet's own output. Use the real webcam",
                    caps.card
                ),
            });
        }
        if !caps
            .capabilities
            .contains(v4l::capability::Flags::VIDEO_CAPTURE)
        {
            return Err(SourceError::NotACamera {
                path: p,
                why: format!("\"{}\" ({}) has no video capture", caps.card, caps.driver),
            });
        }
        let (modes, offered) = offered_modes(&dev, req.size).map_err(|e| classify(path, e))?;
        let mode = negotiate::choose(&modes, req).ok_or_else(|| SourceError::Unsupported {
            path: p.clone(),
            offered: if offered.is_empty() {
                "nothing".into()
            } else {
                offered.join(", ")
            },
        })?;
        let want = v4l::Format::new(
            mode.size.width,
            mode.size.height,
            v4l::FourCC::new(&mode.format.fourcc()),
        );
        let got = Capture::set_format(&dev, &want).map_err(|e| classify(path, e))?;
        let got_format =
            CameraFormat::from_fourcc(got.fourcc.repr).ok_or_else(|| SourceError::Unsupported {
                path: p.clone(),
                offered: got.fourcc.to_string(),
            })?;
        let mut mode = Mode {
            format: got_format,
            size: Size::new(got.width, got.height),
            fps: mode.fps,
        };
        if !mode.size.width.is_multiple_of(2) || !mode.size.height.is_multiple_of(2) {
            return Err(SourceError::Unsupported {
                path: p,
                offered: format!("odd size {}", mode.size),
            });
        }
        let fps_int = mode.fps.round().max(1.0) as u32;
        match Capture::set_params(&dev, &v4l::video::capture::Parameters::with_fps(fps_int)) {
            Ok(params) if params.interval.numerator > 0 => {
                mode.fps = params.interval.denominator as f64 / params.interval.numerator as f64;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(path = %p, "camera kept its frame rate ({e})"),
        }
        let mut stream = MmapStream::with_buffers(&dev, v4l::buffer::Type::VideoCapture, 4)
            .map_err(|e| classify(path, e))?;
        stream.set_timeout(FRAME_TIMEOUT);
        let stride = if got.stride > 0 { got.stride } else { 0 };
        tracing::info!(path = %p, card = %caps.card, mode = %mode, "camera opened");
        Ok(V4l2Source {
            path: path.to_path_buf(),
            card: caps.card,
            mode,
            stride,
            out_size: req.size,
            stream,
            _dev: dev,
            seq: 0,
            bad_frames: 0,
            resizer: fir::Resizer::new(),
            pool: FramePool::default(),
        })
    }

    /// The one copy a camera frame takes: out of the driver's mapped buffer
    /// (which goes back to the driver at the next dequeue) into a pooled one.
    fn next_decoded(&mut self) -> Result<Option<Frame>, SourceError> {
        let (buf, meta) = match CaptureStream::next(&mut self.stream) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(SourceError::Stalled {
                    path: self.path.display().to_string(),
                    waited_ms: FRAME_TIMEOUT.as_millis() as u64,
                })
            }
            Err(e) => return Err(classify(&self.path, e)),
        };
        let used = (meta.bytesused as usize).min(buf.len());
        let bytes = if used == 0 { buf } else { &buf[..used] };
        let mode = self.mode;
        let Some(frame) = decode_frame(mode.format, mode.size, self.stride, bytes, &self.pool)
        else {
            return Ok(None);
        };
        let frame =
            fit_pooled(frame, self.out_size, &mut self.resizer, Some(&self.pool)).map_err(|e| {
                SourceError::BadFile {
                    path: self.path.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        Ok(Some(frame))
    }
}

impl FrameSource for V4l2Source {
    fn describe(&self) -> String {
        format!("{} ({}, {})", self.path.display(), self.card, self.mode)
    }

    fn is_live(&self) -> bool {
        true
    }

    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        // A few damaged frames in a row are normal at start; a long run is not.
        for _ in 0..30 {
            match self.next_decoded()? {
                Some(mut f) => {
                    f.seq = self.seq;
                    self.seq += 1;
                    return Ok(f);
                }
                None => self.bad_frames += 1,
            }
        }
        Err(SourceError::Lost {
            path: self.path.display().to_string(),
            reason: format!("{} damaged frames in a row", self.bad_frames),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> SourceRequest {
        SourceRequest {
            size: Size::new(640, 480),
            fps: 30.0,
            format: None,
        }
    }

    #[test]
    fn missing_camera_is_reported_with_a_hint() {
        let err = V4l2Source::open(Path::new("/dev/video-missing"), &req()).expect_err("missing");
        assert!(matches!(err, SourceError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("plugged in"));
        assert!(err.is_retryable());
    }

    #[test]
    fn a_file_that_is_not_a_device_is_refused_cleanly() {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        let err = V4l2Source::open(f.path(), &req()).expect_err("not a device");
        // QUERYCAP on a regular file: ENOTTY, reported as an I/O error on that path.
        assert!(
            err.to_string().contains(&f.path().display().to_string()),
            "{err}"
        );
    }
}
