//! A `.y4m` clip as the file source reads it: header checks, then up to
//! four frames turned into pictures. Never a panic; a frame it returns has
//! the clip's size and the bytes its format says.

use bytemeet_fuzz::decode::{y4m_copy, y4m_decoder, y4m_frame};
use bytemeet_fuzz::frame::FramePool;

fn main() {
    let pool = FramePool::default();
    afl::fuzz!(|data: &[u8]| {
        let Ok((mut decoder, size, colorspace)) = y4m_decoder(std::io::Cursor::new(data)) else {
            return;
        };
        for seq in 0..4 {
            let Ok(raw) = decoder.read_frame() else {
                return;
            };
            let (planes, split) = y4m_copy(&raw, &pool);
            if let Ok(frame) = y4m_frame(colorspace, size, planes, split, seq) {
                assert_eq!(frame.size, size);
                assert_eq!(
                    frame.data.len(),
                    frame.format.frame_len(size.width, size.height)
                );
            }
        }
    });
}
