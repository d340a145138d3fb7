//! Pixel-format conversion and scaling on the CPU (BT.601, limited range, as webcams send).
//!
//! Conversions go through `yuvutils-rs` (SIMD) and scaling through `fast_image_resize`.
//! Every YUV <-> YUV path that has a direct routine uses it; the rest go through RGBA.

use std::collections::HashMap;
use std::sync::Arc;

use fast_image_resize as fir;
use yuvutils_rs::{
    BufferStoreMut, YuvBiPlanarImage, YuvBiPlanarImageMut, YuvConversionMode, YuvError,
    YuvPackedImage, YuvPackedImageMut, YuvPlanarImage, YuvPlanarImageMut, YuvRange,
    YuvStandardMatrix,
};

use crate::frame::{Frame, FrameBuf, FramePool, PixelFormat, SharedFrame, Size};

const RANGE: YuvRange = YuvRange::Limited;
const MATRIX: YuvStandardMatrix = YuvStandardMatrix::Bt601;
const MODE: YuvConversionMode = YuvConversionMode::Balanced;

/// Why a conversion could not run.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("frame of {got} bytes is too short for {format} {size} ({want} bytes)")]
    ShortBuffer {
        format: PixelFormat,
        size: Size,
        got: usize,
        want: usize,
    },
    #[error("pixel conversion failed: {0}")]
    Yuv(#[from] YuvError),
    #[error("scaling failed: {0}")]
    Resize(String),
}

fn planes_420(data: &[u8], size: Size) -> (&[u8], &[u8], &[u8]) {
    let y_len = size.pixels();
    let c_len = y_len / 4;
    let (y, rest) = data.split_at(y_len);
    let (u, v) = rest.split_at(c_len);
    (y, u, &v[..c_len])
}

fn planes_420_mut(data: &mut [u8], size: Size) -> YuvPlanarImageMut<'_, u8> {
    let y_len = size.pixels();
    let c_len = y_len / 4;
    let (y, rest) = data.split_at_mut(y_len);
    let (u, v) = rest.split_at_mut(c_len);
    YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: size.width,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: size.width / 2,
        v_plane: BufferStoreMut::Borrowed(&mut v[..c_len]),
        v_stride: size.width / 2,
        width: size.width,
        height: size.height,
    }
}

