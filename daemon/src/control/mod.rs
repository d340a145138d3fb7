//! The control plane. `Hub` is the live state shared by the D-Bus service, the
//! config watcher and the frame loop: the effects and the source (written by
//! control, read by the pipeline at the next frame) and what the pipeline
//! reports back (camera open, outputs, pending snapshots). `dbus` serves it on
//! the session bus, `state` keeps the effects across restarts, `reload`
//! follows the config file.

pub mod dbus;
pub mod reload;
pub mod state;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{oneshot, watch};

use crate::config::RoomDefaults;
use crate::frame::SharedFrame;
use crate::settings::effects::EffectsState;
use crate::settings::source::SourceSpec;
use crate::stats::Stats;

/// What a snapshot request gets: the next live output frame, or why there is none.
pub type SnapshotReply = Result<SharedFrame, String>;

/// A value with a generation counter, so readers on the frame path can check
/// for news with one atomic load.
#[derive(Debug)]
struct Versioned<T> {
    value: Mutex<T>,
    generation: AtomicU64,
}

impl<T: Clone + PartialEq> Versioned<T> {
    fn new(value: T) -> Self {
        Versioned {
            value: Mutex::new(value),
            generation: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, T> {
        self.value.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self) -> T {
        self.lock().clone()
    }

    /// Replaces the value; false (and no new generation) when it is unchanged.
    fn set(&self, value: T) -> bool {
        let mut v = self.lock();
        if *v == value {
            return false;
        }
        *v = value;
        self.generation.fetch_add(1, Ordering::Release);
        true
    }

    /// The value when its generation is newer than `seen` (which is updated).
    fn newer(&self, seen: &mut u64) -> Option<T> {
        let g = self.generation.load(Ordering::Acquire);
        if g == *seen {
            return None;
        }
        let v = self.lock();
        *seen = self.generation.load(Ordering::Acquire);
        Some(v.clone())
    }
}

/// Live state shared between control and the pipeline.
#[derive(Debug)]
pub struct Hub {
    effects: Versioned<EffectsState>,
    source: Versioned<SourceSpec>,
    camera_active: AtomicBool,
    outputs: Mutex<Vec<String>>,
    snapshots: Mutex<Vec<oneshot::Sender<SnapshotReply>>>,
    stats: Arc<Stats>,
    rooms: Mutex<RoomDefaults>,
    /// Output pictures for the rooms joined (the rooms service itself,
    /// `room::Rooms`, is owned by `main`).
    room_tap: Arc<crate::room::tap::FrameTap>,
    /// The source's pictures before any effect, for the studio's
    /// thumbnails (published only while a reader waits).
    source_tap: Arc<crate::room::tap::FrameTap>,
    /// Writes the effects to the state file on a thread of its own; `None`
    /// for runs that leave no trace.
    saver: Option<state::Saver>,
    /// Counts the changes clients should hear about, for any number of
    /// listeners (the D-Bus announcer, studio pages).
    revision: watch::Sender<u64>,
}

impl Hub {
    pub fn new(effects: EffectsState, source: SourceSpec, stats: Arc<Stats>) -> Self {
        Hub {
            effects: Versioned::new(effects),
            source: Versioned::new(source),
            camera_active: AtomicBool::new(false),
            outputs: Mutex::new(Vec::new()),
            snapshots: Mutex::new(Vec::new()),
            stats,
            rooms: Mutex::new(RoomDefaults::default()),
            room_tap: Arc::default(),
            source_tap: Arc::default(),
            saver: None,
            revision: watch::Sender::new(0),
        }
    }

    /// Effects changes are written to `path` (atomically, off the caller's
    /// thread) from now on.
    pub fn persist_to(mut self, path: PathBuf) -> Self {
        self.saver = Some(state::Saver::start(path));
        self
    }

    /// Waits until every change so far is on disk (shutdown, tests).
    pub fn flush_saved(&self) {
        if let Some(s) = &self.saver {
            s.flush();
        }
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    pub fn effects(&self) -> EffectsState {
        self.effects.get()
    }

    /// For the effect stage: the settings, when they changed since `seen`.
    pub fn effects_if_newer(&self, seen: &mut u64) -> Option<EffectsState> {
        self.effects.newer(seen)
    }

    /// Changes the effects with `edit`; the next frame shows them. Returns
    /// whether anything changed. The result is persisted by the saver's
    /// thread (so a slow disk never holds up D-Bus); a failure to write it
    /// is logged there (the change itself stands).
    pub fn update_effects(&self, edit: impl FnOnce(&mut EffectsState)) -> bool {
        let mut next = self.effects.get();
        edit(&mut next);
        if !self.effects.set(next.clone()) {
            return false;
        }
        if let Some(saver) = &self.saver {
            saver.save(next);
        }
        self.announce();
        true
    }

    pub fn source(&self) -> SourceSpec {
        self.source.get()
    }

    /// For the frame loop: the source, when it changed since `seen`.
    pub fn source_if_newer(&self, seen: &mut u64) -> Option<SourceSpec> {
        self.source.newer(seen)
    }

    pub fn set_source(&self, spec: SourceSpec) -> bool {
        let changed = self.source.set(spec);
        if changed {
            self.announce();
        }
        changed
    }

    pub fn camera_active(&self) -> bool {
        self.camera_active.load(Ordering::Relaxed)
    }

    /// Called by the frame loop on every turn; clients hear only of changes.
    pub fn set_camera_active(&self, active: bool) {
        if self.camera_active.swap(active, Ordering::Relaxed) != active {
            self.announce();
        }
    }

    pub fn outputs(&self) -> Vec<String> {
        self.outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_outputs(&self, outputs: Vec<String>) {
        *self.outputs.lock().unwrap_or_else(|p| p.into_inner()) = outputs;
        self.announce();
    }

    /// Where the pipeline puts output pictures for the rooms.
    pub fn room_tap(&self) -> &Arc<crate::room::tap::FrameTap> {
        &self.room_tap
    }

    /// Where the effect stage puts the source's pictures while someone
    /// (the studio's thumbnails) waits for one.
    pub fn source_tap(&self) -> &Arc<crate::room::tap::FrameTap> {
        &self.source_tap
    }

    pub fn room_defaults(&self) -> RoomDefaults {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_room_defaults(&self, defaults: RoomDefaults) {
        *self.rooms.lock().unwrap_or_else(|p| p.into_inner()) = defaults;
    }

    /// Asks for the next live output frame.
    pub fn request_snapshot(&self) -> oneshot::Receiver<SnapshotReply> {
        let (tx, rx) = oneshot::channel();
        self.pending().push(tx);
        rx
    }

    fn pending(&self) -> MutexGuard<'_, Vec<oneshot::Sender<SnapshotReply>>> {
        self.snapshots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A snapshot is waiting: the camera must deliver even if nobody watches.
    pub fn snapshot_wanted(&self) -> bool {
        let mut p = self.pending();
        p.retain(|tx| !tx.is_closed());
        !p.is_empty()
    }

    /// Answers every waiting snapshot request.
    pub fn answer_snapshots(&self, reply: SnapshotReply) {
        for tx in self.pending().drain(..) {
            let _ = tx.send(reply.clone());
        }
    }

    /// A listener to the count of changes clients should hear about: its
    /// `changed()` resolves after each, also for a change made while it
    /// was not waiting (several may fold into one).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    fn announce(&self) {
        self.revision.send_modify(|r| *r += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::background::BackgroundSpec;

    fn hub() -> Hub {
        Hub::new(
            EffectsState::default(),
            SourceSpec::Demo,
            Arc::new(Stats::new()),
        )
    }

    #[test]
    fn readers_see_each_change_once() {
        let hub = hub();
        let mut seen = 0;
        assert_eq!(
            hub.effects_if_newer(&mut seen),
            Some(EffectsState::default())
        );
        assert_eq!(hub.effects_if_newer(&mut seen), None);
        assert!(hub.update_effects(|e| e.filter = Some("sepia".parse().expect("filter"))));
        let got = hub.effects_if_newer(&mut seen).expect("news");
        assert_eq!(got.filter.map(|f| f.name), Some("sepia".to_string()));
        assert_eq!(hub.effects_if_newer(&mut seen), None);
        // Setting the same value again is no news.
        assert!(!hub.update_effects(|e| e.background = BackgroundSpec::None));
        assert_eq!(hub.effects_if_newer(&mut seen), None);
        let mut src_seen = 0;
        assert_eq!(hub.source_if_newer(&mut src_seen), Some(SourceSpec::Demo));
        assert!(hub.set_source(SourceSpec::Auto));
        assert_eq!(hub.source_if_newer(&mut src_seen), Some(SourceSpec::Auto));
    }

    #[test]
    fn changes_are_persisted() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state.toml");
        let hub = hub().persist_to(path.clone());
        for strength in [20.0, 21.0, 22.0] {
            hub.update_effects(|e| e.background = BackgroundSpec::Blur { strength });
        }
        hub.flush_saved();
        let saved = state::load(&path).expect("readable").expect("written");
        assert_eq!(saved.background, BackgroundSpec::Blur { strength: 22.0 });
        // The last change is written when the hub goes, flushed or not.
        hub.update_effects(|e| e.background = BackgroundSpec::None);
        drop(hub);
        let saved = state::load(&path).expect("readable").expect("written");
        assert_eq!(saved.background, BackgroundSpec::None);
    }

    #[test]
    fn snapshots_are_answered_and_abandoned_ones_forgotten() {
        let hub = hub();
        assert!(!hub.snapshot_wanted());
        let mut rx = hub.request_snapshot();
        let gone = hub.request_snapshot();
        drop(gone);
        assert!(hub.snapshot_wanted());
        hub.answer_snapshots(Err("camera unplugged".into()));
        assert_eq!(
            rx.try_recv().expect("answered").err().as_deref(),
            Some("camera unplugged")
        );
        assert!(!hub.snapshot_wanted());
    }
}
