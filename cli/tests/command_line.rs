//! `bytemeetctl` as a user meets it, with no daemon and no bus: bad command
//! lines are refused with exit code 2 and what was wrong; an unreachable bus
//! is exit code 3 with how to fix it; the offline commands work.
//!
//! Cargo builds the binary for these tests, which also puts it beside
//! `bytemeetd` for the daemon's control tests.

use std::process::{Command, Output};

fn ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bytemeetctl"))
        .args(args)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/bytemeet-bus",
        )
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("run bytemeetctl")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_command_lines_exit_2_and_say_what_is_wrong() {
    let o = ctl(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unrecognized subcommand 'frobnicate'"),
        "{}",
        stderr(&o)
    );

    let o = ctl(&["room", "join", "demo", "--max-kbps", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--max-kbps"), "{}", stderr(&o));

    let o = ctl(&["filter", "set"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("<SPEC>"), "{}", stderr(&o));
}

#[test]
fn an_unreachable_bus_exits_3_with_the_fix() {
    let o = ctl(&["status"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cannot reach the D-Bus session bus")
            && err.contains("DBUS_SESSION_BUS_ADDRESS"),
        "{err}"
    );
}

#[test]
fn completions_and_manual_need_no_daemon() {
    for shell in ["bash", "zsh", "fish"] {
        let o = ctl(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(
            script.contains("bytemeetctl") && script.contains("avatar"),
            "{shell}"
        );
    }
    let o = ctl(&["man"]);
    assert!(o.status.success());
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(page.contains(".TH bytemeetctl"), "{page}");
    assert!(page.contains("doctor"));
}
