//! `bytemeetctl`: drive the ByteMeet camera daemon from a terminal or a
//! script. Each subcommand is one call on the daemon's D-Bus interface
//! (`org.bytemeet.Camera1`, through the proxy in `bytemeet-proto`).
//!
//! Exit codes: 0 done; 1 the daemon refused (the message says why);
//! 2 bad command line; 3 the daemon cannot be reached.

mod doctor;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use bytemeet_proto::{CameraProxy, StatsSnapshot, BUS_NAME, INTERFACE, OBJECT_PATH, ROOM_KBPS};
use clap::{CommandFactory, Parser, Subcommand};
use futures_util::StreamExt;
use zbus::proxy::CacheProperties;
use zbus::zvariant::{OwnedValue, Value};

/// Control the ByteMeet camera daemon (bytemeetd).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, after_help = "Exit codes: 0 done, 1 the daemon refused, 2 bad command line, 3 daemon not reachable.")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Show what the daemon is doing: camera, source, outputs, effects, rates.
    Status {
        /// One JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List, set or turn off the filter.
    #[command(subcommand)]
    Filter(FilterCmd),
    /// Change what is behind you.
    #[command(subcommand)]
    Background(BackgroundCmd),
    /// List, put on or take off an avatar.
    #[command(subcommand)]
    Avatar(AvatarCmd),
    /// Turn filter, background and avatar off.
    Clear,
    /// Choose how you are found for backgrounds and avatars: the person
    /// model, or a backdrop of one colour keyed out.
    #[command(subcommand)]
    Segmenter(SegmenterCmd),
    /// Choose where frames come from.
    #[command(subcommand)]
    Source(SourceCmd),
    /// Save the next output picture as a PNG file.
    Snapshot {
        /// Where to write it (a .png file).
        file: PathBuf,
    },
    /// Join, leave and list ByteMeet rooms.
    #[command(subcommand)]
    Room(RoomCmd),
    /// Follow changes and statistics live (Ctrl-C stops).
    Watch {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Leave out the once-a-second statistics.
        #[arg(long)]
        no_stats: bool,
    },
    /// Make the daemon read its config file again.
    Reload,
    /// Open ByteMeet Studio, the daemon's page on this machine: a live
    /// preview, galleries of looks drawn from your camera, controls and
    /// status. Prints the page's address (it carries a secret token: keep
    /// it to yourself).
    Studio {
        /// Only print the address; do not start a browser.
        #[arg(long)]
        no_open: bool,
    },
    /// Check what ByteMeet needs here (virtual camera, webcam, group, GPU,
    /// bus, daemon, room server), each failure with its fix.
    Doctor {
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List video devices with their names, as the kernel reports them.
    Devices,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff); e.g. `bytemeetctl man | man -l -`.
    Man,
}

#[derive(Debug, Subcommand)]
enum FilterCmd {
    /// Filters with a one-line description each.
    List,
    /// NAME or NAME:key=value,... (e.g. toon, posterize:levels=4, lut:look.cube).
    Set { spec: String },
    /// No filter.
    Off,
}

#[derive(Debug, Subcommand)]
enum BackgroundCmd {
    /// The choices, with descriptions.
    List,
    /// The camera's own background.
    Off,
    /// Blur the room behind you.
    Blur {
        /// Gaussian sigma in pixels at 720p (1-64).
        #[arg(long, value_name = "N")]
        strength: Option<f32>,
    },
    /// A built-in scene (see `background list`).
    Scene { name: String },
    /// A picture of yours, scaled to cover the frame.
    Image { path: PathBuf },
    /// A looping .y4m clip of yours.
    Video { path: PathBuf },
}

#[derive(Debug, Subcommand)]
enum AvatarCmd {
    /// Installed avatars.
    List,
    /// Wear an avatar.
    Set { name: String },
    /// Be yourself.
    Off,
}

