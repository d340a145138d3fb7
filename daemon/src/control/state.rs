//! The effects as they were when the daemon last ran, kept in
//! `$XDG_STATE_HOME/bytemeet/state.toml`. Written atomically (temporary file,
//! fsync, rename, fsync of the directory), so a crash mid-write leaves either
//! the old file or the new one, never a torn one.

use std::io::Write;
use std::path::Path;

use crate::settings::effects::EffectsState;
use crate::settings::filter;

/// Format version of the state file; older versions are read as far as they go.
const VERSION: u32 = 1;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StateFile {
    version: u32,
    #[serde(default)]
    effects: EffectsState,
}

/// Reads the saved effects; a missing file is `Ok(None)`. A filter this
/// version does not know is dropped rather than refusing the whole file.
pub fn load(path: &Path) -> Result<Option<EffectsState>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut file: StateFile =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(f) = &file.effects.filter {
        if filter::find(&f.name).is_none() {
            tracing::warn!(path = %path.display(), "saved filter {:?} is unknown here; dropped", f.name);
            file.effects.filter = None;
        }
    }
    Ok(Some(file.effects))
}

/// Saves the effects atomically.
pub fn save(path: &Path, effects: &EffectsState) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let text = toml::to_string(&StateFile {
        version: VERSION,
        effects: effects.clone(),
    })
    .map_err(std::io::Error::other)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(b"# Written by bytemeetd: the effects in use, restored at start.\n")?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable only once the directory is synced.
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::background::BackgroundSpec;

    #[test]
    fn effects_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sub").join("state.toml");
        assert_eq!(load(&path), Ok(None));
        let e = EffectsState {
            filter: Some("posterize:levels=4".parse().expect("filter")),
            background: BackgroundSpec::Scene {
                name: "moon".into(),
            },
            avatar: None,
        };
        save(&path, &e).expect("save");
        assert_eq!(load(&path), Ok(Some(e.clone())));
        // Overwriting leaves no temporary files behind.
        save(&path, &EffectsState::default()).expect("save again");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.toml")]);
    }

    #[test]
    fn a_broken_file_is_an_error_and_unknown_filters_are_dropped() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state.toml");
        std::fs::write(&path, "version = 1\n[effects\n").expect("write");
        assert!(load(&path).expect_err("torn").contains("state.toml"));
        std::fs::write(
            &path,
            "version = 1\n[effects.filter]\nname = \"sparkles\"\n[effects.background]\nkind = \"blur\"\nstrength = 8.0\n",
        )
        .expect("write");
        let e = load(&path).expect("ok").expect("some");
        assert_eq!(e.filter, None);
        assert_eq!(e.background, BackgroundSpec::Blur { strength: 8.0 });
    }
}
