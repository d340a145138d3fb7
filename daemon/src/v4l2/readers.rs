//! Who is watching the virtual camera? v4l2loopback tells its producer through a
//! private "client usage" event (id changed in 0.13; both are subscribed). Where
//! neither exists, opens and closes of the node are watched with inotify and the
//! holders counted from `/proc`.

use std::path::{Path, PathBuf};

use v4l::v4l_sys::{v4l2_event, v4l2_event_subscription};

use super::{
    holders, ioctl, CLIENT_USAGE_EVENT_V012, CLIENT_USAGE_EVENT_V013, EVENT_SUB_FL_SEND_INITIAL,
    VIDIOC_DQEVENT, VIDIOC_SUBSCRIBE_EVENT,
};

/// How readers are being learnt about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderSignal {
    /// v4l2loopback >= 0.13 client-usage event.
    EventV013,
    /// v4l2loopback 0.12 client-usage event.
    EventV012,
    /// inotify open/close events plus a `/proc` scan.
    OpenWatch,
    /// Nothing works: assume someone reads, so the picture stays live.
    AssumeReaders,
}

impl std::fmt::Display for ReaderSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReaderSignal::EventV013 => "v4l2loopback client-usage events (0.13+)",
            ReaderSignal::EventV012 => "v4l2loopback client-usage events (0.12)",
            ReaderSignal::OpenWatch => "watching opens of the device (inotify + /proc)",
            ReaderSignal::AssumeReaders => "no reader signal: camera kept on",
        })
    }
}

/// Reads one client-usage event payload (`struct v4l2_event_client_usage { __u32 count; }`).
pub fn usage_count(ev: &v4l2_event) -> u32 {
    // SAFETY: every variant of the union is plain bytes; `data` covers all of it.
    let data = unsafe { ev.u.data };
    u32::from_ne_bytes([data[0], data[1], data[2], data[3]])
}

/// Tracks the number of readers of one virtual camera.
#[derive(Debug)]
pub struct ReaderWatch {
    signal: ReaderSignal,
    path: PathBuf,
    inotify: Option<inotify::Inotify>,
    readers: u32,
    last_scan: std::time::Instant,
}

/// How often the open-watch fallback recounts holders without an event. A
/// descriptor inherited by a forked process is released without any close
/// event (the open file lives on elsewhere), so events alone can leave the
/// count stale.
const RESCAN_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

fn subscribe(fd: i32, event: u32) -> std::io::Result<()> {
    // SAFETY: zero is a valid bit pattern for this plain C structure.
    let mut sub: v4l2_event_subscription = unsafe { std::mem::zeroed() };
    sub.type_ = event;
    sub.flags = EVENT_SUB_FL_SEND_INITIAL;
    // SAFETY: VIDIOC_SUBSCRIBE_EVENT takes a v4l2_event_subscription.
    unsafe { ioctl(fd, VIDIOC_SUBSCRIBE_EVENT, &mut sub) }
}

impl ReaderWatch {
    /// Starts watching the device open as `fd` at `path`.
    pub fn new(fd: i32, path: &Path) -> Self {
        let signal = if subscribe(fd, CLIENT_USAGE_EVENT_V013).is_ok() {
            ReaderSignal::EventV013
        } else if subscribe(fd, CLIENT_USAGE_EVENT_V012).is_ok() {
            ReaderSignal::EventV012
        } else {
            ReaderSignal::OpenWatch
        };
        let mut inotify = None;
        let signal = if signal == ReaderSignal::OpenWatch {
            match inotify::Inotify::init().and_then(|i| {
                i.watches()
                    .add(path, inotify::WatchMask::OPEN | inotify::WatchMask::CLOSE)
                    .map(|_| i)
            }) {
                Ok(i) => {
                    inotify = Some(i);
                    ReaderSignal::OpenWatch
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cannot watch the virtual camera for readers ({e}); the real camera stays on");
                    ReaderSignal::AssumeReaders
                }
            }
        } else {
            signal
        };
        let readers = match signal {
            ReaderSignal::OpenWatch => holders(path).len() as u32,
            ReaderSignal::AssumeReaders => 1,
            // The initial event (SEND_INITIAL) arrives through poll().
            _ => 0,
        };
        ReaderWatch {
            signal,
            path: path.to_path_buf(),
            inotify,
            readers,
            last_scan: std::time::Instant::now(),
        }
    }

