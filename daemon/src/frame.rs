//! Frames as they travel through the pipeline: pixel format, size, bytes and timing.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

/// Pixel layouts the pipeline carries. All are 8 bits per sample, tightly packed
/// (no row padding), with even width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// R, G, B, A bytes per pixel.
    Rgba,
    /// Packed 4:2:2: Y0 U Y1 V for each pair of pixels (V4L2 `YUYV`).
    Yuyv,
    /// Y plane, then one interleaved UV plane at half width and height (V4L2 `NV12`).
    Nv12,
    /// Y plane, then U, then V planes at half width and height (y4m `420jpeg`).
    I420,
}

impl PixelFormat {
    /// Bytes one frame of `width` x `height` occupies.
    pub fn frame_len(self, width: u32, height: u32) -> usize {
        let pixels = width as usize * height as usize;
        match self {
            PixelFormat::Rgba => pixels * 4,
            PixelFormat::Yuyv => pixels * 2,
            PixelFormat::Nv12 | PixelFormat::I420 => pixels + pixels / 2,
        }
    }

    /// The V4L2 four-character code, for formats V4L2 names.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Rgba => *b"AB24",
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Nv12 => *b"NV12",
            PixelFormat::I420 => *b"YU12",
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PixelFormat::Rgba => "rgba",
            PixelFormat::Yuyv => "yuyv",
            PixelFormat::Nv12 => "nv12",
            PixelFormat::I420 => "i420",
        })
    }
}

impl FromStr for PixelFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rgba" => Ok(PixelFormat::Rgba),
            "yuyv" | "yuy2" => Ok(PixelFormat::Yuyv),
            "nv12" => Ok(PixelFormat::Nv12),
            "i420" | "yu12" => Ok(PixelFormat::I420),
            other => Err(format!(
                "unknown pixel format {other:?}: use yuyv, nv12, i420 or rgba"
            )),
        }
    }
}

/// A frame size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub const fn new(width: u32, height: u32) -> Self {
        Size { width, height }
    }

    pub fn pixels(self) -> usize {
        self.width as usize * self.height as usize
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (w, h) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("size {s:?} is not WIDTHxHEIGHT, e.g. 1280x720"))?;
        let width: u32 = w
            .trim()
            .parse()
            .map_err(|_| format!("width {w:?} in {s:?} is not a number"))?;
        let height: u32 = h
            .trim()
            .parse()
            .map_err(|_| format!("height {h:?} in {s:?} is not a number"))?;
        if !(16..=7680).contains(&width) || !(16..=4320).contains(&height) {
            return Err(format!("size {s} is outside 16x16 ..= 7680x4320"));
        }
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(format!(
                "size {s}: width and height must be even (YUV formats need it)"
            ));
        }
        Ok(Size { width, height })
    }
}

/// One picture with its provenance.
#[derive(Clone)]
pub struct Frame {
    pub size: Size,
    pub format: PixelFormat,
    pub data: Vec<u8>,
    /// Position of this frame in its source's sequence.
    pub seq: u64,
    /// When the source produced it (capture time for cameras).
    pub captured_at: Instant,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("size", &self.size)
            .field("format", &self.format)
            .field("bytes", &self.data.len())
            .field("seq", &self.seq)
            .finish()
    }
}

impl Frame {
    /// A frame whose buffer has the right length for its format; panics never, checks in debug.
    pub fn new(size: Size, format: PixelFormat, data: Vec<u8>, seq: u64) -> Self {
        debug_assert_eq!(data.len(), format.frame_len(size.width, size.height));
        Frame {
            size,
            format,
            data,
            seq,
            captured_at: Instant::now(),
        }
    }

    /// A zeroed (for YUV: black) frame.
    pub fn black(size: Size, format: PixelFormat) -> Self {
        let len = format.frame_len(size.width, size.height);
        let mut data = vec![0u8; len];
        match format {
            PixelFormat::Rgba => data.chunks_exact_mut(4).for_each(|p| p[3] = 255),
            PixelFormat::Yuyv => data.chunks_exact_mut(2).for_each(|p| {
                p[0] = 16;
                p[1] = 128;
            }),
            PixelFormat::Nv12 | PixelFormat::I420 => {
                let (y, uv) = data.split_at_mut(size.pixels());
                y.fill(16);
                uv.fill(128);
            }
        }
        Frame::new(size, format, data, 0)
    }
}

/// Frames are shared, never copied, between the loop and the outputs.
pub type SharedFrame = Arc<Frame>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_reject() {
        assert_eq!("1280x720".parse::<Size>(), Ok(Size::new(1280, 720)));
        assert!("1281x720".parse::<Size>().is_err());
        assert!("12x720".parse::<Size>().is_err());
        assert!("1280".parse::<Size>().is_err());
        assert!("axb".parse::<Size>().is_err());
    }

    #[test]
    fn frame_lengths() {
        assert_eq!(PixelFormat::Rgba.frame_len(4, 2), 32);
        assert_eq!(PixelFormat::Yuyv.frame_len(4, 2), 16);
        assert_eq!(PixelFormat::Nv12.frame_len(4, 2), 12);
        assert_eq!(PixelFormat::I420.frame_len(4, 2), 12);
    }

    #[test]
    fn formats_round_trip_through_text() {
        for f in [
            PixelFormat::Rgba,
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::I420,
        ] {
            assert_eq!(f.to_string().parse::<PixelFormat>(), Ok(f));
        }
        assert!("mjpg".parse::<PixelFormat>().is_err());
    }
}
