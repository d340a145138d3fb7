//! The effect stage of the frame loop: turns the effect settings (plain data:
//! filter, background, segmenter) into GPU work, feeds perception and the
//! background picture, and never lets a problem stop the picture (the frame
//! then passes through unfiltered, and the problem is said once, with its fix).

use std::sync::Arc;

use std::path::PathBuf;
use std::time::Instant;

use crate::avatar::{pack::Mode, Wearer};
use crate::frame::{PixelFormat, SharedFrame, Size};
use crate::gpu::engine::{Backdrop, GpuEngine, Look, RING};
use crate::gpu::GpuContext;
use crate::perception::motion::MaskMotion;
use crate::perception::{Mask, Perception};
use crate::say_once::SayOnce;
use crate::settings::background::BackgroundSpec;
use crate::settings::effects::EffectsState;
use crate::settings::filter::FilterSpec;
use crate::settings::gpu::GpuPreference;
use crate::settings::segmenter::SegmenterSpec;
use crate::stats::Stats;

mod loader;
use loader::{Done, Loader};

/// Whether an effect argument means "none" (`""`, `none`, `off`, any case),
/// wherever effects are chosen: flags, config, D-Bus.
pub fn is_off(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "" | "none" | "off")
}

#[derive(Debug)]
enum Engine {
    NotStarted,
    /// Being created on a thread of its own (device creation and shader
    /// compilation take a few hundred ms on lavapipe); frames pass meanwhile.
    /// Setting the flag asks the warm-up to stop early.
    Starting(
        std::thread::JoinHandle<Result<GpuEngine, crate::gpu::GpuError>>,
        Arc<std::sync::atomic::AtomicBool>,
    ),
    Ready(Box<GpuEngine>),
    /// No GPU could be used, and why.
    Unavailable(String),
}

impl Engine {
    /// What `status` shows as the GPU in use.
    fn describe(&self) -> String {
        match self {
            Engine::NotStarted => "not started (starts with the first effect)".into(),
            Engine::Starting(..) => "starting".into(),
            Engine::Ready(e) => e.adapter(),
            Engine::Unavailable(why) => format!("none: {why}"),
        }
    }
}

/// The picture behind the person, as the loader delivers it: one request
/// per (choice, size); a clip then gives a frame per request.
#[derive(Debug, Default)]
struct PictureFeed {
    key: Option<(BackgroundSpec, Size)>,
    /// Answers for older requests are dropped.
    generation: u64,
    /// A request is out and not answered yet.
    waiting: bool,
    /// A picture for `key` is on the GPU.
    ready: bool,
    /// A clip in lockstep: ask for its next frame with the next camera frame,
    /// so each camera frame shows exactly one clip frame.
    advance: bool,
}

/// The LUT of the `lut` filter: which file is on the GPU, which one is being
/// parsed, which one failed (not asked for again until the choice changes).
#[derive(Debug, Default)]
struct LutFeed {
    on_gpu: Option<PathBuf>,
    asked: Option<PathBuf>,
    failed: Option<PathBuf>,
}

/// What the loader makes for the effects, and what is on the GPU of it.
#[derive(Debug, Default)]
struct Inputs {
    picture: PictureFeed,
    lut: LutFeed,
    /// Scenes, pictures, clips and LUTs are made here; started on first use.
    loader: Option<Loader>,
}

impl Inputs {
    fn loader(&mut self) -> Result<&Loader, String> {
        let loader = match self.loader.take() {
            Some(running) => running,
            None => Loader::start()
                .map_err(|e| format!("cannot start the effects loader thread: {e}"))?,
        };
        Ok(self.loader.insert(loader))
    }

