//! Types and names shared by the ByteMeet daemon, its CLI and the room server:
//! the D-Bus coordinates and the plain-data state they exchange.

use std::collections::BTreeMap;

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
