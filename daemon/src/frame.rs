//! Frames as they travel through the pipeline: pixel format, size, bytes and timing.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
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

/// Why a size or a pixel format was refused; each message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameParseError {
    #[error("unknown pixel format {0:?}: use yuyv, nv12, i420 or rgba")]
    UnknownFormat(String),
    #[error("size {0:?} is not WIDTHxHEIGHT, e.g. 1280x720")]
    NotASize(String),
    #[error("{what} {value:?} in {size:?} is not a number")]
    NotANumber {
        what: &'static str,
        value: String,
        size: String,
    },
    #[error("size {0} is outside 16x16 ..= 7680x4320")]
    OutOfRange(String),
    #[error("size {0}: width and height must be even (YUV formats need it)")]
    Odd(String),
}

impl FromStr for PixelFormat {
    type Err = FrameParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rgba" => Ok(PixelFormat::Rgba),
            "yuyv" | "yuy2" => Ok(PixelFormat::Yuyv),
            "nv12" => Ok(PixelFormat::Nv12),
            "i420" | "yu12" => Ok(PixelFormat::I420),
            other => Err(FrameParseError::UnknownFormat(other.to_string())),
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
    type Err = FrameParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (w, h) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| FrameParseError::NotASize(s.to_string()))?;
        let number = |what, v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| FrameParseError::NotANumber {
                    what,
                    value: v.to_string(),
                    size: s.to_string(),
                })
        };
        let (width, height) = (number("width", w)?, number("height", h)?);
        if !(16..=7680).contains(&width) || !(16..=4320).contains(&height) {
            return Err(FrameParseError::OutOfRange(s.to_string()));
        }
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(FrameParseError::Odd(s.to_string()));
        }
        Ok(Size { width, height })
    }
}

