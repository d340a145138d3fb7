//! Following the config file while the daemon runs. A save (in place, or by
//! an editor's write-and-rename) is seen through inotify on the directory;
//! the keys that changed are applied: effects and the source at the next
//! frame, the rest at the next start (said in the log). A file with a mistake
//! is refused with its file, line and key, and the last good settings stay.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{self, ConfigFile};

use super::Hub;

/// Applies config file changes to the hub.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    hub: Arc<Hub>,
    /// The last file that was read without error.
    last_good: Mutex<ConfigFile>,
}

impl Reloader {
    /// `initial` is the file as read at start (empty when there was none).
    pub fn new(path: PathBuf, hub: Arc<Hub>, initial: ConfigFile) -> Self {
        Reloader {
            path,
            hub,
            last_good: Mutex::new(initial),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again and applies what changed. Returns the keys that
    /// changed, or the problem (the running settings are then untouched).
    pub fn reload(&self) -> Result<Vec<&'static str>, String> {
        let (file, settings) = match config::read(&self.path) {
            Ok(Some(read)) => read,
            // Deleted: keep running as we are; a new file is read when it appears.
            Ok(None) => return Ok(Vec::new()),
            Err(e) => return Err(format!("{e}; keeping the last good settings")),
        };
        let mut last = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
        let mut changed = Vec::new();
        let filter = file.filter != last.filter;
        let background = file.background != last.background;
        let avatar = file.avatar != last.avatar;
        let segmenter = file.segmenter != last.segmenter;
        if filter || background || avatar || segmenter {
            self.hub.update_effects(|e| {
                if filter {
                    e.filter = settings.filter.clone();
                }
                if background {
                    e.background = settings.background.clone();
                }
                if avatar {
                    e.avatar = settings.avatar.clone();
                }
                if segmenter {
                    e.segmenter = settings.segmenter.clone();
                }
            });
        }
        if filter {
            changed.push("filter");
        }
        if background {
            changed.push("background");
        }
        if avatar {
            changed.push("avatar");
        }
        if segmenter {
            changed.push("segmenter");
        }
        if file.rooms != last.rooms {
            self.hub.set_room_defaults(settings.rooms.clone());
            changed.push("rooms");
        }
        if file.source != last.source {
            self.hub.set_source(settings.source.clone());
            changed.push("source");
        }
        let restart: Vec<&'static str> = [
            ("outputs", file.outputs != last.outputs),
            ("size", file.size != last.size),
            ("fps", file.fps != last.fps),
            ("output_format", file.output_format != last.output_format),
            ("camera_format", file.camera_format != last.camera_format),
            ("gpu", file.gpu != last.gpu),
        ]
        .into_iter()
        .filter_map(|(k, c)| c.then_some(k))
        .collect();
        if !restart.is_empty() {
            tracing::warn!(
                path = %self.path.display(),
                "{} changed: applied when bytemeetd restarts (systemctl --user restart bytemeetd)",
                restart.join(", ")
            );
            changed.extend(restart);
        }
        *last = file;
        Ok(changed)
    }

    /// Reloads and logs the outcome.
    pub fn reload_and_log(&self) -> Result<Vec<&'static str>, String> {
        let r = self.reload();
        match &r {
            Ok(keys) if keys.is_empty() => {}
            Ok(keys) => {
                tracing::info!(path = %self.path.display(), "config reloaded: {}", keys.join(", "))
            }
            Err(e) => tracing::error!("{e}"),
        }
        r
    }

    /// Watches the file on a thread of its own for as long as the process
    /// runs. Saves are debounced (editors write in several steps).
    pub fn watch(self: Arc<Self>) -> std::io::Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name: OsString = self.path.file_name().unwrap_or_default().to_os_string();
        // The directory may not exist yet: create it, so a config written
        // later is seen too.
        std::fs::create_dir_all(&dir)?;
        let mut ino = inotify::Inotify::init()?;
        use inotify::WatchMask as M;
        ino.watches()
            .add(&dir, M::CLOSE_WRITE | M::MOVED_TO | M::CREATE | M::DELETE)?;
        std::thread::Builder::new()
            .name("config-watch".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let ours = match ino.read_events_blocking(&mut buf) {
                        Ok(events) => events
                            .into_iter()
                            .any(|e| e.name.is_some_and(|n| n == name.as_os_str())),
                        Err(e) => {
                            tracing::error!(
                                "config watch stopped: {e}; `bytemeetctl reload` still works"
                            );
                            return;
                        }
                    };
                    if ours {
                        // Let a multi-step save finish, and drain what it caused.
                        std::thread::sleep(Duration::from_millis(100));
                        let _ = ino.read_events(&mut buf);
                        let _ = self.reload_and_log();
                    }
                }
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::effects::EffectsState;
    use crate::settings::source::SourceSpec;
    use crate::stats::Stats;

    fn setup(text: &str) -> (tempfile::TempDir, Arc<Hub>, Reloader) {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write");
        let (file, s) = config::read(&path).expect("valid").expect("present");
        let hub = Arc::new(Hub::new(
            EffectsState {
                filter: s.filter,
                background: s.background,
                ..EffectsState::default()
            },
            s.source,
            Arc::new(Stats::new()),
        ));
        let r = Reloader::new(path, hub.clone(), file);
        (dir, hub, r)
    }

    #[test]
    fn changed_keys_apply_and_mistakes_keep_the_last_good_settings() {
        let (_dir, hub, r) = setup("source = \"demo\"\nfilter = \"sepia\"\n");
        assert_eq!(r.reload(), Ok(vec![]));
        std::fs::write(
            r.path(),
            "source = \"demo\"\nfilter = \"toon\"\nbackground = \"blur:20\"\n",
        )
        .expect("write");
        assert_eq!(r.reload(), Ok(vec!["filter", "background"]));
        assert_eq!(hub.effects().filter.map(|f| f.name), Some("toon".into()));
        // A mistake: named, refused, nothing changes.
        std::fs::write(r.path(), "source = \"demo\"\nfilter = \"nope\"\n").expect("write");
        let err = r.reload().expect_err("bad");
        assert!(
            err.contains(":2: key `filter`") && err.contains("last good"),
            "{err}"
        );
        assert_eq!(hub.effects().filter.map(|f| f.name), Some("toon".into()));
        // Fixed again: compared with the last good file, only the filter changed back.
        std::fs::write(
            r.path(),
            "source = \"auto\"\nfilter = \"toon\"\nbackground = \"blur:20\"\nfps = 15\n",
        )
        .expect("write");
        assert_eq!(r.reload(), Ok(vec!["source", "fps"]));
        assert_eq!(hub.source(), SourceSpec::Auto);
        // The segmenter applies live, like the effects.
        std::fs::write(
            r.path(),
            "source = \"auto\"\nfilter = \"toon\"\nbackground = \"blur:20\"\nfps = 15\nsegmenter = \"chroma:blue\"\n",
        )
        .expect("write");
        assert_eq!(r.reload(), Ok(vec!["segmenter"]));
        assert_eq!(hub.effects().segmenter.to_string(), "chroma:blue");
    }

    #[test]
    fn a_save_is_seen_without_being_asked() {
        let (_dir, hub, r) = setup("filter = \"sepia\"\n");
        let path = r.path().to_path_buf();
        Arc::new(r).watch().expect("watch");
        // An editor-style save: write a new file, rename it over the old one.
        let tmp = path.with_extension("toml.swp");
        std::fs::write(&tmp, "filter = \"invert\"\n").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while hub.effects().filter.map(|f| f.name) != Some("invert".into()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the save was not applied"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
