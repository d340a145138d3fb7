//! Decoders of pictures that come from outside: camera buffers (raw and
//! MJPEG), y4m clips and still images. Nothing here touches a device, the
//! GPU or the file system, so the fuzz targets (`fuzz/`) compile this file
//! as it is and drive it with arbitrary bytes.

use std::io::{BufRead, Read, Seek};

use crate::frame::{Frame, FrameBuf, FramePool, PixelFormat, Size};
use crate::settings::source::CameraFormat;

/// The largest clip frame and still image accepted, a side.
pub const MAX_CLIP: Size = Size {
    width: 7680,
    height: 4320,
};
/// The largest still image accepted, a side.
pub const MAX_STILL_SIDE: u32 = 16384;
/// The most memory a still image's decoder may ask for: a 48-megapixel
/// photo (8000x6000) in RGBA. A few hundred bytes of JPEG header can claim
/// 14638x13111 pixels, well within the side limit, whose decode takes
/// seconds of work on garbage; the fuzzer found one.
pub const MAX_STILL_BYTES: u64 = 192 << 20;

/// Turns one captured buffer into a frame: raw formats lose their row padding
/// (`stride` bytes per row, 0 when unknown), MJPEG is decoded to RGBA.
/// `None` for a short or damaged buffer, which cameras send now and then.
/// A JPEG whose header claims more pixels than the negotiated `size` is
/// refused before any pixel is decoded: its few bytes could otherwise ask
/// for a 16384x16384 decode (1 GiB and seconds of work) on every frame.
/// The frame's bytes come from `pool`.
pub fn camera_buffer(
    format: CameraFormat,
    size: Size,
    stride: u32,
    bytes: &[u8],
    pool: &FramePool,
) -> Option<Frame> {
    match format {
        CameraFormat::Yuyv | CameraFormat::Nv12 => {
            let pixel_format = format.decoded();
            let row = if pixel_format == PixelFormat::Yuyv {
                size.width * 2
            } else {
                size.width
            } as usize;
            let stride = (stride as usize).max(row);
            let rows = if pixel_format == PixelFormat::Yuyv {
                size.height as usize
            } else {
                size.height as usize * 3 / 2
            };
            if rows == 0 || row == 0 || bytes.len() < stride * (rows - 1) + row {
                return None;
            }
            let data = if stride == row {
                pool.copy_of(&bytes[..pixel_format.frame_len(size.width, size.height)])
            } else {
                let mut out = pool.take(pixel_format.frame_len(size.width, size.height));
                for (r, dst) in out.chunks_exact_mut(row).enumerate() {
                    dst.copy_from_slice(&bytes[r * stride..r * stride + row]);
                }
                out
            };
            Some(Frame::new(size, pixel_format, data, 0))
        }
        CameraFormat::Mjpeg => {
            let opts = zune_jpeg::zune_core::options::DecoderOptions::default()
                .jpeg_set_out_colorspace(zune_jpeg::zune_core::colorspace::ColorSpace::RGBA);
            let mut dec = zune_jpeg::JpegDecoder::new_with_options(
                zune_jpeg::zune_core::bytestream::ZCursor::new(bytes),
                opts,
            );
            let damaged = |e: zune_jpeg::errors::DecodeErrors| {
                tracing::debug!("skipping a damaged JPEG frame: {e}");
            };
            dec.decode_headers().map_err(damaged).ok()?;
            let (w, h) = dec.dimensions()?;
            let s = Size::new(w as u32, h as u32);
            if s.pixels() > size.pixels() {
                tracing::debug!("skipping a {s} JPEG in a {size} stream");
                return None;
            }
            if dec.output_buffer_size() != Some(s.pixels() * 4)
                || !s.width.is_multiple_of(2)
                || !s.height.is_multiple_of(2)
            {
                return None;
            }
            let mut rgba = pool.take(s.pixels() * 4);
            dec.decode_into(&mut rgba).map_err(damaged).ok()?;
            Some(Frame::new(s, PixelFormat::Rgba, rgba, 0))
        }
    }
}

