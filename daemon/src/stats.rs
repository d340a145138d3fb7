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
/// How old the perception results applied to the frames sent are (smoothed).
#[derive(Debug, Default)]
struct Age {
    frames: f64,
    ms: f64,
    last: Option<Instant>,
}

impl Age {
    fn add(&mut self, frames: u64, ms: f64, now: Instant) {
        let fresh = self
            .last
            .is_none_or(|l| now.duration_since(l) >= Duration::from_secs(2));
        if fresh {
            (self.frames, self.ms) = (frames as f64, ms);
        } else {
            self.frames += ALPHA * (frames as f64 - self.frames);
            self.ms += ALPHA * (ms - self.ms);
        }
        self.last = Some(now);
    }

    /// (frames, ms), or zeros when nothing was applied in the last 2 s.
    fn get(&self, now: Instant) -> (f64, f64) {
        match self.last {
            Some(l) if now.duration_since(l) < Duration::from_secs(2) => (self.frames, self.ms),
            _ => (0.0, 0.0),
        }
    }
}

/// Entries of the age counts: ages 0 to 14 frames, then 15 or more.
const AGE_BUCKETS: usize = 16;
/// Entries of the delay counts: 0 to 495 ms in 5 ms steps, then 500 ms or more.
const DELAY_BUCKETS: usize = 101;

/// Counts by bucket since start; a value past the last bucket lands in it.
#[derive(Debug)]
struct Counts(Vec<u64>);

impl Counts {
    fn new(buckets: usize) -> Self {
        Counts(vec![0; buckets])
    }

    fn add(&mut self, bucket: usize) {
        let last = self.0.len() - 1;
        self.0[bucket.min(last)] += 1;
    }
}

