#!/usr/bin/env bash
# The project's test command: installs what the tests need, then runs format
# and lint checks, every cargo test, the rooms in headless Chromium, the
# PipeWire camera in headless Chromium through the Camera portal, the room
# server under load, a short soak, fuzzing, the .deb check, and the
# real-kernel V4L2 test in a VM.
#   BYTEMEET_SKIP_SETUP=1  skip package installation
#   BYTEMEET_SKIP_VM=1     skip the VM test (it needs about a minute and qemu)
set -euo pipefail
cd "$(dirname "$0")/.."
# One build shared by every suite, kept outside the clone so CI reuses it.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/bytemeet/target}
export CARGO_TERM_COLOR=never

if [ "${BYTEMEET_SKIP_SETUP:-0}" != 1 ]; then
  bash tests/setup.sh
fi

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== module graph (no import cycle in the daemon)"
python3 scripts/module-graph.py daemon/src
python3 scripts/module-graph.py daemon/src --top
echo "== cargo clippy (also type-checks the benchmarks)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
# The binaries first: the daemon's tests drive bytemeetctl and the rooms.
cargo build --workspace --bins --locked
cargo test --workspace --locked
echo "== rooms in headless Chromium"
(cd tests/rooms && npm ci --no-audit --no-fund --loglevel=error)
if ! cmp -s tests/rooms/node_modules/socket.io-client/dist/socket.io.min.js rooms/web/vendor/socket.io.min.js; then
  echo "rooms/web/vendor/socket.io.min.js is not the client the lockfile pins: run tests/rooms/vendor.sh" >&2
  exit 1
fi
dbus-run-session -- node tests/rooms/e2e.mjs "$CARGO_TARGET_DIR/debug" "$CARGO_TARGET_DIR/rooms-e2e"
echo "== ByteMeet Camera in headless Chromium through PipeWire and the Camera portal"
bash tests/camera/portal.sh "$CARGO_TARGET_DIR/debug" "$CARGO_TARGET_DIR/camera-portal"
echo "== room server under load (200 peers, 50 rooms, 30 s; no loss, no growth)"
"$CARGO_TARGET_DIR/debug/bytemeet-rooms-load" --secs 30
echo "== soak, short (2 min: effects switched every second, a room joined and left; no growth)"
dbus-run-session -- node tests/rooms/soak.mjs "$CARGO_TARGET_DIR/debug" "$CARGO_TARGET_DIR/soak" --secs 120 --size 640x360
echo "== fuzzing (AFL++ through cargo-afl, 60 s per target; no crash, no hang)"
bash fuzz/run.sh 60
echo "== packaging (.deb from the test build, unpacked and checked)"
bash tests/packaging.sh
if [ "${BYTEMEET_SKIP_VM:-0}" != 1 ]; then
  echo "== real-kernel V4L2 test (qemu)"
  bash tests/vm/run.sh "$CARGO_TARGET_DIR/debug/bytemeetd"
fi
echo "== all tests passed"