/// What a y4m decoder reads: the header line, read and checked here first,
/// then the rest of the stream.
pub type Y4mInput<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, R>;

/// Reads the header line (at most 1024 bytes, as y4m allows) and refuses a
/// width or height beyond [`MAX_CLIP`] before the y4m crate sees it: its
/// plane-size arithmetic overflows on absurd sizes.
fn y4m_header<R: Read>(reader: &mut R) -> Result<Vec<u8>, String> {
    let mut header = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    while header.len() < 1024 {
        match reader.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                header.push(byte[0]);
                if byte[0] == b'\n' {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read the clip: {e}")),
        }
    }
    let line = header.strip_suffix(b"\n").unwrap_or(&header);
    for token in line.split(|&b| b == b' ').skip(1) {
        let (max, value) = match token.split_first() {
            Some((b'W', v)) => (MAX_CLIP.width, v),
            Some((b'H', v)) => (MAX_CLIP.height, v),
            _ => continue,
        };
        let fits = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|v| v <= max);
        if !fits {
            return Err(format!(
                "clip {} {} is not supported (even sizes up to {MAX_CLIP})",
                if token[0] == b'W' { "width" } else { "height" },
                String::from_utf8_lossy(value)
            ));
        }
    }
    Ok(header)
}

/// Opens a y4m stream and checks what ByteMeet can play: 8-bit, even sizes
/// up to [`MAX_CLIP`]. Frame and header sizes are bounded (256 MiB).
#[allow(clippy::type_complexity)]
pub fn y4m_decoder<R: Read>(
    mut reader: R,
) -> Result<(y4m::Decoder<Y4mInput<R>>, Size, y4m::Colorspace), String> {
    let header = y4m_header(&mut reader)?;
    let limits = y4m::Limits { bytes: 256 << 20 };
    let decoder = y4m::Decoder::new_with_limits(std::io::Cursor::new(header).chain(reader), limits)
        .map_err(|e| format!("not a readable y4m clip ({e:?})"))?;
    if decoder.get_bit_depth() != 8 {
        return Err(format!(
            "{}-bit y4m is not supported; convert with `ffmpeg -i IN -pix_fmt yuv420p OUT.y4m`",
            decoder.get_bit_depth()
        ));
    }
    let (w, h) = (decoder.get_width(), decoder.get_height());
    if w < 2
        || h < 2
        || w % 2 != 0
        || h % 2 != 0
        || w > MAX_CLIP.width as usize
        || h > MAX_CLIP.height as usize
    {
        return Err(format!(
            "clip size {w}x{h} is not supported (even sizes up to {MAX_CLIP})"
        ));
    }
    let colorspace = decoder.get_colorspace();
    match colorspace {
        y4m::Colorspace::C420
        | y4m::Colorspace::C420jpeg
        | y4m::Colorspace::C420paldv
        | y4m::Colorspace::C420mpeg2
        | y4m::Colorspace::C422
        | y4m::Colorspace::C444
        | y4m::Colorspace::Cmono => {}
        other => return Err(format!("y4m colour space {other:?} is not supported")),
    }
    Ok((decoder, Size::new(w as u32, h as u32), colorspace))
}

/// Copies one decoded y4m frame's planes into a pooled buffer (Y, U, V one
/// after the other) and returns it with the Y and U lengths.
pub fn y4m_copy(frame: &y4m::Frame<'_>, pool: &FramePool) -> (FrameBuf, (usize, usize)) {
    let (y, u, v) = (
        frame.get_y_plane(),
        frame.get_u_plane(),
        frame.get_v_plane(),
    );
    let mut buf = pool.take(y.len() + u.len() + v.len());
    let (dy, rest) = buf.split_at_mut(y.len());
    let (du, dv) = rest.split_at_mut(u.len());
    dy.copy_from_slice(y);
    du.copy_from_slice(u);
    dv.copy_from_slice(v);
    (buf, (y.len(), u.len()))
}

