#!/bin/busybox sh
# Guest half of the real-kernel test (runs as /init inside the VM).
# Prints "CHECK <name> ok|FAIL" lines on the console and the last frame read
# from the virtual camera, base64, on the second serial port.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp

check() { if [ "$2" = ok ]; then echo "CHECK $1 ok"; else echo "CHECK $1 FAIL $3"; fi; }
# Processes other than the daemon's own holding a node open.
holders() { ls -l /proc/[0-9]*/fd 2>/dev/null | grep -c " $1\$"; }

for m in $(cat /modules/order); do
  case "$m" in
    vivid.ko) insmod "/modules/$m" n_devs=1 node_types=0x1 ;;
    *) insmod "/modules/$m" ;;
  esac || echo "INFO insmod $m failed"
done
insmod /modules/v4l2loopback.ko devices=1 video_nr=10 exclusive_caps=1 'card_label="ByteMeet Camera"' \
  || echo "INFO insmod v4l2loopback failed"
[ -e /dev/video0 ] && [ -e /dev/video10 ]; check devices-present "$([ $? = 0 ] && echo ok)" "$(ls /dev/video*)"
# A steady picture: vivid's OSD text would otherwise change every frame.
v4l2-ctl -d /dev/video0 -c osd_text_mode=2 >/dev/null 2>&1
echo "INFO vivid's fault controls: $(v4l2-ctl -d /dev/video0 -l 2>&1 | grep -i -E 'inject|disconnect|dropped' | sed 's/ *0x[0-9a-f]* *(.*//' | tr -s ' \n' ' ')"

# The same binary and flags users run, with a visible effect: invert turns
# vivid's bars (bright to dark) into dark to bright.
export HOME=/tmp XDG_RUNTIME_DIR=/tmp
/bytemeetd --source v4l2:/dev/video0 --output v4l2:/dev/video10 --size 640x480 --fps 15 --filter invert > /tmp/daemon.log 2>&1 &
daemon=$!

# With exclusive_caps=1 the node turns into a capture device once a producer streams.
n=0
until v4l2-ctl -d /dev/video10 --info 2>/dev/null | grep -q "Video Capture"; do
  n=$((n + 1)); [ $n -gt 120 ] && break; sleep 0.5
done
check vcam-is-capture-device "$([ $n -le 120 ] && echo ok)" "after ${n} polls"
v4l2-ctl -d /dev/video10 --info 2>/dev/null | grep -q "ByteMeet Camera"
check vcam-card-label "$([ $? = 0 ] && echo ok)"
# The polls above opened the node; with the open-watch fallback (no client-usage
# event in v4l2loopback 0.12.7) each open counts as a reader, so the camera may
# be on for the linger (3 s). With no one left, it must go off.
n=0
while [ "$(holders /dev/video0)" != 0 ]; do n=$((n + 1)); [ $n -gt 20 ] && break; sleep 0.5; done
check camera-off-without-readers "$([ "$(holders /dev/video0)" = 0 ] && echo ok)" "$(holders /dev/video0) holders"

# The independent reader: 150 frames, 10 s (the first are the idle card while
# the camera and the software GPU start, slow under emulation).
v4l2-ctl -d /dev/video10 --set-fmt-video=width=640,height=480,pixelformat=YUYV >/dev/null 2>&1
timeout 120 v4l2-ctl -d /dev/video10 --stream-mmap=3 --stream-count=150 --stream-to=/tmp/frames.yuv > /tmp/reader.log 2>&1
echo "INFO reader exit $?: $(tail -c 300 /tmp/reader.log | tr '\n\r' '  ')"
size=$(wc -c < /tmp/frames.yuv 2>/dev/null || echo 0)
check reader-got-150-frames "$([ "$size" = $((150 * 640 * 480 * 2)) ] && echo ok)" "$size bytes"
grep -q "camera opened" /tmp/daemon.log
check camera-opened-for-reader "$([ $? = 0 ] && echo ok)"
# The software GPU's start-up and first frames under emulation take from a
# few seconds to more than thirty (the warm-up runs every filter once, and
# the software driver compiles each at that run): when the last frame read
# is not inverted yet
# (left bar darker than the right one, read from the middle row's Y bytes),
# read on, bounded, so the frame checked on the host went through the effect
# whenever the daemon applies it at all.
inverted() {
  off=$(( $(wc -c < "$1") - 640 * 480 * 2 + 240 * 640 * 2 ))
  l=$(od -An -tu1 -j $((off + 40 * 2)) -N1 "$1" | tr -d ' ')
  r=$(od -An -tu1 -j $((off + 600 * 2)) -N1 "$1" | tr -d ' ')
  [ -n "$l" ] && [ -n "$r" ] && [ "$l" -lt "$r" ]
}
last=/tmp/frames.yuv
n=0
until inverted "$last"; do
  n=$((n + 1)); [ $n -gt 60 ] && break
  timeout 60 v4l2-ctl -d /dev/video10 --stream-mmap=3 --stream-count=15 --stream-to=/tmp/late.yuv >/dev/null 2>&1
  last=/tmp/late.yuv
