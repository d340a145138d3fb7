//! Plain settings types: what the command line, the config file, D-Bus, the
//! saved state and the CLI name and exchange. Parse, print and validate only:
//! no I/O, no GPU, no threads, so every module that needs to name a setting
//! imports it from here and nothing above it.

pub mod background;
pub mod effects;
pub mod filter;
pub mod gpu;
pub mod output;
pub mod segmenter;
pub mod source;
pub mod studio;

/// Why a setting was refused. `Unknown` names something that is not in its
/// catalogue (a filter, a scene, a kind of source...), so callers can answer
/// it differently (D-Bus has `UnknownFilter`, `UnknownBackground`);
/// everything else is `Invalid`. Both messages say what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown {what} {name:?}{hint}")]
    Unknown {
        /// What was looked up: "filter", "scene", "background", "source", ...
        what: &'static str,
        name: String,
        /// The accepted choices, from "; " or ": " on.
        hint: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl From<crate::frame::FrameParseError> for SettingError {
    fn from(e: crate::frame::FrameParseError) -> Self {
        SettingError::Invalid(e.to_string())
    }
}

impl From<String> for SettingError {
    fn from(why: String) -> Self {
        SettingError::Invalid(why)
    }
}

impl SettingError {
    pub(crate) fn unknown(what: &'static str, name: &str, hint: impl Into<String>) -> Self {
        SettingError::Unknown {
            what,
            name: name.to_string(),
            hint: hint.into(),
        }
    }
}
