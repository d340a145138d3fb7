//! The D-Bus side of the shared types (feature `dbus`, on for the daemon and
//! the CLI; the room server builds without zbus): the error names, the
//! proxy, and the stats as a D-Bus dictionary.

use std::collections::{BTreeMap, HashMap};

use zbus::zvariant::{OwnedValue, Value};

use crate::{Choice, RoomEntry, StatsSnapshot, BUS_NAME};

/// The process id of whoever owns [`BUS_NAME`] on `conn`'s bus. Asking does
/// not start the daemon; `NameHasNoOwner` means it is not running.
pub async fn owner_pid(conn: &zbus::Connection) -> zbus::fdo::Result<u32> {
    let name = zbus::names::BusName::try_from(BUS_NAME).map_err(zbus::Error::from)?;
    zbus::fdo::DBusProxy::new(conn)
        .await?
        .get_connection_unix_process_id(name)
        .await
}

/// D-Bus errors the daemon answers with. Their names are stable
/// (`org.bytemeet.Camera1.Error.UnknownFilter`, ...): scripts may match on
/// them; the message is for people and says what to do.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.bytemeet.Camera1.Error")]
pub enum CameraError {
    /// A transport failure, not an answer from the daemon.
    #[zbus(error)]
    ZBus(zbus::Error),
    UnknownFilter(String),
    UnknownBackground(String),
    UnknownAvatar(String),
    /// A malformed argument: a bad spec, a relative path, a missing file.
    InvalidArgument(String),
    /// The device exists but another program holds it.
    DeviceBusy(String),
    /// No device at that path.
    NoSuchDevice(String),
    /// The camera cannot deliver a picture right now (e.g. for a snapshot).
    CameraUnavailable(String),
    /// The daemon knows the request but this build cannot do it.
    NotSupported(String),
    /// The config file has a mistake; the message names file, line and key.
    InvalidConfig(String),
    /// The request was valid but carrying it out failed (disk full, ...).
    Failed(String),
}

/// The camera object as clients see it. The daemon implements the same
/// interface (`org.bytemeet.Camera1`); a peer-to-peer test calls every member
/// through this proxy so the two cannot drift apart.
#[zbus::proxy(
    interface = "org.bytemeet.Camera1",
    default_service = "org.bytemeet.Camera",
    default_path = "/org/bytemeet/Camera"
)]
pub trait Camera {
    /// Filters: name and description.
    fn list_filters(&self) -> zbus::Result<Vec<Choice>>;
    /// Backgrounds: spec (`none`, `blur`, `scene:NAME`, ...) and description.
    fn list_backgrounds(&self) -> zbus::Result<Vec<Choice>>;
    /// Installed avatars: name and description.
    fn list_avatars(&self) -> zbus::Result<Vec<Choice>>;
    /// `NAME` or `NAME:key=value,...`; empty or `none` turns the filter off.
    fn set_filter(&self, spec: &str) -> zbus::Result<()>;
    /// `none`, `blur[:STRENGTH]`, `scene:NAME`, a scene name, `image:PATH`,
    /// `video:PATH.y4m`, or an absolute image path.
    fn set_background(&self, spec: &str) -> zbus::Result<()>;
    /// An installed avatar's name; empty or `none` takes it off.
    fn set_avatar(&self, name: &str) -> zbus::Result<()>;
    /// Filter, background and avatar off (the segmenter stays).
    fn clear_effects(&self) -> zbus::Result<()>;
    /// How the person is found for backgrounds and avatars: `model` (the
    /// segmentation model), `chroma` (a green backdrop keyed out),
    /// `chroma:blue` or `chroma:#RRGGBB`.
    fn set_segmenter(&self, spec: &str) -> zbus::Result<()>;
    /// `auto`, `demo`, `v4l2:/dev/videoN`, `pipewire:NODE` or `file:PATH`.
    fn set_source(&self, spec: &str) -> zbus::Result<()>;
    /// Writes the next output picture as PNG to an absolute path.
    fn snapshot(&self, path: &str) -> zbus::Result<()>;
    /// Joins a ByteMeet room (`http://HOST:PORT/ROOM`, or a room id with
    /// `[rooms] server` configured) as `display_name` (empty: the configured
    /// one), sending at most `max_kbps` (0: the configured ceiling); returns
    /// the room id.
    fn join_room(&self, url: &str, display_name: &str, max_kbps: u32) -> zbus::Result<String>;
    fn leave_room(&self, id: &str) -> zbus::Result<()>;
    /// Reads the config file again.
    fn reload(&self) -> zbus::Result<()>;
    /// Starts the studio page's server on first use; its address with the
    /// token that opens it (loopback only).
    fn open_studio(&self) -> zbus::Result<String>;

