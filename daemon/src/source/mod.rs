//! Frame sources: the real webcam (V4L2), the built-in demo portrait, and files.

pub mod demo;
pub mod file;
pub mod pipewire;
pub mod v4l2;

use crate::frame::Frame;
use crate::settings::source::{SourceRequest, SourceSpec};

/// Why a source could not deliver, each with what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "{path}: no such device. Is the webcam plugged in? `v4l2-ctl --list-devices` lists cameras"
    )]
    NotFound { path: String },
    #[error("{path}: permission denied. Add yourself to the `video` group (`sudo usermod -aG video $USER`, then log in again)")]
    PermissionDenied { path: String },
    #[error("{path} is busy{holders}. Close the other program using the camera, or pick another with --source")]
    Busy { path: String, holders: String },
    #[error("{path} is not a capture device: {why}")]
    NotACamera { path: String, why: String },
    #[error("{path} offers no format ByteMeet reads (it offers {offered}); supported: YUYV, NV12, MJPEG")]
    Unsupported { path: String, offered: String },
    #[error("{path} went away ({reason}). Was the camera unplugged? Waiting for it to come back")]
    Lost { path: String, reason: String },
    #[error("{path} delivered no frame for {waited_ms} ms. Retrying")]
    Stalled { path: String, waited_ms: u64 },
    #[error("a webcam appeared at {path}: switching to it")]
    CameraAppeared { path: String },
    #[error("pipewire:{node}: {reason}")]
    PipeWire { node: String, reason: String },
    #[error("{path}: {reason}")]
    BadFile { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl SourceError {
    /// Worth trying again later (a device that may come back), as opposed to a
    /// file that will stay bad.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            SourceError::BadFile { .. }
                | SourceError::Unsupported { .. }
                | SourceError::NotACamera { .. }
        )
    }
}

/// Something that yields frames, one call at a time.
pub trait FrameSource: Send {
    /// A short human description: "demo portrait", "/dev/video0 (HD Webcam, MJPEG 1280x720@30)".
    fn describe(&self) -> String;
    /// True when the source paces itself (a camera); false when the pipeline must
    /// pace it to the configured frame rate (demo, files).
    fn is_live(&self) -> bool;
    /// Blocks until the next frame (a camera) or makes one (demo, files).
    fn next_frame(&mut self) -> Result<Frame, SourceError>;
}

/// Opens the source a spec names. `Auto` falls back to the demo when no camera
/// exists; that demo ends with `CameraAppeared` once one is plugged in.
pub fn open(spec: &SourceSpec, req: &SourceRequest) -> Result<Box<dyn FrameSource>, SourceError> {
    match spec {
        SourceSpec::Demo => Ok(Box::new(demo::DemoSource::new(req.size, req.fps)?)),
        SourceSpec::File(path) => file::open(path, req.size),
        SourceSpec::V4l2(path) => Ok(Box::new(v4l2::V4l2Source::open(path, req)?)),
        SourceSpec::PipeWire(node) => Ok(Box::new(pipewire::PipeWireSource::open(node, req)?)),
        // No webcam: the demo, until one is plugged in.
        SourceSpec::Auto => match crate::v4l2::discover::first_camera() {
            Some(path) => Ok(Box::new(v4l2::V4l2Source::open(&path, req)?)),
            None => Ok(Box::new(
                demo::DemoSource::new(req.size, req.fps)?.watching_for_camera(),
            )),
        },
    }
}
