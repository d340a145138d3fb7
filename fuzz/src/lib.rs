//! What the fuzz targets share: the daemon's parsers of outside data (the
//! `.cube` LUT parser; the frame and settings types: effect specs, sources,
//! outputs, sizes, the saved state; the config file; avatar manifests and
//! art; camera buffers, y4m clips and still images), compiled here from
//! their own source files so fuzzing them does not instrument the daemon's
//! whole dependency tree (GPU, models, WebRTC). They sit at this crate's
//! root under the names the daemon gives them (`crate::frame`,
//! `crate::settings`, `crate::avatar::pack`, ...).

#[path = "../../daemon/src/gpu/lut.rs"]
#[allow(dead_code, clippy::all)]
pub mod lut;

#[path = "../../daemon/src/frame.rs"]
#[allow(dead_code, clippy::all)]
pub mod frame;

#[path = "../../daemon/src/settings/mod.rs"]
#[allow(dead_code, clippy::all)]
pub mod settings;

#[path = "../../daemon/src/config.rs"]
#[allow(dead_code, clippy::all)]
pub mod config;

#[path = "../../daemon/src/decode.rs"]
#[allow(dead_code, clippy::all)]
pub mod decode;

#[path = "../../daemon/src/avatar/pack.rs"]
#[allow(dead_code, clippy::all)]
pub mod avatar_pack;

/// The daemon's `crate::avatar::pack`.
pub mod avatar {
    pub use crate::avatar_pack as pack;
}

/// Splits fuzz input into (connection, event, payload) steps: one per line,
/// `C EVENT PAYLOAD`, where `C` is the first byte (a connection out of 4).
pub fn steps(data: &[u8]) -> Vec<(u64, String, String)> {
    String::from_utf8_lossy(data)
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let conn = u64::from(parts.next()?.bytes().next()? % 4);
            let event = parts.next()?.to_string();
            let payload = parts.next().unwrap_or("").to_string();
            Some((conn, event, payload))
        })
        .collect()
}
