//! The config file (`/etc/bytemeet/bytemeetd.toml` or the user's): never a
//! panic, and an error names the file.

use std::path::Path;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Err(e) = bytemeet_fuzz::config::parse(text, Path::new("fuzz.toml")) {
            assert!(e.to_string().contains("fuzz.toml"), "{e}");
        }
    });
}
