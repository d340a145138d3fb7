//! A PNG file that always holds the latest frame, replaced atomically so a
//! reader never sees half a picture.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use image::ImageEncoder;

use super::{Demand, FrameSink, SinkError};
use crate::frame::{Frame, PixelFormat, SharedFrame};

#[derive(Debug)]
pub struct PngSink {
    path: PathBuf,
    tmp: PathBuf,
    written: u64,
}

impl PngSink {
    pub fn new(path: &Path) -> Result<Self, SinkError> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(SinkError::File {
                path: path.display().to_string(),
                reason: format!("folder {} does not exist", dir.display()),
            });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(PngSink {
            path: path.to_path_buf(),
            tmp: dir.join(format!(".{name}.partial")),
            written: 0,
        })
    }
}

/// Encodes an RGBA frame as PNG (fast compression: this runs at frame rate).
pub fn encode_png(frame: &Frame, out: impl std::io::Write) -> Result<(), image::ImageError> {
    image::codecs::png::PngEncoder::new_with_quality(
        out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Sub,
    )
    .write_image(
        &frame.data,
        frame.size.width,
        frame.size.height,
        image::ExtendedColorType::Rgba8,
    )
}

impl FrameSink for PngSink {
    fn describe(&self) -> String {
        format!("latest frame as {}", self.path.display())
    }

    fn format(&self) -> PixelFormat {
        PixelFormat::Rgba
    }

    fn demand(&self) -> Demand {
        Demand::Always
    }

    fn write(&mut self, frame: &SharedFrame) -> Result<(), SinkError> {
        let err = |reason: String| SinkError::File {
            path: self.path.display().to_string(),
            reason,
        };
        let file =
            std::fs::File::create(&self.tmp).map_err(|e| err(format!("cannot write: {e}")))?;
        encode_png(frame, BufWriter::new(file)).map_err(|e| err(format!("cannot encode: {e}")))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| err(format!("cannot replace: {e}")))?;
        self.written += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Size;

    #[test]
    fn latest_frame_replaces_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("f.png");
        let mut sink = PngSink::new(&path).expect("sink");
        let size = Size::new(8, 4);
        for v in [10u8, 200] {
            let f = Frame::new(size, PixelFormat::Rgba, vec![v; 8 * 4 * 4], 0);
            sink.write(&std::sync::Arc::new(f)).expect("write");
        }
        let img = image::open(&path).expect("png").to_rgba8();
        assert_eq!(img.dimensions(), (8, 4));
        assert_eq!(img.get_pixel(3, 2).0, [200, 200, 200, 200]);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(leftovers.len(), 1, "no partial file left behind");
    }

    #[test]
    fn missing_folder_is_reported_up_front() {
        let err = PngSink::new(Path::new("/no/such/folder/f.png")).expect_err("missing");
        assert!(err.to_string().contains("does not exist"));
    }
}