#[derive(Debug)]
pub struct Stats {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    repeated: AtomicU64,
    dropped: AtomicU64,
    rate_in: Mutex<Rate>,
    rate_out: Mutex<Rate>,
    stages: Mutex<BTreeMap<String, Timing>>,
    masks: Mutex<Rate>,
    faces: Mutex<Rate>,
    mask_age: Mutex<Age>,
    face_age: Mutex<Age>,
    mask_age_counts: Mutex<Counts>,
    face_age_counts: Mutex<Counts>,
    delay_counts: Mutex<Counts>,
    /// The GPU the effects run on, or why none.
    gpu: Mutex<String>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            frames_in: AtomicU64::default(),
            frames_out: AtomicU64::default(),
            repeated: AtomicU64::default(),
            dropped: AtomicU64::default(),
            rate_in: Mutex::default(),
            rate_out: Mutex::default(),
            stages: Mutex::default(),
            masks: Mutex::default(),
            faces: Mutex::default(),
            mask_age: Mutex::default(),
            face_age: Mutex::default(),
            mask_age_counts: Mutex::new(Counts::new(AGE_BUCKETS)),
            face_age_counts: Mutex::new(Counts::new(AGE_BUCKETS)),
            delay_counts: Mutex::new(Counts::new(DELAY_BUCKETS)),
            gpu: Mutex::default(),
        }
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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

    /// A new person mask arrived from perception.
    pub fn mask_made(&self, now: Instant) {
        locked(&self.masks).tick(now);
    }

    /// A new face track arrived from perception.
    pub fn face_made(&self, now: Instant) {
        locked(&self.faces).tick(now);
    }

    /// A frame went out with a mask computed `frames` source frames (and
    /// `age` of capture time) before it.
    pub fn mask_applied(&self, frames: u64, age: Duration, now: Instant) {
        locked(&self.mask_age).add(frames, age.as_secs_f64() * 1000.0, now);
        locked(&self.mask_age_counts).add(frames as usize);
    }

    /// A frame went out with an avatar following a face that old.
    pub fn face_applied(&self, frames: u64, age: Duration, now: Instant) {
        locked(&self.face_age).add(frames, age.as_secs_f64() * 1000.0, now);
        locked(&self.face_age_counts).add(frames as usize);
    }

    /// A source frame reached the frame loop `delay` after its capture and
    /// was handed to the outputs.
    pub fn delay(&self, delay: Duration) {
        self.stage("capture-to-loop", delay);
        let step = delay.as_secs_f64() * 1000.0 / bytemeet_proto::DELAY_STEP_MS;
        locked(&self.delay_counts).add(step as usize);
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

    /// The GPU the effects now run on (its description), or why none does.
    pub fn set_gpu(&self, gpu: String) {
        *locked(&self.gpu) = gpu;
    }

    pub fn frames_in(&self) -> u64 {
        self.frames_in.load(Ordering::Relaxed)
    }

    pub fn frames_out(&self) -> u64 {
        self.frames_out.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let now = Instant::now();
        // Each lock is taken and let go on its own line: a guard kept alive
        // to the end of the literal below would be locked twice.
        let mask_age = locked(&self.mask_age).get(now);
        let face_age = locked(&self.face_age).get(now);
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
            masks_per_s: locked(&self.masks).fps(now),
            faces_per_s: locked(&self.faces).fps(now),
            mask_age_frames: mask_age.0,
            mask_age_ms: mask_age.1,
            face_age_frames: face_age.0,
            face_age_ms: face_age.1,
            mask_age_counts: locked(&self.mask_age_counts).0.clone(),
            face_age_counts: locked(&self.face_age_counts).0.clone(),
            delay_counts: locked(&self.delay_counts).0.clone(),
            gpu: locked(&self.gpu).clone(),
            faults: crate::supervise::summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perception_rates_and_ages_are_reported_while_fresh() {
        let s = Stats::new();
        let t0 = Instant::now();
        // Masks at 15 per second applied to frames at 30: every mask is used
        // twice, at ages of 1 and 2 frames.
        for i in 0..60u64 {
            let now = t0 + Duration::from_millis(33 * i);
            if i % 2 == 0 {
                s.mask_made(now);
            }
            s.mask_applied(1 + i % 2, Duration::from_millis(33 * (1 + i % 2)), now);
        }
        let fps = locked(&s.masks).fps(t0 + Duration::from_millis(33 * 60));
        assert!((fps - 15.15).abs() < 0.5, "{fps}");
        let (frames, ms) = locked(&s.mask_age).get(t0 + Duration::from_millis(33 * 60));
        assert!((1.0..=2.0).contains(&frames), "{frames}");
        assert!((33.0..=66.0).contains(&ms), "{ms}");
        // Nothing applied for 2 s: nothing reported.
        assert_eq!(
            locked(&s.mask_age).get(t0 + Duration::from_secs(5)),
            (0.0, 0.0)
        );
        assert_eq!(locked(&s.faces).fps(t0), 0.0, "no faces tracked");
        // Every frame is counted by its mask's age: 30 at 1, 30 at 2.
        let snap = s.snapshot();
        assert_eq!(snap.mask_age_counts.len(), AGE_BUCKETS);
        assert_eq!(&snap.mask_age_counts[..3], &[0, 30, 30]);
        assert_eq!(snap.face_age_counts.iter().sum::<u64>(), 0);
    }

    #[test]
    fn delays_and_old_masks_are_counted_in_their_last_bucket_when_out_of_range() {
        let s = Stats::new();
        s.delay(Duration::from_millis(3));
        s.delay(Duration::from_millis(12));
        s.delay(Duration::from_secs(3));
        s.mask_applied(400, Duration::from_secs(13), Instant::now());
        let snap = s.snapshot();
        assert_eq!(snap.delay_counts.len(), DELAY_BUCKETS);
        assert_eq!(&snap.delay_counts[..3], &[1, 0, 1]);
        assert_eq!(snap.delay_counts[DELAY_BUCKETS - 1], 1);
        assert_eq!(snap.mask_age_counts[AGE_BUCKETS - 1], 1);
        assert!(snap.stage_ms["capture-to-loop"] > 0.0);
    }

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
