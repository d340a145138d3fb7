//! The producer side of a v4l2loopback virtual camera: set the format, map a
//! ring of output buffers, and queue one frame per write (mmap streaming, which
//! v4l2loopback handles far better than `write()`).

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use v4l::v4l_sys::{v4l2_buffer, v4l2_requestbuffers};
use v4l::video::Output;

use super::{holders_note, ioctl, LOOPBACK_DRIVER};
use crate::frame::{PixelFormat, Size};

const BUF_TYPE_VIDEO_OUTPUT: u32 = 2;
const MEMORY_MMAP: u32 = 1;
const FIELD_NONE: u32 = 1;
const BUF_FLAG_TIMESTAMP_MONOTONIC: u32 = 0x2000;
const BUFFER_COUNT: u32 = 4;

/// Why a virtual camera cannot be fed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: no such device. Load the virtual camera driver: `sudo modprobe v4l2loopback exclusive_caps=1 card_label=\"ByteMeet Camera\"`")]
    NotFound { path: String },
    #[error("{path}: permission denied. Add yourself to the `video` group (`sudo usermod -aG video $USER`, then log in again)")]
    PermissionDenied { path: String },
    #[error("{path} is not a v4l2loopback virtual camera (driver {driver:?}); ByteMeet writes only to v4l2loopback devices")]
    NotLoopback { path: String, driver: String },
    #[error("{path} already has another producer{holders}. Stop it, or pick another virtual camera with --output v4l2:/dev/videoN")]
    Busy { path: String, holders: String },
    #[error("{path} refused {format} {size}: {reason}")]
    FormatRefused {
        path: String,
        format: PixelFormat,
        size: Size,
        reason: String,
    },
    #[error("{path} went away ({reason}); was the v4l2loopback module unloaded?")]
    Lost { path: String, reason: String },
    #[error("{path}: {op} failed: {source}")]
    Io {
        path: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

struct Mapped {
    ptr: *mut u8,
    len: usize,
}

/// An open, streaming virtual camera.
pub struct LoopbackOutput {
    path: PathBuf,
    dev: v4l::Device,
    buffers: Vec<Mapped>,
    free: VecDeque<u32>,
    /// Buffers handed to the driver and not yet dequeued.
    queued: usize,
    format: PixelFormat,
    size: Size,
    streaming: bool,
    sequence: u32,
}

// SAFETY: the mapped pointers belong to this value alone and are only touched
// through `&mut self`; moving the owner to another thread is fine.
unsafe impl Send for LoopbackOutput {}

impl std::fmt::Debug for LoopbackOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackOutput")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("size", &self.size)
            .finish()
    }
}

fn open_error(path: &Path, e: io::Error) -> OutputError {
    let p = path.display().to_string();
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => {
            OutputError::NotFound { path: p }
        }
        Some(libc::EACCES) | Some(libc::EPERM) => OutputError::PermissionDenied { path: p },
        Some(libc::EBUSY) => OutputError::Busy {
            holders: holders_note(path),
            path: p,
        },
        _ => OutputError::Io {
            path: p,
            op: "open",
            source: e,
        },
    }
}

