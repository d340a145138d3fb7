//! The frame loop: source -> (effects) -> output conversion -> outputs.
//!
//! Threads: one for the source (blocking reads), one for the loop, one per
//! output. They hand frames over through small `FrameQueue`s, so a slow output
//! never holds up the camera or the other outputs. The loop follows the
//! `Scheduler`: it opens the camera only while something needs frames, keeps
//! outputs fed at the configured rate with repeats or status cards, and retries
//! a camera that failed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::control::Hub;
use crate::convert::{FormatPools, FrameVariants};
use crate::effects::Effects;
use crate::frame::{Frame, SharedFrame, Size};
use crate::placeholder;
use crate::queue::{FrameQueue, Overflow, Pop};
use crate::say_once::SayOnce;
use crate::scheduler::{Action, Picture, Scheduler, SchedulerConfig};
use crate::settings::gpu::GpuPreference;
use crate::settings::source::{SourceRequest, SourceSpec};
use crate::sink::{Demand, FrameSink};
use crate::source::{self, SourceError};
use crate::stats::Stats;

/// Frames waiting between two stages. Two is enough to absorb jitter while
/// keeping latency at most a frame or two.
const QUEUE_DEPTH: usize = 2;
/// Camera frames waiting for the effects, live: one. When the effects fall
/// behind the camera, a new frame replaces the one waiting (dropped early
/// rather than queued), so a slow chain costs frames, not delay: with two
/// waiting, an avatar chain running at 26 fps held each frame 130 ms
/// (median) from capture to output; with one, 95 ms.
const LIVE_RAW_DEPTH: usize = 1;

/// How a run is set up. What may change while it runs (the source, the
/// effects) lives in the `Hub` instead.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub request: SourceRequest,
    /// Stop after this many source frames (batch mode): every frame reaches the
    /// recordings (their queues block instead of dropping), no repeats, files
    /// and the demo unpaced.
    pub frames: Option<u64>,
    /// Which GPU runs the effects.
    pub gpu: GpuPreference,
}

impl PipelineConfig {
    fn batch(&self) -> bool {
        self.frames.is_some()
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub frames_in: u64,
    pub frames_out: u64,
    pub dropped: u64,
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("nothing to do: no output is configured")]
    NoOutputs,
    #[error("cannot start the effects thread ({0}); the system is out of threads or memory")]
    EffectsThread(std::io::Error),
}

enum SourceEvent {
    Opened(String),
    Failed(SourceError),
}

/// The source thread and the means to stop it. Its frames go into the
/// pipeline's long-lived raw queue, which outlives camera restarts.
struct SourceWorker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl SourceWorker {
    fn start(
        cfg: &PipelineConfig,
        spec: &SourceSpec,
        raw: Arc<FrameQueue<SharedFrame>>,
        events: mpsc::Sender<SourceEvent>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (spec, req, paced) = (spec.clone(), cfg.request, !cfg.batch());
        let failed = events.clone();
        let handle = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("source".into())
                .spawn(move || source_thread(spec, req, paced, raw, stop, events))
        };
        // Without its thread the source is as good as failed: the loop shows
        // the reason and retries with back-off, as for a camera error.
        let handle = match handle {
            Ok(h) => Some(h),
            Err(e) => {
                let _ = failed.send(SourceEvent::Failed(SourceError::Io {
                    path: "the source thread".into(),
                    source: e,
                }));
                None
            }
        };
        SourceWorker { stop, handle }
    }

    /// Stops the thread. A camera read wakes within its timeout; the thread is
    /// not waited for, so the loop never stalls on a hung device.
    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

