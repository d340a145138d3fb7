//! Where frames come from, as plain data: the source spec of flags, config
//! and D-Bus, what the pipeline asks of a source, and the camera formats.

use crate::settings::SettingError;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::frame::{PixelFormat, Size};

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
    type Err = SettingError;
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
                Err(SettingError::Invalid(format!("{s:?} names no node: use pipewire:NODE (a node.name or object.serial, see `pw-cli ls Node`)")))
            } else {
                Ok(SourceSpec::PipeWire(node.to_string()))
            };
        }
        if s.starts_with("/dev/video") {
            return Ok(SourceSpec::V4l2(PathBuf::from(s)));
        }
        Err(SettingError::unknown(
            "source",
            s,
            ": use auto, demo, v4l2:/dev/videoN, pipewire:NODE or file:PATH (.y4m clip or image)",
        ))
    }
}

pub(crate) fn non_empty(path: &str, whole: &str) -> Result<PathBuf, SettingError> {
    if path.is_empty() {
        Err(SettingError::Invalid(format!("{whole:?} names no path")))
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
    type Err = SettingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "yuyv" | "yuy2" => Ok(CameraFormat::Yuyv),
            "nv12" => Ok(CameraFormat::Nv12),
            "mjpeg" | "mjpg" => Ok(CameraFormat::Mjpeg),
            other => Err(SettingError::unknown(
                "camera format",
                other,
                ": use yuyv, nv12 or mjpeg",
            )),
        }
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
        assert!(err.to_string().contains("v4l2:/dev/videoN"), "{err}");
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
