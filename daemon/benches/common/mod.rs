//! Pieces the benchmarks share (each bench uses some of them).
#![allow(dead_code)]

use std::time::Duration;

use bytemeetd::frame::{PixelFormat, SharedFrame};
use bytemeetd::sink::{Demand, FrameSink, SinkError};

/// Copies each frame into a buffer, as the virtual camera's mmap write does.
pub struct CopySink {
    pub buf: Vec<u8>,
}

impl FrameSink for CopySink {
    fn describe(&self) -> String {
        "copy".into()
    }
    fn format(&self) -> PixelFormat {
        PixelFormat::Yuyv
    }
    fn demand(&self) -> Demand {
        Demand::Always
    }
    fn write(&mut self, frame: &SharedFrame) -> Result<(), SinkError> {
        self.buf.copy_from_slice(&frame.data);
        Ok(())
    }
    fn keeps_every_frame(&self) -> bool {
        true
    }
}

/// `--NAME N` from the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `v` (sorted in place): the upper middle for an even count.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median of durations, in milliseconds.
pub fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// Runs `scripts/SCRIPT` (the Python side of a MediaPipe comparison) with
/// `python` and `args`, and returns what it printed. A script that fails
/// stops the benchmark with its output.
pub fn run_python<I, S>(python: &str, script: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let path = format!("{}/../scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .expect("python runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}
