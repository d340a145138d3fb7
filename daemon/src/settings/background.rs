//! The background choice as plain data: nothing, a blur of the room, one of
//! our scenes (by name), an image or a looping clip. Flags, the config file,
//! D-Bus and the saved state parse and print it here; drawing it is the GPU
//! side's (`gpu::background`).

use crate::settings::SettingError;
use std::path::PathBuf;

/// Blur strength when `blur` is given without one: a Gaussian sigma of 12 px at 720p.
pub const DEFAULT_BLUR: f32 = 12.0;
/// Strength range users may ask for.
pub const BLUR_RANGE: std::ops::RangeInclusive<f32> = 1.0..=64.0;

/// The background choice, as plain data.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum BackgroundSpec {
    /// The camera picture as it is.
    #[default]
    None,
    /// The room behind the person, Gaussian-blurred; `strength` is sigma in
    /// pixels of a 720p picture (scaled with the frame height).
    Blur { strength: f32 },
    /// A built-in scene by name.
    Scene { name: String },
    /// A still image, scaled to cover the frame.
    Image { path: PathBuf },
    /// A looping `.y4m` clip, scaled to cover the frame.
    Video { path: PathBuf },
}

impl BackgroundSpec {
    pub fn is_none(&self) -> bool {
        matches!(self, BackgroundSpec::None)
    }
}

impl std::fmt::Display for BackgroundSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackgroundSpec::None => write!(f, "none"),
            BackgroundSpec::Blur { strength } => write!(f, "blur:{strength}"),
            BackgroundSpec::Scene { name } => write!(f, "scene:{name}"),
            BackgroundSpec::Image { path } => write!(f, "image:{}", path.display()),
            BackgroundSpec::Video { path } => write!(f, "video:{}", path.display()),
        }
    }
}

impl std::str::FromStr for BackgroundSpec {
    type Err = SettingError;

    /// `none`, `blur`, `blur:STRENGTH`, `scene:NAME`, `image:PATH`, `video:PATH.y4m`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a.trim())),
            None => (s, None),
        };
        let need = |what: &str| {
            arg.filter(|a| !a.is_empty())
                .ok_or_else(|| format!("background {kind} needs {what}: {kind}:{what}"))
        };
        match kind.to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(BackgroundSpec::None),
            "blur" => {
                let strength = match arg {
                    None | Some("") => DEFAULT_BLUR,
                    Some(a) => a
                        .parse::<f32>()
                        .map_err(|_| format!("blur strength {a:?} is not a number"))?,
                };
                if !BLUR_RANGE.contains(&strength) {
                    return Err(SettingError::Invalid(format!(
                        "blur strength {strength} is outside {}..={}",
                        BLUR_RANGE.start(),
                        BLUR_RANGE.end()
                    )));
                }
                Ok(BackgroundSpec::Blur { strength })
            }
            "scene" => {
                let name = need("NAME")?;
                let scene = find_scene(name).ok_or_else(|| {
                    SettingError::unknown("scene", name, format!("; scenes: {}", scene_names()))
                })?;
                Ok(BackgroundSpec::Scene {
                    name: scene.name.to_string(),
                })
            }
            "image" => Ok(BackgroundSpec::Image {
                path: PathBuf::from(need("PATH")?),
            }),
            "video" => {
                let path = PathBuf::from(need("PATH")?);
                if !path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("y4m"))
                {
                    return Err(SettingError::Invalid(format!(
                        "video backgrounds are .y4m clips (make one with: ffmpeg -i {} -pix_fmt yuv420p clip.y4m)",
                        path.display()
                    )));
                }
                Ok(BackgroundSpec::Video { path })
            }
            other => Err(SettingError::unknown(
                "background",
                other,
                ": use none, blur[:STRENGTH], scene:NAME, image:PATH or video:PATH.y4m",
            )),
        }
    }
}

/// One built-in scene.
#[derive(Debug, Clone, Copy)]
pub struct SceneInfo {
    pub name: &'static str,
    pub description: &'static str,
    /// The SVG drawn (rendered by the GPU side's `render_scene`).
    pub svg: &'static str,
}

/// Every scene, in the order `--list-scenes` prints them.
pub const SCENES: &[SceneInfo] = &[
    SceneInfo {
        name: "moon",
        description: "the lunar surface at night, Earth rising in a starry sky",
        svg: include_str!("../../assets/scenes/moon.svg"),
    },
    SceneInfo {
        name: "starship-bridge",
        description: "the bridge of a starship, a planet in the main viewport",
        svg: include_str!("../../assets/scenes/starship-bridge.svg"),
    },
    SceneInfo {
        name: "dragons-lair",
        description: "a torch-lit cave over a hoard of gold, eyes glowing in the dark",
        svg: include_str!("../../assets/scenes/dragons-lair.svg"),
    },
    SceneInfo {
        name: "deep-space",
        description: "nebulae, a spiral galaxy and a ringed planet",
        svg: include_str!("../../assets/scenes/deep-space.svg"),
    },
];

pub fn find_scene(name: &str) -> Option<&'static SceneInfo> {
    let key = name.trim().replace(['_', ' '], "-").replace('\'', "");
    SCENES.iter().find(|s| s.name.eq_ignore_ascii_case(&key))
}

pub fn scene_names() -> String {
    SCENES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for s in [
            "none",
            "blur:12",
            "blur:3.5",
            "scene:moon",
            "image:/x/y.png",
            "video:/x/c.y4m",
        ] {
            let spec: BackgroundSpec = s.parse().expect(s);
            assert_eq!(spec.to_string(), s);
        }
        assert_eq!(
            "blur".parse::<BackgroundSpec>(),
            Ok(BackgroundSpec::Blur {
                strength: DEFAULT_BLUR
            })
        );
        assert_eq!(
            "scene:Dragon's Lair".parse::<BackgroundSpec>(),
            Ok(BackgroundSpec::Scene {
                name: "dragons-lair".into()
            })
        );
        assert!("blur:0".parse::<BackgroundSpec>().is_err());
        assert!("blur:soft".parse::<BackgroundSpec>().is_err());
        assert!("scene:mars"
            .parse::<BackgroundSpec>()
            .expect_err("unknown")
            .to_string()
            .contains("moon"));
        assert!("image:".parse::<BackgroundSpec>().is_err());
        assert!("video:/x/c.mp4"
            .parse::<BackgroundSpec>()
            .expect_err("mp4")
            .to_string()
            .contains("ffmpeg"));
        assert!("stars".parse::<BackgroundSpec>().is_err());
    }
}
