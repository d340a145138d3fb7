//! The daemon's D-Bus face: `org.bytemeet.Camera1` at `/org/bytemeet/Camera`
//! on the session bus, as `org.bytemeet.Camera`. Methods check their
//! arguments and answer with a named error a person can act on; accepted
//! changes go into the `Hub`, where the frame loop picks them up at the next
//! frame. One task turns hub changes into `PropertiesChanged`, and sends
//! `Stats` once a second.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytemeet_proto::{CameraError, Choice, RoomEntry, BUS_NAME, OBJECT_PATH};
use zbus::zvariant::OwnedValue;

use crate::frame::{PixelFormat, Size};
use crate::gpu::lut::Lut3d;
use crate::settings::background::{self, BackgroundSpec, SCENES};
use crate::settings::effects::{is_off, EffectsState};
use crate::settings::filter::{FilterSpec, FILTERS};
use crate::settings::segmenter::SegmenterSpec;
use crate::settings::source::SourceSpec;
use crate::settings::SettingError;
use crate::v4l2;

use super::reload::Reloader;
use super::Hub;
use crate::room::Rooms;

/// How long a snapshot waits for the camera to deliver a picture.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// The object served at `/org/bytemeet/Camera`.
#[derive(Debug, Clone)]
pub struct CameraService {
    hub: Arc<Hub>,
    reloader: Option<Arc<Reloader>>,
    rooms: Arc<Rooms>,
    /// The studio page, started by `OpenStudio`; `None` in the studio's own
    /// copy of the service.
    studio: Option<Arc<dyn StudioPage>>,
}

/// The studio page as control sees it (the `studio` module serves it and
/// uses this service, so control names only this).
pub trait StudioPage: Send + Sync + std::fmt::Debug {
    /// Starts the page's server on first use; its address with the token.
    fn open(&self) -> Result<String, String>;
}

impl CameraService {
    pub fn new(hub: Arc<Hub>, reloader: Option<Arc<Reloader>>, rooms: Arc<Rooms>) -> Self {
        CameraService {
            hub,
            reloader,
            rooms,
            studio: None,
        }
    }

    /// Serves `OpenStudio` with `studio`.
    pub fn with_studio(mut self, studio: Arc<dyn StudioPage>) -> Self {
        self.studio = Some(studio);
        self
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn room_service(&self) -> &Arc<Rooms> {
        &self.rooms
    }
}

/// The changes every client makes the same way: D-Bus methods and the
/// studio page call these, so a change is checked once, by the same rules.
impl CameraService {
    pub async fn apply_filter(&self, spec: &str) -> Result<(), CameraError> {
        let spec = bounded(spec, "filter")?;
        let f = parse_filter(spec).await?;
        self.hub.update_effects(|e| e.filter = f);
        Ok(())
    }

    pub async fn apply_background(&self, spec: &str) -> Result<(), CameraError> {
        let spec = bounded(spec, "background")?;
        let b = parse_background(spec).await?;
        self.hub.update_effects(|e| e.background = b);
        Ok(())
    }

    pub async fn apply_avatar(&self, name: &str) -> Result<(), CameraError> {
        let name = bounded(name, "avatar")?;
        let name = name.trim();
        if is_off(name) {
            self.hub.update_effects(|e| e.avatar = None);
            return Ok(());
        }
        let chosen = name.to_string();
        let name = blocking(move || check_avatar(&chosen)).await?;
        self.hub.update_effects(|e| e.avatar = Some(name));
        Ok(())
    }

    /// How the person is found: `model`, `chroma`, `chroma:blue`,
    /// `chroma:#RRGGBB`. Applied at the next frame.
    pub async fn apply_segmenter(&self, spec: &str) -> Result<(), CameraError> {
        let spec = bounded(spec, "segmenter")?;
        let seg: SegmenterSpec = spec.parse().map_err(refused)?;
        self.hub.update_effects(|e| e.segmenter = seg);
        Ok(())
    }

    /// Filter, background and avatar off; the segmenter (how the person
    /// is found, not an effect) stays.
    pub fn clear(&self) {
        self.hub.update_effects(|e| {
            *e = EffectsState {
                segmenter: e.segmenter.clone(),
                ..EffectsState::default()
            }
        });
    }

