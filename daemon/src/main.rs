//! `bytemeetd` command line: read settings, open outputs, run the frame loop.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use bytemeetd::avatar::pack::Catalogue;
use bytemeetd::config::{self, ConfigFile, Settings};
use bytemeetd::control::dbus::{self as control_bus, BusStatus};
use bytemeetd::control::reload::Reloader;
use bytemeetd::control::{state, Hub};
use bytemeetd::frame::{PixelFormat, Size};
use bytemeetd::pipeline::{self, PipelineConfig};
use bytemeetd::settings::background::{BackgroundSpec, SCENES};
use bytemeetd::settings::effects::EffectsState;
use bytemeetd::settings::filter::{FilterSpec, FILTERS};
use bytemeetd::settings::gpu::GpuPreference;
use bytemeetd::settings::output::OutputSpec;
use bytemeetd::settings::segmenter::SegmenterSpec;
use bytemeetd::settings::source::{CameraFormat, SourceRequest, SourceSpec};
use bytemeetd::sink::{self};
use bytemeetd::stats::Stats;
use bytemeetd::v4l2::discover;

/// ByteMeet camera daemon: webcam in, effects, virtual camera out.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Frame source: auto, demo, v4l2:/dev/videoN, pipewire:NODE (a PipeWire camera), file:PATH (.y4m clip or image).
    #[arg(long, value_name = "SPEC")]
    source: Option<SourceSpec>,
    /// Output, repeatable: auto (PipeWire and/or v4l2loopback), pipewire[:NODE], v4l2:/dev/videoN, y4m:PATH, png:PATH.
    #[arg(long = "output", value_name = "SPEC")]
    outputs: Vec<OutputSpec>,
    /// Output size.
    #[arg(long, value_name = "WxH")]
    size: Option<Size>,
    /// Output frame rate.
    #[arg(long)]
    fps: Option<f64>,
    /// Process this many frames, then exit (batch mode: nothing dropped, files unpaced).
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Virtual camera pixel format: yuyv or nv12.
    #[arg(long, value_name = "FORMAT", value_parser = config::parse_vcam_format)]
    output_format: Option<PixelFormat>,
    /// Preferred camera format: yuyv, nv12 or mjpeg.
    #[arg(long, value_name = "FORMAT")]
    camera_format: Option<CameraFormat>,
    /// Config file (default: $XDG_CONFIG_HOME/bytemeet/config.toml).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Filter: NAME or NAME:key=value,... (e.g. toon, posterize:levels=4, lut:/path/look.cube).
    #[arg(long, value_name = "SPEC")]
    filter: Option<FilterSpec>,
    /// Background: none, blur, blur:STRENGTH (1-64), scene:NAME, image:PATH or video:PATH.y4m.
    #[arg(long, value_name = "SPEC")]
    background: Option<BackgroundSpec>,
    /// Avatar to wear at start: the name of an installed pack (see --list-avatars), or none.
    #[arg(long, value_name = "NAME")]
    avatar: Option<String>,
    /// List the installed avatar packs (name, mode, description, where from) and exit.
    #[arg(long)]
    list_avatars: bool,
    /// Check the avatar pack in DIR, print every problem found, and exit (1 if any).
    #[arg(long, value_name = "DIR")]
    check_avatar: Option<PathBuf>,
    /// How the person is found for backgrounds: chroma[:green|blue|#RRGGBB].
    #[arg(long, value_name = "SPEC")]
    segmenter: Option<SegmenterSpec>,
    /// GPU for effects: auto, hardware, software, vulkan or gl.
    #[arg(long, value_name = "CHOICE")]
    gpu: Option<GpuPreference>,
    /// List video devices (path, role, name, driver, processes holding it) and exit.
    #[arg(long)]
    list_devices: bool,
    /// List the filters with their parameters and exit.
    #[arg(long)]
    list_filters: bool,
    /// List the built-in background scenes and exit.
    #[arg(long)]
    list_scenes: bool,
    /// List the GPU adapters, best first (`auto` takes the first), and exit.
    #[arg(long)]
    list_gpus: bool,
    /// Check the PipeWire session (daemon version, session manager, the
    /// ByteMeet Camera node and its consumers) and exit (1 if unreachable).
    #[arg(long)]
    list_pipewire: bool,
    /// Print the manual page (roff) and exit; packaging installs it.
    #[arg(long, hide = true)]
    print_man: bool,
    /// Do not offer control on the D-Bus session bus (batch runs never do).
    #[arg(long)]
    no_dbus: bool,
}

