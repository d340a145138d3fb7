//! The perception models, embedded in the binary (no download at run time) and
//! run with tract on the CPU. The ONNX files are MediaPipe's TFLite models
//! converted by `models/convert.py` (provenance and licence in `models/README.md`).

use std::sync::Arc;

use tract_onnx::prelude::*;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("model {name}: {reason}")]
    Model { name: &'static str, reason: String },
}

/// An embedded model file.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    pub name: &'static str,
    pub bytes: &'static [u8],
    /// NHWC input shape.
    pub input: [usize; 4],
}

pub const SELFIE_SEGMENTATION: ModelFile = ModelFile {
    name: "selfie_segmentation_landscape",
    bytes: include_bytes!("../../../models/selfie_segmentation_landscape.onnx"),
    input: [1, 144, 256, 3],
};

pub const FACE_DETECTION: ModelFile = ModelFile {
    name: "face_detection_short_range",
    bytes: include_bytes!("../../../models/face_detection_short_range.onnx"),
    input: [1, 128, 128, 3],
};

pub const FACE_LANDMARK: ModelFile = ModelFile {
    name: "face_landmark",
    bytes: include_bytes!("../../../models/face_landmark.onnx"),
    input: [1, 192, 192, 3],
};

/// One loaded, optimised model.
pub struct Net {
    file: ModelFile,
    plan: Arc<TypedRunnableModel>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("model", &self.file.name)
            .finish()
    }
}

impl Net {
    pub fn load(file: ModelFile) -> Result<Self, NetError> {
        let err = |e: TractError| NetError::Model {
            name: file.name,
            reason: format!("{e:#}"),
        };
        let plan = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(file.bytes))
            .map_err(err)?
            .with_input_fact(0, f32::fact(file.input).into())
            .map_err(err)?
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        Ok(Net { file, plan })
    }

    /// Runs the model on an NHWC input of the model's shape; returns every
    /// output, flattened.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>, NetError> {
        let err = |e: TractError| NetError::Model {
            name: self.file.name,
            reason: format!("{e:#}"),
        };
        let tensor = Tensor::from_shape(&self.file.input, &input).map_err(err)?;
        let outputs = self.plan.run(tvec!(tensor.into_tvalue())).map_err(err)?;
        outputs
            .iter()
            .map(|o| {
                o.to_plain_array_view::<f32>()
                    .map(|a| a.iter().copied().collect())
                    .map_err(err)
            })
            .collect()
    }

    pub fn input(&self) -> [usize; 4] {
        self.file.input
    }
}

/// RGBA8 pixels to the model's float input: `lo..hi` per channel, alpha dropped.
pub fn to_input(rgba: &[u8], lo: f32, hi: f32) -> Vec<f32> {
    let k = (hi - lo) / 255.0;
    rgba.chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .map(|v| lo + v as f32 * k)
        .collect()
}
