//! The filter catalogue: names, one-line descriptions, parameters with their
//! ranges, and parsing of `--filter NAME[:key=value,...]`.

use crate::settings::SettingError;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One tunable number of a filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamInfo {
    pub name: &'static str,
    pub default: f32,
    pub min: f32,
    pub max: f32,
}

/// One filter as users see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterInfo {
    pub name: &'static str,
    /// The branch in `shaders/filter.wgsl`.
    pub id: u32,
    pub description: &'static str,
    pub params: &'static [ParamInfo],
}

const fn param(name: &'static str, default: f32, min: f32, max: f32) -> ParamInfo {
    ParamInfo {
        name,
        default,
        min,
        max,
    }
}

const AMOUNT: &[ParamInfo] = &[param("amount", 1.0, 0.0, 1.0)];
const STRENGTH: &[ParamInfo] = &[param("strength", 1.0, 0.0, 1.0)];

/// Every filter, in the order `--list-filters` prints them.
pub const FILTERS: &[FilterInfo] = &[
    FilterInfo {
        name: "grayscale",
        id: 1,
        description: "black and white",
        params: AMOUNT,
    },
    FilterInfo {
        name: "sepia",
        id: 2,
        description: "warm old-photograph brown",
        params: AMOUNT,
    },
    FilterInfo {
        name: "invert",
        id: 3,
        description: "photographic negative",
        params: &[],
    },
    FilterInfo {
        name: "posterize",
        id: 4,
        description: "flat poster colours with few levels per channel",
        params: &[param("levels", 5.0, 2.0, 32.0)],
    },
    FilterInfo {
        name: "pixelate",
        id: 5,
        description: "big square pixels, retro-game style",
        params: &[param("block", 16.0, 2.0, 128.0)],
    },
    FilterInfo {
        name: "toon",
        id: 6,
        description: "cel shading with dark outlines, like a comic",
        params: &[
            param("levels", 6.0, 2.0, 16.0),
            param("edge", 0.35, 0.05, 2.0),
        ],
    },
    FilterInfo {
        name: "neon",
        id: 7,
        description: "glowing rainbow edges on black",
        params: &[param("gain", 3.0, 0.5, 10.0)],
    },
    FilterInfo {
        name: "thermal",
        id: 8,
        description: "infrared camera false colours",
        params: &[],
    },
    FilterInfo {
        name: "hologram",
        id: 9,
        description: "flickering sci-fi hologram with scanlines and colour fringes",
        params: STRENGTH,
    },
    FilterInfo {
        name: "vhs",
        id: 10,
        description: "worn VHS tape: jittering lines, colour bleed, noise",
        params: STRENGTH,
    },
    FilterInfo {
        name: "lut",
        id: 11,
        description: "colour grade from a 3D LUT .cube file (lut:/path/look.cube)",
        params: STRENGTH,
    },
];

pub fn find(name: &str) -> Option<&'static FilterInfo> {
    FILTERS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// A filter choice with its parameters, as plain data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FilterSpec {
    pub name: String,
    #[serde(default)]
    pub params: BTreeMap<String, f32>,
    /// The `.cube` file of the `lut` filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lut: Option<PathBuf>,
}

impl FilterSpec {
    /// Parameter values in the catalogue's order, defaults filled in.
    pub fn values(&self, info: &FilterInfo) -> [f32; 4] {
        let mut v = [0.0; 4];
        for (slot, p) in v.iter_mut().zip(info.params) {
            *slot = self.params.get(p.name).copied().unwrap_or(p.default);
        }
        v
    }
}