/// Settings plus the config file they came from, for reloading.
struct Loaded {
    settings: Settings,
    /// The file to follow and its last good contents (empty when missing or broken).
    config: Option<(PathBuf, ConfigFile)>,
}

fn settings(args: &Args) -> anyhow::Result<Loaded> {
    let mut s = Settings::default();
    let mut followed = None;
    match (&args.config, bytemeet_proto::config_file()) {
        (Some(path), _) => {
            let (file, from_file) = config::read(path)?
                .with_context(|| format!("{}: no such config file", path.display()))?;
            s = from_file;
            followed = Some((path.clone(), file));
        }
        (None, Some(path)) => match config::read(&path) {
            Ok(Some((file, from_file))) => {
                tracing::info!(path = %path.display(), "settings read");
                s = from_file;
                followed = Some((path, file));
            }
            Ok(None) => followed = Some((path, ConfigFile::default())),
            // A broken config must not keep the camera down: say so, run on
            // defaults, and pick the file up once it is fixed.
            Err(e) => {
                tracing::error!("{e}; running with defaults until it is fixed");
                followed = Some((path, ConfigFile::default()));
            }
        },
        (None, None) => {}
    }
    if let Some(src) = &args.source {
        s.source = src.clone();
    }
    if !args.outputs.is_empty() {
        s.outputs = args.outputs.clone();
    }
    if let Some(size) = args.size {
        s.size = size;
    }
    if let Some(fps) = args.fps {
        s.fps = config::check_fps(fps).map_err(anyhow::Error::msg)?;
    }
    if let Some(f) = args.output_format {
        s.output_format = f;
    }
    if args.camera_format.is_some() {
        s.camera_format = args.camera_format;
    }
    if let Some(seg) = &args.segmenter {
        s.segmenter = seg.clone();
    }
    if let Some(g) = args.gpu {
        s.gpu = g;
    }
    Ok(Loaded {
        settings: s,
        config: followed,
    })
}

/// The starting effects: the config's, then those saved by the last run
/// (not for batch runs, which must not depend on earlier ones), then flags
/// (applied here only: `settings` leaves the effects as the config has them).
fn starting_effects(
    args: &Args,
    s: &Settings,
    state_path: Option<&std::path::Path>,
) -> EffectsState {
    let mut effects = EffectsState {
        filter: s.filter.clone(),
        background: s.background.clone(),
        avatar: s.avatar.clone(),
        segmenter: s.segmenter.clone(),
    };
    if let Some(path) = state_path {
        let (saved, warning) = state::load_or_last_good(path, &s.segmenter);
        if let Some(w) = warning {
            tracing::warn!("{w}");
        }
        if let Some(saved) = saved {
            tracing::info!(path = %path.display(), "effects restored from the last run");
            effects = saved;
        }
    }
    if args.filter.is_some() {
        effects.filter = args.filter.clone();
    }
    if let Some(b) = &args.background {
        effects.background = b.clone();
    }
    if let Some(a) = &args.avatar {
        effects.avatar = (!bytemeetd::effects::is_off(a)).then(|| a.trim().to_string());
    }
    if let Some(seg) = &args.segmenter {
        effects.segmenter = seg.clone();
    }
    effects
}

fn list_avatars() {
    let cat = Catalogue::installed();
    for p in &cat.packs {
        let m = &p.manifest;
        println!(
            "{:<14} {:<5} {}  [{}]",
            m.name,
            m.mode.as_str(),
            m.description,
            p.origin
        );
    }
    for (dir, e) in &cat.refused {
        eprintln!("refused: {}:\n{e}", dir.display());
    }
    if let Some(dir) = bytemeet_proto::avatars_dir() {
        println!("(your own packs go in {})", dir.display());
    }
}

/// `--check-avatar DIR`: every problem, or what the pack holds.
fn check_avatar(dir: &std::path::Path) -> anyhow::Result<()> {
    match bytemeetd::avatar::pack::load_dir(dir) {
        Ok(p) => {
            let m = &p.manifest;
            // Draw it once, as the daemon will.
            bytemeetd::avatar::rasterise(&p, 1.0).map_err(anyhow::Error::msg)?;
            println!(
                "{}: avatar {:?} ({} mode, {} layers) is fine",
                dir.display(),
                m.name,
                m.mode.as_str(),
                m.layers.len()
            );
            Ok(())
        }
        Err(e) => {
            anyhow::bail!("{} problem(s):\n{e}", e.0.len())
        }
    }
}