/// Turns one y4m frame's planes (`split` gives the Y and U lengths) into a
/// frame: 4:2:0 clips are already I420; 4:2:2, 4:4:4 and mono become RGBA
/// (BT.601, limited range).
pub fn y4m_frame(
    colorspace: y4m::Colorspace,
    size: Size,
    planes: FrameBuf,
    split: (usize, usize),
    seq: u64,
) -> Result<Frame, String> {
    let (w, h) = (size.width, size.height);
    let chroma_w = match colorspace {
        y4m::Colorspace::C420
        | y4m::Colorspace::C420jpeg
        | y4m::Colorspace::C420paldv
        | y4m::Colorspace::C420mpeg2 => {
            if planes.len() != PixelFormat::I420.frame_len(w, h) {
                return Err(format!(
                    "a 4:2:0 frame of {} bytes does not fit {size}",
                    planes.len()
                ));
            }
            return Ok(Frame::new(size, PixelFormat::I420, planes, seq));
        }
        y4m::Colorspace::C422 => w / 2,
        y4m::Colorspace::C444 => w,
        y4m::Colorspace::Cmono => 0,
        other => return Err(format!("y4m colour space {other:?} is not supported")),
    };
    if split.0 > planes.len() || split.1 > planes.len() - split.0 {
        return Err("the frame's planes do not add up".into());
    }
    let (y, rest) = planes.split_at(split.0);
    let (u, v) = rest.split_at(split.1);
    let mut rgba = vec![0u8; size.pixels() * 4];
    let range = yuvutils_rs::YuvRange::Limited;
    let matrix = yuvutils_rs::YuvStandardMatrix::Bt601;
    let img = yuvutils_rs::YuvPlanarImage {
        y_plane: y,
        y_stride: w,
        u_plane: u,
        u_stride: chroma_w,
        v_plane: v,
        v_stride: chroma_w,
        width: w,
        height: h,
    };
    let result = match colorspace {
        y4m::Colorspace::C422 => yuvutils_rs::yuv422_to_rgba(&img, &mut rgba, w * 4, range, matrix),
        y4m::Colorspace::C444 => yuvutils_rs::yuv444_to_rgba(&img, &mut rgba, w * 4, range, matrix),
        _ => {
            let gray = yuvutils_rs::YuvGrayImage {
                y_plane: y,
                y_stride: w,
                width: w,
                height: h,
            };
            yuvutils_rs::yuv400_to_rgba(&gray, &mut rgba, w * 4, range, matrix)
        }
    };
    result.map_err(|e| e.to_string())?;
    Ok(Frame::new(size, PixelFormat::Rgba, rgba, seq))
}

