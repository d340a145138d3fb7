//! Types and names shared by the ByteMeet daemon, its CLI and the room server:
//! the D-Bus coordinates and the plain-data state they exchange.

#[cfg(feature = "dbus")]
mod dbus;
pub mod signal;

#[cfg(feature = "dbus")]
pub use dbus::*;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Well-known D-Bus name the daemon owns on the session bus.
pub const BUS_NAME: &str = "org.bytemeet.Camera";
/// Object path of the camera object.
pub const OBJECT_PATH: &str = "/org/bytemeet/Camera";
/// Interface name, versioned.
pub const INTERFACE: &str = "org.bytemeet.Camera1";

/// Pipeline counters as the daemon reports them (`Stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// Frames per second arriving from the source (smoothed).
    pub fps_in: f64,
    /// Frames per second sent to the outputs, repeats included (smoothed).
    pub fps_out: f64,
    pub frames_in: u64,
    pub frames_out: u64,
    /// Output frames that re-sent an earlier picture to keep readers fed.
    pub repeated: u64,
    /// Frames dropped because a stage or output was slower than the source.
    pub dropped: u64,
    /// Smoothed milliseconds per frame, by stage.
    pub stage_ms: BTreeMap<String, f64>,
    /// Worst milliseconds per frame seen, by stage.
    pub stage_max_ms: BTreeMap<String, f64>,
}

/// `$VAR/bytemeet/NAME`, or `$HOME/FALLBACK/bytemeet/NAME` when `VAR` is
/// unset or empty (the XDG base-directory rule).
fn xdg_file(var: &str, fallback: &str, name: &str) -> Option<PathBuf> {
    let base = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))?;
    Some(base.join("bytemeet").join(name))
}

/// The daemon's config file: `$XDG_CONFIG_HOME/bytemeet/config.toml`.
pub fn config_file() -> Option<PathBuf> {
    xdg_file("XDG_CONFIG_HOME", ".config", "config.toml")
}

/// The daemon's saved effects: `$XDG_STATE_HOME/bytemeet/state.toml`.
pub fn state_file() -> Option<PathBuf> {
    xdg_file("XDG_STATE_HOME", ".local/state", "state.toml")
}

/// Where a user's own avatar packs live: `$XDG_DATA_HOME/bytemeet/avatars`
/// (`~/.local/share/bytemeet/avatars`).
pub fn avatars_dir() -> Option<PathBuf> {
    xdg_file("XDG_DATA_HOME", ".local/share", "avatars")
}

/// `a(ss)`: a name and a one-line description, for the `List*` methods.
pub type Choice = (String, String);

/// The range a room's video bitrate ceiling (`JoinRoom`'s `max_kbps`,
/// `[rooms] max_kbps`) may take, in kbit/s.
pub const ROOM_KBPS: std::ops::RangeInclusive<u32> = 150..=20_000;

/// `a(ssss)`: a joined room: its id, its page address, the name shown there,
/// and how it is going ("in the room with 2", "reconnecting: ...").
pub type RoomEntry = (String, String, String, String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_consistent() {
        assert!(INTERFACE.starts_with(BUS_NAME));
        assert_eq!(OBJECT_PATH, format!("/{}", BUS_NAME.replace('.', "/")));
    }

    #[test]
    fn stats_round_trip_through_toml() {
        let mut s = StatsSnapshot {
            fps_in: 30.0,
            frames_in: 9,
            ..Default::default()
        };
        s.stage_ms.insert("convert".into(), 1.5);
        let text = toml::to_string(&s).expect("serialize");
        let back: StatsSnapshot = toml::from_str(&text).expect("parse");
        assert_eq!(back, s);
    }
}
