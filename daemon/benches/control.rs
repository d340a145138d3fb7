//! How fast a control change reaches the picture: `SetFilter` over D-Bus (a
//! peer-to-peer link to the real interface) on a live pipeline with the demo
//! source, to the first output frame that shows it. Reported in output frames
//! and milliseconds, against two baselines measured in the same run: the
//! frame interval, and the round trip of a plain property read.
//!
//! `cargo bench --bench control` (env BYTEMEET_BENCH_SWITCHES, default 30).

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytemeet_proto::{CameraProxy, OBJECT_PATH};
use bytemeetd::control::dbus::CameraService;
use bytemeetd::control::Hub;
use bytemeetd::frame::{PixelFormat, Size};
use bytemeetd::pipeline::{self, PipelineConfig};
use bytemeetd::settings::gpu::GpuPreference;
use bytemeetd::settings::source::{SourceRequest, SourceSpec};
use bytemeetd::sink::{Demand, FrameSink, SinkError};
use bytemeetd::stats::Stats;
use zbus::proxy::CacheProperties;

const SIZE: Size = Size::new(640, 360);
const FPS: f64 = 30.0;

/// Records, for every frame written, when and whether it is grey.
#[derive(Debug, Clone, Default)]
struct Record(Arc<Mutex<Vec<(Instant, bool)>>>);

impl FrameSink for Record {
    fn describe(&self) -> String {
        "record".into()
    }
    fn format(&self) -> PixelFormat {
        PixelFormat::Yuyv
    }
    fn demand(&self) -> Demand {
        Demand::Always
    }
    fn write(&mut self, frame: &bytemeetd::frame::SharedFrame) -> Result<(), SinkError> {
        // YUYV: chroma bytes are the odd ones; grey means all near 128.
        let grey = frame.data[1..]
            .iter()
            .step_by(2)
            .all(|c| c.abs_diff(128) <= 3);
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((Instant::now(), grey));
        Ok(())
    }
}

fn main() {
    let switches: usize = std::env::var("BYTEMEET_BENCH_SWITCHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let hub = Arc::new(Hub::new(
        Default::default(),
        SourceSpec::Demo,
        Arc::new(Stats::new()),
    ));
    let record = Record::default();
    let shutdown = Arc::new(AtomicBool::new(false));
    let runner = {
        let (hub, record, shutdown) = (hub.clone(), record.clone(), shutdown.clone());
        std::thread::spawn(move || {
            let cfg = PipelineConfig {
                request: SourceRequest {
                    size: SIZE,
                    fps: FPS,
                    format: None,
                },
                frames: None,
                gpu: GpuPreference::Auto,
            };
            pipeline::run(cfg, vec![Box::new(record)], shutdown, hub)
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let frames = |r: &Record| r.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    rt.block_on(async {
        let (a, b) = tokio::net::UnixStream::pair().expect("pair");
        let server = zbus::connection::Builder::unix_stream(a)
            .server(zbus::Guid::generate())
            .expect("guid")
            .p2p()
            .serve_at(OBJECT_PATH, CameraService::new(hub.clone(), None, rooms_of(&hub)))
            .expect("serve")
            .build();
        let client = zbus::connection::Builder::unix_stream(b).p2p().build();
        let (_server, client) = tokio::try_join!(server, client).expect("link");
        let cam = CameraProxy::builder(&client)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .expect("proxy");

        // Cold: the very first effect, GPU warm-up racing (as at daemon start).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let measure = |grey: bool, n0: usize, t0: Instant| {
            let record = record.clone();
            async move {
                loop {
                    let f = frames(&record);
                    if let Some(i) = f[n0..].iter().position(|(_, g)| *g == grey) {
                        let (t, _) = f[n0 + i];
                        return (i, t.duration_since(t0).as_secs_f64() * 1000.0);
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        let n0 = frames(&record).len();
        let t0 = Instant::now();
        cam.set_filter("grayscale").await.expect("set");
        let (cold_frames, cold_ms) = measure(true, n0, t0).await;
        cam.set_filter("none").await.expect("set");
        tokio::time::sleep(Duration::from_secs(3)).await;

        let mut ms = Vec::new();
        let mut late = Vec::new();
        let mut rtt = Vec::new();
        for i in 0..switches {
            let grey = i % 2 == 0;
            // Land at a random point of the frame interval (fixed seed).
            let jitter = (i as u64 * 7919) % 33;
            tokio::time::sleep(Duration::from_millis(150 + jitter)).await;
            let t = Instant::now();
            cam.source().await.expect("get");
            rtt.push(t.elapsed().as_secs_f64() * 1000.0);
            let n0 = frames(&record).len();
            let t0 = Instant::now();
            cam.set_filter(if grey { "grayscale" } else { "none" })
                .await
                .expect("set");
            let (f, m) = measure(grey, n0, t0).await;
            late.push(f as f64);
            ms.push(m);
        }
        let interval = 1000.0 / FPS;
        let (med_ms, max_ms) = (common::median(&mut ms.clone()), ms.iter().cloned().fold(0.0, f64::max));
        let med_late = common::median(&mut late.clone());
        let max_late = late.iter().cloned().fold(0.0, f64::max);
        println!("SetFilter -> first frame showing it, demo source {SIZE} @ {FPS} fps, {switches} switches");
        println!("  cold (first effect, GPU starting): {cold_frames} older frames, {cold_ms:.1} ms");
        println!(
            "  warm: median {med_ms:.1} ms ({:.2} frame intervals), max {max_ms:.1} ms ({:.2})",
            med_ms / interval,
            max_ms / interval
        );
        println!("  older frames written after the call: median {med_late}, max {max_late}");
        println!("RATIO control.set_filter.frame_intervals {:.2}", med_ms / interval);
        println!(
            "  baseline: frame interval {interval:.1} ms; property read round trip median {:.3} ms",
            common::median(&mut rtt)
        );
    });
    shutdown.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = runner.join();
}

/// A rooms service fed by the hub's tap, as `main` makes it.
fn rooms_of(hub: &Arc<Hub>) -> Arc<bytemeetd::room::Rooms> {
    Arc::new(bytemeetd::room::Rooms::new(
        hub.room_tap().clone(),
        hub.stats().clone(),
        30.0,
    ))
}
