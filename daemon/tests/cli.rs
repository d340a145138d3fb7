//! End-to-end runs of the real `bytemeetd` binary on real files: the demo and
//! file sources, the y4m and png outputs, bad input, and the config file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bytemeetd"));
    // Keep runs independent of the user's own config.
    c.env("XDG_CONFIG_HOME", "/nonexistent-bytemeet-test")
        .env("XDG_STATE_HOME", "/nonexistent-bytemeet-test")
        // Long-running cases must not meet a daemon on the user's bus.
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent-bytemeet-test/bus",
        )
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run bytemeetd")
}

/// A batch run from a file source at `size` into one output.
fn run_file(src: &Path, size: &str, output: &str, frames: u32) -> Output {
    run(&[
        "--source",
        &format!("file:{}", src.display()),
        "--size",
        size,
        "--output",
        output,
        "--frames",
        &frames.to_string(),
    ])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Parses a y4m file: (width, height, frames as I420 byte vectors).
fn read_y4m(path: &Path) -> (usize, usize, Vec<Vec<u8>>) {
    let data = std::fs::read(path).expect("clip");
    let mut dec = y4m::decode(&data[..]).expect("y4m header");
    let (w, h) = (dec.get_width(), dec.get_height());
    let mut frames = Vec::new();
    while let Ok(f) = dec.read_frame() {
        let mut v = f.get_y_plane().to_vec();
        v.extend_from_slice(f.get_u_plane());
        v.extend_from_slice(f.get_v_plane());
        frames.push(v);
    }
    (w, h, frames)
}

/// Writes a y4m clip whose frame i has luma 30 + 20*i everywhere.
fn write_clip(path: &Path, w: usize, h: usize, n: u8) {
    let mut out = Vec::new();
    let mut enc = y4m::encode(w, h, y4m::Ratio::new(30, 1))
        .with_colorspace(y4m::Colorspace::C420jpeg)
        .write_header(&mut out)
        .expect("header");
    for i in 0..n {
        let y = vec![30 + 20 * i; w * h];
        let c = vec![128u8; w * h / 4];
        enc.write_frame(&y4m::Frame::new([&y, &c, &c], None))
            .expect("frame");
    }
    std::fs::write(path, out).expect("write clip");
}

#[test]
fn demo_writes_a_90_frame_clip_of_a_moving_portrait() {
    let dir = tempfile::tempdir().expect("tmp");
    let clip = dir.path().join("demo.y4m");
    let o = run(&[
        "--source",
        "demo",
        "--output",
        &format!("y4m:{}", clip.display()),
        "--frames",
        "90",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (w, h, frames) = read_y4m(&clip);
    assert_eq!((w, h), (1280, 720));
    assert_eq!(frames.len(), 90);
    let y = w * h;
    let diff = |a: &[u8], b: &[u8]| {
        a[..y]
            .iter()
            .zip(&b[..y])
            .filter(|(p, q)| p.abs_diff(**q) > 10)
            .count()
    };
    assert!(
        diff(&frames[0], &frames[45]) > y / 20,
        "the head moves between frames 0 and 45"
    );
    assert!(
        diff(&frames[0], &frames[1]) < y / 4,
        "motion is gentle frame to frame"
    );
}

#[test]
fn a_clip_source_loops_frame_exact() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("in.y4m");
    let out = dir.path().join("out.y4m");
    write_clip(&src, 64, 32, 5);
    let o = run_file(&src, "64x32", &format!("y4m:{}", out.display()), 12);
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, _, frames) = read_y4m(&out);
    let lumas: Vec<u8> = frames.iter().map(|f| f[0]).collect();
    assert_eq!(
        lumas,
        vec![30, 50, 70, 90, 110, 30, 50, 70, 90, 110, 30, 50]
    );
}

#[test]
fn a_truncated_clip_is_reported_and_still_plays() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("cut.y4m");
    let out = dir.path().join("out.y4m");
    write_clip(&src, 64, 32, 3);
    let len = std::fs::metadata(&src).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&src)
        .expect("open");
    f.set_len(len - 1000).expect("truncate");
    let o = run_file(&src, "64x32", &format!("y4m:{}", out.display()), 4);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
    let (_, _, frames) = read_y4m(&out);
    let lumas: Vec<u8> = frames.iter().map(|f| f[0]).collect();
    assert_eq!(
        lumas,
        vec![30, 50, 30, 50],
        "the partial third frame is skipped"
    );
}