/// Converts `src` (of `src_format`) into `dst` (of `dst_format`), both `size`.
/// `dst` must already have the destination's length.
pub fn convert_into(
    src: &[u8],
    src_format: PixelFormat,
    dst: &mut [u8],
    dst_format: PixelFormat,
    size: Size,
) -> Result<(), ConvertError> {
    let want = src_format.frame_len(size.width, size.height);
    if src.len() < want {
        return Err(ConvertError::ShortBuffer {
            format: src_format,
            size,
            got: src.len(),
            want,
        });
    }
    let (w, h) = (size.width, size.height);
    use PixelFormat::*;
    match (src_format, dst_format) {
        (a, b) if a == b => dst.copy_from_slice(&src[..want]),
        (Yuyv, Rgba) => {
            let packed = YuvPackedImage {
                yuy: src,
                yuy_stride: w * 2,
                width: w,
                height: h,
            };
            yuvutils_rs::yuyv422_to_rgba(&packed, dst, w * 4, RANGE, MATRIX)?;
        }
        (Nv12, Rgba) => {
            let (y, uv) = src.split_at(size.pixels());
            let img = YuvBiPlanarImage {
                y_plane: y,
                y_stride: w,
                uv_plane: uv,
                uv_stride: w,
                width: w,
                height: h,
            };
            yuvutils_rs::yuv_nv12_to_rgba(&img, dst, w * 4, RANGE, MATRIX, MODE)?;
        }
        (I420, Rgba) => {
            let (y, u, v) = planes_420(src, size);
            let img = YuvPlanarImage {
                y_plane: y,
                y_stride: w,
                u_plane: u,
                u_stride: w / 2,
                v_plane: v,
                v_stride: w / 2,
                width: w,
                height: h,
            };
            yuvutils_rs::yuv420_to_rgba(&img, dst, w * 4, RANGE, MATRIX)?;
        }
        (Rgba, Yuyv) => {
            // RGBA -> planar 4:2:2 -> packed YUYV.
            let mut planar =
                YuvPlanarImageMut::<u8>::alloc(w, h, yuvutils_rs::YuvChromaSubsampling::Yuv422);
            yuvutils_rs::rgba_to_yuv422(&mut planar, src, w * 4, RANGE, MATRIX, MODE)?;
            let mut packed = YuvPackedImageMut {
                yuy: BufferStoreMut::Borrowed(dst),
                yuy_stride: w * 2,
                width: w,
                height: h,
            };
            yuvutils_rs::yuv422_to_yuyv422(&mut packed, &planar.to_fixed())?;
        }
        (Rgba, Nv12) => {
            let (y, uv) = dst.split_at_mut(size.pixels());
            let mut img = YuvBiPlanarImageMut {
                y_plane: BufferStoreMut::Borrowed(y),
                y_stride: w,
                uv_plane: BufferStoreMut::Borrowed(uv),
                uv_stride: w,
                width: w,
                height: h,
            };
            yuvutils_rs::rgba_to_yuv_nv12(&mut img, src, w * 4, RANGE, MATRIX, MODE)?;
        }
        (Rgba, I420) => {
            let mut img = planes_420_mut(dst, size);
            yuvutils_rs::rgba_to_yuv420(&mut img, src, w * 4, RANGE, MATRIX, MODE)?;
        }
        (Yuyv, I420) => {
            // Luma copies across; each chroma sample averages the two rows it covers.
            let c_len = size.pixels() / 4;
            let (dy, rest) = dst.split_at_mut(size.pixels());
            let (du, dv) = rest.split_at_mut(c_len);
            let row = w as usize * 2;
            let cw = w as usize / 2;
            for r in 0..h as usize / 2 {
                let top = &src[2 * r * row..(2 * r + 1) * row];
                let bottom = &src[(2 * r + 1) * row..(2 * r + 2) * row];
                for (i, (t, b)) in top.chunks_exact(4).zip(bottom.chunks_exact(4)).enumerate() {
                    dy[2 * r * w as usize + 2 * i] = t[0];
                    dy[2 * r * w as usize + 2 * i + 1] = t[2];
                    dy[(2 * r + 1) * w as usize + 2 * i] = b[0];
                    dy[(2 * r + 1) * w as usize + 2 * i + 1] = b[2];
                    du[r * cw + i] = (t[1] as u16 + b[1] as u16).div_ceil(2) as u8;
                    dv[r * cw + i] = (t[3] as u16 + b[3] as u16).div_ceil(2) as u8;
                }
            }
        }
        (I420, Yuyv) => {
            // Each chroma row serves the two luma rows below it.
            let (y, u, v) = planes_420(src, size);
            let (wu, cw) = (w as usize, w as usize / 2);
            for (r, out) in dst.chunks_exact_mut(wu * 2).enumerate() {
                let (yr, cr) = (&y[r * wu..(r + 1) * wu], r / 2);
                for (i, px) in out.chunks_exact_mut(4).enumerate() {
                    px[0] = yr[2 * i];
                    px[1] = u[cr * cw + i];
                    px[2] = yr[2 * i + 1];
                    px[3] = v[cr * cw + i];
                }
            }
        }
        (Nv12, Yuyv) => {
            let (y, uv) = src.split_at(size.pixels());
            let wu = w as usize;
            for (r, out) in dst.chunks_exact_mut(wu * 2).enumerate() {
                let yr = &y[r * wu..(r + 1) * wu];
                let cr = &uv[(r / 2) * wu..(r / 2 + 1) * wu];
                for ((px, yy), c) in out
                    .chunks_exact_mut(4)
                    .zip(yr.chunks_exact(2))
                    .zip(cr.chunks_exact(2))
                {
                    px.copy_from_slice(&[yy[0], c[0], yy[1], c[1]]);
                }
            }
        }
        (I420, Nv12) => {
            let (y, u, v) = planes_420(src, size);
            let (dy, duv) = dst.split_at_mut(size.pixels());
            dy.copy_from_slice(y);
            for ((pair, &cu), &cv) in duv.chunks_exact_mut(2).zip(u).zip(v) {
                pair[0] = cu;
                pair[1] = cv;
            }
        }
        (Nv12, I420) => {
            let (y, uv) = src.split_at(size.pixels());
            let c_len = size.pixels() / 4;
            let (dy, rest) = dst.split_at_mut(size.pixels());
            let (du, dv) = rest.split_at_mut(c_len);
            dy.copy_from_slice(y);
            for ((pair, cu), cv) in uv.chunks_exact(2).zip(du.iter_mut()).zip(dv.iter_mut()) {
                *cu = pair[0];
                *cv = pair[1];
            }
        }
        (from, to) => {
            // Remaining pairs (Yuyv -> Nv12) go through RGBA.
            let mut rgba = vec![0u8; PixelFormat::Rgba.frame_len(w, h)];
            convert_into(src, from, &mut rgba, Rgba, size)?;
            convert_into(&rgba, Rgba, dst, to, size)?;
        }
    }
    Ok(())
}

