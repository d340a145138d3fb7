//! The rooms' video encoder at 1280x720, 30 fps, VP8 real time (the
//! settings a room uses), on one thread:
//!
//! - clean: the demo portrait with its head motion, as a good webcam gives;
//! - noisy: the same with fixed-seed sensor-like noise (±12 levels), as a
//!   dim room gives, which costs the encoder most;
//! - at 2500 kbps (the default ceiling) and 600 kbps (a congested viewer),
//!   where a room sends the picture at half size ("/2").
//!
//! "Per frame" is what a room pays for a frame it sends: the effects'
//! RGBA frame converted to I420 (halved for "/2") and encoded. Medians and
//! p95 are over the frames the encoder actually sent; frames its rate
//! control dropped are counted apart (they cost the conversion and a quick
//! refusal). Quality is the PSNR of each sent frame, decoded by libvpx,
//! against the I420 picture it was made from (luma, and the three planes
//! weighted 4:1:1), averaged over the sent frames.
//!
//! The baseline in the same run: a memcpy of the RGBA frame, so the
//! figures read as ratios.
//!
//! Run: `cargo bench -p bytemeetd --bench rooms` (`-- --frames N` for fewer
//! frames; `cargo test -p bytemeetd --bench rooms -- --frames 60` runs the
//! test build as CI does).

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemeetd::convert::FrameVariants;
use bytemeetd::frame::{Frame, PixelFormat, Size};
use bytemeetd::room::halve_i420;
use bytemeetd::room::vp8::{Decoder, Encoder, EncoderConfig};
use bytemeetd::source::{demo::DemoSource, FrameSource};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn quantile(v: &[Duration], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort();
    ms(v[((v.len() - 1) as f64 * q).round() as usize])
}

/// Peak signal-to-noise ratio of two planes, in dB (99 when identical).
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let se: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = i64::from(x) - i64::from(y);
            (d * d) as u64
        })
        .sum();
    if se == 0 {
        return 99.0;
    }
    let mse = se as f64 / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// Luma PSNR and the planes' PSNR weighted 4:1:1, of an I420 picture.
fn psnr_i420(a: &[u8], b: &[u8], w: u32, h: u32) -> (f64, f64) {
    let luma = (w * h) as usize;
    let chroma = luma / 4;
    let y = psnr(&a[..luma], &b[..luma]);
    let u = psnr(&a[luma..luma + chroma], &b[luma..luma + chroma]);
    let v = psnr(&a[luma + chroma..], &b[luma + chroma..]);
    (y, (4.0 * y + u + v) / 6.0)
}

fn main() {
    let frames = common::arg("--frames", 150);
    let size = Size::new(1280, 720);
    let mut demo = DemoSource::new(size, 30.0).expect("demo");
    let clean: Vec<Arc<Frame>> = (0..frames)
        .map(|_| Arc::new(demo.next_frame().expect("frame")))
        .collect();
    let mut seed = 0x853c_49e6_748f_ea9b_u64;
    let noisy: Vec<Arc<Frame>> = clean
        .iter()
        .map(|f| {
            let mut data = f.data.to_vec();
            for px in data.chunks_exact_mut(4) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let n = (seed % 25) as i32 - 12;
                for c in &mut px[..3] {
                    *c = (i32::from(*c) + n).clamp(0, 255) as u8;
                }
            }
            Arc::new(Frame::new(size, PixelFormat::Rgba, data, f.seq))
        })
        .collect();
    let mut copy_times = Vec::new();
    let mut sink = vec![0u8; clean[0].data.len()];
    for f in &clean {
        let t = Instant::now();
        sink.copy_from_slice(black_box(&f.data));
        black_box(&sink);
        copy_times.push(t.elapsed());
    }
    let copy = quantile(&copy_times, 0.5);
    println!("{frames} frames at {size}, 30 fps; baseline: RGBA memcpy {copy:.3} ms per frame");
    println!(
        "{:<8} {:>6} {:>11} {:>8} {:>9} {:>8} {:>5} {:>6} {:>8} {:>8}",
        "input", "kbps", "per frame", "p95", "x memcpy", "kbit/s", "sent", "drops", "PSNR Y", "YUV"
    );
    let full = (size.width, size.height);
    let half = ((size.width / 2) & !1, (size.height / 2) & !1);
    for (name, input, (w, h), rates) in [
        ("clean", &clean, full, &[2500, 600][..]),
        ("noisy", &noisy, full, &[2500, 600][..]),
        ("clean/2", &clean, half, &[600][..]),
        ("noisy/2", &noisy, half, &[600][..]),
    ] {
        for &kbps in rates {
            let mut enc = Encoder::new(EncoderConfig::new(w, h, 30, kbps)).expect("enc");
            let mut dec = Decoder::new().expect("dec");
            let (mut sent_times, mut drop_times) = (Vec::new(), Vec::new());
            let (mut bytes, mut psnr_y, mut psnr_all) = (0usize, 0.0, 0.0);
            for (i, f) in input.iter().enumerate() {
                let t = Instant::now();
                let i420 = FrameVariants::new(f.clone())
                    .get(PixelFormat::I420)
                    .expect("i420");
                let picture = if (w, h) == full {
                    i420.data.to_vec()
                } else {
                    halve_i420(&i420.data, size.width, size.height).0
                };
                let out = enc.encode(&picture, 33, i == 0).expect("encode");
                let took = t.elapsed();
                let Some(e) = out else {
                    drop_times.push(took);
                    continue;
                };
                sent_times.push(took);
                bytes += e.data.len();
                let d = dec.decode(&e.data).expect("decode").expect("a picture");
                assert_eq!((d.width, d.height), (w, h));
                let (y, all) = psnr_i420(&picture, &d.i420, w, h);
                psnr_y += y;
                psnr_all += all;
            }
            let sent = sent_times.len();
            let kbit_s = bytes as f64 * 8.0 / (frames as f64 / 30.0) / 1000.0;
            let m = quantile(&sent_times, 0.5);
            println!(
                "{name:<8} {kbps:>6} {:>8.2} ms {:>5.2} ms {:>9.0} {kbit_s:>8.0} {sent:>5} {:>6} {:>5.1} dB {:>5.1} dB",
                m,
                quantile(&sent_times, 0.95),
                m / copy,
                drop_times.len(),
                psnr_y / sent as f64,
                psnr_all / sent as f64,
            );
            println!(
                "RATIO rooms.{}.{kbps}.x_memcpy {:.2}",
                name.replace("/2", "_half"),
                m / copy
            );
        }
    }
}
