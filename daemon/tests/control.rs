//! The control plane end to end: a private `dbus-daemon`, the real
//! `bytemeetd` on the demo source, driven by the real `bytemeetctl` binary.
//! Needs `dbus-daemon` (Debian: `dbus-daemon`; tests/setup.sh installs it)
//! and `bytemeetctl` built beside `bytemeetd` (`cargo test --workspace`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/bus.rs"]
mod bus;
use bus::*;

#[test]
fn bytemeetctl_drives_the_running_daemon() {
    let bus = Bus::start();
    let d = bus.daemon(&[]);

    let status = bus.ok(&["status"]);
    for row in ["camera", "source", "demo", "filter", "background", "fps"] {
        assert!(status.contains(row), "{status}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&bus.ok(&["status", "--json"])).expect("json");
    assert_eq!(json["running"], true);
    assert_eq!(json["source"], "demo");
    assert_eq!(
        json["camera_active"], true,
        "the clip output always wants frames"
    );
    assert!(json["stats"]["frames_in"].as_u64().is_some());

    // A change arrives in the output and stays. How fast it arrives is a
    // benchmark figure (benches/control.rs), not a test bound: on a loaded
    // 2-core machine the GPU may lag a few frames.
    wait_for("frames", || grey_frames(&d.clip, 160, 120).len() > 5);
    assert!(
        !grey_frames(&d.clip, 160, 120).iter().any(|g| *g),
        "the demo is colourful"
    );
    // Measured on a warm daemon: the GPU engine and every pipeline are built
    // in the background at start (seconds on lavapipe, under a second on a GPU).
    wait_for_secs("the GPU warm-up", 60, || {
        d.log().contains("GPU effects ready")
    });
    let before_call = grey_frames(&d.clip, 160, 120).len();
    bus.ok(&["filter", "set", "grayscale"]);
    wait_for_secs("the filter to show", 30, || {
        grey_frames(&d.clip, 160, 120).iter().any(|g| *g)
    });
    let first = grey_frames(&d.clip, 160, 120)
        .iter()
        .position(|g| *g)
        .expect("grey frames");
    assert!(
        first >= before_call,
        "grey frame {first} came before the call (frame {before_call}): {}",
        d.log()
    );
    wait_for_secs("more frames", 30, || {
        grey_frames(&d.clip, 160, 120).len() > first + 8
    });
    let frames = grey_frames(&d.clip, 160, 120);
    assert!(frames[first..].iter().all(|g| *g), "stays grey");

    // Lists and the other setters.
    assert!(bus.ok(&["filter", "list"]).contains("sepia"));
    assert!(bus.ok(&["background", "list"]).contains("scene:moon"));
    assert!(bus.ok(&["avatar", "list"]).contains("space-trooper"));
    bus.ok(&["background", "scene", "moon"]);
    bus.ok(&["background", "blur", "--strength", "20"]);
    let json: serde_json::Value =
        serde_json::from_str(&bus.ok(&["status", "--json"])).expect("json");
    assert_eq!(json["background"], "blur:20");
    assert_eq!(json["filter"], "grayscale");
    bus.ok(&["source", "set", "demo"]);
    bus.ok(&["background", "off"]);
    bus.ok(&["avatar", "off"]);

    // Snapshot: a relative path is made absolute by the CLI.
    let shot = bus.path("shot.png");
    let o = {
        let mut c = Command::new(ctl_bin());
        bus.env(&mut c);
        c.current_dir(bus.dir.path())
            .args(["snapshot", "shot.png"])
            .output()
            .expect("snapshot")
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&shot).expect("png").to_rgba8();
    assert_eq!(img.dimensions(), (160, 120));

    // Errors: named, non-zero, and the stream goes on.
    let err = bus.fails(&["filter", "set", "sparkles"], 1);
    assert!(
        err.contains("unknown filter") && err.contains("filter list"),
        "{err}"
    );
    let err = bus.fails(&["background", "image", "/nonexistent/me.png"], 1);
    assert!(err.contains("no such file"), "{err}");
    let err = bus.fails(&["source", "set", "v4l2:/dev/video99"], 1);
    assert!(err.contains("does not exist"), "{err}");
    let err = bus.fails(&["avatar", "set", "unicorn"], 1);
    assert!(
        err.contains("unicorn") && err.contains("installed: alien"),
        "{err}"
    );
    // Rooms: a bad address is refused; a server that is not there is
    // joined anyway and retried, with the reason in the list.
    let err = bus.fails(&["room", "join", "https://127.0.0.1:9/abc"], 1);
    assert!(err.contains("https"), "{err}");
    assert!(bus.ok(&["room", "list"]).contains("no rooms"));
    assert_eq!(
        bus.ok(&["room", "join", "http://127.0.0.1:9/abc"]).trim(),
        "abc"
    );
    let err = bus.fails(&["room", "join", "http://127.0.0.1:9/abc"], 1);
    assert!(err.contains("already in room"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = bus.ok(&["room", "list"]);
        if list.contains("reconnecting: cannot reach the room server at http://127.0.0.1:9/") {
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        std::thread::sleep(Duration::from_millis(100));
    }
    bus.ok(&["room", "leave", "abc"]);
    let err = bus.fails(&["room", "leave", "abc"], 1);
    assert!(err.contains("room list"), "{err}");
    bus.ok(&["reload"]);
    assert!(bus.ok(&["man"]).contains(".TH bytemeetctl"));
    assert!(bus.ok(&["completions", "zsh"]).contains("bytemeetctl"));
    let err = bus.fails(&["filtr", "list"], 2);
    assert!(err.contains("filter"), "clap suggests: {err}");
    let before = grey_frames(&d.clip, 160, 120).len();
    wait_for("frames after the errors", || {
        grey_frames(&d.clip, 160, 120).len() > before + 3
    });

    // watch follows changes made by others.
    let mut watcher = {
        let mut c = Command::new(ctl_bin());
        bus.env(&mut c);
        c.args(["watch", "--json", "--no-stats", "--count", "2"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("watch")
    };
    std::thread::sleep(Duration::from_millis(500));
    bus.ok(&["filter", "set", "sepia"]);
    bus.ok(&["clear"]);
    let out = {
        let deadline = Instant::now() + Duration::from_secs(10);
        while watcher.try_wait().expect("poll").is_none() {
            assert!(Instant::now() < deadline, "watch did not see two changes");
            std::thread::sleep(Duration::from_millis(50));
        }
        watcher.wait_with_output().expect("watch output")
    };
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines[0]["property"], "Filter");
    assert_eq!(lines[0]["value"], "sepia");
    assert_eq!(lines[1]["value"], "");

    let log = d.stop();
    assert!(!log.contains("panicked"), "{log}");
}

/// The person finder switches while the camera runs: a green-screen shot
/// with a red picture behind the person. Keyed on blue, nothing is
/// backdrop and the green stays; switched to green with bytemeetctl, the
/// red shows; and back. The corner's V (red-difference) tells which.
#[test]
fn the_segmenter_switches_live() {
    let bus = Bus::start();
    let shot = bus.path("green.png");
    let mut im = image::RgbaImage::new(160, 120);
    for (x, y, p) in im.enumerate_pixels_mut() {
        let person = (50..110).contains(&x) && y >= 30;
        *p = image::Rgba(if person {
            [128, 120, 112, 255]
        } else {
            [0, 177, 64, 255]
        });
    }
    im.save(&shot).expect("save");
    let red = bus.path("red.png");
    image::RgbaImage::from_pixel(32, 24, image::Rgba([220, 20, 20, 255]))
        .save(&red)
        .expect("save");
    let d = bus.daemon(&[
        "--segmenter",
        "chroma:blue",
        "--background",
        &format!("image:{}", red.display()),
    ]);
    bus.ok(&["source", "set", &format!("file:{}", shot.display())]);
    let (w, h) = (160, 120);
    // V of the top-left corner, per frame.
    let corner_v = || -> Vec<u8> {
        let v_at = w * h + w * h / 4 + 2 * (w / 2) + 2;
        y4m_frames(&d.clip, w, h).iter().map(|f| f[v_at]).collect()
    };
    let green = |v: u8| v < 90;
    let red_v = |v: u8| v > 180;
    let wait_corner = |what: &str, from: usize, want: &dyn Fn(u8) -> bool| {
        wait_for_secs(what, 60, || {
            let v = corner_v();
            v.len() > from + 5 && v[v.len() - 5..].iter().all(|x| want(*x))
        });
    };
    wait_corner("the green screen, not keyed on blue", 0, &green);
    let json: serde_json::Value =
        serde_json::from_str(&bus.ok(&["status", "--json"])).expect("json");
    assert_eq!(json["segmenter"], "chroma:blue");
    assert!(bus.ok(&["status"]).contains("chroma:blue"));

    let n = corner_v().len();
    bus.ok(&["segmenter", "chroma"]);
    wait_corner("the red picture behind the person", n, &red_v);
    let json: serde_json::Value =
        serde_json::from_str(&bus.ok(&["status", "--json"])).expect("json");
    assert_eq!(json["segmenter"], "chroma:green");
    // The person stays in front: the middle of the block is its grey.
    let last = y4m_frames(&d.clip, w, h).pop().expect("a frame");
    let v_mid = last[w * h + w * h / 4 + 90 / 2 * (w / 2) + 80 / 2];
    assert!(v_mid.abs_diff(128) < 20, "the person's V: {v_mid}");

    let n = corner_v().len();
    bus.ok(&["segmenter", "chroma", "blue"]);
    wait_corner("the green screen again", n, &green);
    let err = bus.fails(&["segmenter", "chroma", "mauve"], 1);
    assert!(err.contains("green, blue or #RRGGBB"), "{err}");
    let log = d.stop();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("person finder changed"), "{log}");
}

/// Writes a small mask-mode pack called `name` into `dir`.
fn user_pack(dir: &Path, name: &str, driver: &str) {
    std::fs::create_dir_all(dir).expect("pack dir");
    std::fs::write(
        dir.join("avatar.toml"),
        format!(
            "format = 1\nname = \"{name}\"\ndescription = \"A test mask\"\nauthor = \"tests\"\n\
             licence = \"MIT\"\nmode = \"mask\"\n\n[canvas]\nsize = [64, 64]\n\
             left_eye = [20, 30]\nright_eye = [44, 30]\n\n[[layer]]\nfile = \"face.svg\"\ndriver = \"{driver}\"\n"
        ),
    )
    .expect("manifest");
    std::fs::write(
        dir.join("face.svg"),
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="28" fill="#0f0"/></svg>"##,
    )
    .expect("art");
}

/// User packs dropped into `$XDG_DATA_HOME/bytemeet/avatars` while the daemon
/// runs are listed and worn without a restart; a broken one is refused with
/// its file, key and reason, and the stream and the other packs go on.
#[test]
fn user_avatar_packs_are_picked_up_live_and_broken_ones_refused() {
    let bus = Bus::start();
    let d = bus.daemon(&[]);
    assert!(!bus.ok(&["avatar", "list"]).contains("green-mask"));
    let packs = bus.path("data").join("bytemeet/avatars");
    user_pack(&packs.join("green-mask"), "green-mask", "head");
    let list = bus.ok(&["avatar", "list"]);
    assert!(
        list.contains("green-mask") && list.contains("A test mask"),
        "{list}"
    );
    assert!(
        list.contains(&packs.join("green-mask").display().to_string()),
        "{list}"
    );
    bus.ok(&["avatar", "set", "green-mask"]);
    let json: serde_json::Value =
        serde_json::from_str(&bus.ok(&["status", "--json"])).expect("json");
    assert_eq!(json["avatar"], "green-mask");

    user_pack(&packs.join("tailed"), "tailed", "tail");
    let err = bus.fails(&["avatar", "set", "tailed"], 1);
    assert!(
        err.contains("avatar.toml") && err.contains("layer[0].driver") && err.contains("tail"),
        "{err}"
    );
    // The refusal changed nothing.
    let json: serde_json::Value =
        serde_json::from_str(&bus.ok(&["status", "--json"])).expect("json");
    assert_eq!(json["avatar"], "green-mask");
    assert!(bus.ok(&["avatar", "list"]).contains("wizard"));
    let before = grey_frames(&d.clip, 160, 120).len();
    wait_for("frames after the refusal", || {
        grey_frames(&d.clip, 160, 120).len() > before + 3
    });
    bus.ok(&["avatar", "off"]);
    let log = d.stop();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn effects_survive_a_restart_and_config_saves_apply() {
    let bus = Bus::start();
    let d = bus.daemon(&[]);
    bus.ok(&["filter", "set", "posterize:levels=4"]);
    bus.ok(&["background", "blur"]);
    d.stop();
    assert!(bus.path("state/bytemeet/state.toml").is_file());
    let d = bus.daemon(&[]);
    let json: serde_json::Value =
        serde_json::from_str(&bus.ok(&["status", "--json"])).expect("json");
    assert_eq!(json["filter"], "posterize:levels=4");
    assert_eq!(json["background"], "blur:12");

    // A config saved while running applies without a restart...
    let config = bus.path("config/bytemeet/config.toml");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
    std::fs::write(&config, "source = \"demo\"\nfilter = \"invert\"\n").expect("write");
    wait_for("the saved filter", || {
        bus.ok(&["status", "--json"])
            .contains("\"filter\": \"invert\"")
    });
    // ...and one with a mistake is refused, named, and changes nothing.
    std::fs::write(
        &config,
        "source = \"demo\"\nfilter = \"invert\"\nbackground = \"scene:atlantis\"\n",
    )
    .expect("write");
    wait_for("the refusal in the log", || {
        d.log().contains("key `background`")
    });
    let log = d.log();
    assert!(
        log.contains(&format!("{}:3: key `background`", config.display())),
        "{log}"
    );
    let err = bus.fails(&["reload"], 1);
    assert!(err.contains("last good"), "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&bus.ok(&["status", "--json"])).expect("json");
    assert_eq!(json["background"], "blur:12");
    assert_eq!(json["filter"], "invert");
    d.stop();
}

#[test]
fn absent_second_and_busless_daemons_are_told_clearly() {
    let bus = Bus::start();
    let err = bus.fails(&["status"], 3);
    assert!(
        err.contains("not running") && err.contains("systemctl --user start bytemeetd"),
        "{err}"
    );

    let d = bus.daemon(&[]);
    let mut second = Command::new(env!("CARGO_BIN_EXE_bytemeetd"));
    bus.env(&mut second);
    let o = second
        .args(["--source", "demo", "--size", "160x120", "--output"])
        .arg(format!("y4m:{}", bus.path("second.y4m").display()))
        .output()
        .expect("second daemon");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("already running") && err.contains("pid"),
        "{err}"
    );
    assert!(
        bus.ok(&["status"]).contains("running"),
        "the first one is untouched"
    );
    d.stop();

    // No bus at all: the camera runs; control is said to be off.
    let mut c = Command::new(env!("CARGO_BIN_EXE_bytemeetd"));
    bus.env(&mut c);
    let log = bus.path("busless.log");
    let mut child = c
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .args(["--source", "demo", "--size", "160x120", "--output"])
        .arg(format!("png:{}", bus.path("busless.png").display()))
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    wait_for("frames without a bus", || bus.path("busless.png").exists());
    assert!(child.try_wait().expect("poll").is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("no D-Bus control"), "{text}");

    // Batch runs never touch the bus.
    let mut c = Command::new(env!("CARGO_BIN_EXE_bytemeetd"));
    bus.env(&mut c);
    let o = c
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .args([
            "--source", "demo", "--size", "160x120", "--frames", "3", "--output",
        ])
        .arg(format!("y4m:{}", bus.path("batch.y4m").display()))
        .output()
        .expect("batch");
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("D-Bus"));
}

#[test]
fn the_first_call_activates_the_daemon_through_the_packaged_service_file() {
    let bus = Bus::start();
    let packaged = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/dbus/org.bytemeet.Camera.service"
    ))
    .expect("service file");
    assert!(packaged.contains(&format!("Name={}", bytemeet_proto::BUS_NAME)));
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/systemd/bytemeetd.service"
    ))
    .expect("unit");
    assert!(unit.contains(&format!("BusName={}", bytemeet_proto::BUS_NAME)));
    assert!(packaged.contains("SystemdService=bytemeetd.service"));
    // Same file, pointed at the binary under test (no systemd here).
    let exec = format!(
        "Exec={} --source demo --size 160x120 --output y4m:{}",
        env!("CARGO_BIN_EXE_bytemeetd"),
        bus.path("activated.y4m").display()
    );
    let local: String = packaged
        .lines()
        .filter(|l| !l.starts_with("SystemdService="))
        .map(|l| {
            if l.starts_with("Exec=") {
                exec.clone()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(bus.path("services/org.bytemeet.Camera.service"), local).expect("write");
    let status: serde_json::Value =
        serde_json::from_str(&bus.ok(&["status", "--json"])).expect("json");
    assert_eq!(status["running"], true);
    let pid = status["pid"].as_i64().expect("pid") as i32;
    wait_for("frames from the activated daemon", || {
        bus.path("activated.y4m").exists()
    });
    // SAFETY: plain kill(2) on the daemon the bus started for us.
    unsafe { libc::kill(pid, libc::SIGTERM) };
}
