//! The harness of the tests that drive a real `bytemeetd` over a private
//! `dbus-daemon` with the real `bytemeetctl`: the bus, the daemon on the
//! demo source into a y4m clip, and the clip read back.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A session bus of our own, with its activation directory.
pub struct Bus {
    pub dir: tempfile::TempDir,
    pub address: String,
    child: Child,
}

impl Bus {
    pub fn start() -> Bus {
        let dir = tempfile::tempdir().expect("tmp");
        let services = dir.path().join("services");
        std::fs::create_dir(&services).expect("services dir");
        let socket = dir.path().join("bus");
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <servicedir>{}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display(),
                services.display()
            ),
        )
        .expect("bus config");
        let address = format!("unix:path={}", socket.display());
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .arg("--print-address=1")
            // Activated services inherit this environment.
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon is needed for this test (apt install dbus-daemon)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("bus address");
        assert!(line.starts_with("unix:"), "dbus-daemon said {line:?}");
        Bus {
            dir,
            address,
            child,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn env(&self, c: &mut Command) {
        c.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        let mut c = Command::new(ctl_bin());
        self.env(&mut c);
        c.args(args).output().expect("run bytemeetctl")
    }

    /// `bytemeetctl ARGS`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(
            o.status.success(),
            "bytemeetctl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `bytemeetctl ARGS`, which must fail with `code`; its stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.ctl(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(code), "bytemeetctl {args:?}: {err}");
        err
    }

    /// Starts the daemon on the demo source into a y4m clip; waits until it
    /// answers on the bus.
    pub fn daemon(&self, extra: &[&str]) -> Daemon {
        self.daemon_env(extra, &[])
    }

    /// `daemon`, with more variables in the daemon's environment.
    pub fn daemon_env(&self, extra: &[&str], vars: &[(&str, &str)]) -> Daemon {
        let clip = self.path("out.y4m");
        let log = self.path("daemon.log");
        let mut c = Command::new(env!("CARGO_BIN_EXE_bytemeetd"));
        self.env(&mut c);
        c.args(["--source", "demo", "--size", "160x120", "--fps", "30"])
            .arg("--output")
            .arg(format!("y4m:{}", clip.display()))
            .args(extra)
            .envs(vars.iter().copied())
            .stderr(std::fs::File::create(&log).expect("log"));
        let child = c.spawn().expect("spawn bytemeetd");
        let d = Daemon { child, log, clip };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.ctl(&["status"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "daemon never answered: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    pub clip: PathBuf,
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and a clean exit.
    pub fn stop(mut self) -> String {
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

pub fn ctl_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_bytemeetd")).with_file_name("bytemeetctl");
    assert!(
        p.exists(),
        "{} is missing: build it first (`cargo build --workspace --bins`, as tests/run.sh does), or run `cargo test --workspace`",
        p.display()
    );
    p
}

pub fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_for_secs(what, 10, done)
}

pub fn wait_for_secs(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Complete frames in a growing 4:2:0 y4m clip: whether each is grey (its
/// chroma planes all within 3 levels of neutral).
pub fn grey_frames(clip: &Path, w: usize, h: usize) -> Vec<bool> {
    let luma = w * h;
    y4m_frames(clip, w, h)
        .iter()
        .map(|f| f[luma..].iter().all(|c| c.abs_diff(128) <= 3))
        .collect()
}

/// The whole I420 frames of a y4m clip being written (a torn last frame is
/// left out).
pub fn y4m_frames(clip: &Path, w: usize, h: usize) -> Vec<Vec<u8>> {
    let data = std::fs::read(clip).unwrap_or_default();
    let Some(header_end) = data.iter().position(|b| *b == b'\n') else {
        return Vec::new();
    };
    let len = w * h + 2 * (w * h / 4);
    let mut at = header_end + 1;
    let mut out = Vec::new();
    while let Some(nl) = data[at..].iter().position(|b| *b == b'\n') {
        let start = at + nl + 1;
        let end = start + len;
        if end > data.len() {
            break;
        }
        out.push(data[start..end].to_vec());
        at = end;
    }
    out
}
