//! The effect stage of the frame loop: turns the effect settings into GPU work
//! and never lets a GPU problem stop the picture (the frame then passes through
//! unfiltered, and the problem is said once, with its fix).

use crate::frame::{Frame, PixelFormat};
use crate::gpu::engine::GpuEngine;
use crate::gpu::filters::FilterSpec;
use crate::gpu::{GpuContext, GpuPreference};

#[derive(Debug)]
enum Engine {
    NotStarted,
    Ready(Box<GpuEngine>),
    Unavailable,
}

/// Effect settings plus the engine that applies them.
#[derive(Debug)]
pub struct Effects {
    filter: Option<FilterSpec>,
    preference: GpuPreference,
    engine: Engine,
    last_error: Option<String>,
}

impl Effects {
    pub fn new(filter: Option<FilterSpec>, preference: GpuPreference) -> Self {
        Effects {
            filter,
            preference,
            engine: Engine::NotStarted,
            last_error: None,
        }
    }

    /// True when frames go through the GPU at all.
    pub fn active(&self) -> bool {
        self.filter.is_some()
    }

    pub fn set_filter(&mut self, filter: Option<FilterSpec>) {
        self.filter = filter;
    }

    /// Starts the GPU on first use (about 0.2 s on lavapipe), not at start-up,
    /// so a daemon without effects never touches the GPU.
    fn engine(engine: &mut Engine, preference: GpuPreference) -> Option<&mut GpuEngine> {
        if let Engine::NotStarted = engine {
            *engine = match GpuContext::new(preference).and_then(GpuEngine::new) {
                Ok(e) => {
                    tracing::info!(adapter = %e.adapter(), "GPU effects ready");
                    Engine::Ready(Box::new(e))
                }
                Err(e) => {
                    tracing::error!("{e}; frames pass through without effects");
                    Engine::Unavailable
                }
            };
        }
        match engine {
            Engine::Ready(e) => Some(e),
            _ => None,
        }
    }

    /// Applies the current effects; returns the frame in `out` when it went
    /// through the GPU, or unchanged when there is nothing to do or it failed.
    pub fn apply(&mut self, frame: Frame, out: PixelFormat) -> Frame {
        let Some(filter) = self.filter.as_ref() else {
            return frame;
        };
        let seq = frame.seq as u32;
        let Some(engine) = Self::engine(&mut self.engine, self.preference) else {
            return frame;
        };
        match engine.process(&frame, Some(filter), seq, out) {
            Ok(f) => {
                if self.last_error.take().is_some() {
                    tracing::info!("effects work again");
                }
                f
            }
            Err(e) => {
                let msg = e.to_string();
                if self.last_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!("effect failed: {msg}; showing the unfiltered picture");
                    self.last_error = Some(msg);
                }
                frame
            }
        }
    }
}
