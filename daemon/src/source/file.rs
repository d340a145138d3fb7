//! File sources: a `.y4m` clip that loops, or a still image held as a steady picture.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fast_image_resize as fir;

use super::{FrameSource, SourceError};
use crate::convert::{self, fit_pooled};
use crate::frame::{Frame, FrameBuf, FramePool, PixelFormat, Size};

/// Opens a clip or image by its extension (y4m) or its content (images).
pub fn open(path: &Path, size: Size) -> Result<Box<dyn FrameSource>, SourceError> {
    let is_y4m = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("y4m"));
    if is_y4m {
        Ok(Box::new(Y4mSource::open(path, size)?))
    } else {
        Ok(Box::new(StillSource::open(path, size)?))
    }
}

fn io_err(path: &Path, e: std::io::Error) -> SourceError {
    match e.kind() {
        std::io::ErrorKind::NotFound => SourceError::BadFile {
            path: path.display().to_string(),
            reason: "no such file".into(),
        },
        _ => SourceError::Io {
            path: path.display().to_string(),
            source: e,
        },
    }
}

/// Counts the bytes read, so a clean end of file can be told from a truncated frame.
#[derive(Debug)]
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Y4mDecoder = y4m::Decoder<crate::decode::Y4mInput<Counting<BufReader<File>>>>;

/// A looping y4m clip (8-bit 4:2:0, 4:2:2, 4:4:4 or mono).
pub struct Y4mSource {
    path: PathBuf,
    size: Size,
    decoder: Y4mDecoder,
    bytes_read: Arc<AtomicU64>,
    clip_size: Size,
    colorspace: y4m::Colorspace,
    frames_in_pass: u64,
    seq: u64,
    warned_truncated: bool,
    resizer: fir::Resizer,
    pool: FramePool,
}

impl std::fmt::Debug for Y4mSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Y4mSource")
            .field("path", &self.path)
            .finish()
    }
}

impl Y4mSource {
    pub fn open(path: &Path, size: Size) -> Result<Self, SourceError> {
        let bytes_read = Arc::new(AtomicU64::new(0));
        let (decoder, clip_size, colorspace) = Self::decoder(path, bytes_read.clone())?;
        Ok(Y4mSource {
            path: path.to_path_buf(),
            size,
            decoder,
            bytes_read,
            clip_size,
            colorspace,
            frames_in_pass: 0,
            seq: 0,
            warned_truncated: false,
            resizer: fir::Resizer::new(),
            pool: FramePool::default(),
        })
    }

    fn decoder(
        path: &Path,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<(Y4mDecoder, Size, y4m::Colorspace), SourceError> {
        let bad = |reason: String| SourceError::BadFile {
            path: path.display().to_string(),
            reason,
        };
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        let reader = Counting {
            inner: BufReader::new(file),
            read: bytes_read,
        };
        crate::decode::y4m_decoder(reader).map_err(bad)
    }

    /// `planes` holds Y, U and V one after the other (`split` gives the Y
    /// and U lengths): for 4:2:0 clips that is already an I420 frame.
    fn planes_to_frame(
        &mut self,
        planes: FrameBuf,
        split: (usize, usize),
    ) -> Result<Frame, SourceError> {
        let frame =
            crate::decode::y4m_frame(self.colorspace, self.clip_size, planes, split, self.seq)
                .map_err(|reason| SourceError::BadFile {
                    path: self.path.display().to_string(),
                    reason,
                })?;
        fit_pooled(frame, self.size, &mut self.resizer, Some(&self.pool)).map_err(|e| {
            SourceError::BadFile {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            }
        })
    }

    fn rewind(&mut self) -> Result<(), SourceError> {
        let (decoder, clip_size, colorspace) = Self::decoder(&self.path, self.bytes_read.clone())?;
        self.decoder = decoder;
        self.clip_size = clip_size;
        self.colorspace = colorspace;
        self.frames_in_pass = 0;
        Ok(())
    }
}

impl FrameSource for Y4mSource {
    fn describe(&self) -> String {
        format!("clip {} ({})", self.path.display(), self.clip_size)
    }

    fn is_live(&self) -> bool {
        false
    }

    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        // Two attempts: this pass, then once more from the start of the clip.
        for _ in 0..2 {
            let before = self.decoder_position();
            let planes = match self.decoder.read_frame() {
                // The decoder reuses its buffer: the planes are copied once,
                // into a pooled frame buffer.
                Ok(f) => Some(crate::decode::y4m_copy(&f, &self.pool)),
                Err(e) => {
                    let consumed = self.decoder_position() - before;
                    // Anything read past the last whole frame means the file was cut short.
                    if consumed > 0 || !matches!(e, y4m::Error::EOF) {
                        if self.frames_in_pass == 0 {
                            return Err(SourceError::BadFile {
                                path: self.path.display().to_string(),
                                reason: format!("holds no complete frame ({e:?})"),
                            });
                        }
                        if !self.warned_truncated {
                            tracing::warn!(
                                path = %self.path.display(),
                                "clip is truncated after frame {}: the last, partial frame is skipped; looping",
                                self.frames_in_pass
                            );
                            self.warned_truncated = true;
                        }
                    } else if self.frames_in_pass == 0 {
                        return Err(SourceError::BadFile {
                            path: self.path.display().to_string(),
                            reason: "holds no frames".into(),
                        });
                    }
                    None
                }
            };
            match planes {
                Some((planes, split)) => {
                    let frame = self.planes_to_frame(planes, split)?;
                    self.frames_in_pass += 1;
                    self.seq += 1;
                    return Ok(frame);
                }
                None => self.rewind()?,
            }
        }
        Err(SourceError::BadFile {
            path: self.path.display().to_string(),
            reason: "could not read a frame after rewinding".into(),
        })
    }
}

impl Y4mSource {
    /// Bytes the decoder has consumed from the file (the decoder reads unbuffered
    /// from our counting reader, so this is exact).
    fn decoder_position(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }
}

/// A still image, scaled to cover the output and repeated.
pub struct StillSource {
    path: PathBuf,
    frame: Frame,
    seq: u64,
}

impl std::fmt::Debug for StillSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StillSource")
            .field("path", &self.path)
            .finish()
    }
}

impl StillSource {
    pub fn open(path: &Path, size: Size) -> Result<Self, SourceError> {
        let bad = |reason: String| SourceError::BadFile {
            path: path.display().to_string(),
            reason,
        };
        let reader = image::ImageReader::open(path).map_err(|e| io_err(path, e))?;
        let img = crate::decode::still_image(reader).map_err(bad)?;
        let from = Size::new(img.width(), img.height());
        let mut resizer = fir::Resizer::new();
        let data = convert::resize_rgba(
            img.as_raw(),
            from,
            size,
            None,
            fir::FilterType::Bilinear,
            &mut resizer,
        )
        .map_err(|e| bad(e.to_string()))?;
        Ok(StillSource {
            path: path.to_path_buf(),
            frame: Frame::new(size, PixelFormat::Rgba, data, 0),
            seq: 0,
        })
    }
}

impl FrameSource for StillSource {
    fn describe(&self) -> String {
        format!("image {}", self.path.display())
    }

    fn is_live(&self) -> bool {
        false
    }

    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        let mut f = self.frame.clone();
        f.seq = self.seq;
        f.captured_at = std::time::Instant::now();
        self.seq += 1;
        Ok(f)
    }
}