#[derive(Debug, Subcommand)]
enum SegmenterCmd {
    /// The person segmentation model: works in front of any background.
    Model,
    /// A green screen (or another colour) behind you, keyed out: sharper
    /// edges and no model to run.
    Chroma {
        /// green (the default), blue, or #RRGGBB.
        color: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SourceCmd {
    /// auto, demo, v4l2:/dev/videoN or file:PATH.
    Set { spec: String },
}

#[derive(Debug, Subcommand)]
enum RoomCmd {
    /// Join the room at URL (http://HOST:3030/ROOM, or ROOM with `[rooms] server` configured).
    Join {
        url: String,
        /// The name others see (default: `[rooms] display_name`, else "ByteMeet").
        #[arg(long)]
        name: Option<String>,
        /// The most this room's video may use, kbit/s (default: `[rooms] max_kbps`, else 2500).
        #[arg(long, value_parser = clap::value_parser!(u32).range(i64::from(*ROOM_KBPS.start())..=i64::from(*ROOM_KBPS.end())))]
        max_kbps: Option<u32>,
    },
    /// Leave a room by its id (see `room list`).
    Leave { id: String },
    /// Rooms joined.
    List,
}

/// Why a command failed, and with which exit code.
#[derive(Debug)]
enum Failure {
    /// The daemon answered with an error.
    Refused(String),
    /// The daemon (or the bus) cannot be reached.
    Unreachable(String),
    /// Local trouble (writing to stdout, a bad path).
    Local(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Refused(_) | Failure::Local(_) => 1,
            Failure::Unreachable(_) => 3,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Refused(m) | Failure::Unreachable(m) | Failure::Local(m) => m,
        }
    }
}

const NOT_RUNNING: &str = "bytemeetd is not running; start it with `systemctl --user start bytemeetd` (or run `bytemeetd` in a terminal)";

impl From<zbus::Error> for Failure {
    fn from(e: zbus::Error) -> Self {
        use zbus::fdo::Error as Fdo;
        match &e {
            zbus::Error::FDO(f)
                if matches!(
                    **f,
                    Fdo::ServiceUnknown(_)
                        | Fdo::NameHasNoOwner(_)
                        | Fdo::NoReply(_)
                        | Fdo::SpawnChildExited(_)
                        | Fdo::SpawnFailed(_)
                        | Fdo::UnknownObject(_)
                ) =>
            {
                Failure::Unreachable(NOT_RUNNING.to_string())
            }
            zbus::Error::MethodError(name, msg, _) => {
                let name = name.as_str();
                let msg = msg.clone().unwrap_or_else(|| name.to_string());
                if name.starts_with(INTERFACE) {
                    Failure::Refused(msg)
                } else if matches!(
                    name,
                    "org.freedesktop.DBus.Error.ServiceUnknown"
                        | "org.freedesktop.DBus.Error.NameHasNoOwner"
                        | "org.freedesktop.DBus.Error.NoReply"
                        | "org.freedesktop.DBus.Error.Spawn.ChildExited"
                        | "org.freedesktop.DBus.Error.UnknownObject"
                ) {
                    Failure::Unreachable(NOT_RUNNING.to_string())
                } else {
                    Failure::Refused(msg)
                }
            }
            zbus::Error::Address(_) | zbus::Error::InputOutput(_) | zbus::Error::Handshake(_) => {
                Failure::Unreachable(format!(
                    "cannot reach the D-Bus session bus ({e}); run inside a desktop session, or set DBUS_SESSION_BUS_ADDRESS"
                ))
            }
            _ => Failure::Refused(e.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Local(e.to_string())
    }
}

/// A path the daemon can use: it does not share our working directory.
fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    if path.to_str().is_none() {
        // D-Bus strings are UTF-8; a lossy copy would name another file.
        return Err(Failure::Local(format!(
            "{}: the file name is not valid UTF-8, which the daemon cannot be given; rename the file",
            path.display()
        )));
    }
    std::path::absolute(path).map_err(|e| Failure::Local(format!("{}: {e}", path.display())))
}

/// `lut:REL`/`file:REL` specs carry a path; make it absolute.
fn absolute_in_spec(spec: &str, prefix: &str) -> Result<String, Failure> {
    match spec.strip_prefix(prefix) {
        Some(rest) => {
            let (path, tail) = rest
                .split_once(',')
                .map_or((rest, None), |(p, t)| (p, Some(t)));
            if path.is_empty() || Path::new(path).is_absolute() {
                return Ok(spec.to_string());
            }
            let abs = absolute(Path::new(path))?;
            Ok(match tail {
                Some(t) => format!("{prefix}{},{t}", abs.display()),
                None => format!("{prefix}{}", abs.display()),
            })
        }
        None => Ok(spec.to_string()),
    }
}

async fn proxy(conn: &zbus::Connection) -> Result<CameraProxy<'static>, Failure> {
    Ok(CameraProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?)
}

fn print_choices(
    out: &mut impl Write,
    list: &[(String, String)],
    empty: &str,
) -> Result<(), Failure> {
    if list.is_empty() {
        writeln!(out, "{empty}")?;
    }
    let width = list.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, desc) in list {
        writeln!(out, "{name:<width$}  {desc}")?;
    }
    Ok(())
}

