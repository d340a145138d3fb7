#!/usr/bin/env bash
# Builds and runs the ByteMeet daemon on a fresh Debian/Ubuntu machine.
#
# With a v4l2loopback virtual camera loaded, it feeds "ByteMeet Camera" (from the
# webcam, or the built-in demo portrait when there is none) until Ctrl-C.
# Without one, it writes 10 s of the demo to ./bytemeet-demo.y4m and says how to
# get the virtual camera. Extra arguments go to bytemeetd as they are.
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
bash tests/setup.sh --build-only
cargo build --release --bin bytemeetd
bin=$PWD/target/release/bytemeetd
[ -n "${CARGO_TARGET_DIR:-}" ] && bin=$CARGO_TARGET_DIR/release/bytemeetd
cd "$here"
if [ "$#" -gt 0 ]; then
  exec "$bin" "$@"
fi
if [ -d /sys/module/v4l2loopback ]; then
  echo "feeding the virtual camera; open it in any app. Ctrl-C stops."
  exec "$bin" --output auto
fi
echo "no virtual camera loaded (sudo modprobe v4l2loopback exclusive_caps=1 video_nr=10 card_label=\"ByteMeet Camera\")"
echo "writing 10 s of the demo to bytemeet-demo.y4m instead"
"$bin" --source auto --output y4m:bytemeet-demo.y4m --frames 300
echo "done: play it with 'ffplay bytemeet-demo.y4m' or 'mpv bytemeet-demo.y4m'"
