#!/usr/bin/env bash
# Unpacks the Debian packages whose photos the mask-quality benchmark uses
# (python3-skimage, opencv-doc) into a folder, without installing them:
#   scripts/fetch-photos.sh [DIR]   (default ~/.cache/bytemeet/photos)
# The benchmark reads BYTEMEET_PHOTOS, or that default.
set -euo pipefail
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/bytemeet/photos}
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download python3-skimage opencv-doc) || {
  echo "apt-get download failed: run 'sudo apt-get update' and try again" >&2
  exit 1
}
for deb in "$tmp"/*.deb; do
  dpkg-deb -x "$deb" "$dir"
done
echo "photos unpacked under $dir"
