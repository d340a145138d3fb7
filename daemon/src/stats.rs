//! Pipeline counters and per-stage timings, shared between threads and read by
//! the control plane (`Stats`) and the log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytemeet_proto::StatsSnapshot;

/// Exponential smoothing factor for timings and rates (about the last 20 samples).
const ALPHA: f64 = 0.1;

#[derive(Debug, Default, Clone, Copy)]
struct Timing {
    avg_ms: f64,
    max_ms: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Rate {
    last: Option<Instant>,
    avg_interval_s: f64,
}

impl Rate {
    fn tick(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let dt = now.duration_since(last).as_secs_f64();
            self.avg_interval_s = if self.avg_interval_s == 0.0 {
                dt
            } else {
                self.avg_interval_s + ALPHA * (dt - self.avg_interval_s)
            };
        }
        self.last = Some(now);
    }

    fn fps(&self, now: Instant) -> f64 {
        match self.last {
            // A source that went quiet reads as 0 fps, not as its last rate.
            Some(last)
                if now.duration_since(last) < Duration::from_secs(2)
                    && self.avg_interval_s > 0.0 =>
            {
                1.0 / self.avg_interval_s
            }
            _ => 0.0,
        }
    }
}

/// All counters of one running pipeline.
#[derive(Debug, Default)]
pub struct Stats {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    repeated: AtomicU64,
    dropped: AtomicU64,
    rate_in: Mutex<Rate>,
    rate_out: Mutex<Rate>,
    stages: Mutex<BTreeMap<String, Timing>>,
}

impl Stats {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new frame came from the source.
    pub fn frame_in(&self, now: Instant) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        self.rate_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tick(now);
    }

    /// A frame went to the outputs; `repeat` when it re-sent an earlier picture.
    pub fn frame_out(&self, now: Instant, repeat: bool) {
        self.frames_out.fetch_add(1, Ordering::Relaxed);
        if repeat {
            self.repeated.fetch_add(1, Ordering::Relaxed);
        }
        self.rate_out
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tick(now);
    }

    pub fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Records how long one stage took for one frame.
    pub fn stage(&self, name: &str, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        let mut stages = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        let t = stages.entry(name.to_string()).or_default();
        t.avg_ms = if t.count == 0 {
            ms
        } else {
            t.avg_ms + ALPHA * (ms - t.avg_ms)
        };
        t.max_ms = t.max_ms.max(ms);
        t.count += 1;
    }

    pub fn frames_in(&self) -> u64 {
        self.frames_in.load(Ordering::Relaxed)
    }

    pub fn frames_out(&self) -> u64 {
        self.frames_out.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let now = Instant::now();
        let stages = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        StatsSnapshot {
            fps_in: self
                .rate_in
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .fps(now),
            fps_out: self
                .rate_out
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .fps(now),
            frames_in: self.frames_in(),
            frames_out: self.frames_out(),
            repeated: self.repeated.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            stage_ms: stages.iter().map(|(k, v)| (k.clone(), v.avg_ms)).collect(),
            stage_max_ms: stages.iter().map(|(k, v)| (k.clone(), v.max_ms)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_the_frame_interval() {
        let s = Stats::new();
        let t0 = Instant::now();
        for i in 0..60 {
            s.frame_in(t0 + Duration::from_millis(33 * i));
        }
        let fps = s
            .rate_in
            .lock()
            .expect("lock")
            .fps(t0 + Duration::from_millis(33 * 60));
        assert!((fps - 30.3).abs() < 0.5, "{fps}");
        assert_eq!(s.frames_in(), 60);
        // Quiet for longer than two seconds: 0 fps.
        let quiet = s
            .rate_in
            .lock()
            .expect("lock")
            .fps(t0 + Duration::from_secs(10));
        assert_eq!(quiet, 0.0);
    }

    #[test]
    fn stages_keep_average_and_max() {
        let s = Stats::new();
        s.stage("convert", Duration::from_millis(2));
        s.stage("convert", Duration::from_millis(4));
        let snap = s.snapshot();
        let avg = snap.stage_ms["convert"];
        assert!(avg > 2.0 && avg < 4.0, "{avg}");
        assert_eq!(snap.stage_max_ms["convert"], 4.0);
    }
}