impl LoopbackOutput {
    /// Opens `path`, checks it is a v4l2loopback with no other producer, sets the
    /// format and frame rate, and maps the buffers. Streaming starts on the first write.
    pub fn open(
        path: &Path,
        size: Size,
        format: PixelFormat,
        fps: f64,
    ) -> Result<Self, OutputError> {
        let p = path.display().to_string();
        let dev = v4l::Device::with_path(path).map_err(|e| open_error(path, e))?;
        let caps = dev.query_caps().map_err(|e| OutputError::Io {
            path: p.clone(),
            op: "VIDIOC_QUERYCAP",
            source: e,
        })?;
        if caps.driver != LOOPBACK_DRIVER {
            return Err(OutputError::NotLoopback {
                path: p,
                driver: caps.driver,
            });
        }
        if !caps
            .capabilities
            .contains(v4l::capability::Flags::VIDEO_OUTPUT)
        {
            // With exclusive_caps=1 the node shows only CAPTURE while a producer is attached.
            return Err(OutputError::Busy {
                holders: holders_note(path),
                path: p,
            });
        }
        let want = v4l::Format::new(size.width, size.height, v4l::FourCC::new(&format.fourcc()));
        let got = Output::set_format(&dev, &want).map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => OutputError::Busy {
                holders: holders_note(path),
                path: p.clone(),
            },
            _ => OutputError::FormatRefused {
                path: p.clone(),
                format,
                size,
                reason: e.to_string(),
            },
        })?;
        if got.width != size.width || got.height != size.height || got.fourcc != want.fourcc {
            return Err(OutputError::FormatRefused {
                path: p,
                format,
                size,
                reason: format!(
                    "the driver answered {}x{} {} (is a reader holding an older format? close it and retry)",
                    got.width, got.height, got.fourcc
                ),
            });
        }
        if fps > 0.0 {
            let params = v4l::video::output::Parameters::with_fps(fps.round().max(1.0) as u32);
            if let Err(e) = Output::set_params(&dev, &params) {
                tracing::debug!(path = %p, "frame rate not accepted ({e}); readers see the driver default");
            }
        }
        let mut out = LoopbackOutput {
            path: path.to_path_buf(),
            dev,
            buffers: Vec::new(),
            free: VecDeque::new(),
            queued: 0,
            format,
            size,
            streaming: false,
            sequence: 0,
        };
        out.map_buffers()?;
        Ok(out)
    }

    fn fd(&self) -> i32 {
        self.dev.handle().fd()
    }

    fn io_err(&self, op: &'static str, e: io::Error) -> OutputError {
        match e.raw_os_error() {
            Some(libc::ENODEV) | Some(libc::ENXIO) | Some(libc::EIO) => OutputError::Lost {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            },
            Some(libc::EBUSY) => OutputError::Busy {
                holders: holders_note(&self.path),
                path: self.path.display().to_string(),
            },
            _ => OutputError::Io {
                path: self.path.display().to_string(),
                op,
                source: e,
            },
        }
    }

    fn map_buffers(&mut self) -> Result<(), OutputError> {
        // SAFETY: zero is a valid bit pattern for these plain C structures.
        let mut req: v4l2_requestbuffers = unsafe { std::mem::zeroed() };
        req.count = BUFFER_COUNT;
        req.type_ = BUF_TYPE_VIDEO_OUTPUT;
        req.memory = MEMORY_MMAP;
        // SAFETY: VIDIOC_REQBUFS takes a v4l2_requestbuffers.
        unsafe { ioctl(self.fd(), v4l::v4l2::vidioc::VIDIOC_REQBUFS, &mut req) }
            .map_err(|e| self.io_err("VIDIOC_REQBUFS", e))?;
        if req.count == 0 {
            return Err(self.io_err("VIDIOC_REQBUFS", io::Error::from_raw_os_error(libc::ENOMEM)));
        }
        let needed = self.format.frame_len(self.size.width, self.size.height);
        for index in 0..req.count {
            // SAFETY: as above.
            let mut buf: v4l2_buffer = unsafe { std::mem::zeroed() };
            buf.index = index;
            buf.type_ = BUF_TYPE_VIDEO_OUTPUT;
            buf.memory = MEMORY_MMAP;
            // SAFETY: VIDIOC_QUERYBUF takes a v4l2_buffer.
            unsafe { ioctl(self.fd(), v4l::v4l2::vidioc::VIDIOC_QUERYBUF, &mut buf) }
                .map_err(|e| self.io_err("VIDIOC_QUERYBUF", e))?;
            let len = buf.length as usize;
            if len < needed {
                return Err(OutputError::FormatRefused {
                    path: self.path.display().to_string(),
                    format: self.format,
                    size: self.size,
                    reason: format!("driver buffers hold {len} bytes, a frame needs {needed}"),
                });
            }
            // SAFETY: mapping the driver buffer the kernel just described; the
            // offset is the one QUERYBUF returned for MMAP memory.
            let ptr = unsafe {
                v4l::v4l2::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    self.fd(),
                    buf.m.offset as libc::off_t,
                )
            }
            .map_err(|e| self.io_err("mmap", e))?;
            self.buffers.push(Mapped {
                ptr: ptr as *mut u8,
                len,
            });
            self.free.push_back(index);
        }
        Ok(())
    }

    /// One buffer the driver has finished with, if any (never blocks).
    fn try_dequeue(&mut self) -> Result<Option<u32>, OutputError> {
        // SAFETY: zero is a valid bit pattern for this plain C structure.
        let mut buf: v4l2_buffer = unsafe { std::mem::zeroed() };
        buf.type_ = BUF_TYPE_VIDEO_OUTPUT;
        buf.memory = MEMORY_MMAP;
        // SAFETY: VIDIOC_DQBUF takes a v4l2_buffer; the device is non-blocking.
        match unsafe { ioctl(self.fd(), v4l::v4l2::vidioc::VIDIOC_DQBUF, &mut buf) } {
            Ok(()) => Ok(Some(buf.index)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINVAL)) => {
                Ok(None)
            }
            Err(e) => Err(self.io_err("VIDIOC_DQBUF", e)),
        }
    }

    /// Takes back buffers the driver is done with. Dequeues at most as many
    /// buffers as are queued: v4l2loopback 0.12 answers every output DQBUF with
    /// some buffer, so "until EAGAIN" would never end. With `wait`, and none
    /// free, waits up to that long for one.
    fn reclaim(&mut self, wait: Option<Duration>) -> Result<(), OutputError> {
        if let Some(wait) = wait {
            if self.free.is_empty() {
                let ms = wait.as_millis().min(i32::MAX as u128) as i32;
                let ready = self
                    .dev
                    .handle()
                    .poll(libc::POLLOUT, ms)
                    .map_err(|e| self.io_err("poll", e))?;
                if ready == 0 {
                    return Err(OutputError::Io {
                        path: self.path.display().to_string(),
                        op: "VIDIOC_DQBUF",
                        source: io::Error::new(
                            io::ErrorKind::TimedOut,
                            "driver returned no buffer",
                        ),
                    });
                }
            }
        }
        while self.queued > 0 {
            match self.try_dequeue()? {
                Some(index) => {
                    self.queued -= 1;
                    if (index as usize) < self.buffers.len() && !self.free.contains(&index) {
                        self.free.push_back(index);
                    }
                }
                None => break,
            }
        }
        Ok(())
    }

    /// Queues one frame (`data` in the format and size given at open).
    pub fn write(&mut self, data: &[u8]) -> Result<(), OutputError> {
        let len = self.format.frame_len(self.size.width, self.size.height);
        if data.len() != len {
            return Err(OutputError::FormatRefused {
                path: self.path.display().to_string(),
                format: self.format,
                size: self.size,
                reason: format!("frame has {} bytes, expected {len}", data.len()),
            });
        }
        if self.free.is_empty() {
            self.reclaim(Some(Duration::from_secs(2)))?;
        }
        let Some(index) = self.free.pop_front() else {
            return Err(self.io_err("VIDIOC_DQBUF", io::Error::from_raw_os_error(libc::EAGAIN)));
        };
        let mapped = &self.buffers[index as usize];
        // SAFETY: the buffer is mapped for `mapped.len >= len` bytes (checked at
        // map time) and not queued, so the driver is not reading it.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), mapped.ptr, len) };
        // SAFETY: as above.
        let mut buf: v4l2_buffer = unsafe { std::mem::zeroed() };
        buf.index = index;
        buf.type_ = BUF_TYPE_VIDEO_OUTPUT;
        buf.memory = MEMORY_MMAP;
        buf.bytesused = len as u32;
        buf.field = FIELD_NONE;
        buf.flags = BUF_FLAG_TIMESTAMP_MONOTONIC;
        buf.sequence = self.sequence;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: plain clock read into a local.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        buf.timestamp.tv_sec = ts.tv_sec as _;
        buf.timestamp.tv_usec = (ts.tv_nsec / 1000) as _;
        // SAFETY: VIDIOC_QBUF takes a v4l2_buffer.
        if let Err(e) = unsafe { ioctl(self.fd(), v4l::v4l2::vidioc::VIDIOC_QBUF, &mut buf) } {
            self.free.push_front(index);
            return Err(self.io_err("VIDIOC_QBUF", e));
        }
        self.queued += 1;
        self.sequence = self.sequence.wrapping_add(1);
        if !self.streaming {
            let mut ty: i32 = BUF_TYPE_VIDEO_OUTPUT as i32;
            // SAFETY: VIDIOC_STREAMON takes an int buffer type.
            unsafe { ioctl(self.fd(), v4l::v4l2::vidioc::VIDIOC_STREAMON, &mut ty) }
                .map_err(|e| self.io_err("VIDIOC_STREAMON", e))?;
            self.streaming = true;
        }
        self.reclaim(None)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw descriptor, for event subscription on the same open file.
    pub fn raw_fd(&self) -> i32 {
        self.fd()
    }
}

