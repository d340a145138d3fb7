//! Avatar packs: the `avatar.toml` manifest (format 1, documented in
//! `avatars/README.md`), its checks, and where packs come from (built in, or
//! a user's directory). A pack is checked whole before it is used: every
//! problem is reported with the file, the key and the reason.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// The manifest format this daemon reads.
pub const FORMAT: u32 = 1;
/// At most this many layers per pack (one GPU texture layer each).
pub const MAX_LAYERS: usize = 8;
/// Largest canvas side, in art units (and largest PNG side, in pixels).
pub const MAX_SIDE: u32 = 2048;
/// Largest art file.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// The manifest's file name.
pub const MANIFEST: &str = "avatar.toml";

/// One thing wrong with a pack.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file at fault (the manifest for most problems).
    pub file: PathBuf,
    /// The manifest key, e.g. `layer[2].driver`; empty for the file as a whole.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.reason)
        }
    }
}

/// A refused pack: every problem found.
#[derive(Debug, Clone, PartialEq)]
pub struct PackError(pub Vec<Problem>);

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PackError {}

/// `full`: the character replaces the person; `mask`: it sits over the face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Mask,
    Full,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Mask => "mask",
            Mode::Full => "full",
        }
    }
}

/// What moves a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// The head: position, scale, roll, and yaw/pitch as a perspective warp.
    Head,
    /// Shoulders and body: the head's position and scale, upright.
    Body,
    /// Head, plus a turn about `pivot` by `angle` and a drop by `drop` as the mouth opens.
    Jaw,
    /// Shown as the mouth opens (a lit mouth, a visible tongue).
    Mouth,
    /// Shown as both eyes close.
    Eyelids,
    /// Shown as the eye on the picture's left closes.
    EyelidLeft,
    /// Shown as the eye on the picture's right closes.
    EyelidRight,
    /// Shifted by up to `range` towards where the head points.
    Pupils,
    /// Raised by up to `lift` as the brows go up.
    Brows,
    /// An animated effect (`effect`), shown while its `trigger` holds.
    Effect,
}

/// How an effect layer moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EffectKind {
    /// Pulsing opacity.
    Glow,
    /// Stretching and flickering from `pivot` (fire, breath).
    Flicker,
    /// Sweeping sideways by `range` (a scanning light).
    Scan,
}

/// When an effect layer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    #[default]
    Always,
    MouthOpen,
    /// The mouth open past `threshold`.
    MouthWide,
    Smile,
    EyesClosed,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canvas {
    /// Width and height of the art, in its own units (the SVG's viewBox).
    pub size: [u32; 2],
    /// Centres of the eyes in the art: the one on the picture's left, then right.
    pub left_eye: [f32; 2],
    pub right_eye: [f32; 2],
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Art file, relative to the pack: `.svg` or `.png`, drawn over the whole canvas.
    pub file: String,
    pub driver: Driver,
    /// Jaw and flicker: the point the layer turns or stretches about (canvas units).
    pub pivot: Option<[f32; 2]>,
    /// Jaw: degrees turned at a wide-open mouth (positive: clockwise in the picture).
    pub angle: Option<f32>,
    /// Jaw: canvas units dropped at a wide-open mouth.
    pub drop: Option<f32>,
    /// Pupils and scan: canvas units moved at most.
    pub range: Option<f32>,
    /// Brows: canvas units raised at most.
    pub lift: Option<f32>,
    pub effect: Option<EffectKind>,
    pub trigger: Option<Trigger>,
    /// Mouth-wide: the mouth openness (0..1) where the trigger fires.
    pub threshold: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub description: String,
    pub author: String,
    pub licence: String,
    pub mode: Mode,
    /// Full mode: the scene shown behind the character when no background
    /// picture is chosen.
    pub scene: Option<String>,
    pub canvas: Canvas,
    #[serde(rename = "layer", default)]
    pub layers: Vec<Layer>,
}

