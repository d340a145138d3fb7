//! A camera's buffers as the V4L2 source decodes them: MJPEG (a camera
//! that sends damaged JPEGs), YUYV and NV12 with any stride and length.
//! Never a panic, never a decode larger than the negotiated frame; a frame
//! it returns has the bytes its size and format say.
//! The first 4 bytes pick the format, the size and the stride.

use bytemeet_fuzz::decode::camera_buffer;
use bytemeet_fuzz::frame::{FramePool, Size};
use bytemeet_fuzz::settings::source::CameraFormat;

fn main() {
    let pool = FramePool::default();
    afl::fuzz!(|data: &[u8]| {
        let [f, w, h, stride, ref bytes @ ..] = *data else {
            return;
        };
        let format = match f % 3 {
            0 => CameraFormat::Mjpeg,
            1 => CameraFormat::Yuyv,
            _ => CameraFormat::Nv12,
        };
        let size = Size::new(u32::from(w % 65) * 2, u32::from(h % 65) * 2);
        if let Some(frame) = camera_buffer(format, size, u32::from(stride), bytes, &pool) {
            let s = frame.size;
            assert!(s.pixels() <= size.pixels(), "{s} from a {size} stream");
            assert_eq!(frame.data.len(), frame.format.frame_len(s.width, s.height));
            assert!(s.width % 2 == 0 && s.height % 2 == 0, "{s}");
        }
    });
}