    pub async fn apply_join(
        &self,
        url: &str,
        display_name: &str,
        max_kbps: u32,
    ) -> Result<String, CameraError> {
        let url = bounded(url, "room address")?;
        let display_name = bounded(display_name, "display name")?;
        let defaults = self.hub.room_defaults();
        // A bare room id joins on the configured server.
        let url = match &defaults.server {
            Some(server) if !url.contains("://") => {
                format!(
                    "{}/{}",
                    server.trim_end_matches('/'),
                    url.trim_start_matches('/')
                )
            }
            None if !url.contains("://") => {
                return Err(invalid(format!(
                    "room {url:?}: give the room's address (http://HOST:3030/ROOM), or set [rooms] server in the config to join by room id"
                )))
            }
            _ => url.to_string(),
        };
        let name = match display_name.trim() {
            "" => defaults.display_name.unwrap_or_else(|| "ByteMeet".into()),
            n => n.to_string(),
        };
        let name = bytemeet_proto::signal::display_name(&name).map_err(invalid)?;
        let max_kbps = match max_kbps {
            0 => defaults
                .max_kbps
                .unwrap_or(crate::room::RoomSettings::default().max_kbps),
            k => {
                crate::config::check_kbps(k).map_err(|e| invalid(e.to_string()))?;
                k
            }
        };
        let rooms = self.rooms.clone();
        blocking(move || {
            let rooms = rooms.joined().map_err(CameraError::Failed)?;
            rooms
                .join(
                    &url,
                    &name,
                    crate::room::RoomSettings {
                        max_kbps,
                        ..Default::default()
                    },
                )
                .map_err(|e| match e {
                    crate::room::RoomError::Runtime(why) => CameraError::Failed(why),
                    e => invalid(e.to_string()),
                })
        })
        .await
    }

    pub async fn apply_leave(&self, id: &str) -> Result<(), CameraError> {
        let id = bounded(id, "room id")?;
        let rooms = self.rooms.clone();
        let id = id.to_string();
        blocking(move || rooms.leave(&id).map_err(|e| invalid(e.to_string()))).await
    }
}

fn invalid(msg: impl Into<String>) -> CameraError {
    CameraError::InvalidArgument(msg.into())
}

/// The D-Bus answer to a refused setting: its kind picks the error name,
/// the message stays the setting's own.
fn refused(e: SettingError) -> CameraError {
    match &e {
        SettingError::Unknown { what: "filter", .. } => {
            CameraError::UnknownFilter(format!("{e} (see `bytemeetctl filter list`)"))
        }
        SettingError::Unknown {
            what: "background" | "scene",
            ..
        } => CameraError::UnknownBackground(format!("{e} (see `bytemeetctl background list`)")),
        SettingError::Unknown { .. } | SettingError::Invalid(_) => invalid(e.to_string()),
    }
}

/// Paths come from another process with another working directory: only
/// absolute ones mean the same thing on both sides.
fn absolute_file(path: &Path, what: &str) -> Result<(), CameraError> {
    if !path.is_absolute() {
        return Err(invalid(format!(
            "{what} {}: give an absolute path (bytemeetctl does this for you)",
            path.display()
        )));
    }
    Ok(())
}

/// The longest string argument taken: a path (`PATH_MAX`), a spec, a room
/// address. Longer ones are refused before anything is parsed, so no error
/// message echoes megabytes back.
const MAX_ARG: usize = 4096;

/// Refuses an argument longer than `MAX_ARG` bytes.
fn bounded<'a>(arg: &'a str, what: &str) -> Result<&'a str, CameraError> {
    if arg.len() > MAX_ARG {
        return Err(invalid(format!(
            "{what}: {} bytes is too long (at most {MAX_ARG})",
            arg.len()
        )));
    }
    Ok(arg)
}

/// The largest file read whole as a LUT or a still picture (a 64-point
/// `.cube` is about 8 MiB, a 8K PNG well under this).
const MAX_READ_WHOLE: u64 = 256 << 20;

