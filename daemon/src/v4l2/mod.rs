//! The V4L2 edge: device discovery, capture-format negotiation, the mmap output
//! ring that feeds v4l2loopback, and reader detection on the virtual camera.
//!
//! Plain ioctls go through the `v4l` crate; the few it lacks (events, raw buffer
//! queueing for output) are issued here with the kernel's own structures from
//! `v4l::v4l_sys`.

pub mod discover;
pub mod negotiate;
pub mod output;
pub mod readers;

use std::io;
use std::path::Path;

/// What v4l2loopback reports as its driver name in `VIDIOC_QUERYCAP`.
pub const LOOPBACK_DRIVER: &str = "v4l2 loopback";

/// The card label ByteMeet's packaging gives its virtual camera.
pub const BYTEMEET_CARD_LABEL: &str = "ByteMeet Camera";

/// `V4L2_EVENT_PRIVATE_START` from `videodev2.h`.
pub const EVENT_PRIVATE_START: u32 = 0x0800_0000;
/// v4l2loopback's client-usage event id up to 0.12.x.
pub const CLIENT_USAGE_EVENT_V012: u32 = EVENT_PRIVATE_START;
/// v4l2loopback's client-usage event id from 0.13 on.
pub const CLIENT_USAGE_EVENT_V013: u32 = EVENT_PRIVATE_START + 0x08E0_0000 + 1;
/// `V4L2_EVENT_SUB_FL_SEND_INITIAL`: report the current state right after subscribing.
pub const EVENT_SUB_FL_SEND_INITIAL: u32 = 1;

/// The integer type ioctl request numbers have on this platform.
pub type Request = v4l::v4l2::vidioc::_IOC_TYPE;

const IOC_WRITE: u64 = 1;
const IOC_READ: u64 = 2;

const fn ioc(dir: u64, nr: u64, size: usize) -> Request {
    ((dir << 30) | ((size as u64) << 16) | ((b'V' as u64) << 8) | nr) as Request
}

/// `VIDIOC_DQEVENT`: `_IOR('V', 89, struct v4l2_event)`.
pub const VIDIOC_DQEVENT: Request = ioc(
    IOC_READ,
    89,
    std::mem::size_of::<v4l::v4l_sys::v4l2_event>(),
);
/// `VIDIOC_SUBSCRIBE_EVENT`: `_IOW('V', 90, struct v4l2_event_subscription)`.
pub const VIDIOC_SUBSCRIBE_EVENT: Request = ioc(
    IOC_WRITE,
    90,
    std::mem::size_of::<v4l::v4l_sys::v4l2_event_subscription>(),
);

/// Issues one ioctl with a kernel structure.
///
/// # Safety
/// `T` must be the structure the kernel expects for `request`.
pub(crate) unsafe fn ioctl<T>(fd: i32, request: Request, arg: &mut T) -> io::Result<()> {
    // SAFETY: the caller guarantees `arg` matches `request`; the kernel reads or
    // writes at most size_of::<T>() bytes, which is encoded in `request`.
    unsafe { v4l::v4l2::ioctl(fd, request, arg as *mut T as *mut std::os::raw::c_void) }
}

/// The processes (other than this one) holding `path` open, as "name[pid]" entries.
/// Scans `/proc/*/fd`, which sees only processes this user may inspect.
pub fn holders(path: &Path) -> Vec<String> {
    let Ok(target) = std::fs::canonicalize(path) else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target))
        {
            let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            out.push(format!("{}[{pid}]", name.trim()));
        }
    }
    out.sort();
    out
}

/// " (held by a[1], b[2])", or "" when no holder is visible.
pub fn holders_note(path: &Path) -> String {
    let h = holders(path);
    if h.is_empty() {
        String::new()
    } else {
        format!(" (held by {})", h.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_kernel_headers() {
        // Values from <linux/videodev2.h> on x86_64 / aarch64.
        assert_eq!(std::mem::size_of::<v4l::v4l_sys::v4l2_event>(), 136);
        assert_eq!(
            std::mem::size_of::<v4l::v4l_sys::v4l2_event_subscription>(),
            32
        );
        assert_eq!(VIDIOC_DQEVENT, 0x8088_5659);
        assert_eq!(VIDIOC_SUBSCRIBE_EVENT, 0x4020_565a);
        assert_eq!(CLIENT_USAGE_EVENT_V013, 0x10E0_0001);
        assert_eq!(CLIENT_USAGE_EVENT_V012, 0x0800_0000);
    }

    #[test]
    fn holders_finds_an_open_file_in_another_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("held");
        std::fs::write(&path, b"x").expect("write");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec 3<'{}'; sleep 5", path.display()))
            .spawn()
            .expect("spawn sh");
        let mut found = Vec::new();
        for _ in 0..100 {
            found = holders(&path);
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            found
                .iter()
                .any(|h| h.contains(&format!("[{}]", child.id()))),
            "{found:?}"
        );
        assert!(holders_note(Path::new("/nonexistent/x")).is_empty());
    }
}
