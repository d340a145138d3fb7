//! `bytemeetctl doctor`: checks what ByteMeet needs on this machine, each
//! with a one-line fix when it fails. Device and GPU facts come from
//! `bytemeetd` itself (`--list-devices`, `--list-gpus`), so the doctor sees
//! exactly what the daemon would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// One check's outcome.
#[derive(Debug, serde::Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Level,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(
    check: &'static str,
    status: Level,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        check,
        status,
        detail: detail.into(),
        fix: fix.map(str::to_string),
    }
}

const LOAD_LOOPBACK: &str = "sudo apt-get install v4l2loopback-dkms && sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10 card_label=\"ByteMeet Camera\" (the bytemeet package makes it permanent at boot)";

/// `bytemeetd` beside this binary, else on PATH.
fn daemon_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("bytemeetd"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("bytemeetd"))
}

fn daemon_lines(flag: &str) -> Result<Vec<String>, String> {
    let out = Command::new(daemon_binary())
        .arg(flag)
        .env("RUST_LOG", "off")
        .output()
        .map_err(|e| format!("cannot run bytemeetd: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// One line of `bytemeetd --list-devices`.
#[derive(Debug, Clone)]
struct Device {
    path: String,
    role: String,
    card: String,
    /// Processes holding the node open, as `name[pid]`.
    holders: Vec<String>,
}

fn parse_device(line: &str) -> Option<Device> {
    let f: Vec<&str> = line.split('\t').collect();
    let [path, role, card, _driver, held] = f[..] else {
        return None;
    };
    Some(Device {
        path: path.to_string(),
        role: role.to_string(),
        card: card.to_string(),
        holders: held
            .split(',')
            .filter(|h| *h != "-" && !h.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

fn devices() -> Result<Vec<Device>, String> {
    Ok(daemon_lines("--list-devices")?
        .iter()
        .filter_map(|l| parse_device(l))
        .collect())
}

fn loopback(sys_module: &Path, devices: &[Device]) -> Check {
    if !sys_module.is_dir() {
        return check(
            "v4l2loopback",
            Level::Fail,
            "the module is not loaded",
            Some(LOAD_LOOPBACK),
        );
    }
    let caps =
        std::fs::read_to_string(sys_module.join("parameters/exclusive_caps")).unwrap_or_default();
    let ours = devices
        .iter()
        .find(|d| d.role == "virtual camera" && d.card == "ByteMeet Camera")
        .or_else(|| devices.iter().find(|d| d.role == "virtual camera"));
    let Some(Device { path, card, .. }) = ours else {
        return check(
            "v4l2loopback",
            Level::Fail,
            "loaded, but no virtual camera node answers",
            Some("sudo modprobe -r v4l2loopback && sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10 card_label=\"ByteMeet Camera\""),
        );
    };
    let first = caps.trim().split(',').next().unwrap_or("");
    if !(first == "Y" || first == "1") {
        return check(
            "v4l2loopback",
            Level::Warn,
            format!("{path} ({card}) without exclusive_caps: Chromium-based browsers will not list it"),
            Some("sudo modprobe -r v4l2loopback && sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10 card_label=\"ByteMeet Camera\""),
        );
    }
    check(
        "v4l2loopback",
        Level::Ok,
        format!("{path} ({card}), exclusive_caps on"),
        None,
    )
}

fn webcam(devices: &[Device]) -> Check {
    let Some(Device {
        path,
        card,
        holders,
        ..
    }) = devices.iter().find(|d| d.role == "camera")
    else {
        return check(
            "webcam",
            Level::Fail,
            "no camera found (the daemon shows its demo portrait instead)",
            Some("plug in a webcam; `bytemeetctl devices` lists what the kernel sees"),
        );
    };
    let others: Vec<&str> = holders
        .iter()
        .map(String::as_str)
        .filter(|h| !h.starts_with("bytemeetd["))
        .collect();
    if others.is_empty() {
        check("webcam", Level::Ok, format!("{path} ({card})"), None)
    } else {
        check(
            "webcam",
            Level::Fail,
            format!("{path} ({card}) is busy: held by {}", others.join(", ")),
            Some("close that program (or pick another camera with `bytemeetctl source set v4l2:/dev/videoN`)"),
        )
    }
}

fn video_group(group_file: &str) -> Check {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        return check("video group", Level::Ok, "running as root", None);
    }
    let Some(gid) = group_file.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some("video")).then(|| f.nth(1)?.parse::<u32>().ok())?
    }) else {
        return check(
            "video group",
            Level::Skip,
            "this system has no `video` group",
            None,
        );
    };
    let mut groups = vec![0 as libc::gid_t; 256];
    // SAFETY: the buffer holds 256 entries and its length is passed.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    let member = n >= 0 && groups[..n as usize].contains(&gid);
    if member {
        check("video group", Level::Ok, "you are in the video group", None)
    } else {
        check(
            "video group",
            Level::Fail,
            "you are not in the video group: cameras may refuse to open",
            Some("sudo usermod -aG video $USER, then log out and in again"),
        )
    }
}

/// What `bytemeetd --list-pipewire` said: the PipeWire session's facts, or
/// why it could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PipeWireFacts {
    version: String,
    session_manager: Option<String>,
    /// The camera node's name, id and consumers, when published.
    node: Option<(String, u32, u32)>,
}

fn parse_pipewire(lines: &[String]) -> Option<PipeWireFacts> {
    let mut facts = PipeWireFacts {
        version: String::new(),
        session_manager: None,
        node: None,
    };
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        match f[..] {
            ["pipewire", v] => facts.version = v.to_string(),
            ["session-manager", "-"] => {}
            ["session-manager", m] => facts.session_manager = Some(m.to_string()),
            ["node", _, "-", _] => {}
            ["node", name, id, n] => {
                facts.node = Some((name.to_string(), id.parse().ok()?, n.parse().ok()?))
            }
            _ => {}
        }
    }
    (!facts.version.is_empty()).then_some(facts)
}

const START_PIPEWIRE: &str = "systemctl --user enable --now pipewire.socket wireplumber (Debian/Ubuntu: sudo apt-get install pipewire wireplumber)";

/// PipeWire: the daemon reachable, a session manager running, the camera
/// node published. `facts` is `Err` with the reason when PipeWire did not answer.
fn pipewire_checks(facts: Result<PipeWireFacts, String>, daemon_running: bool) -> Vec<Check> {
    let facts = match facts {
        Ok(f) => f,
        Err(why) => {
            return vec![
                check("pipewire", Level::Fail, why, Some(START_PIPEWIRE)),
                check("session mgr", Level::Skip, "needs PipeWire", None),
                check("pipewire cam", Level::Skip, "needs PipeWire", None),
            ]
        }
    };
    let daemon = check(
        "pipewire",
        Level::Ok,
        format!("PipeWire {} reachable", facts.version),
        None,
    );
    let manager = match &facts.session_manager {
        Some(m) => check("session mgr", Level::Ok, format!("{m} running"), None),
        None => check(
            "session mgr",
            Level::Fail,
            "no session manager: apps are never linked to the camera",
            Some("systemctl --user enable --now wireplumber (sudo apt-get install wireplumber)"),
        ),
    };
    let node = match (&facts.node, daemon_running) {
        (Some((name, id, n)), _) => check(
            "pipewire cam",
            Level::Ok,
            format!("ByteMeet Camera published ({name}, node {id}, {n} consumer(s))"),
            None,
        ),
        (None, true) => check(
            "pipewire cam",
            Level::Fail,
            "bytemeetd runs but does not publish on PipeWire",
            Some("set output = [\"auto\"] (or add \"pipewire\") in ~/.config/bytemeet/config.toml, then systemctl --user restart bytemeetd"),
        ),
        (None, false) => check(
            "pipewire cam",
            Level::Skip,
            "published while bytemeetd runs",
            None,
        ),
    };
    vec![daemon, manager, node]
}

fn pipewire_facts() -> Result<PipeWireFacts, String> {
    let out = Command::new(daemon_binary())
        .arg("--list-pipewire")
        .env("RUST_LOG", "error")
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| format!("cannot run bytemeetd: {e}"))?;
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    parse_pipewire(&lines).ok_or_else(|| {
        let err = String::from_utf8_lossy(&out.stderr);
        let why = err
            .lines()
            .filter_map(|l| l.split("ERROR").nth(1))
            .map(|l| l.trim_start_matches([' ', ':']).trim())
            .next_back()
            .unwrap_or("no answer");
        format!("not reachable: {why}")
    })
}

