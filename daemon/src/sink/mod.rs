//! Outputs: the virtual camera (v4l2loopback and PipeWire), a y4m clip, and
//! a PNG of the latest frame. Each runs on its own thread behind a small queue.

pub mod pipewire;
pub mod png;
pub mod v4l2;
pub mod y4m;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::frame::{PixelFormat, SharedFrame};
use crate::settings::output::OutputSpec;

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
