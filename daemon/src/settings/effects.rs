//! The effects in use, as plain data.

use crate::settings::background::BackgroundSpec;
use crate::settings::filter::FilterSpec;
use crate::settings::segmenter::SegmenterSpec;

/// Whether an effect argument means "none" (`""`, `none`, `off`, any case),
/// wherever effects are chosen: flags, config, D-Bus.
pub fn is_off(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "" | "none" | "off")
}

/// What the picture should look like: the one plain-data type that the
/// command line, the config file, D-Bus and the persisted state all read and
/// write.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EffectsState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterSpec>,
    #[serde(default)]
    pub background: BackgroundSpec,
    /// Name of the avatar pack worn, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// How the person is found for backgrounds and avatars (the model, or a
    /// coloured backdrop keyed out). Not an effect itself: clearing the
    /// effects keeps it.
    #[serde(
        default,
        skip_serializing_if = "SegmenterSpec::is_model",
        with = "crate::settings::segmenter::as_text"
    )]
    pub segmenter: SegmenterSpec,
}
