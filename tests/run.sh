#!/usr/bin/env bash
# The project's test command: installs what the tests need, then runs format
# and lint checks, every cargo test, the rooms and the studio page in
# headless Chromium, the
# PipeWire camera in headless Chromium through the Camera portal, the room
# server under load, a short soak, the benchmarks' ratios, fuzzing, the .deb check, and the
# real-kernel V4L2 test in a VM.
#   BYTEMEET_SKIP_SETUP=1  skip package installation
#   BYTEMEET_SKIP_VM=1     skip the VM test (it needs about a minute and qemu)
set -euo pipefail
cd "$(dirname "$0")/.."
# One build shared by every suite, kept outside the clone so CI reuses it.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/bytemeet/target}
export CARGO_TERM_COLOR=never

# Each stage says how long the one before it took, so a slow stage shows in
# the log of any run.
stage_start=$SECONDS
stage() {
  echo "   (took $((SECONDS - stage_start)) s; $((SECONDS / 60)) min so far)"
  stage_start=$SECONDS
  echo "== $*"
}

echo "== setup (Debian packages)"
if [ "${BYTEMEET_SKIP_SETUP:-0}" != 1 ]; then
  bash tests/setup.sh
fi

stage "cargo fmt"
cargo fmt --all -- --check
stage "module graph (no import cycle in the daemon)"
python3 scripts/module-graph.py daemon/src
python3 scripts/module-graph.py daemon/src --top
stage "build with clippy's lints (the binaries, then every test and benchmark)"
# One build serves clippy and the tests: clippy-driver compiles the
# workspace's own crates (lints denied as `cargo clippy -- -D warnings`
# would), so the dependencies are compiled once, not once more in check mode.
# Benchmarks are built in the test profile, on the same dependencies.
RUSTC_WORKSPACE_WRAPPER=$(command -v clippy-driver) || {
  echo "clippy-driver is missing: rustup component add clippy" >&2
  exit 1
}
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
# The binaries first: the daemon's tests drive bytemeetctl and the rooms.
cargo build --workspace --bins --locked
cargo test --workspace --all-targets --no-run --locked
stage "cargo test"
cargo test --workspace --locked
stage "rooms in headless Chromium"
(cd tests/rooms && npm ci --no-audit --no-fund --loglevel=error)
if ! cmp -s tests/rooms/node_modules/socket.io-client/dist/socket.io.min.js rooms/web/vendor/socket.io.min.js; then
  echo "rooms/web/vendor/socket.io.min.js is not the client the lockfile pins: run tests/rooms/vendor.sh" >&2
  exit 1
fi
dbus-run-session -- node tests/rooms/e2e.mjs "$CARGO_TARGET_DIR/debug" "$CARGO_TARGET_DIR/rooms-e2e"
stage "ByteMeet Studio in headless Chromium (preview, galleries, controls, keyboard)"
dbus-run-session -- node tests/rooms/studio.mjs "$CARGO_TARGET_DIR/debug" "$CARGO_TARGET_DIR/studio"
stage "ByteMeet Camera in headless Chromium through PipeWire and the Camera portal"
bash tests/camera/portal.sh "$CARGO_TARGET_DIR/debug" "$CARGO_TARGET_DIR/camera-portal"
stage "room server under load (200 peers, 50 rooms, 30 s; no loss, no growth)"
"$CARGO_TARGET_DIR/debug/bytemeet-rooms-load" --secs 30
stage "soak, short (150 s: effects switched every second, a room joined every 20 s and left; no growth)"
# The bound: 90 s of samples after the first minute move by about 10 MiB
# as effects switch (glibc's arenas), which a fitted slope can read as up
# to ~5 MiB/min on a flat run; the leaks this caught grew 20-27 MiB/min.
dbus-run-session -- node tests/rooms/soak.mjs "$CARGO_TARGET_DIR/debug" "$CARGO_TARGET_DIR/soak" \
  --secs 150 --size 640x360 --room-every 20 --max-rss-mib-per-min 10
stage "benchmark ratios (short runs in the test build; each ratio the README states within its tolerance)"
bash scripts/bench-all.sh --quick
stage "fuzzing (AFL++ through cargo-afl, 30 s per target; no crash, no hang)"
# Its own workspace and instrumented build: no clippy wrapper there.
env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS bash fuzz/run.sh 30
stage "packaging (.deb from the test build, unpacked and checked)"
bash tests/packaging.sh
if [ "${BYTEMEET_SKIP_VM:-0}" != 1 ]; then
  stage "real-kernel V4L2 test (qemu)"
  bash tests/vm/run.sh "$CARGO_TARGET_DIR/debug/bytemeetd"
fi
stage "all tests passed"
