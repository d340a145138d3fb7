//! The PipeWire camera end to end, on a private PipeWire session: a session
//! bus, `pipewire` and `wireplumber` started by hand in a fresh
//! `XDG_RUNTIME_DIR`; the real `bytemeetd` publishes "ByteMeet Camera" and
//! GStreamer's `pipewiresrc`, an independent reader, takes its frames.
//!
//! Needs `pipewire`, `wireplumber`, `pw-dump` (pipewire-bin),
//! `gst-launch-1.0` with `pipewiresrc` (gstreamer1.0-tools,
//! gstreamer1.0-pipewire) and `dbus-daemon`: tests/setup.sh installs them.
//! Without them this test fails; it does not skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NODE: &str = "bytemeet-camera";
const W: u32 = 640;
const H: u32 = 360;

#[path = "common/pipewire_session.rs"]
#[allow(dead_code)]
mod pipewire_session;

use pipewire_session::{spawn, wait_for, Session};

/// What the test does with a session beyond starting it.
trait Drive {
    fn daemon(&self, args: &[&str]) -> Daemon;
    fn ctl(&self, args: &[&str]) -> Output;
    fn reader(&self, caps: &str, frames: u32, out: &Path) -> Child;
    fn read(&self, caps: &str, frames: u32) -> Frames;
}

