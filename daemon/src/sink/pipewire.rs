//! The PipeWire camera output: "ByteMeet Camera" as a PipeWire `Video/Source`
//! node, for apps that find cameras through PipeWire (browsers through the
//! Camera portal, OBS, GStreamer) — no kernel module needed.
//!
//! The picture arrives in the daemon's output format at the output size; a
//! consumer that negotiated another format or a smaller size gets it
//! converted here, on the output thread, never in the frame loop.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Demand, FrameSink, SinkError};
use crate::convert;
use crate::frame::{PixelFormat, SharedFrame, Size};
use crate::pipewire::{NodeConfig, NodeState, Offer, Published};

pub struct PipeWireSink {
    node: Published,
    resizer: fast_image_resize::Resizer,
}

impl std::fmt::Debug for PipeWireSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeWireSink")
            .field("node", &self.node)
            .finish()
    }
}

impl PipeWireSink {
    /// Publishes the camera node `name` (the default when `None`). PipeWire
    /// need not be running yet: the node appears when it is.
    pub fn start(
        name: Option<&str>,
        size: Size,
        format: PixelFormat,
        fps: f64,
    ) -> Result<Self, SinkError> {
        let mut config = NodeConfig::camera(size, fps, format);
        if let Some(name) = name {
            config.name = name.to_string();
        }
        let node = Published::start(config).map_err(|e| SinkError::File {
            path: "PipeWire".into(),
            reason: format!("cannot start the PipeWire thread: {e}"),
        })?;
        Ok(PipeWireSink {
            node,
            resizer: fast_image_resize::Resizer::new(),
        })
    }

    /// What the PipeWire thread reports (consumers, format, frames sent).
    pub fn node_state(&self) -> Arc<NodeState> {
        self.node.state().clone()
    }

    /// The picture in the offer's format and size.
    fn adapt(&mut self, frame: &SharedFrame, offer: Offer) -> Result<SharedFrame, SinkError> {
        if frame.format == offer.format && frame.size == offer.size {
            return Ok(frame.clone());
        }
        let fail = |e: convert::ConvertError| SinkError::File {
            path: "PipeWire".into(),
            reason: format!("cannot convert for the consumer's {offer}: {e}"),
        };
        let sized = if frame.size == offer.size {
            None
        } else {
            Some(convert::fit((**frame).clone(), offer.size, &mut self.resizer).map_err(fail)?)
        };
        let src = sized.as_ref().unwrap_or(frame);
        Ok(Arc::new(convert::convert(src, offer.format).map_err(fail)?))
    }
}

impl FrameSink for PipeWireSink {
    fn describe(&self) -> String {
        let c = self.node.config();
        format!("PipeWire camera {} ({})", c.name, c.description)
    }

    fn format(&self) -> PixelFormat {
        self.node.config().format
    }

    fn demand(&self) -> Demand {
        Demand::Readers(self.node.state().consumers.clone())
    }

    fn write(&mut self, frame: &SharedFrame) -> Result<(), SinkError> {
        let state = self.node.state();
        if state.consumers.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let Some(offer) = state.negotiated() else {
            return Ok(());
        };
        let picture = self.adapt(frame, offer)?;
        self.node.send(picture);
        Ok(())
    }
}
