//! What the fuzz targets share: the daemon's `.cube` LUT parser, compiled
//! here from its own source file (it needs nothing but `std`), so fuzzing it
//! does not instrument the daemon's whole dependency tree.

#[path = "../../daemon/src/gpu/lut.rs"]
#[allow(dead_code, clippy::all)]
pub mod lut;

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
