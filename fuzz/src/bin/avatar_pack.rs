//! An avatar pack as the loader checks it: the manifest (`avatar.toml`)
//! parsed and checked, and its art (SVG or PNG) checked. The first byte
//! says what the rest is: 0 a manifest, 1 an SVG, 2 a PNG. Never a panic;
//! a manifest that parses and passes its checks names valid layers.

use std::path::Path;

use bytemeet_fuzz::avatar::pack::{check_art, check_manifest, parse_manifest};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let [kind, ref rest @ ..] = *data else {
            return;
        };
        match kind % 3 {
            0 => {
                let Ok(text) = std::str::from_utf8(rest) else {
                    return;
                };
                let file = Path::new("fuzz/avatar.toml");
                if let Ok(manifest) = parse_manifest(text, file) {
                    if check_manifest(&manifest, file).is_empty() {
                        assert!(!manifest.layers.is_empty());
                    }
                }
            }
            1 => {
                let _ = check_art("art.svg", rest);
            }
            _ => {
                let _ = check_art("art.png", rest);
            }
        }
    });
}