/// Three full-size planes (4:4:4, BT.601 limited range, as the frames'
/// YUV is) as opaque RGBA: how perception turns its small YUV copies into
/// the pictures its models take.
pub fn yuv444_to_rgba(y: &[u8], u: &[u8], v: &[u8], size: Size) -> Result<Vec<u8>, ConvertError> {
    let (w, h) = (size.width, size.height);
    let img = YuvPlanarImage {
        y_plane: y,
        y_stride: w,
        u_plane: u,
        u_stride: w,
        v_plane: v,
        v_stride: w,
        width: w,
        height: h,
    };
    let mut rgba = vec![0u8; PixelFormat::Rgba.frame_len(w, h)];
    yuvutils_rs::yuv444_to_rgba(&img, &mut rgba, w * 4, RANGE, MATRIX)?;
    Ok(rgba)
}

/// Converts a frame into a new frame of `format` (same size, seq and timestamp).
pub fn convert(frame: &Frame, format: PixelFormat) -> Result<Frame, ConvertError> {
    let data = vec![0u8; format.frame_len(frame.size.width, frame.size.height)];
    convert_to(frame, format, data.into())
}

/// [`convert`] into a buffer from `pool`: what the frame path uses, so that a
/// conversion every frame allocates nothing once the pool holds spares.
pub fn convert_pooled(
    frame: &Frame,
    format: PixelFormat,
    pool: &FramePool,
) -> Result<Frame, ConvertError> {
    let data = pool.take(format.frame_len(frame.size.width, frame.size.height));
    convert_to(frame, format, data)
}

fn convert_to(
    frame: &Frame,
    format: PixelFormat,
    mut data: FrameBuf,
) -> Result<Frame, ConvertError> {
    convert_into(&frame.data, frame.format, &mut data, format, frame.size)?;
    Ok(Frame {
        size: frame.size,
        format,
        data,
        seq: frame.seq,
        captured_at: frame.captured_at,
    })
}

/// Scales an RGBA image to `to` through the convolution filter `filter`,
/// cropping the source so it covers the target without distortion (centred
/// unless `crop` says otherwise).
/// `crop` is (left, top, width, height) in source pixels, fractional allowed.
pub fn resize_rgba(
    src: &[u8],
    from: Size,
    to: Size,
    crop: Option<(f64, f64, f64, f64)>,
    filter: fir::FilterType,
    resizer: &mut fir::Resizer,
) -> Result<Vec<u8>, ConvertError> {
    let mut dst = vec![0u8; to.pixels() * 4];
    resize_rgba_into(src, from, &mut dst, to, crop, filter, resizer)?;
    Ok(dst)
}

/// [`resize_rgba`] into `dst` (`to` in RGBA bytes).
pub fn resize_rgba_into(
    src: &[u8],
    from: Size,
    dst: &mut [u8],
    to: Size,
    crop: Option<(f64, f64, f64, f64)>,
    filter: fir::FilterType,
    resizer: &mut fir::Resizer,
) -> Result<(), ConvertError> {
    let err = |e: &dyn std::fmt::Display| ConvertError::Resize(e.to_string());
    let src_img = fir::images::ImageRef::new(from.width, from.height, src, fir::PixelType::U8x4)
        .map_err(|e| err(&e))?;
    let mut dst = fir::images::Image::from_slice_u8(to.width, to.height, dst, fir::PixelType::U8x4)
        .map_err(|e| err(&e))?;
    let (l, t, cw, ch) = crop.unwrap_or_else(|| cover_crop(from, to));
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(filter))
        .crop(l, t, cw, ch);
    resizer
        .resize(&src_img, &mut dst, &options)
        .map_err(|e| err(&e))
}

/// Scales one whole image plane of `pixel` samples (`U8` for a luma or
/// chroma plane, `U8x2` for NV12's interleaved chroma) to `to`, stretching,
/// with the convolution filter `filter`.
pub fn resize_plane(
    src: &[u8],
    from: Size,
    to: Size,
    pixel: fir::PixelType,
    filter: fir::FilterType,
    resizer: &mut fir::Resizer,
) -> Result<Vec<u8>, ConvertError> {
    let err = |e: &dyn std::fmt::Display| ConvertError::Resize(e.to_string());
    let src_img =
        fir::images::ImageRef::new(from.width, from.height, src, pixel).map_err(|e| err(&e))?;
    let mut dst = fir::images::Image::new(to.width, to.height, pixel);
    let options = fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(filter));
    resizer
        .resize(&src_img, &mut dst, &options)
        .map_err(|e| err(&e))?;
    Ok(dst.into_vec())
}

