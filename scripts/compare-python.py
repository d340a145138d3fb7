#!/usr/bin/env python3
"""The pipeline ByteMeet's background path is compared with: what Linux
background tools run today (as linux-fake-background-webcam does):
MediaPipe selfie segmentation (landscape model) on every frame, an OpenCV
Gaussian blur of the frame, and a composite through the mask.

The work per frame is the daemon's in batch mode (`bytemeetd --source
file:CLIP --background blur --output y4m:/dev/null --frames N`): read an
I420 frame from a y4m clip, turn it into RGB, segment it, blur (sigma 12),
composite, turn the result back into I420 and write it out. Every frame gets
a mask from its own picture. Model loading and the first frame are left out
of the timing.

Not a test dependency. Run through the benchmark:
    BYTEMEET_PYTHON=/path/to/venv/bin/python cargo bench -p bytemeetd --bench perception
with `pip install mediapipe==0.10.21 opencv-python-headless` in that venv.
    python3 compare-python.py CLIP.y4m [FRAMES]
Prints `python fps N`.
"""
import sys
import time

import cv2
import mediapipe as mp
import numpy as np


def y4m_frames(path):
    """Yields each frame of a 4:2:0 y4m clip as one I420 array, looping."""
    with open(path, "rb") as f:
        header = f.readline().split()
        assert header[0] == b"YUV4MPEG2", "not a y4m clip"
        w = h = 0
        for field in header[1:]:
            if field[:1] == b"W":
                w = int(field[1:])
            elif field[:1] == b"H":
                h = int(field[1:])
            elif field[:1] == b"C":
                assert field.startswith(b"C420"), "only 4:2:0 clips"
        start = f.tell()
        size = w * h * 3 // 2
        while True:
            line = f.readline()
            if not line:
                f.seek(start)
                continue
            data = f.read(size)
            yield w, h, np.frombuffer(data, np.uint8).reshape(h * 3 // 2, w)


def main():
    clip = sys.argv[1]
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    source = y4m_frames(clip)
    out = open("/dev/null", "wb")

    def one(seg):
        w, h, i420 = next(source)
        bgr = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        mask = seg.process(rgb).segmentation_mask
        blurred = cv2.GaussianBlur(bgr, (0, 0), 12)
        m = mask[..., None]
        composite = (bgr * m + blurred * (1 - m)).astype(np.uint8)
        out.write(b"FRAME\n")
        out.write(cv2.cvtColor(composite, cv2.COLOR_BGR2YUV_I420).tobytes())
        return w, h

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
        w, h = one(seg)  # model warm-up
        start = time.perf_counter()
        for _ in range(frames):
            one(seg)
        elapsed = time.perf_counter() - start
    print(
        f"python: {frames} frames of {w}x{h}: y4m read, I420->RGB, mediapipe selfie "
        f"segmentation, cv2.GaussianBlur(sigma 12), composite, ->I420, write"
    )
    print(f"python fps {frames / elapsed:.2f}")


if __name__ == "__main__":
    main()