/// How long a file given over D-Bus may take to check (open, read the
/// first frame): a path on a stalled network mount, or a file that blocks,
/// gets an error instead of a call that never returns.
const CHECK_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the daemon never reads pictures from: kernel interfaces, whose
/// files block, never end or have side effects when read.
const KERNEL_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Checks that `path` (absolute) is a regular file the daemon may read:
/// symlinks followed (a loop is named as one), no kernel files, no devices
/// or FIFOs (which can block a reader for ever), at most `max` bytes when
/// given. Blocking: call it through `checked_in_time`.
fn readable_file(path: &Path, what: &str, max: Option<u64>) -> Result<PathBuf, CameraError> {
    let shown = path.display();
    let real = std::fs::canonicalize(path).map_err(|e| {
        invalid(match e.raw_os_error() {
            Some(libc::ELOOP) => format!("{what} {shown}: a loop of symbolic links"),
            Some(libc::ENOENT) => format!("{what} {shown}: no such file"),
            Some(libc::EACCES) => format!("{what} {shown}: not readable by the daemon ({e})"),
            _ => format!("{what} {shown}: {e}"),
        })
    })?;
    if KERNEL_DIRS.iter().any(|d| real.starts_with(d)) {
        return Err(invalid(format!(
            "{what} {shown}: {} is a kernel or device file, not a {what} file",
            real.display()
        )));
    }
    let meta = std::fs::metadata(&real).map_err(|e| invalid(format!("{what} {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(invalid(format!(
            "{what} {shown}: not a regular file (a folder, device, FIFO or socket)"
        )));
    }
    if let Some(max) = max.filter(|m| meta.len() > *m) {
        return Err(invalid(format!(
            "{what} {shown}: too big ({} MiB; at most {} MiB)",
            meta.len() >> 20,
            max >> 20
        )));
    }
    Ok(real)
}

/// Runs a blocking check of a file given over D-Bus off the bus task, and
/// gives up on it after `CHECK_TIME` (the check's thread is left to finish).
async fn checked_in_time<T: Send + 'static>(
    what: &str,
    path: &Path,
    f: impl FnOnce() -> Result<T, CameraError> + Send + 'static,
) -> Result<T, CameraError> {
    match tokio::time::timeout(CHECK_TIME, blocking(f)).await {
        Ok(r) => r,
        Err(_) => Err(invalid(format!(
            "{what} {}: reading it took over {} s (a stalled network mount, or a file that blocks?)",
            path.display(),
            CHECK_TIME.as_secs()
        ))),
    }
}

/// Runs a blocking check (file decoding) off the bus task.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CameraError> + Send + 'static,
) -> Result<T, CameraError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CameraError::Failed(format!("internal task failed: {e}")))?
}

/// Parses and checks a filter spec; `None` turns the filter off.
pub async fn parse_filter(spec: &str) -> Result<Option<FilterSpec>, CameraError> {
    if is_off(spec) {
        return Ok(None);
    }
    let f: FilterSpec = spec.parse().map_err(refused)?;
    if let Some(lut) = f.lut.clone() {
        absolute_file(&lut, "LUT")?;
        let shown = lut.clone();
        checked_in_time("LUT", &shown, move || {
            readable_file(&lut, "LUT", Some(MAX_READ_WHOLE))?;
            Lut3d::load(&lut)
                .map(|_| ())
                .map_err(|e| invalid(e.to_string()))
        })
        .await?;
    }
    Ok(Some(f))
}

/// Parses and checks a background: a spec, a bare scene name, or an absolute
/// path to an image or a `.y4m` clip. Pictures are test-decoded, so a file
/// that is not one is refused here rather than failing on the frame path.
pub async fn parse_background(spec: &str) -> Result<BackgroundSpec, CameraError> {
    let s = spec.trim();
    if is_off(s) {
        return Ok(BackgroundSpec::None);
    }
    let b = if let Some(scene) = background::find_scene(s) {
        BackgroundSpec::Scene {
            name: scene.name.to_string(),
        }
    } else if s.starts_with('/') {
        let path = PathBuf::from(s);
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("y4m"))
        {
            BackgroundSpec::Video { path }
        } else {
            BackgroundSpec::Image { path }
        }
    } else {
        s.parse().map_err(refused)?
    };
    if let BackgroundSpec::Image { path } | BackgroundSpec::Video { path } = &b {
        absolute_file(path, "background")?;
        let clip = matches!(b, BackgroundSpec::Video { .. });
        let path = path.clone();
        let shown = path.clone();
        checked_in_time("background", &shown, move || {
            readable_file(&path, "background", (!clip).then_some(MAX_READ_WHOLE))?;
            let mut src = crate::source::file::open(&path, Size::new(64, 64))
                .map_err(|e| invalid(format!("background: {e}")))?;
            src.next_frame()
                .map(|_| ())
                .map_err(|e| invalid(format!("background: {e}")))
        })
        .await?;
    }
    Ok(b)
}

