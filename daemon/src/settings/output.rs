//! Where frames go, as plain data: the output spec of flags and config.

use crate::settings::SettingError;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::settings::source::non_empty;

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
    type Err = SettingError;
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
        Err(SettingError::unknown(
            "output",
            s,
            ": use auto, pipewire, pipewire:NODE_NAME, v4l2:/dev/videoN, y4m:PATH or png:PATH",
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
fn node_name(name: &str) -> Result<String, SettingError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(SettingError::Invalid(format!(
            "bad PipeWire node name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"
        )))
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
        assert!(err.to_string().contains("y4m:PATH"));
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
}