#[test]
fn a_still_image_is_scaled_to_cover() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = dir.path().join("in.png");
    let out = dir.path().join("out.png");
    // Left half red, right half blue, 200x100: covering 100x100 keeps the middle.
    let mut im = image::RgbaImage::new(200, 100);
    for (x, _, p) in im.enumerate_pixels_mut() {
        *p = if x < 100 {
            image::Rgba([220, 20, 20, 255])
        } else {
            image::Rgba([20, 20, 220, 255])
        };
    }
    im.save(&img).expect("save");
    let o = run_file(&img, "100x100", &format!("png:{}", out.display()), 3);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = image::open(&out).expect("png").to_rgba8();
    assert_eq!(got.dimensions(), (100, 100));
    assert!(got.get_pixel(10, 50).0[0] > 180, "left stays red");
    assert!(got.get_pixel(90, 50).0[2] > 180, "right stays blue");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = format!("y4m:{}", dir.path().join("o.y4m").display());
    let o = run(&[
        "--source",
        "file:/no/such/clip.y4m",
        "--output",
        &out,
        "--frames",
        "3",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/no/such/clip.y4m: no such file"),
        "{}",
        stderr(&o)
    );

    let junk = dir.path().join("junk.png");
    std::fs::write(&junk, b"not an image at all").expect("write");
    let o = run(&[
        "--source",
        &format!("file:{}", junk.display()),
        "--output",
        &out,
        "--frames",
        "3",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not an image"), "{}", stderr(&o));

    let o = run(&[
        "--source",
        "demo",
        "--output",
        "y4m:/no/such/dir/o.y4m",
        "--frames",
        "3",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot create"), "{}", stderr(&o));

    let o = run(&["--source", "webcam"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("v4l2:/dev/videoN"), "{}", stderr(&o));

    let o = run(&["--size", "1281x720", "--frames", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("even"), "{}", stderr(&o));

    let o = run(&[
        "--source",
        "v4l2:/dev/video-missing",
        "--output",
        &out,
        "--frames",
        "3",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no such device"), "{}", stderr(&o));
}

/// A live run whose camera is missing keeps its outputs fed with a card that
/// says what is wrong, retries, and exits cleanly on SIGTERM.
#[test]
fn a_missing_camera_shows_a_card_and_the_daemon_keeps_running() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("live.png");
    let mut child = bin()
        .args([
            "--source",
            "v4l2:/dev/video-missing",
            "--size",
            "640x360",
            "--fps",
            "10",
        ])
        .arg("--output")
        .arg(format!("png:{}", out.display()))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while !out.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500)); // long enough for a retry
    assert!(
        child.try_wait().expect("poll").is_none(),
        "daemon still running"
    );
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success(), "clean exit on SIGTERM: {}", stderr(&o));
    let log = stderr(&o);
    assert!(
        log.contains("no such device") && log.contains("plugged in"),
        "{log}"
    );
    assert_eq!(
        log.matches("no such device").count(),
        1,
        "the same problem is logged once: {log}"
    );
    let img = image::open(&out).expect("card").to_rgba8();
    assert_eq!(img.dimensions(), (640, 360));
    let bright = img
        .pixels()
        .filter(|p| p.0[0] > 180 && p.0[1] > 180)
        .count();
    assert!(bright > 500, "the card carries text");
}

#[test]
fn the_config_file_is_read_and_flags_override_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg_dir = dir.path().join("bytemeet");
    std::fs::create_dir_all(&cfg_dir).expect("mkdir");
    let clip = dir.path().join("c.y4m");
    std::fs::write(
        cfg_dir.join("config.toml"),
        format!(
            "source = \"demo\"\noutputs = [\"y4m:{}\"]\nsize = \"320x180\"\nfps = 15\n",
            clip.display()
        ),
    )
    .expect("config");
    let o = bin()
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--frames", "4"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let head = std::fs::read(&clip).expect("clip");
    assert!(
        head.starts_with(b"YUV4MPEG2 W320 H180 F15:1"),
        "{:?}",
        &head[..30]
    );

    let o = bin()
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--frames", "2", "--size", "160x90"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&clip)
        .expect("clip")
        .starts_with(b"YUV4MPEG2 W160 H90"));

    std::fs::write(cfg_dir.join("config.toml"), "fps = \"fast\"\n").expect("config");
    let bad: PathBuf = cfg_dir.join("config.toml");
    let o = bin()
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--source", "demo", "--frames", "1", "--output"])
        .arg(format!("y4m:{}", clip.display()))
        .output()
        .expect("run");
    assert!(
        o.status.success(),
        "a broken config does not stop the daemon: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains(&bad.display().to_string()),
        "{}",
        stderr(&o)
    );
}

#[test]
fn list_devices_runs_without_hardware() {
    let o = run(&["--list-devices"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!o.stdout.is_empty());
}

/// A 160x90 green-screen shot: a grey "person" block on chroma green.
fn green_screen(path: &Path) {
    let mut im = image::RgbaImage::new(160, 90);
    for (x, y, p) in im.enumerate_pixels_mut() {
        let person = (50..110).contains(&x) && y >= 20;
        *p = if person {
            image::Rgba([128, 120, 112, 255])
        } else {
            image::Rgba([0, 177, 64, 255])
        };
    }
    im.save(path).expect("save");
}

fn run_background(src: &Path, background: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "--source".to_string(),
        format!("file:{}", src.display()),
        "--size".into(),
        "160x90".into(),
        "--background".into(),
        background.into(),
        "--segmenter".into(),
        "chroma".into(),
        "--output".into(),
        format!("png:{}", out.display()),
        "--frames".into(),
        "4".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    bin().args(&args).output().expect("run bytemeetd")
}

/// Backgrounds from the command line on a real GPU (lavapipe in CI), with the
/// chroma-key segmenter finding the person: an image scaled to cover, a
/// scene, a looping clip; the person stays in front of each.
#[test]
fn backgrounds_replace_the_green_screen_behind_the_person() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("green.png");
    green_screen(&src);
    let out = dir.path().join("out.png");
    let person = |img: &image::RgbaImage| {
        let p = img.get_pixel(80, 60).0;
        p[0].abs_diff(128) < 12 && p[1].abs_diff(120) < 12
    };

    // A 300x100 image, left half red, right half blue: covering 160x90 scales
    // it to 270x90 and keeps the middle, so red ends at x = 80.
    let wide = dir.path().join("wide.png");
    let mut im = image::RgbaImage::new(300, 100);
    for (x, _, p) in im.enumerate_pixels_mut() {
        *p = if x < 150 {
            image::Rgba([220, 20, 20, 255])
        } else {
            image::Rgba([20, 20, 220, 255])
        };
    }
    im.save(&wide).expect("save");
    let o = run_background(&src, &format!("image:{}", wide.display()), &out, &[]);
    assert!(
        !stderr(&o).contains("frames pass through without effects"),
        "no GPU adapter: install mesa-vulkan-drivers\n{}",
        stderr(&o)
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got = image::open(&out).expect("png").to_rgba8();
    assert!(
        got.get_pixel(5, 5).0[0] > 180,
        "left is the red half: {:?}",
        got.get_pixel(5, 5)
    );
    assert!(
        got.get_pixel(154, 5).0[2] > 180,
        "right is the blue half: {:?}",
        got.get_pixel(154, 5)
    );
    assert!(
        person(&got),
        "the person stays: {:?}",
        got.get_pixel(80, 60)
    );

    let o = run_background(&src, "scene:moon", &out, &["--filter", "grayscale"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = image::open(&out).expect("png").to_rgba8();
    let sky = got.get_pixel(5, 5).0;
    assert!(sky[0] < 60 && sky[1] < 60, "night sky, not green: {sky:?}");
    let p = got.get_pixel(80, 60).0;
    assert!(p[0].abs_diff(p[1]) <= 2, "the person is grayscale: {p:?}");

    // A clip whose frames get brighter: the background follows it frame by frame.
    let clip = dir.path().join("bg.y4m");
    write_clip(&clip, 64, 36, 4);
    let rec = dir.path().join("rec.y4m");
    let o = bin()
        .args(["--source", &format!("file:{}", src.display())])
        .args(["--size", "160x90", "--frames", "4"])
        .args(["--background", &format!("video:{}", clip.display())])
        .args(["--segmenter", "chroma"])
        .args(["--output", &format!("y4m:{}", rec.display())])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let (w, _, frames) = read_y4m(&rec);
    let corner: Vec<u8> = frames.iter().map(|f| f[5 * w + 5]).collect();
    assert!(
        corner.windows(2).all(|p| p[1] > p[0] + 10),
        "the clip plays behind the person: corner luma {corner:?}"
    );
}

#[test]
fn scenes_are_listed_and_bad_backgrounds_are_clear_errors() {
    let o = run(&["--list-scenes"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for name in ["moon", "starship-bridge", "dragons-lair", "deep-space"] {
        assert!(text.contains(name), "{text}");
    }
    let o = run(&["--background", "scene:mars", "--frames", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("moon"), "{}", stderr(&o));
    let o = run(&["--background", "image:/no/such/bg.png", "--frames", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no such file"), "{}", stderr(&o));
    let o = run(&["--background", "blur:500", "--frames", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("1..=64"), "{}", stderr(&o));
}

/// The model segmenter in a batch run: the very first frame already has its
/// own mask (the run waits for it), so the scene replaces the room behind
/// the astronaut and leaves her face alone.
#[test]
fn the_first_frame_of_a_batch_gets_its_background() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("one.png");
    let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png");
    let o = run(&[
        "--source",
        &format!("file:{photo}"),
        "--size",
        "512x512",
        "--background",
        "scene:deep-space",
        "--frames",
        "1",
        "--output",
        &format!("png:{}", out.display()),
    ]);
    assert!(
        !stderr(&o).contains("frames pass through without effects"),
        "no GPU adapter: install mesa-vulkan-drivers\n{}",
        stderr(&o)
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got = image::open(&out).expect("png").to_rgba8();
    let src = image::open(photo).expect("photo").to_rgba8();
    let same = |x: u32, y: u32| {
        let (a, b) = (got.get_pixel(x, y).0, src.get_pixel(x, y).0);
        (0..3).all(|c| a[c].abs_diff(b[c]) < 12)
    };
    assert!(same(225, 110), "the face stays");
    assert!(
        !same(30, 60) && !same(410, 150),
        "flag and shuttle are gone"
    );
}
