#!/usr/bin/env bash
# "ByteMeet Camera" in Chromium through the Camera portal, headless.
#   tests/camera/portal.sh BIN_DIR OUT_DIR
# Starts a private desktop session in a fresh XDG_RUNTIME_DIR: a session bus,
# Xvfb (the portal's GTK backend needs a display; Chromium itself runs
# headless), pipewire, wireplumber, the real bytemeetd publishing its PipeWire
# camera, and xdg-desktop-portal with camera access granted to host apps in
# the permission store. Then tests/rooms/camera-portal.mjs drives Chromium
# with WebRtcPipeWireCamera. Logs and screenshots land in OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "$1")
out=$(realpath -m "$2")
rm -rf "$out" && mkdir -p "$out"

for tool in dbus-daemon Xvfb pipewire wireplumber gdbus /usr/libexec/xdg-desktop-portal \
  /usr/libexec/xdg-desktop-portal-gtk chromium node; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$tool is missing: run tests/setup.sh (xvfb, xdg-desktop-portal, xdg-desktop-portal-gtk, pipewire, wireplumber, libglib2.0-bin, chromium, nodejs)" >&2
    exit 1
  fi
done

rt=$(mktemp -d /tmp/bytemeet-portal.XXXXXX)
chmod 700 "$rt"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  cp "$rt"/*.log "$out"/ 2>/dev/null || true
  rm -rf "$rt"
}
trap cleanup EXIT

export XDG_RUNTIME_DIR=$rt XDG_CONFIG_HOME=$rt/config XDG_STATE_HOME=$rt/state \
  XDG_DATA_HOME=$rt/data XDG_CACHE_HOME=$rt/cache NO_COLOR=1
# The GTK backend is chosen by desktop name (gtk.portal says UseIn=gnome).
export XDG_CURRENT_DESKTOP=GNOME
unset PIPEWIRE_REMOTE PIPEWIRE_RUNTIME_DIR WAYLAND_DISPLAY
export DBUS_SESSION_BUS_ADDRESS=unix:path=$rt/bus

Xvfb -displayfd 3 -screen 0 640x480x24 -nolisten tcp 3>"$rt/display" >"$rt/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$rt/display" ] && break; sleep 0.1; done
export DISPLAY=:$(cat "$rt/display")
# The bus after DISPLAY: services it starts (the GTK backend) inherit it.
dbus-daemon --session --nofork --address="$DBUS_SESSION_BUS_ADDRESS" >"$rt/dbus.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$rt/bus" ] && break; sleep 0.1; done

pipewire >"$rt/pipewire.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$rt/pipewire-0" ] && break; sleep 0.1; done
wireplumber >"$rt/wireplumber.log" 2>&1 &
pids+=($!)

RUST_LOG=info,bytemeetd::pipewire=debug "$bin/bytemeetd" --source demo --size 1280x720 --fps 30 \
  --output pipewire --filter grayscale >/dev/null 2>"$rt/daemon.log" &
pids+=($!)
for _ in $(seq 600); do
  grep -q "camera published on PipeWire" "$rt/daemon.log" && break
  sleep 0.1
done
grep -q "camera published on PipeWire" "$rt/daemon.log" || {
  echo "bytemeetd never published its camera:" >&2
  cat "$rt/daemon.log" >&2
  exit 1
}

# Host apps (app id "") may use cameras without a dialog, as a user who
# clicked "Allow" once.
gdbus call --session -d org.freedesktop.impl.portal.PermissionStore \
  -o /org/freedesktop/impl/portal/PermissionStore \
  -m org.freedesktop.impl.portal.PermissionStore.SetPermission devices true camera "" "['yes']" >/dev/null

/usr/libexec/xdg-desktop-portal -r >"$rt/portal.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  gdbus call --session -d org.freedesktop.portal.Desktop -o /org/freedesktop/portal/desktop \
    -m org.freedesktop.DBus.Properties.Get org.freedesktop.portal.Camera version >/dev/null 2>&1 && break
  sleep 0.1
done

node tests/rooms/camera-portal.mjs "$bin" "$out"