impl AsRawFd for LoopbackOutput {
    fn as_raw_fd(&self) -> i32 {
        self.fd()
    }
}

impl Drop for LoopbackOutput {
    fn drop(&mut self) {
        if self.streaming {
            let mut ty: i32 = BUF_TYPE_VIDEO_OUTPUT as i32;
            // SAFETY: VIDIOC_STREAMOFF takes an int buffer type.
            let _ = unsafe { ioctl(self.fd(), v4l::v4l2::vidioc::VIDIOC_STREAMOFF, &mut ty) };
        }
        for m in self.buffers.drain(..) {
            // SAFETY: unmapping exactly what map_buffers mapped.
            let _ = unsafe { v4l::v4l2::munmap(m.ptr as *mut std::os::raw::c_void, m.len) };
        }
        // SAFETY: as above.
        let mut req: v4l2_requestbuffers = unsafe { std::mem::zeroed() };
        req.type_ = BUF_TYPE_VIDEO_OUTPUT;
        req.memory = MEMORY_MMAP;
        // SAFETY: VIDIOC_REQBUFS with count 0 frees the driver's buffers.
        let _ = unsafe { ioctl(self.fd(), v4l::v4l2::vidioc::VIDIOC_REQBUFS, &mut req) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_missing_node_says_how_to_load_the_driver() {
        let err = LoopbackOutput::open(
            Path::new("/dev/video-none-here"),
            Size::new(640, 480),
            PixelFormat::Yuyv,
            30.0,
        )
        .expect_err("no such node");
        assert!(matches!(err, OutputError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("modprobe v4l2loopback"), "{err}");
    }

    #[test]
    fn a_regular_file_is_not_a_virtual_camera() {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        let err = LoopbackOutput::open(f.path(), Size::new(640, 480), PixelFormat::Yuyv, 30.0)
            .expect_err("not a device");
        // QUERYCAP on a regular file fails with ENOTTY: reported with the ioctl's name.
        assert!(err.to_string().contains("VIDIOC_QUERYCAP"), "{err}");
    }
}
