//! When to open and close the real camera, when to retry it, and what picture
//! the outputs get meanwhile. A pure state machine fed with demand, source
//! events and an explicit `now`: no devices, threads or clocks inside, so every
//! transition is tested directly.

use std::time::{Duration, Instant};

/// Timing knobs.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    /// How long the camera stays open after the last reader leaves (debounces
    /// apps that open and close the device while probing it).
    pub linger: Duration,
    /// First retry delay after a failure; doubles up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Output frame interval: readers get a frame at least this often.
    pub frame_interval: Duration,
    /// How long a live camera may go without a frame before the outputs get
    /// repeats. Longer than one interval: a frame that is merely late (jitter,
    /// a slow effect) must not let a repeat squeeze in just before it, which
    /// would push the output rate above the camera's.
    pub stall_after: Duration,
}

impl SchedulerConfig {
    pub fn for_fps(fps: f64) -> Self {
        SchedulerConfig {
            linger: Duration::from_secs(3),
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(5),
            frame_interval: Duration::from_secs_f64(1.0 / fps.clamp(1.0, 240.0)),
            stall_after: Duration::from_secs_f64(2.5 / fps.clamp(1.0, 240.0)),
        }
    }
}

/// The camera's state as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraState {
    Closed,
    Opening,
    Open { frames: bool },
    Waiting { until: Instant, attempt: u32 },
}

/// What the loop must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Open,
    Close,
}

/// What the outputs show when no fresh frame is at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picture {
    /// Repeat the last live frame.
    Live,
    /// Nobody is watching (or the camera is starting): the cheap idle card.
    Idle,
    /// The camera failed: a card saying why.
    Unavailable(String),
}

#[derive(Debug)]
pub struct Scheduler {
    cfg: SchedulerConfig,
    state: CameraState,
    demand_gone_at: Option<Instant>,
    failures: u32,
    last_error: Option<String>,
    /// When the live source last delivered.
    last_frame: Option<Instant>,
}

impl Scheduler {
    pub fn new(cfg: SchedulerConfig) -> Self {
        Scheduler {
            cfg,
            state: CameraState::Closed,
            demand_gone_at: None,
            failures: 0,
            last_error: None,
            last_frame: None,
        }
    }

    pub fn state(&self) -> &CameraState {
        &self.state
    }

    /// True while the real camera is (being) opened.
    pub fn camera_active(&self) -> bool {
        matches!(self.state, CameraState::Opening | CameraState::Open { .. })
    }

    /// Feeds the current demand (does anyone need frames?) and returns the action due.
    pub fn update(&mut self, now: Instant, demand: bool) -> Option<Action> {
        if demand {
            self.demand_gone_at = None;
        }
        match self.state {
            CameraState::Closed if demand => {
                self.state = CameraState::Opening;
                Some(Action::Open)
            }
            CameraState::Closed => None,
            CameraState::Waiting { .. } if !demand => {
                self.state = CameraState::Closed;
                None
            }
            CameraState::Waiting { until, .. } if now >= until => {
                self.state = CameraState::Opening;
                Some(Action::Open)
            }
            CameraState::Waiting { .. } => None,
            CameraState::Opening | CameraState::Open { .. } if !demand => {
                let gone = *self.demand_gone_at.get_or_insert(now);
                if now.duration_since(gone) >= self.cfg.linger {
                    self.state = CameraState::Closed;
                    self.demand_gone_at = None;
                    Some(Action::Close)
                } else {
                    None
                }
            }
            CameraState::Opening | CameraState::Open { .. } => None,
        }
    }

    /// The source opened.
    pub fn opened(&mut self) {
        if self.state == CameraState::Opening {
            self.state = CameraState::Open { frames: false };
        }
    }

    /// A frame arrived: the source is healthy again.
    pub fn frame(&mut self, now: Instant) {
        self.last_frame = Some(now);
        if let CameraState::Open { frames } = &mut self.state {
            *frames = true;
            self.failures = 0;
            self.last_error = None;
        }
    }

