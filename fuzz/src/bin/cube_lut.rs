//! The `.cube` LUT parser (a user's file, given by path over D-Bus or the
//! config): never panics, and a table it accepts is complete and finite.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(lut) = bytemeet_fuzz::lut::Lut3d::parse(text, "fuzz.cube") {
            assert_eq!(lut.entries.len(), lut.size.pow(3));
            assert!(lut.entries.iter().flatten().all(|v| v.is_finite()));
        }
    });
}