done
echo "INFO read $n x 15 frames more before the effect showed"
grep -q "GPU effects ready" /tmp/daemon.log
check effects-on-gpu "$([ $? = 0 ] && echo ok)" "$(grep -i gpu /tmp/daemon.log | tail -n 2)"
tail -c $((640 * 480 * 2)) "$last" | base64 > /dev/ttyS1

# The camera closes a few seconds (linger) after the last reader leaves.
n=0
while [ "$(holders /dev/video0)" != 0 ]; do n=$((n + 1)); [ $n -gt 40 ] && break; sleep 0.5; done
check camera-closed-after-reader-left "$([ $n -le 40 ] && echo ok)"

# Reader churn: apps open, read a little and close, again and again.
ok=ok
for i in 1 2 3 4 5; do
  timeout 60 v4l2-ctl -d /dev/video10 --stream-mmap=3 --stream-count=3 --stream-to=/tmp/churn.yuv >/dev/null 2>&1
  [ "$(wc -c < /tmp/churn.yuv)" = $((3 * 640 * 480 * 2)) ] || ok="FAIL at round $i"
done
check reader-churn-5-rounds "$ok" "$ok"

# Unplug: a long read while the webcam's device is unbound (as a USB unplug
# does), then bound again. The reader must keep getting frames throughout;
# the middle row of every frame goes to the host, which checks that the
# picture goes bars -> card -> bars.
dev=$(ls /sys/bus/platform/drivers/vivid/ | grep '^vivid' | head -n1)
timeout 180 v4l2-ctl -d /dev/video10 --stream-mmap=3 --stream-count=240 --stream-to=/tmp/unplug.yuv > /tmp/unplug-reader.log 2>&1 &
reader=$!
n=0; until grep -q "camera opened" /tmp/daemon.log && [ "$(grep -c 'source started' /tmp/daemon.log)" -ge 2 ]; do
  n=$((n + 1)); [ $n -gt 60 ] && break; sleep 0.5; done
sleep 3
echo "$dev" > /sys/bus/platform/drivers/vivid/unbind
echo "INFO unbound $dev: $(ls /dev/video* | tr '\n' ' ')"
sleep 4
echo "$dev" > /sys/bus/platform/drivers/vivid/bind
v4l2-ctl -d /dev/video0 -c osd_text_mode=2 >/dev/null 2>&1
echo "INFO bound $dev again: $(ls /dev/video* | tr '\n' ' ')"
wait $reader
check reader-survives-unplug "$([ $? = 0 ] && echo ok)" "$(tail -c 200 /tmp/unplug-reader.log)"
frames=$(( $(wc -c < /tmp/unplug.yuv) / (640 * 480 * 2) ))
check reader-got-240-frames-across-unplug "$([ "$frames" = 240 ] && echo ok)" "$frames frames"
i=0; while [ $i -lt "$frames" ]; do
  dd if=/tmp/unplug.yuv bs=1280 skip=$((i * 480 + 240)) count=1 2>/dev/null
  i=$((i + 1))