fn gpu() -> Check {
    match daemon_lines("--list-gpus") {
        Err(e) => check(
            "gpu",
            Level::Fail,
            e,
            Some("install bytemeetd (it ships with bytemeetctl)"),
        ),
        Ok(lines) => match lines.first().and_then(|l| l.split_once('\t')) {
            Some(("hardware", name)) => check("gpu", Level::Ok, format!("{name} (hardware)"), None),
            Some((_, name)) => check(
                "gpu",
                Level::Ok,
                format!("{name} (software: effects work, at a CPU cost)"),
                None,
            ),
            None => check(
                "gpu",
                Level::Fail,
                "no GPU adapter: effects are off, frames pass unfiltered",
                Some("sudo apt-get install mesa-vulkan-drivers"),
            ),
        },
    }
}

async fn bus_and_daemon() -> (Check, Check, Option<Check>) {
    let conn = match zbus::Connection::session().await {
        Ok(c) => c,
        Err(e) => {
            return (
                check(
                    "session bus",
                    Level::Fail,
                    format!("not reachable ({e})"),
                    Some("log in to a desktop session, or run under `dbus-run-session`"),
                ),
                check("daemon", Level::Skip, "needs the session bus", None),
                None,
            )
        }
    };
    let bus = check("session bus", Level::Ok, "reachable", None);
    let daemon = match bytemeet_proto::owner_pid(&conn).await {
        Ok(pid) => check("daemon", Level::Ok, format!("running (pid {pid})"), None),
        Err(zbus::fdo::Error::NameHasNoOwner(_)) => check(
            "daemon",
            Level::Fail,
            "bytemeetd is not running",
            Some("systemctl --user enable --now bytemeetd"),
        ),
        Err(e) => check(
            "daemon",
            Level::Warn,
            format!("the bus did not answer ({e})"),
            None,
        ),
    };
    let effects = if daemon.status == Level::Ok {
        daemon_effects(&conn).await
    } else {
        None
    };
    (bus, daemon, effects)
}