/// Where a pack was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    BuiltIn,
    Dir(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built in"),
            Origin::Dir(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A checked pack with its art in memory.
#[derive(Debug, Clone)]
pub struct Pack {
    pub manifest: Manifest,
    pub origin: Origin,
    /// Art files by their manifest name.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The built-in packs (`avatars/` in the source tree).
static BUILT_IN: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../avatars");

fn problem(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> Problem {
    Problem {
        file: file.to_path_buf(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// Pack names: lower-case letters, digits and dashes, 1 to 40 characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

/// Parses a manifest's text; a syntax or type error names its line and column.
pub fn parse_manifest(text: &str, file: &Path) -> Result<Manifest, PackError> {
    toml::from_str::<Manifest>(text).map_err(|e| {
        let key = e
            .span()
            .map_or(String::new(), |span| key_at(text, span.start));
        // Some syntax errors carry no message of their own (a value missing
        // at the end of the text): say what is wrong then.
        let reason = match e.message().trim() {
            "" => "a value is missing or malformed here".to_string(),
            m => m.to_string(),
        };
        PackError(vec![problem(file, key, reason)])
    })
}

/// Names the manifest key at byte `at` for an error message:
/// `layer[1].driver (line 17)`, or just the line when no key is written there.
fn key_at(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let before = &text[..at];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or_default();
    let Some((name, _)) = line.split_once('=') else {
        return format!("line {line_no}");
    };
    let name = name.trim();
    // The table the line belongs to: the last header above it.
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['));
    let layers = before[..line_start]
        .lines()
        .filter(|l| l.trim() == "[[layer]]")
        .count();
    let path = match table {
        Some("[[layer]]") => format!("layer[{}].{name}", layers - 1),
        Some(t) => format!("{}.{name}", t.trim_matches(|c| c == '[' || c == ']')),
        None => name.to_string(),
    };
    format!("{path} (line {line_no})")
}

/// Checks what a manifest says on its own (no files read).
pub fn check_manifest(m: &Manifest, file: &Path) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut bad = |key: &str, reason: String| out.push(problem(file, key, reason));
    if m.format != FORMAT {
        bad(
            "format",
            format!(
                "format {} is not known; this daemon reads format {FORMAT}",
                m.format
            ),
        );
    }
    if !valid_name(&m.name) {
        bad(
            "name",
            format!(
                "{:?} is not a pack name: use 1-40 lower-case letters, digits and dashes",
                m.name
            ),
        );
    }
    if m.description.trim().is_empty() {
        bad("description", "is empty".into());
    }
    if let Some(scene) = &m.scene {
        if crate::settings::background::find_scene(scene).is_none() {
            bad("scene", format!("no scene called {scene:?}"));
        }
    }
    let [w, h] = m.canvas.size;
    if !(16..=MAX_SIDE).contains(&w) || !(16..=MAX_SIDE).contains(&h) {
        bad(
            "canvas.size",
            format!("{w}x{h} is out of range: each side 16 to {MAX_SIDE}"),
        );
    }
    let inside = |p: [f32; 2]| {
        p.iter().all(|v| v.is_finite())
            && p[0] >= 0.0
            && p[1] >= 0.0
            && p[0] <= w as f32
            && p[1] <= h as f32
    };
    for (key, p) in [
        ("canvas.left_eye", m.canvas.left_eye),
        ("canvas.right_eye", m.canvas.right_eye),
    ] {
        if !inside(p) {
            bad(key, format!("{p:?} is outside the {w}x{h} canvas"));
        }
    }
    if m.canvas.right_eye[0] - m.canvas.left_eye[0] < 4.0 {
        bad(
            "canvas.right_eye",
            "must be at least 4 units right of left_eye".into(),
        );
    }
    if m.layers.is_empty() {
        bad("layer", "a pack needs at least one layer".into());
    }
    if m.layers.len() > MAX_LAYERS {
        bad(
            "layer",
            format!("{} layers; at most {MAX_LAYERS}", m.layers.len()),
        );
    }
    for (i, l) in m.layers.iter().enumerate() {
        let key = |k: &str| format!("layer[{i}].{k}");
        if let Err(reason) = relative_path(&l.file) {
            bad(&key("file"), reason);
        }
        let lower = l.file.to_ascii_lowercase();
        if !(lower.ends_with(".svg") || lower.ends_with(".png")) {
            bad(
                &key("file"),
                format!("{:?}: layers are .svg or .png files", l.file),
            );
        }
        let allowed: &[&str] = match l.driver {
            Driver::Jaw => &["pivot", "angle", "drop"],
            Driver::Pupils => &["range"],
            Driver::Brows => &["lift"],
            Driver::Effect => &["effect", "trigger", "threshold", "pivot", "range"],
            _ => &[],
        };
        let given = [
            ("pivot", l.pivot.is_some()),
            ("angle", l.angle.is_some()),
            ("drop", l.drop.is_some()),
            ("range", l.range.is_some()),
            ("lift", l.lift.is_some()),
            ("effect", l.effect.is_some()),
            ("trigger", l.trigger.is_some()),
            ("threshold", l.threshold.is_some()),
        ];
        for (k, set) in given {
            if set && !allowed.contains(&k) {
                bad(&key(k), format!("means nothing to a {:?} layer", l.driver));
            }
        }
        if l.driver == Driver::Effect && l.effect.is_none() {
            bad(
                &key("effect"),
                "an effect layer needs effect = glow, flicker or scan".into(),
            );
        }
        let finite = |k: &str, v: Option<f32>, max: f32| -> Option<String> {
            v.filter(|v| !v.is_finite() || v.abs() > max)
                .map(|v| format!("{k} = {v} is out of range (at most {max} in size)"))
        };
        for (k, v, max) in [
            ("angle", l.angle, 90.0),
            ("drop", l.drop, MAX_SIDE as f32),
            ("range", l.range, MAX_SIDE as f32),
            ("lift", l.lift, MAX_SIDE as f32),
        ] {
            if let Some(reason) = finite(k, v, max) {
                bad(&key(k), reason);
            }
        }
        if let Some(t) = l.threshold {
            if !(0.0..=1.0).contains(&t) {
                bad(&key("threshold"), format!("{t} is not between 0 and 1"));
            }
        }
        if let Some(p) = l.pivot {
            if !inside(p) {
                bad(
                    &key("pivot"),
                    format!("{p:?} is outside the {w}x{h} canvas"),
                );
            }
        }
    }
    out
}

/// A layer path must stay inside its pack: relative, no `..`.
fn relative_path(file: &str) -> Result<PathBuf, String> {
    let p = Path::new(file);
    if file.is_empty() {
        return Err("is empty".into());
    }
    for c in p.components() {
        match c {
            Component::Normal(_) => {}
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "{file:?} leads outside the pack: use a path inside it"
                ))
            }
        }
    }
    Ok(p.to_path_buf())
}

/// Checks one art file's bytes: an SVG that parses, or a PNG no larger than
/// `MAX_SIDE` a side.
pub fn check_art(name: &str, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes is too large (at most {MAX_FILE_BYTES})",
            bytes.len()
        ));
    }
    if name.to_ascii_lowercase().ends_with(".svg") {
        resvg::usvg::Tree::from_data(bytes, &resvg::usvg::Options::default())
            .map(|_| ())
            .map_err(|e| format!("not a usable SVG: {e}"))
    } else {
        let reader =
            image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Png);
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| format!("not a PNG image: {e}"))?;
        if w > MAX_SIDE || h > MAX_SIDE {
            return Err(format!("{w}x{h} is too large (at most {MAX_SIDE} a side)"));
        }
        image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
            .map(|_| ())
            .map_err(|e| format!("not a PNG image: {e}"))
    }
}

