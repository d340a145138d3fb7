//! Which GPU adapter the effects use (`--gpu`), as plain data.

use crate::settings::SettingError;
use std::str::FromStr;

/// Which adapter to use (`--gpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuPreference {
    /// The best there is: discrete > integrated > virtual > software; Vulkan before GL.
    #[default]
    Auto,
    /// A real GPU only.
    Hardware,
    /// The CPU rasteriser (Mesa lavapipe / llvmpipe).
    Software,
    /// Vulkan only.
    Vulkan,
    /// OpenGL (ES) only.
    Gl,
}

impl FromStr for GpuPreference {
    type Err = SettingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "hardware" | "hw" => Ok(Self::Hardware),
            "software" | "sw" | "cpu" => Ok(Self::Software),
            "vulkan" => Ok(Self::Vulkan),
            "gl" | "gles" | "opengl" => Ok(Self::Gl),
            other => Err(SettingError::unknown(
                "GPU choice",
                other,
                ": use auto, hardware, software, vulkan or gl",
            )),
        }
    }
}
