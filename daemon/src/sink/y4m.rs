//! A y4m clip (4:2:0, the `420jpeg` layout every player and ffmpeg reads).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Demand, FrameSink, SinkError};
use crate::frame::{PixelFormat, SharedFrame, Size};

/// The clip's buffered file, shared with the encoder so `finish` can flush it
/// and report a failed flush (the y4m encoder does not give its writer back).
#[derive(Debug, Clone)]
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

pub struct Y4mSink {
    path: PathBuf,
    size: Size,
    fps: f64,
    file: SharedFile,
    encoder: Option<y4m::Encoder<SharedFile>>,
    frames: u64,
}

impl std::fmt::Debug for Y4mSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Y4mSink").field("path", &self.path).finish()
    }
}

/// A frame rate as a ratio y4m can store (29.97 -> 30000:1001).
fn ratio(fps: f64) -> y4m::Ratio {
    if (fps - fps.round()).abs() < 1e-6 {
        y4m::Ratio::new(fps.round() as usize, 1)
    } else {
        y4m::Ratio::new((fps * 1001.0).round() as usize, 1001)
    }
}

impl Y4mSink {
    /// Creates the file now, so a bad path is reported at start-up.
    pub fn create(path: &Path, size: Size, fps: f64) -> Result<Self, SinkError> {
        let file = File::create(path).map_err(|e| SinkError::File {
            path: path.display().to_string(),
            reason: format!("cannot create the clip: {e}"),
        })?;
        let shared = SharedFile(Arc::new(Mutex::new(BufWriter::with_capacity(
            1 << 20,
            file,
        ))));
        let encoder = y4m::encode(size.width as usize, size.height as usize, ratio(fps))
            .with_colorspace(y4m::Colorspace::C420jpeg)
            .write_header(shared.clone())
            .map_err(|e| SinkError::File {
                path: path.display().to_string(),
                reason: format!("cannot write the clip header: {e:?}"),
            })?;
        Ok(Y4mSink {
            path: path.to_path_buf(),
            size,
            fps,
            file: shared,
            encoder: Some(encoder),
            frames: 0,
        })
    }
}

impl FrameSink for Y4mSink {
    fn describe(&self) -> String {
        format!(
            "clip {} (y4m 4:2:0 {} @ {} fps)",
            self.path.display(),
            self.size,
            self.fps
        )
    }

    fn format(&self) -> PixelFormat {
        PixelFormat::I420
    }

    fn demand(&self) -> Demand {
        Demand::Always
    }

    fn write(&mut self, frame: &SharedFrame) -> Result<(), SinkError> {
        let err = |reason: String| SinkError::File {
            path: self.path.display().to_string(),
            reason,
        };
        let Some(enc) = self.encoder.as_mut() else {
            return Err(err("clip already closed".into()));
        };
        if frame.format != PixelFormat::I420 || frame.size != self.size {
            return Err(err(format!(
                "got {} {}, expected i420 {}",
                frame.format, frame.size, self.size
            )));
        }
        let y_len = self.size.pixels();
        let c_len = y_len / 4;
        let (y, rest) = frame.data.split_at(y_len);
        let (u, v) = rest.split_at(c_len);
        enc.write_frame(&y4m::Frame::new([y, u, v], None))
            .map_err(|e| err(format!("write failed (disk full?): {e:?}")))?;
        // One write per whole frame: a reader following the growing file
        // (`tail -f clip.y4m | ffplay -`) sees each frame as it is made.
        self.file
            .flush()
            .map_err(|e| err(format!("write failed (disk full?): {e}")))?;
        self.frames += 1;
        Ok(())
    }

    fn keeps_every_frame(&self) -> bool {
        true
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.encoder = None;
        self.file.flush().map_err(|e| SinkError::File {
            path: self.path.display().to_string(),
            reason: format!("could not finish the clip (disk full?): {e}"),
        })?;
        tracing::info!(path = %self.path.display(), frames = self.frames, "clip written");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::source::{file::Y4mSource, FrameSource};

    #[test]
    fn clip_round_trips_through_the_y4m_source() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c.y4m");
        let size = Size::new(16, 8);
        let mut sink = Y4mSink::create(&path, size, 30.0).expect("create");
        for i in 0..3u8 {
            let mut f = Frame::black(size, PixelFormat::I420);
            f.data[..size.pixels()].fill(20 + i * 50);
            sink.write(&Arc::new(f)).expect("write");
        }
        sink.finish().expect("finish");
        let text = std::fs::read(&path).expect("read");
        assert!(text.starts_with(b"YUV4MPEG2 W16 H8 F30:1"));
        let frame_len = 6 + size.pixels() * 3 / 2;
        let header_len = text.iter().position(|&b| b == b'\n').expect("header") + 1;
        assert_eq!(text.len(), header_len + 3 * frame_len);
        let mut src = Y4mSource::open(&path, size).expect("open");
        for i in 0..4u8 {
            let f = src.next_frame().expect("frame");
            assert_eq!(f.data[0], 20 + (i % 3) * 50, "loops after three frames");
        }
    }

    #[test]
    fn rates_become_ratios() {
        let r = ratio(29.97);
        assert_eq!((r.num, r.den), (30000, 1001));
        let r = ratio(25.0);
        assert_eq!((r.num, r.den), (25, 1));
    }

    #[test]
    fn unwritable_paths_are_reported_at_start() {
        let err = Y4mSink::create(Path::new("/nonexistent-dir/x.y4m"), Size::new(16, 16), 30.0)
            .expect_err("no dir");
        assert!(err.to_string().contains("cannot create"), "{err}");
    }
}