/// What the running daemon says of its GPU and the faults it recovered from.
async fn daemon_effects(conn: &zbus::Connection) -> Option<Check> {
    let proxy = bytemeet_proto::CameraProxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .ok()?;
    let stats = bytemeet_proto::StatsSnapshot::from_dict(&proxy.stats().await.ok()?);
    Some(effects_check(&stats))
}

fn effects_check(stats: &bytemeet_proto::StatsSnapshot) -> Check {
    if let Some(why) = stats.gpu.strip_prefix("none: ") {
        check(
            "effects",
            Level::Fail,
            format!("off, frames pass unfiltered: {why}"),
            Some("sudo apt-get install mesa-vulkan-drivers, or set gpu = \"auto\" in the config"),
        )
    } else if !stats.faults.is_empty() {
        check(
            "effects",
            Level::Warn,
            format!("recovered from: {}", stats.faults.join("; ")),
            Some("see `journalctl --user -u bytemeetd`, and report it if it recurs"),
        )
    } else {
        check("effects", Level::Ok, format!("on {}", stats.gpu), None)
    }
}

/// `[rooms] server` from the config file, if set.
fn room_server(config: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    Some(value.get("rooms")?.get("server")?.as_str()?.to_string())
}

fn room(config: &Path) -> Check {
    let Some(server) = room_server(config) else {
        return check(
            "room server",
            Level::Skip,
            "none configured ([rooms] server)",
            None,
        );
    };
    if let Err(why) = bytemeet_proto::signal::check_server(&server) {
        return check(
            "room server",
            Level::Fail,
            why,
            Some("fix [rooms] server in the config"),
        );
    }
    let rest = server.trim_start_matches("http://");
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    use std::net::ToSocketAddrs;
    let reachable = addr
        .to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if reachable {
        check("room server", Level::Ok, format!("{server} answers"), None)
    } else {
        check(
            "room server",
            Level::Fail,
            format!("{server} does not answer"),
            Some("start it (bytemeet-rooms) or fix [rooms] server in the config"),
        )
    }
}

