#!/usr/bin/env python3
"""Fetches the MediaPipe models ByteMeet uses from the mediapipe wheel and
converts them to ONNX for tract. Run once, offline from the product; the
results are committed under models/. Needs a throw-away venv:

    python3 -m venv /tmp/conv
    /tmp/conv/bin/pip install mediapipe==0.10.21 tensorflow-cpu tf2onnx onnx onnxruntime pillow
    /tmp/conv/bin/python models/convert.py

Steps:
1. `pip download --no-deps mediapipe==0.10.21` and unzip the three .tflite
   files (their sha256 are checked against models/README.md).
2. `tf2onnx --tflite` at opset 14 (HardSwish needs it).
3. The segmentation model ends in MediaPipe's custom op
   Convolution2DTransposeBias, which tf2onnx leaves as an unknown
   `TFL_Convolution2DTransposeBias` node. It is a stride-2, 2x2 transposed
   convolution with bias on an NHWC tensor, weights stored [out, kh, kw, in].
   It is replaced by a standard ConvTranspose on the NCHW tensor that feeds
   tf2onnx's Transpose (weights permuted to [in, out, kh, kw]), then a
   Transpose back to NHWC.
4. The segmentation model is rewritten into operations tract runs fast, with
   the same arithmetic (checked against the unrewritten graph with
   onnxruntime, largest difference ~1e-7):
   - GlobalAveragePool over C x H x W becomes a MatMul with a column of
     1/(H*W) (tract's generic reduction took 2.6 ms on one of them);
   - Resize (bilinear, x2, half-pixel centres, edges clamped) becomes an
     edge Pad by one pixel and a per-channel ConvTranspose (stride 2, kernel
     [1 3 3 1]/4 in each direction) that crops the padding back off (tract's
     Resize took 2.6 ms for three);
   - nodes and initializers nothing reads any more are dropped.
   tract then runs the model in 4.9 ms instead of 9.4 ms on one core here.
5. Each converted model is checked against the original on the same input:
   face models with TensorFlow Lite's interpreter; the segmentation model
   (whose custom op TFLite lacks) against MediaPipe's own pipeline on a photo.
"""
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
WHEEL = "mediapipe==0.10.21"
MODELS = {
    "selfie_segmentation_landscape": "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
    "face_detection_short_range": "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "face_landmark": "mediapipe/modules/face_landmark/face_landmark.tflite",
}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fetch(tmp):
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", tmp])
    wheel = glob.glob(os.path.join(tmp, "mediapipe-0.10.21-*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        for name, inner in MODELS.items():
            with open(os.path.join(HERE, name + ".tflite"), "wb") as out:
                out.write(z.read(inner))
    return os.path.basename(wheel)


def fix_transpose_conv(path):
    model = onnx.load(path)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    for node in list(g.node):
        if node.op_type != "TFL_Convolution2DTransposeBias":
            continue
        nhwc_in, w_name, b_name = node.input
        feeder = producers[nhwc_in]
        assert feeder.op_type == "Transpose", feeder.op_type
        nchw_in = feeder.input[0]
        w = numpy_helper.to_array(inits[w_name])  # [out, kh, kw, in]
        b = numpy_helper.to_array(inits[b_name])
        w_t = np.ascontiguousarray(w.transpose(3, 0, 1, 2))  # [in, out, kh, kw]
        g.initializer.append(numpy_helper.from_array(w_t, w_name + "_iokk"))
        g.initializer.append(numpy_helper.from_array(b.astype(np.float32), b_name + "_bias"))
        kh, kw = w.shape[1], w.shape[2]
        nchw_out = node.output[0] + "_nchw"
        conv = helper.make_node(
            "ConvTranspose",
            [nchw_in, w_name + "_iokk", b_name + "_bias"],
            [nchw_out],
            strides=[2, 2],
            kernel_shape=[kh, kw],
            name=node.name + "_convtranspose",
        )
        back = helper.make_node("Transpose", [nchw_out], [node.output[0]], perm=[0, 2, 3, 1], name=node.name + "_to_nhwc")
        idx = list(g.node).index(node)
        g.node.remove(node)
        g.node.insert(idx, back)
        g.node.insert(idx, conv)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _shapes(model):
    inferred = onnx.shape_inference.infer_shapes(model).graph
    return {
        vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for vi in list(inferred.value_info) + list(inferred.input)
    }


def rewrite_for_tract(path):
    """Step 4: the same model, in operations tract has fast kernels for."""
    model = onnx.load(path)
    g = model.graph
    shapes = _shapes(model)

    def const(name, value):
        g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    nodes = []
    for node in g.node:
        if node.op_type == "GlobalAveragePool":
            _, c, h, w = shapes[node.input[0]]
            flat, mean = node.name + "_flat", node.name + "_mean"
            nodes += [
                helper.make_node("Reshape", [node.input[0], const(node.name + "_shape_in", np.array([1, c, h * w], np.int64))], [flat]),
                helper.make_node("MatMul", [flat, const(node.name + "_column", np.full((h * w, 1), 1.0 / (h * w), np.float32))], [mean]),
                helper.make_node("Reshape", [mean, const(node.name + "_shape_out", np.array([1, c, 1, 1], np.int64))], [node.output[0]]),
            ]
            continue
        if node.op_type == "Resize":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            scales = numpy_helper.to_array(next(t for t in g.initializer if t.name == node.input[2]))
            assert attrs["mode"] == b"linear" and attrs["coordinate_transformation_mode"] == b"half_pixel", attrs
            assert list(scales) == [1.0, 1.0, 2.0, 2.0], scales
            c = shapes[node.input[0]][1]
            taps = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
            kernel = np.tile(np.outer(taps, taps)[None, None], (c, 1, 1, 1)).astype(np.float32)
            padded = node.name + "_padded"
            nodes += [
                helper.make_node("Pad", [node.input[0], const(node.name + "_pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], [padded], mode="edge"),
                helper.make_node("ConvTranspose", [padded, const(node.name + "_kernel", kernel)], [node.output[0]], strides=[2, 2], kernel_shape=[4, 4], group=c, pads=[3, 3, 3, 3]),
            ]
            continue
        nodes.append(node)
    # Nodes whose results nothing reads (the Transpose step 3 bypassed).
    outputs = {o.name for o in g.output}
    while True:
        read = {i for n in nodes for i in n.input} | outputs
        live = [n for n in nodes if any(o in read for o in n.output)]
        if len(live) == len(nodes):
            break
        nodes = live
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    unused = [t for t in g.initializer if t.name not in used]
    for t in unused:
        g.initializer.remove(t)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def check_rewrite(before, after, rng):
    import onnxruntime as ort

    x = rng.random((1, 144, 256, 3), dtype=np.float32)
    a = ort.InferenceSession(before).run(None, {"input_1": x})[0]
    b = ort.InferenceSession(after).run(None, {"input_1": x})[0]
    worst = float(np.abs(a - b).max())
    print(f"rewrite for tract: max |after - before| = {worst:.2e}")
    assert worst < 1e-5, worst


def convert(name):
    src = os.path.join(HERE, name + ".tflite")
    dst = os.path.join(HERE, name + ".onnx")
    subprocess.check_call([sys.executable, "-m", "tf2onnx.convert", "--tflite", src, "--output", dst, "--opset", "14"])
    if name.startswith("selfie"):
        fix_transpose_conv(dst)
        before = dst + ".before-rewrite"
        shutil.copy(dst, before)
        rewrite_for_tract(dst)
        try:
            check_rewrite(before, dst, np.random.default_rng(11))
        except ImportError as e:
            print("skipping the rewrite check (pip install onnxruntime):", e)
        os.remove(before)
    return dst


def compare_tflite(name, rng):
    import tensorflow as tf
    import onnxruntime as ort

    interp = tf.lite.Interpreter(model_path=os.path.join(HERE, name + ".tflite"))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    x = rng.random(inp["shape"], dtype=np.float32)
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    sess = ort.InferenceSession(os.path.join(HERE, name + ".onnx"))
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    for det in interp.get_output_details():
        ref = interp.get_tensor(det["index"])
        best = min(float(np.abs(o.reshape(ref.shape) - ref).max()) for o in outs if o.size == ref.size)
        print(f"{name}: output {det['name']} {ref.shape}: max |onnx - tflite| = {best:.2e}")
        assert best < 1e-3 * max(1.0, float(np.abs(ref).max())), best


def compare_segmentation(photo):
    import mediapipe as mp
    import onnxruntime as ort
    from PIL import Image

    img = np.array(Image.open(photo).convert("RGB").resize((256, 144)))
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
        ref = seg.process(img).segmentation_mask
    sess = ort.InferenceSession(os.path.join(HERE, "selfie_segmentation_landscape.onnx"))
    x = (img.astype(np.float32) / 255.0)[None]
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0].reshape(144, 256)
    ours = out if out.min() >= 0 and out.max() <= 1 else 1 / (1 + np.exp(-out))
    agree = float(((ours > 0.5) == (ref > 0.5)).mean())
    print(f"segmentation: onnx vs mediapipe mask agreement {agree:.4f}, mean |diff| {float(np.abs(ours - ref).mean()):.4f}")
    assert agree > 0.97, agree


def main():
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = fetch(tmp)
    print("from", wheel)
    for name in MODELS:
        convert(name)
        print(name, "tflite", sha256(os.path.join(HERE, name + ".tflite")), "onnx", sha256(os.path.join(HERE, name + ".onnx")))
    try:
        for name in ["face_detection_short_range", "face_landmark"]:
            compare_tflite(name, rng)
        compare_segmentation(os.path.join(HERE, "..", "daemon", "assets", "astronaut.png"))
    except ImportError as e:
        print("skipping the comparison (pip install onnxruntime pillow):", e)


if __name__ == "__main__":
    main()
