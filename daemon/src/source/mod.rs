//! Frame sources: the real webcam (V4L2), the built-in demo portrait, and files.

pub mod demo;
pub mod file;
pub mod pipewire;
pub mod v4l2;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::frame::{Frame, PixelFormat, Size};

/// Where frames come from, as written on the command line or in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// The first real capture device (not a v4l2loopback), else the demo.
    Auto,
    /// The animated built-in portrait.
    Demo,
    /// A V4L2 capture device node.
    V4l2(PathBuf),
    /// A `.y4m` clip (looped) or a still image.
    File(PathBuf),
    /// A PipeWire video source, by `node.name` or `object.serial`.
    PipeWire(String),
}

impl FromStr for SourceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s {
            "auto" => return Ok(SourceSpec::Auto),
            "demo" => return Ok(SourceSpec::Demo),
            _ => {}
        }
        if let Some(path) = s.strip_prefix("v4l2:") {
            return non_empty(path, s).map(SourceSpec::V4l2);
        }
        if let Some(path) = s.strip_prefix("file:") {
            return non_empty(path, s).map(SourceSpec::File);
        }
        if let Some(node) = s.strip_prefix("pipewire:") {
            return if node.is_empty() {
                Err(format!("{s:?} names no node: use pipewire:NODE (a node.name or object.serial, see `pw-cli ls Node`)"))
            } else {
                Ok(SourceSpec::PipeWire(node.to_string()))
            };
        }
        if s.starts_with("/dev/video") {
            return Ok(SourceSpec::V4l2(PathBuf::from(s)));
        }
        Err(format!(
            "unknown source {s:?}: use auto, demo, v4l2:/dev/videoN, pipewire:NODE or file:PATH (.y4m clip or image)"
        ))
    }
}

pub(crate) fn non_empty(path: &str, whole: &str) -> Result<PathBuf, String> {
    if path.is_empty() {
        Err(format!("{whole:?} names no path"))
    } else {
        Ok(PathBuf::from(path))
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Auto => f.write_str("auto"),
            SourceSpec::Demo => f.write_str("demo"),
            SourceSpec::V4l2(p) => write!(f, "v4l2:{}", p.display()),
            SourceSpec::File(p) => write!(f, "file:{}", p.display()),
            SourceSpec::PipeWire(node) => write!(f, "pipewire:{node}"),
        }
    }
}

/// What the pipeline asks of a source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceRequest {
    pub size: Size,
    pub fps: f64,
    /// Preferred camera pixel format; `None` lets negotiation choose.
    pub format: Option<CameraFormat>,
}

/// Pixel formats a camera may deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraFormat {
    Yuyv,
    Nv12,
    Mjpeg,
}

impl CameraFormat {
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            CameraFormat::Yuyv => *b"YUYV",
            CameraFormat::Nv12 => *b"NV12",
            CameraFormat::Mjpeg => *b"MJPG",
        }
    }

    pub fn from_fourcc(code: [u8; 4]) -> Option<Self> {
        match &code {
            b"YUYV" => Some(CameraFormat::Yuyv),
            b"NV12" => Some(CameraFormat::Nv12),
            b"MJPG" | b"JPEG" => Some(CameraFormat::Mjpeg),
            _ => None,
        }
    }

    /// The format frames have after decoding.
    pub fn decoded(self) -> PixelFormat {
        match self {
            CameraFormat::Yuyv => PixelFormat::Yuyv,
            CameraFormat::Nv12 => PixelFormat::Nv12,
            CameraFormat::Mjpeg => PixelFormat::Rgba,
        }
    }
}

impl FromStr for CameraFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "yuyv" | "yuy2" => Ok(CameraFormat::Yuyv),
            "nv12" => Ok(CameraFormat::Nv12),
            "mjpeg" | "mjpg" => Ok(CameraFormat::Mjpeg),
            other => Err(format!(
                "unknown camera format {other:?}: use yuyv, nv12 or mjpeg"
            )),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!("auto".parse(), Ok(SourceSpec::Auto));
        assert_eq!("demo".parse(), Ok(SourceSpec::Demo));
        assert_eq!(
            "v4l2:/dev/video3".parse(),
            Ok(SourceSpec::V4l2("/dev/video3".into()))
        );
        assert_eq!(
            "/dev/video1".parse(),
            Ok(SourceSpec::V4l2("/dev/video1".into()))
        );
        assert_eq!("file:a.y4m".parse(), Ok(SourceSpec::File("a.y4m".into())));
        assert!("file:".parse::<SourceSpec>().is_err());
        let err = "webcam".parse::<SourceSpec>().expect_err("unknown");
        assert!(err.contains("v4l2:/dev/videoN"), "{err}");
        assert_eq!(
            "pipewire:usb-cam".parse(),
            Ok(SourceSpec::PipeWire("usb-cam".into()))
        );
        assert!("pipewire:".parse::<SourceSpec>().is_err());
        for s in [
            "auto",
            "demo",
            "v4l2:/dev/video3",
            "file:x.png",
            "pipewire:42",
        ] {
            assert_eq!(
                s.parse::<SourceSpec>().map(|x| x.to_string()),
                Ok(s.to_string())
            );
        }
    }

    #[test]
    fn camera_formats_map_to_fourcc() {
        for f in [CameraFormat::Yuyv, CameraFormat::Nv12, CameraFormat::Mjpeg] {
            assert_eq!(CameraFormat::from_fourcc(f.fourcc()), Some(f));
        }
        assert_eq!(CameraFormat::from_fourcc(*b"H264"), None);
    }
}