/// Everything `status` shows.
#[derive(Debug, serde::Serialize)]
struct Status {
    running: bool,
    pid: Option<u32>,
    camera_active: bool,
    source: String,
    outputs: Vec<String>,
    filter: Option<String>,
    background: String,
    avatar: Option<String>,
    /// How the person is found (`model`, `chroma:green`, ...); `None` from
    /// a daemon too old to say.
    segmenter: Option<String>,
    rooms: Vec<Room>,
    stats: StatsSnapshot,
}

#[derive(Debug, serde::Serialize)]
struct Room {
    id: String,
    url: String,
    name: String,
    state: RoomStateShown,
}

/// A room's state as the daemon sends it; a phase this version does not
/// know (a newer daemon) is shown as it came.
fn room_state(wire: bytemeet_proto::RoomStateWire) -> RoomStateShown {
    match bytemeet_proto::RoomState::from_wire(wire.clone()) {
        Some(s) => RoomStateShown::Known(s),
        None => RoomStateShown::Other {
            phase: wire.0,
            reason: wire.2,
        },
    }
}

/// What `status` shows of a room's state: typed, in JSON as
/// `{"phase": "in-room", "others": 2}`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
enum RoomStateShown {
    Known(bytemeet_proto::RoomState),
    Other { phase: String, reason: String },
}

impl std::fmt::Display for RoomStateShown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoomStateShown::Known(s) => s.fmt(f),
            RoomStateShown::Other { phase, reason } if reason.is_empty() => f.write_str(phase),
            RoomStateShown::Other { phase, reason } => write!(f, "{phase}: {reason}"),
        }
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

async fn status(conn: &zbus::Connection, cam: &CameraProxy<'_>) -> Result<Status, Failure> {
    // The first call also tells whether the daemon runs (or gets it activated).
    let source = cam.source().await?;
    let pid = bytemeet_proto::owner_pid(conn).await.ok();
    Ok(Status {
        running: true,
        pid,
        camera_active: cam.camera_active().await?,
        source,
        outputs: cam.outputs().await?,
        filter: non_empty(cam.filter().await?),
        background: cam.background().await?,
        avatar: non_empty(cam.avatar().await?),
        segmenter: cam.segmenter().await.ok(),
        rooms: cam
            .rooms()
            .await?
            .into_iter()
            .map(|(id, url, name, state)| Room {
                id,
                url,
                name,
                state: room_state(state),
            })
            .collect(),
        stats: StatsSnapshot::from_dict(&cam.stats().await?),
    })
}

fn print_status(out: &mut impl Write, s: &Status) -> Result<(), Failure> {
    let row = |out: &mut dyn Write, k: &str, v: &str| writeln!(out, "{k:<12} {v}");
    row(
        out,
        "daemon",
        &match s.pid {
            Some(pid) => format!("running (pid {pid})"),
            None => "running".into(),
        },
    )?;
    row(
        out,
        "camera",
        if s.camera_active {
            "on"
        } else {
            "off (nobody is watching)"
        },
    )?;
    row(out, "source", &s.source)?;
    row(
        out,
        "outputs",
        &if s.outputs.is_empty() {
            "none".into()
        } else {
            s.outputs.join("; ")
        },
    )?;
    row(out, "filter", s.filter.as_deref().unwrap_or("off"))?;
    row(out, "background", &s.background)?;
    row(out, "avatar", s.avatar.as_deref().unwrap_or("off"))?;
    row(
        out,
        "person by",
        match s.segmenter.as_deref() {
            Some("model") => "the segmentation model",
            Some(chroma) => chroma,
            None => "(not reported by this daemon)",
        },
    )?;
    let rooms: Vec<String> = s
        .rooms
        .iter()
        .map(|r| format!("{} ({}, {})", r.id, r.url, r.state))
        .collect();
    row(
        out,
        "rooms",
        &if rooms.is_empty() {
            "none".into()
        } else {
            rooms.join(", ")
        },
    )?;
    let st = &s.stats;
    row(
        out,
        "fps",
        &format!("in {:.1}, out {:.1}", st.fps_in, st.fps_out),
    )?;
    row(
        out,
        "frames",
        &format!(
            "in {}, out {} ({} repeated), {} dropped",
            st.frames_in, st.frames_out, st.repeated, st.dropped
        ),
    )?;
    if st.masks_per_s > 0.0 || st.faces_per_s > 0.0 {
        let mut parts = Vec::new();
        if st.masks_per_s > 0.0 {
            parts.push(format!(
                "masks {:.1}/s (applied {:.1} frames, {:.0} ms old)",
                st.masks_per_s, st.mask_age_frames, st.mask_age_ms
            ));
        }
        if st.faces_per_s > 0.0 {
            parts.push(format!(
                "faces {:.1}/s (applied {:.1} frames, {:.0} ms old)",
                st.faces_per_s, st.face_age_frames, st.face_age_ms
            ));
        }
        row(out, "perception", &parts.join("; "))?;
    }
    if !st.gpu.is_empty() {
        row(out, "gpu", &st.gpu)?;
    }
    if !st.faults.is_empty() {
        row(out, "faults", &st.faults.join("; "))?;
    }
    if !st.stage_ms.is_empty() {
        let stages: Vec<String> = st
            .stage_ms
            .iter()
            .map(|(k, v)| format!("{k} {v:.1}"))
            .collect();
        row(out, "stages (ms)", &stages.join(", "))?;
    }
    Ok(())
}

