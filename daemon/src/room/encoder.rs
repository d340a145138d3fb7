//! A room's encoder thread: takes the newest output picture from the
//! `FrameTap`, encodes it once (VP8) at the lowest bitrate any viewer's
//! congestion control allows (at half size when that starves a full-size
//! picture), and hands the frame to every viewer's peer connection. Its
//! buffers are reused from frame to frame.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use super::peer::Feedback;
use super::{stamp, tap, vp8, EncodedFrame, RoomSettings};
use crate::convert::{FormatPools, FrameVariants};
use crate::frame::{PixelFormat, SharedFrame};
use crate::say_once::SayOnce;
use crate::stats::Stats;

/// Each connected viewer's feedback, by peer id.
pub(super) type Viewers = Arc<Mutex<HashMap<String, Arc<Feedback>>>>;

pub(super) struct EncoderCtx {
    pub(super) reader: tap::TapReader,
    pub(super) frames: broadcast::Sender<Arc<EncodedFrame>>,
    pub(super) keyframe: Arc<AtomicBool>,
    pub(super) viewers: Viewers,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) settings: RoomSettings,
    pub(super) fps: u32,
    pub(super) stats: Arc<Stats>,
    pub(super) room: String,
    pub(super) stamp: bool,
}

/// The bitrate for the room: the lowest of the connected viewers'
/// estimates, within the room's ceiling.
fn room_kbps(estimates_bps: impl Iterator<Item = f64>, max_kbps: u32) -> u32 {
    let lowest = estimates_bps
        .filter(|b| *b > 0.0)
        .fold(f64::INFINITY, f64::min);
    if lowest.is_finite() {
        ((lowest / 1000.0) as u32).clamp(vp8::MIN_KBPS, max_kbps.max(vp8::MIN_KBPS))
    } else {
        max_kbps
    }
}

pub(super) fn encode_loop(ctx: &mut EncoderCtx) {
    let mut encoder: Option<vp8::Encoder> = None;
    let mut scratch = Scratch::default();
    let frame_ms = 1000 / ctx.fps;
    let mut last_taken: Option<Instant> = None;
    let mut half = false;
    let stage = format!("room {} encode", ctx.room);
    let mut problem = SayOnce::new();
    while !*ctx.stop.borrow() {
        let Some(frame) = ctx.reader.next(Duration::from_millis(200)) else {
            continue;
        };
        let estimates: Vec<f64> = {
            let v = ctx.viewers.lock().unwrap_or_else(|p| p.into_inner());
            v.values()
                .filter(|f| f.connected.load(Ordering::Relaxed))
                .map(|f| f.target_bps())
                .collect()
        };
        if estimates.is_empty() {
            // Nobody to send to: no encoding.
            continue;
        }
        crate::inject::panic_if_due(crate::inject::Point::EncoderPanic);
        let t = Instant::now();
        // The RTP clock must follow real time: each frame lasts until the
        // next is taken, whatever the nominal rate (repeats, a slow camera).
        let frame_ms = last_taken.map_or(frame_ms, |at: Instant| {
            (t.saturating_duration_since(at).as_millis() as u32).clamp(1, 1000)
        });
        last_taken = Some(t);
        match encode_one(
            &mut encoder,
            &mut scratch,
            &mut half,
            &frame,
            ctx,
            &estimates,
            frame_ms,
        ) {
            Ok(Some(e)) => {
                // No receiver: every viewer left between the check and now.
                let _ = ctx.frames.send(Arc::new(e));
                problem.clear();
            }
            Ok(None) => {}
            Err(e) => {
                let msg = e.to_string();
                if problem.first(&msg) {
                    tracing::error!(room = %ctx.room, "{msg}");
                }
            }
        }
        ctx.stats.stage(&stage, t.elapsed());
    }
}

/// Below this many bits per pixel and frame the picture is sent at half
/// size (sharper than a full-size picture starved of bits, and at the full
/// frame rate); above `FULL_BPP` at full size again. The gap keeps it from
/// flapping.
const HALF_BPP: f64 = 0.03;
const FULL_BPP: f64 = 0.05;

/// Whether to send a `w`x`h` picture at half size at `kbps`.
fn send_half(half: bool, kbps: u32, w: u32, h: u32, fps: u32) -> bool {
    if w < 640 {
        return false;
    }
    let bpp = f64::from(kbps) * 1000.0 / (f64::from(w) * f64::from(h) * f64::from(fps.max(1)));
    if half {
        bpp < FULL_BPP
    } else {
        bpp < HALF_BPP
    }
}

/// An I420 picture at half width and height (2x2 averages), even sizes.
pub fn halve_i420(src: &[u8], w: u32, h: u32) -> (Vec<u8>, u32, u32) {
    let mut out = Vec::new();
    let (w2, h2) = halve_i420_into(src, w, h, &mut out);
    (out, w2, h2)
}

/// [`halve_i420`] into `out`, whose allocation is reused from frame to frame.
pub fn halve_i420_into(src: &[u8], w: u32, h: u32, out: &mut Vec<u8>) -> (u32, u32) {
    let (w2, h2) = ((w / 2) & !1, (h / 2) & !1);
    out.clear();
    out.reserve((w2 * h2 * 3 / 2) as usize);
    let planes = [
        (0usize, w as usize, w2 as usize, h2 as usize),
        (
            (w * h) as usize,
            (w / 2) as usize,
            (w2 / 2) as usize,
            (h2 / 2) as usize,
        ),
        (
            (w * h + (w / 2) * (h / 2)) as usize,
            (w / 2) as usize,
            (w2 / 2) as usize,
            (h2 / 2) as usize,
        ),
    ];
    for (start, stride, pw, ph) in planes {
        for y in 0..ph {
            let r0 = start + 2 * y * stride;
            let r1 = r0 + stride;
            for x in 0..pw {
                let sum = u16::from(src[r0 + 2 * x])
                    + u16::from(src[r0 + 2 * x + 1])
                    + u16::from(src[r1 + 2 * x])
                    + u16::from(src[r1 + 2 * x + 1]);
                out.push(((sum + 2) / 4) as u8);
            }
        }
    }
    (w2, h2)
}

