#!/usr/bin/env bash
# Every benchmark in one run, printing the tables the README's performance
# section shows, and the ratios they state checked against
# daemon/benches/ratios.txt.
#
#   scripts/bench-all.sh           the release build, full length (about 25 min
#                                  on 2 cores after the build), then the check
#   scripts/bench-all.sh --quick   the test build CI makes, short runs of the
#                                  benchmarks whose ratios the README states
#                                  (about 3 min), then the check
#
# Every figure is a ratio to a baseline measured in the same run, so the
# check holds on any machine; each ratio has its own tolerance in
# ratios.txt. BYTEMEET_PYTHON names a Python with mediapipe and
# opencv-python for the MediaPipe comparison (`pip install
# mediapipe==0.10.21 opencv-python-headless`); without it that ratio is
# left out, and said so. OUT=dir keeps the logs (default: a temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/bytemeet/target}
quick=0
[ "${1:-}" = --quick ] && quick=1
out=${OUT:-$(mktemp -d /tmp/bytemeet-bench.XXXXXX)}
mkdir -p "$out"
: > "$out/ratios.txt"

# One benchmark: `bench NAME ARGS...` runs it in the chosen build, shows
# its output and keeps its RATIO lines.
bench() {
  local name=$1
  shift
  echo
  echo "=== $name $*"
  if [ $quick = 1 ]; then
    cargo test -q --locked -p bytemeetd --bench "$name" -- "$@" 2>&1 | tee "$out/$name.log"
  else
    cargo bench -q --locked -p bytemeetd --bench "$name" -- "$@" 2>&1 | tee "$out/$name.log"
  fi
  grep '^RATIO ' "$out/$name.log" | cut -d' ' -f2- >> "$out/ratios.txt" || true
}

if [ $quick = 1 ]; then
  bench gpu --frames 30
  bench avatar --frames 30
  bench rooms --frames 60
  bench alloc
  bench perception --frames 30 --rounds 1
else
  bench pipeline
  bench alloc
  bench gpu
  bench avatar
  bench perception
  bench rooms
  bench control
  bench outputs
  # The mask-quality photos come from Debian packages, unpacked once.
  [ -d "${BYTEMEET_PHOTOS:-${XDG_CACHE_HOME:-$HOME/.cache}/bytemeet/photos}/usr" ] || bash scripts/fetch-photos.sh
  bench mask_quality
  bin="$CARGO_TARGET_DIR/release"
  cargo build -q --locked --release -p bytemeetd -p bytemeetctl -p bytemeet-rooms
  echo
  echo "=== live (scripts/bench-live.py)"
  dbus-run-session -- python3 scripts/bench-live.py --bin "$bin" --secs 60 \
    --chain plain --chain blur --chain "blur avatar" --chain "scene avatar" \
    --chain "toon blur avatar" --chain "blur avatar room" \
    2>&1 | tee "$out/live.log"
  grep '^RATIO ' "$out/live.log" | cut -d' ' -f2- >> "$out/ratios.txt" || true
fi

echo
echo "=== ratios the README states (daemon/benches/ratios.txt) against this run"
python3 - "$out/ratios.txt" daemon/benches/ratios.txt $quick <<'EOF'
import sys
quick = sys.argv[3] == "1"
measured = {}
for line in open(sys.argv[1]):
    key, value = line.split()
    measured[key] = float(value)
failed = 0
print(f"{'ratio':<40} {'README':>8} {'now':>8} {'bound':>8}  verdict")
for line in open(sys.argv[2]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    key, stated, better, tolerance, *flags = line.split()
    stated = float(stated)
    tol = float(tolerance.rstrip("%")) / 100
    bound = stated * (1 + tol) if better == "lower" else stated * (1 - tol)
    if key not in measured:
        if "optional" in flags or ("full" in flags and quick):
            why = "not measured in this run" if "optional" in flags else "full run only"
            print(f"{key:<40} {stated:>8.2f} {'-':>8} {bound:>8.2f}  {why}")
            continue
        print(f"{key:<40} {stated:>8.2f} {'-':>8} {bound:>8.2f}  MISSING: the benchmark did not report it")
        failed += 1
        continue
    now = measured[key]
    ok = now <= bound if better == "lower" else now >= bound
    failed += not ok
    print(f"{key:<40} {stated:>8.2f} {now:>8.2f} {bound:>8.2f}  {'ok' if ok else 'REGRESSED'}")
if failed:
    sys.exit(f"{failed} ratio(s) regressed past their tolerance or were not measured")
print("every stated ratio holds within its tolerance")
EOF
echo "logs in $out"
