//! The daemon's settings: the config file (`$XDG_CONFIG_HOME/bytemeet/config.toml`)
//! overlaid by command-line flags.

use std::path::Path;

use bytemeet_proto::ROOM_KBPS;
use serde::Deserialize;

use crate::frame::{PixelFormat, Size};
use crate::settings::background::BackgroundSpec;
use crate::settings::filter::FilterSpec;
use crate::settings::gpu::GpuPreference;
use crate::settings::output::OutputSpec;
use crate::settings::segmenter::SegmenterSpec;
use crate::settings::source::{CameraFormat, SourceSpec};
use crate::settings::SettingError;

/// The config file as written by users. Every key is optional.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `auto`, `demo`, `v4l2:/dev/videoN`, `pipewire:NODE` or `file:PATH`.
    pub source: Option<String>,
    /// Any of `auto`, `v4l2:/dev/videoN`, `y4m:PATH`, `png:PATH`.
    pub outputs: Option<Vec<String>>,
    /// `WIDTHxHEIGHT`.
    pub size: Option<String>,
    pub fps: Option<f64>,
    /// Virtual camera pixel format: `yuyv` (default) or `nv12`.
    pub output_format: Option<String>,
    /// Preferred camera format: `yuyv`, `nv12` or `mjpeg`; unset lets negotiation choose.
    pub camera_format: Option<String>,
    /// Starting filter, as `--filter` takes it.
    pub filter: Option<String>,
    /// Starting background, as `--background` takes it.
    pub background: Option<String>,
    /// How the person is found, as `--segmenter` takes it.
    pub segmenter: Option<String>,
    /// Starting avatar: the name of an installed pack.
    pub avatar: Option<String>,
    /// GPU choice: `auto`, `hardware`, `software`, `vulkan`, `gl`.
    pub gpu: Option<String>,
    /// Defaults for joining ByteMeet rooms.
    pub rooms: Option<RoomDefaults>,
    /// The studio page's server.
    pub studio: Option<crate::settings::studio::StudioSettings>,
}

/// `[rooms]`: what `bytemeetctl room join` uses when it is not told.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoomDefaults {
    /// The room server, e.g. `http://meet.example.org:3030`; lets
    /// `room join ROOM` name just the room.
    pub server: Option<String>,
    /// The name others see.
    pub display_name: Option<String>,
    /// The most a room's video may use, in kbit/s (default 2500); a join
    /// can ask for less or more.
    pub max_kbps: Option<u32>,
}

impl RoomDefaults {
    fn check(&self) -> Result<(), SettingError> {
        if let Some(s) = &self.server {
            bytemeet_proto::signal::check_server(s).map_err(SettingError::Invalid)?;
        }
        if let Some(n) = &self.display_name {
            bytemeet_proto::signal::display_name(n)
                .map_err(|why| SettingError::Invalid(format!("display_name: {why}")))?;
        }
        if let Some(k) = self.max_kbps {
            check_kbps(k)?;
        }
        Ok(())
    }
}

/// Checks a room bitrate ceiling.
pub fn check_kbps(kbps: u32) -> Result<(), SettingError> {
    if ROOM_KBPS.contains(&kbps) {
        Ok(())
    } else {
        Err(SettingError::Invalid(format!(
            "max_kbps {kbps}: give {}..{} kbit/s",
            ROOM_KBPS.start(),
            ROOM_KBPS.end()
        )))
    }
}

/// Settings after defaults, file and flags are combined and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub source: SourceSpec,
    pub outputs: Vec<OutputSpec>,
    pub size: Size,
    pub fps: f64,
    pub output_format: PixelFormat,
    pub camera_format: Option<CameraFormat>,
    pub filter: Option<FilterSpec>,
    pub background: BackgroundSpec,
    pub segmenter: SegmenterSpec,
    pub gpu: GpuPreference,
    pub rooms: RoomDefaults,
    pub avatar: Option<String>,
    pub studio: crate::settings::studio::StudioSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            source: SourceSpec::Auto,
            outputs: vec![OutputSpec::Auto],
            size: Size::new(1280, 720),
            fps: 30.0,
            output_format: PixelFormat::Yuyv,
            camera_format: None,
            filter: None,
            background: BackgroundSpec::None,
            segmenter: SegmenterSpec::default(),
            gpu: GpuPreference::Auto,
            rooms: RoomDefaults::default(),
            avatar: None,
            studio: Default::default(),
        }
    }
}