/// One picture with its provenance.
#[derive(Clone)]
pub struct Frame {
    pub size: Size,
    pub format: PixelFormat,
    pub data: FrameBuf,
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
    pub fn new(size: Size, format: PixelFormat, data: impl Into<FrameBuf>, seq: u64) -> Self {
        let data = data.into();
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

/// Frames are shared, never copied, from the effects stage on: the loop,
/// perception, the outputs and the room tap hold the same one.
pub type SharedFrame = Arc<Frame>;

/// A frame's bytes. A buffer taken from a [`FramePool`] goes back to it when
/// the last holder drops it, so a steady stream of frames cycles through the
/// same few allocations instead of asking the allocator for megabytes each
/// frame. A buffer made from a `Vec` is an ordinary one.
#[derive(Default)]
pub struct FrameBuf {
    bytes: Vec<u8>,
    home: Weak<PoolShared>,
}

impl FrameBuf {
    /// The bytes as a `Vec`, leaving the pool out (it makes a new one later).
    pub fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

impl Drop for FrameBuf {
    fn drop(&mut self) {
        if let Some(pool) = self.home.upgrade() {
            pool.give_back(std::mem::take(&mut self.bytes));
        }
    }
}

impl Clone for FrameBuf {
    /// A copy is an ordinary buffer: pools hold what their owner sized them for.
    fn clone(&self) -> Self {
        self.bytes.clone().into()
    }
}

impl From<Vec<u8>> for FrameBuf {
    fn from(bytes: Vec<u8>) -> Self {
        FrameBuf {
            bytes,
            home: Weak::new(),
        }
    }
}

impl Deref for FrameBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl DerefMut for FrameBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl<'a> IntoIterator for &'a FrameBuf {
    type Item = &'a u8;
    type IntoIter = std::slice::Iter<'a, u8>;
    fn into_iter(self) -> Self::IntoIter {
        self.bytes.iter()
    }
}

impl AsRef<[u8]> for FrameBuf {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for FrameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrameBuf({} bytes)", self.bytes.len())
    }
}

impl PartialEq for FrameBuf {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl PartialEq<Vec<u8>> for FrameBuf {
    fn eq(&self, other: &Vec<u8>) -> bool {
        &self.bytes == other
    }
}

impl PartialEq<[u8]> for FrameBuf {
    fn eq(&self, other: &[u8]) -> bool {
        self.bytes == other
    }
}

#[derive(Debug)]
struct PoolShared {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
    made: AtomicU64,
}

impl PoolShared {
    fn give_back(&self, bytes: Vec<u8>) {
        if bytes.capacity() == 0 {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.keep {
            free.push(bytes);
        } else if let Some(stale) = free.iter().position(|b| b.len() != bytes.len()) {
            // Full of another size (from before a size change): the newest
            // size is the one that will be asked for again.
            free[stale] = bytes;
        }
    }
}

/// Recycled frame buffers for one producer (a camera, a clip, the GPU
/// readback, a format conversion). Cloning gives another handle to the same
/// pool. Buffers go back to it when dropped; it keeps at most `keep` spare
/// ones and hands out a spare of exactly the length asked for (a producer may
/// use two sizes, such as a camera's mode and the output size it is scaled
/// to); after a size change, spares of the old size make room for the new
/// one as buffers come back. A pool allocates only when no spare is
/// free, so what it holds is the most frames its producer ever had out at
/// once (queues, the GPU ring, outputs), capped by `keep`. Dropping every
/// handle frees the spares; buffers still out are then freed as they are
/// dropped.
#[derive(Debug, Clone)]
pub struct FramePool {
    shared: Arc<PoolShared>,
}

impl FramePool {
    /// Spares kept by default: enough for the frames in flight between a
    /// producer and its slowest holder (queues of two, a ring of three on the
    /// GPU, the frame the loop repeats), small enough that a 720p RGBA pool
    /// stays under 30 MB.
    pub const KEEP: usize = 8;

    pub fn new(keep: usize) -> Self {
        FramePool {
            shared: Arc::new(PoolShared {
                free: Mutex::new(Vec::new()),
                keep,
                made: AtomicU64::new(0),
            }),
        }
    }

    /// A buffer of `len` bytes whose contents are left from its last use (zero
    /// when new): the caller writes every byte.
    pub fn take(&self, len: usize) -> FrameBuf {
        let spare = {
            let mut free = self.shared.free.lock().unwrap_or_else(|e| e.into_inner());
            free.iter()
                .rposition(|b| b.len() == len)
                .map(|i| free.swap_remove(i))
        };
        let bytes = spare.unwrap_or_else(|| {
            self.shared.made.fetch_add(1, Ordering::Relaxed);
            vec![0; len]
        });
        FrameBuf {
            bytes,
            home: Arc::downgrade(&self.shared),
        }
    }

    /// A buffer holding a copy of `src`.
    pub fn copy_of(&self, src: &[u8]) -> FrameBuf {
        let mut b = self.take(src.len());
        b.copy_from_slice(src);
        b
    }

    /// Buffers this pool has allocated since it was made (not reused ones).
    pub fn allocations(&self) -> u64 {
        self.shared.made.load(Ordering::Relaxed)
    }
}

impl Default for FramePool {
    fn default() -> Self {
        FramePool::new(Self::KEEP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_reject() {
        assert_eq!("1280x720".parse::<Size>(), Ok(Size::new(1280, 720)));
        assert_eq!(
            "1281x720".parse::<Size>(),
            Err(FrameParseError::Odd("1281x720".into()))
        );
        assert!(matches!(
            "12x720".parse::<Size>(),
            Err(FrameParseError::OutOfRange(_))
        ));
        assert!("12x720".parse::<Size>().is_err());
        assert!("1280".parse::<Size>().is_err());
        assert!("axb".parse::<Size>().is_err());
    }

    #[test]
    fn pooled_buffers_are_reused_and_bounded() {
        let pool = FramePool::new(2);
        let a = pool.take(64);
        let ptr = a.as_ptr();
        drop(a);
        let b = pool.take(64);
        assert_eq!(b.as_ptr(), ptr, "the spare comes back");
        assert_eq!(pool.allocations(), 1);
        // Three out at once: three allocations; only two are kept after.
        let (c, d) = (pool.take(64), pool.take(64));
        assert_eq!(pool.allocations(), 3);
        drop((b, c, d));
        let again: Vec<_> = (0..3).map(|_| pool.take(64)).collect();
        assert_eq!(pool.allocations(), 4, "two spares reused, one new");
        drop(again);
        // Two sizes side by side each reuse their own spares.
        let e = pool.take(32);
        assert_eq!(e.len(), 32);
        assert_eq!(pool.allocations(), 5);
        drop(e);
        let (f, g) = (pool.take(32), pool.take(64));
        assert_eq!(pool.allocations(), 5, "one spare of each size");
        drop((f, g));
        // After a size change the old spares make room as new ones return.
        let newer: Vec<_> = (0..2).map(|_| pool.take(16)).collect();
        drop(newer);
        let lens: Vec<usize> = pool
            .shared
            .free
            .lock()
            .expect("pool lock")
            .iter()
            .map(|b| b.len())
            .collect();
        assert_eq!(lens.len(), 2);
        assert!(lens.iter().all(|&l| l == 16), "{lens:?}");
    }

    #[test]
    fn buffers_outlive_their_pool_and_clones_are_plain() {
        let pool = FramePool::new(4);
        let mut a = pool.copy_of(&[1, 2, 3, 4]);
        drop(pool);
        a[0] = 9;
        assert_eq!(a, vec![9, 2, 3, 4]);
        let b = a.clone();
        drop(a);
        assert_eq!(b.into_vec(), vec![9, 2, 3, 4]);
        // Frames shared by Arc give the buffer back once, when the last goes.
        let pool = FramePool::new(4);
        let f = Arc::new(Frame::new(
            Size::new(2, 2),
            PixelFormat::Rgba,
            pool.take(16),
            0,
        ));
        let g = f.clone();
        drop(f);
        assert!(pool.shared.free.lock().expect("pool lock").is_empty());
        drop(g);
        assert_eq!(pool.shared.free.lock().expect("pool lock").len(), 1);
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
