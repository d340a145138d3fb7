//! The rooms' video encoder at 1280x720, 30 fps, VP8 real time (the
//! settings a room uses), on one thread:
//!
//! - clean: the demo portrait with its head motion, as a good webcam gives;
//! - noisy: the same with fixed-seed sensor-like noise (±12 levels), as a
//!   dim room gives, which costs the encoder most;
//! - at 2500 kbps (the default ceiling) and 600 kbps (a congested viewer),
//!   where a room sends the picture at half size ("/2");
//! - the baseline in the same run: a memcpy of the I420 frame and the RGBA
//!   to I420 conversion every room frame already pays, so figures read as
//!   ratios.
//!
//! Run: `cargo bench -p bytemeetd --bench rooms`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemeetd::convert::FrameVariants;
use bytemeetd::frame::{PixelFormat, Size};
use bytemeetd::room::halve_i420;
use bytemeetd::room::vp8::{Encoder, EncoderConfig};
use bytemeetd::source::{demo::DemoSource, FrameSource};

const FRAMES: usize = 150;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn p95(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() * 95 / 100].as_secs_f64() * 1e3
}

fn main() {
    let size = Size::new(1280, 720);
    let mut demo = DemoSource::new(size, 30.0).expect("demo");
    let mut convert_times = Vec::new();
    let clean: Vec<Vec<u8>> = (0..FRAMES)
        .map(|_| {
            let f = Arc::new(demo.next_frame().expect("frame"));
            let t = Instant::now();
            let i420 = FrameVariants::new(f)
                .get(PixelFormat::I420)
                .expect("i420")
                .data
                .to_vec();
            convert_times.push(t.elapsed());
            i420
        })
        .collect();
    let mut seed = 0x853c_49e6_748f_ea9b_u64;
    let noisy: Vec<Vec<u8>> = clean
        .iter()
        .map(|f| {
            let mut f = f.clone();
            let luma = (size.width * size.height) as usize;
            for v in &mut f[..luma] {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *v = (i32::from(*v) + (seed % 25) as i32 - 12).clamp(0, 255) as u8;
            }
            f
        })
        .collect();
    let mut copy_times = Vec::new();
    let mut sink = vec![0u8; clean[0].len()];
    for f in &clean {
        let t = Instant::now();
        sink.copy_from_slice(black_box(f));
        black_box(&sink);
        copy_times.push(t.elapsed());
    }
    let copy = median(copy_times);
    let convert = median(convert_times);
    println!("baseline: I420 memcpy {copy:.3} ms, RGBA->I420 {convert:.2} ms per 1280x720 frame");
    println!(
        "{:<8} {:>6} {:>12} {:>10} {:>10} {:>10} {:>8}",
        "input", "kbps", "encode (ms)", "p95 (ms)", "x memcpy", "kbit/s out", "fps out"
    );
    // What a room sends when the bitrate is low: the picture at half size.
    let halve = |frames: &Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        frames
            .iter()
            .map(|f| halve_i420(f, size.width, size.height).0)
            .collect()
    };
    let (clean_half, noisy_half) = (halve(&clean), halve(&noisy));
    let full = (size.width, size.height);
    let half = (size.width / 2, size.height / 2);
    for (name, frames, (w, h), rates) in [
        ("clean", &clean, full, &[2500, 600][..]),
        ("noisy", &noisy, full, &[2500, 600][..]),
        ("clean/2", &clean_half, half, &[600][..]),
        ("noisy/2", &noisy_half, half, &[600][..]),
    ] {
        for &kbps in rates {
            let mut enc = Encoder::new(EncoderConfig::new(w, h, 30, kbps)).expect("enc");
            let mut times = Vec::new();
            let mut bytes = 0usize;
            let mut sent = 0usize;
            for (i, f) in frames.iter().enumerate() {
                let t = Instant::now();
                let out = enc.encode(f, 33, i == 0).expect("encode");
                times.push(t.elapsed());
                if let Some(e) = out {
                    bytes += e.data.len();
                    sent += 1;
                }
            }
            let kbit_s = bytes as f64 * 8.0 / (FRAMES as f64 / 30.0) / 1000.0;
            let m = median(times.clone());
            println!(
                "{name:<8} {kbps:>6} {m:>12.2} {:>10.2} {:>10.0} {kbit_s:>10.0} {:>8.1}",
                p95(times),
                m / copy,
                sent as f64 * 30.0 / FRAMES as f64
            );
        }
    }
}
