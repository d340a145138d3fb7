//! Identity-pipeline cost at 1280x720, against a plain memcpy of the same frame
//! measured in the same run (the baseline every ratio in the README uses).
//!
//! `hop/*` is what the loop adds per frame: source queue hand-over, output
//! conversion (cached per format), output queue hand-over, and the copy into the
//! output's buffer (what the virtual camera's mmap write does).
//! `run/*` drives the real `pipeline::run` threads end to end on a y4m clip.

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

mod common;

use bytemeetd::control::Hub;
use bytemeetd::convert::FrameVariants;
use bytemeetd::frame::{Frame, PixelFormat, SharedFrame, Size};
use bytemeetd::pipeline::{self, PipelineConfig};
use bytemeetd::queue::{FrameQueue, Overflow, Pop};
use bytemeetd::settings::source::{SourceRequest, SourceSpec};
use bytemeetd::source::{demo::DemoSource, FrameSource};
use bytemeetd::stats::Stats;
use common::CopySink;

const SIZE: Size = Size::new(1280, 720);

fn demo_frame(format: PixelFormat) -> Frame {
    let mut d = DemoSource::new(SIZE, 30.0).expect("demo");
    let f = d.next_frame().expect("frame");
    bytemeetd::convert::convert(&f, format).expect("convert")
}

/// One frame through the loop's hand-overs and conversion, single-threaded.
fn hop(
    src_queue: &FrameQueue<Frame>,
    out_queue: &FrameQueue<SharedFrame>,
    frame: Frame,
    out_format: PixelFormat,
    sink_buf: &mut [u8],
) {
    src_queue.push(frame);
    let Pop::Item(f) = src_queue.pop(Some(Duration::ZERO)) else {
        unreachable!("just pushed")
    };
    let mut variants = FrameVariants::new(Arc::new(f));
    out_queue.push(variants.get(out_format).expect("convert"));
    let Pop::Item(out) = out_queue.pop(Some(Duration::ZERO)) else {
        unreachable!("just pushed")
    };
    sink_buf.copy_from_slice(&out.data);
}

fn bench_hops(c: &mut Criterion) {
    let mut g = c.benchmark_group("identity-720p");
    g.throughput(Throughput::Elements(1));
    for (name, from, to) in [
        (
            "yuyv-camera-to-yuyv-vcam",
            PixelFormat::Yuyv,
            PixelFormat::Yuyv,
        ),
        (
            "nv12-camera-to-yuyv-vcam",
            PixelFormat::Nv12,
            PixelFormat::Yuyv,
        ),
        (
            "rgba-source-to-yuyv-vcam",
            PixelFormat::Rgba,
            PixelFormat::Yuyv,
        ),
        (
            "i420-clip-to-yuyv-vcam",
            PixelFormat::I420,
            PixelFormat::Yuyv,
        ),
    ] {
        let input = demo_frame(from);
        let mut sink_buf = vec![0u8; to.frame_len(SIZE.width, SIZE.height)];
        let mut baseline_dst = vec![0u8; input.data.len()];
        g.bench_function(BenchmarkId::new("memcpy-baseline", name), |b| {
            b.iter(|| baseline_dst.copy_from_slice(black_box(&input.data)))
        });
        let src_q = FrameQueue::new(2, Overflow::DropOldest);
        let out_q = FrameQueue::new(2, Overflow::DropOldest);
        g.bench_function(BenchmarkId::new("hop", name), |b| {
            b.iter_batched(
                || input.clone(),
                |f| hop(&src_q, &out_q, f, to, &mut sink_buf),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn bench_run(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let clip = dir.path().join("clip.y4m");
    {
        let f = demo_frame(PixelFormat::I420);
        let mut out = Vec::new();
        let mut enc = y4m::encode(1280, 720, y4m::Ratio::new(30, 1))
            .with_colorspace(y4m::Colorspace::C420jpeg)
            .write_header(&mut out)
            .expect("header");
        let y = SIZE.pixels();
        let (yp, rest) = f.data.split_at(y);
        let (u, v) = rest.split_at(y / 4);
        for _ in 0..30 {
            enc.write_frame(&y4m::Frame::new([yp, u, v], None))
                .expect("frame");
        }
        std::fs::write(&clip, out).expect("write");
    }
    let frames = 60u64;
    let mut g = c.benchmark_group("run-720p");
    g.sample_size(10);
    g.throughput(Throughput::Elements(frames));
    let yuyv = demo_frame(PixelFormat::Yuyv);
    let mut dst = vec![0u8; yuyv.data.len()];
    g.bench_function("memcpy-baseline-60-frames", |b| {
        b.iter(|| {
            for _ in 0..frames {
                dst.copy_from_slice(black_box(&yuyv.data));
            }
        })
    });
    g.bench_function("y4m-clip-to-yuyv-copy-sink-60-frames", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let sink = Box::new(CopySink {
                    buf: vec![0u8; PixelFormat::Yuyv.frame_len(1280, 720)],
                });
                let cfg = PipelineConfig {
                    request: SourceRequest {
                        size: SIZE,
                        fps: 30.0,
                        format: None,
                    },
                    frames: Some(frames),
                    gpu: Default::default(),
                };
                let t = Instant::now();
                pipeline::run(
                    cfg,
                    vec![sink],
                    Arc::new(AtomicBool::new(false)),
                    Arc::new(Hub::new(
                        Default::default(),
                        SourceSpec::File(clip.clone()),
                        Arc::new(Stats::new()),
                    )),
                )
                .expect("run");
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench_hops, bench_run);
criterion_main!(benches);
