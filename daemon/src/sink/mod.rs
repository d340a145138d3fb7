//! Outputs: the virtual camera (v4l2loopback and PipeWire), a y4m clip, and
//! a PNG of the latest frame. Each runs on its own thread behind a small queue.

pub mod pipewire;
pub mod png;
pub mod v4l2;
pub mod y4m;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::frame::{PixelFormat, SharedFrame};
use crate::source::non_empty;

/// Where frames go, as written on the command line or in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// The virtual camera wherever it can be: on PipeWire when a PipeWire
    /// session is there, on the best v4l2loopback device (label "ByteMeet
    /// Camera" first) when the module is loaded; both when both are.
    Auto,
    /// A specific v4l2loopback node.
    V4l2(PathBuf),
    /// A PipeWire camera node; `None` names it `bytemeet-camera`.
    PipeWire(Option<String>),
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
        if s == "pipewire" {
            return Ok(OutputSpec::PipeWire(None));
        }
        if let Some(name) = s.strip_prefix("pipewire:") {
            return node_name(name).map(|n| OutputSpec::PipeWire(Some(n)));
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
            "unknown output {s:?}: use auto, pipewire, pipewire:NODE_NAME, v4l2:/dev/videoN, y4m:PATH or png:PATH"
        ))
    }
}

impl fmt::Display for OutputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputSpec::Auto => f.write_str("auto"),
            OutputSpec::V4l2(p) => write!(f, "v4l2:{}", p.display()),
            OutputSpec::PipeWire(None) => f.write_str("pipewire"),
            OutputSpec::PipeWire(Some(n)) => write!(f, "pipewire:{n}"),
            OutputSpec::Y4m(p) => write!(f, "y4m:{}", p.display()),
            OutputSpec::Png(p) => write!(f, "png:{}", p.display()),
        }
    }
}

/// A PipeWire node name: letters, digits, `-`, `_` and `.`, at most 64.
fn node_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "bad PipeWire node name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"
        ))
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

    /// How many readers an on-demand output has now (`None` for files).
    pub fn readers(&self) -> Option<u32> {
        match self {
            Demand::Always => None,
            Demand::Readers(n) => Some(n.load(Ordering::Relaxed)),
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
    /// Takes one picture; shared, so an output that hands it to another
    /// thread keeps a reference instead of copying it.
    fn write(&mut self, frame: &SharedFrame) -> Result<(), SinkError>;
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

/// Opens the outputs a spec names. `Auto` opens every virtual camera this
/// machine can have (PipeWire, v4l2loopback) and none, after a warning that
/// says how to get one, when neither is there: the daemon runs on.
pub fn open(
    spec: &OutputSpec,
    size: crate::frame::Size,
    fps: f64,
    vcam_format: PixelFormat,
) -> Result<Vec<Box<dyn FrameSink>>, SinkError> {
    let one = |s: Box<dyn FrameSink>| Ok(vec![s]);
    match spec {
        OutputSpec::Auto => {
            let mut sinks: Vec<Box<dyn FrameSink>> = Vec::new();
            let mut missing = Vec::new();
            if crate::pipewire::session_available() {
                sinks.push(Box::new(pipewire::PipeWireSink::start(
                    None,
                    size,
                    vcam_format,
                    fps,
                )?));
            } else {
                missing.push(
                    "no PipeWire session (its socket is not in $XDG_RUNTIME_DIR)".to_string(),
                );
            }
            match v4l2::V4l2Sink::auto(size, vcam_format, fps) {
                Ok(s) => sinks.push(Box::new(s)),
                Err(why) if sinks.is_empty() => missing.push(why),
                Err(why) => tracing::info!("no v4l2loopback camera beside PipeWire: {why}"),
            }
            if sinks.is_empty() {
                tracing::warn!("no virtual camera: {}", missing.join("; "));
            }
            Ok(sinks)
        }
        OutputSpec::V4l2(p) => one(Box::new(v4l2::V4l2Sink::open(
            p.clone(),
            size,
            vcam_format,
            fps,
        )?)),
        OutputSpec::PipeWire(name) => one(Box::new(pipewire::PipeWireSink::start(
            name.as_deref(),
            size,
            vcam_format,
            fps,
        )?)),
        OutputSpec::Y4m(p) => one(Box::new(y4m::Y4mSink::create(p, size, fps)?)),
        OutputSpec::Png(p) => one(Box::new(png::PngSink::new(p)?)),
    }
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
        assert_eq!("pipewire".parse(), Ok(OutputSpec::PipeWire(None)));
        assert_eq!(
            "pipewire:my-cam.2".parse(),
            Ok(OutputSpec::PipeWire(Some("my-cam.2".into())))
        );
        assert!("pipewire:".parse::<OutputSpec>().is_err());
        assert!("pipewire:a b".parse::<OutputSpec>().is_err());
        assert!("png:".parse::<OutputSpec>().is_err());
        let err = "rtmp://x"
            .parse::<OutputSpec>()
            .expect_err("unknown scheme");
        assert!(err.contains("y4m:PATH"));
        for s in [
            "auto",
            "v4l2:/dev/video10",
            "pipewire",
            "pipewire:cam",
            "y4m:a.y4m",
            "png:b.png",
        ] {
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
        assert_eq!(d.readers(), Some(2));
        assert!(Demand::Always.wants_frames());
        assert_eq!(Demand::Always.readers(), None);
    }
}