/// The installed packs as (name, description), user packs with where they are.
pub fn avatar_choices(cat: &crate::avatar::pack::Catalogue) -> Vec<Choice> {
    cat.packs
        .iter()
        .map(|p| {
            let m = &p.manifest;
            let from = match &p.origin {
                crate::avatar::pack::Origin::BuiltIn => String::new(),
                o => format!(" [{o}]"),
            };
            (
                m.name.clone(),
                format!("{} ({}){from}", m.description, m.mode.as_str()),
            )
        })
        .collect()
}

/// An avatar can be worn when a pack of that name is installed and passes
/// its checks; a refused pack of that name says why.
pub fn check_avatar(name: &str) -> Result<String, CameraError> {
    let cat = crate::avatar::pack::Catalogue::installed();
    if cat.find(name).is_some() {
        return Ok(name.to_string());
    }
    Err(match cat.refused_named(name) {
        Some((dir, e)) => invalid(format!(
            "the avatar pack in {} was refused; fix it and try again:\n{e}",
            dir.display()
        )),
        None => CameraError::UnknownAvatar(format!(
            "no avatar named {name:?}; installed: {} (see `bytemeetctl avatar list`)",
            cat.names().join(", ")
        )),
    })
}

/// Parses and checks a source: a camera must exist, be a real capture device
/// (not a virtual camera, which could be our own output) and not be held by
/// another program.
pub async fn parse_source(spec: &str) -> Result<SourceSpec, CameraError> {
    let s: SourceSpec = spec.parse().map_err(refused)?;
    match &s {
        SourceSpec::V4l2(path) => {
            let path = path.clone();
            let shown = path.clone();
            checked_in_time("camera", &shown, move || check_camera(&path)).await?;
        }
        SourceSpec::File(path) => {
            absolute_file(path, "source")?;
            let path = path.clone();
            let shown = path.clone();
            checked_in_time("source", &shown, move || {
                readable_file(&path, "source", None).map(|_| ())
            })
            .await?;
        }
        SourceSpec::Auto | SourceSpec::Demo | SourceSpec::PipeWire(_) => {}
    }
    Ok(s)
}

fn check_camera(path: &Path) -> Result<(), CameraError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Err(CameraError::NoSuchDevice(format!(
            "{} does not exist; `bytemeetctl devices` lists the cameras",
            path.display()
        )));
    };
    // Opening a FIFO or a file on a stalled mount can block; only a
    // character device can be a camera anyway.
    if !meta.file_type().is_char_device() {
        return Err(invalid(format!(
            "{}: not a video device (not even a character device); `bytemeetctl devices` lists the cameras",
            path.display()
        )));
    }
    let info = v4l2::discover::query(path).map_err(|e| match e.raw_os_error() {
        Some(libc::EBUSY) => CameraError::DeviceBusy(format!(
            "{} is busy{}; close the program using it",
            path.display(),
            v4l2::holders_note(path)
        )),
        _ => invalid(format!("{}: not a video device ({e})", path.display())),
    })?;
    if info.is_loopback() {
        return Err(invalid(format!(
            "{} is a virtual camera ({}); pick a real webcam",
            path.display(),
            info.card
        )));
    }
    if !info.capture {
        return Err(invalid(format!(
            "{} ({}) cannot capture video",
            path.display(),
            info.card
        )));
    }
    let holders = v4l2::holders(path);
    if !holders.is_empty() {
        return Err(CameraError::DeviceBusy(format!(
            "{} is held by {}; close that program first",
            path.display(),
            holders.join(", ")
        )));
    }
    Ok(())
}

