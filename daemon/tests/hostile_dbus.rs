//! Every method that takes a path or a free string, called over a real bus
//! with hostile arguments: FIFOs (which block a reader for ever), kernel
//! files, devices, symbolic-link loops, files too big, strings of megabytes,
//! and a non-UTF-8 command line. Each gets a clear error within a bound, and
//! the daemon goes on answering and sending frames.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use bytemeet_proto::CameraProxy;

#[path = "common/bus.rs"]
mod bus;
use bus::*;

/// Longer than the daemon's own limit on a file check (5 s), shorter than
/// a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn hostile_arguments_get_clear_errors_and_nothing_blocks() {
    let bus = Bus::start();
    let d = bus.daemon(&[]);
    let dir = bus.path("hostile");
    std::fs::create_dir(&dir).expect("dir");
    let fifo_cube = dir.join("look.cube");
    let fifo_png = dir.join("picture.png");
    let fifo_clip = dir.join("clip.y4m");
    let fifo_snap = dir.join("snap.png");
    for f in [&fifo_cube, &fifo_png, &fifo_clip, &fifo_snap] {
        mkfifo(f);
    }
    let looped = dir.join("loop.png");
    std::os::unix::fs::symlink(dir.join("loop2.png"), &looped).expect("link");
    std::os::unix::fs::symlink(&looped, dir.join("loop2.png")).expect("link");
    // Sparse: big to the daemon, nothing on the disk.
    let huge = dir.join("huge.cube");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(300 << 20))
        .expect("sparse file");
    let fifo = |p: &Path| p.display().to_string();
    let megabytes = "x".repeat(4 << 20);

    // (method, argument, words the error must hold)
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "filter",
            format!("lut:{}", fifo(&fifo_cube)),
            "not a regular file",
        ),
        ("filter", "lut:/proc/kmsg".into(), "kernel or device file"),
        ("filter", format!("lut:{}", fifo(&huge)), "too big"),
        ("filter", megabytes.clone(), "too long"),
        ("background", fifo(&fifo_png), "not a regular file"),
        ("background", fifo(&fifo_clip), "not a regular file"),
        ("background", "/dev/zero".into(), "kernel or device file"),
        (
            "background",
            "/proc/self/environ".into(),
            "kernel or device file",
        ),
        ("background", fifo(&looped), "loop of symbolic links"),
        ("background", format!("/{megabytes}"), "too long"),
        ("avatar", megabytes.clone(), "too long"),
        (
            "source",
            format!("v4l2:{}", fifo(&fifo_png)),
            "not a video device",
        ),
        ("source", "v4l2:/dev/null".into(), "not a video device"),
        (
            "source",
            format!("file:{}", fifo(&fifo_clip)),
            "not a regular file",
        ),
        ("snapshot", fifo(&fifo_snap), "not a regular file"),
        (
            "snapshot",
            "/proc/self/snap.png".into(),
            "kernel or device folder",
        ),
        ("snapshot", format!("/tmp/{megabytes}.png"), "too long"),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let conn = zbus::connection::Builder::address(bus.address.as_str())
            .expect("address")
            .build()
            .await
            .expect("connect");
        let cam = CameraProxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .expect("proxy");
        for (method, arg, words) in &cases {
            let t = Instant::now();
            let call = async {
                match *method {
                    "filter" => cam.set_filter(arg).await,
                    "background" => cam.set_background(arg).await,
                    "avatar" => cam.set_avatar(arg).await,
                    "source" => cam.set_source(arg).await,
                    "snapshot" => cam.snapshot(arg).await,
                    _ => unreachable!(),
                }
            };
            let shown: String = arg.chars().take(60).collect();
            let result = tokio::time::timeout(ANSWER_WITHIN, call)
                .await
                .unwrap_or_else(|_| panic!("{method} {shown}: no answer"));
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{method} {shown}: accepted"))
                .to_string();
            assert!(
                err.contains(words) && err.len() < 2000,
                "{method} {shown}: the error {:?} should say {words:?} and be short",
                err.chars().take(300).collect::<String>()
            );
            eprintln!(
                "{method} {shown}: refused in {:.0} ms: {}",
                t.elapsed().as_secs_f64() * 1000.0,
                err.chars().take(120).collect::<String>()
            );
        }
        // A room URL and name of megabytes.
        let joined = tokio::time::timeout(
            ANSWER_WITHIN,
            cam.join_room(&format!("http://127.0.0.1:1/{megabytes}"), &megabytes, 500),
        )
        .await
        .expect("join answered");
        let err = joined
            .expect_err("a huge room address is refused")
            .to_string();
        assert!(
            err.contains("too long") && err.len() < 2000,
            "{}",
            &err[..err.len().min(300)]
        );
        // Nothing was changed by the refused calls.
        assert_eq!(cam.filter().await.expect("filter"), "");
        assert_eq!(cam.source().await.expect("source"), "demo");
    });

    // The command line: a file name that is not UTF-8.
    let mut c = std::process::Command::new(ctl_bin());
    bus.env(&mut c);
    let o = c
        .arg("background")
        .arg("image")
        .arg(std::ffi::OsStr::from_bytes(b"/tmp/\xff\xfe.png"))
        .output()
        .expect("bytemeetctl");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "refused");
    assert!(err.contains("UTF-8") || err.contains("utf-8"), "{err}");

    // Still answering and sending frames; nothing panicked.
    let before = grey_frames(&d.clip, 160, 120).len();
    wait_for_secs("frames after the hostile calls", 20, || {
        grey_frames(&d.clip, 160, 120).len() > before + 10
    });
    bus.ok(&["status"]);
    let log = d.stop();
    assert!(!log.contains("panicked"), "{log}");
}