/// A config file problem, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("{path}{}: key `{key}`: {reason}", line.map(|n| format!(":{n}")).unwrap_or_default())]
    Value {
        path: String,
        key: String,
        /// 1-based line of the key, when the text was at hand.
        line: Option<usize>,
        reason: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The 1-based line where `key` is set in a TOML text, if at the top level.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// Reads and checks a config file over the defaults; a missing file is
/// `Ok(None)`. Errors name the file, the line and the key.
pub fn read(path: &Path) -> Result<Option<(ConfigFile, Settings)>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Io {
                path: path.display().to_string(),
                source: e,
            })
        }
    };
    parse(&text, path).map(Some)
}

/// Parses and checks config text (as read from `path`, which errors name)
/// over the defaults.
pub fn parse(text: &str, path: &Path) -> Result<(ConfigFile, Settings), ConfigError> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    match Settings::default().with_file(&file, path) {
        Ok(s) => Ok((file, s)),
        Err(ConfigError::Value {
            path, key, reason, ..
        }) => Err(ConfigError::Value {
            line: line_of(text, &key),
            path,
            key,
            reason,
        }),
        Err(e) => Err(e),
    }
}

impl Settings {
    /// Applies a config file over the defaults, checking every value.
    pub fn with_file(mut self, file: &ConfigFile, path: &Path) -> Result<Self, ConfigError> {
        let bad = |key: &str, reason: &dyn std::fmt::Display| ConfigError::Value {
            path: path.display().to_string(),
            key: key.to_string(),
            line: None,
            reason: reason.to_string(),
        };
        if let Some(s) = &file.source {
            self.source = s.parse().map_err(|e| bad("source", &e))?;
        }
        if let Some(outs) = &file.outputs {
            self.outputs = outs
                .iter()
                .map(|o| o.parse())
                .collect::<Result<_, _>>()
                .map_err(|e| bad("outputs", &e))?;
        }
        if let Some(s) = &file.size {
            self.size = s.parse().map_err(|e| bad("size", &e))?;
        }
        if let Some(fps) = file.fps {
            self.fps = check_fps(fps).map_err(|e| bad("fps", &e))?;
        }
        if let Some(f) = &file.output_format {
            self.output_format = parse_vcam_format(f).map_err(|e| bad("output_format", &e))?;
        }
        if let Some(f) = &file.camera_format {
            self.camera_format = Some(f.parse().map_err(|e| bad("camera_format", &e))?);
        }
        if let Some(b) = &file.background {
            self.background = b.parse().map_err(|e| bad("background", &e))?;
        }
        if let Some(seg) = &file.segmenter {
            self.segmenter = seg.parse().map_err(|e| bad("segmenter", &e))?;
        }
        if let Some(f) = &file.filter {
            self.filter = Some(f.parse().map_err(|e| bad("filter", &e))?);
        }
        if let Some(g) = &file.gpu {
            self.gpu = g.parse().map_err(|e| bad("gpu", &e))?;
        }
        if let Some(a) = &file.avatar {
            let a = a.trim();
            self.avatar = if crate::settings::effects::is_off(a) {
                None
            } else if crate::avatar::pack::valid_name(a) {
                Some(a.to_string())
            } else {
                return Err(bad(
                    "avatar",
                    &format!("{a:?} is not an avatar name (see `bytemeetd --list-avatars`)"),
                ));
            };
        }
        if let Some(r) = &file.rooms {
            r.check().map_err(|e| bad("rooms", &e))?;
            self.rooms = r.clone();
        }
        if let Some(st) = &file.studio {
            self.studio = st.clone();
        }
        Ok(self)
    }
}

pub fn check_fps(fps: f64) -> Result<f64, SettingError> {
    if fps.is_finite() && (1.0..=240.0).contains(&fps) {
        Ok(fps)
    } else {
        Err(SettingError::Invalid(format!(
            "frame rate {fps} is outside 1..=240"
        )))
    }
}

