//! VP8 encoding with libvpx (Debian's `libvpx`, through `env-libvpx-sys`):
//! real-time, constant bitrate, no look-ahead, keyframes on request. The
//! bitrate can change between frames (congestion control drives it). A
//! decoder sits beside it for tests and checks.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::c_int;
use std::ptr;

use vpx_sys as vpx;

/// Why libvpx refused.
#[derive(Debug, thiserror::Error)]
#[error("VP8 {what}: {reason}")]
pub struct VpxError {
    what: &'static str,
    reason: String,
}

impl VpxError {
    /// A picture the encoder cannot take.
    pub fn input(reason: String) -> Self {
        VpxError {
            what: "input",
            reason,
        }
    }
}

fn check(what: &'static str, err: vpx::vpx_codec_err_t) -> Result<(), VpxError> {
    if err == vpx::VPX_CODEC_OK {
        return Ok(());
    }
    // SAFETY: vpx_codec_err_to_string returns a static C string for any code.
    let reason = unsafe { CStr::from_ptr(vpx::vpx_codec_err_to_string(err)) }
        .to_string_lossy()
        .into_owned();
    Err(VpxError { what, reason })
}

/// A codec context on the heap (libvpx keeps pointers into it), set up by
/// `init`; it is only taken as initialised when `init` succeeds.
fn new_context(
    what: &'static str,
    init: impl FnOnce(*mut vpx::vpx_codec_ctx_t) -> vpx::vpx_codec_err_t,
) -> Result<Box<vpx::vpx_codec_ctx_t>, VpxError> {
    let mut ctx = Box::new(MaybeUninit::<vpx::vpx_codec_ctx_t>::zeroed());
    check(what, init(ctx.as_mut_ptr()))?;
    // SAFETY: init succeeded, so the context is initialised; MaybeUninit<T>
    // has T's layout.
    Ok(unsafe { Box::from_raw(Box::into_raw(ctx).cast::<vpx::vpx_codec_ctx_t>()) })
}

/// How the encoder is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// libvpx's speed/quality trade-off for real time, -16..16; higher is
    /// faster.
    pub cpu_used: i32,
    pub threads: u32,
}

impl EncoderConfig {
    pub fn new(width: u32, height: u32, fps: u32, bitrate_kbps: u32) -> Self {
        EncoderConfig {
            width,
            height,
            fps: fps.max(1),
            bitrate_kbps: bitrate_kbps.max(MIN_KBPS),
            cpu_used: 16,
            threads: 1,
        }
    }
}

/// The encoder never goes below this, whatever the estimate says.
pub const MIN_KBPS: u32 = 100;

/// One encoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

/// A VP8 encoder for one size.
pub struct Encoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    cfg: Box<vpx::vpx_codec_enc_cfg_t>,
    config: EncoderConfig,
    pts: i64,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

// SAFETY: the codec context is used from one thread at a time (`&mut self`)
// and libvpx keeps no thread-local state.
unsafe impl Send for Encoder {}

impl Encoder {
    pub fn new(config: EncoderConfig) -> Result<Self, VpxError> {
        if config.width == 0
            || config.height == 0
            || config.width % 2 == 1
            || config.height % 2 == 1
        {
            return Err(VpxError {
                what: "size",
                reason: format!(
                    "{}x{}: width and height must be even and not zero",
                    config.width, config.height
                ),
            });
        }
        // SAFETY: the iface is a static; the cfg is fully written by
        // vpx_codec_enc_config_default before it is read.
        let mut cfg = unsafe {
            let mut cfg = Box::new(MaybeUninit::<vpx::vpx_codec_enc_cfg_t>::zeroed());
            check(
                "config",
                vpx::vpx_codec_enc_config_default(vpx::vpx_codec_vp8_cx(), cfg.as_mut_ptr(), 0),
            )?;
            Box::from_raw(Box::into_raw(cfg).cast::<vpx::vpx_codec_enc_cfg_t>())
        };
        cfg.g_w = config.width;
        cfg.g_h = config.height;
        cfg.g_timebase = vpx::vpx_rational { num: 1, den: 1000 };
        cfg.g_threads = config.threads;
        cfg.g_lag_in_frames = 0;
        cfg.g_error_resilient = 1;
        cfg.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = config.bitrate_kbps;
        cfg.rc_min_quantizer = 4;
        cfg.rc_max_quantizer = 63;
        cfg.rc_undershoot_pct = 50;
        cfg.rc_overshoot_pct = 50;
        cfg.rc_buf_sz = 1000;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        // Frames may be dropped by the rate control under congestion
        // rather than overshoot.
        cfg.rc_dropframe_thresh = 25;
        // Keyframes come when a viewer asks; one every 10 s at least keeps
        // a viewer that lost its request from waiting long.
        cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_max_dist = config.fps * 10;
        let ctx = new_context("init", |ctx| {
            // SAFETY: ctx is writable memory for a context; cfg is valid.
            unsafe {
                vpx::vpx_codec_enc_init_ver(
                    ctx,
                    vpx::vpx_codec_vp8_cx(),
                    &*cfg,
                    0,
                    vpx::VPX_ENCODER_ABI_VERSION as c_int,
                )
            }
        })?;
        let mut enc = Encoder {
            ctx,
            cfg,
            config,
            pts: 0,
        };
        // SAFETY: an initialised context and a control this codec knows.
        unsafe {
            check(
                "cpu-used",
                vpx::vpx_codec_control_(
                    &mut *enc.ctx,
                    vpx::vp8e_enc_control_id::VP8E_SET_CPUUSED as c_int,
                    config.cpu_used as c_int,
                ),
            )?;
            // Screen-like static areas cost nothing: skip unchanged blocks.
            check(
                "static threshold",
                vpx::vpx_codec_control_(
                    &mut *enc.ctx,
                    vpx::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD as c_int,
                    1 as c_int,
                ),
            )?;
        }
        Ok(enc)
    }

