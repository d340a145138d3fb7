//! The effects as they were when the daemon last ran, kept in
//! `$XDG_STATE_HOME/bytemeet/state.toml`. Written atomically (temporary file,
//! fsync, rename, fsync of the directory), so a crash mid-write leaves either
//! the old file or the new one, never a torn one. The file it replaces, when
//! it was good, stays beside it as `state.toml.last-good`: a file torn
//! anyway (a filesystem that lies about fsync, a hand edit) is then replaced
//! by that copy at start. A save that fails (disk full, read-only home)
//! leaves both files as they were.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::settings::effects::EffectsState;
use crate::settings::filter;
use crate::settings::segmenter::SegmenterSpec;

/// Format version of the state file; older versions are read as far as they
/// go. Version 2 added the segmenter (left out when it is the model).
const VERSION: u32 = 2;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StateFile {
    version: u32,
    #[serde(default)]
    effects: EffectsState,
}

/// Reads the saved effects; a missing file is `Ok(None)`. A filter this
/// version does not know is dropped rather than refusing the whole file.
pub fn load(path: &Path) -> Result<Option<EffectsState>, String> {
    load_keeping(path, &SegmenterSpec::Model)
}

/// As `load`; a file from before the segmenter was saved (version 1) gets
/// `segmenter` (the configured one), not the model.
fn load_keeping(path: &Path, segmenter: &SegmenterSpec) -> Result<Option<EffectsState>, String> {
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
    if file.version < 2 {
        file.effects.segmenter = segmenter.clone();
    }
    Ok(Some(file.effects))
}

/// Where the last good state file is kept: `state.toml.last-good`.
pub fn last_good(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".last-good");
    path.with_file_name(name)
}

/// Reads the saved effects like `load`; when the file is broken, the last
/// good copy beside it is used instead, and the warning says so. `segmenter`
/// is the configured one, kept for files that did not save theirs.
pub fn load_or_last_good(
    path: &Path,
    segmenter: &SegmenterSpec,
) -> (Option<EffectsState>, Option<String>) {
    match load_keeping(path, segmenter) {
        Ok(e) => (e, None),
        Err(broken) => match load_keeping(&last_good(path), segmenter) {
            Ok(Some(e)) => (
                Some(e),
                Some(format!(
                    "{broken}; using the last good copy, {}",
                    last_good(path).display()
                )),
            ),
            _ => (
                None,
                Some(format!("{broken}; starting with the configured effects")),
            ),
        },
    }
}

/// Saves the effects atomically; the file replaced is kept as the last good
/// copy when it reads back.
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
    if matches!(load(path), Ok(Some(_))) {
        // A hard link: the copy costs no write, and the rename below
        // leaves it pointing at the old contents.
        let good = last_good(path);
        let _ = std::fs::remove_file(&good);
        if let Err(e) = std::fs::hard_link(path, &good) {
            tracing::debug!("no last good copy of the state ({e})");
        }
    }
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable only once the directory is synced.
    std::fs::File::open(dir)?.sync_all()
}

/// Saves the effects on a thread of its own ("state-saver"), so that the
/// D-Bus thread never waits on the disk (fsync can take long on a busy or
/// network home). Changes that come faster than the disk are folded: the
/// newest is written. Dropping it writes what is still pending.
#[derive(Debug)]
pub struct Saver {
    shared: Arc<(Mutex<Pending>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    /// Without a thread (it could not start), saves happen in `save`.
    inline: Option<PathBuf>,
}

#[derive(Debug, Default)]
struct Pending {
    next: Option<EffectsState>,
    asked: u64,
    done: u64,
    closing: bool,
}

impl Saver {
    pub fn start(path: PathBuf) -> Saver {
        let shared = Arc::new((Mutex::new(Pending::default()), Condvar::new()));
        let spawned = {
            let (shared, path) = (shared.clone(), path.clone());
            std::thread::Builder::new()
                .name("state-saver".into())
                .spawn(move || Self::run(&path, &shared))
        };
        match spawned {
            Ok(thread) => Saver {
                shared,
                thread: Some(thread),
                inline: None,
            },
            Err(e) => {
                tracing::warn!("cannot start the state saver ({e}); saving on the caller's thread");
                Saver {
                    shared,
                    thread: None,
                    inline: Some(path),
                }
            }
        }
    }

