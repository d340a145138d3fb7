//! Every parser that reads outside data gets many malformed inputs (fixed
//! seed: reproducible) and must answer with a value or an error, never a
//! panic: camera buffers (MJPEG, raw with strides), `.cube` files, filter,
//! source, output and size specs, config files, y4m clips.

use std::path::PathBuf;

use bytemeetd::config::ConfigFile;
use bytemeetd::frame::Size;
use bytemeetd::gpu::lut::Lut3d;
use bytemeetd::settings::filter::FilterSpec;
use bytemeetd::settings::output::OutputSpec;
use bytemeetd::settings::source::{CameraFormat, SourceSpec};
use bytemeetd::source::file::Y4mSource;
use bytemeetd::source::v4l2::decode_frame;
use bytemeetd::source::FrameSource;

/// xorshift64*: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max as u64) as usize;
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Text made of pieces that parsers care about, shuffled.
    fn text(&mut self, pieces: &[&str], max: usize) -> String {
        let n = self.below(max as u64) as usize;
        (0..n)
            .map(|_| pieces[self.below(pieces.len() as u64) as usize])
            .collect()
    }
}

/// Flips, truncates or splices a valid input.
fn mutate(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    let mut v = valid.to_vec();
    match rng.below(3) {
        0 => v.truncate(rng.below(v.len() as u64 + 1) as usize),
        1 => {
            for _ in 0..1 + rng.below(16) {
                if !v.is_empty() {
                    let i = rng.below(v.len() as u64) as usize;
                    v[i] = rng.next() as u8;
                }
            }
        }
        _ => {
            let at = rng.below(v.len() as u64 + 1) as usize;
            let junk = rng.bytes(64);
            v.splice(at..at, junk);
        }
    }
    v
}

#[test]
fn camera_buffers_never_panic_the_decoder() {
    let mut rng = Rng(0x5eed_0001);
    let mut jpeg = Vec::new();
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 128]));
    image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
        .encode_image(&img)
        .expect("jpeg");
    // One pool for every call, as a camera has: buffers are reused.
    let pool = bytemeetd::frame::FramePool::default();
    for _ in 0..3000 {
        let buf = mutate(&mut rng, &jpeg);
        if let Some(f) = decode_frame(CameraFormat::Mjpeg, Size::new(64, 48), 0, &buf, &pool) {
            assert_eq!(f.data.len(), f.size.pixels() * 4);
        }
        let raw = rng.bytes(64 * 48 * 2 + 64);
        let stride = rng.below(300) as u32;
        for fmt in [CameraFormat::Yuyv, CameraFormat::Nv12] {
            if let Some(f) = decode_frame(fmt, Size::new(64, 48), stride, &raw, &pool) {
                assert_eq!(f.data.len(), f.format.frame_len(64, 48));
            }
        }
    }
}

#[test]
fn malformed_cube_files_are_errors() {
    let mut rng = Rng(0x5eed_0002);
    let pieces = [
        "LUT_3D_SIZE ",
        "2",
        "3",
        "65",
        "999",
        "-1",
        " ",
        "\n",
        "0.5 ",
        "1 ",
        "0 ",
        "nan ",
        "1e40 ",
        "TITLE \"x\"\n",
        "DOMAIN_MIN 0 0 0\n",
        "DOMAIN_MAX 1 1 1\n",
        "# c\n",
        "LUT_1D_SIZE 4\n",
        "x",
        "\u{fffd}",
    ];
    let valid = Lut3d::identity(2);
    for _ in 0..5000 {
        let text = rng.text(&pieces, 60);
        if let Ok(l) = Lut3d::parse(&text, "fuzz.cube") {
            assert_eq!(l.entries.len(), l.size.pow(3));
            assert!(l.entries.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
        }
    }
    assert_eq!(valid.entries.len(), 8);
}

#[test]
fn malformed_specs_and_configs_are_errors() {
    let mut rng = Rng(0x5eed_0003);
    let pieces = [
        "toon",
        "lut",
        "posterize",
        ":",
        ",",
        "=",
        "levels",
        "edge",
        "3",
        "-2",
        "1e9",
        "nan",
        "/tmp/x.cube",
        "v4l2",
        "file",
        "y4m",
        "png",
        "/dev/video",
        "auto",
        "demo",
        "x",
        "1280",
        "720",
        "\"",
        "[",
        "]",
        "\n",
        " ",
        "source",
        "outputs",
    ];
    for _ in 0..5000 {
        let s = rng.text(&pieces, 12);
        let _ = s.parse::<FilterSpec>();
        let _ = s.parse::<SourceSpec>();
        let _ = s.parse::<OutputSpec>();
        if let Ok(size) = s.parse::<Size>() {
            assert!(size.width % 2 == 0 && size.height % 2 == 0);
        }
        let _ = toml::from_str::<ConfigFile>(&s);
    }
}

#[test]
fn malformed_clips_are_errors_not_panics() {
    let mut rng = Rng(0x5eed_0004);
    let dir = tempfile::tempdir().expect("tmp");
    let mut valid = b"YUV4MPEG2 W8 H4 F30:1 C420jpeg\n".to_vec();
    for i in 0..3u8 {
        valid.extend_from_slice(b"FRAME\n");
        valid.extend(std::iter::repeat_n(i * 40, 8 * 4 * 3 / 2));
    }
    let path: PathBuf = dir.path().join("c.y4m");
    for _ in 0..1500 {
        std::fs::write(&path, mutate(&mut rng, &valid)).expect("write");
        if let Ok(mut src) = Y4mSource::open(&path, Size::new(8, 4)) {
            for _ in 0..5 {
                match src.next_frame() {
                    Ok(f) => assert_eq!(f.size, Size::new(8, 4)),
                    Err(_) => break,
                }
            }
        }
    }
}
