//! `[studio]`: the studio page's server.

/// How the studio page is served. Every key is optional.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudioSettings {
    /// Start the page's server with the daemon rather than on first use
    /// (`bytemeetctl studio`).
    #[serde(default)]
    pub start: bool,
    /// The port on 127.0.0.1 and ::1; 0 (the default) picks a free one.
    #[serde(default)]
    pub port: u16,
}