/// The centred crop of `from` that has the aspect ratio of `to`.
pub fn cover_crop(from: Size, to: Size) -> (f64, f64, f64, f64) {
    let (fw, fh) = (from.width as f64, from.height as f64);
    let target_aspect = to.width as f64 / to.height as f64;
    if fw / fh > target_aspect {
        let cw = fh * target_aspect;
        ((fw - cw) / 2.0, 0.0, cw, fh)
    } else {
        let ch = fw / target_aspect;
        (0.0, (fh - ch) / 2.0, fw, ch)
    }
}

/// Brings any frame to `size`: unchanged when it already matches, otherwise
/// scaled (cover) through RGBA.
pub fn fit(frame: Frame, size: Size, resizer: &mut fir::Resizer) -> Result<Frame, ConvertError> {
    fit_pooled(frame, size, resizer, None)
}

/// [`fit`] with the RGBA conversion and the scaled frame in buffers from
/// `pool` (a source scaling every frame allocates nothing then).
pub fn fit_pooled(
    frame: Frame,
    size: Size,
    resizer: &mut fir::Resizer,
    pool: Option<&FramePool>,
) -> Result<Frame, ConvertError> {
    if frame.size == size {
        return Ok(frame);
    }
    let rgba = if frame.format == PixelFormat::Rgba {
        frame.data
    } else {
        match pool {
            Some(p) => convert_pooled(&frame, PixelFormat::Rgba, p)?.data,
            None => convert(&frame, PixelFormat::Rgba)?.data,
        }
    };
    let mut data = match pool {
        Some(p) => p.take(size.pixels() * 4),
        None => vec![0u8; size.pixels() * 4].into(),
    };
    let bilinear = fir::FilterType::Bilinear;
    resize_rgba_into(&rgba, frame.size, &mut data, size, None, bilinear, resizer)?;
    Ok(Frame {
        size,
        format: PixelFormat::Rgba,
        data,
        seq: frame.seq,
        captured_at: frame.captured_at,
    })
}

/// One frame in every format some output asked for, each converted at most once.
#[derive(Debug)]
pub struct FrameVariants {
    original: SharedFrame,
    converted: HashMap<PixelFormat, SharedFrame>,
    pools: FormatPools,
}

/// A buffer pool per output format, kept by the frame loop across frames so
/// that each frame's conversions reuse the buffers of frames before it.
#[derive(Debug, Clone, Default)]
pub struct FormatPools {
    pools: [FramePool; 4],
}

impl FormatPools {
    pub fn get(&self, format: PixelFormat) -> &FramePool {
        &self.pools[match format {
            PixelFormat::Rgba => 0,
            PixelFormat::Yuyv => 1,
            PixelFormat::Nv12 => 2,
            PixelFormat::I420 => 3,
        }]
    }
}

impl FrameVariants {
    /// Variants converted into fresh buffers (pictures made once: the idle
    /// and unavailable cards).
    pub fn new(frame: SharedFrame) -> Self {
        Self::pooled(frame, FormatPools::default())
    }

    /// Variants converted into buffers from `pools`.
    pub fn pooled(frame: SharedFrame, pools: FormatPools) -> Self {
        FrameVariants {
            original: frame,
            converted: HashMap::new(),
            pools,
        }
    }

    pub fn original(&self) -> &SharedFrame {
        &self.original
    }

    /// The frame in `format`, converting on first request.
    pub fn get(&mut self, format: PixelFormat) -> Result<SharedFrame, ConvertError> {
        if self.original.format == format {
            return Ok(self.original.clone());
        }
        if let Some(f) = self.converted.get(&format) {
            return Ok(f.clone());
        }
        let f = Arc::new(convert_pooled(
            &self.original,
            format,
            self.pools.get(format),
        )?);
        self.converted.insert(format, f.clone());
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(size: Size) -> Frame {
        let mut data = Vec::with_capacity(size.pixels() * 4);
        for y in 0..size.height {
            for x in 0..size.width {
                data.extend_from_slice(&[
                    (x * 255 / size.width) as u8,
                    (y * 255 / size.height) as u8,
                    128,
                    255,
                ]);
            }
        }
        Frame::new(size, PixelFormat::Rgba, data, 7)
    }

    fn max_diff(a: &[u8], b: &[u8]) -> u8 {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0)
    }

