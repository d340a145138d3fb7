//! Faults injected on purpose, so that tests can show the daemon survives
//! them on the real parts: `BYTEMEETD_INJECT=gpu-lost@60,perception-panic@30`.
//! Each entry fires once, the Nth time the daemon passes its point (`@N`,
//! from 1; `@1` when left out). Unset, every check is one relaxed load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The places a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The GPU device is destroyed, as a driver reset would lose it
    /// (counted per frame through the effects).
    GpuLost,
    /// The effects thread panics inside the effect chain (per frame).
    EffectsPanic,
    /// The perception thread panics (per frame it takes).
    PerceptionPanic,
    /// The avatar rasteriser panics (per request).
    AvatarPanic,
    /// A room's encoder thread panics (per picture it encodes).
    EncoderPanic,
}

impl Point {
    const ALL: [(Point, &'static str); 5] = [
        (Point::GpuLost, "gpu-lost"),
        (Point::EffectsPanic, "effects-panic"),
        (Point::PerceptionPanic, "perception-panic"),
        (Point::AvatarPanic, "avatar-panic"),
        (Point::EncoderPanic, "encoder-panic"),
    ];
}

#[derive(Debug)]
struct Armed {
    point: Point,
    at: u64,
    passed: AtomicU64,
}

/// Parses `name@N,name@N`; an unknown name or a bad count is an error
/// that names it and the names known.
fn parse(spec: &str) -> Result<Vec<(Point, u64)>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (name, at) = match entry.split_once('@') {
                Some((n, a)) => (
                    n.trim(),
                    a.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|&a| a >= 1)
                        .ok_or_else(|| format!("{entry:?}: the count after @ must be 1 or more"))?,
                ),
                None => (entry, 1),
            };
            let point = Point::ALL
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(p, _)| *p)
                .ok_or_else(|| {
                    let known: Vec<&str> = Point::ALL.iter().map(|(_, n)| *n).collect();
                    format!("unknown fault {name:?} (known: {})", known.join(", "))
                })?;
            Ok((point, at))
        })
        .collect()
}

fn armed() -> &'static [Armed] {
    static ARMED: OnceLock<Vec<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| {
        let Ok(spec) = std::env::var("BYTEMEETD_INJECT") else {
            return Vec::new();
        };
        match parse(&spec) {
            Ok(list) => {
                tracing::warn!("faults will be injected on purpose: {spec}");
                list.into_iter()
                    .map(|(point, at)| Armed {
                        point,
                        at,
                        passed: AtomicU64::new(0),
                    })
                    .collect()
            }
            Err(e) => {
                tracing::error!("BYTEMEETD_INJECT ignored: {e}");
                Vec::new()
            }
        }
    })
}

/// Counts one pass through `point`; true when an injected fault is due here.
pub fn hit(point: Point) -> bool {
    armed()
        .iter()
        .filter(|a| a.point == point)
        .any(|a| a.passed.fetch_add(1, Ordering::Relaxed) + 1 == a.at)
}

/// Panics with a message naming the injected fault when one is due at `point`.
pub fn panic_if_due(point: Point) {
    if hit(point) {
        panic!("fault injected at {point:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_counts_and_defaults() {
        assert_eq!(
            parse("gpu-lost@60, perception-panic").expect("valid"),
            vec![(Point::GpuLost, 60), (Point::PerceptionPanic, 1)]
        );
        assert_eq!(parse("").expect("valid"), vec![]);
        let e = parse("gpu-lsot@3").expect_err("an error");
        assert!(e.contains("\"gpu-lsot\"") && e.contains("gpu-lost"), "{e}");
        assert!(parse("gpu-lost@0")
            .expect_err("an error")
            .contains("1 or more"));
        assert!(parse("gpu-lost@x").is_err());
    }

    #[test]
    fn nothing_fires_without_the_variable() {
        // The test process does not set BYTEMEETD_INJECT.
        assert!((0..100).all(|_| !hit(Point::GpuLost)));
    }
}