/// Runs every check.
pub async fn run() -> Vec<Check> {
    let devs = devices();
    let mut out = Vec::new();
    match &devs {
        Ok(d) => {
            out.push(loopback(Path::new("/sys/module/v4l2loopback"), d));
            out.push(webcam(d));
        }
        Err(e) => {
            for name in ["v4l2loopback", "webcam"] {
                out.push(check(
                    name,
                    Level::Fail,
                    e.clone(),
                    Some("install bytemeetd (it ships with bytemeetctl)"),
                ));
            }
        }
    }
    out.push(video_group(
        &std::fs::read_to_string("/etc/group").unwrap_or_default(),
    ));
    out.push(gpu());
    let (bus, daemon, effects) = bus_and_daemon().await;
    let pw = pipewire_checks(pipewire_facts(), daemon.status == Level::Ok);
    // With the PipeWire camera working, a missing loopback only matters to
    // apps that read /dev/video* directly.
    if pw
        .iter()
        .any(|c| c.check == "pipewire cam" && c.status == Level::Ok)
    {
        if let Some(l) = out
            .iter_mut()
            .find(|c| c.check == "v4l2loopback" && c.status == Level::Fail)
        {
            l.status = Level::Warn;
            l.detail
                .push_str(" (the PipeWire camera serves apps that use PipeWire)");
        }
    }
    out.push(bus);
    out.push(daemon);
    out.extend(effects);
    out.extend(pw);
    out.push(match bytemeet_proto::config_file() {
        Some(path) => room(&path),
        None => check(
            "room server",
            Level::Skip,
            "no config location ($HOME unset)",
            None,
        ),
    });
    out
}

