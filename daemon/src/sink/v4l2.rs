//! The virtual camera output: feeds a v4l2loopback node, tracks its readers,
//! and reopens it when it comes back after going away.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Demand, FrameSink, SinkError};
use crate::frame::{PixelFormat, SharedFrame, Size};
use crate::v4l2::discover;
use crate::v4l2::output::{LoopbackOutput, OutputError};
use crate::v4l2::readers::ReaderWatch;

const REOPEN_EVERY: Duration = Duration::from_secs(2);

pub struct V4l2Sink {
    path: PathBuf,
    card: String,
    size: Size,
    format: PixelFormat,
    fps: f64,
    out: Option<(LoopbackOutput, ReaderWatch)>,
    readers: Arc<AtomicU32>,
    last_attempt: Instant,
}

impl std::fmt::Debug for V4l2Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4l2Sink")
            .field("path", &self.path)
            .finish()
    }
}

impl V4l2Sink {
    /// Opens a specific virtual camera.
    pub fn open(
        path: PathBuf,
        size: Size,
        format: PixelFormat,
        fps: f64,
    ) -> Result<Self, OutputError> {
        let out = LoopbackOutput::open(&path, size, format, fps)?;
        let card = discover::query(&path).map(|d| d.card).unwrap_or_default();
        let watch = ReaderWatch::new(out.raw_fd(), &path);
        tracing::info!(path = %path.display(), card = %card, readers = %watch.signal(), "virtual camera ready");
        Ok(V4l2Sink {
            readers: Arc::new(AtomicU32::new(watch.readers())),
            path,
            card,
            size,
            format,
            fps,
            out: Some((out, watch)),
            last_attempt: Instant::now(),
        })
    }

    /// Picks the best free virtual camera: label "ByteMeet Camera" first, never
    /// one another producer is feeding. Says which it took and why others were skipped.
    pub fn auto(size: Size, format: PixelFormat, fps: f64) -> Result<Self, String> {
        let devices = discover::list();
        let ranked = discover::rank_loopbacks(&devices);
        if ranked.is_empty() {
            let taken = devices.iter().filter(|d| d.is_loopback()).count();
            return Err(if taken > 0 {
                format!("all {taken} virtual cameras already have a producer; load another with `sudo modprobe v4l2loopback devices=2`")
            } else {
                "no virtual camera: load v4l2loopback with `sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10 card_label=\"ByteMeet Camera\"` (packaging/ installs this at boot)".to_string()
            });
        }
        let mut reasons = Vec::new();
        for d in ranked {
            match Self::open(d.path.clone(), size, format, fps) {
                Ok(s) => {
                    tracing::info!(path = %d.path.display(), card = %d.card, "auto picked this virtual camera");
                    return Ok(s);
                }
                Err(e) => reasons.push(e.to_string()),
            }
        }
        Err(format!("no usable virtual camera: {}", reasons.join("; ")))
    }

    fn reopen(&mut self) {
        if self.last_attempt.elapsed() < REOPEN_EVERY {
            return;
        }
        self.last_attempt = Instant::now();
        match LoopbackOutput::open(&self.path, self.size, self.format, self.fps) {
            Ok(out) => {
                let watch = ReaderWatch::new(out.raw_fd(), &self.path);
                tracing::info!(path = %self.path.display(), "virtual camera is back");
                self.out = Some((out, watch));
            }
            Err(e) => {
                tracing::debug!(path = %self.path.display(), "virtual camera still unavailable: {e}")
            }
        }
    }
}

impl FrameSink for V4l2Sink {
    fn describe(&self) -> String {
        format!(
            "virtual camera {} ({}, {} {})",
            self.path.display(),
            self.card,
            self.format,
            self.size
        )
    }

    fn format(&self) -> PixelFormat {
        self.format
    }

    fn demand(&self) -> Demand {
        Demand::Readers(self.readers.clone())
    }

    fn write(&mut self, frame: &SharedFrame) -> Result<(), SinkError> {
        if self.out.is_none() {
            self.reopen();
        }
        let Some((out, watch)) = self.out.as_mut() else {
            return Ok(()); // still away; reported when it went
        };
        let result = out.write(&frame.data);
        let readers = watch.poll(out.raw_fd());
        self.readers.store(readers, Ordering::Relaxed);
        if let Err(e) = result {
            if matches!(e, OutputError::Lost { .. }) {
                self.out = None;
                self.readers.store(0, Ordering::Relaxed);
                self.last_attempt = Instant::now();
            }
            return Err(e.into());
        }
        Ok(())
    }
}