/// The effect stage on its own thread: raw frames in, processed frames out.
/// A slow GPU thus delays only the effect itself; the loop keeps every output
/// fed at the frame rate with the latest processed picture. Effect changes
/// from the hub apply from the next frame popped.
fn start_effects(
    mut effects: Effects,
    out: crate::frame::PixelFormat,
    raw: Arc<FrameQueue<SharedFrame>>,
    ready: Arc<FrameQueue<SharedFrame>>,
    hub: Arc<Hub>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("effects".into())
        .spawn(move || {
            let stats = hub.stats().clone();
            let mut seen = 0;
            // Frames still on the GPU are picked up within a few ms even when
            // no new frame comes to push them out.
            let poll = Duration::from_millis(4);
            loop {
                let wait = (effects.pending() > 0).then_some(poll);
                let popped = raw.pop(wait);
                if let (Pop::Item(frame), true) = (&popped, hub.source_tap().wanted()) {
                    hub.source_tap().publish(frame.clone());
                }
                effects.poll_warm_up();
                if let Some(state) = hub.effects_if_newer(&mut seen) {
                    effects.apply(&state);
                }
                let done = match popped {
                    Pop::Item(frame) if effects.active() || effects.pending() > 0 => {
                        let t = Instant::now();
                        // A panic in the effect chain is a bug; it costs the
                        // frames on the GPU, never the picture: this frame
                        // goes on unfiltered and a fresh chain takes over.
                        let pushed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            effects.push(frame.clone(), out)
                        }));
                        let done = match pushed {
                            Ok(done) => done,
                            Err(payload) => {
                                let msg = crate::supervise::panic_message(payload.as_ref());
                                tracing::error!(
                                    "the effect chain panicked ({msg}); it is made again"
                                );
                                crate::supervise::record(
                                    "effects",
                                    &format!("panicked ({msg}); made again"),
                                );
                                let fresh = effects.after_panic();
                                let old = std::mem::replace(&mut effects, fresh);
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                                    move || drop(old),
                                ));
                                vec![frame]
                            }
                        };
                        stats.stage("effects", t.elapsed());
                        done
                    }
                    Pop::Item(frame) => vec![frame],
                    Pop::Timeout => effects.ready(),
                    Pop::Closed => {
                        for f in effects.flush() {
                            ready.push(f);
                        }
                        break;
                    }
                };
                if !done.into_iter().all(|f| ready.push(f)) {
                    break;
                }
            }
            ready.close();
        })
}

/// Tells frames captured before the camera last failed or closed from newer
/// ones, so a frame that comes back late from the effects never shows after
/// the card that replaced it.
#[derive(Debug, Default)]
struct Freshness {
    ended_at: Option<Instant>,
}

impl Freshness {
    fn source_ended(&mut self, at: Instant) {
        self.ended_at = Some(at);
    }

    fn is_stale(&self, frame: &Frame) -> bool {
        self.ended_at.is_some_and(|t| frame.captured_at <= t)
    }
}

fn source_thread(
    spec: SourceSpec,
    req: SourceRequest,
    paced: bool,
    queue: Arc<FrameQueue<SharedFrame>>,
    stop: Arc<AtomicBool>,
    events: mpsc::Sender<SourceEvent>,
) {
    let mut src = match source::open(&spec, &req) {
        Ok(s) => s,
        Err(e) => {
            let _ = events.send(SourceEvent::Failed(e));
            return;
        }
    };
    let _ = events.send(SourceEvent::Opened(src.describe()));
    let interval = Duration::from_secs_f64(1.0 / req.fps.clamp(1.0, 240.0));
    let pace = paced && !src.is_live();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if pace {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            // Fell far behind (machine suspended, debugger): restart the clock.
            next = if now > next + interval * 4 {
                now + interval
            } else {
                next + interval
            };
        }
        match src.next_frame() {
            Ok(frame) => {
                if !queue.push(Arc::new(frame)) {
                    break;
                }
            }
            Err(e) => {
                let _ = events.send(SourceEvent::Failed(e));
                break;
            }
        }
    }
}

/// One output's thread and queue.
struct Output {
    name: String,
    format: crate::frame::PixelFormat,
    demand: Demand,
    queue: Arc<FrameQueue<SharedFrame>>,
    handle: JoinHandle<()>,
}

/// Closes every output's queue and waits for its thread, which finishes its
/// sink (a clip's last frame, a virtual camera's release) on the way out.
fn stop_outputs(outputs: Vec<Output>, stats: &Stats) {
    for o in outputs {
        o.queue.close();
        stats.add_dropped(o.queue.dropped());
        if o.handle.join().is_err() {
            tracing::error!(output = %o.name, "output thread panicked");
        }
    }
}