    fn lock(shared: &(Mutex<Pending>, Condvar)) -> std::sync::MutexGuard<'_, Pending> {
        shared.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(path: &Path, shared: &(Mutex<Pending>, Condvar)) {
        loop {
            let (effects, asked) = {
                let mut p = Self::lock(shared);
                while p.next.is_none() && !p.closing {
                    p = shared.1.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                match p.next.take() {
                    Some(e) => (e, p.asked),
                    None => return,
                }
            };
            write_logged(path, &effects);
            Self::lock(shared).done = asked;
            shared.1.notify_all();
        }
    }

    /// Asks for `effects` to be saved; returns at once.
    pub fn save(&self, effects: EffectsState) {
        if let Some(path) = &self.inline {
            write_logged(path, &effects);
            return;
        }
        let mut p = Self::lock(&self.shared);
        p.next = Some(effects);
        p.asked += 1;
        self.shared.1.notify_all();
    }

    /// Waits until everything asked so far is written (or failed and logged).
    pub fn flush(&self) {
        if self.thread.is_none() {
            return;
        }
        let mut p = Self::lock(&self.shared);
        while p.done < p.asked {
            p = self.shared.1.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        Self::lock(&self.shared).closing = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_logged(path: &Path, effects: &EffectsState) {
    if let Err(e) = save(path, effects) {
        tracing::error!(
            path = %path.display(),
            "cannot save the effects ({e}); the last saved ones stay, and are restored at the next start"
        );
        crate::supervise::record(
            "state",
            &format!(
                "cannot save {} ({e}); the last saved effects kept",
                path.display()
            ),
        );
    }
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
            ..Default::default()
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
        let mut names: Vec<_> = names
            .into_iter()
            .map(|n| n.into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(names, vec!["state.toml", "state.toml.last-good"]);
        assert_eq!(
            load(&last_good(&path)),
            Ok(Some(e)),
            "the replaced file is kept"
        );
    }

    #[test]
    fn a_torn_file_gives_way_to_the_last_good_copy() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state.toml");
        let first = EffectsState {
            filter: Some("sepia".parse().expect("filter")),
            ..Default::default()
        };
        let second = EffectsState {
            avatar: Some("robot".into()),
            ..first.clone()
        };
        save(&path, &first).expect("save");
        save(&path, &second).expect("save");
        // Torn mid-write: the first half of the file.
        let text = std::fs::read(&path).expect("read");
        std::fs::write(&path, &text[..text.len() / 2]).expect("tear");
        let (effects, warning) = load_or_last_good(&path, &SegmenterSpec::Model);
        assert_eq!(effects, Some(first.clone()));
        let warning = warning.expect("warned");
        assert!(warning.contains("last-good"), "{warning}");
        // A torn file is never kept as the last good copy.
        save(&path, &second).expect("save over the torn file");
        assert_eq!(load(&last_good(&path)), Ok(Some(first)));
        assert_eq!(
            load_or_last_good(&path, &SegmenterSpec::Model),
            (Some(second), None)
        );
        // Both broken: the configured effects, said so.
        std::fs::write(&path, "[effects").expect("tear");
        std::fs::write(last_good(&path), "version = ").expect("tear");
        let (effects, warning) = load_or_last_good(&path, &SegmenterSpec::Model);
        assert_eq!(effects, None);
        assert!(warning.expect("warned").contains("configured effects"));
    }

    #[test]
    fn a_failed_save_leaves_the_saved_state_as_it_was() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state.toml");
        let saved = EffectsState {
            filter: Some("sepia".parse().expect("filter")),
            ..Default::default()
        };
        save(&path, &saved).expect("save");
        // A directory cannot be written where a file stands (ENOTDIR, even
        // for root): the save fails before touching anything.
        let blocked = path.join("state.toml");
        assert!(save(&blocked, &EffectsState::default()).is_err());
        assert_eq!(load(&path), Ok(Some(saved.clone())));
        // Through the saver: the failure is logged and shown by `status`.
        let saver = Saver::start(blocked);
        saver.save(EffectsState::default());
        saver.flush();
        assert!(
            crate::supervise::summary()
                .iter()
                .any(|l| l.starts_with("state: ") && l.contains("last saved effects kept")),
            "{:?}",
            crate::supervise::summary()
        );
        assert_eq!(load(&path), Ok(Some(saved)));
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

    #[test]
    fn the_segmenter_is_saved_and_old_files_keep_the_configured_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state.toml");
        let blue: SegmenterSpec = "chroma:blue".parse().expect("spec");
        let e = EffectsState {
            background: BackgroundSpec::Blur { strength: 8.0 },
            segmenter: blue.clone(),
            ..Default::default()
        };
        save(&path, &e).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("segmenter = \"chroma:blue\""), "{text}");
        assert_eq!(load(&path), Ok(Some(e.clone())));
        // Version 2 without a segmenter: the model was in use.
        save(&path, &EffectsState::default()).expect("save");
        assert_eq!(
            load_or_last_good(&path, &blue).0.map(|e| e.segmenter),
            Some(SegmenterSpec::Model)
        );
        // Version 1 never saved it: the configured one stands.
        std::fs::write(&path, "version = 1\n[effects]\navatar = \"alien\"\n").expect("write");
        let (old, warning) = load_or_last_good(&path, &blue);
        assert_eq!(warning, None);
        let old = old.expect("some");
        assert_eq!(old.avatar.as_deref(), Some("alien"));
        assert_eq!(old.segmenter, blue);
    }
}