/// Decodes a still image (PNG or JPEG, told by its content) to RGBA, with
/// its size bounded to [`MAX_STILL_SIDE`] a side and 1 GiB of memory.
pub fn still_image<R: BufRead + Seek>(
    reader: image::ImageReader<R>,
) -> Result<image::RgbaImage, String> {
    let mut reader = reader.with_guessed_format().map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_STILL_SIDE);
    limits.max_image_height = Some(MAX_STILL_SIDE);
    limits.max_alloc = Some(MAX_STILL_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| {
        format!("not an image ByteMeet can read ({e}); use PNG or JPEG, or a .y4m clip")
    })?;
    Ok(img.to_rgba8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mjpeg_frames_decode_and_damaged_ones_are_skipped() {
        let mut img = image::RgbImage::new(64, 32);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if x < 32 {
                image::Rgb([230, 30, 30])
            } else {
                image::Rgb([30, 30, 230])
            };
        }
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&img)
            .expect("encode");
        let f = camera_buffer(
            CameraFormat::Mjpeg,
            Size::new(64, 32),
            0,
            &jpeg,
            &FramePool::default(),
        )
        .expect("decodes");
        assert_eq!((f.size, f.format), (Size::new(64, 32), PixelFormat::Rgba));
        let px = |x: usize, y: usize| &f.data[(y * 64 + x) * 4..][..3];
        assert!(px(8, 16)[0] > 200 && px(8, 16)[2] < 60, "{:?}", px(8, 16));
        assert!(
            px(56, 16)[2] > 200 && px(56, 16)[0] < 60,
            "{:?}",
            px(56, 16)
        );
        assert!(
            camera_buffer(
                CameraFormat::Mjpeg,
                Size::new(32, 32),
                0,
                &jpeg,
                &FramePool::default()
            )
            .is_none(),
            "a JPEG larger than the negotiated frame"
        );
        assert!(camera_buffer(
            CameraFormat::Mjpeg,
            Size::new(64, 32),
            0,
            b"not a jpeg",
            &FramePool::default()
        )
        .is_none());
    }

    #[test]
    fn raw_frames_lose_their_row_padding() {
        // 4x2 YUYV with a 12-byte stride (4 bytes of padding per row).
        let mut buf = Vec::new();
        for r in 0..2u8 {
            buf.extend_from_slice(&[r, 1, r, 2, r, 3, r, 4]);
            buf.extend_from_slice(&[0xEE; 4]);
        }
        let f = camera_buffer(
            CameraFormat::Yuyv,
            Size::new(4, 2),
            12,
            &buf,
            &FramePool::default(),
        )
        .expect("frame");
        assert_eq!(f.data, vec![0, 1, 0, 2, 0, 3, 0, 4, 1, 1, 1, 2, 1, 3, 1, 4]);
        assert!(
            camera_buffer(
                CameraFormat::Yuyv,
                Size::new(4, 2),
                12,
                &buf[..10],
                &FramePool::default()
            )
            .is_none(),
            "short"
        );
        let nv12 = vec![7u8; 4 * 2 * 3 / 2];
        let f = camera_buffer(
            CameraFormat::Nv12,
            Size::new(4, 2),
            0,
            &nv12,
            &FramePool::default(),
        )
        .expect("nv12");
        assert_eq!(f.format, PixelFormat::Nv12);
    }

    #[test]
    fn y4m_clips_decode_and_bad_headers_are_refused() {
        let mut clip = b"YUV4MPEG2 W4 H2 F30:1 C444\nFRAME\n".to_vec();
        clip.extend_from_slice(&[128u8; 4 * 2 * 3]);
        let (mut dec, size, cs) = y4m_decoder(std::io::Cursor::new(clip)).expect("header");
        assert_eq!(size, Size::new(4, 2));
        let pool = FramePool::default();
        let (planes, split) = y4m_copy(&dec.read_frame().expect("frame"), &pool);
        let f = y4m_frame(cs, size, planes, split, 7).expect("converts");
        assert_eq!((f.format, f.seq), (PixelFormat::Rgba, 7));
        for bad in [
            &b"YUV4MPEG2 W3 H2 F30:1\n"[..],
            b"YUV4MPEG2 W8000 H2 F30:1\n",
            b"YUV4MPEG2 W88888888888888888888 H4 F30:1\n",
            b"YUV4MPEG2 W4 H4294967296 F30:1\n",
            b"YUV4MPEG2 W4 H2 F30:1 C420p10\n",
            b"not a clip",
        ] {
            assert!(y4m_decoder(std::io::Cursor::new(bad)).is_err(), "{bad:?}");
        }
        let wrong = FrameBuf::from(vec![0u8; 5]);
        assert!(y4m_frame(y4m::Colorspace::C420jpeg, size, wrong, (5, 0), 0).is_err());
        let wrong = FrameBuf::from(vec![0u8; 5]);
        assert!(y4m_frame(y4m::Colorspace::C444, size, wrong, (9, 0), 0).is_err());
    }

    #[test]
    fn still_images_decode_and_other_bytes_are_refused() {
        let mut png = Vec::new();
        image::RgbImage::from_pixel(3, 2, image::Rgb([10, 20, 30]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("png");
        let img = still_image(image::ImageReader::new(std::io::Cursor::new(&png))).expect("png");
        assert_eq!(
            (img.width(), img.height(), img.get_pixel(1, 1).0),
            (3, 2, [10, 20, 30, 255])
        );
        let err = still_image(image::ImageReader::new(std::io::Cursor::new(b"GIF89a")))
            .expect_err("a GIF is refused");
        assert!(err.contains("use PNG or JPEG"), "{err}");
    }
}
