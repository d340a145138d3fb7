//! The perception models, embedded in the binary (no download at run time) and
//! run with tract on the CPU. MediaPipe's TFLite models are converted to ONNX
//! by `models/convert.py` (provenance and licence in `models/README.md`), then
//! to tract's NNEF archives by `examples/convert-nnef.rs`: the archive holds
//! the typed graph, so loading skips ONNX parsing and type inference, and the
//! daemon is built without tract's ONNX front end (a shorter first build).

use std::sync::Arc;

use tract_nnef::prelude::*;

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
    bytes: include_bytes!("../../../models/selfie_segmentation_landscape.nnef.tar"),
    input: [1, 144, 256, 3],
};

pub const FACE_DETECTION: ModelFile = ModelFile {
    name: "face_detection_short_range",
    bytes: include_bytes!("../../../models/face_detection_short_range.nnef.tar"),
    input: [1, 128, 128, 3],
};

pub const FACE_LANDMARK: ModelFile = ModelFile {
    name: "face_landmark",
    bytes: include_bytes!("../../../models/face_landmark.nnef.tar"),
    input: [1, 192, 192, 3],
};

/// Every embedded model (for their conversion and its check).
pub const MODELS: [ModelFile; 3] = [SELFIE_SEGMENTATION, FACE_DETECTION, FACE_LANDMARK];

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
        let model = tract_nnef::nnef()
            .model_for_read(&mut std::io::Cursor::new(file.bytes))
            .map_err(err)?;
        let fact = model.input_fact(0).map_err(err)?;
        if fact.datum_type != f32::datum_type() || fact.shape.as_concrete() != Some(&file.input[..])
        {
            return Err(NetError::Model {
                name: file.name,
                reason: format!("the archive's input is {fact:?}, not f32 {:?}", file.input),
            });
        }
        let plan = model
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The ONNX source of an archive, loaded as the daemon did before NNEF.
    fn onnx_twin(file: ModelFile) -> Arc<TypedRunnableModel> {
        use tract_onnx::prelude::{Framework, InferenceModelExt};
        let path = format!(
            "{}/../models/{}.onnx",
            env!("CARGO_MANIFEST_DIR"),
            file.name
        );
        tract_onnx::onnx()
            .model_for_path(path)
            .and_then(|m| m.with_input_fact(0, f32::fact(file.input).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .expect("the ONNX model loads")
    }

    #[test]
    fn nnef_models_match_onnx() {
        for file in MODELS {
            let net = Net::load(file).expect("the archive loads");
            let onnx = onnx_twin(file);
            let n: usize = file.input.iter().product();
            // A picture-like input: smooth gradients with some texture, in 0..1.
            let input: Vec<f32> = (0..n)
                .map(|i| {
                    let (c, p) = (i % 3, i / 3);
                    let (x, y) = ((p % file.input[2]) as f32, (p / file.input[2]) as f32);
                    (0.5 + 0.3 * (x * 0.05 + c as f32).sin() * (y * 0.07).cos()
                        + 0.1 * ((x * 1.3 + y * 0.7).sin()))
                    .clamp(0.0, 1.0)
                })
                .collect();
            let ours = net.run(input.clone()).expect("the archive runs");
            let tensor = Tensor::from_shape(&file.input, &input).expect("tensor");
            let theirs = onnx.run(tvec!(tensor.into_tvalue())).expect("ONNX runs");
            assert_eq!(ours.len(), theirs.len(), "{}: outputs", file.name);
            for (a, b) in ours.iter().zip(theirs.iter()) {
                let b = b.to_plain_array_view::<f32>().expect("f32 output");
                assert_eq!(a.len(), b.len(), "{}: output size", file.name);
                let worst = a
                    .iter()
                    .zip(b.iter())
                    .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
                    .fold(0.0f32, f32::max);
                assert!(worst < 1e-4, "{}: differs by {worst}", file.name);
            }
        }
    }
}