/// The human report.
pub fn render(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let tag = match c.status {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
            Level::Skip => "skip",
        };
        s.push_str(&format!("{tag}  {:<13} {}\n", c.check, c.detail));
        if let Some(fix) = &c.fix {
            s.push_str(&format!("      {:<13} fix: {fix}\n", ""));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(path: &str, role: &str, card: &str) -> Device {
        Device {
            path: path.into(),
            role: role.into(),
            card: card.into(),
            holders: Vec::new(),
        }
    }

    #[test]
    fn device_lines_are_read_with_their_holders() {
        let d = parse_device("/dev/video0\tcamera\tHD Webcam\tuvcvideo\tzoom[42],bytemeetd[7]")
            .expect("line");
        assert_eq!(
            (d.path.as_str(), d.card.as_str()),
            ("/dev/video0", "HD Webcam")
        );
        assert_eq!(d.holders, vec!["zoom[42]", "bytemeetd[7]"]);
        let c = webcam(&[d]);
        assert_eq!(c.status, Level::Fail);
        assert!(
            c.detail.contains("zoom[42]") && !c.detail.contains("bytemeetd"),
            "{c:?}"
        );
        let free = parse_device("/dev/video0\tcamera\tHD Webcam\tuvcvideo\t-").expect("line");
        assert!(free.holders.is_empty());
        assert_eq!(webcam(&[free]).status, Level::Ok);
        assert!(parse_device("no video devices. Plug in a webcam").is_none());
    }

    #[test]
    fn loopback_needs_the_module_a_node_and_exclusive_caps() {
        let dir = tempfile::tempdir().expect("tmp");
        let module = dir.path().join("v4l2loopback");
        let c = loopback(&module, &[]);
        assert_eq!(c.status, Level::Fail);
        assert!(c.fix.as_deref().is_some_and(|f| f.contains("modprobe")));
        std::fs::create_dir_all(module.join("parameters")).expect("mkdir");
        std::fs::write(module.join("parameters/exclusive_caps"), "N,N\n").expect("write");
        let ours = [dev("/dev/video10", "virtual camera", "ByteMeet Camera")];
        let c = loopback(&module, &ours);
        assert_eq!(c.status, Level::Warn);
        assert!(c.detail.contains("Chromium"));
        std::fs::write(module.join("parameters/exclusive_caps"), "Y,N\n").expect("write");
        let c = loopback(&module, &ours);
        assert_eq!((c.status, c.fix.is_none()), (Level::Ok, true));
        assert!(c.detail.contains("/dev/video10"));
    }

    #[test]
    fn webcam_and_group_checks_name_their_fix() {
        let c = webcam(&[dev("/dev/video10", "virtual camera", "ByteMeet Camera")]);
        assert_eq!(c.status, Level::Fail);
        assert!(c.fix.is_some());
        let c = video_group("root:x:0:\n");
        // As root the group does not matter; otherwise there is no video group here.
        assert!(matches!(c.status, Level::Ok | Level::Skip), "{c:?}");
    }

    #[test]
    fn room_server_is_read_from_the_config_and_probed() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = dir.path().join("config.toml");
        assert_eq!(room(&cfg).status, Level::Skip);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::fs::write(
            &cfg,
            format!("[rooms]\nserver = \"http://127.0.0.1:{port}\"\n"),
        )
        .expect("write");
        assert_eq!(room(&cfg).status, Level::Ok);
        drop(listener);
        let c = room(&cfg);
        assert_eq!(c.status, Level::Fail);
        assert!(c.fix.is_some());
    }

    #[test]
    fn pipewire_facts_become_three_checks() {
        let lines: Vec<String> = [
            "pipewire\t0.3.65",
            "session-manager\tWirePlumber",
            "node\tbytemeet-camera\t42\t2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let facts = parse_pipewire(&lines).expect("facts");
        assert_eq!(facts.node, Some(("bytemeet-camera".to_string(), 42, 2)));
        let c = pipewire_checks(Ok(facts.clone()), true);
        assert!(c.iter().all(|c| c.status == Level::Ok), "{c:?}");
        assert!(c[2].detail.contains("2 consumer"));

        // No session manager, no node while the daemon runs: each says its fix.
        let bare = PipeWireFacts {
            session_manager: None,
            node: None,
            ..facts
        };
        let c = pipewire_checks(Ok(bare.clone()), true);
        assert_eq!((c[1].status, c[2].status), (Level::Fail, Level::Fail));
        assert!(c[1]
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("wireplumber")));
        assert!(c[2].fix.as_deref().is_some_and(|f| f.contains("pipewire")));
        // The daemon not running: the node check waits for it.
        assert_eq!(pipewire_checks(Ok(bare), false)[2].status, Level::Skip);

        // PipeWire unreachable: one failure with the fix, the rest skipped.
        let c = pipewire_checks(Err("not reachable: Creation failed".into()), false);
        assert_eq!(c[0].status, Level::Fail);
        assert!(c[0].fix.as_deref().is_some_and(|f| f.contains("pipewire")));
        assert!(c[1..].iter().all(|c| c.status == Level::Skip));
        assert_eq!(parse_pipewire(&[]), None);
    }

    #[test]
    fn the_report_puts_each_fix_under_its_check() {
        let text = render(&[
            check("gpu", Level::Ok, "llvmpipe", None),
            check(
                "daemon",
                Level::Fail,
                "not running",
                Some("systemctl --user enable --now bytemeetd"),
            ),
        ]);
        assert_eq!(
            text,
            "ok    gpu           llvmpipe\nFAIL  daemon        not running\n                    fix: systemctl --user enable --now bytemeetd\n"
        );
    }

    #[test]
    fn the_daemon_s_gpu_and_faults_become_the_effects_check() {
        let mut st = bytemeet_proto::StatsSnapshot {
            gpu: "llvmpipe (Cpu, Vulkan)".into(),
            ..Default::default()
        };
        let c = effects_check(&st);
        assert_eq!(
            (c.status, c.detail.as_str()),
            (Level::Ok, "on llvmpipe (Cpu, Vulkan)")
        );
        st.faults = vec!["gpu: once, last: device lost".into()];
        let c = effects_check(&st);
        assert_eq!(c.status, Level::Warn);
        assert!(c.detail.contains("gpu: once"), "{}", c.detail);
        st.gpu = "none: no GPU adapter matches Vulkan".into();
        let c = effects_check(&st);
        assert_eq!(c.status, Level::Fail);
        assert!(c.detail.contains("no GPU adapter matches Vulkan"));
        assert!(c
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("mesa-vulkan-drivers")));
    }
}
