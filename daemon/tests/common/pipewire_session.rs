//! A private PipeWire session for tests and benchmarks: a session bus,
//! `pipewire` and `wireplumber` started by hand in a fresh
//! `XDG_RUNTIME_DIR` (mode 700), torn down on drop. Included with `#[path]`
//! by `tests/pipewire.rs` and `benches/outputs.rs`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private session: bus, PipeWire, WirePlumber.
pub struct Session {
    dir: tempfile::TempDir,
    bus: Child,
    pipewire: Option<Child>,
    wireplumber: Option<Child>,
    bus_address: String,
}

pub fn spawn(what: &str, c: &mut Command) -> Child {
    c.spawn().unwrap_or_else(|e| {
        panic!("{what} is needed for this test ({e}); run tests/setup.sh (apt install pipewire pipewire-bin wireplumber gstreamer1.0-pipewire gstreamer1.0-tools dbus-daemon)")
    })
}

impl Session {
    pub fn start() -> Session {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let bus_address = format!("unix:path={}", dir.path().join("bus").display());
        let mut bus = spawn(
            "dbus-daemon",
            Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--print-address=1"])
                .arg(format!("--address={bus_address}"))
                .stdout(Stdio::piped()),
        );
        let mut line = String::new();
        BufReader::new(bus.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("bus address");
        assert!(line.starts_with("unix:"), "dbus-daemon said {line:?}");
        let mut s = Session {
            dir,
            bus,
            pipewire: None,
            wireplumber: None,
            bus_address,
        };
        s.start_pipewire();
        s
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn env<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        c.env("XDG_RUNTIME_DIR", self.dir.path())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env_remove("PIPEWIRE_REMOTE")
            .env_remove("PIPEWIRE_RUNTIME_DIR")
            .env("NO_COLOR", "1")
    }

    pub fn log_file(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .expect("log file")
    }

    pub fn start_pipewire(&mut self) {
        let log = self.log_file("pipewire.log");
        let pw = spawn(
            "pipewire",
            self.env(&mut Command::new("pipewire"))
                .stdout(Stdio::null())
                .stderr(log),
        );
        self.pipewire = Some(pw);
        let socket = self.path("pipewire-0");
        wait_for("the PipeWire socket", 10, || socket.exists());
        let log = self.log_file("wireplumber.log");
        let wp = spawn(
            "wireplumber",
            self.env(&mut Command::new("wireplumber"))
                .stdout(Stdio::null())
                .stderr(log),
        );
        self.wireplumber = Some(wp);
        wait_for("WirePlumber on PipeWire", 15, || {
            self.objects().iter().any(|o| {
                o["type"] == "PipeWire:Interface:Client"
                    && o["info"]["props"]["application.name"] == "WirePlumber"
            })
        });
    }

    pub fn stop_pipewire(&mut self) {
        for c in [self.wireplumber.take(), self.pipewire.take()]
            .into_iter()
            .flatten()
        {
            stop(c);
        }
    }

    /// `pw-dump`: every object on the PipeWire daemon.
    pub fn objects(&self) -> Vec<serde_json::Value> {
        let out = self
            .env(&mut Command::new("pw-dump"))
            .stderr(Stdio::null())
            .output()
            .expect("pw-dump is needed for this test (apt install pipewire-bin)");
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// The props of the node named `name`, if it is there.
    pub fn node(&self, name: &str) -> Option<serde_json::Value> {
        self.objects()
            .into_iter()
            .find(|o| {
                o["type"] == "PipeWire:Interface:Node" && o["info"]["props"]["node.name"] == name
            })
            .map(|o| o["info"]["props"].clone())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_pipewire();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

pub fn stop(mut c: Child) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if c.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}

pub fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "no {what} within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
