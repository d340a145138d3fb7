#!/usr/bin/env python3
"""The reference ByteMeet's background path is compared with: the pipeline
Linux background tools run today (as linux-fake-background-webcam does):
MediaPipe selfie segmentation (landscape model) on each frame, an OpenCV
Gaussian blur of the frame, and a composite through the mask. Same frame as
the Rust benchmark: the 1280x720 astronaut portrait, sigma 12.

Not a test dependency. Run through the benchmark:
    BYTEMEET_PYTHON=/path/to/venv/bin/python cargo bench -p bytemeetd --bench perception
with `pip install mediapipe==0.10.21 opencv-python-headless` in that venv.
Prints `python fps N`.
"""
import os
import sys
import time

import cv2
import mediapipe as mp
import numpy as np

frames = int(sys.argv[1]) if len(sys.argv) > 1 else 60
here = os.path.dirname(os.path.abspath(__file__))
img = cv2.imread(os.path.join(here, "..", "daemon", "assets", "astronaut.png"))
# 720p by covering, as the daemon's demo source frames the portrait.
img = cv2.resize(img, (1280, 1280))[280:1000]
rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
    seg.process(rgb)  # warm-up
    start = time.perf_counter()
    for _ in range(frames):
        mask = seg.process(rgb).segmentation_mask
        blurred = cv2.GaussianBlur(img, (0, 0), 12)
        m = mask[..., None]
        out = (img * m + blurred * (1 - m)).astype(np.uint8)
    elapsed = time.perf_counter() - start
print(f"python: mediapipe selfie segmentation + cv2.GaussianBlur(sigma 12) + composite, {frames} frames")
print(f"python fps {frames / elapsed:.1f}")
