//! A still image (a file source, a background picture): PNG or JPEG told by
//! its content, with the daemon's size and memory limits. Never a panic; an
//! image it returns is within the limits and whole.

use bytemeet_fuzz::decode::{still_image, MAX_STILL_SIDE};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let reader = image::ImageReader::new(std::io::Cursor::new(data));
        if let Ok(img) = still_image(reader) {
            assert!(img.width() <= MAX_STILL_SIDE && img.height() <= MAX_STILL_SIDE);
            assert_eq!(
                img.as_raw().len(),
                img.width() as usize * img.height() as usize * 4
            );
        }
    });
}