    /// Asks the loader for what this frame's effects need and do not have:
    /// the LUT file of a `lut` filter, the picture of `background` at `size`.
    fn ask(
        &mut self,
        filter: Option<&FilterSpec>,
        background: &BackgroundSpec,
        size: Size,
    ) -> Result<(), String> {
        if let Some(path) = filter.and_then(|f| f.lut.as_ref()) {
            let lut = &self.lut;
            if lut.on_gpu.as_ref() != Some(path)
                && lut.asked.as_ref() != Some(path)
                && lut.failed.as_ref() != Some(path)
            {
                self.loader()?.lut(path)?;
                self.lut.asked = Some(path.clone());
            }
        }
        let wants_picture = !matches!(
            background,
            BackgroundSpec::None | BackgroundSpec::Blur { .. }
        );
        let current = self
            .picture
            .key
            .as_ref()
            .is_some_and(|(s, z)| s == background && *z == size);
        if wants_picture && !current {
            let generation = self.picture.generation + 1;
            self.picture = PictureFeed {
                key: Some((background.clone(), size)),
                generation,
                waiting: true,
                ready: false,
                advance: false,
            };
            self.loader()?.picture(generation, background, size)?;
        } else if wants_picture && self.picture.advance {
            self.picture.advance = false;
            let generation = self.picture.generation;
            self.loader()?.next_clip_frame(generation)?;
            self.picture.waiting = true;
        }
        Ok(())
    }

    /// Puts what the loader has finished on the GPU. `wait`: first waits
    /// (up to `LOCKSTEP_WAIT`) for every answer still out, for recordings,
    /// where every frame must show what was chosen for it.
    fn receive(&mut self, engine: &mut GpuEngine, problem: &mut SayOnce, wait: bool) {
        let deadline = Instant::now() + LOCKSTEP_WAIT;
        loop {
            let Some(loader) = self.loader.as_ref() else {
                return;
            };
            let out = self.picture.waiting || self.lut.asked.is_some();
            let done = if wait && out {
                loader.done_by(deadline)
            } else {
                loader.try_done()
            };
            let Some(done) = done else { return };
            match done {
                Done::Lut { path, result } => {
                    if self.lut.asked.as_ref() == Some(&path) {
                        self.lut.asked = None;
                    }
                    match result {
                        Ok(lut) => {
                            engine.set_lut(&lut);
                            self.lut.on_gpu = Some(path);
                        }
                        Err(e) => {
                            Effects::report(
                                problem,
                                format!("{e}; showing the picture without the LUT"),
                            );
                            self.lut.failed = Some(path);
                        }
                    }
                }
                Done::Picture { generation, result } if generation == self.picture.generation => {
                    self.picture.waiting = false;
                    let Some((spec, size)) = self.picture.key.clone() else {
                        continue;
                    };
                    let uploaded = result
                        .and_then(|pic| engine.set_picture(&pic, size).map_err(|e| e.to_string()));
                    match uploaded {
                        Ok(()) => {
                            self.picture.ready = true;
                            let clip = matches!(spec, BackgroundSpec::Video { .. });
                            if clip && wait {
                                self.picture.advance = true;
                            } else if clip {
                                // Decode the clip's next frame while this one shows.
                                match self.loader().and_then(|l| l.next_clip_frame(generation)) {
                                    Ok(()) => self.picture.waiting = true,
                                    Err(e) => {
                                        Effects::report(problem, format!("background {spec}: {e}"))
                                    }
                                }
                            }
                        }
                        Err(e) => Effects::report(
                            problem,
                            format!("background {spec}: {e}; showing the camera's own background"),
                        ),
                    }
                }
                // An answer to a request since replaced.
                Done::Picture { .. } => {}
            }
        }
    }

    /// Whether `filter` can be applied now: a `lut` filter once its file is on the GPU.
    fn filter_ready(&self, filter: &FilterSpec) -> bool {
        filter.lut.is_none() || filter.lut == self.lut.on_gpu
    }
}

/// Frames back from the GPU, oldest first, for as long as `more` says and
/// frames come (`wait`: for each one); a lost frame is reported once.
fn collect_while(
    engine: &mut GpuEngine,
    problem: &mut SayOnce,
    wait: bool,
    more: impl Fn(&GpuEngine) -> bool,
) -> Vec<SharedFrame> {
    let mut done = Vec::new();
    while more(engine) {
        match engine.collect(wait) {
            Some(Ok(f)) => done.push(Arc::new(f)),
            Some(Err(e)) => {
                Effects::report(problem, format!("effect failed: {e}; a frame was lost"))
            }
            None => break,
        }
    }
    done
}