fn check_snapshot_path(path: &Path) -> Result<(), CameraError> {
    if !path.is_absolute() {
        return Err(invalid(format!(
            "snapshot {}: give an absolute path",
            path.display()
        )));
    }
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        return Err(invalid(format!(
            "snapshot {}: the file name must end in .png",
            path.display()
        )));
    }
    let dir = match path.parent().map(std::fs::canonicalize) {
        Some(Ok(dir)) if dir.is_dir() => dir,
        _ => {
            return Err(invalid(format!(
                "snapshot {}: its folder does not exist",
                path.display()
            )))
        }
    };
    if KERNEL_DIRS.iter().any(|k| dir.starts_with(k)) {
        return Err(invalid(format!(
            "snapshot {}: {} is a kernel or device folder",
            path.display(),
            dir.display()
        )));
    }
    // An existing FIFO or device would block the write or be clobbered.
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(invalid(format!(
            "snapshot {}: exists and is not a regular file",
            path.display()
        ))),
        _ => Ok(()),
    }
}

fn write_png(frame: &crate::frame::Frame, path: &Path) -> Result<(), CameraError> {
    let rgba = crate::convert::convert(frame, PixelFormat::Rgba)
        .map_err(|e| CameraError::Failed(format!("snapshot: {e}")))?;
    let file = std::fs::File::create(path)
        .map_err(|e| CameraError::Failed(format!("snapshot {}: {e}", path.display())))?;
    crate::sink::png::encode_png(&rgba, std::io::BufWriter::new(file))
        .map_err(|e| CameraError::Failed(format!("snapshot {}: {e}", path.display())))
}

#[zbus::interface(name = "org.bytemeet.Camera1")]
impl CameraService {
    async fn list_filters(&self) -> Vec<Choice> {
        FILTERS
            .iter()
            .map(|f| (f.name.to_string(), f.description.to_string()))
            .collect()
    }

    async fn list_backgrounds(&self) -> Vec<Choice> {
        let mut out = vec![
            ("none".to_string(), "the camera's own picture".to_string()),
            (
                "blur".to_string(),
                format!(
                    "the room behind you blurred (blur:STRENGTH, {}..{}, default {})",
                    background::BLUR_RANGE.start(),
                    background::BLUR_RANGE.end(),
                    background::DEFAULT_BLUR
                ),
            ),
        ];
        out.extend(
            SCENES
                .iter()
                .map(|s| (format!("scene:{}", s.name), s.description.to_string())),
        );
        out.push((
            "image:PATH".to_string(),
            "a picture of yours, scaled to cover".to_string(),
        ));
        out.push((
            "video:PATH.y4m".to_string(),
            "a looping clip of yours".to_string(),
        ));
        out
    }

    async fn list_avatars(&self) -> Result<Vec<Choice>, CameraError> {
        // Read fresh: packs a user adds are picked up without a restart.
        // A listing that cannot be made is an error, not an empty list.
        blocking(|| {
            let cat = crate::avatar::pack::Catalogue::installed();
            for (dir, e) in &cat.refused {
                tracing::warn!("avatar pack {} refused:\n{e}", dir.display());
            }
            Ok::<_, CameraError>(avatar_choices(&cat))
        })
        .await
    }

    async fn set_filter(&self, spec: &str) -> Result<(), CameraError> {
        self.apply_filter(spec).await
    }

    async fn set_background(&self, spec: &str) -> Result<(), CameraError> {
        self.apply_background(spec).await
    }

    async fn set_avatar(&self, name: &str) -> Result<(), CameraError> {
        self.apply_avatar(name).await
    }

    async fn clear_effects(&self) {
        self.clear();
    }

    async fn set_segmenter(&self, spec: &str) -> Result<(), CameraError> {
        self.apply_segmenter(spec).await
    }

    /// Starts the studio page's server (on first use) and gives its
    /// address, with the token that opens it.
    async fn open_studio(&self) -> Result<String, CameraError> {
        match &self.studio {
            Some(studio) => {
                let studio = studio.clone();
                blocking(move || studio.open().map_err(CameraError::Failed)).await
            }
            None => Err(CameraError::Failed(
                "this daemon runs without the studio page".into(),
            )),
        }
    }

    async fn set_source(&self, spec: &str) -> Result<(), CameraError> {
        let spec = bounded(spec, "source")?;
        let s = parse_source(spec).await?;
        self.hub.set_source(s);
        Ok(())
    }