fn start_output(
    mut sink: Box<dyn FrameSink>,
    overflow: Overflow,
    stats: Arc<Stats>,
) -> std::io::Result<Output> {
    let name = sink.describe();
    let format = sink.format();
    let demand = sink.demand();
    let queue = Arc::new(FrameQueue::<SharedFrame>::new(QUEUE_DEPTH, overflow));
    let handle = {
        let queue = queue.clone();
        let name = name.clone();
        std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                let stage = format!("output {name}");
                let mut problem = SayOnce::new();
                while let Pop::Item(frame) = queue.pop(None) {
                    let t = Instant::now();
                    match sink.write(&frame) {
                        Ok(()) => {
                            if problem.clear() {
                                tracing::info!(output = %name, "output recovered");
                            }
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            if problem.first(&msg) {
                                tracing::error!(output = %name, "{msg}");
                            }
                        }
                    }
                    stats.stage(&stage, t.elapsed());
                }
                if let Err(e) = sink.finish() {
                    tracing::error!(output = %name, "{e}");
                }
            })?
    };
    Ok(Output {
        name,
        format,
        demand,
        queue,
        handle,
    })
}

/// How many readers each on-demand output has (`None` for files).
fn output_readers(outputs: &[Output]) -> Vec<Option<u32>> {
    outputs.iter().map(|o| o.demand.readers()).collect()
}

/// What `status` shows of each output: its name and, for the virtual
/// cameras, how many apps are reading it.
fn describe_outputs(outputs: &[Output], readers: &[Option<u32>]) -> Vec<String> {
    outputs
        .iter()
        .zip(readers)
        .map(|(o, n)| match n {
            None => o.name.clone(),
            Some(1) => format!("{}: 1 consumer", o.name),
            Some(n) => format!("{}: {n} consumers", o.name),
        })
        .collect()
}

