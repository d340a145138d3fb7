//! Turns the perception models from ONNX (what `models/convert.py` makes
//! from MediaPipe's TFLite files) into tract's NNEF archives, which the
//! daemon embeds and loads: an NNEF archive holds the typed, decluttered
//! graph, so loading it skips ONNX parsing and type inference, and the
//! daemon is built without tract's ONNX front end.
//!
//!   cargo run -p bytemeetd --example convert-nnef
//!
//! Reads and writes `models/*.onnx` -> `models/*.nnef.tar` (fixed
//! timestamps; tract may number the segmentation graph's intermediate
//! names differently from run to run, so a rerun can change its bytes but
//! not its graph). The test
//! `nnef_models_match_onnx` in `perception/net.rs` checks that each archive
//! computes what its ONNX source does. The names and input shapes are the
//! daemon's own (`perception::net::MODELS`); the archives it embeds must
//! exist to build it, so a new model's archive starts as an empty file.

use bytemeetd::perception::net::MODELS;
use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");
    for file in MODELS {
        let (name, shape) = (file.name, file.input);
        let model = tract_onnx::onnx()
            .model_for_path(format!("{dir}/{name}.onnx"))?
            .with_input_fact(0, f32::fact(shape).into())?
            .into_typed()?
            .into_decluttered()?;
        let path = format!("{dir}/{name}.nnef.tar");
        let out = std::fs::File::create(&path)?;
        tract_nnef::nnef().write_to_tar_with_config(&model, out, false, true)?;
        println!("{path}: {} nodes", model.nodes().len());
    }
    Ok(())
}