/// Buffers the encoder thread reuses from frame to frame: the I420
/// conversion's pool and the picture it changes (halved or stamped).
#[derive(Debug, Default)]
struct Scratch {
    pools: FormatPools,
    own: Vec<u8>,
}

fn encode_one(
    encoder: &mut Option<vp8::Encoder>,
    scratch: &mut Scratch,
    half: &mut bool,
    frame: &SharedFrame,
    ctx: &EncoderCtx,
    estimates: &[f64],
    frame_ms: u32,
) -> Result<Option<EncodedFrame>, vp8::VpxError> {
    let (fw, fh) = (frame.size.width & !1, frame.size.height & !1);
    let kbps = room_kbps(estimates.iter().copied(), ctx.settings.max_kbps);
    let was_half = *half;
    *half = (ctx.settings.half_size && fw > 640) || send_half(*half, kbps, fw, fh, ctx.fps);
    if *half != was_half {
        tracing::info!(room = %ctx.room, kbps, half = *half, "picture size follows the bitrate");
    }
    let (w, h) = if *half {
        ((fw / 2) & !1, (fh / 2) & !1)
    } else {
        (fw, fh)
    };
    if encoder
        .as_ref()
        .is_none_or(|e| (e.config().width, e.config().height) != (w, h))
    {
        *encoder = Some(vp8::Encoder::new(vp8::EncoderConfig::new(
            w, h, ctx.fps, kbps,
        ))?);
        ctx.keyframe.store(true, Ordering::Relaxed);
    }
    let Some(enc) = encoder.as_mut() else {
        return Ok(None);
    };
    if enc.config().bitrate_kbps.abs_diff(kbps) * 10 > enc.config().bitrate_kbps {
        tracing::debug!(room = %ctx.room, kbps, "bitrate");
        enc.set_bitrate(kbps)?;
    }
    let i420 = if frame.format == PixelFormat::I420 && frame.size.width == w {
        frame.clone()
    } else {
        FrameVariants::pooled(frame.clone(), scratch.pools.clone())
            .get(PixelFormat::I420)
            .map_err(|e| vp8::VpxError::input(e.to_string()))?
    };
    let key = ctx.keyframe.swap(false, Ordering::Relaxed);
    let own = &mut scratch.own;
    let changed = if *half {
        halve_i420_into(&i420.data, fw, fh, own);
        true
    } else if ctx.stamp {
        own.clear();
        own.extend_from_slice(&i420.data);
        true
    } else {
        false
    };
    if ctx.stamp {
        stamp::draw(own, w, h, stamp::wall_ms(frame.captured_at));
    }
    let picture = if changed { &own[..] } else { &i420.data[..] };
    Ok(enc.encode(picture, frame_ms, key)?.map(|e| EncodedFrame {
        data: bytes::Bytes::from(e.data),
        keyframe: e.keyframe,
        duration: Duration::from_millis(frame_ms.into()),
        captured_at: frame.captured_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_sends_what_its_slowest_viewer_can_take() {
        assert_eq!(room_kbps([].into_iter(), 2500), 2500);
        assert_eq!(room_kbps([3e6, 800e3].into_iter(), 2500), 800);
        assert_eq!(room_kbps([9e6].into_iter(), 2500), 2500);
        assert_eq!(room_kbps([20e3].into_iter(), 2500), vp8::MIN_KBPS);
        // Not yet estimated (0) does not count.
        assert_eq!(room_kbps([0.0, 1.2e6].into_iter(), 2500), 1200);
    }

    #[test]
    fn starved_pictures_go_half_size_and_come_back_with_room_to_spare() {
        // 1280x720 at 30 fps: half below ~830 kbit/s, full again above ~1380.
        assert!(!send_half(false, 2500, 1280, 720, 30));
        assert!(send_half(false, 600, 1280, 720, 30));
        assert!(send_half(true, 1000, 1280, 720, 30), "held in the gap");
        assert!(!send_half(false, 1000, 1280, 720, 30), "held in the gap");
        assert!(!send_half(true, 1500, 1280, 720, 30));
        // Small pictures are never halved.
        assert!(!send_half(false, 100, 320, 180, 30));
    }

    #[test]
    fn halving_averages_each_plane() {
        let (w, h) = (8u32, 4u32);
        let mut p: Vec<u8> = (0..w * h).map(|i| (i % w) as u8 * 10).collect();
        p.extend(std::iter::repeat_n(100u8, (w * h / 4) as usize));
        p.extend(std::iter::repeat_n(200u8, (w * h / 4) as usize));
        let (q, w2, h2) = halve_i420(&p, w, h);
        assert_eq!((w2, h2), (4, 2));
        assert_eq!(q.len(), 12);
        assert_eq!(&q[..4], &[5, 25, 45, 65]);
        assert_eq!(&q[8..10], &[100, 100]);
        assert_eq!(&q[10..], &[200, 200]);
    }
}