    fn mean_diff(a: &[u8], b: &[u8]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y) as f64)
            .sum::<f64>()
            / a.len() as f64
    }

    #[test]
    fn every_format_round_trips_through_rgba() {
        let size = Size::new(64, 32);
        let src = gradient(size);
        for fmt in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::I420] {
            let there = convert(&src, fmt).expect("to yuv");
            assert_eq!(there.data.len(), fmt.frame_len(64, 32));
            assert_eq!(there.seq, 7);
            let back = convert(&there, PixelFormat::Rgba).expect("to rgba");
            // Chroma subsampling of a smooth gradient plus 8-bit limited-range
            // quantisation stays within a few levels on average.
            let m = mean_diff(&src.data, &back.data);
            assert!(m < 2.0, "{fmt}: mean abs diff {m}");
            assert!(max_diff(&src.data, &back.data) < 12, "{fmt}");
        }
    }

    #[test]
    fn yuv_to_yuv_paths_agree_with_the_rgba_path() {
        let size = Size::new(32, 16);
        let src = gradient(size);
        let i420 = convert(&src, PixelFormat::I420).expect("i420");
        let nv12 = convert(&i420, PixelFormat::Nv12).expect("nv12");
        let nv12_direct = convert(&src, PixelFormat::Nv12).expect("nv12 direct");
        assert!(mean_diff(&nv12.data, &nv12_direct.data) < 1.0);
        let back = convert(&nv12, PixelFormat::I420).expect("i420 again");
        assert_eq!(
            back.data, i420.data,
            "NV12 <-> I420 is a lossless reshuffle"
        );
        let yuyv = convert(&i420, PixelFormat::Yuyv).expect("yuyv");
        let i420_again = convert(&yuyv, PixelFormat::I420).expect("i420 from yuyv");
        assert_eq!(
            i420_again.data, i420.data,
            "I420 -> YUYV -> I420 is lossless"
        );
        let nv12_yuyv = convert(&nv12, PixelFormat::Yuyv).expect("nv12 to yuyv");
        assert_eq!(
            nv12_yuyv.data, yuyv.data,
            "NV12 and I420 give the same YUYV"
        );
        let via_rgba = convert(
            &convert(&yuyv, PixelFormat::Rgba).expect("rgba"),
            PixelFormat::I420,
        )
        .expect("i420");
        assert!(mean_diff(&via_rgba.data, &i420.data) < 2.0);
    }

    #[test]
    fn known_colours_land_on_bt601_limited_values() {
        let size = Size::new(2, 2);
        let white = Frame::new(size, PixelFormat::Rgba, vec![255; 16], 0);
        let y = convert(&white, PixelFormat::Yuyv).expect("yuyv");
        assert_eq!(y.data[0], 235);
        assert!(y.data[1].abs_diff(128) <= 1);
        let black = Frame::black(size, PixelFormat::Yuyv);
        let rgba = convert(&black, PixelFormat::Rgba).expect("rgba");
        assert!(rgba
            .data
            .chunks(4)
            .all(|p| p[0] == 0 && p[1] == 0 && p[2] == 0));
    }

    #[test]
    fn short_buffers_are_refused() {
        let mut dst = vec![0; 16];
        let err = convert_into(
            &[0; 3],
            PixelFormat::Yuyv,
            &mut dst,
            PixelFormat::Rgba,
            Size::new(2, 2),
        );
        assert!(matches!(err, Err(ConvertError::ShortBuffer { .. })));
    }

    #[test]
    fn cover_crop_keeps_aspect() {
        let (l, t, w, h) = cover_crop(Size::new(512, 512), Size::new(1280, 720));
        assert_eq!((l, w), (0.0, 512.0));
        assert!((h - 288.0).abs() < 1e-9 && (t - 112.0).abs() < 1e-9);
        let (l, _, w, h) = cover_crop(Size::new(1920, 1080), Size::new(640, 640));
        assert_eq!((w, h), (1080.0, 1080.0));
        assert_eq!(l, 420.0);
    }

    #[test]
    fn fit_scales_and_variants_convert_once() {
        let mut resizer = fir::Resizer::new();
        let f = fit(gradient(Size::new(64, 64)), Size::new(32, 16), &mut resizer).expect("fit");
        assert_eq!(f.size, Size::new(32, 16));
        assert_eq!(f.data.len(), 32 * 16 * 4);
        let mut v = FrameVariants::new(Arc::new(f));
        let a = v.get(PixelFormat::Yuyv).expect("yuyv");
        let b = v.get(PixelFormat::Yuyv).expect("yuyv");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(
            &v.get(PixelFormat::Rgba).expect("rgba"),
            v.original()
        ));
    }
}
