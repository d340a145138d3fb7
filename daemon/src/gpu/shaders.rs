//! The WGSL sources, embedded at build time, and the one include rule they use:
//! a line `//#include NAME.wgsl` is replaced by that file, the first time it
//! is named (later includes of the same file add nothing, so two helpers may
//! both include common.wgsl). Tests validate every shader with naga after
//! exactly this resolution.

/// Every file in `shaders/`, by name.
pub const SOURCES: &[(&str, &str)] = &[
    ("common.wgsl", include_str!("../../../shaders/common.wgsl")),
    ("decode.wgsl", include_str!("../../../shaders/decode.wgsl")),
    ("filter.wgsl", include_str!("../../../shaders/filter.wgsl")),
    ("pack.wgsl", include_str!("../../../shaders/pack.wgsl")),
    (
        "background.wgsl",
        include_str!("../../../shaders/background.wgsl"),
    ),
    ("avatar.wgsl", include_str!("../../../shaders/avatar.wgsl")),
];

/// Shaders that are compiled as modules (the rest are only included).
pub const ENTRY_POINTS: &[&str] = &["filter.wgsl", "pack.wgsl", "background.wgsl", "avatar.wgsl"];

/// Why a shader source could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ShaderError {
    #[error("shader {0} is not embedded")]
    Unknown(String),
    #[error("include cycle through {0}")]
    Cycle(String),
}

fn raw(name: &str) -> Result<&'static str, ShaderError> {
    SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| ShaderError::Unknown(name.to_string()))
}

fn resolve_into(
    name: &str,
    out: &mut String,
    stack: &mut Vec<String>,
    done: &mut Vec<String>,
) -> Result<(), ShaderError> {
    if stack.iter().any(|s| s == name) {
        return Err(ShaderError::Cycle(name.to_string()));
    }
    if done.iter().any(|s| s == name) {
        return Ok(());
    }
    stack.push(name.to_string());
    for line in raw(name)?.lines() {
        match line.trim().strip_prefix("//#include ") {
            Some(inc) => resolve_into(inc.trim(), out, stack, done)?,
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    stack.pop();
    done.push(name.to_string());
    Ok(())
}

/// The full source of `name` with its includes expanded.
pub fn source(name: &str) -> Result<String, ShaderError> {
    let mut out = String::new();
    resolve_into(name, &mut out, &mut Vec::new(), &mut Vec::new())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shader_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shaders");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("shaders dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".wgsl"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SOURCES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn every_shader_validates_with_naga() {
        // Include-only files (decode.wgsl uses its includer's bindings) are
        // validated inside every shader that includes them.
        for (name, _) in SOURCES {
            if !ENTRY_POINTS.contains(name) {
                let included = ENTRY_POINTS.iter().any(|e| {
                    raw(e)
                        .expect("embedded")
                        .contains(&format!("//#include {name}"))
                });
                assert!(included, "{name} is neither a module nor included by one");
            }
        }
        for name in ENTRY_POINTS {
            let src = source(name).expect("resolves");
            let module = naga::front::wgsl::parse_str(&src)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&src)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::all(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }

    #[test]
    fn includes_expand_and_unknown_names_fail() {
        let s = source("filter.wgsl").expect("filter");
        assert!(s.contains("fn yuv_to_rgb") && !s.contains("//#include"));
        assert_eq!(s.matches("fn yuv_to_rgb").count(), 1);
        // common.wgsl comes in through decode.wgsl and through pack.wgsl
        // itself: once.
        let pack = source("pack.wgsl").expect("pack");
        assert_eq!(pack.matches("fn yuv_to_rgb").count(), 1);
        assert!(matches!(source("nope.wgsl"), Err(ShaderError::Unknown(_))));
    }
}