    pub fn signal(&self) -> ReaderSignal {
        self.signal
    }

    /// The reader count as last learnt.
    pub fn readers(&self) -> u32 {
        self.readers
    }

    /// Takes in whatever happened since the last call, without blocking, and
    /// returns the reader count.
    pub fn poll(&mut self, fd: i32) -> u32 {
        match self.signal {
            ReaderSignal::EventV013 | ReaderSignal::EventV012 => {
                for _ in 0..64 {
                    let mut pfd = libc::pollfd {
                        fd,
                        events: libc::POLLPRI,
                        revents: 0,
                    };
                    // SAFETY: one pollfd on the stack, zero timeout.
                    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
                    if n <= 0 || pfd.revents & libc::POLLPRI == 0 {
                        break;
                    }
                    // SAFETY: zero is a valid bit pattern for this plain C structure.
                    let mut ev: v4l2_event = unsafe { std::mem::zeroed() };
                    // SAFETY: VIDIOC_DQEVENT fills a v4l2_event.
                    if unsafe { ioctl(fd, VIDIOC_DQEVENT, &mut ev) }.is_err() {
                        break;
                    }
                    if ev.type_ == CLIENT_USAGE_EVENT_V013 || ev.type_ == CLIENT_USAGE_EVENT_V012 {
                        self.readers = usage_count(&ev);
                    }
                }
            }
            ReaderSignal::OpenWatch => {
                if let Some(ino) = self.inotify.as_mut() {
                    let mut buf = [0u8; 1024];
                    let mut changed = false;
                    while let Ok(events) = ino.read_events(&mut buf) {
                        if events.count() == 0 {
                            break;
                        }
                        changed = true;
                    }
                    if changed || self.last_scan.elapsed() >= RESCAN_EVERY {
                        self.readers = holders(&self.path).len() as u32;
                        self.last_scan = std::time::Instant::now();
                    }
                }
            }
            ReaderSignal::AssumeReaders => {}
        }
        self.readers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_payload_is_the_first_u32() {
        // SAFETY: zero is a valid bit pattern for this plain C structure.
        let mut ev: v4l2_event = unsafe { std::mem::zeroed() };
        ev.type_ = CLIENT_USAGE_EVENT_V013;
        let mut data = [0u8; 64];
        data[..4].copy_from_slice(&3u32.to_ne_bytes());
        ev.u.data = data;
        assert_eq!(usage_count(&ev), 3);
    }

    #[test]
    fn open_watch_counts_other_processes_holding_the_node() {
        // A regular file stands in for the node: event subscription fails on it
        // (ENOTTY), so the inotify fallback is what runs, as on drivers without events.
        let f = tempfile::NamedTempFile::new().expect("tmp");
        let own = std::fs::File::open(f.path()).expect("open");
        use std::os::fd::AsRawFd;
        let mut w = ReaderWatch::new(own.as_raw_fd(), f.path());
        assert_eq!(w.signal(), ReaderSignal::OpenWatch);
        let me = format!("[{}]", std::process::id());
        assert!(
            !holders(f.path()).iter().any(|h| h.ends_with(&me)),
            "our own descriptor is not a reader"
        );
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec sleep 5 3<'{}'", f.path().display()))
            .spawn()
            .expect("spawn");
        let mut seen = 0;
        for _ in 0..200 {
            seen = w.poll(own.as_raw_fd());
            if seen > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        // At least the child; a process forked by a parallel test can hold our
        // descriptors for an instant, and counts too while it does.
        assert!(seen >= 1, "the child was seen");
        let mut after = 1;
        for _ in 0..300 {
            after = w.poll(own.as_raw_fd());
            if after == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(after, 0, "the reader left");
    }
}
