#!/usr/bin/env bash
# Installs what building and testing ByteMeet needs on Debian/Ubuntu.
# Idempotent: packages already present are skipped. Uses sudo when not root.
set -euo pipefail

# libvpx-dev: VP8 for the rooms' video.
# libpipewire/libspa headers: the PipeWire camera (bindgen needs libclang).
BUILD_PKGS=(build-essential pkg-config libclang-dev ca-certificates curl libvpx-dev
  libpipewire-0.3-dev libspa-0.2-dev)
# Mesa: lavapipe (software Vulkan) runs the GPU effects where there is no GPU,
# as on CI. libegl1 + libegl-mesa0 add the GL fallback.
RUNTIME_PKGS=(mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0)
# python3: the module-graph check; dbus: a private session bus for the control tests; systemd: systemd-analyze
# verify on the packaged unit; ffmpeg: ffprobe checks
# clips; the rest boots a real kernel for the V4L2 test.
TEST_PKGS=(python3 dbus systemd ffmpeg qemu-system-x86 busybox-static v4l-utils cpio kmod linux-headers-amd64)
# The PipeWire camera test: a private PipeWire session and an independent
# reader (GStreamer's pipewiresrc).
TEST_PKGS+=(pipewire pipewire-bin wireplumber gstreamer1.0-pipewire gstreamer1.0-tools
  gstreamer1.0-plugins-base)
# The rooms' browser test: headless Chromium driven from Node.
TEST_PKGS+=(chromium fonts-dejavu-core)
# Chromium takes the PipeWire camera through the Camera portal; the portal's
# GTK backend needs an X display (Xvfb), gdbus sets the permission store.
TEST_PKGS+=(xvfb xdg-desktop-portal xdg-desktop-portal-gtk libglib2.0-bin)
if ! command -v npm >/dev/null 2>&1; then
  TEST_PKGS+=(nodejs npm)
fi

want=("${BUILD_PKGS[@]}" "${RUNTIME_PKGS[@]}")
if [ "${1:-}" != "--build-only" ]; then
  want+=("${TEST_PKGS[@]}")
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "cargo is in ~/.cargo/bin: add it to PATH (source ~/.cargo/env)"
  else
    echo "Rust is missing: install it with rustup (https://rustup.rs), then run this again" >&2
  fi
  exit 1
fi
