//! The GPU effect chain at 1280x720 on whatever adapter `auto` picks (Mesa
//! lavapipe on a machine without a GPU), per frame: upload YUYV -> unpack ->
//! filter -> pack YUYV -> readback. Baselines in the same run: a memcpy of the
//! frame, the same chain with no filter, and the CPU twin of each filter.
//! Prints a skip line and measures nothing where no adapter exists.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use bytemeetd::convert;
use bytemeetd::frame::{Frame, PixelFormat, Size};
use bytemeetd::gpu::engine::GpuEngine;
use bytemeetd::gpu::filters::{self, FilterSpec};
use bytemeetd::gpu::{reference, GpuContext, GpuPreference};
use bytemeetd::source::{demo::DemoSource, FrameSource};

const SIZE: Size = Size::new(1280, 720);

fn bench_chain(c: &mut Criterion) {
    let mut engine = match GpuContext::new(GpuPreference::Auto).and_then(GpuEngine::new) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter ({e})");
            return;
        }
    };
    eprintln!("adapter: {}", engine.adapter());
    let rgba = DemoSource::new(SIZE, 30.0)
        .expect("demo")
        .next_frame()
        .expect("frame");
    let yuyv = convert::convert(&rgba, PixelFormat::Yuyv).expect("yuyv");
    let mut g = c.benchmark_group("gpu-720p");
    g.sample_size(20);
    let mut dst = vec![0u8; yuyv.data.len()];
    g.bench_function("memcpy-baseline", |b| {
        b.iter(|| dst.copy_from_slice(black_box(&yuyv.data)))
    });
    g.bench_function("chain-no-filter", |b| {
        b.iter(|| {
            engine
                .process(black_box(&yuyv), None, 0, PixelFormat::Yuyv)
                .expect("gpu")
        })
    });
    for name in ["grayscale", "toon", "vhs"] {
        let spec: FilterSpec = name.parse().expect("spec");
        g.bench_function(BenchmarkId::new("chain", name), |b| {
            b.iter(|| {
                engine
                    .process(black_box(&yuyv), Some(&spec), 0, PixelFormat::Yuyv)
                    .expect("gpu")
            })
        });
        let info = filters::find(name).expect("known");
        let p = spec.values(info);
        g.bench_function(BenchmarkId::new("cpu-twin", name), |b| {
            b.iter(|| {
                let out = reference::apply(
                    info.id,
                    p,
                    0,
                    black_box(&rgba.data),
                    SIZE.width,
                    SIZE.height,
                    None,
                );
                black_box(Frame::new(SIZE, PixelFormat::Rgba, out, 0))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_chain);
criterion_main!(benches);