/// The spec as `--filter` takes it: `NAME`, `NAME:key=value,...`, `lut:PATH,...`.
impl std::fmt::Display for FilterSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        let mut parts: Vec<String> = Vec::new();
        if let Some(lut) = &self.lut {
            parts.push(lut.display().to_string());
        }
        parts.extend(self.params.iter().map(|(k, v)| format!("{k}={v}")));
        if !parts.is_empty() {
            write!(f, ":{}", parts.join(","))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FilterSpec {
    type Err = SettingError;

    /// `sepia`, `posterize:levels=4`, `toon:levels=5,edge=0.3`, `lut:/path/look.cube`,
    /// `lut:/path/look.cube,strength=0.5`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rest) = s.split_once(':').unwrap_or((s, ""));
        let info = find(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = FILTERS.iter().map(|f| f.name).collect();
            SettingError::unknown("filter", name, format!("; filters: {}", names.join(", ")))
        })?;
        let mut spec = FilterSpec {
            name: info.name.to_string(),
            params: BTreeMap::new(),
            lut: None,
        };
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((k, v)) => {
                    let p = info
                        .params
                        .iter()
                        .find(|p| p.name == k.trim())
                        .ok_or_else(|| {
                            let names: Vec<&str> = info.params.iter().map(|p| p.name).collect();
                            format!(
                                "filter {} has no parameter {k:?} (it has: {})",
                                info.name,
                                names.join(", ")
                            )
                        })?;
                    let value: f32 = v
                        .trim()
                        .parse()
                        .map_err(|_| format!("{}={v:?} is not a number", p.name))?;
                    if !(p.min..=p.max).contains(&value) {
                        return Err(SettingError::Invalid(format!(
                            "{}={value} is outside {}..={}",
                            p.name, p.min, p.max
                        )));
                    }
                    spec.params.insert(p.name.to_string(), value);
                }
                None if info.name == "lut" && spec.lut.is_none() => {
                    spec.lut = Some(PathBuf::from(part))
                }
                None => {
                    return Err(SettingError::Invalid(format!(
                        "{part:?} in {s:?} is not key=value"
                    )))
                }
            }
        }
        if info.name == "lut" && spec.lut.is_none() {
            return Err(SettingError::Invalid(
                "the lut filter needs a .cube file: --filter lut:/path/look.cube".into(),
            ));
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_print_as_they_are_parsed() {
        for text in ["toon", "posterize:levels=4", "pixelate:block=12"] {
            let spec: FilterSpec = text.parse().expect("valid");
            let again: FilterSpec = spec.to_string().parse().expect("reparses");
            assert_eq!(again, spec, "{text}");
        }
        let lut: FilterSpec = "lut:/x/look.cube,strength=0.5".parse().expect("lut");
        assert_eq!(lut.to_string(), "lut:/x/look.cube,strength=0.5");
    }

    #[test]
    fn at_least_ten_filters_plus_lut_each_described() {
        assert!(FILTERS.len() >= 11);
        let mut ids: Vec<u32> = FILTERS.iter().map(|f| f.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), FILTERS.len(), "ids are distinct");
        for f in FILTERS {
            assert!(!f.description.is_empty() && f.params.len() <= 4);
            for p in f.params {
                assert!(
                    p.min <= p.default && p.default <= p.max,
                    "{}.{}",
                    f.name,
                    p.name
                );
            }
        }
    }

    #[test]
    fn specs_parse_with_defaults_and_checks() {
        let s: FilterSpec = "posterize:levels=4".parse().expect("parse");
        assert_eq!(
            s.values(find("posterize").expect("known")),
            [4.0, 0.0, 0.0, 0.0]
        );
        let s: FilterSpec = "TOON".parse().expect("parse");
        assert_eq!(
            s.values(find("toon").expect("known")),
            [6.0, 0.35, 0.0, 0.0]
        );
        let s: FilterSpec = "lut:/x/look.cube,strength=0.5".parse().expect("parse");
        assert_eq!(s.lut, Some(PathBuf::from("/x/look.cube")));
        assert!("sepai"
            .parse::<FilterSpec>()
            .expect_err("typo")
            .to_string()
            .contains("sepia"));
        assert!("posterize:levels=99".parse::<FilterSpec>().is_err());
        assert!("posterize:depth=3"
            .parse::<FilterSpec>()
            .expect_err("key")
            .to_string()
            .contains("levels"));
        assert!("lut"
            .parse::<FilterSpec>()
            .expect_err("no file")
            .to_string()
            .contains(".cube"));
    }

    #[test]
    fn refusals_say_whether_the_name_is_unknown() {
        assert!(matches!(
            "sepai".parse::<FilterSpec>(),
            Err(SettingError::Unknown { what: "filter", .. })
        ));
        assert!(matches!(
            "posterize:levels=99".parse::<FilterSpec>(),
            Err(SettingError::Invalid(_))
        ));
        let e = "sepai".parse::<FilterSpec>().expect_err("unknown");
        assert!(
            e.to_string()
                .starts_with("unknown filter \"sepai\"; filters: "),
            "{e}"
        );
    }
}