    async fn snapshot(&self, path: &str) -> Result<(), CameraError> {
        let path = bounded(path, "snapshot")?;
        let path = PathBuf::from(path);
        let checked = path.clone();
        checked_in_time("snapshot", &path, move || check_snapshot_path(&checked)).await?;
        let rx = self.hub.request_snapshot();
        let frame = match tokio::time::timeout(SNAPSHOT_TIMEOUT, rx).await {
            Ok(Ok(Ok(frame))) => frame,
            Ok(Ok(Err(reason))) => return Err(CameraError::CameraUnavailable(reason)),
            Ok(Err(_)) => {
                return Err(CameraError::CameraUnavailable(
                    "the daemon is shutting down".into(),
                ))
            }
            Err(_) => {
                return Err(CameraError::CameraUnavailable(format!(
                    "no picture within {} s; is the camera working? (`bytemeetctl status`)",
                    SNAPSHOT_TIMEOUT.as_secs()
                )))
            }
        };
        let shown = path.clone();
        checked_in_time("snapshot", &shown, move || write_png(&frame, &path)).await
    }

    async fn join_room(
        &self,
        url: &str,
        display_name: &str,
        max_kbps: u32,
    ) -> Result<String, CameraError> {
        self.apply_join(url, display_name, max_kbps).await
    }

    async fn leave_room(&self, id: &str) -> Result<(), CameraError> {
        self.apply_leave(id).await
    }

    async fn reload(&self) -> Result<(), CameraError> {
        match &self.reloader {
            Some(r) => {
                let r = r.clone();
                blocking(move || {
                    r.reload_and_log()
                        .map(|_| ())
                        .map_err(CameraError::InvalidConfig)
                })
                .await
            }
            None => Ok(()),
        }
    }

    #[zbus(property)]
    async fn filter(&self) -> String {
        self.hub
            .effects()
            .filter
            .map(|f| f.to_string())
            .unwrap_or_default()
    }

    #[zbus(property)]
    async fn background(&self) -> String {
        self.hub.effects().background.to_string()
    }

    #[zbus(property)]
    async fn avatar(&self) -> String {
        self.hub.effects().avatar.unwrap_or_default()
    }

    #[zbus(property)]
    async fn segmenter(&self) -> String {
        self.hub.effects().segmenter.to_string()
    }

    #[zbus(property)]
    async fn source(&self) -> String {
        self.hub.source().to_string()
    }

    #[zbus(property)]
    async fn outputs(&self) -> Vec<String> {
        self.hub.outputs()
    }

    #[zbus(property)]
    async fn rooms(&self) -> Vec<RoomEntry> {
        self.rooms
            .list()
            .into_iter()
            .map(|r| (r.id, r.url, r.name, r.state.to_wire()))
            .collect()
    }

    #[zbus(property)]
    async fn camera_active(&self) -> bool {
        self.hub.camera_active()
    }

    #[zbus(property)]
    async fn stats(&self) -> std::collections::HashMap<String, OwnedValue> {
        self.hub.stats().snapshot().to_dict()
    }
}

/// What clients last heard, to tell them only about changes.
#[derive(Debug, PartialEq)]
struct Heard {
    effects: EffectsState,
    source: SourceSpec,
    outputs: Vec<String>,
    camera_active: bool,
    rooms: Vec<crate::room::RoomInfo>,
}

impl Heard {
    fn of(hub: &Hub, rooms: &Rooms) -> Self {
        Heard {
            effects: hub.effects(),
            source: hub.source(),
            outputs: hub.outputs(),
            camera_active: hub.camera_active(),
            rooms: rooms.list(),
        }
    }
}

