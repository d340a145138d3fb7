//! `bytemeetctl`: drive the ByteMeet camera daemon from a terminal.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Control the ByteMeet camera daemon (bytemeetd).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List video devices with their names, as the kernel reports them.
    Devices,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `(node, name)` for every V4L2 node in sysfs, in number order.
fn devices(sysfs: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(u32, String, String)> = std::fs::read_dir(sysfs)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let node = e.file_name().to_str()?.to_string();
            let n: u32 = node.strip_prefix("video")?.parse().ok()?;
            let name = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
            Some((n, format!("/dev/{node}"), name.trim().to_string()))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, p, n)| (p, n)).collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Cmd::Devices => {
            let list = devices(Path::new("/sys/class/video4linux"));
            if list.is_empty() {
                writeln!(
                    stdout,
                    "no video devices. Plug in a webcam; load the virtual camera with `sudo modprobe v4l2loopback exclusive_caps=1 card_label=\"ByteMeet Camera\"`"
                )
            } else {
                list.iter()
                    .try_for_each(|(p, n)| writeln!(stdout, "{p}\t{n}"))
            }
        }
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "bytemeetctl", &mut stdout);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bytemeetctl: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_read_from_sysfs_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        for (n, name) in [(10, "ByteMeet Camera"), (2, "HD Webcam")] {
            let d = dir.path().join(format!("video{n}"));
            std::fs::create_dir(&d).expect("mkdir");
            std::fs::write(d.join("name"), format!("{name}\n")).expect("name");
        }
        std::fs::create_dir(dir.path().join("v4l-subdev0")).expect("mkdir");
        assert_eq!(
            devices(dir.path()),
            vec![
                ("/dev/video2".to_string(), "HD Webcam".to_string()),
                ("/dev/video10".to_string(), "ByteMeet Camera".to_string())
            ]
        );
    }

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
