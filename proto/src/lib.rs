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

/// The width of one entry of `StatsSnapshot::delay_counts`, in ms.
pub const DELAY_STEP_MS: f64 = 5.0;

/// Pipeline counters as the daemon reports them (`Stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
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
    /// Person masks computed per second (smoothed; 0 when none lately).
    pub masks_per_s: f64,
    /// Face tracks (one per frame the tracker looked at) per second.
    pub faces_per_s: f64,
    /// How many source frames older than the frame it is applied to the
    /// mask is (smoothed over the frames sent with a mask; 0 when none).
    pub mask_age_frames: f64,
    /// The same in milliseconds of capture time.
    pub mask_age_ms: f64,
    /// How much older than its frame the face an avatar follows is, in frames.
    pub face_age_frames: f64,
    pub face_age_ms: f64,
    /// Frames sent with a mask since the daemon started, counted by the
    /// mask's age in source frames: entry i counts masks i frames older than
    /// their frame, the last entry that many or more. Two snapshots give
    /// the distribution (median, p99) over the time between them.
    pub mask_age_counts: Vec<u64>,
    /// The same for the face an avatar follows.
    pub face_age_counts: Vec<u64>,
    /// Frames from the source since the daemon started, counted by the
    /// delay from capture to the frame loop's hand-over to the outputs, in
    /// steps of `DELAY_STEP_MS` (the last entry: that far or further).
    pub delay_counts: Vec<u64>,
    /// The GPU the effects run on, or `none: WHY`.
    pub gpu: String,
    /// The faults the daemon recovered from since it started, one line per
    /// part: `perception: once, last: panicked (...); restarted`.
    pub faults: Vec<String>,
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

/// Where a user's own background pictures live, shown in the studio's
/// gallery: `$XDG_DATA_HOME/bytemeet/backgrounds`
/// (`~/.local/share/bytemeet/backgrounds`).
pub fn backgrounds_dir() -> Option<PathBuf> {
    xdg_file("XDG_DATA_HOME", ".local/share", "backgrounds")
}

/// `a(ss)`: a name and a one-line description, for the `List*` methods.
pub type Choice = (String, String);

/// The range a room's video bitrate ceiling (`JoinRoom`'s `max_kbps`,
/// `[rooms] max_kbps`) may take, in kbit/s.
pub const ROOM_KBPS: std::ops::RangeInclusive<u32> = 150..=20_000;

/// How a joined room is going, as the daemon's room session sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum RoomState {
    /// Opening the connection to the room server, or waiting for it to
    /// answer the join.
    Connecting,
    /// In the room, with this many other participants.
    InRoom { others: u32 },
    /// The server or the network went away; trying again.
    Reconnecting { reason: String },
    /// The server turned the join down (room full, bad name); trying again
    /// now and then, as a full room may make room.
    Refused { reason: String },
}

/// `(sus)`: a [`RoomState`] on D-Bus: the phase (`connecting`, `in-room`,
/// `reconnecting`, `refused`), the others in the room, and the reason.
pub type RoomStateWire = (String, u32, String);

impl RoomState {
    pub fn phase(&self) -> &'static str {
        match self {
            RoomState::Connecting => "connecting",
            RoomState::InRoom { .. } => "in-room",
            RoomState::Reconnecting { .. } => "reconnecting",
            RoomState::Refused { .. } => "refused",
        }
    }

    pub fn to_wire(&self) -> RoomStateWire {
        let (others, reason) = match self {
            RoomState::Connecting => (0, ""),
            RoomState::InRoom { others } => (*others, ""),
            RoomState::Reconnecting { reason } | RoomState::Refused { reason } => (0, &reason[..]),
        };
        (self.phase().to_string(), others, reason.to_string())
    }

    /// The state a D-Bus client reads; `None` for a phase this version does
    /// not know (a newer daemon).
    pub fn from_wire((phase, others, reason): RoomStateWire) -> Option<Self> {
        Some(match phase.as_str() {
            "connecting" => RoomState::Connecting,
            "in-room" => RoomState::InRoom { others },
            "reconnecting" => RoomState::Reconnecting { reason },
            "refused" => RoomState::Refused { reason },
            _ => return None,
        })
    }
}

impl std::fmt::Display for RoomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoomState::Connecting => f.write_str("connecting"),
            RoomState::InRoom { others: 0 } => f.write_str("in the room, alone"),
            RoomState::InRoom { others: 1 } => f.write_str("in the room with 1 other"),
            RoomState::InRoom { others } => write!(f, "in the room with {others} others"),
            RoomState::Reconnecting { reason } => write!(f, "reconnecting: {reason}"),
            RoomState::Refused { reason } => write!(f, "refused: {reason}"),
        }
    }
}

/// `a(sss(sus))`: a joined room: its id, its page address, the name shown
/// there, and its [`RoomState`].
pub type RoomEntry = (String, String, String, RoomStateWire);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_consistent() {
        assert!(INTERFACE.starts_with(BUS_NAME));
        assert_eq!(OBJECT_PATH, format!("/{}", BUS_NAME.replace('.', "/")));
    }

    #[test]
    fn room_states_cross_the_wire_and_read_as_today() {
        let states = [
            RoomState::Connecting,
            RoomState::InRoom { others: 0 },
            RoomState::InRoom { others: 2 },
            RoomState::Reconnecting {
                reason: "the server closed the connection".into(),
            },
            RoomState::Refused {
                reason: "room is full".into(),
            },
        ];
        for s in &states {
            assert_eq!(RoomState::from_wire(s.to_wire()).as_ref(), Some(s));
        }
        assert_eq!(states[2].to_string(), "in the room with 2 others");
        assert_eq!(states[1].to_string(), "in the room, alone");
        assert!(RoomState::from_wire(("dancing".into(), 0, String::new())).is_none());
        let json = serde_json::to_string(&states[2]).expect("json");
        assert_eq!(json, r#"{"phase":"in-room","others":2}"#);
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
