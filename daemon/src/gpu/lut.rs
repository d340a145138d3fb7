//! 3D colour look-up tables in the `.cube` format colourists use (Adobe/
//! Resolve): `LUT_3D_SIZE N`, optional `DOMAIN_MIN`/`DOMAIN_MAX`, `TITLE`,
//! `#` comments, then N^3 lines of `R G B` with red changing fastest.

use std::path::Path;

/// Largest table accepted (a 128^3 table is 2 M entries; common ones are 17-65).
pub const MAX_SIZE: usize = 128;

/// A parsed table, entries scaled to 0..=1 over the domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Lut3d {
    pub size: usize,
    pub title: Option<String>,
    /// size^3 entries, red fastest, then green, then blue.
    pub entries: Vec<[f32; 3]>,
}

/// What is wrong with a `.cube` file, with its line.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{path}: line {line}: {reason}")]
pub struct LutError {
    pub path: String,
    pub line: usize,
    pub reason: String,
}

fn floats3(words: &[&str]) -> Option<[f32; 3]> {
    if words.len() != 3 {
        return None;
    }
    let mut v = [0.0; 3];
    for (slot, w) in v.iter_mut().zip(words) {
        *slot = w.parse().ok().filter(|x: &f32| x.is_finite())?;
    }
    Some(v)
}

impl Lut3d {
    /// Parses `.cube` text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, LutError> {
        let err = |line: usize, reason: String| LutError {
            path: path.to_string(),
            line,
            reason,
        };
        let mut size = None;
        let mut title = None;
        let (mut min, mut max) = ([0.0f32; 3], [1.0f32; 3]);
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[0] {
                "TITLE" => title = Some(line["TITLE".len()..].trim().trim_matches('"').to_string()),
                "LUT_3D_SIZE" => {
                    let s: usize = words
                        .get(1)
                        .and_then(|w| w.parse().ok())
                        .ok_or_else(|| err(n, "LUT_3D_SIZE needs a number".into()))?;
                    if !(2..=MAX_SIZE).contains(&s) {
                        return Err(err(n, format!("LUT_3D_SIZE {s} is outside 2..={MAX_SIZE}")));
                    }
                    entries.reserve(s * s * s);
                    size = Some(s);
                }
                "LUT_1D_SIZE" => {
                    return Err(err(n, "1D LUTs are not supported; export a 3D LUT".into()))
                }
                "DOMAIN_MIN" => {
                    min = floats3(&words[1..])
                        .ok_or_else(|| err(n, "DOMAIN_MIN needs 3 numbers".into()))?
                }
                "DOMAIN_MAX" => {
                    max = floats3(&words[1..])
                        .ok_or_else(|| err(n, "DOMAIN_MAX needs 3 numbers".into()))?
                }
                "LUT_3D_INPUT_RANGE" | "LUT_1D_INPUT_RANGE" => {}
                w if w.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') => {
                    let Some(s) = size else {
                        return Err(err(n, "table data before LUT_3D_SIZE".into()));
                    };
                    if entries.len() == s * s * s {
                        return Err(err(n, format!("more than {} entries", s * s * s)));
                    }
                    let v = floats3(&words)
                        .ok_or_else(|| err(n, format!("expected 3 numbers, got {line:?}")))?;
                    entries.push(v);
                }
                other => return Err(err(n, format!("unknown keyword {other:?}"))),
            }
        }
        let size = size.ok_or_else(|| err(0, "no LUT_3D_SIZE line: not a 3D .cube file".into()))?;
        if entries.len() != size * size * size {
            return Err(err(
                text.lines().count(),
                format!(
                    "{} entries, LUT_3D_SIZE {size} needs {}",
                    entries.len(),
                    size * size * size
                ),
            ));
        }
        for e in &mut entries {
            for c in 0..3 {
                let span = max[c] - min[c];
                e[c] = if span > 0.0 {
                    ((e[c] - min[c]) / span).clamp(0.0, 1.0)
                } else {
                    0.0
                };
            }
        }
        Ok(Lut3d {
            size,
            title,
            entries,
        })
    }

    pub fn load(path: &Path) -> Result<Self, LutError> {
        let text = std::fs::read_to_string(path).map_err(|e| LutError {
            path: path.display().to_string(),
            line: 0,
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The identity table of `size` (output = input).
    pub fn identity(size: usize) -> Self {
        let mut entries = Vec::with_capacity(size * size * size);
        let k = (size - 1) as f32;
        for b in 0..size {
            for g in 0..size {
                for r in 0..size {
                    entries.push([r as f32 / k, g as f32 / k, b as f32 / k]);
                }
            }
        }
        Lut3d {
            size,
            title: None,
            entries,
        }
    }

    /// RGBA8 texels as the GPU gets them (red fastest).
    pub fn rgba8(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(|e| [q8(e[0]), q8(e[1]), q8(e[2]), 255])
            .collect()
    }
}

fn q8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_small_table_with_domain_and_comments() {
        let text =
            "# made by hand\nTITLE \"swap\"\nLUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n\
                    0 0 0\n0 2 0\n2 0 0\n2 2 0\n0 0 2\n0 2 2\n2 0 2\n2 2 2\n";
        let l = Lut3d::parse(text, "swap.cube").expect("parse");
        assert_eq!(l.size, 2);
        assert_eq!(l.title.as_deref(), Some("swap"));
        assert_eq!(l.entries[1], [0.0, 1.0, 0.0], "red axis maps to green");
        assert_eq!(l.rgba8().len(), 8 * 4);
    }

    #[test]
    fn bad_tables_name_the_line() {
        let e = Lut3d::parse("LUT_3D_SIZE 2\n0 0 0\n", "a.cube").expect_err("short");
        assert!(e.reason.contains("needs 8"), "{e}");
        let e = Lut3d::parse("LUT_3D_SIZE 2\n0 0 x\n", "a.cube").expect_err("junk");
        assert_eq!(e.line, 2);
        let e = Lut3d::parse("LUT_1D_SIZE 16\n", "a.cube").expect_err("1d");
        assert!(e.reason.contains("1D"));
        assert!(Lut3d::parse("LUT_3D_SIZE 999\n", "a.cube").is_err());
        assert!(Lut3d::parse("0 0 0\n", "a.cube")
            .expect_err("order")
            .reason
            .contains("before"));
        assert!(Lut3d::parse("", "a.cube").is_err());
    }

    #[test]
    fn identity_round_trips() {
        let l = Lut3d::identity(17);
        assert_eq!(l.entries.len(), 17 * 17 * 17);
        assert_eq!(l.entries[16], [1.0, 0.0, 0.0]);
    }
}
