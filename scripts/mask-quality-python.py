#!/usr/bin/env python3
"""MediaPipe's person masks for the mask-quality benchmark
(daemon/benches/mask_quality.rs), on exactly the frames ByteMeet saw.

The benchmark writes, per photo, NAME.rgb: the clean photo then the noisy
frames, each W*H*3 bytes of RGB, and a list file with a line
"NAME W H FRAMES" per photo. This script runs MediaPipe selfie
segmentation (landscape model, the one the Python pipeline in
compare-python.py runs, fed as a video stream) over each photo's frames in
order and writes NAME.mediapipe: one W*H byte mask per frame, the person
probability times 255, rounded. The metrics are computed in Rust, the same
code for both sides.

Not a test dependency: `pip install mediapipe==0.10.21 opencv-python-headless`.
    python3 mask-quality-python.py DIR
"""
import os
import sys

import mediapipe as mp
import numpy as np


def main():
    d = sys.argv[1]
    for line in open(os.path.join(d, "list.txt")):
        name, w, h, frames = line.split()
        w, h, frames = int(w), int(h), int(frames)
        raw = np.fromfile(os.path.join(d, name + ".rgb"), np.uint8)
        raw = raw.reshape(frames, h, w, 3)
        out = open(os.path.join(d, name + ".mediapipe"), "wb")
        # A fresh segmenter per photo: each photo's frames are a clip of their own.
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
            for rgb in raw:
                mask = seg.process(np.ascontiguousarray(rgb)).segmentation_mask
                out.write((np.clip(mask, 0.0, 1.0) * 255.0).round().astype(np.uint8).tobytes())
        out.close()
        print(f"{name}: {frames} frames of {w}x{h}")


if __name__ == "__main__":
    main()