/// Loads and checks a pack from `read` (a file reader relative to the pack),
/// reporting paths under `shown`.
fn load_with(
    shown: &Path,
    origin: Origin,
    read: impl Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Pack, PackError> {
    let manifest_path = shown.join(MANIFEST);
    let text = read(MANIFEST).map_err(|e| PackError(vec![problem(&manifest_path, "", e)]))?;
    let text = String::from_utf8(text)
        .map_err(|_| PackError(vec![problem(&manifest_path, "", "is not UTF-8 text")]))?;
    let manifest = parse_manifest(&text, &manifest_path)?;
    let mut problems = check_manifest(&manifest, &manifest_path);
    let mut files = BTreeMap::new();
    for (i, l) in manifest.layers.iter().enumerate() {
        if relative_path(&l.file).is_err() || files.contains_key(&l.file) {
            continue;
        }
        let art_path = shown.join(&l.file);
        match read(&l.file) {
            Ok(bytes) => match check_art(&l.file, &bytes) {
                Ok(()) => {
                    files.insert(l.file.clone(), bytes);
                }
                Err(reason) => {
                    problems.push(problem(&art_path, format!("layer[{i}].file"), reason))
                }
            },
            Err(reason) => problems.push(problem(&art_path, format!("layer[{i}].file"), reason)),
        }
    }
    if problems.is_empty() {
        Ok(Pack {
            manifest,
            origin,
            files,
        })
    } else {
        Err(PackError(problems))
    }
}

/// Loads and checks the pack in directory `dir`. Files must be regular files
/// inside `dir` (symbolic links leading out are refused).
pub fn load_dir(dir: &Path) -> Result<Pack, PackError> {
    let root = dir.canonicalize().map_err(|e| {
        PackError(vec![problem(
            dir,
            "",
            format!("cannot open the pack directory: {e}"),
        )])
    })?;
    load_with(dir, Origin::Dir(dir.to_path_buf()), |rel| {
        let path = root.join(rel);
        let real = path.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "the file is missing".to_string(),
            _ => format!("cannot open: {e}"),
        })?;
        if !real.starts_with(&root) {
            return Err("leads outside the pack (a link?): keep art inside it".into());
        }
        let meta = std::fs::metadata(&real).map_err(|e| format!("cannot open: {e}"))?;
        if !meta.is_file() {
            return Err("is not a regular file".into());
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "{} bytes is too large (at most {MAX_FILE_BYTES})",
                meta.len()
            ));
        }
        std::fs::read(&real).map_err(|e| format!("cannot read: {e}"))
    })
}

