//! `bytemeetd`: ByteMeet's camera daemon. Frames flow from a source (webcam,
//! demo portrait, file) through the effect chain to the outputs (virtual
//! camera on v4l2loopback and PipeWire, clips); see `ARCHITECTURE.md` for the map.

pub mod avatar;
pub mod config;
pub mod control;
pub mod convert;
pub mod decode;
pub mod effects;
pub mod frame;
pub mod gpu;
pub mod inject;
pub mod perception;
pub mod pipeline;
pub mod pipewire;
pub mod placeholder;
pub mod queue;
pub mod room;
pub mod say_once;
pub mod scheduler;
pub mod settings;
pub mod sink;
pub mod source;
pub mod stats;
pub mod studio;
pub mod supervise;
pub mod v4l2;
