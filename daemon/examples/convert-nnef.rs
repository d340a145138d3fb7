//! Turns the perception models from ONNX (what `models/convert.py` makes
//! from MediaPipe's TFLite files) into tract's NNEF archives, which the
//! daemon embeds and loads: an NNEF archive holds the typed, decluttered
//! graph, so loading it skips ONNX parsing and type inference, and the
//! daemon is built without tract's ONNX front end.
//!
//!   cargo run -p bytemeetd --example convert-nnef
//!
//! Reads and writes `models/*.onnx` -> `models/*.nnef.tar` (deterministic
//! archives: the same input gives the same bytes). The test
//! `nnef_models_match_onnx` in `perception/net.rs` checks that each archive
//! computes what its ONNX source does.

use tract_onnx::prelude::*;

const MODELS: &[(&str, [usize; 4])] = &[
    ("selfie_segmentation_landscape", [1, 144, 256, 3]),
    ("face_detection_short_range", [1, 128, 128, 3]),
    ("face_landmark", [1, 192, 192, 3]),
];

fn main() -> TractResult<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");
    for (name, shape) in MODELS {
        let model = tract_onnx::onnx()
            .model_for_path(format!("{dir}/{name}.onnx"))?
            .with_input_fact(0, f32::fact(shape).into())?
            .into_typed()?
            .into_decluttered()?;
        let path = format!("{dir}/{name}.nnef.tar");
        let file = std::fs::File::create(&path)?;
        tract_nnef::nnef().write_to_tar_with_config(&model, file, false, true)?;
        println!("{path}: {} nodes", model.nodes().len());
    }
    Ok(())
}
