#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers of outside data with AFL++ through
# cargo-afl, on stable Rust. Each target runs SECONDS (default 60) from its
# committed corpus (fuzz/corpus/TARGET); the run fails when a target crashes
# or hangs, and the inputs that did are kept in OUT/TARGET/default/crashes.
#   bash fuzz/run.sh [SECONDS] [TARGET...]
#   FUZZ_OUT=dir  where AFL++ writes (default $CARGO_TARGET_DIR/../fuzz-out)
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(room_events client_frames cube_lut effect_specs config_file avatar_pack camera_buffer y4m_clip still_image)

# cargo-afl and the AFL++ it builds, once per machine.
AFL_VERSION=0.17.1
if ! cargo afl --version 2>/dev/null | grep -q "$AFL_VERSION"; then
  cargo install cargo-afl --locked --version "$AFL_VERSION" --force
fi
# AFL++ itself (built from the source cargo-afl carries; kept in its data
# directory): built when `afl-fuzz` cannot start.
if ! cargo afl fuzz -h 2>&1 | grep -q "afl-fuzz"; then
  cargo afl config --build --force
fi

# Its own target directory: instrumented builds never touch the main one.
base=${CARGO_TARGET_DIR:-$HOME/.cache/bytemeet/target}
export CARGO_TARGET_DIR="$base/../fuzz-target"
out=${FUZZ_OUT:-$base/../fuzz-out}
cargo afl build --release --locked --bins

# Containers and CI machines: no CPU governor to set, no core_pattern to own,
# no screen.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
fail=0
printf '%-15s %12s %10s %8s %8s %8s\n' target executions exec/s paths crashes hangs
for t in "${targets[@]}"; do
  rm -rf "${out:?}/$t"
  mkdir -p "$out/$t"
  # A hang is an input that takes over 2 s (AFL++ picks up to 1 s by
  # itself, which a legitimate large picture can take on a loaded machine).
  timeout $((secs + 60)) cargo afl fuzz -t 2000 -V "$secs" -i "corpus/$t" -o "$out/$t" \
    "$CARGO_TARGET_DIR/release/$t" > "$out/$t.log" 2>&1 || {
    echo "afl-fuzz $t failed to run:"; tail -n 30 "$out/$t.log"; fail=1; continue; }
  stats="$out/$t/default/fuzzer_stats"
  get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  crashes=$(get saved_crashes); hangs=$(get saved_hangs)
  printf '%-15s %12s %10s %8s %8s %8s\n' "$t" "$(get execs_done)" "$(get execs_per_sec)" \
    "$(get corpus_count)" "$crashes" "$hangs"
  if [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then
    echo "  $t: inputs kept in $out/$t/default/crashes and hangs"
    fail=1
  fi
done
exit $fail
