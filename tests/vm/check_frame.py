#!/usr/bin/env python3
"""Checks the frame read back from the virtual camera in the VM test.

vivid's default test pattern is 75% colour bars: white, yellow, cyan, green,
magenta, red, blue, black, left to right, so luma falls bar by bar. A frame
that shows them came from the camera through bytemeetd, not from the idle card.
Writes frame.png beside the input when ffmpeg is there, for a person to look at.
"""
import base64
import os
import shutil
import subprocess
import sys


def main() -> int:
    path, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    try:
        raw = base64.b64decode(open(path, "rb").read())
    except (OSError, ValueError) as e:
        print(f"CHECK frame-decodes FAIL {e}")
        return 1
    if len(raw) != width * height * 2:
        print(f"CHECK frame-size FAIL {len(raw)} bytes")
        return 1
    if shutil.which("ffmpeg"):
        out = os.path.join(os.path.dirname(path), "frame.png")
        with open(path.replace(".b64", ".yuv"), "wb") as f:
            f.write(raw)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuyv422",
             "-s", f"{width}x{height}", "-i", path.replace(".b64", ".yuv"), out],
            check=False,
        )
    row = height // 2
    bars = []
    for b in range(8):
        x0, x1 = b * width // 8 + 8, (b + 1) * width // 8 - 8
        ys = [raw[(row * width + x) * 2] for x in range(x0, x1)]
        bars.append(sum(ys) / len(ys))
    print("INFO bar luma " + " ".join(f"{v:.0f}" for v in bars))
    falling = all(a > b + 5 for a, b in zip(bars, bars[1:]))
    print(f"CHECK frame-shows-camera-colour-bars {'ok' if falling else 'FAIL'}")
    return 0 if falling else 1


if __name__ == "__main__":
    sys.exit(main())
