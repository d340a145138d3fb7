//! The virtual camera outputs side by side, at 1280x720 YUYV and 30 fps:
//! what handing a frame to the PipeWire camera costs against a memcpy of the
//! same frame, and the delay from the frame leaving the effects (the sink's
//! `write`) to a reader holding it (median, p99). The v4l2loopback camera is
//! measured in the same run with a V4L2 reader when its module is loaded.
//!
//! PipeWire runs as a private session started here (tests/common), so the
//! figures do not depend on a desktop. The reader is an in-process PipeWire
//! input stream; each frame carries its index in its first 8 bytes.
//!
//! `cargo bench -p bytemeetd --bench outputs [-- --frames N --runs R]`

#[path = "../tests/common/pipewire_session.rs"]
#[allow(dead_code)]
mod pipewire_session;

mod common;
use common::arg;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytemeetd::frame::{Frame, PixelFormat, SharedFrame, Size};
use bytemeetd::sink::FrameSink;
use pipewire as pw;
use pw::spa;

const SIZE: Size = Size {
    width: 1280,
    height: 720,
};
const FPS: f64 = 30.0;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Received frames: index -> when.
type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;

fn index_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// An in-process PipeWire reader of `node`, on its own thread.
fn pipewire_reader(
    node: String,
    arrivals: Arrivals,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mainloop = pw::main_loop::MainLoopRc::new(None).expect("main loop");
        let context = pw::context::ContextRc::new(&mainloop, None).expect("context");
        let core = context.connect_rc(None).expect("connect");
        let stream = pw::stream::StreamRc::new(
            core,
            "bytemeet-bench-reader",
            pw::properties::properties! {
                *pw::keys::MEDIA_TYPE => "Video",
                *pw::keys::MEDIA_CATEGORY => "Capture",
                *pw::keys::MEDIA_ROLE => "Camera",
                "target.object" => node.as_str(),
            },
        )
        .expect("stream");
        let _listener = stream
            .add_local_listener_with_user_data(arrivals)
            .process(|stream, arrivals| {
                if let Some(mut buffer) = stream.dequeue_buffer() {
                    let now = Instant::now();
                    if let Some(d) = buffer.datas_mut().first_mut() {
                        if let Some(i) = d.data().and_then(|b| index_of(b)) {
                            arrivals
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(i, now);
                        }
                    }
                }
            })
            .register()
            .expect("listener");
        let offer = bytemeetd::pipewire::Offer {
            format: PixelFormat::Yuyv,
            size: SIZE,
        };
        let pod = bytemeetd::pipewire::format::enum_format_param(offer, FPS).expect("pod");
        let mut params = [spa::pod::Pod::from_bytes(&pod).expect("pod")];
        stream
            .connect(
                spa::utils::Direction::Input,
                None,
                pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
                &mut params,
            )
            .expect("connect");
        while !stop.load(Ordering::Relaxed) {
            mainloop
                .loop_()
                .iterate(pw::loop_::Timeout::Finite(Duration::from_millis(20)));
        }
    })
}

/// A ring of frames whose first 8 bytes are rewritten with each index.
struct Ring {
    frames: Vec<SharedFrame>,
}

impl Ring {
    fn new() -> Ring {
        let size = PixelFormat::Yuyv.frame_len(SIZE.width, SIZE.height);
        let frames = (0..8)
            .map(|k| {
                let data: Vec<u8> = (0..size).map(|i| (i * 7 + k) as u8).collect();
                Arc::new(Frame::new(SIZE, PixelFormat::Yuyv, data, 0))
            })
            .collect();
        Ring { frames }
    }

    fn next(&mut self, index: u64) -> SharedFrame {
        let slot = &mut self.frames[index as usize % 8];
        if Arc::get_mut(slot).is_none() {
            // Still held by the output: take a fresh copy (outside the timing).
            *slot = Arc::new((**slot).clone());
        }
        let f = Arc::get_mut(slot).expect("unique");
        f.data[..8].copy_from_slice(&index.to_le_bytes());
        f.seq = index;
        slot.clone()
    }
}

/// One output's figures for one run.
#[derive(Debug, Default)]
struct RunFigures {
    /// Mean time the output spends on a frame: the `write` call plus its
    /// own thread's copy into the consumer's buffer (PipeWire).
    cost_us: f64,
    latency_ms: Vec<f64>,
    sent: u64,
    received: usize,
}

/// Sends `frames` paced at FPS through `sink`; arrivals come from a reader.
fn drive(
    sink: &mut dyn FrameSink,
    frames: u64,
    arrivals: &Arrivals,
    extra_ns: impl Fn() -> u64,
) -> RunFigures {
    let mut ring = Ring::new();
    let interval = Duration::from_secs_f64(1.0 / FPS);
    let mut sent_at = HashMap::new();
    let mut write_ns = 0u64;
    let start = Instant::now();
    let extra_before = extra_ns();
    for i in 0..frames {
        let due = start + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let frame = ring.next(i);
        let t = Instant::now();
        if let Err(e) = sink.write(&frame) {
            eprintln!("write: {e}");
        }
        write_ns += t.elapsed().as_nanos() as u64;
        sent_at.insert(i, t);
    }
    std::thread::sleep(Duration::from_millis(300));
    let arrivals = arrivals.lock().unwrap_or_else(|p| p.into_inner());
    let latency_ms: Vec<f64> = arrivals
        .iter()
        .filter_map(|(i, at)| Some(at.duration_since(*sent_at.get(i)?).as_secs_f64() * 1e3))
        .collect();
    let received = latency_ms.len();
    RunFigures {
        cost_us: (write_ns + extra_ns() - extra_before) as f64 / frames as f64 / 1e3,
        latency_ms: sorted(latency_ms),
        sent: frames,
        received,
    }
}

