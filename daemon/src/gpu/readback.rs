//! The readback ring: finished frames are copied into one of `RING` mappable
//! buffers and read back in order, so the GPU works on the next frame while
//! the CPU reads the last one.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Instant;

use super::GpuError;
use crate::frame::{Frame, FramePool, PixelFormat, Size};

/// Readback buffers in the ring: one being written by the GPU, one being read
/// by the CPU, one spare.
pub const RING: usize = 3;

/// What a frame on its way back is, besides its bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Meta {
    pub size: Size,
    /// The format the GPU wrote.
    pub packed: PixelFormat,
    /// The format asked for (converted on the CPU when it differs).
    pub out: PixelFormat,
    pub seq: u64,
    pub captured_at: Instant,
}

#[derive(Debug)]
struct InFlight {
    slot: usize,
    len: u64,
    meta: Meta,
    mapped: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
}

/// `RING` readback buffers of one size and the frames in them.
#[derive(Debug)]
pub(super) struct Ring {
    buffers: [wgpu::Buffer; RING],
    capacity: u64,
    in_flight: VecDeque<InFlight>,
    next: usize,
    /// Buffers for the frames read back, and for their CPU conversion when
    /// the format asked for is not the one the GPU wrote.
    packed: FramePool,
    converted: FramePool,
}

impl Ring {
    pub fn new(d: &wgpu::Device, capacity: u64) -> Ring {
        Ring {
            buffers: [0, 1, 2].map(|_| {
                d.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback"),
                    size: capacity,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            }),
            capacity,
            in_flight: VecDeque::new(),
            next: 0,
            packed: FramePool::default(),
            converted: FramePool::default(),
        }
    }

    /// Frames submitted and not yet collected.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Records the copy of `len` bytes of `from` into the next buffer; call
    /// `map` with its slot once the encoder is submitted.
    pub fn record(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        from: &wgpu::Buffer,
        len: u64,
    ) -> usize {
        let slot = self.next;
        self.next = (slot + 1) % RING;
        enc.copy_buffer_to_buffer(from, 0, &self.buffers[slot], 0, len.min(self.capacity));
        slot
    }

    /// Asks for `slot` to be mapped once the GPU is done with it.
    pub fn map(&mut self, slot: usize, len: u64, meta: Meta) {
        let (tx, rx) = mpsc::channel();
        self.buffers[slot]
            .slice(..len)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        self.in_flight.push_back(InFlight {
            slot,
            len,
            meta,
            mapped: rx,
        });
    }

    /// The oldest frame in flight, once the GPU has finished it. With `wait`
    /// false it returns None at once when that frame is not ready yet.
    pub fn collect(
        &mut self,
        device: &wgpu::Device,
        wait: bool,
    ) -> Option<Result<Frame, GpuError>> {
        let front = self.in_flight.front()?;
        let poll = if wait {
            wgpu::PollType::wait_indefinitely()
        } else {
            wgpu::PollType::Poll
        };
        if let Err(e) = device.poll(poll) {
            self.in_flight.pop_front();
            return Some(Err(GpuError::Failed(e.to_string())));
        }
        let mapped = match front.mapped.try_recv() {
            Ok(r) => r,
            Err(mpsc::TryRecvError::Empty) if !wait => return None,
            Err(e) => {
                self.in_flight.pop_front();
                return Some(Err(GpuError::Failed(format!("readback lost: {e}"))));
            }
        };
        let f = self.in_flight.pop_front()?;
        Some(self.read(f, mapped))
    }

    fn read(
        &self,
        f: InFlight,
        mapped: Result<(), wgpu::BufferAsyncError>,
    ) -> Result<Frame, GpuError> {
        mapped.map_err(|e| GpuError::Failed(e.to_string()))?;
        let buffer = &self.buffers[f.slot];
        let data = self.packed.copy_of(
            &buffer
                .slice(..f.len)
                .get_mapped_range()
                .map_err(|e| GpuError::Failed(e.to_string()))?,
        );
        buffer.unmap();
        let m = f.meta;
        let packed = Frame {
            size: m.size,
            format: m.packed,
            data,
            seq: m.seq,
            captured_at: m.captured_at,
        };
        if m.packed == m.out {
            Ok(packed)
        } else {
            crate::convert::convert_pooled(&packed, m.out, &self.converted)
                .map_err(|e| GpuError::Failed(e.to_string()))
        }
    }
}