/// Effect settings plus the engine that applies them.
#[derive(Debug)]
pub struct Effects {
    filter: Option<FilterSpec>,
    background: BackgroundSpec,
    segmenter: SegmenterSpec,
    preference: GpuPreference,
    engine: Engine,
    perception: Option<Perception>,
    /// The running perception thread tracks faces too.
    perception_faces: bool,
    /// Name of the avatar pack worn.
    avatar: Option<String>,
    /// Loads, rasterises and rigs the avatar; made on first use.
    wearer: Option<Wearer>,
    /// Generation of the last mask handed to the GPU.
    mask_seen: u64,
    /// `seq` of the newest face track counted.
    face_seen: Option<u64>,
    /// Where masks and faces per second and their ages are reported.
    stats: Option<Arc<Stats>>,
    /// The newest mask, and the person's motion over the last two: live
    /// frames get the mask moved to their own moment.
    mask_newest: Option<Arc<Mask>>,
    mask_motion: MaskMotion,
    /// The GPU holds a moved copy, not `mask_newest` itself.
    mask_moved: bool,
    inputs: Inputs,
    /// Wait for each frame's own mask (recordings) instead of using the newest.
    lockstep: bool,
    /// Keep the perception thread while no effect needs it (a chain that
    /// switches effects every frame, as the studio's thumbnails do, would
    /// otherwise load the models again each time).
    hold_perception: bool,
    /// `seq` of the last picture handed to perception.
    offered: Option<u64>,
    problem: SayOnce,
}

/// How long a recording waits for one frame's mask before going on without it.
const LOCKSTEP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A warm-up still running when the effects end is stopped and waited for:
/// a process that exits while another thread is inside the graphics
/// driver's start-up can crash in the driver's teardown.
impl Drop for Effects {
    fn drop(&mut self) {
        if let Engine::Starting(h, stop) = std::mem::replace(&mut self.engine, Engine::NotStarted) {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = h.join();
        }
    }
}

impl Effects {
    /// Masks and face tracks per second, and the age of those applied to
    /// each frame, go to `stats` from now on.
    pub fn report_to(&mut self, stats: Arc<Stats>) {
        stats.set_gpu(self.engine.describe());
        self.stats = Some(stats);
    }

    /// A fresh `Effects` with the same settings, after a panic left this one
    /// in an unknown state: nothing of its GPU engine or threads is kept.
    pub fn after_panic(&self) -> Effects {
        let mut fresh = Effects::new(
            self.filter.clone(),
            self.background.clone(),
            self.segmenter.clone(),
            self.preference,
        );
        fresh.avatar = self.avatar.clone();
        fresh.lockstep = self.lockstep;
        if let Some(s) = &self.stats {
            fresh.report_to(s.clone());
        }
        if !matches!(self.engine, Engine::NotStarted) {
            fresh.warm_up();
        }
        fresh
    }

    /// The GPU device was lost (a driver reset, a hung GPU): the engine and
    /// everything uploaded to it are dropped, frames pass unfiltered, and a
    /// new engine is made in the background (recordings wait for it). The
    /// frames that were on the GPU are lost.
    fn rebuild_engine(&mut self, why: &str) {
        tracing::error!(
            "the GPU device was lost ({why}); frames pass unfiltered while the effects engine is made again"
        );
        crate::supervise::record(
            "gpu",
            &format!("device lost ({why}); effects engine made again"),
        );
        self.engine = Engine::NotStarted;
        let picture = &mut self.inputs.picture;
        picture.key = None;
        picture.ready = false;
        picture.waiting = false;
        picture.advance = false;
        self.inputs.lut.on_gpu = None;
        self.inputs.lut.asked = None;
        // The newest mask is handed to the new engine as if it were new.
        self.mask_seen = 0;
        self.mask_moved = false;
        self.warm_up();
    }

    pub fn new(
        filter: Option<FilterSpec>,
        background: BackgroundSpec,
        segmenter: SegmenterSpec,
        preference: GpuPreference,
    ) -> Self {
        Effects {
            filter,
            background,
            segmenter,
            preference,
            engine: Engine::NotStarted,
            perception: None,
            perception_faces: false,
            avatar: None,
            wearer: None,
            mask_seen: 0,
            face_seen: None,
            stats: None,
            mask_newest: None,
            mask_motion: MaskMotion::default(),
            mask_moved: false,
            inputs: Inputs::default(),
            lockstep: false,
            hold_perception: false,
            offered: None,
            problem: SayOnce::new(),
        }
    }

    /// True when frames go through the GPU at all.
    pub fn active(&self) -> bool {
        self.filter.is_some() || !self.background.is_none() || self.avatar.is_some()
    }