fn list_devices() {
    let devices = discover::list();
    if devices.is_empty() {
        println!("no video devices. Plug in a webcam; load the virtual camera with `sudo modprobe v4l2loopback exclusive_caps=1 card_label=\"ByteMeet Camera\"`");
    }
    for d in devices {
        let role = if d.is_loopback() {
            "virtual camera"
        } else if d.capture {
            "camera"
        } else {
            "other"
        };
        // Who else has the node open (a busy webcam names its holder).
        let holders = bytemeetd::v4l2::holders(&d.path);
        let held = if holders.is_empty() {
            "-".to_string()
        } else {
            holders.join(",")
        };
        println!(
            "{}\t{role}\t{}\t{}\t{held}",
            d.path.display(),
            d.card,
            d.driver
        );
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if args.list_devices {
        list_devices();
        return Ok(());
    }
    if args.list_filters {
        for f in FILTERS {
            let params: Vec<String> = f
                .params
                .iter()
                .map(|p| format!("{}={} ({}..{})", p.name, p.default, p.min, p.max))
                .collect();
            println!(
                "{:<10} {}{}",
                f.name,
                f.description,
                if params.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", params.join(", "))
                }
            );
        }
        return Ok(());
    }
    if args.print_man {
        use clap::CommandFactory;
        clap_mangen::Man::new(Args::command()).render(&mut std::io::stdout().lock())?;
        return Ok(());
    }
    if args.list_gpus {
        let list = bytemeetd::gpu::list_adapters();
        if list.is_empty() {
            println!("no GPU adapter: install Mesa's software one (sudo apt-get install mesa-vulkan-drivers)");
        }
        for (name, hardware) in list {
            println!("{}\t{name}", if hardware { "hardware" } else { "software" });
        }
        return Ok(());
    }
    if args.list_pipewire {
        let probe = bytemeetd::pipewire::probe(
            bytemeetd::pipewire::NODE_NAME,
            std::time::Duration::from_secs(3),
        )
        .map_err(anyhow::Error::msg)?;
        for line in probe.lines(bytemeetd::pipewire::NODE_NAME) {
            println!("{line}");
        }
        return Ok(());
    }
    if args.list_avatars {
        list_avatars();
        return Ok(());
    }
    if let Some(dir) = &args.check_avatar {
        return check_avatar(dir);
    }
    if args.list_scenes {
        for scene in SCENES {
            println!("{:<16} {}", scene.name, scene.description);
        }
        return Ok(());
    }
    let Loaded {
        settings: s,
        config: followed,
    } = settings(&args)?;
    let batch = args.frames.is_some();
    let state_path = if batch {
        None
    } else {
        bytemeet_proto::state_file()
    };
    let mut effects = starting_effects(&args, &s, state_path.as_deref());
    if let BackgroundSpec::Image { path } | BackgroundSpec::Video { path } = &effects.background {
        if !path.is_file() {
            let msg = format!(
                "background {}: no such file (give an image or a .y4m clip that exists)",
                path.display()
            );
            if args.background.is_some() {
                anyhow::bail!(msg);
            }
            tracing::warn!("{msg}; starting without a background");
            effects.background = BackgroundSpec::None;
        }
    }
    if let Some(name) = effects.avatar.clone() {
        if let Err(e) = bytemeetd::control::dbus::check_avatar(&name) {
            if args.avatar.is_some() {
                anyhow::bail!("avatar {name}: {e}");
            }
            tracing::warn!("avatar {name}: {e}; starting without it");
            effects.avatar = None;
        }
    }
    if s.source == SourceSpec::Auto && discover::first_camera().is_none() {
        tracing::warn!("no webcam found: showing the built-in demo portrait until one is plugged in (or set `source` in the config)");
    }
    let stats = Arc::new(Stats::new());
    let mut hub = Hub::new(effects, s.source.clone(), stats.clone());
    if let Some(path) = state_path {
        hub = hub.persist_to(path);
    }
    hub.set_room_defaults(s.rooms.clone());
    let hub = Arc::new(hub);
    // The rooms service lives here; the frame loop only feeds its tap.
    let rooms = Arc::new(bytemeetd::room::Rooms::new(
        hub.room_tap().clone(),
        stats.clone(),
        s.fps,
    ));
    let reloader = match followed {
        Some((path, file)) if !batch => {
            let r = Arc::new(Reloader::new(path, hub.clone(), file));
            if let Err(e) = r.clone().watch() {
                tracing::warn!(path = %r.path().display(), "cannot follow the config file ({e}); `bytemeetctl reload` applies changes");
            }
            Some(r)
        }
        _ => None,
    };
    // The studio page: served on first use (`bytemeetctl studio`), or now
    // when the config asks.
    let studio = (!batch).then(|| {
        bytemeetd::studio::Studio::new(
            bytemeetd::control::dbus::CameraService::new(
                hub.clone(),
                reloader.clone(),
                rooms.clone(),
            ),
            s.studio.clone(),
            bytemeetd::studio::thumbs::ChainSettings { gpu: s.gpu },
            s.fps,
        )
    });
    if let (Some(studio), true) = (&studio, s.studio.start) {
        match studio.open() {
            Ok(url) => tracing::info!("studio page: {url}"),
            Err(e) => tracing::error!("{e}"),
        }
    }
    if !batch && !args.no_dbus {
        let page = studio
            .clone()
            .map(|s| s as Arc<dyn bytemeetd::control::dbus::StudioPage>);
        match control_bus::start(hub.clone(), reloader, rooms.clone(), page) {
            BusStatus::Serving => {
                tracing::info!(name = bytemeet_proto::BUS_NAME, "control on the session bus")
            }
            BusStatus::Taken(who) => anyhow::bail!(
                "bytemeetd is already running on this session bus ({who}); control it with bytemeetctl, or stop it first (systemctl --user stop bytemeetd)"
            ),
            BusStatus::Unavailable(why) => tracing::warn!(
                "no D-Bus control ({why}); the camera runs, but bytemeetctl cannot reach it. Start it inside a desktop session or under `dbus-run-session`"
            ),
        }
    }
    let mut sinks = Vec::new();
    for spec in &s.outputs {
        match sink::open(spec, s.size, s.fps, s.output_format) {
            Ok(opened) => sinks.extend(opened),
            Err(e) if args.frames.is_some() => return Err(e).context(format!("output {spec}")),
            Err(e) => tracing::error!(output = %spec, "{e}"),
        }
    }
    if sinks.is_empty() {
        if args.frames.is_some() {
            anyhow::bail!(
                "no usable output: give one with --output y4m:PATH, png:PATH or v4l2:/dev/videoN"
            );
        }
        tracing::warn!("no virtual camera or file output: the camera stays off until a room is joined (`bytemeetctl room join URL`)");
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, shutdown.clone()).context("installing signal handlers")?;
    }
    let cfg = PipelineConfig {
        request: SourceRequest {
            size: s.size,
            fps: s.fps,
            format: s.camera_format,
        },
        frames: args.frames,
        gpu: s.gpu,
    };
    tracing::info!(source = %s.source, size = %s.size, fps = s.fps, "bytemeetd running");
    let summary = pipeline::run(cfg, sinks, shutdown, hub.clone());
    rooms.leave_all();
    hub.flush_saved();
    let summary = summary?;
    let snap = stats.snapshot();
    let stages: Vec<String> = snap
        .stage_ms
        .iter()
        .map(|(k, v)| format!("{k} {v:.2} ms"))
        .collect();
    tracing::info!(
        frames_in = summary.frames_in,
        frames_out = summary.frames_out,
        dropped = summary.dropped,
        "stopped; per-frame: {}",
        stages.join(", ")
    );
    Ok(())
}

/// Bounds glibc's allocator arenas. By default glibc gives threads up to
/// eight arenas per core; memory one short-lived thread freed (a model
/// loaded and dropped, a room's encoder) then sits in its arena while the
/// next thread fills another, and RSS climbs by tens of MiB per effect
/// switch until every arena is full. The daemon allocates almost nothing
/// per frame (`benches/alloc.rs`), so two arenas cost no contention.
/// `MALLOC_ARENA_MAX` in the environment still decides when it is set.
fn bound_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> ExitCode {
    bound_malloc_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            // wgpu's GL probe logs an error on machines whose EGL has no
            // driver even when Vulkan serves; adapter choice itself is
            // reported by the daemon, so that probe's chatter is left out
            // unless RUST_LOG asks for it.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,wgpu_hal::gles=off")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