done | base64 > /dev/ttyS2
grep -q "went away" /tmp/daemon.log
check unplug-reported "$([ $? = 0 ] && echo ok)"

# A stalled camera: vivid drops every buffer (no error, no frame), then
# delivers again. The reader never stops; the daemon says the camera
# stalled and reopens it.
timeout 180 v4l2-ctl -d /dev/video10 --stream-mmap=3 --stream-count=150 --stream-to=/dev/null > /tmp/stall-reader.log 2>&1 &
reader=$!
n=0; until [ "$(holders /dev/video0)" != 0 ]; do n=$((n + 1)); [ $n -gt 60 ] && break; sleep 0.5; done
sleep 2
v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=100 2>&1 | head -n 2
sleep 6
v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=0 >/dev/null 2>&1
wait $reader
check reader-survives-a-stalled-camera "$([ $? = 0 ] && echo ok)" "$(tail -c 200 /tmp/stall-reader.log)"
grep -q "delivered no frame" /tmp/daemon.log
check stall-reported "$([ $? = 0 ] && echo ok)" "$(grep 'delivered no frame' /tmp/daemon.log | tail -n 2)"

# A camera whose stream breaks (vivid's fatal streaming error: every
# DQBUF fails from then on): reopened.
before=$(grep -c "source started" /tmp/daemon.log)
timeout 120 v4l2-ctl -d /dev/video10 --stream-mmap=3 --stream-count=90 --stream-to=/dev/null > /tmp/dqbuf-reader.log 2>&1 &
reader=$!
n=0; until [ "$(holders /dev/video0)" != 0 ]; do n=$((n + 1)); [ $n -gt 60 ] && break; sleep 0.5; done
sleep 2
v4l2-ctl -d /dev/video0 -c inject_fatal_streaming_error=1 2>&1 | head -n 2
wait $reader
check reader-survives-a-streaming-error "$([ $? = 0 ] && echo ok)" "$(tail -c 200 /tmp/dqbuf-reader.log)"
n=0; until [ "$(grep -c "source started" /tmp/daemon.log)" -gt "$before" ]; do n=$((n + 1)); [ $n -gt 20 ] && break; sleep 0.5; done
check camera-reopened-after-a-streaming-error "$([ $n -le 20 ] && echo ok)" "$(grep -c 'source started' /tmp/daemon.log) starts"

kill -TERM $daemon; n=0
while kill -0 $daemon 2>/dev/null; do n=$((n + 1)); [ $n -gt 20 ] && kill -KILL $daemon; sleep 0.5; done
wait $daemon
check daemon-clean-exit "$([ $? = 0 ] && echo ok)"
echo "=== daemon log"; cat /tmp/daemon.log; echo "=== end daemon log"

# A camera busy at start: another program streams from it. The daemon
# shows the card with the reason (and who holds it) and takes the camera
# once it is free.
v4l2-ctl -d /dev/video0 --stream-mmap=3 --stream-count=100000 --stream-to=/dev/null > /dev/null 2>&1 &
holder=$!
sleep 1
/bytemeetd --source v4l2:/dev/video0 --output v4l2:/dev/video10 --size 640x480 --fps 15 > /tmp/daemon-busy.log 2>&1 &
daemon=$!
n=0
until v4l2-ctl -d /dev/video10 --info 2>/dev/null | grep -q "Video Capture"; do
  n=$((n + 1)); [ $n -gt 120 ] && break; sleep 0.5
