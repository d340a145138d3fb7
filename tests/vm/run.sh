#!/usr/bin/env bash
# Real-kernel test of the virtual camera path.
#
# Boots Debian's own kernel under qemu (software emulation), loads `vivid` (the
# kernel's virtual webcam driver) as the "real" camera and v4l2loopback as the
# virtual camera, runs the real bytemeetd inside, and reads the virtual camera
# back with v4l2-ctl, an independent reader. The guest half is guest-init.sh.
#
# Usage: tests/vm/run.sh PATH/TO/bytemeetd
# Needs: qemu-system-x86 busybox-static v4l-utils cpio kmod linux-headers-amd64
#        build-essential (tests/setup.sh installs them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=$(readlink -f "${1:?usage: $0 PATH/TO/bytemeetd}")
cache=${BYTEMEET_VM_CACHE:-$HOME/.cache/bytemeet/vm}
out=${BYTEMEET_VM_OUT:-$(mktemp -d)}
mkdir -p "$cache" "$out"

# The kernel whose headers are installed (linux-headers-amd64 pulls the current one).
kver=$(ls /usr/src | sed -n 's/^linux-headers-\(.*-amd64\)$/\1/p' | sort -V | tail -n1)
[ -n "$kver" ] || { echo "no linux-headers-*-amd64 in /usr/src: apt-get install linux-headers-amd64" >&2; exit 1; }
kdir=$cache/$kver
if [ ! -f "$kdir/root/boot/vmlinuz-$kver" ]; then
  echo "fetching kernel $kver"
  rm -rf "$kdir" && mkdir -p "$kdir/deb"
  (cd "$kdir/deb" && apt-get download "linux-image-$kver" 2>/dev/null)
  dpkg-deb -x "$kdir"/deb/linux-image-*.deb "$kdir/root"
  depmod -b "$kdir/root" "$kver"
fi

if [ ! -f "$kdir/v4l2loopback.ko" ]; then
  echo "building v4l2loopback for $kver"
  rm -rf "$kdir/lb" && mkdir -p "$kdir/lb/deb"
  (cd "$kdir/lb/deb" && apt-get download v4l2loopback-dkms 2>/dev/null)
  dpkg-deb -x "$kdir"/lb/deb/v4l2loopback-dkms_*.deb "$kdir/lb/root"
  src=$(ls -d "$kdir"/lb/root/usr/src/v4l2loopback-*)
  make -s -C "/usr/src/linux-headers-$kver" M="$src" modules >/dev/null
  cp "$src/v4l2loopback.ko" "$kdir/v4l2loopback.ko"
fi

# The guest's root: busybox, the daemon and the reader with their libraries,
# and the modules in load order.
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,sbin,lib,lib64,usr/bin,usr/lib,modules,proc,sys,dev,tmp,etc}
cp /bin/busybox "$rootfs/bin/busybox"
copy_with_libs() {
  cp "$1" "$rootfs/$2"
  ldd "$1" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}
copy_with_libs "$bin" bytemeetd
strip --strip-debug "$rootfs/bytemeetd"   # smaller initrd, faster boot
copy_with_libs "$(command -v v4l2-ctl)" usr/bin/v4l2-ctl
# Mesa's software Vulkan (lavapipe): the guest's "GPU" for the effects, found by
# the Vulkan loader through its ICD file as on any Debian system.
icd=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
[ -f "$icd" ] || { echo "lavapipe missing: apt-get install mesa-vulkan-drivers libvulkan1" >&2; exit 1; }
for lib in "$(readlink -f /usr/lib/x86_64-linux-gnu/libvulkan.so.1)" /usr/lib/x86_64-linux-gnu/libvulkan_lvp.so; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
  ldd "$lib" | grep -o '/[^ ]*' | while read -r dep; do
    mkdir -p "$rootfs$(dirname "$dep")"
    [ -e "$rootfs$dep" ] || cp -L "$dep" "$rootfs$dep"
  done
done
ln -sf "$(basename "$(readlink -f /usr/lib/x86_64-linux-gnu/libvulkan.so.1)")" "$rootfs/usr/lib/x86_64-linux-gnu/libvulkan.so.1"
mkdir -p "$rootfs/usr/share/vulkan/icd.d"
cp "$icd" "$rootfs/usr/share/vulkan/icd.d/"
: > "$rootfs/modules/order"
for m in vivid; do
  modprobe -d "$kdir/root" -S "$kver" --show-depends "$m" | awk '/^insmod/ {print $2}' | while read -r ko; do
    base=$(basename "$ko")
    if ! grep -qx "$base" "$rootfs/modules/order"; then
      cp "$ko" "$rootfs/modules/$base"
      echo "$base" >> "$rootfs/modules/order"
    fi
  done
done
cp "$kdir/v4l2loopback.ko" "$rootfs/modules/"
cp "$here/guest-init.sh" "$rootfs/init"
chmod +x "$rootfs/init"
(cd "$rootfs" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.gz"

echo "booting $kver (TCG)"
# ttyS0: the guest's console; ttyS1: the last frame of the first read;
# ttyS2: the middle row of every frame read across the unplug; ttyS3: an NV12 frame.
timeout 600 qemu-system-x86_64 -machine q35 -cpu max -m 2048 -smp 2 -no-reboot \
  -display none -monitor none \
  -serial file:"$out/console.log" -serial file:"$out/frame.b64" \
  -serial file:"$out/unplug-rows.b64" -serial file:"$out/frame-nv12.b64" \
  -kernel "$kdir/root/boot/vmlinuz-$kver" -initrd "$out/initrd.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
  > "$out/qemu.log" 2>&1 || echo "qemu exited with $? (timeout is 124)"

# Verdicts come from the guest's console; pictures from the other serial ports.
fail=0
if ! grep -q '^VM-TEST-DONE' "$out/console.log"; then
  echo "the guest did not finish" && fail=1
fi
python3 "$here/check_frames.py" "$out" > "$out/host-checks.log" || fail=1
grep -hE '^(CHECK|INFO)' "$out/console.log" "$out/host-checks.log" || true
if grep -qh '^CHECK .* FAIL' "$out/console.log" "$out/host-checks.log"; then fail=1; fi
passed=$(cat "$out/console.log" "$out/host-checks.log" | grep -c '^CHECK .* ok' || true)
failed=$(cat "$out/console.log" "$out/host-checks.log" | grep -c '^CHECK .* FAIL' || true)
if [ "$fail" -ne 0 ]; then
  echo "--- guest console (daemon and kernel logs included) ---"
  cat "$out/console.log"
  # The verdicts again, last: a log cut to its tail still names what failed.
  echo "--- failed checks ---"
  grep -h '^CHECK .* FAIL' "$out/console.log" "$out/host-checks.log" || echo "(none: the guest did not finish, or the host check stopped)"
  echo "vm test: FAIL: $passed passed, $failed failed (artifacts in $out)"
  exit 1
fi
echo "vm test: PASS: $passed passed, $failed failed (artifacts in $out)"
