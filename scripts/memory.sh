#!/usr/bin/env bash
# Where the daemon's memory goes: its RSS (and what /proc/PID/smaps_rollup
# calls anonymous and file-backed) after each part is switched on, on the
# demo source at SIZE. Run under a private bus:
#   dbus-run-session -- bash scripts/memory.sh [BIN_DIR] [SIZE]
# BIN_DIR holds bytemeetd and bytemeetctl (default: the debug build).
set -euo pipefail
bin=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/bytemeet/target}/debug}
size=${2:-1280x720}
home=$(mktemp -d)
export XDG_CONFIG_HOME=$home/config XDG_STATE_HOME=$home/state XDG_DATA_HOME=$home/data
fifo=$home/out.y4m
mkfifo "$fifo"
# A reader takes every frame, as a virtual-camera reader would.
cat "$fifo" > /dev/null &
reader=$!
"$bin/bytemeetd" --source demo --size "$size" --fps 30 --output "y4m:$fifo" 2> "$home/daemon.log" &
pid=$!
trap 'kill $pid $reader 2>/dev/null; rm -rf "$home"' EXIT
until "$bin/bytemeetctl" status > /dev/null 2>&1; do sleep 0.2; done

mib() { awk -v k="$1" '$1 == k":" { printf "%.0f", $2 / 1024 }' "/proc/$pid/smaps_rollup"; }
row() {
  sleep "${2:-8}"
  printf '%-34s %6s MiB  (anonymous %5s, file %4s)  %3s threads\n' "$1" "$(mib Rss)" \
    "$(mib Anonymous)" "$(( $(mib Rss) - $(mib Anonymous) ))" \
    "$(awk '$1 == "Threads:" { print $2 }' "/proc/$pid/status")"
}
echo "bytemeetd on the demo source at $size, 30 fps, a reader taking every frame"
row "started, GPU engine warming up" 1
until grep -q "GPU effects ready" "$home/daemon.log"; do sleep 0.2; done
row "GPU engine ready (pipelines built)" 3
"$bin/bytemeetctl" filter set toon > /dev/null;               row "+ toon filter"
"$bin/bytemeetctl" background blur --strength 12 > /dev/null; row "+ blurred background (segmenter)"
"$bin/bytemeetctl" avatar set space-trooper > /dev/null;      row "+ avatar (face tracker, raster)"
"$bin/bytemeetctl" background scene moon > /dev/null;         row "+ scene instead of blur"
"$bin/bytemeetctl" clear > /dev/null;                          row "all off again"