    /// Takes on new settings; the next frame pushed shows them. Nothing that
    /// can be reused (pipelines, the perception thread, a rendered scene) is
    /// rebuilt.
    pub fn apply(&mut self, state: &EffectsState) {
        self.filter = state.filter.clone();
        self.background = state.background.clone();
        self.avatar = state.avatar.clone();
        if state.segmenter != self.segmenter {
            self.segmenter = state.segmenter.clone();
            // The next frame that needs a mask starts perception again with
            // the new segmenter; until its first mask the GPU keeps the
            // last one (a frame or two), rather than showing no person.
            if self.perception.take().is_some() {
                tracing::info!(segmenter = %self.segmenter, "person finder changed");
            }
            self.mask_newest = None;
            self.mask_motion = MaskMotion::default();
            self.mask_seen = 0;
            self.offered = None;
        }
    }

    /// In lockstep every frame waits for its own person mask: for recordings,
    /// where every frame is kept and none may show a stale mask.
    pub fn set_lockstep(&mut self, on: bool) {
        self.lockstep = on;
    }

    /// Keeps the perception thread (and its models) while effects that do
    /// not need it are shown.
    pub fn set_hold_perception(&mut self, on: bool) {
        self.hold_perception = on;
    }

    /// Starts creating the GPU engine in the background, so that the first
    /// effect switched on later shows at once. The live daemon does this at
    /// start; batch runs start it on first use.
    pub fn warm_up(&mut self) {
        if let Engine::NotStarted = self.engine {
            let preference = self.preference;
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stop_here = stop.clone();
            match std::thread::Builder::new()
                .name("gpu-start".into())
                .spawn(move || {
                    let mut engine = GpuContext::new(preference).and_then(GpuEngine::new)?;
                    // Every filter for what cameras and the demo deliver
                    // most (YUYV, RGBA) and the passes after a filter. The
                    // passes that read unfiltered frames build on first use
                    // (a few per input format): compiling them all made the
                    // start too slow on slow machines.
                    engine.precompile(&[PixelFormat::Yuyv, PixelFormat::Rgba], &[], &stop_here);
                    Ok(engine)
                }) {
                Ok(h) => self.engine = Engine::Starting(h, stop),
                Err(e) => {
                    tracing::error!("cannot start the GPU thread: {e}");
                    self.engine = Engine::Unavailable(format!("cannot start the GPU thread: {e}"));
                }
            }
            if let Some(s) = &self.stats {
                s.set_gpu(self.engine.describe());
            }
        }
    }

    /// Takes over a warmed-up engine once its thread is done (logged then),
    /// without waiting for it.
    pub fn poll_warm_up(&mut self) {
        if matches!(&self.engine, Engine::Starting(h, _) if h.is_finished()) {
            Self::engine(
                &mut self.engine,
                self.preference,
                false,
                self.stats.as_deref(),
            );
        }
    }

