//! How the person is found (`--segmenter`, `segmenter` in the config): the
//! segmentation model, or a coloured backdrop keyed out, with its colour.

use crate::settings::SettingError;

/// How the person is found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum SegmenterSpec {
    /// The person segmentation model.
    #[default]
    Model,
    /// A coloured backdrop, keyed out.
    Chroma { key: ChromaKey },
}

impl std::str::FromStr for SegmenterSpec {
    type Err = SettingError;

    /// `model`, `chroma` (green), `chroma:blue`, `chroma:#RRGGBB`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, arg) = s.trim().split_once(':').unwrap_or((s.trim(), ""));
        match kind.to_ascii_lowercase().as_str() {
            "model" => Ok(SegmenterSpec::Model),
            "chroma" => Ok(SegmenterSpec::Chroma {
                key: if arg.is_empty() {
                    ChromaKey::GREEN
                } else {
                    arg.parse()?
                },
            }),
            other => Err(SettingError::unknown(
                "segmenter",
                other,
                ": use model or chroma[:green|blue|#RRGGBB]",
            )),
        }
    }
}

impl SegmenterSpec {
    /// The model, the default (left out of saved state).
    pub fn is_model(&self) -> bool {
        matches!(self, SegmenterSpec::Model)
    }
}

/// As it parses back: `model`, `chroma:green`, `chroma:blue`, `chroma:#RRGGBB`.
impl std::fmt::Display for SegmenterSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SegmenterSpec::Model => f.write_str("model"),
            SegmenterSpec::Chroma { key } => write!(f, "chroma:{key}"),
        }
    }
}

/// Saved as its text (`segmenter = "chroma:blue"`), as the config file
/// writes it: `#[serde(with = "as_text")]`.
pub mod as_text {
    use super::SegmenterSpec;

    pub fn serialize<S: serde::Serializer>(spec: &SegmenterSpec, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(spec)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SegmenterSpec, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A backdrop colour with its tolerances (the keying itself is
/// `perception::chroma`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChromaKey {
    pub rgb: [u8; 3],
    /// Key score (1 = the key colour itself) at or below which a pixel is all person.
    pub person_below: f32,
    /// Key score at or above which a pixel is all backdrop.
    pub backdrop_above: f32,
}

impl ChromaKey {
    pub const GREEN: ChromaKey = ChromaKey {
        rgb: [0, 177, 64],
        person_below: 0.25,
        backdrop_above: 0.45,
    };
    pub const BLUE: ChromaKey = ChromaKey {
        rgb: [0, 71, 187],
        person_below: 0.25,
        backdrop_above: 0.45,
    };
}

/// `green`, `blue`, or `#RRGGBB` for any other colour.
impl std::fmt::Display for ChromaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == ChromaKey::GREEN {
            f.write_str("green")
        } else if *self == ChromaKey::BLUE {
            f.write_str("blue")
        } else {
            let [r, g, b] = self.rgb;
            write!(f, "#{r:02X}{g:02X}{b:02X}")
        }
    }
}

impl std::str::FromStr for ChromaKey {
    type Err = SettingError;

    /// `green`, `blue` or `#RRGGBB`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "green" => return Ok(ChromaKey::GREEN),
            "blue" => return Ok(ChromaKey::BLUE),
            _ => {}
        }
        let hex = s.strip_prefix('#').unwrap_or(s);
        let bad = || SettingError::Invalid(format!("chroma key {s:?}: use green, blue or #RRGGBB"));
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(ChromaKey {
            rgb: [byte(0)?, byte(2)?, byte(4)?],
            ..ChromaKey::GREEN
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_hex() {
        assert_eq!("blue".parse::<ChromaKey>(), Ok(ChromaKey::BLUE));
        assert_eq!(
            "#00FF00".parse::<ChromaKey>().map(|k| k.rgb),
            Ok([0, 255, 0])
        );
        assert!("#0f0".parse::<ChromaKey>().is_err());
        assert!("chartreuse".parse::<ChromaKey>().is_err());
    }

    #[test]
    fn segmenters_parse_with_typed_errors() {
        assert_eq!("model".parse::<SegmenterSpec>(), Ok(SegmenterSpec::Model));
        assert_eq!(
            "chroma".parse::<SegmenterSpec>(),
            Ok(SegmenterSpec::Chroma {
                key: ChromaKey::GREEN
            })
        );
        assert_eq!(
            "Chroma:blue".parse::<SegmenterSpec>(),
            Ok(SegmenterSpec::Chroma {
                key: ChromaKey::BLUE
            })
        );
        assert!(matches!(
            "magic".parse::<SegmenterSpec>(),
            Err(SettingError::Unknown {
                what: "segmenter",
                ..
            })
        ));
        assert!(matches!(
            "chroma:mauve".parse::<SegmenterSpec>(),
            Err(SettingError::Invalid(_))
        ));
    }

    #[test]
    fn segmenters_print_as_they_parse() {
        for text in ["model", "chroma:green", "chroma:blue", "chroma:#12AB00"] {
            let spec: SegmenterSpec = text.parse().expect(text);
            assert_eq!(spec.to_string(), text);
            assert_eq!(spec.to_string().parse::<SegmenterSpec>(), Ok(spec));
        }
        // A hex spelling of a named key prints as the name.
        assert_eq!(
            "chroma:#00B140"
                .parse::<SegmenterSpec>()
                .map(|s| s.to_string()),
            Ok("chroma:green".to_string())
        );
    }
}
