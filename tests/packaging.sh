#!/usr/bin/env bash
# Builds the .deb from the test build, unpacks it into a throw-away root and
# checks the installed tree: binaries that run, the systemd user unit (with
# systemd-analyze verify), the D-Bus activation file, modprobe snippets, man
# page, completions, docs; and that every file names the same bus name.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(bash packaging/build-deb.sh --profile dev | tail -n 1)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

for f in usr/bin/bytemeetd usr/bin/bytemeetctl usr/bin/bytemeet-rooms \
  usr/lib/systemd/system/bytemeet-rooms.service \
  usr/share/doc/bytemeet/socket.io-client.LICENSE usr/share/doc/bytemeet/signalling.md \
  usr/lib/systemd/user/bytemeetd.service \
  usr/share/dbus-1/services/org.bytemeet.Camera.service \
  lib/modprobe.d/bytemeet.conf usr/lib/modules-load.d/bytemeet.conf \
  usr/share/man/man1/bytemeetctl.1.gz usr/share/man/man1/bytemeetd.1.gz \
  usr/share/bash-completion/completions/bytemeetctl \
  usr/share/zsh/vendor-completions/_bytemeetctl \
  usr/share/fish/vendor_completions.d/bytemeetctl.fish \
  usr/share/doc/bytemeet/copyright usr/share/doc/bytemeet/config.example.toml \
  usr/share/doc/bytemeet/models/LICENSE.Apache-2.0 \
  usr/share/doc/bytemeet/avatars/README.md; do
  if [ -s "$root/$f" ]; then ok "$f"; else bad "$f missing"; fi
done

# The kernel module is only recommended: the PipeWire camera needs none
# (Secure Boot, immutable systems), and libpipewire comes from the shlibs.
depends=$(dpkg-deb -f "$deb" Depends)
recommends=$(dpkg-deb -f "$deb" Recommends)
case "$depends" in *v4l2loopback*) bad "Depends names v4l2loopback: $depends" ;; *) ok "Depends without v4l2loopback: $depends" ;; esac
case "$depends" in *libpipewire-0.3-0*) ok "Depends on libpipewire" ;; *) bad "Depends lacks libpipewire-0.3-0: $depends" ;; esac
case "$recommends" in *v4l2loopback-dkms*) ok "Recommends v4l2loopback-dkms" ;; *) bad "Recommends lacks v4l2loopback-dkms: $recommends" ;; esac
case "$recommends" in *mesa-vulkan-drivers*) ok "Recommends mesa-vulkan-drivers" ;; *) bad "Recommends lacks mesa-vulkan-drivers" ;; esac
case "$recommends" in *pipewire*) ok "Recommends pipewire" ;; *) bad "Recommends lacks pipewire: $recommends" ;; esac

# `expect WHAT SHELL-COMMAND`: the command must succeed.
expect() { if bash -c "$2" >/dev/null 2>&1; then ok "$1"; else bad "$1"; fi; }
expect "bytemeetctl runs" "'$root/usr/bin/bytemeetctl' --version"
expect "bytemeet-rooms runs" "'$root/usr/bin/bytemeet-rooms' --help | grep -q peers-per-room"
expect "bytemeetd runs" "'$root/usr/bin/bytemeetd' --list-filters | grep -q sepia"
expect "avatars built in" "HOME=/nonexistent '$root/usr/bin/bytemeetd' --list-avatars | grep -c built | grep -qx 8"
expect "man page bytemeetctl(1)" "zcat '$root/usr/share/man/man1/bytemeetctl.1.gz' | grep -q '^\.TH bytemeetctl'"
expect "man page bytemeetd(1)" "zcat '$root/usr/share/man/man1/bytemeetd.1.gz' | grep -q '^\.TH bytemeetd'"
expect "bash completion" "grep -q complete '$root/usr/share/bash-completion/completions/bytemeetctl'"
expect "exclusive_caps in modprobe.d" "grep -q exclusive_caps=1 '$root/lib/modprobe.d/bytemeet.conf'"
expect "card label in modprobe.d" "grep -q 'card_label=\"ByteMeet Camera\"' '$root/lib/modprobe.d/bytemeet.conf'"
expect "v4l2loopback in modules-load.d" "grep -qx v4l2loopback '$root/usr/lib/modules-load.d/bytemeet.conf'"

# One bus name everywhere: the code's, the activation file's, the unit's.
code_name=$(sed -n 's/^pub const BUS_NAME: &str = "\(.*\)";/\1/p' proto/src/lib.rs)
act_name=$(sed -n 's/^Name=//p' "$root/usr/share/dbus-1/services/org.bytemeet.Camera.service")
unit_name=$(sed -n 's/^BusName=//p' "$root/usr/lib/systemd/user/bytemeetd.service")
act_unit=$(sed -n 's/^SystemdService=//p' "$root/usr/share/dbus-1/services/org.bytemeet.Camera.service")
if [ -n "$code_name" ] && [ "$code_name" = "$act_name" ] && [ "$code_name" = "$unit_name" ]; then
  ok "bus name $code_name in code, activation file and unit"
else
  bad "bus names differ: code '$code_name', activation '$act_name', unit '$unit_name'"
fi
if [ "$act_unit" = bytemeetd.service ]; then ok "activation hands over to bytemeetd.service"; else bad "SystemdService=$act_unit"; fi

# systemd-analyze checks the unit's syntax and that its commands exist; point
# them at the unpacked binaries (the unit itself names /usr/bin).
if command -v systemd-analyze >/dev/null 2>&1; then
  rt=$(mktemp -d)
  chmod 700 "$rt"
  mkdir -p "$rt/units"
  sed "s|/usr/bin/|$root/usr/bin/|g" "$root/usr/lib/systemd/user/bytemeetd.service" > "$rt/units/bytemeetd.service"
  if out=$(XDG_RUNTIME_DIR=$rt MANPATH="$root/usr/share/man" systemd-analyze --user verify "$rt/units/bytemeetd.service" 2>&1) && [ -z "$out" ]; then
    ok "systemd-analyze verify"
  else
    bad "systemd-analyze verify: $out"
  fi
  sed "s|/usr/bin/|$root/usr/bin/|g" "$root/usr/lib/systemd/system/bytemeet-rooms.service" > "$rt/units/bytemeet-rooms.service"
  if out=$(systemd-analyze verify "$rt/units/bytemeet-rooms.service" 2>&1) && [ -z "$out" ]; then
    ok "systemd-analyze verify (room server)"
  else
    bad "systemd-analyze verify (room server): $out"
  fi
  rm -rf "$rt"
else
  echo "skip systemd-analyze (not installed)"
fi

echo "== bytemeetctl doctor on this machine (failures name their fix)"
"$root/usr/bin/bytemeetctl" doctor || true
if [ "$fail" = 0 ]; then
  echo "packaging: all checks passed"
else
  echo "packaging: checks failed"
  exit 1
fi