    pub fn config(&self) -> EncoderConfig {
        self.config
    }

    /// Changes the target bitrate from the next frame on.
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), VpxError> {
        let kbps = kbps.max(MIN_KBPS);
        if kbps == self.config.bitrate_kbps {
            return Ok(());
        }
        self.cfg.rc_target_bitrate = kbps;
        // SAFETY: an initialised context and a config derived from its own.
        check("bitrate", unsafe {
            vpx::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg)
        })?;
        self.config.bitrate_kbps = kbps;
        Ok(())
    }

    /// Encodes one I420 picture (Y, then U, then V, tightly packed) shown
    /// for `duration_ms`. Returns `None` when rate control dropped it.
    pub fn encode(
        &mut self,
        i420: &[u8],
        duration_ms: u32,
        keyframe: bool,
    ) -> Result<Option<Encoded>, VpxError> {
        let (w, h) = (self.config.width, self.config.height);
        let need = (w * h + 2 * (w / 2) * (h / 2)) as usize;
        if i420.len() != need {
            return Err(VpxError {
                what: "input",
                reason: format!(
                    "{} bytes for a {w}x{h} I420 picture, want {need}",
                    i420.len()
                ),
            });
        }
        let mut img = MaybeUninit::<vpx::vpx_image_t>::zeroed();
        // SAFETY: vpx_img_wrap only records the pointer; the image is read
        // during vpx_codec_encode while `i420` is borrowed, never written.
        let img = unsafe {
            let p = vpx::vpx_img_wrap(
                img.as_mut_ptr(),
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                w,
                h,
                1,
                i420.as_ptr().cast_mut(),
            );
            if p.is_null() {
                return Err(VpxError {
                    what: "input",
                    reason: "libvpx cannot wrap the picture".into(),
                });
            }
            img.assume_init()
        };
        let flags = if keyframe {
            vpx::VPX_EFLAG_FORCE_KF as vpx::vpx_enc_frame_flags_t
        } else {
            0
        };
        let duration = duration_ms.max(1);
        // SAFETY: context initialised; img valid for the call.
        check("encode", unsafe {
            vpx::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                self.pts,
                duration.into(),
                flags,
                vpx::VPX_DL_REALTIME.into(),
            )
        })?;
        self.pts += i64::from(duration);
        let mut out: Option<Encoded> = None;
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: iterating the packets of the frame just encoded; each
            // packet is valid until the next call on the context.
            let pkt = unsafe { vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: pkt is non-null and points at a packet libvpx owns.
            let pkt = unsafe { &*pkt };
            if pkt.kind != vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: for frame packets the `frame` member is the live one
            // and buf/sz describe its bytes.
            let (data, key) = unsafe {
                let f = pkt.data.frame;
                (
                    std::slice::from_raw_parts(f.buf.cast::<u8>(), f.sz as usize),
                    f.flags & vpx::VPX_FRAME_IS_KEY != 0,
                )
            };
            match &mut out {
                Some(e) => {
                    e.data.extend_from_slice(data);
                    e.keyframe |= key;
                }
                None => {
                    out = Some(Encoded {
                        data: data.to_vec(),
                        keyframe: key,
                    })
                }
            }
        }
        Ok(out)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed once.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A VP8 decoder, for checks: what a viewer would see.
pub struct Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

// SAFETY: as for the encoder.
unsafe impl Send for Decoder {}