/// Runs the loop until `shutdown` is set or, in batch mode, the frame count is reached.
pub fn run(
    cfg: PipelineConfig,
    sinks: Vec<Box<dyn FrameSink>>,
    shutdown: Arc<AtomicBool>,
    hub: Arc<Hub>,
) -> Result<RunSummary, PipelineError> {
    let stats = hub.stats().clone();
    let batch = cfg.batch();
    let size: Size = cfg.request.size;
    let overflow = if batch {
        Overflow::Block
    } else {
        Overflow::DropOldest
    };
    let mut outputs = Vec::new();
    for sink in sinks {
        match start_output(sink, overflow, stats.clone()) {
            Ok(o) => {
                tracing::info!(output = %o.name, "output started");
                outputs.push(o);
            }
            Err(e) => tracing::error!("cannot start an output thread: {e}"),
        }
    }
    if outputs.is_empty() && batch {
        return Err(PipelineError::NoOutputs);
    }
    let mut readers_seen = output_readers(&outputs);
    hub.set_outputs(describe_outputs(&outputs, &readers_seen));
    let mut source_seen = 0;
    let mut source = hub
        .source_if_newer(&mut source_seen)
        .unwrap_or(SourceSpec::Auto);

    let mut sched = Scheduler::new(SchedulerConfig::for_fps(cfg.request.fps));
    let overflow = if batch {
        Overflow::Block
    } else {
        Overflow::DropOldest
    };
    let raw = Arc::new(FrameQueue::new(
        if batch { QUEUE_DEPTH } else { LIVE_RAW_DEPTH },
        overflow,
    ));
    let ready = Arc::new(FrameQueue::new(QUEUE_DEPTH, overflow));
    // Output conversions reuse the buffers of frames the outputs are done with.
    let pools = FormatPools::default();
    // The GPU packs straight into what the first output reads; others convert on the CPU.
    let effects_out = outputs
        .first()
        .map_or(crate::frame::PixelFormat::Rgba, |o| o.format);
    let effects_thread = start_effects(
        {
            let state = hub.effects();
            let mut e = Effects::new(state.filter, state.background, state.segmenter, cfg.gpu);
            e.set_lockstep(cfg.batch());
            e.report_to(hub.stats().clone());
            if !cfg.batch() {
                // The first effect switched on must not wait for the GPU.
                e.warm_up();
            }
            e
        },
        effects_out,
        raw.clone(),
        ready.clone(),
        hub.clone(),
    );
    let effects_thread = match effects_thread {
        Ok(h) => h,
        Err(e) => {
            // The outputs already started finish their files and end.
            stop_outputs(outputs, &stats);
            return Err(PipelineError::EffectsThread(e));
        }
    };
    let (ev_tx, ev_rx) = mpsc::channel();
    let mut worker: Option<SourceWorker> = None;
    // Pictures that get repeated keep their converted variants, so a repeat
    // costs a reference count, not a conversion.
    let mut idle = FrameVariants::new(Arc::new(placeholder::idle(size)));
    let mut unavailable: Option<(String, FrameVariants)> = None;
    let mut last_frame: Option<FrameVariants> = None;
    let mut last_emit: Option<Instant> = None;
    let mut frames_done = 0u64;
    let mut result = Ok(());
    let mut freshness = Freshness::default();
    let mut drops_counted = 0;

    let emit = |variants: &mut FrameVariants, repeat: bool, outputs: &[Output]| {
        let t = Instant::now();
        for o in outputs {
            match variants.get(o.format) {
                Ok(f) => {
                    o.queue.push(f);
                }
                Err(e) => tracing::error!(output = %o.name, "cannot convert a frame: {e}"),
            }
        }
        let tap = hub.room_tap();
        if tap.wanted() {
            match variants.get(crate::frame::PixelFormat::I420) {
                Ok(f) => tap.publish(f),
                Err(e) => tracing::error!("cannot convert a frame for the rooms: {e}"),
            }
        }
        stats.stage("convert", t.elapsed());
        stats.frame_out(Instant::now(), repeat);
    };

    let start_worker =
        |spec: &SourceSpec| SourceWorker::start(&cfg, spec, raw.clone(), ev_tx.clone());
    while !shutdown.load(Ordering::Relaxed) {
        if let Some(spec) = hub.source_if_newer(&mut source_seen) {
            tracing::info!(source = %spec, "source changed");
            source = spec;
            if let Some(w) = worker.take() {
                w.stop();
                worker = Some(start_worker(&source));
            }
            sched.source_changed();
        }
        let now = Instant::now();
        let demand = batch
            || outputs.iter().any(|o| o.demand.wants_frames())
            || hub.snapshot_wanted()
            || hub.room_tap().wanted()
            || hub.source_tap().wanted();
        match sched.update(now, demand) {
            Some(Action::Open) => {
                tracing::debug!(source = %source, "opening source");
                worker = Some(start_worker(&source));
            }
            Some(Action::Close) => {
                tracing::info!("nobody is watching: camera closed");
                freshness.source_ended(Instant::now());
                if let Some(w) = worker.take() {
                    w.stop();
                }
            }
            None => {}
        }
        while let Ok(ev) = ev_rx.try_recv() {
            match ev {
                SourceEvent::Opened(desc) => {
                    tracing::info!(source = %desc, "source started");
                    sched.opened();
                }
                SourceEvent::Failed(SourceError::CameraAppeared { path }) => {
                    // The demo stood in for `auto`; the real camera takes over
                    // at once, and the last picture repeats until it delivers.
                    tracing::info!(path = %path, "a webcam appeared: switching to it");
                    if let Some(w) = worker.take() {
                        w.stop();
                    }
                    worker = Some(start_worker(&source));
                }
                SourceEvent::Failed(e) => {
                    freshness.source_ended(Instant::now());
                    if let Some(w) = worker.take() {
                        w.stop();
                    }
                    if batch || !e.is_retryable() {
                        result = Err(PipelineError::Source(e));
                        break;
                    }
                    let msg = e.to_string();
                    if sched.picture() != Picture::Unavailable(msg.clone()) {
                        tracing::warn!("{msg}");
                    }
                    hub.answer_snapshots(Err(msg.clone()));
                    sched.failed(Instant::now(), msg);
                }
            }
        }
        if result.is_err() {
            break;
        }
        hub.set_camera_active(sched.camera_active());
        let readers = output_readers(&outputs);
        if readers != readers_seen {
            hub.set_outputs(describe_outputs(&outputs, &readers));
            readers_seen = readers;
        }

        let wait = sched
            .next_wake(now, last_emit)
            .saturating_duration_since(Instant::now());
        let wait = if batch {
            Duration::from_millis(200)
        } else {
            wait.clamp(Duration::from_millis(1), Duration::from_millis(100))
        };
        let popped = ready.pop(Some(wait));
        // Frames the queues dropped count as dropped as they happen.
        let queued_drops = raw.dropped() + ready.dropped();
        stats.add_dropped(queued_drops - drops_counted);
        drops_counted = queued_drops;
        match popped {
            Pop::Item(frame) if !sched.camera_active() || freshness.is_stale(&frame) => {
                // Still in flight when the camera failed or closed (a slow GPU
                // may return it after the retry began): the outputs already
                // show the card; an old picture must not flash through.
                stats.add_dropped(1);
            }
            Pop::Item(frame) => {
                let now = Instant::now();
                stats.frame_in(now);
                stats.delay(now.saturating_duration_since(frame.captured_at));
                sched.frame(now);
                if hub.snapshot_wanted() {
                    hub.answer_snapshots(Ok(frame.clone()));
                }
                let mut variants = FrameVariants::pooled(frame, pools.clone());
                emit(&mut variants, false, &outputs);
                last_frame = Some(variants);
                last_emit = Some(now);
                frames_done += 1;
                if cfg.frames.is_some_and(|n| frames_done >= n) {
                    break;
                }
            }
            Pop::Timeout | Pop::Closed => {
                let now = Instant::now();
                if !batch && sched.repeat_due(now, last_emit) {
                    let picture = match sched.picture() {
                        Picture::Live => last_frame.as_mut().unwrap_or(&mut idle),
                        Picture::Idle => &mut idle,
                        Picture::Unavailable(reason) => {
                            if unavailable.as_ref().is_none_or(|(r, _)| *r != reason) {
                                let card = Arc::new(placeholder::unavailable(size, &reason));
                                unavailable = Some((reason, FrameVariants::new(card)));
                            }
                            match unavailable.as_mut() {
                                Some((_, v)) => v,
                                None => &mut idle,
                            }
                        }
                    };
                    emit(picture, true, &outputs);
                    last_emit = Some(now);
                }
            }
        }
    }

    if let Some(w) = worker.take() {
        w.stop();
    }
    hub.set_camera_active(false);
    // Closing both ends releases the effect thread wherever it waits.
    raw.close();
    ready.close();
    if effects_thread.join().is_err() {
        tracing::error!("the effects thread panicked");
    }
    stats.add_dropped(raw.dropped() + ready.dropped() - drops_counted);
    stop_outputs(outputs, &stats);
    result?;
    let snap = stats.snapshot();
    Ok(RunSummary {
        frames_in: snap.frames_in,
        frames_out: snap.frames_out,
        dropped: snap.dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;

    fn frame_at(at: Instant) -> Frame {
        let mut f = Frame::new(Size::new(2, 2), PixelFormat::Rgba, vec![0; 16], 0);
        f.captured_at = at;
        f
    }

    #[test]
    fn frames_from_before_a_camera_failure_are_stale() {
        let t0 = Instant::now();
        let mut fresh = Freshness::default();
        assert!(
            !fresh.is_stale(&frame_at(t0)),
            "nothing is stale before a failure"
        );
        fresh.source_ended(t0 + Duration::from_millis(50));
        assert!(fresh.is_stale(&frame_at(t0)));
        assert!(fresh.is_stale(&frame_at(t0 + Duration::from_millis(50))));
        assert!(!fresh.is_stale(&frame_at(t0 + Duration::from_millis(51))));
    }
}
