//! Outputs: the virtual camera (v4l2loopback), a y4m clip, and a PNG of the
//! latest frame. Each runs on its own thread behind a small queue.

pub mod png;
pub mod v4l2;
pub mod y4m;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::frame::{Frame, PixelFormat};
use crate::source::non_empty;

/// Where frames go, as written on the command line or in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// The best v4l2loopback device (label "ByteMeet Camera" first).
    Auto,
    /// A specific v4l2loopback node.
    V4l2(PathBuf),
    /// A y4m clip.
    Y4m(PathBuf),
    /// A PNG holding the latest frame.
    Png(PathBuf),
}

impl FromStr for OutputSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "auto" {
            return Ok(OutputSpec::Auto);
        }
        if let Some(p) = s.strip_prefix("v4l2:") {
            return non_empty(p, s).map(OutputSpec::V4l2);
        }
        if let Some(p) = s.strip_prefix("y4m:") {
            return non_empty(p, s).map(OutputSpec::Y4m);
        }
        if let Some(p) = s.strip_prefix("png:") {
            return non_empty(p, s).map(OutputSpec::Png);
        }
        if s.starts_with("/dev/video") {
            return Ok(OutputSpec::V4l2(PathBuf::from(s)));
        }
        Err(format!(
            "unknown output {s:?}: use auto, v4l2:/dev/videoN, y4m:PATH or png:PATH"
        ))
    }
}

impl fmt::Display for OutputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputSpec::Auto => f.write_str("auto"),
            OutputSpec::V4l2(p) => write!(f, "v4l2:{}", p.display()),
            OutputSpec::Y4m(p) => write!(f, "y4m:{}", p.display()),
            OutputSpec::Png(p) => write!(f, "png:{}", p.display()),
        }
    }
}

/// Whether an output needs the real camera.
#[derive(Debug, Clone)]
pub enum Demand {
    /// Files: always.
    Always,
    /// The virtual camera: only while it has readers (count updated by the sink).
    Readers(Arc<AtomicU32>),
}

impl Demand {
    pub fn wants_frames(&self) -> bool {
        match self {
            Demand::Always => true,
            Demand::Readers(n) => n.load(Ordering::Relaxed) > 0,
        }
    }
}

/// Why an output could not take a frame.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Loopback(#[from] crate::v4l2::output::OutputError),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}

/// One output.
pub trait FrameSink: Send {
    /// "virtual camera /dev/video10 (ByteMeet Camera, YUYV 1280x720)".
    fn describe(&self) -> String;
    /// The pixel format frames must arrive in.
    fn format(&self) -> PixelFormat;
    fn demand(&self) -> Demand;
    fn write(&mut self, frame: &Frame) -> Result<(), SinkError>;
    /// True for recordings, where a batch run must deliver every frame; false
    /// for "latest picture" outputs, which skip frames rather than slow the loop.
    fn keeps_every_frame(&self) -> bool {
        false
    }
    /// Flushes what is buffered; called once when the pipeline stops.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Opens the output a spec names. `Auto` with no usable virtual camera yields
/// `Ok(None)` after a warning that says how to get one: the daemon runs on.
pub fn open(
    spec: &OutputSpec,
    size: crate::frame::Size,
    fps: f64,
    vcam_format: PixelFormat,
) -> Result<Option<Box<dyn FrameSink>>, SinkError> {
    Ok(match spec {
        OutputSpec::Auto => match v4l2::V4l2Sink::auto(size, vcam_format, fps) {
            Ok(s) => Some(Box::new(s)),
            Err(why) => {
                tracing::warn!("{why}");
                None
            }
        },
        OutputSpec::V4l2(p) => Some(Box::new(v4l2::V4l2Sink::open(
            p.clone(),
            size,
            vcam_format,
            fps,
        )?)),
        OutputSpec::Y4m(p) => Some(Box::new(y4m::Y4mSink::create(p, size, fps)?)),
        OutputSpec::Png(p) => Some(Box::new(png::PngSink::new(p)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!("auto".parse(), Ok(OutputSpec::Auto));
        assert_eq!(
            "v4l2:/dev/video10".parse(),
            Ok(OutputSpec::V4l2("/dev/video10".into()))
        );
        assert_eq!(
            "/dev/video10".parse(),
            Ok(OutputSpec::V4l2("/dev/video10".into()))
        );
        assert_eq!(
            "y4m:/tmp/a.y4m".parse(),
            Ok(OutputSpec::Y4m("/tmp/a.y4m".into()))
        );
        assert_eq!("png:f.png".parse(), Ok(OutputSpec::Png("f.png".into())));
        assert!("png:".parse::<OutputSpec>().is_err());
        let err = "rtmp://x"
            .parse::<OutputSpec>()
            .expect_err("unknown scheme");
        assert!(err.contains("y4m:PATH"));
        for s in ["auto", "v4l2:/dev/video10", "y4m:a.y4m", "png:b.png"] {
            assert_eq!(
                s.parse::<OutputSpec>().map(|o| o.to_string()),
                Ok(s.to_string())
            );
        }
    }

    #[test]
    fn demand_follows_readers() {
        let n = Arc::new(AtomicU32::new(0));
        let d = Demand::Readers(n.clone());
        assert!(!d.wants_frames());
        n.store(2, Ordering::Relaxed);
        assert!(d.wants_frames());
        assert!(Demand::Always.wants_frames());
    }
}