/// A property value as JSON.
fn json_value(name: &str, v: &Value<'_>) -> serde_json::Value {
    if name == "Stats" {
        if let Ok(owned) = OwnedValue::try_from(v.try_clone().unwrap_or(Value::from(0u8))) {
            if let Ok(d) = HashMap::<String, OwnedValue>::try_from(owned) {
                return serde_json::to_value(StatsSnapshot::from_dict(&d)).unwrap_or_default();
            }
        }
    }
    match v {
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::F64(f) => serde_json::json!(f),
        Value::U64(n) => serde_json::json!(n),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(|x| json_value("", x)).collect()),
        Value::Structure(s) => {
            serde_json::Value::Array(s.fields().iter().map(|x| json_value("", x)).collect())
        }
        other => serde_json::Value::String(other.to_string()),
    }
}

/// A property change in one line.
fn describe_change(name: &str, v: &Value<'_>) -> String {
    match (name, json_value(name, v)) {
        ("Stats", j) => match serde_json::from_value::<StatsSnapshot>(j) {
            Ok(st) => {
                let stages: Vec<String> = st
                    .stage_ms
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.1} ms"))
                    .collect();
                format!(
                    "fps in {:.1} out {:.1}, dropped {}{}",
                    st.fps_in,
                    st.fps_out,
                    st.dropped,
                    if stages.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", stages.join(", "))
                    }
                )
            }
            Err(_) => v.to_string(),
        },
        (_, serde_json::Value::String(s)) if s.is_empty() => "off".into(),
        (_, serde_json::Value::String(s)) => s,
        (_, j) => j.to_string(),
    }
}

async fn watch(
    conn: &zbus::Connection,
    out: &mut impl Write,
    json: bool,
    count: Option<u64>,
    no_stats: bool,
) -> Result<(), Failure> {
    let props = zbus::fdo::PropertiesProxy::builder(conn)
        .destination(BUS_NAME)?
        .path(OBJECT_PATH)?
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let mut changes = props.receive_properties_changed().await?;
    // Only now is it certain that nothing is missed; make sure the daemon runs.
    proxy(conn).await?.source().await?;
    let start = Instant::now();
    let mut seen = 0u64;
    if !json {
        writeln!(out, "watching bytemeetd (Ctrl-C stops)")?;
        out.flush()?;
    }
    while let Some(signal) = changes.next().await {
        let Ok(args) = signal.args() else { continue };
        if args.interface_name().as_str() != INTERFACE {
            continue;
        }
        let mut names: Vec<&&str> = args.changed_properties().keys().collect();
        names.sort();
        for name in names {
            if no_stats && **name == *"Stats" {
                continue;
            }
            let v = &args.changed_properties()[*name];
            let t = start.elapsed().as_secs_f64();
            if json {
                let line = serde_json::json!({"t": (t * 1000.0).round() / 1000.0, "property": name, "value": json_value(name, v)});
                writeln!(out, "{line}")?;
            } else {
                writeln!(out, "{t:>8.1}s  {name:<12} {}", describe_change(name, v))?;
            }
            out.flush()?;
            seen += 1;
            if count.is_some_and(|c| seen >= c) {
                return Ok(());
            }
        }
    }
    Err(Failure::Unreachable("bytemeetd went away".into()))
}