/// A decoded picture: size and its I420 planes, tightly packed.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub i420: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Result<Self, VpxError> {
        let ctx = new_context("decoder init", |ctx| {
            // SAFETY: writable memory for a context; no config (defaults).
            unsafe {
                vpx::vpx_codec_dec_init_ver(
                    ctx,
                    vpx::vpx_codec_vp8_dx(),
                    ptr::null(),
                    0,
                    vpx::VPX_DECODER_ABI_VERSION as c_int,
                )
            }
        })?;
        Ok(Decoder { ctx })
    }

    /// Decodes one frame's bytes.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<Decoded>, VpxError> {
        // SAFETY: context initialised; data valid for the call.
        check("decode", unsafe {
            vpx::vpx_codec_decode(
                &mut *self.ctx,
                data.as_ptr(),
                data.len() as _,
                ptr::null_mut(),
                0,
            )
        })?;
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        // SAFETY: the image is valid until the next decode call; it is
        // copied out before that.
        let img = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
        if img.is_null() {
            return Ok(None);
        }
        // SAFETY: non-null image from libvpx, I420 for VP8.
        let img = unsafe { &*img };
        let (w, h) = (img.d_w, img.d_h);
        let mut i420 = Vec::with_capacity((w * h * 3 / 2) as usize);
        for (plane, pw, ph) in [(0, w, h), (1, w / 2, h / 2), (2, w / 2, h / 2)] {
            for row in 0..ph {
                // SAFETY: rows within the plane, stride from libvpx.
                let line = unsafe {
                    std::slice::from_raw_parts(
                        img.planes[plane].offset(row as isize * img.stride[plane] as isize),
                        pw as usize,
                    )
                };
                i420.extend_from_slice(line);
            }
        }
        Ok(Some(Decoded {
            width: w,
            height: h,
            i420,
        }))
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A moving gradient with a bright square, deterministic per frame.
    fn picture(w: u32, h: u32, t: u32) -> Vec<u8> {
        let mut p = vec![0u8; (w * h * 3 / 2) as usize];
        for y in 0..h {
            for x in 0..w {
                let inside = x.abs_diff(20 + 3 * t) < 16 && y.abs_diff(h / 2) < 16;
                p[(y * w + x) as usize] = if inside {
                    235
                } else {
                    ((x + y + t) % 200) as u8
                };
            }
        }
        let chroma = (w * h) as usize;
        for (i, v) in p[chroma..].iter_mut().enumerate() {
            *v = if i < chroma / 4 { 90 } else { 170 };
        }
        p
    }

    fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x.abs_diff(*y)))
            .sum::<f64>()
            / a.len() as f64
    }

    #[test]
    fn frames_round_trip_through_the_decoder() {
        let (w, h) = (160, 96);
        let mut enc = Encoder::new(EncoderConfig::new(w, h, 30, 800)).expect("encoder");
        let mut dec = Decoder::new().expect("decoder");
        let mut keys = Vec::new();
        for t in 0..30 {
            let src = picture(w, h, t);
            let e = enc
                .encode(&src, 33, t == 20)
                .expect("encode")
                .expect("a frame at this rate");
            keys.push(e.keyframe);
            let d = dec.decode(&e.data).expect("decode").expect("a picture");
            assert_eq!((d.width, d.height), (w, h));
            let diff = mean_abs_diff(&d.i420[..(w * h) as usize], &src[..(w * h) as usize]);
            assert!(
                diff < 6.0,
                "frame {t}: luma differs by {diff:.2} on average"
            );
        }
        assert!(keys[0], "the first frame is a keyframe");
        assert!(keys[20], "a requested keyframe is one");
        assert_eq!(keys.iter().filter(|k| **k).count(), 2, "{keys:?}");
    }

    #[test]
    fn the_bitrate_follows_the_target() {
        let (w, h) = (320, 192);
        // Noise (a fixed-seed generator) needs every bit it is given.
        let noisy = |t: u32| {
            let mut p = picture(w, h, t);
            let mut x = 0x2545_f491_u32.wrapping_mul(t + 1);
            for v in p.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *v = v.wrapping_add((x % 64) as u8);
            }
            p
        };
        let size_at = |kbps: u32| {
            let mut enc = Encoder::new(EncoderConfig::new(w, h, 30, kbps)).expect("encoder");
            (0..60)
                .filter_map(|t| enc.encode(&noisy(t), 33, false).expect("encode"))
                .skip(10)
                .map(|e| e.data.len())
                .sum::<usize>()
        };
        let low = size_at(150);
        let high = size_at(1500);
        assert!(
            high > 2 * low,
            "1500 kbps gave {high} bytes, 150 kbps {low}"
        );
        let mut enc = Encoder::new(EncoderConfig::new(w, h, 30, 1500)).expect("encoder");
        enc.set_bitrate(20).expect("set");
        assert_eq!(enc.config().bitrate_kbps, MIN_KBPS);
    }

    #[test]
    fn bad_sizes_and_inputs_are_refused() {
        assert!(Encoder::new(EncoderConfig::new(0, 10, 30, 500)).is_err());
        assert!(Encoder::new(EncoderConfig::new(161, 96, 30, 500)).is_err());
        let mut enc = Encoder::new(EncoderConfig::new(16, 16, 30, 500)).expect("encoder");
        let err = enc.encode(&[0; 10], 33, false).expect_err("short input");
        assert!(err.to_string().contains("want 384"), "{err}");
        let mut dec = Decoder::new().expect("decoder");
        assert!(dec.decode(b"not vp8 at all").is_err());
    }
}
