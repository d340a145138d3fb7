#!/usr/bin/env python3
"""Host-side checks of what the VM test read back from the virtual camera.

vivid's default pattern is 75% colour bars (white, yellow, cyan, green,
magenta, red, blue, black), so along a row luma falls bar by bar. The first
daemon run applies the invert filter, so its frames must show luma rising bar
by bar: proof they came from the camera through the GPU effect. The NV12 run
has no filter and must show the bars as they are. The idle and "camera
unavailable" cards show neither. Prints CHECK lines; writes PNGs for a person to look
at when ffmpeg is there. Usage: check_frames.py OUT_DIR
"""
import base64
import itertools
import os
import shutil
import subprocess
import sys

W, H = 640, 480


def read_b64(path):
    try:
        return base64.b64decode(open(path, "rb").read())
    except (OSError, ValueError) as e:
        print(f"INFO cannot decode {path}: {e}")
        return b""


def bar_lumas(luma_row):
    """Mean luma of each of the 8 bars along one row of W luma samples."""
    out = []
    for b in range(8):
        x0, x1 = b * W // 8 + 8, (b + 1) * W // 8 - 8
        seg = luma_row[x0:x1]
        out.append(sum(seg) / len(seg))
    return out


def is_bars(luma_row):
    """vivid's bars as the camera sends them: luma falls left to right."""
    v = bar_lumas(luma_row)
    return all(a > b + 5 for a, b in zip(v, v[1:]))


def is_inverted_bars(luma_row):
    """The bars after the invert filter: luma rises left to right."""
    v = bar_lumas(luma_row)
    return all(a + 5 < b for a, b in zip(v, v[1:]))


def check(name, ok, detail=""):
    print(f"CHECK {name} {'ok' if ok else 'FAIL'} {detail}".rstrip())
    return ok


def to_png(raw, pix_fmt, out):
    if not shutil.which("ffmpeg") or not raw:
        return
    tmp = out + ".raw"
    with open(tmp, "wb") as f:
        f.write(raw)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", pix_fmt,
                    "-s", f"{W}x{H}", "-i", tmp, out], check=False)
    os.remove(tmp)


def main():
    d = sys.argv[1]
    ok = True

    yuyv = read_b64(os.path.join(d, "frame.b64"))
    to_png(yuyv, "yuyv422", os.path.join(d, "frame.png"))
    good = len(yuyv) == W * H * 2
    if good:
        row = yuyv[(H // 2) * W * 2:(H // 2 + 1) * W * 2][0::2]
        print("INFO yuyv bar luma " + " ".join(f"{v:.0f}" for v in bar_lumas(row)))
        good = is_inverted_bars(row)
    ok &= check("yuyv-frame-shows-inverted-camera-bars", good, f"{len(yuyv)} bytes")

    nv12 = read_b64(os.path.join(d, "frame-nv12.b64"))
    to_png(nv12, "nv12", os.path.join(d, "frame-nv12.png"))
    good = len(nv12) == W * H * 3 // 2
    if good:
        row = nv12[(H // 2) * W:(H // 2 + 1) * W]
        print("INFO nv12 bar luma " + " ".join(f"{v:.0f}" for v in bar_lumas(row)))
        good = is_bars(row)
    ok &= check("nv12-frame-shows-camera-colour-bars", good, f"{len(nv12)} bytes")

    rows = read_b64(os.path.join(d, "unplug-rows.b64"))
    n = len(rows) // (W * 2)
    seq = [is_inverted_bars(rows[i * W * 2:(i + 1) * W * 2][0::2]) for i in range(n)]
    print("INFO unplug timeline (B = inverted camera bars, . = card): " + "".join("B" if s else "." for s in seq))
    # From the first camera frame on: bars, then the card, then bars again,
    # with no stale camera frame flashing through the card.
    first_bars = seq.index(True) if True in seq else len(seq)
    runs = [k for k, _ in itertools.groupby(seq[first_bars:])]
    ok &= check("unplug-bars-then-card-then-bars", runs == [True, False, True], f"{n} frames")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