/// Sends `PropertiesChanged` for every hub change (room states within a
/// second), and `Stats` every second,
/// until the connection fails.
pub async fn announce_changes(
    conn: zbus::Connection,
    hub: Arc<Hub>,
    rooms: Arc<Rooms>,
) -> zbus::Result<()> {
    let iface = conn
        .object_server()
        .interface::<_, CameraService>(OBJECT_PATH)
        .await?;
    // Listening before the first reading: no change falls between them.
    // (The hub lives as long as `hub`, so the channel never closes.)
    let mut changes = hub.subscribe();
    let mut heard = Heard::of(&hub, &rooms);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stats_due = tokio::select! {
            _ = changes.changed() => false,
            _ = tick.tick() => true,
        };
        let now = Heard::of(&hub, &rooms);
        let em = iface.signal_emitter();
        let obj = iface.get().await;
        if now.effects.filter != heard.effects.filter {
            obj.filter_changed(em).await?;
        }
        if now.effects.background != heard.effects.background {
            obj.background_changed(em).await?;
        }
        if now.effects.avatar != heard.effects.avatar {
            obj.avatar_changed(em).await?;
        }
        if now.effects.segmenter != heard.effects.segmenter {
            obj.segmenter_changed(em).await?;
        }
        if now.source != heard.source {
            obj.source_changed(em).await?;
        }
        if now.outputs != heard.outputs {
            obj.outputs_changed(em).await?;
        }
        if now.camera_active != heard.camera_active {
            obj.camera_active_changed(em).await?;
        }
        // Room states change on the rooms' own runtime: seen within a second.
        if now.rooms != heard.rooms {
            obj.rooms_changed(em).await?;
        }
        if stats_due {
            obj.stats_changed(em).await?;
        }
        heard = now;
    }
}

/// How taking the bus name went.
#[derive(Debug)]
pub enum BusStatus {
    /// Serving on the session bus.
    Serving,
    /// Another daemon holds the name; who it is, as far as the bus says.
    Taken(String),
    /// No session bus (or it refused us): control is off, the camera still runs.
    Unavailable(String),
}

/// Who owns the bus name: `pid 123: bytemeetd --source demo`.
async fn describe_owner(conn: &zbus::Connection) -> String {
    let Ok(pid) = bytemeet_proto::owner_pid(conn).await else {
        return "another process".into();
    };
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if cmd.is_empty() {
        format!("pid {pid}")
    } else {
        format!("pid {pid}: {cmd}")
    }
}

async fn connect(
    hub: &Arc<Hub>,
    reloader: Option<Arc<Reloader>>,
    rooms: &Arc<Rooms>,
    studio: Option<Arc<dyn StudioPage>>,
) -> Result<zbus::Connection, BusStatus> {
    let mut service = CameraService::new(hub.clone(), reloader, rooms.clone());
    if let Some(s) = studio {
        service = service.with_studio(s);
    }
    let builder = zbus::connection::Builder::session()
        .map_err(|e| BusStatus::Unavailable(format!("no session bus address ({e})")))?;
    // One daemon per session: a second one must neither take the name over
    // nor queue for it.
    let builder = builder
        .allow_name_replacements(false)
        .replace_existing_names(false)
        .serve_at(OBJECT_PATH, service)
        .and_then(|b| b.name(BUS_NAME))
        .map_err(|e| BusStatus::Unavailable(e.to_string()))?;
    match builder.build().await {
        Ok(conn) => Ok(conn),
        Err(zbus::Error::NameTaken) => {
            let who = match zbus::Connection::session().await {
                Ok(c) => describe_owner(&c).await,
                Err(_) => "another process".into(),
            };
            Err(BusStatus::Taken(who))
        }
        Err(e) => Err(BusStatus::Unavailable(e.to_string())),
    }
}

/// Takes the bus name and serves the interface on a thread of its own for as
/// long as the process runs. Returns once the name is taken or refused.
pub fn start(
    hub: Arc<Hub>,
    reloader: Option<Arc<Reloader>>,
    rooms: Arc<Rooms>,
    studio: Option<Arc<dyn StudioPage>>,
) -> BusStatus {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(BusStatus::Unavailable(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let conn = match connect(&hub, reloader, &rooms, studio).await {
                    Ok(c) => c,
                    Err(status) => {
                        let _ = tx.send(status);
                        return;
                    }
                };
                let _ = tx.send(BusStatus::Serving);
                if let Err(e) = announce_changes(conn, hub, rooms).await {
                    tracing::error!("D-Bus control stopped: {e}");
                }
            });
        });
    if let Err(e) = spawned {
        return BusStatus::Unavailable(e.to_string());
    }
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| BusStatus::Unavailable("the session bus did not answer".into()))
}
