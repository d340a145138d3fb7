//! Faults the running daemon survives, injected on the real parts
//! (`BYTEMEETD_INJECT`): the GPU device destroyed mid-run as a driver reset
//! would lose it, worker threads that panic, no usable GPU at all. Each test
//! checks the picture in the output clip, the log, and what `status` and
//! `doctor` say. Runs on a private `dbus-daemon` like `control.rs`.

use std::path::Path;

#[path = "common/bus.rs"]
mod bus;
use bus::*;

const W: usize = 160;
const H: usize = 120;

/// The luma planes of the complete frames written so far.
fn luma_frames(clip: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(clip).unwrap_or_default();
    let Some(header_end) = data.iter().position(|b| *b == b'\n') else {
        return Vec::new();
    };
    let frame = W * H * 3 / 2;
    let mut at = header_end + 1;
    let mut out = Vec::new();
    while let Some(nl) = data[at..].iter().position(|b| *b == b'\n') {
        let start = at + nl + 1;
        if start + frame > data.len() {
            break;
        }
        out.push(data[start..start + W * H].to_vec());
        at = start + frame;
    }
    out
}

fn status_json(bus: &Bus) -> serde_json::Value {
    serde_json::from_str(&bus.ok(&["status", "--json"])).expect("status --json")
}