async fn run(cmd: Cmd, out: &mut impl Write) -> Result<(), Failure> {
    match cmd {
        Cmd::Devices => {
            let list = devices(Path::new("/sys/class/video4linux"));
            if list.is_empty() {
                writeln!(
                    out,
                    "no video devices. Plug in a webcam; load the virtual camera with `sudo modprobe v4l2loopback exclusive_caps=1 card_label=\"ByteMeet Camera\"`"
                )?;
            }
            for (p, n) in list {
                writeln!(out, "{p}\t{n}")?;
            }
            return Ok(());
        }
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "bytemeetctl", out);
            return Ok(());
        }
        Cmd::Man => {
            clap_mangen::Man::new(Cli::command()).render(out)?;
            return Ok(());
        }
        Cmd::Doctor { json } => {
            let checks = doctor::run().await;
            if json {
                let text = serde_json::to_string_pretty(&checks)
                    .map_err(|e| Failure::Local(e.to_string()))?;
                writeln!(out, "{text}")?;
            } else {
                write!(out, "{}", doctor::render(&checks))?;
            }
            let failed = checks
                .iter()
                .filter(|c| c.status == doctor::Level::Fail)
                .count();
            if failed > 0 {
                return Err(Failure::Refused(format!(
                    "{failed} check(s) failed; each names its fix"
                )));
            }
            return Ok(());
        }
        _ => {}
    }
    let conn = zbus::Connection::session().await.map_err(|e| {
        Failure::Unreachable(format!(
            "cannot reach the D-Bus session bus ({e}); run inside a desktop session, or set DBUS_SESSION_BUS_ADDRESS"
        ))
    })?;
    let cam = proxy(&conn).await?;
    match cmd {
        Cmd::Status { json } => {
            let s = status(&conn, &cam).await?;
            if json {
                let text =
                    serde_json::to_string_pretty(&s).map_err(|e| Failure::Local(e.to_string()))?;
                writeln!(out, "{text}")?;
            } else {
                print_status(out, &s)?;
            }
        }
        Cmd::Filter(FilterCmd::List) => {
            print_choices(out, &cam.list_filters().await?, "no filters")?
        }
        Cmd::Filter(FilterCmd::Set { spec }) => {
            cam.set_filter(&absolute_in_spec(&spec, "lut:")?).await?
        }
        Cmd::Filter(FilterCmd::Off) => cam.set_filter("none").await?,
        Cmd::Background(b) => match b {
            BackgroundCmd::List => {
                print_choices(out, &cam.list_backgrounds().await?, "no backgrounds")?
            }
            BackgroundCmd::Off => cam.set_background("none").await?,
            BackgroundCmd::Blur { strength: None } => cam.set_background("blur").await?,
            BackgroundCmd::Blur { strength: Some(n) } => {
                cam.set_background(&format!("blur:{n}")).await?
            }
            BackgroundCmd::Scene { name } => cam.set_background(&format!("scene:{name}")).await?,
            BackgroundCmd::Image { path } => {
                cam.set_background(&format!("image:{}", absolute(&path)?.display()))
                    .await?
            }
            BackgroundCmd::Video { path } => {
                cam.set_background(&format!("video:{}", absolute(&path)?.display()))
                    .await?
            }
        },
        Cmd::Avatar(AvatarCmd::List) => {
            print_choices(out, &cam.list_avatars().await?, "no avatars installed")?
        }
        Cmd::Avatar(AvatarCmd::Set { name }) => cam.set_avatar(&name).await?,
        Cmd::Avatar(AvatarCmd::Off) => cam.set_avatar("none").await?,
        Cmd::Clear => cam.clear_effects().await?,
        Cmd::Segmenter(SegmenterCmd::Model) => cam.set_segmenter("model").await?,
        Cmd::Segmenter(SegmenterCmd::Chroma { color }) => {
            let spec = match color {
                Some(c) => format!("chroma:{c}"),
                None => "chroma".into(),
            };
            cam.set_segmenter(&spec).await?
        }
        Cmd::Source(SourceCmd::Set { spec }) => {
            cam.set_source(&absolute_in_spec(&spec, "file:")?).await?
        }
        Cmd::Snapshot { file } => {
            let path = absolute(&file)?;
            cam.snapshot(&path.to_string_lossy()).await?;
            writeln!(out, "{}", path.display())?;
        }
        Cmd::Room(RoomCmd::Join {
            url,
            name,
            max_kbps,
        }) => {
            // Empty and 0: the daemon uses its `[rooms]` config.
            let id = cam
                .join_room(&url, name.as_deref().unwrap_or(""), max_kbps.unwrap_or(0))
                .await?;
            writeln!(out, "{id}")?;
        }
        Cmd::Room(RoomCmd::Leave { id }) => cam.leave_room(&id).await?,
        Cmd::Room(RoomCmd::List) => {
            let rooms = cam.rooms().await?;
            if rooms.is_empty() {
                writeln!(out, "no rooms joined")?;
            }
            for (id, url, name, state) in rooms {
                let state = room_state(state);
                writeln!(out, "{id}\t{url}\t{name}\t{state}")?;
            }
        }
        Cmd::Watch {
            json,
            count,
            no_stats,
        } => watch(&conn, out, json, count, no_stats).await?,
        Cmd::Reload => cam.reload().await?,
        Cmd::Studio { no_open } => {
            let url = cam.open_studio().await?;
            println!("{url}");
            if !no_open {
                open_in_browser(&url);
            }
        }
        Cmd::Devices | Cmd::Completions { .. } | Cmd::Man | Cmd::Doctor { .. } => {}
    }
    Ok(())
}