/// Virtual camera formats: the ones every V4L2 reader understands.
pub fn parse_vcam_format(s: &str) -> Result<PixelFormat, SettingError> {
    match s.parse::<PixelFormat>()? {
        f @ (PixelFormat::Yuyv | PixelFormat::Nv12) => Ok(f),
        other => Err(SettingError::Invalid(format!(
            "the virtual camera speaks yuyv or nv12, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../packaging/config.example.toml");
        let file: ConfigFile = toml::from_str(text).expect("example parses");
        let s = Settings::default()
            .with_file(&file, Path::new("example"))
            .expect("valid");
        assert_eq!(s.size, Size::new(1280, 720));
        assert_eq!(s.outputs, vec![OutputSpec::Auto]);
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        let file: ConfigFile = toml::from_str("size = \"huge\"").expect("toml");
        let err = Settings::default()
            .with_file(&file, Path::new("/c.toml"))
            .expect_err("bad size");
        let msg = err.to_string();
        assert!(msg.contains("/c.toml") && msg.contains("`size`"), "{msg}");
        let file: ConfigFile = toml::from_str("output_format = \"rgba\"").expect("toml");
        assert!(Settings::default()
            .with_file(&file, Path::new("c"))
            .is_err());
        let file: ConfigFile = toml::from_str("fps = 0").expect("toml");
        assert!(Settings::default()
            .with_file(&file, Path::new("c"))
            .is_err());
    }

    #[test]
    fn read_names_the_line_of_a_bad_value() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("config.toml");
        std::fs::write(
            &p,
            "# effects\nsource = \"demo\"\n\nfilter = \"sparkles\"\n",
        )
        .expect("write");
        let msg = read(&p).expect_err("bad filter").to_string();
        assert!(
            msg.starts_with(&format!("{}:4: key `filter`", p.display())),
            "{msg}"
        );
        std::fs::write(&p, "source = \"demo\"\nfps = \n").expect("write");
        let msg = read(&p).expect_err("bad toml").to_string();
        assert!(msg.contains("line 2"), "{msg}");
        std::fs::write(&p, "filter = \"sepia\"\n").expect("write");
        let (file, s) = read(&p).expect("ok").expect("present");
        assert_eq!(file.filter.as_deref(), Some("sepia"));
        assert_eq!(s.filter.map(|f| f.name), Some("sepia".to_string()));
    }

    #[test]
    fn room_defaults_are_checked() {
        let file: ConfigFile =
            toml::from_str("[rooms]\nserver = \"http://127.0.0.1:3030\"\ndisplay_name = \"Ada\"\n")
                .expect("toml");
        let s = Settings::default()
            .with_file(&file, Path::new("c"))
            .expect("valid");
        assert_eq!(s.rooms.display_name.as_deref(), Some("Ada"));
        let file: ConfigFile =
            toml::from_str("[rooms]\nserver = \"meet.example\"\n").expect("toml");
        let err = Settings::default()
            .with_file(&file, Path::new("c"))
            .expect_err("no scheme");
        assert!(err.to_string().contains("`rooms`"), "{err}");
        // The same scheme policy as `room join`: https is refused, with why.
        let file: ConfigFile =
            toml::from_str("[rooms]\nserver = \"https://meet.example\"\n").expect("toml");
        let err = Settings::default()
            .with_file(&file, Path::new("c"))
            .expect_err("https");
        assert!(err.to_string().contains("https room servers"), "{err}");
        let file: ConfigFile =
            toml::from_str("[rooms]\ndisplay_name = \"a\\u0007b\"\n").expect("toml");
        let err = Settings::default()
            .with_file(&file, Path::new("c"))
            .expect_err("control character");
        assert!(err.to_string().contains("1-64 printable"), "{err}");
        let file: ConfigFile = toml::from_str("[rooms]\nmax_kbps = 50\n").expect("toml");
        let err = Settings::default()
            .with_file(&file, Path::new("c"))
            .expect_err("too low");
        assert!(err.to_string().contains("150..20000"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_and_missing_files_are_fine() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("config.toml");
        assert!(read(&p).expect("missing is ok").is_none());
        std::fs::write(&p, "sorce = \"demo\"\n").expect("write");
        let err = read(&p).expect_err("typo");
        assert!(err.to_string().contains("sorce"), "{err}");
    }
}