fn faults(bus: &Bus) -> Vec<String> {
    status_json(bus)["stats"]["faults"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `status` reports person masks being made.
fn masks_come(bus: &Bus, what: &str) {
    wait_for_secs(what, 60, || {
        status_json(bus)["stats"]["masks_per_s"]
            .as_f64()
            .is_some_and(|m| m > 0.0)
    });
}

/// The clip goes on growing: at least `n` more frames within `secs`.
fn keeps_flowing(d: &Daemon, n: usize, secs: u64) {
    let before = grey_frames(&d.clip, W, H).len();
    wait_for_secs("frames to keep coming", secs, || {
        grey_frames(&d.clip, W, H).len() >= before + n
    });
}

#[test]
fn a_lost_gpu_device_is_rebuilt_and_the_effects_come_back() {
    let bus = Bus::start();
    // The 60th frame through the effects destroys the device: two seconds
    // after the filter is on, at 30 fps.
    let d = bus.daemon_env(&[], &[("BYTEMEETD_INJECT", "gpu-lost@60")]);
    wait_for_secs("the GPU warm-up", 60, || {
        d.log().contains("GPU effects ready")
    });
    let gpu = status_json(&bus)["stats"]["gpu"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !gpu.is_empty() && !gpu.starts_with("none"),
        "status names the GPU in use: {gpu:?}"
    );
    bus.ok(&["filter", "set", "grayscale"]);
    wait_for_secs("the device to be lost", 60, || {
        d.log().contains("the GPU device was lost")
    });
    wait_for_secs("a new engine", 60, || {
        d.log().matches("GPU effects ready").count() >= 2
    });
    // Back to grey after the frames that passed unfiltered meanwhile.
    wait_for_secs("grey frames after the loss", 60, || {
        let g = grey_frames(&d.clip, W, H);
        let first_grey = g.iter().position(|g| *g);
        first_grey
            .and_then(|f| g[f..].iter().position(|g| !*g).map(|n| f + n))
            .is_some_and(|colour| g[colour..].iter().any(|g| *g))
    });
    let g = grey_frames(&d.clip, W, H);
    let first_grey = g.iter().position(|g| *g).expect("grey");
    let unfiltered_from = first_grey + g[first_grey..].iter().position(|g| !*g).expect("lost");
    let back_at = unfiltered_from
        + g[unfiltered_from..]
            .iter()
            .position(|g| *g)
            .expect("grey again");
    eprintln!(
        "device lost at output frame {unfiltered_from}, effects back at frame {back_at} \
         ({} frames, {:.2} s at 30 fps)",
        back_at - unfiltered_from,
        (back_at - unfiltered_from) as f64 / 30.0
    );
    // Said once; the frames went on unfiltered meanwhile, and the effect
    // stays on afterwards.
    keeps_flowing(&d, 30, 20);
    let g = grey_frames(&d.clip, W, H);
    assert!(
        g[g.len() - 10..].iter().all(|g| *g),
        "the filter stays on after the rebuild"
    );
    let f = faults(&bus);
    assert!(
        f.iter()
            .any(|l| l.starts_with("gpu: once") && l.contains("device lost")),
        "status shows the fault: {f:?}"
    );
    let doctor = bus.ctl(&["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        report.contains("effects") && report.contains("recovered from: gpu: once"),
        "{report}"
    );
    let log = d.stop();
    assert_eq!(
        log.matches("the GPU device was lost").count(),
        1,
        "said once: {log}"
    );
    assert_eq!(log.matches("GPU error").count(), 0, "no error storm: {log}");
}

#[test]
fn panicking_workers_are_restarted_and_the_picture_goes_on() {
    let bus = Bus::start();
    let d = bus.daemon_env(
        &[],
        &[(
            "BYTEMEETD_INJECT",
            "perception-panic@20,avatar-panic@1,effects-panic@150",
        )],
    );
    wait_for_secs("the GPU warm-up", 60, || {
        d.log().contains("GPU effects ready")
    });
    bus.ok(&["background", "blur", "--strength", "20"]);
    wait_for_secs("the perception panic", 60, || {
        d.log().contains("the perception thread panicked")
    });
    // The restarted thread makes masks again.
    masks_come(&bus, "masks after the restart");
    let before_avatar = luma_frames(&d.clip).pop().expect("frames");
    bus.ok(&["avatar", "set", "robot"]);
    wait_for_secs("the avatar raster panic", 60, || {
        d.log().contains("the avatar-raster thread panicked")
    });
    // The request lost with the panic is made again: the robot (a full
    // avatar, on its own scene) replaces the portrait.
    wait_for_secs("the avatar to show after the restart", 60, || {
        luma_frames(&d.clip).pop().is_some_and(|now| {
            let diff: u64 = now
                .iter()
                .zip(&before_avatar)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            diff / (W * H) as u64 > 20
        })
    });
    wait_for_secs("the effect chain panic", 60, || {
        d.log().contains("the effect chain panicked")
    });
    keeps_flowing(&d, 30, 20);
    let f = faults(&bus);
    for part in ["perception: once", "avatar-raster: once", "effects: once"] {
        assert!(
            f.iter().any(|l| l.starts_with(part)),
            "status shows {part}: {f:?}"
        );
    }
    let shown = bus.ok(&["status"]);
    assert!(shown.contains("faults"), "{shown}");
    // The fresh chain after the effects panic still wears the avatar and
    // blurs: masks keep coming.
    masks_come(&bus, "masks after the chain was made again");
    d.stop();
}

#[test]
fn without_a_usable_gpu_the_picture_flows_and_status_says_why() {
    let bus = Bus::start();
    // No Vulkan driver can be found, and only Vulkan is allowed.
    let d = bus.daemon_env(
        &["--gpu", "vulkan"],
        &[("VK_ICD_FILENAMES", "/nonexistent/bytemeet-no-icd.json")],
    );
    bus.ok(&["filter", "set", "grayscale"]);
    wait_for_secs("the GPU to be given up", 60, || {
        status_json(&bus)["stats"]["gpu"]
            .as_str()
            .is_some_and(|g| g.starts_with("none:"))
    });
    let gpu = status_json(&bus)["stats"]["gpu"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        gpu.contains("no GPU adapter") && gpu.contains("mesa-vulkan-drivers"),
        "{gpu}"
    );
    keeps_flowing(&d, 30, 20);
    let g = grey_frames(&d.clip, W, H);
    assert!(!g.iter().any(|g| *g), "frames pass unfiltered");
    let shown = bus.ok(&["status"]);
    assert!(shown.contains("gpu") && shown.contains("none:"), "{shown}");
    let doctor = bus.ctl(&["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        report.contains("FAIL  effects") && report.contains("no GPU adapter"),
        "{report}"
    );
    let log = d.stop();
    assert_eq!(log.matches("no GPU adapter").count(), 1, "said once: {log}");
}
