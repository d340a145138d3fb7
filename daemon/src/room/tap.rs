//! The rooms' view of the output: the pipeline puts each output picture
//! here (latest wins, never waits), and every joined room's encoder takes
//! the newest one when it is ready for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::frame::SharedFrame;

#[derive(Debug, Default)]
pub struct FrameTap {
    /// (generation, picture): the generation rises with every picture.
    slot: Mutex<(u64, Option<SharedFrame>)>,
    fresh: Condvar,
    /// Rooms that want pictures; while it is 0 the pipeline skips the tap
    /// (and the camera may close).
    readers: AtomicUsize,
}

/// A room's claim on the pictures; dropping it gives the claim back.
#[derive(Debug)]
pub struct TapReader {
    tap: Arc<FrameTap>,
    seen: u64,
}

impl FrameTap {
    pub fn wanted(&self) -> bool {
        self.readers.load(Ordering::Relaxed) > 0
    }

    /// A new picture: replaces the one before, wakes the readers.
    pub fn publish(&self, frame: SharedFrame) {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.0 += 1;
        slot.1 = Some(frame);
        drop(slot);
        self.fresh.notify_all();
    }

    pub fn reader(self: &Arc<Self>) -> TapReader {
        self.readers.fetch_add(1, Ordering::Relaxed);
        let seen = self.slot.lock().unwrap_or_else(|p| p.into_inner()).0;
        TapReader {
            tap: self.clone(),
            seen,
        }
    }
}

impl TapReader {
    /// The newest picture not seen yet, waiting at most `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<SharedFrame> {
        let slot = self.tap.slot.lock().unwrap_or_else(|p| p.into_inner());
        let (slot, _) = self
            .tap
            .fresh
            .wait_timeout_while(slot, timeout, |s| s.0 == self.seen)
            .unwrap_or_else(|p| p.into_inner());
        if slot.0 == self.seen {
            return None;
        }
        self.seen = slot.0;
        slot.1.clone()
    }
}

impl Drop for TapReader {
    fn drop(&mut self) {
        self.tap.readers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Frame, PixelFormat, Size};
    use std::time::Instant;

    fn frame(seq: u64) -> SharedFrame {
        Arc::new(Frame {
            size: Size::new(2, 2),
            format: PixelFormat::I420,
            data: vec![0; 6].into(),
            seq,
            captured_at: Instant::now(),
        })
    }

    #[test]
    fn readers_get_the_newest_picture_once() {
        let tap = Arc::new(FrameTap::default());
        assert!(!tap.wanted());
        let mut r = tap.reader();
        assert!(tap.wanted());
        assert!(r.next(Duration::from_millis(1)).is_none());
        tap.publish(frame(1));
        tap.publish(frame(2));
        assert_eq!(r.next(Duration::from_millis(1)).map(|f| f.seq), Some(2));
        assert!(r.next(Duration::from_millis(1)).is_none());
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                tap.publish(frame(3));
            });
            assert_eq!(r.next(Duration::from_secs(5)).map(|f| f.seq), Some(3));
        });
        drop(r);
        assert!(!tap.wanted());
    }
}
