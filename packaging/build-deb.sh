#!/usr/bin/env bash
# Builds the ByteMeet .deb with cargo-deb (metadata: daemon/Cargo.toml,
# [package.metadata.deb]); the man page and shell completions are generated
# from bytemeetctl first.
#   bash packaging/build-deb.sh                 release build, what users install
#   bash packaging/build-deb.sh --profile dev   reuses the test build (CI check)
# Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
if [ "${1:-}" = "--profile" ]; then
  profile=$2
fi
if ! command -v cargo-deb >/dev/null 2>&1; then
  cargo install cargo-deb --locked --version 3.8.0 >&2
fi
target=${CARGO_TARGET_DIR:-target}
case "$profile" in
  dev) out_dir=$target/debug ;;
  *) out_dir=$target/$profile ;;
esac
cargo build --profile "$profile" --locked -p bytemeetd -p bytemeetctl -p bytemeet-rooms --bins >&2
gen=packaging/generated
rm -rf "$gen"
mkdir -p "$gen"
"$out_dir/bytemeetctl" man | gzip -9n > "$gen/bytemeetctl.1.gz"
"$out_dir/bytemeetd" --print-man | gzip -9n > "$gen/bytemeetd.1.gz"
"$out_dir/bytemeetctl" completions bash > "$gen/bytemeetctl.bash"
"$out_dir/bytemeetctl" completions zsh > "$gen/_bytemeetctl"
"$out_dir/bytemeetctl" completions fish > "$gen/bytemeetctl.fish"
mkdir -p "$target/debian"
cargo deb -p bytemeetd --no-build --profile "$profile" --locked --strip --fast -o "$target/debian/" 2>&1 | tail -n 1
