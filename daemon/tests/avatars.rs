//! Avatars through the real `bytemeetd` binary: listing, checking a pack,
//! and wearing one in a batch run on the demo portrait, with the real face
//! tracker placing it.

use std::path::Path;
use std::process::{Command, Output};

fn run(data_home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bytemeetd"))
        .env("XDG_CONFIG_HOME", "/nonexistent-bytemeet-test")
        .env("XDG_STATE_HOME", "/nonexistent-bytemeet-test")
        .env("XDG_DATA_HOME", data_home)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent-bytemeet-test/bus",
        )
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run bytemeetd")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="8" y="8" width="48" height="48" fill="#f0f"/></svg>"##;

fn manifest(name: &str, layers: &str) -> String {
    format!(
        "format = 1\nname = \"{name}\"\ndescription = \"Test pack\"\nauthor = \"tests\"\nlicence = \"MIT\"\nmode = \"mask\"\n\n\
         [canvas]\nsize = [64, 64]\nleft_eye = [20, 30]\nright_eye = [44, 30]\n{layers}"
    )
}

#[test]
fn list_avatars_shows_built_in_and_user_packs_and_names_refused_ones() {
    let data = tempfile::tempdir().expect("tmp");
    let packs = data.path().join("bytemeet/avatars");
    std::fs::create_dir_all(packs.join("box")).expect("dir");
    std::fs::write(
        packs.join("box/avatar.toml"),
        manifest(
            "box",
            "\n[[layer]]\nfile = \"box.svg\"\ndriver = \"head\"\n",
        ),
    )
    .expect("manifest");
    std::fs::write(packs.join("box/box.svg"), SVG).expect("svg");
    std::fs::create_dir_all(packs.join("broken")).expect("dir");
    std::fs::write(packs.join("broken/avatar.toml"), "name = [").expect("manifest");
    let o = run(data.path(), &["--list-avatars"]);
    assert!(o.status.success());
    let out = text(&o.stdout);
    for name in [
        "space-trooper",
        "dragon",
        "wizard",
        "robot",
        "alien",
        "knight",
        "fae",
        "cyborg",
    ] {
        assert!(out.contains(name), "{name} missing:\n{out}");
    }
    assert!(
        out.contains("box") && out.contains(&packs.join("box").display().to_string()),
        "{out}"
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("refused") && err.contains("broken/avatar.toml"),
        "{err}"
    );
}

#[test]
fn check_avatar_prints_every_problem_with_file_key_and_reason() {
    let data = tempfile::tempdir().expect("tmp");
    let dir = data.path().join("bad");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("avatar.toml"),
        manifest(
            "Bad Name",
            "\n[[layer]]\nfile = \"missing.svg\"\ndriver = \"head\"\n\
             \n[[layer]]\nfile = \"../outside.svg\"\ndriver = \"brows\"\n\
             \n[[layer]]\nfile = \"notes.txt\"\ndriver = \"jaw\"\nlift = 3\n",
        ),
    )
    .expect("manifest");
    let o = run(
        data.path(),
        &["--check-avatar", dir.to_str().expect("utf8")],
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    for want in [
        "avatar.toml: name:",
        "layer[1].file",
        "leads outside the pack",
        "layer[2].file",
        ".svg or .png",
        "layer[2].lift",
        "missing.svg: layer[0].file: the file is missing",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }

    let good = data.path().join("good");
    std::fs::create_dir_all(&good).expect("dir");
    std::fs::write(
        good.join("avatar.toml"),
        manifest("good", "\n[[layer]]\nfile = \"a.svg\"\ndriver = \"head\"\n"),
    )
    .expect("manifest");
    std::fs::write(good.join("a.svg"), SVG).expect("svg");
    let o = run(
        data.path(),
        &["--check-avatar", good.to_str().expect("utf8")],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("is fine"));
    // Every built-in pack passes the same check.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../avatars");
    for e in std::fs::read_dir(&root).expect("avatars") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            let o = run(data.path(), &["--check-avatar", p.to_str().expect("utf8")]);
            assert!(o.status.success(), "{}: {}", p.display(), text(&o.stderr));
        }
    }
}

/// Mean colour of the frame's pixels inside a box given in fractions.
fn mean_in(img: &image::RgbaImage, x0: f32, y0: f32, x1: f32, y1: f32) -> [f64; 3] {
    let (w, h) = img.dimensions();
    let mut sum = [0f64; 3];
    let mut n = 0f64;
    for y in (y0 * h as f32) as u32..(y1 * h as f32) as u32 {
        for x in (x0 * w as f32) as u32..(x1 * w as f32) as u32 {
            let p = img.get_pixel(x, y);
            for c in 0..3 {
                sum[c] += p[c] as f64;
            }
            n += 1.0;
        }
    }
    sum.map(|s| s / n)
}

#[test]
fn the_first_frame_of_a_batch_wears_the_avatar_and_bad_names_are_refused() {
    let data = tempfile::tempdir().expect("tmp");
    let plain = data.path().join("plain.png");
    let worn = data.path().join("dragon.png");
    // One frame of the demo portrait at 480x270, with `extra` flags.
    let batch = |out: &Path, extra: &[&str]| {
        let png = format!("png:{}", out.display());
        let mut args = vec!["--source", "demo", "--size", "480x270", "--frames", "1"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--output", &png]);
        let o = run(data.path(), &args);
        assert!(o.status.success(), "{}", text(&o.stderr));
    };
    batch(&plain, &[]);
    batch(&worn, &["--avatar", "dragon"]);
    let plain = image::open(&plain).expect("png").to_rgba8();
    let worn = image::open(&worn).expect("png").to_rgba8();
    // The face (upper middle of the portrait) turned dragon green.
    let face = mean_in(&worn, 0.42, 0.1, 0.58, 0.45);
    let before = mean_in(&plain, 0.42, 0.1, 0.58, 0.45);
    assert!(
        face[1] > face[0] + 30.0 && face[1] > face[2] + 30.0,
        "face {face:?} (was {before:?})"
    );
    // A full avatar replaces the person: the room behind is its scene (the
    // dragon's lair, dark and warm at the top corner), not the portrait's
    // flag (blue there).
    let corner = mean_in(&worn, 0.0, 0.0, 0.1, 0.15);
    let flag = mean_in(&plain, 0.0, 0.0, 0.1, 0.15);
    assert!(
        corner[0] > corner[2] && flag[2] > flag[0] + 15.0,
        "{corner:?} vs {flag:?}"
    );

    let o = run(
        data.path(),
        &["--source", "demo", "--frames", "1", "--avatar", "unicorn"],
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("unicorn") && err.contains("installed: alien"),
        "{err}"
    );
}