    /// The engine when it is ready. Without a warm-up it is started on first
    /// use; `wait` blocks until a starting engine is ready (recordings), else
    /// frames pass through unfiltered meanwhile.
    fn engine<'a>(
        engine: &'a mut Engine,
        preference: GpuPreference,
        wait: bool,
        stats: Option<&Stats>,
    ) -> Option<&'a mut GpuEngine> {
        let result = match std::mem::replace(engine, Engine::NotStarted) {
            Engine::NotStarted => Some(GpuContext::new(preference).and_then(GpuEngine::new)),
            Engine::Starting(h, _) if wait || h.is_finished() => {
                Some(h.join().unwrap_or_else(|_| {
                    Err(crate::gpu::GpuError::Failed("GPU start-up panicked".into()))
                }))
            }
            other => {
                *engine = other;
                None
            }
        };
        if let Some(result) = result {
            *engine = match result {
                Ok(e) => {
                    tracing::info!(adapter = %e.adapter(), "GPU effects ready");
                    Engine::Ready(Box::new(e))
                }
                Err(e) => {
                    tracing::error!("{e}; frames pass through without effects");
                    Engine::Unavailable(e.to_string())
                }
            };
            if let Some(s) = stats {
                s.set_gpu(engine.describe());
            }
        }
        match engine {
            Engine::Ready(e) => Some(e),
            _ => None,
        }
    }

    fn report(problem: &mut SayOnce, msg: String) {
        if problem.first(&msg) {
            tracing::error!("{msg}");
        }
    }

    /// Frames handed to the GPU whose results have not been returned yet.
    pub fn pending(&self) -> usize {
        match &self.engine {
            Engine::Ready(e) => e.in_flight(),
            _ => 0,
        }
    }

    /// Starts `frame` on its way through the effects and returns every frame
    /// that is done: usually this one (when the GPU is quick) or the one
    /// before. A frame the GPU cannot take is returned unchanged. Frames come
    /// back in `out`, in order. The frame is shared with perception, not
    /// copied.
    pub fn push(&mut self, frame: SharedFrame, out: PixelFormat) -> Vec<SharedFrame> {
        if !self.active() {
            let mut done = self.flush();
            done.push(frame);
            return done;
        }
        let wants_mask = !self.background.is_none();
        let wants_face = self.avatar.is_some();
        // Start perception when it is needed and missing; face tracking is
        // switched on and off in the running thread (it costs a core's worth
        // of time, so it runs only while an avatar is worn).
        if let (Some(p), true) = (&self.perception, wants_face != self.perception_faces) {
            p.set_faces(wants_face);
            self.perception_faces = wants_face;
            // A picture already looked at without faces is looked at again.
            self.offered = None;
        }
        if (wants_mask || wants_face) && self.perception.is_none() {
            match Perception::start(&self.segmenter, wants_face) {
                Ok(p) => {
                    // Recordings give every frame its own face.
                    p.set_paced(!self.lockstep);
                    self.perception = Some(p);
                    self.offered = None;
                    self.perception_faces = wants_face;
                }
                Err(e) => Self::report(
                    &mut self.problem,
                    format!("perception could not start: {e}"),
                ),
            }
        } else if !wants_mask && !wants_face && !self.hold_perception && self.perception.is_some() {
            self.perception = None;
            self.mask_newest = None;
            self.mask_motion = MaskMotion::default();
        }
        crate::inject::panic_if_due(crate::inject::Point::EffectsPanic);
        if let Some(why) = match &self.engine {
            Engine::Ready(e) => e.lost(),
            _ => None,
        } {
            self.rebuild_engine(&why);
        }
        let Some(engine) = Self::engine(
            &mut self.engine,
            self.preference,
            self.lockstep,
            self.stats.as_deref(),
        ) else {
            return vec![frame];
        };
        if crate::inject::hit(crate::inject::Point::GpuLost) {
            tracing::warn!("destroying the GPU device on purpose (BYTEMEETD_INJECT)");
            engine.destroy_device();
            let mut done = self.flush();
            done.push(frame);
            return done;
        }
        let mut face = None;
        if let Some(p) = &self.perception {
            // A picture pushed again with the same `seq` (the studio's
            // thumbnails show one picture with every effect) is not looked
            // at again: its mask and face are there already.
            if self.offered != Some(frame.seq) {
                p.offer(frame.clone());
                self.offered = Some(frame.seq);
            }
            let mut newest = p.latest().newer_than(self.mask_seen);
            face = p.latest().face();
            if self.lockstep {
                // Recordings: every frame gets its own mask and face.
                let deadline = std::time::Instant::now() + LOCKSTEP_WAIT;
                let mask_due = wants_mask || wants_face;
                let face_due = wants_face && self.perception_faces;
                let kept = self
                    .mask_newest
                    .as_ref()
                    .is_some_and(|m| m.seq == frame.seq);
                while (mask_due && !kept && newest.as_ref().is_none_or(|(_, m)| m.seq != frame.seq)
                    || face_due && face.as_ref().is_none_or(|f| f.seq != frame.seq))
                    && std::time::Instant::now() < deadline
                {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    newest = p.latest().newer_than(self.mask_seen);
                    face = p.latest().face();
                }
            }
            let fresh = newest.is_some();
            let now = std::time::Instant::now();
            if let Some((generation, mask)) = newest {
                self.mask_seen = generation;
                self.mask_motion.observe(&mask);
                self.mask_newest = Some(mask);
                if let Some(s) = &self.stats {
                    s.mask_made(now);
                }
            }
            if let (Some(f), Some(s)) = (&face, &self.stats) {
                if self.face_seen != Some(f.seq) {
                    self.face_seen = Some(f.seq);
                    s.face_made(now);
                }
            }
            if let (Some(mask), Some(s), true) = (&self.mask_newest, &self.stats, wants_mask) {
                // The age of the mask's own picture (a live frame gets it
                // moved to its moment, see `MaskMotion`).
                s.mask_applied(
                    frame.seq.saturating_sub(mask.seq),
                    frame
                        .captured_at
                        .saturating_duration_since(mask.captured_at),
                    now,
                );
            }
            if let Some(mask) = &self.mask_newest {
                // Recordings use each frame's own mask as it is.
                let moved = if self.lockstep {
                    None
                } else {
                    self.mask_motion.warp(mask, frame.captured_at)
                };
                let upload = match &moved {
                    Some(m) => Some(m.as_slice()),
                    None if fresh || self.mask_moved => Some(mask.data.as_slice()),
                    None => None,
                };
                self.mask_moved = moved.is_some();
                if let Some(data) = upload {
                    if let Err(e) = engine.set_mask(data, mask.width, mask.height) {
                        Self::report(&mut self.problem, format!("person mask rejected: {e}"));
                    }
                }
            }
        }
        if let (Some(f), Some(s), true) = (&face, &self.stats, wants_face) {
            if f.face.is_some() {
                s.face_applied(
                    frame.seq.saturating_sub(f.seq),
                    frame.captured_at.saturating_duration_since(f.captured_at),
                    std::time::Instant::now(),
                );
            }
        }
        let drawing = match &self.avatar {
            Some(name) => {
                let wearer = self.wearer.get_or_insert_with(Wearer::new);
                let t = self.lockstep.then(|| frame.seq as f32 / 30.0);
                wearer.frame(
                    name,
                    face.as_deref(),
                    (frame.size.width, frame.size.height),
                    frame.captured_at,
                    self.lockstep,
                    t,
                )
            }
            None => None,
        };
        // A full avatar replaces the person, so something must be behind it:
        // the chosen picture, else the pack's own scene.
        let full_scene = match (&drawing, &self.background) {
            (Some(d), BackgroundSpec::None | BackgroundSpec::Blur { .. })
                if d.mode == Mode::Full =>
            {
                let scene = self
                    .wearer
                    .as_ref()
                    .and_then(|w| w.pack())
                    .and_then(|p| p.manifest.scene.clone())
                    .unwrap_or_else(|| "deep-space".into());
                Some(BackgroundSpec::Scene { name: scene })
            }
            _ => None,
        };
        let background = full_scene.as_ref().unwrap_or(&self.background);
        let filter = self.filter.as_ref();
        if let Err(e) = self.inputs.ask(filter, background, frame.size) {
            Self::report(&mut self.problem, e);
        }
        self.inputs
            .receive(engine, &mut self.problem, self.lockstep);
        let backdrop = match background {
            BackgroundSpec::None => Backdrop::None,
            BackgroundSpec::Blur { strength } => Backdrop::Blur {
                strength: *strength,
            },
            _ if self.inputs.picture.ready => Backdrop::Picture,
            _ => Backdrop::None,
        };
        let look = Look {
            filter: filter.filter(|f| self.inputs.filter_ready(f)),
            backdrop,
            avatar: drawing.as_ref(),
        };
        // A full ring: wait for the oldest frame rather than lose it.
        let mut done = collect_while(engine, &mut self.problem, true, |e| {
            e.in_flight() >= RING - 1
        });
        match engine.submit(&frame, look, frame.seq as u32, out) {
            Ok(()) => {
                if self.problem.clear() {
                    tracing::info!("effects work again");
                }
            }
            Err(e) => {
                Self::report(
                    &mut self.problem,
                    format!("effect failed: {e}; showing the unfiltered picture"),
                );
                done.extend(self.flush());
                done.push(frame);
                return done;
            }
        }
        done.extend(self.collect(false));
        done
    }

    fn collect(&mut self, wait: bool) -> Vec<SharedFrame> {
        match &mut self.engine {
            Engine::Ready(engine) => collect_while(engine, &mut self.problem, wait, |_| true),
            _ => Vec::new(),
        }
    }

    /// Every frame still on the GPU, waiting for it.
    pub fn flush(&mut self) -> Vec<SharedFrame> {
        self.collect(true)
    }

    /// Frames the GPU has finished since the last call, without waiting.
    pub fn ready(&mut self) -> Vec<SharedFrame> {
        self.collect(false)
    }
}