    /// Opening failed or the source broke; retries back off exponentially.
    pub fn failed(&mut self, now: Instant, reason: String) {
        self.failures += 1;
        let factor = 1u32 << (self.failures - 1).min(16);
        let delay = self
            .cfg
            .retry_initial
            .saturating_mul(factor)
            .min(self.cfg.retry_max);
        self.state = CameraState::Waiting {
            until: now + delay,
            attempt: self.failures,
        };
        self.last_error = Some(reason);
    }

    /// The source was switched: a pending retry is dropped (the new source
    /// opens at once if wanted), and an open one counts as opening again.
    pub fn source_changed(&mut self) {
        self.failures = 0;
        self.last_error = None;
        self.state = match self.state {
            CameraState::Waiting { .. } | CameraState::Closed => CameraState::Closed,
            CameraState::Opening | CameraState::Open { .. } => CameraState::Opening,
        };
    }

    /// What a repeat frame should show right now.
    pub fn picture(&self) -> Picture {
        match (&self.state, &self.last_error) {
            (CameraState::Open { frames: true }, _) => Picture::Live,
            (CameraState::Closed, _) => Picture::Idle,
            (_, Some(reason)) => Picture::Unavailable(reason.clone()),
            _ => Picture::Idle,
        }
    }

    /// True when the outputs need a repeat now: they have gone
    /// `frame_interval` without a frame and, while the camera is live, it has
    /// stalled (`stall_after` without a frame). A live camera that is only
    /// late gets no repeat, so the output rate never exceeds the camera's.
    pub fn repeat_due(&self, now: Instant, last_emit: Option<Instant>) -> bool {
        let interval_passed =
            last_emit.is_none_or(|t| now.duration_since(t) >= self.cfg.frame_interval);
        interval_passed && self.live_stalled_at().is_none_or(|t| now >= t)
    }

    /// While the camera is live, when it counts as stalled.
    fn live_stalled_at(&self) -> Option<Instant> {
        match (self.picture(), self.last_frame) {
            (Picture::Live, Some(t)) => Some(t + self.cfg.stall_after),
            _ => None,
        }
    }