impl Drive for Session {
    fn daemon(&self, args: &[&str]) -> Daemon {
        let log = self.path("daemon.log");
        let _ = std::fs::remove_file(&log);
        let mut c = Command::new(env!("CARGO_BIN_EXE_bytemeetd"));
        self.env(&mut c)
            .env("RUST_LOG", "info,bytemeetd::pipewire=debug")
            .args([
                "--source",
                "demo",
                "--size",
                &format!("{W}x{H}"),
                "--fps",
                "30",
            ])
            .args(["--output", "pipewire"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(self.log_file("daemon.log"));
        Daemon {
            child: spawn("bytemeetd", &mut c),
            log,
        }
    }

    fn ctl(&self, args: &[&str]) -> Output {
        let bin = Path::new(env!("CARGO_BIN_EXE_bytemeetd")).with_file_name("bytemeetctl");
        assert!(
            bin.exists(),
            "{} is missing: `cargo build --workspace --bins` first",
            bin.display()
        );
        self.env(&mut Command::new(bin))
            .args(args)
            .output()
            .expect("bytemeetctl")
    }

    /// A GStreamer reader: `frames` frames of `caps` from the node, their
    /// bytes and presentation times.
    fn reader(&self, caps: &str, frames: u32, out: &Path) -> Child {
        let mut c = Command::new("gst-launch-1.0");
        self.env(&mut c)
            .arg("-v")
            .arg("pipewiresrc")
            .arg(format!("target-object={NODE}"))
            .arg("always-copy=true")
            .arg(format!("num-buffers={frames}"))
            .args(["!", caps, "!", "tee", "name=t"])
            .args(["!", "queue", "!", "filesink"])
            .arg(format!("location={}", out.display()))
            .args([
                "t.",
                "!",
                "queue",
                "!",
                "fakesink",
                "silent=false",
                "sync=false",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        spawn("gst-launch-1.0 (gstreamer1.0-tools)", &mut c)
    }

    fn read(&self, caps: &str, frames: u32) -> Frames {
        let out = self.path("frames.raw");
        let child = self.reader(caps, frames, &out);
        finish_reader(child, &out)
    }
}

/// What a reader received.
struct Frames {
    bytes: Vec<u8>,
    pts_s: Vec<f64>,
}

impl Frames {
    /// Frames per second over the second half of the run (after start-up).
    fn rate(&self) -> f64 {
        let half = &self.pts_s[self.pts_s.len() / 2..];
        (half.len() - 1) as f64 / (half[half.len() - 1] - half[0])
    }
}

fn finish_reader(child: Child, out: &Path) -> Frames {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut child = child;
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reader got no frames within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut text = String::new();
    if let Some(mut o) = child.stdout.take() {
        std::io::Read::read_to_string(&mut o, &mut text).expect("reader output");
    }
    let pts_s = text
        .lines()
        .filter(|l| l.contains("fakesink") && l.contains("chain"))
        .filter_map(|l| {
            let t = l.split("pts: ").nth(1)?.split(',').next()?;
            let mut parts = t.split(':');
            let h: f64 = parts.next()?.parse().ok()?;
            let m: f64 = parts.next()?.parse().ok()?;
            let s: f64 = parts.next()?.parse().ok()?;
            Some(h * 3600.0 + m * 60.0 + s)
        })
        .collect();
    Frames {
        bytes: std::fs::read(out).unwrap_or_default(),
        pts_s,
    }
}

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn count(&self, what: &str) -> usize {
        self.log().matches(what).count()
    }

    fn wait_log(&self, what: &str, times: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.count(what) < times {
            assert!(
                Instant::now() < deadline,
                "no {what:?} (x{times}) in the daemon's log within {secs} s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(mut self) -> String {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait");
        let log = self.log();
        assert!(status.success(), "clean exit: {log}");
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chroma and luma samples of the last frame in a reader's bytes.
struct Planes {
    luma: Vec<u8>,
    chroma: Vec<u8>,
}

fn last_frame(bytes: &[u8], format: &str, w: u32, h: u32) -> Planes {
    let px = (w * h) as usize;
    let len = match format {
        "YUY2" => px * 2,
        _ => px * 3 / 2,
    };
    assert!(
        bytes.len() >= len && bytes.len().is_multiple_of(len),
        "{format} {w}x{h}: {} bytes is not a whole number of {len}-byte frames",
        bytes.len()
    );
    let f = &bytes[bytes.len() - len..];
    match format {
        "YUY2" => Planes {
            luma: f.iter().step_by(2).copied().collect(),
            chroma: f.iter().skip(1).step_by(2).copied().collect(),
        },
        _ => Planes {
            luma: f[..px].to_vec(),
            chroma: f[px..].to_vec(),
        },
    }
}

fn mean_abs(v: &[u8], around: f64) -> f64 {
    v.iter().map(|x| (*x as f64 - around).abs()).sum::<f64>() / v.len() as f64
}

fn mean(v: &[u8]) -> f64 {
    v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64
}

/// Grey picture with content: chroma flat at 128, luma spread.
fn assert_grey_picture(p: &Planes, what: &str) {
    let chroma_off = mean_abs(&p.chroma, 128.0);
    let luma_spread = mean_abs(&p.luma, mean(&p.luma));
    assert!(
        chroma_off < 2.0,
        "{what}: chroma is {chroma_off:.2} from grey on average, the grayscale filter is not there"
    );
    assert!(
        luma_spread > 8.0,
        "{what}: luma spread {luma_spread:.2}: no picture"
    );
}

#[test]
fn pipewire_camera_end_to_end() {
    let mut session = Session::start();
    let daemon = session.daemon(&["--filter", "grayscale"]);
    daemon.wait_log("camera published on PipeWire", 1, 60);

    // The node as apps see it.
    let props = session.node(NODE).expect("the node is listed by pw-dump");
    assert_eq!(props["media.class"], "Video/Source");
    assert_eq!(props["media.role"], "Camera");
    assert_eq!(props["node.description"], "ByteMeet Camera");

    // Nobody reads yet: the camera stays off.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        daemon.count("source started"),
        0,
        "the camera opened with no consumer:\n{}",
        daemon.log()
    );
    let status = session.ctl(&["status", "--json"]);
    assert!(status.status.success(), "status: {status:?}");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["camera_active"], false);
    let outputs = status["outputs"].to_string();
    assert!(
        outputs.contains("PipeWire camera bytemeet-camera") && outputs.contains("0 consumers"),
        "status outputs: {outputs}"
    );

    // One reader: frames at the configured rate, grey (the filter is there).
    let caps = format!("video/x-raw,format=YUY2,width={W},height={H}");
    let frames = session.read(&caps, 90);
    assert_eq!(
        frames.bytes.len(),
        90 * (W * H * 2) as usize,
        "90 whole frames"
    );
    assert!(
        frames.pts_s.len() >= 80,
        "{} timestamps",
        frames.pts_s.len()
    );
    // Never faster than configured; how close to 30 a loaded machine keeps
    // up is the outputs benchmark's figure, not a test bound.
    let rate = frames.rate();
    assert!(
        (5.0..=34.0).contains(&rate),
        "{rate:.1} frames per second, configured 30"
    );
    daemon.wait_log("source started", 1, 5);
    assert_grey_picture(&last_frame(&frames.bytes, "YUY2", W, H), "YUY2");

    // The last consumer gone: the camera closes (3 s grace).
    daemon.wait_log("nobody is watching: camera closed", 1, 20);

    // Without the filter the same picture has colour: the grey was the filter's.
    let off = session.ctl(&["filter", "off"]);
    assert!(off.status.success(), "filter off: {off:?}");
    let colour = session.read(&caps, 20);
    let p = last_frame(&colour.bytes, "YUY2", W, H);
    assert!(
        mean_abs(&p.chroma, 128.0) > 4.0,
        "the demo portrait without a filter should have colour"
    );
    let on = session.ctl(&["filter", "set", "grayscale"]);
    assert!(on.status.success(), "filter set: {on:?}");

    // Two consumers at once: both get every frame they asked for.
    let (a, b) = (session.path("a.raw"), session.path("b.raw"));
    let ra = session.reader(&caps, 60, &a);
    std::thread::sleep(Duration::from_millis(300));
    let rb = session.reader(&caps, 40, &b);
    let (fa, fb) = (finish_reader(ra, &a), finish_reader(rb, &b));
    assert_eq!(fa.bytes.len(), 60 * (W * H * 2) as usize, "first reader");
    assert_eq!(fb.bytes.len(), 40 * (W * H * 2) as usize, "second reader");
    assert!(
        daemon.log().contains("consumers=2"),
        "two consumers were never counted:\n{}",
        daemon.log()
    );

    // Every offered format, at the output size and scaled down.
    for (format, w, h) in [
        ("NV12", W, H),
        ("I420", W, H),
        ("NV12", 320, 240),
        ("I420", 424, 240),
        ("YUY2", 320, 240),
    ] {
        let caps = format!("video/x-raw,format={format},width={w},height={h}");
        let got = session.read(&caps, 10);
        assert_grey_picture(
            &last_frame(&got.bytes, format, w, h),
            &format!("{format} {w}x{h}"),
        );
    }

    // PipeWire restarts under the daemon: the node comes back and a new
    // reader gets frames.
    session.stop_pipewire();
    daemon.wait_log("PipeWire connection lost", 1, 10);
    session.start_pipewire();
    daemon.wait_log("camera published on PipeWire", 2, 30);
    let after = session.read(&caps, 20);
    assert_eq!(
        after.bytes.len(),
        20 * (W * H * 2) as usize,
        "after the restart"
    );
    assert_grey_picture(&last_frame(&after.bytes, "YUY2", W, H), "after restart");

    // The daemon restarts: the same node name is there again.
    daemon.stop();
    wait_for("the node to go with the daemon", 10, || {
        session.node(NODE).is_none()
    });
    let again = session.daemon(&["--filter", "grayscale"]);
    again.wait_log("camera published on PipeWire", 1, 60);
    let frames = session.read(&caps, 10);
    assert_eq!(frames.bytes.len(), 10 * (W * H * 2) as usize);
    again.stop();
}

/// An independent camera on the session: GStreamer's SMPTE colour bars
/// published as a `Video/Source` node named `name`.
fn test_camera(session: &Session, name: &str) -> Child {
    let mut c = Command::new("gst-launch-1.0");
    session
        .env(&mut c)
        .args([
            "-q",
            "videotestsrc",
            "is-live=true",
            "pattern=smpte",
            "!",
            "video/x-raw,format=YUY2,width=640,height=360,framerate=30/1",
            "!",
            "pipewiresink",
            "mode=provide",
        ])
        .arg(format!(
            "stream-properties=p,media.class=Video/Source,media.role=Camera,node.name={name}"
        ))
        .stdout(Stdio::null())
        .stderr(session.log_file("test-camera.log"));
    let child = spawn("gst-launch-1.0 (gstreamer1.0-tools)", &mut c);
    wait_for("test camera node", 20, || session.node(name).is_some());
    child
}

/// Y, U, V at the middle of each of the seven top bars of an I420 frame.
fn bars(frame: &[u8], w: usize, h: usize) -> Vec<(u8, u8, u8)> {
    let (y, cw) = (h / 3, w / 2);
    (0..7)
        .map(|b| {
            let x = (2 * b + 1) * w / 14;
            let c = (y / 2) * cw + x / 2;
            (
                frame[y * w + x],
                frame[w * h + c],
                frame[w * h + w * h / 4 + c],
            )
        })
        .collect()
}

/// The last frame of a 4:2:0 y4m clip.
fn last_y4m_frame(path: &Path, w: usize, h: usize) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("clip");
    let at = bytes
        .windows(6)
        .rposition(|x| x == b"FRAME\n")
        .expect("a frame in the clip")
        + 6;
    bytes[at..at + w * h * 3 / 2].to_vec()
}

/// The colour bars, not some other picture: white, yellow, ..., blue.
fn assert_colour_bars(frame: &[u8], what: &str) {
    let b = bars(frame, W as usize, H as usize);
    let (white, yellow, red, blue) = (b[0], b[1], b[5], b[6]);
    assert!(
        white.0 > 150 && white.1.abs_diff(128) < 12 && white.2.abs_diff(128) < 12,
        "{what}: first bar should be white, is YUV {white:?} (all: {b:?})"
    );
    assert!(yellow.1 < 70, "{what}: second bar should be yellow: {b:?}");
    assert!(red.2 > 190, "{what}: sixth bar should be red: {b:?}");
    assert!(blue.1 > 190, "{what}: last bar should be blue: {b:?}");
}

#[test]
fn pipewire_source_reads_a_camera_node() {
    let session = Session::start();
    let bin = env!("CARGO_BIN_EXE_bytemeetd");
    let clip = session.path("in.y4m");
    // A batch run reading `source` into the clip.
    let batch = |source: &str, frames: &str| {
        let mut c = Command::new(bin);
        session
            .env(&mut c)
            .args(["--source", source, "--size", "640x360"])
            .arg("--output")
            .arg(format!("y4m:{}", clip.display()))
            .args(["--frames", frames])
            .output()
            .expect("bytemeetd")
    };

    // No such node: a clear error that says where to look.
    let out = batch("pipewire:no-such-camera", "5");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a missing node must fail a batch run"
    );
    assert!(
        err.contains("pipewire:no-such-camera") && err.contains("pw-cli ls Node"),
        "unclear error: {err}"
    );

    // A real node: 30 frames of its colour bars, in batch mode.
    let mut camera = test_camera(&session, "test-camera");
    let out = batch("pipewire:test-camera", "30");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bytemeetd failed: {err}");
    assert!(
        err.contains("PipeWire camera format format=yuyv size=640x360"),
        "negotiated format not logged: {err}"
    );
    assert_colour_bars(&last_y4m_frame(&clip, W as usize, H as usize), "batch");

    // Live: the camera goes away and comes back; the daemon says so, keeps
    // running and reads it again.
    let png = session.path("live.png");
    let log = session.path("live.log");
    let mut c = Command::new(bin);
    session
        .env(&mut c)
        .env("RUST_LOG", "info")
        .args(["--source", "pipewire:test-camera", "--size", "640x360"])
        .args(["--no-dbus", "--output"])
        .arg(format!("png:{}", png.display()))
        .stdout(Stdio::null())
        .stderr(session.log_file("live.log"));
    let daemon = Daemon {
        child: spawn("bytemeetd", &mut c),
        log,
    };
    daemon.wait_log("source started", 1, 30);
    let _ = camera.kill();
    let _ = camera.wait();
    daemon.wait_log("the camera node went away", 1, 20);
    let mut camera = test_camera(&session, "test-camera");
    daemon.wait_log("source started", 2, 30);
    let before = std::fs::metadata(&png).and_then(|m| m.modified()).ok();
    wait_for("a new picture after the camera came back", 10, || {
        std::fs::metadata(&png).and_then(|m| m.modified()).ok() != before
    });
    let log = daemon.stop();
    assert!(
        log.matches("the camera node went away").count() >= 1,
        "{log}"
    );
    let _ = camera.kill();
    let _ = camera.wait();
}