done
timeout 180 v4l2-ctl -d /dev/video10 --stream-mmap=3 --stream-count=120 --stream-to=/tmp/busy.yuv > /tmp/busy-reader.log 2>&1 &
reader=$!
n=0; until grep -qi "busy" /tmp/daemon-busy.log; do n=$((n + 1)); [ $n -gt 60 ] && break; sleep 0.5; done
check busy-camera-reported "$([ $n -le 60 ] && echo ok)" "$(tail -n 3 /tmp/daemon-busy.log)"
kill $holder; wait $holder 2>/dev/null
n=0; until grep -q "camera opened" /tmp/daemon-busy.log; do n=$((n + 1)); [ $n -gt 60 ] && break; sleep 0.5; done
check camera-taken-once-free "$([ $n -le 60 ] && echo ok)" "$(tail -n 3 /tmp/daemon-busy.log)"
wait $reader
size=$(wc -c < /tmp/busy.yuv 2>/dev/null || echo 0)
check reader-gets-120-frames-across-a-busy-camera "$([ "$size" = $((120 * 640 * 480 * 2)) ] && echo ok)" "$size bytes: $(tail -c 200 /tmp/busy-reader.log)"
kill -TERM $daemon; wait $daemon
check busy-daemon-clean-exit "$([ $? = 0 ] && echo ok)"
echo "=== daemon busy log"; cat /tmp/daemon-busy.log; echo "=== end daemon busy log"

# NV12 on the virtual camera: a second daemon run; the reader checks the Y plane.
# This run also lets `auto` find the virtual camera and the webcam by itself,
# and starts with the webcam unplugged: the demo stands in until it is back.
dev=$(ls /sys/bus/platform/drivers/vivid/ | grep '^vivid' | head -n1)
echo "$dev" > /sys/bus/platform/drivers/vivid/unbind
/bytemeetd --source auto --output auto --output-format nv12 --size 640x480 --fps 15 > /tmp/daemon-nv12.log 2>&1 &
daemon=$!
n=0
until v4l2-ctl -d /dev/video10 --info 2>/dev/null | grep -q "Video Capture"; do
  n=$((n + 1)); [ $n -gt 120 ] && break; sleep 0.5
done
# A reader while the webcam is away gets the demo; plugging the webcam in
# switches the stream to it.
timeout 90 v4l2-ctl -d /dev/video10 --stream-mmap=3 --stream-count=120 --stream-to=/dev/null >/dev/null 2>&1 &
reader=$!
n=0; until grep -q "source started.*demo" /tmp/daemon-nv12.log; do n=$((n + 1)); [ $n -gt 40 ] && break; sleep 0.5; done
check auto-shows-the-demo-without-a-webcam "$([ $n -le 40 ] && echo ok)"
echo "$dev" > /sys/bus/platform/drivers/vivid/bind
n=0; until grep -q "a webcam appeared" /tmp/daemon-nv12.log; do n=$((n + 1)); [ $n -gt 40 ] && break; sleep 0.5; done
check auto-switches-to-a-webcam-plugged-in-later "$([ $n -le 40 ] && echo ok)"
wait $reader
v4l2-ctl -d /dev/video10 --get-fmt-video 2>/dev/null | grep -q NV12
check vcam-nv12-format "$([ $? = 0 ] && echo ok)" "$(v4l2-ctl -d /dev/video10 --get-fmt-video 2>&1 | tr '\n' ' ')"
timeout 120 v4l2-ctl -d /dev/video10 --stream-mmap=3 --stream-count=30 --stream-to=/tmp/nv12.yuv >/dev/null 2>&1
size=$(wc -c < /tmp/nv12.yuv 2>/dev/null || echo 0)
check nv12-reader-got-30-frames "$([ "$size" = $((30 * 640 * 480 * 3 / 2)) ] && echo ok)" "$size bytes"
tail -c $((640 * 480 * 3 / 2)) /tmp/nv12.yuv | base64 > /dev/ttyS3
kill -TERM $daemon; wait $daemon
check nv12-daemon-clean-exit "$([ $? = 0 ] && echo ok)"
grep -q "auto picked this virtual camera.*path=/dev/video10" /tmp/daemon-nv12.log
check auto-output-picks-bytemeet-camera "$([ $? = 0 ] && echo ok)"
grep -q "camera opened.*path=/dev/video0" /tmp/daemon-nv12.log
check auto-source-picks-the-webcam-not-the-loopback "$([ $? = 0 ] && echo ok)"
echo "=== daemon nv12 log"; cat /tmp/daemon-nv12.log; echo "=== end daemon nv12 log"
echo "=== kernel log"; dmesg | tail -n 60; echo "=== end kernel log"
echo "VM-TEST-DONE"
poweroff -f