    #[zbus(property)]
    fn filter(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn background(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn avatar(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn segmenter(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn source(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn outputs(&self) -> zbus::Result<Vec<String>>;
    #[zbus(property)]
    fn rooms(&self) -> zbus::Result<Vec<RoomEntry>>;
    #[zbus(property)]
    fn camera_active(&self) -> zbus::Result<bool>;
    #[zbus(property)]
    fn stats(&self) -> zbus::Result<HashMap<String, OwnedValue>>;
}

impl StatsSnapshot {
    /// The `Stats` property's `a{sv}`: `fps_in`, `fps_out` (d), `frames_in`,
    /// `frames_out`, `repeated`, `dropped` (t), `stage_ms`, `stage_max_ms`
    /// (a{sd}), the perception rates and ages (d), `mask_age_counts`,
    /// `face_age_counts`, `delay_counts` (at), `gpu` (s), `faults` (as).
    pub fn to_dict(&self) -> HashMap<String, OwnedValue> {
        let mut d = HashMap::new();
        let mut put = |k: &str, v: Value<'_>| {
            if let Ok(v) = OwnedValue::try_from(v) {
                d.insert(k.to_string(), v);
            }
        };
        put("fps_in", Value::from(self.fps_in));
        put("fps_out", Value::from(self.fps_out));
        put("frames_in", Value::from(self.frames_in));
        put("frames_out", Value::from(self.frames_out));
        put("repeated", Value::from(self.repeated));
        put("dropped", Value::from(self.dropped));
        let stages = |m: &BTreeMap<String, f64>| {
            Value::from(
                m.iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect::<HashMap<String, f64>>(),
            )
        };
        put("masks_per_s", Value::from(self.masks_per_s));
        put("faces_per_s", Value::from(self.faces_per_s));
        put("mask_age_frames", Value::from(self.mask_age_frames));
        put("mask_age_ms", Value::from(self.mask_age_ms));
        put("face_age_frames", Value::from(self.face_age_frames));
        put("face_age_ms", Value::from(self.face_age_ms));
        put("mask_age_counts", Value::from(self.mask_age_counts.clone()));
        put("face_age_counts", Value::from(self.face_age_counts.clone()));
        put("delay_counts", Value::from(self.delay_counts.clone()));
        put("gpu", Value::from(self.gpu.as_str()));
        put("faults", Value::from(self.faults.clone()));
        put("stage_ms", stages(&self.stage_ms));
        put("stage_max_ms", stages(&self.stage_max_ms));
        d
    }

    /// Reads the `Stats` property back; missing or mistyped keys read as zero.
    pub fn from_dict(d: &HashMap<String, OwnedValue>) -> Self {
        let f = |k: &str| d.get(k).and_then(|v| f64::try_from(v).ok()).unwrap_or(0.0);
        let n = |k: &str| d.get(k).and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        let counts = |k: &str| -> Vec<u64> {
            d.get(k)
                .and_then(|v| Vec::<u64>::try_from(v.try_clone().ok()?).ok())
                .unwrap_or_default()
        };
        let m = |k: &str| -> BTreeMap<String, f64> {
            d.get(k)
                .and_then(|v| v.try_clone().ok())
                .and_then(|v| HashMap::<String, f64>::try_from(v).ok())
                .map(|h| h.into_iter().collect())
                .unwrap_or_default()
        };
        StatsSnapshot {
            fps_in: f("fps_in"),
            fps_out: f("fps_out"),
            frames_in: n("frames_in"),
            frames_out: n("frames_out"),
            repeated: n("repeated"),
            dropped: n("dropped"),
            stage_ms: m("stage_ms"),
            stage_max_ms: m("stage_max_ms"),
            masks_per_s: f("masks_per_s"),
            faces_per_s: f("faces_per_s"),
            mask_age_frames: f("mask_age_frames"),
            mask_age_ms: f("mask_age_ms"),
            face_age_frames: f("face_age_frames"),
            face_age_ms: f("face_age_ms"),
            mask_age_counts: counts("mask_age_counts"),
            face_age_counts: counts("face_age_counts"),
            delay_counts: counts("delay_counts"),
            gpu: d
                .get("gpu")
                .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
                .unwrap_or_default(),
            faults: d
                .get("faults")
                .and_then(|v| Vec::<String>::try_from(v.try_clone().ok()?).ok())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::INTERFACE;

    #[test]
    fn stats_round_trip_through_a_dbus_dict() {
        let mut s = StatsSnapshot {
            fps_in: 29.5,
            fps_out: 30.0,
            frames_in: 100,
            frames_out: 120,
            repeated: 20,
            dropped: 3,
            masks_per_s: 14.5,
            faces_per_s: 12.0,
            mask_age_frames: 1.5,
            mask_age_ms: 50.0,
            face_age_frames: 2.0,
            face_age_ms: 66.0,
            mask_age_counts: vec![0, 40, 12, 1],
            face_age_counts: vec![3, 2],
            delay_counts: vec![0, 7, 90, 3],
            gpu: "llvmpipe (Cpu, Vulkan)".into(),
            faults: vec!["gpu: once, last: device lost".into()],
            ..Default::default()
        };
        s.stage_ms.insert("effects".into(), 7.25);
        s.stage_max_ms.insert("effects".into(), 19.0);
        assert_eq!(StatsSnapshot::from_dict(&s.to_dict()), s);
    }
    #[test]
    fn error_names_are_stable() {
        use zbus::DBusError;
        let e = CameraError::UnknownFilter("no filter x".into());
        assert_eq!(
            e.name().as_str(),
            "org.bytemeet.Camera1.Error.UnknownFilter"
        );
        assert!(e.name().as_str().starts_with(INTERFACE));
        assert_eq!(e.description(), Some("no filter x"));
    }
}
