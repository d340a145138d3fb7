//! Effect, source and output specs as D-Bus, the command line and the
//! config give them, and the saved state file: never a panic, and a spec
//! that parses prints as text that parses back to the same spec.

use std::fmt::Display;
use std::str::FromStr;

use bytemeet_fuzz::frame::{PixelFormat, Size};
use bytemeet_fuzz::settings::background::BackgroundSpec;
use bytemeet_fuzz::settings::effects::EffectsState;
use bytemeet_fuzz::settings::filter::FilterSpec;
use bytemeet_fuzz::settings::gpu::GpuPreference;
use bytemeet_fuzz::settings::output::OutputSpec;
use bytemeet_fuzz::settings::segmenter::SegmenterSpec;
use bytemeet_fuzz::settings::source::SourceSpec;

fn round_trip<T>(text: &str)
where
    T: FromStr + Display + PartialEq + std::fmt::Debug,
{
    if let Ok(spec) = text.parse::<T>() {
        let printed = spec.to_string();
        match printed.parse::<T>() {
            Ok(again) => assert_eq!(again, spec, "{text:?} printed as {printed:?}"),
            Err(_) => panic!("{text:?} printed as {printed:?}, which does not parse"),
        }
    }
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        round_trip::<FilterSpec>(text);
        round_trip::<BackgroundSpec>(text);
        round_trip::<SourceSpec>(text);
        round_trip::<OutputSpec>(text);
        round_trip::<Size>(text);
        round_trip::<PixelFormat>(text);
        let _ = text.parse::<SegmenterSpec>();
        let _ = text.parse::<GpuPreference>();
        let _ = toml::from_str::<EffectsState>(text);
    });
}