/// Hands `url` to the desktop's browser (`xdg-open`); says so when there
/// is none, the address printed above still works.
fn open_in_browser(url: &str) {
    let opened = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = opened {
        eprintln!("cannot start a browser (xdg-open: {e}); open the address above in one");
    }
}

/// `(node, name)` for every V4L2 node in sysfs, in number order.
fn devices(sysfs: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(u32, String, String)> = std::fs::read_dir(sysfs)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let node = e.file_name().to_str()?.to_string();
            let n: u32 = node.strip_prefix("video")?.parse().ok()?;
            let name = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
            Some((n, format!("/dev/{node}"), name.trim().to_string()))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, p, n)| (p, n)).collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bytemeetctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    match rt.block_on(run(cli.command, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Local(m)) if m.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("bytemeetctl: {}", f.message());
            ExitCode::from(f.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_read_from_sysfs_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        for (n, name) in [(10, "ByteMeet Camera"), (2, "HD Webcam")] {
            let d = dir.path().join(format!("video{n}"));
            std::fs::create_dir(&d).expect("mkdir");
            std::fs::write(d.join("name"), format!("{name}\n")).expect("name");
        }
        std::fs::create_dir(dir.path().join("v4l-subdev0")).expect("mkdir");
        assert_eq!(
            devices(dir.path()),
            vec![
                ("/dev/video2".to_string(), "HD Webcam".to_string()),
                ("/dev/video10".to_string(), "ByteMeet Camera".to_string())
            ]
        );
    }

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn relative_paths_in_specs_become_absolute() {
        let cwd = std::env::current_dir().expect("cwd");
        let got = absolute_in_spec("lut:looks/a.cube,strength=0.5", "lut:").expect("ok");
        assert_eq!(
            got,
            format!("lut:{},strength=0.5", cwd.join("looks/a.cube").display())
        );
        assert_eq!(
            absolute_in_spec("lut:/a.cube", "lut:").expect("ok"),
            "lut:/a.cube"
        );
        assert_eq!(absolute_in_spec("toon", "lut:").expect("ok"), "toon");
    }

    #[test]
    fn daemon_errors_and_absence_are_told_apart() {
        let msg = |name: &str| {
            let m = zbus::message::Message::method_call("/", "Ping")
                .expect("builder")
                .build(&())
                .expect("message");
            zbus::Error::MethodError(
                zbus::names::OwnedErrorName::try_from(name).expect("name"),
                Some("why".into()),
                m,
            )
        };
        let f = Failure::from(msg("org.bytemeet.Camera1.Error.UnknownFilter"));
        assert_eq!((f.code(), f.message()), (1, "why"));
        let f = Failure::from(msg("org.freedesktop.DBus.Error.ServiceUnknown"));
        assert_eq!(f.code(), 3);
        let f = Failure::from(zbus::Error::FDO(Box::new(
            zbus::fdo::Error::ServiceUnknown("not provided by any .service files".into()),
        )));
        assert_eq!(f.code(), 3);
        assert!(f.message().contains("systemctl --user start bytemeetd"));
    }

    #[test]
    fn man_page_and_completions_render() {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut page)
            .expect("man");
        let page = String::from_utf8(page).expect("utf8");
        assert!(page.contains(".TH bytemeetctl") && page.contains("snapshot"));
        let mut bash = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "bytemeetctl",
            &mut bash,
        );
        assert!(String::from_utf8_lossy(&bash).contains("background"));
    }
}