/// The built-in packs, in name order.
pub fn built_in() -> Vec<Pack> {
    let mut packs: Vec<Pack> = BUILT_IN
        .dirs()
        .filter_map(|d| {
            let shown = Path::new("avatars").join(d.path());
            let pack = load_with(&shown, Origin::BuiltIn, |rel| {
                d.get_file(d.path().join(rel))
                    .map(|f| f.contents().to_vec())
                    .ok_or_else(|| "the file is missing".to_string())
            });
            match pack {
                Ok(p) => Some(p),
                Err(e) => {
                    // Caught by the tests; never expected in a build.
                    tracing::error!("built-in avatar refused: {e}");
                    None
                }
            }
        })
        .collect();
    packs.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
    packs
}

/// Every pack a user can pick and every refused one, read fresh from disk
/// (user packs are picked up without a restart). A user pack shadows a
/// built-in one of the same name.
#[derive(Debug, Default)]
pub struct Catalogue {
    pub packs: Vec<Pack>,
    pub refused: Vec<(PathBuf, PackError)>,
}

impl Catalogue {
    /// Built-in packs plus those under `user` (each subdirectory holding an
    /// `avatar.toml` is a pack).
    pub fn scan(user: Option<&Path>) -> Self {
        let mut by_name: BTreeMap<String, Pack> = built_in()
            .into_iter()
            .map(|p| (p.manifest.name.clone(), p))
            .collect();
        let mut refused = Vec::new();
        if let Some(dir) = user {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join(MANIFEST).exists())
                .collect();
            dirs.sort();
            for d in dirs {
                match load_dir(&d) {
                    Ok(p) => {
                        by_name.insert(p.manifest.name.clone(), p);
                    }
                    Err(e) => refused.push((d, e)),
                }
            }
        }
        Catalogue {
            packs: by_name.into_values().collect(),
            refused,
        }
    }

    /// The catalogue a running daemon uses: built-ins and the user's directory.
    pub fn installed() -> Self {
        Self::scan(bytemeet_proto::avatars_dir().as_deref())
    }

    pub fn find(&self, name: &str) -> Option<&Pack> {
        self.packs.iter().find(|p| p.manifest.name == name)
    }

    /// The refused pack in a directory called `name`, with its problems.
    pub fn refused_named(&self, name: &str) -> Option<&(PathBuf, PackError)> {
        self.refused
            .iter()
            .find(|(dir, _)| dir.file_name().is_some_and(|d| d == name))
    }

    pub fn names(&self) -> Vec<String> {
        self.packs.iter().map(|p| p.manifest.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
format = 1
name = "test-cat"
description = "A cat"
author = "ByteMeet"
licence = "MIT OR Apache-2.0"
mode = "mask"

[canvas]
size = [64, 64]
left_eye = [20, 30]
right_eye = [44, 30]

[[layer]]
file = "head.svg"
driver = "head"

[[layer]]
file = "jaw.svg"
driver = "jaw"
pivot = [32, 40]
drop = 4
"#;

    const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="20" fill="#f80"/></svg>"##;

    fn write_pack(dir: &Path, manifest: &str, files: &[(&str, &[u8])]) {
        std::fs::create_dir_all(dir).expect("dir");
        std::fs::write(dir.join(MANIFEST), manifest).expect("manifest");
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).expect("art");
        }
    }

    #[test]
    fn every_built_in_pack_loads() {
        let names: Vec<String> = built_in().into_iter().map(|p| p.manifest.name).collect();
        for want in [
            "alien",
            "cyborg",
            "dragon",
            "fae",
            "knight",
            "robot",
            "space-trooper",
            "wizard",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        // Each built-in pack sits in the directory of its own name.
        for d in BUILT_IN.dirs() {
            let pack = load_with(Path::new("x"), Origin::BuiltIn, |rel| {
                d.get_file(d.path().join(rel))
                    .map(|f| f.contents().to_vec())
                    .ok_or_else(|| "missing".into())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", d.path().display()));
            assert_eq!(Path::new(&pack.manifest.name), d.path());
        }
    }

    #[test]
    fn a_good_user_pack_loads_and_shadows_nothing_else() {
        let tmp = tempfile::tempdir().expect("tmp");
        write_pack(
            &tmp.path().join("cat"),
            GOOD,
            &[("head.svg", SVG.as_bytes()), ("jaw.svg", SVG.as_bytes())],
        );
        let cat = Catalogue::scan(Some(tmp.path()));
        assert!(cat.refused.is_empty(), "{:?}", cat.refused);
        let pack = cat.find("test-cat").expect("user pack listed");
        assert_eq!(pack.origin, Origin::Dir(tmp.path().join("cat")));
        assert!(cat.find("dragon").is_some());
    }

    fn problems_of(manifest: &str, files: &[(&str, &[u8])]) -> Vec<Problem> {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("p");
        write_pack(&dir, manifest, files);
        match load_dir(&dir) {
            Ok(_) => Vec::new(),
            Err(PackError(p)) => p,
        }
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let p = problems_of("format = 1\nname = \n", &[]);
        assert_eq!(p.len(), 1);
        assert!(p[0].file.ends_with(MANIFEST));
        assert_eq!(p[0].key, "name (line 2)", "{p:?}");
    }

    #[test]
    fn a_value_missing_at_the_very_end_still_says_why() {
        // Found by the manifest fuzzer: toml gives no message for this one.
        let text = GOOD.trim_end().trim_end_matches("4");
        let p = problems_of(text, &[]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            !p[0].reason.is_empty() && p[0].key.contains("drop"),
            "{p:?}"
        );
    }

    #[test]
    fn an_unknown_driver_is_named_with_its_layer() {
        let bad = GOOD.replace("driver = \"jaw\"", "driver = \"tail\"");
        let p = problems_of(
            &bad,
            &[("head.svg", SVG.as_bytes()), ("jaw.svg", SVG.as_bytes())],
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].reason.contains("tail"), "{p:?}");
        assert_eq!(p[0].key, "layer[1].driver (line 20)", "{p:?}");
    }

    #[test]
    fn missing_and_bad_art_are_each_reported() {
        let p = problems_of(GOOD, &[("head.svg", b"not an svg at all")]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].file.ends_with("head.svg") && p[0].key == "layer[0].file");
        assert!(p[0].reason.contains("SVG"), "{p:?}");
        assert!(p[1].file.ends_with("jaw.svg") && p[1].reason.contains("missing"));
    }

    #[test]
    fn paths_outside_the_pack_are_refused() {
        let bad = GOOD.replace("file = \"jaw.svg\"", "file = \"../jaw.svg\"");
        let p = problems_of(&bad, &[("head.svg", SVG.as_bytes())]);
        assert!(
            p.iter()
                .any(|p| p.key == "layer[1].file" && p.reason.contains("outside")),
            "{p:?}"
        );
        let abs = GOOD.replace("file = \"jaw.svg\"", "file = \"/etc/passwd.svg\"");
        let p = problems_of(&abs, &[("head.svg", SVG.as_bytes())]);
        assert!(p.iter().any(|p| p.reason.contains("outside")), "{p:?}");
    }

    #[test]
    fn links_out_of_the_pack_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join("secret.svg"), SVG).expect("outside file");
        let dir = tmp.path().join("p");
        write_pack(&dir, GOOD, &[("head.svg", SVG.as_bytes())]);
        std::os::unix::fs::symlink(tmp.path().join("secret.svg"), dir.join("jaw.svg"))
            .expect("link");
        let Err(PackError(p)) = load_dir(&dir) else {
            panic!("a link out of the pack was accepted")
        };
        assert!(p[0].reason.contains("outside"), "{p:?}");
    }

    #[test]
    fn oversized_png_is_refused() {
        let img = image::RgbaImage::new(MAX_SIDE + 1, 1);
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        let bad = GOOD.replace("jaw.svg", "jaw.png");
        let p = problems_of(&bad, &[("head.svg", SVG.as_bytes()), ("jaw.png", &png)]);
        assert!(p.len() == 1 && p[0].reason.contains("too large"), "{p:?}");
    }

    #[test]
    fn semantic_problems_are_all_listed() {
        let bad = GOOD
            .replace("format = 1", "format = 7")
            .replace("name = \"test-cat\"", "name = \"Test Cat\"")
            .replace("size = [64, 64]", "size = [64, 99999]")
            .replace("drop = 4", "drop = 4\nlift = 3");
        let p = problems_of(
            &bad,
            &[("head.svg", SVG.as_bytes()), ("jaw.svg", SVG.as_bytes())],
        );
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["format", "name", "canvas.size", "layer[1].lift"],
            "{p:?}"
        );
    }

    #[test]
    fn too_many_layers_and_no_layers_are_refused() {
        let mut many = GOOD.to_string();
        for _ in 0..MAX_LAYERS {
            many.push_str("\n[[layer]]\nfile = \"head.svg\"\ndriver = \"head\"\n");
        }
        let p = problems_of(
            &many,
            &[("head.svg", SVG.as_bytes()), ("jaw.svg", SVG.as_bytes())],
        );
        assert!(
            p.iter()
                .any(|p| p.key == "layer" && p.reason.contains("at most")),
            "{p:?}"
        );
        let none = GOOD
            .split("[[layer]]")
            .next()
            .unwrap_or_default()
            .to_string();
        let p = problems_of(&none, &[]);
        assert!(p.iter().any(|p| p.key == "layer"), "{p:?}");
    }

    #[test]
    fn a_broken_user_pack_leaves_the_others_listed() {
        let tmp = tempfile::tempdir().expect("tmp");
        write_pack(&tmp.path().join("broken"), "this is not toml = = =", &[]);
        write_pack(
            &tmp.path().join("cat"),
            GOOD,
            &[("head.svg", SVG.as_bytes()), ("jaw.svg", SVG.as_bytes())],
        );
        let cat = Catalogue::scan(Some(tmp.path()));
        assert_eq!(cat.refused.len(), 1);
        assert!(cat.refused[0].0.ends_with("broken"));
        assert!(cat.find("test-cat").is_some() && cat.find("wizard").is_some());
    }
}
