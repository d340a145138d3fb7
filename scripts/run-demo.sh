#!/usr/bin/env bash
# Builds and runs the ByteMeet daemon on a fresh Debian/Ubuntu machine, and
# shows what it does.
#
# On a desktop: the daemon runs (from the webcam, or the built-in demo
# portrait when there is none), feeding "ByteMeet Camera" (the PipeWire
# camera, and v4l2loopback when that module is loaded), and ByteMeet Studio
# opens in the browser: a live preview and galleries of looks to click.
# Ctrl-C stops it.
#
# Without a desktop (SSH, a server): a 12 s clip, ./bytemeet-demo.y4m, that
# walks through a few effects, switched live with bytemeetctl as a user
# would: a filter, the room blurred, a scene behind the person, an avatar.
#
# Extra arguments go to bytemeetd as they are (and skip the tour).
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
bash tests/setup.sh --build-only
cargo build --release --bin bytemeetd --bin bytemeetctl
bindir=${CARGO_TARGET_DIR:-$PWD/target}/release
cd "$here"
if [ "$#" -gt 0 ]; then
  exec "$bindir/bytemeetd" "$@"
fi

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  "$bindir/bytemeetd" --output auto &
  daemon=$!
  trap 'kill "$daemon" 2>/dev/null || true' EXIT INT TERM
  for _ in $(seq 100); do
    "$bindir/bytemeetctl" status >/dev/null 2>&1 && break
    kill -0 "$daemon" 2>/dev/null || { echo "bytemeetd stopped; its log is above" >&2; exit 1; }
    sleep 0.2
  done
  echo
  "$bindir/bytemeetctl" status | sed -n '/outputs/p'
  echo "ByteMeet Studio (opening in your browser):"
  "$bindir/bytemeetctl" studio
  echo "Pick \"ByteMeet Camera\" in any app. Ctrl-C stops the daemon."
  wait "$daemon"
  exit
fi

# No desktop: the tour, recorded. The daemon runs live on a bus of its own
# and bytemeetctl switches the effects while it records.
clip=$here/bytemeet-demo.y4m
echo "no desktop here: recording a 12 s tour of the effects to $clip"
export BYTEMEETD=$bindir/bytemeetd BYTEMEETCTL=$bindir/bytemeetctl CLIP=$clip
# A state directory of its own: the tour leaves the user's saved effects alone.
XDG_STATE_HOME=$(mktemp -d)
export XDG_STATE_HOME
dbus-run-session -- bash -c '
  set -eu
  "$BYTEMEETD" --source auto --size 640x360 --fps 25 --output "y4m:$CLIP" 2>/dev/null &
  d=$!
  for _ in $(seq 100); do "$BYTEMEETCTL" status >/dev/null 2>&1 && break; sleep 0.2; done
  say() { echo "  $1"; }
  sleep 1.5
  say "the camera as it is";  "$BYTEMEETCTL" clear; sleep 2.5
  say "a filter: toon";       "$BYTEMEETCTL" filter set toon; sleep 2.5
  say "the room blurred";     "$BYTEMEETCTL" filter off; "$BYTEMEETCTL" background blur; sleep 2.5
  say "on the moon";          "$BYTEMEETCTL" background scene moon; sleep 2.5
  say "as a space trooper";   "$BYTEMEETCTL" avatar set space-trooper; sleep 2.5
  kill -INT "$d"; wait "$d" || true
'
rm -rf "$XDG_STATE_HOME"
echo "done: play it with 'ffplay $clip' or 'mpv $clip'"
echo "(with a v4l2loopback camera or PipeWire and a desktop, this script feeds ByteMeet Camera and opens ByteMeet Studio)"