    /// The latest time the loop should wake up to do something on its own.
    pub fn next_wake(&self, now: Instant, last_emit: Option<Instant>) -> Instant {
        let mut wake = last_emit.map_or(now, |t| t + self.cfg.frame_interval);
        if let Some(stalled) = self.live_stalled_at() {
            wake = wake.max(stalled);
        }
        if let CameraState::Waiting { until, .. } = self.state {
            wake = wake.min(until);
        }
        if let Some(gone) = self.demand_gone_at {
            wake = wake.min(gone + self.cfg.linger);
        }
        wake.max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched() -> (Scheduler, Instant) {
        (
            Scheduler::new(SchedulerConfig::for_fps(30.0)),
            Instant::now(),
        )
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn a_new_source_skips_the_retry_wait() {
        let (mut s, t0) = sched();
        assert_eq!(s.update(t0, true), Some(Action::Open));
        s.failed(t0, "unplugged".into());
        assert_eq!(s.update(t0 + MS(10), true), None, "backing off");
        s.source_changed();
        assert_eq!(s.picture(), Picture::Idle);
        assert_eq!(s.update(t0 + MS(20), true), Some(Action::Open));
        s.opened();
        s.frame(t0);
        s.source_changed();
        assert_eq!(s.state(), &CameraState::Opening);
        assert_eq!(
            s.update(t0 + MS(30), true),
            None,
            "the loop restarted it already"
        );
    }

    #[test]
    fn camera_opens_on_demand_and_closes_after_linger() {
        let (mut s, t0) = sched();
        assert_eq!(s.update(t0, false), None);
        assert_eq!(s.picture(), Picture::Idle);
        assert_eq!(s.update(t0, true), Some(Action::Open));
        assert!(s.camera_active());
        s.opened();
        s.frame(t0);
        assert_eq!(s.picture(), Picture::Live);
        assert_eq!(s.update(t0 + MS(100), false), None, "linger starts");
        assert_eq!(s.update(t0 + MS(2000), false), None);
        assert_eq!(s.update(t0 + MS(3100), false), Some(Action::Close));
        assert!(!s.camera_active());
        assert_eq!(s.picture(), Picture::Idle);
    }

    #[test]
    fn a_reader_returning_within_linger_keeps_the_camera() {
        let (mut s, t0) = sched();
        s.update(t0, true);
        s.opened();
        s.update(t0 + MS(10), false);
        assert_eq!(s.update(t0 + MS(1000), true), None);
        assert_eq!(
            s.update(t0 + MS(5000), false),
            None,
            "linger restarts from the new departure"
        );
        assert_eq!(s.update(t0 + MS(8100), false), Some(Action::Close));
    }

    #[test]
    fn failures_back_off_and_recover() {
        let (mut s, t0) = sched();
        assert_eq!(s.update(t0, true), Some(Action::Open));
        s.failed(t0, "/dev/video0: no such device".into());
        assert_eq!(
            s.picture(),
            Picture::Unavailable("/dev/video0: no such device".into())
        );
        assert_eq!(s.update(t0 + MS(400), true), None);
        assert_eq!(s.update(t0 + MS(500), true), Some(Action::Open));
        s.failed(t0 + MS(500), "again".into());
        assert_eq!(s.update(t0 + MS(1400), true), None, "second delay is 1 s");
        assert_eq!(s.update(t0 + MS(1500), true), Some(Action::Open));
        for i in 0..10 {
            s.failed(t0, format!("fail {i}"));
        }
        assert_eq!(
            s.state(),
            &CameraState::Waiting {
                until: t0 + Duration::from_secs(5),
                attempt: 12
            }
        );
        s.update(t0 + Duration::from_secs(5), true);
        s.opened();
        assert!(
            matches!(s.picture(), Picture::Unavailable(_)),
            "still failing until a frame arrives"
        );
        s.frame(t0);
        assert_eq!(s.picture(), Picture::Live);
        s.failed(t0, "unplugged".into());
        assert_eq!(
            s.state(),
            &CameraState::Waiting {
                until: t0 + MS(500),
                attempt: 1
            },
            "backoff reset by the good frame"
        );
    }

    #[test]
    fn no_demand_while_waiting_closes_without_retrying() {
        let (mut s, t0) = sched();
        s.update(t0, true);
        s.failed(t0, "busy".into());
        assert_eq!(s.update(t0 + MS(10), false), None);
        assert_eq!(s.state(), &CameraState::Closed);
        assert_eq!(s.update(t0 + MS(20), true), Some(Action::Open));
    }

    #[test]
    fn repeats_keep_readers_fed() {
        let (s, t0) = sched();
        assert!(s.repeat_due(t0, None));
        assert!(!s.repeat_due(t0 + MS(20), Some(t0)));
        assert!(s.repeat_due(t0 + MS(34), Some(t0)));
        assert_eq!(
            s.next_wake(t0, Some(t0)),
            t0 + Duration::from_secs_f64(1.0 / 30.0)
        );
    }

    #[test]
    fn a_late_live_frame_gets_no_repeat_a_stalled_camera_does() {
        let (mut s, t0) = sched();
        s.update(t0, true);
        s.opened();
        s.frame(t0);
        assert_eq!(s.picture(), Picture::Live);
        // 40 ms after a frame at 30 fps: late, not stalled (stall at 83 ms).
        assert!(!s.repeat_due(t0 + MS(40), Some(t0)));
        assert!(!s.repeat_due(t0 + MS(80), Some(t0)));
        assert_eq!(
            s.next_wake(t0 + MS(1), Some(t0)),
            t0 + Duration::from_secs_f64(2.5 / 30.0)
        );
        // Stalled: repeats at the frame interval from then on.
        assert!(s.repeat_due(t0 + MS(84), Some(t0)));
        assert!(!s.repeat_due(t0 + MS(100), Some(t0 + MS(84))));
        assert!(s.repeat_due(t0 + MS(118), Some(t0 + MS(84))));
        // A new frame: no repeat until the next stall.
        s.frame(t0 + MS(120));
        assert!(!s.repeat_due(t0 + MS(160), Some(t0 + MS(120))));
    }
}