fn memcpy_us(reps: usize) -> f64 {
    let src = vec![7u8; PixelFormat::Yuyv.frame_len(SIZE.width, SIZE.height)];
    let mut dst = vec![0u8; src.len()];
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    percentile(&sorted(times), 0.5)
}

fn pipewire_run(frames: u64) -> RunFigures {
    let name = "bytemeet-bench";
    let mut sink =
        bytemeetd::sink::pipewire::PipeWireSink::start(Some(name), SIZE, PixelFormat::Yuyv, FPS)
            .expect("PipeWire sink");
    let arrivals: Arrivals = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = pipewire_reader(name.into(), arrivals.clone(), stop.clone());
    let node = sink.node_state();
    let deadline = Instant::now() + Duration::from_secs(20);
    while node.consumers.load(Ordering::Relaxed) == 0 || node.negotiated().is_none() {
        assert!(
            Instant::now() < deadline,
            "the reader never linked to the camera"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let node_for_cost = node.clone();
    let figures = drive(&mut sink, frames, &arrivals, move || {
        node_for_cost.fill_ns.load(Ordering::Relaxed)
    });
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    figures
}

/// The v4l2loopback camera with a V4L2 reader, when the module is loaded.
fn loopback_run(frames: u64) -> Option<RunFigures> {
    use bytemeetd::v4l2::discover;
    let devices = discover::list();
    let dev = discover::rank_loopbacks(&devices).first()?.path.clone();
    let mut sink =
        bytemeetd::sink::v4l2::V4l2Sink::open(dev.clone(), SIZE, PixelFormat::Yuyv, FPS).ok()?;
    let arrivals: Arrivals = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (arrivals, stop, dev) = (arrivals.clone(), stop.clone(), dev.clone());
        std::thread::spawn(move || {
            use v4l::io::traits::CaptureStream;
            use v4l::video::Capture;
            let Ok(d) = v4l::Device::with_path(&dev) else {
                return;
            };
            let Ok(f) = d.format() else {
                return;
            };
            let _ = d.set_format(&f);
            let Ok(mut stream) =
                v4l::io::mmap::Stream::with_buffers(&d, v4l::buffer::Type::VideoCapture, 4)
            else {
                return;
            };
            while !stop.load(Ordering::Relaxed) {
                if let Ok((buf, _)) = stream.next() {
                    let now = Instant::now();
                    if let Some(i) = index_of(buf) {
                        arrivals
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(i, now);
                    }
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let figures = drive(&mut sink, frames, &arrivals, || 0);
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    Some(figures)
}

fn spread(values: &[f64]) -> String {
    let v = sorted(values.to_vec());
    format!(
        "{:.2} ({:.2}-{:.2})",
        percentile(&v, 0.5),
        v.first().copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

fn main() {
    let frames = arg("--frames", 300) as u64;
    let runs = arg("--runs", 3);
    let session = pipewire_session::Session::start();
    // libpipewire in this process connects to the private session.
    std::env::set_var("XDG_RUNTIME_DIR", session.path(""));
    std::env::remove_var("PIPEWIRE_REMOTE");

    let mut memcpy = Vec::new();
    let mut pw_runs = Vec::new();
    let mut lb_runs = Vec::new();
    for _ in 0..runs {
        memcpy.push(memcpy_us(200));
        pw_runs.push(pipewire_run(frames));
        if let Some(r) = loopback_run(frames) {
            lb_runs.push(r);
        }
    }
    println!(
        "virtual camera outputs, 1280x720 YUYV at {FPS} fps, {frames} frames a run, {runs} runs; median (min-max over runs)"
    );
    println!("memcpy of one frame (baseline): {} us", spread(&memcpy));
    let report = |name: &str, rs: &[RunFigures]| {
        let cost: Vec<f64> = rs.iter().map(|r| r.cost_us).collect();
        let ratio: Vec<f64> = rs.iter().zip(&memcpy).map(|(r, m)| r.cost_us / m).collect();
        let med: Vec<f64> = rs.iter().map(|r| percentile(&r.latency_ms, 0.5)).collect();
        let p99: Vec<f64> = rs.iter().map(|r| percentile(&r.latency_ms, 0.99)).collect();
        let got: Vec<f64> = rs
            .iter()
            .map(|r| 100.0 * r.received as f64 / r.sent as f64)
            .collect();
        println!("{name}:");
        println!(
            "  cost per frame: {} us = {} x memcpy",
            spread(&cost),
            spread(&ratio)
        );
        println!(
            "  write -> reader latency: median {} ms, p99 {} ms",
            spread(&med),
            spread(&p99)
        );
        println!("  frames received: {} %", spread(&got));
        ratio
    };
    let pw_ratio = report("PipeWire camera (in-process PipeWire reader)", &pw_runs);
    println!(
        "RATIO outputs.pipewire.x_memcpy {:.2}",
        percentile(&sorted(pw_ratio), 0.5)
    );
    if lb_runs.is_empty() {
        println!("v4l2loopback camera: not measured, the module is not loaded on this machine");
    } else {
        let _ = report("v4l2loopback camera (V4L2 mmap reader)", &lb_runs);
    }
}
