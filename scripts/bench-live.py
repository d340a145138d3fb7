#!/usr/bin/env python3
"""The daemon live, as a user runs it: a 1280x720 30 fps clip of the demo
portrait (its head moving) read in real time, effects on, the output to a
y4m clip on /dev/null. For each chain asked for, one daemon runs for a
warm-up and then SECS seconds, and its own figures (`bytemeetctl status
--json`, read every second) and its process (/proc) give:

- frames in and out per second, frames dropped and repeated, and new
  pictures sent per second (repeats left out) over the clip's 30;
- person masks and face tracks per second (medians of the per-second
  readings);
- the age of the mask (and face) applied to each frame sent, in frames,
  median and p99 over every frame of the window (the daemon's own counts);
- the delay from capture to the hand-over to the outputs, median and p99;
- CPU (user + system over wall time; 100 % = one core) and RSS, first and
  last reading and the fitted growth per minute.

Run inside a session bus, after a build:
    dbus-run-session -- python3 scripts/bench-live.py --bin TARGET/release \\
        --secs 60 --chain "blur" --chain "blur avatar"
A chain is words among: blur, scene (moon behind the person), avatar
(space-trooper, which tracks the face), toon (the filter), room (the
daemon joins a room on its own room server, `bytemeet-rooms` from --bin,
and one headless Chromium views it, `tests/rooms/viewer.mjs`, so the
room's encoder runs; the browser shares the two cores, and its CPU is
reported apart); `plain` is no effect. Prints a Markdown table and one
`LIVE {json}` line per chain.
"""
import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

CHAIN_ARGS = {
    "plain": [],
    "blur": ["--background", "blur"],
    "scene": ["--background", "scene:moon"],
    "avatar": ["--avatar", "space-trooper"],
    "toon": ["--filter", "toon"],
}


def quantile_of_counts(counts, q, step=1.0):
    """The q-quantile of a distribution given as counts per bucket, in
    bucket units times `step` (the bucket's lower edge)."""
    total = sum(counts)
    if total == 0:
        return None
    want = q * total
    seen = 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= want and c > 0:
            return i * step
    return (len(counts) - 1) * step


def diff(a, b):
    n = max(len(a), len(b))
    a = a + [0] * (n - len(a))
    b = b + [0] * (n - len(b))
    return [y - x for x, y in zip(a, b)]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def slope_per_min(samples):
    """Least-squares slope of (t, v) samples, per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    num = sum((t - mt) * (v - mv) for t, v in samples)
    den = sum((t - mt) ** 2 for t, _ in samples)
    return 60 * num / den if den else 0.0


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0.0


def status(ctl, env):
    out = subprocess.run(
        [ctl, "status", "--json"], env=env, capture_output=True, text=True, timeout=10
    )
    if out.returncode != 0:
        return None
    return json.loads(out.stdout)


def descendants(pid):
    """`pid` and every process below it."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_cpu_seconds(pid):
    total = 0.0
    for p in descendants(pid):
        try:
            total += cpu_seconds(p)
        except (OSError, ValueError, IndexError):
            pass
    return total


class Room:
    """A room server and one Chromium viewer of the daemon in it."""

    def __init__(self, args, ctl, env, home):
        # Its log goes to a file: a pipe nobody reads would fill and stall it.
        log = f"{home}/rooms.log"
        self.server = subprocess.Popen(
            [f"{args.bin}/bytemeet-rooms", "--port", "0"],
            env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
        )
        base, deadline = None, time.time() + 20
        while not base and time.time() < deadline:
            time.sleep(0.2)
            base = next((l.strip().rstrip("/") for l in open(log) if l.startswith("http://")), None)
        if not base:
            sys.exit(f"the room server did not start: {open(log).read()}")
        url = f"{base}/bench"
        subprocess.run([ctl, "room", "join", url, "--name", "Daemon"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        here = os.path.dirname(os.path.abspath(__file__))
        self.viewer = subprocess.Popen(
            ["node", f"{here}/../tests/rooms/viewer.mjs", url, "Daemon"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        lines = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(l) for l in self.viewer.stdout] + [lines.put("")], daemon=True
        ).start()
        self.lines = lines
        try:
            line = lines.get(timeout=90)
        except queue.Empty:
            line = "(nothing in 90 s)"
        if not line.startswith("VIEWING"):
            self.viewer.kill()
            sys.exit(f"the Chromium viewer did not start viewing: {line!r}")
        self.viewed = None

    def cpu_seconds(self):
        return tree_cpu_seconds(self.viewer.pid)

    def close(self):
        if self.viewer.poll() is None:
            self.viewer.stdin.close()
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    line = self.lines.get(timeout=max(0.1, deadline - time.time()))
                except queue.Empty:
                    break
                if not line:
                    break
                if line.startswith("VIEWED "):
                    self.viewed = json.loads(line[7:])
            try:
                self.viewer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.viewer.kill()
        self.server.terminate()
        self.server.wait(timeout=10)


def run_chain(args, chain, clip, work):
    words = chain.split()
    extra = []
    for w in words:
        if w == "room":
            continue
        if w not in CHAIN_ARGS:
            sys.exit(f"unknown chain word {w!r}: one of {', '.join(CHAIN_ARGS)}, room")
        extra += CHAIN_ARGS[w]
    home = tempfile.mkdtemp(dir=work)
    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=f"{home}/config",
        XDG_STATE_HOME=f"{home}/state",
        XDG_DATA_HOME=f"{home}/data",
        RUST_LOG="warn",
    )
    daemon = subprocess.Popen(
        [
            f"{args.bin}/bytemeetd",
            "--source",
            f"file:{clip}",
            "--output",
            "y4m:/dev/null",
            "--size",
            "1280x720",
            "--fps",
            "30",
            *extra,
        ],
        env=env,
        stderr=open(f"{home}/daemon.log", "w"),
    )
    ctl = f"{args.bin}/bytemeetctl"
    room = None
    try:
        deadline = time.time() + 60
        while status(ctl, env) is None:
            if daemon.poll() is not None or time.time() > deadline:
                sys.exit(f"bytemeetd did not come up: {open(f'{home}/daemon.log').read()}")
            time.sleep(0.5)
        if "room" in words:
            room = Room(args, ctl, env, home)
        time.sleep(args.warmup)
        first = status(ctl, env)
        t0, cpu0 = time.time(), cpu_seconds(daemon.pid)
        viewer0 = room.cpu_seconds() if room else 0.0
        rss, masks, faces = [], [], []
        while time.time() - t0 < args.secs:
            time.sleep(1)
            s = status(ctl, env)
            if s is None:
                sys.exit(f"bytemeetd stopped answering: {open(f'{home}/daemon.log').read()}")
            rss.append((time.time() - t0, rss_mib(daemon.pid)))
            masks.append(s["stats"]["masks_per_s"])
            faces.append(s["stats"]["faces_per_s"])
        last = status(ctl, env)
        t1, cpu1 = time.time(), cpu_seconds(daemon.pid)
        viewer1 = room.cpu_seconds() if room else 0.0
    finally:
        if room:
            room.close()
        daemon.terminate()
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
    a, b = first["stats"], last["stats"]
    dt = t1 - t0
    gpu = b.get("gpu", "")
    if not gpu or gpu.startswith("none"):
        sys.exit(f"no GPU adapter ({gpu!r}): install mesa-vulkan-drivers")
    mask_ages = diff(a.get("mask_age_counts", []), b.get("mask_age_counts", []))
    face_ages = diff(a.get("face_age_counts", []), b.get("face_age_counts", []))
    delays = diff(a.get("delay_counts", []), b.get("delay_counts", []))
    step = 5.0
    return {
        "chain": chain,
        "secs": round(dt, 1),
        "fps_in": (b["frames_in"] - a["frames_in"]) / dt,
        "fps_out": (b["frames_out"] - a["frames_out"]) / dt,
        "repeated": b["repeated"] - a["repeated"],
        "new_vs_clip": (b["frames_out"] - a["frames_out"] - (b["repeated"] - a["repeated"])) / dt / 30,
        "dropped": b["dropped"] - a["dropped"],
        "masks_per_s": median(masks),
        "faces_per_s": median(faces),
        "mask_age_median": quantile_of_counts(mask_ages, 0.5),
        "mask_age_p99": quantile_of_counts(mask_ages, 0.99),
        "face_age_median": quantile_of_counts(face_ages, 0.5),
        "face_age_p99": quantile_of_counts(face_ages, 0.99),
        "delay_ms_median": quantile_of_counts(delays, 0.5, step),
        "delay_ms_p99": quantile_of_counts(delays, 0.99, step),
        "effects_ms": b["stage_ms"].get("effects", 0.0),
        "cpu_percent": 100 * (cpu1 - cpu0) / dt,
        "viewer_cpu_percent": 100 * (viewer1 - viewer0) / dt if room else None,
        "viewer_decoded": room.viewed if room else None,
        "encode_ms": next((v for k, v in b["stage_ms"].items() if k.endswith("encode")), None),
        "rss_mib_first": rss[0][1] if rss else 0.0,
        "rss_mib_last": rss[-1][1] if rss else 0.0,
        "rss_mib_per_min": slope_per_min(rss),
        "gpu": gpu,
    }


def fmt(v, pattern="{:.1f}"):
    return "-" if v is None else pattern.format(v)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", required=True, help="folder with bytemeetd and bytemeetctl")
    p.add_argument("--secs", type=float, default=60)
    p.add_argument("--warmup", type=float, default=10)
    p.add_argument("--chain", action="append", help="effects, e.g. 'blur avatar'")
    args = p.parse_args()
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        sys.exit("no session bus: run under dbus-run-session")
    chains = args.chain or ["blur", "blur avatar"]
    work = tempfile.mkdtemp(prefix="bytemeet-live-")
    try:
        clip = f"{work}/portrait-720p.y4m"
        # Ten seconds of the demo portrait, looped by the file source.
        subprocess.run(
            [f"{args.bin}/bytemeetd", "--source", "demo", "--size", "1280x720",
             "--output", f"y4m:{clip}", "--frames", "300"],
            check=True, env=dict(os.environ, RUST_LOG="warn"),
        )
        results = []
        for chain in chains:
            r = run_chain(args, chain, clip, work)
            results.append(r)
            print("LIVE " + json.dumps(r), flush=True)
            # New pictures sent per second (repeats left out) against the
            # clip's own 30: the ratio daemon/benches/ratios.txt states.
            print(f"RATIO live.{chain.replace(' ', '_')}.new_vs_clip {r['new_vs_clip']:.3f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nlive, 1280x720 30 fps clip, {args.secs:.0f} s after {args.warmup:.0f} s warm-up, on {results[0]['gpu']}:")
    print("| chain | secs | fps in / out | vs clip | dropped / s | masks/s | mask age, frames (median / p99) "
          "| faces/s | face age (median / p99) | capture to output, ms (median / p99) "
          "| CPU | RSS MiB (growth/min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        viewer = ""
        if r["viewer_cpu_percent"] is not None:
            viewer = f" + viewer {r['viewer_cpu_percent']:.0f} %; VP8 {fmt(r['encode_ms'])} ms a frame"
        print(
            f"| {r['chain']} | {r['secs']:.0f} | {r['fps_in']:.1f} / {r['fps_out']:.1f} | {r['new_vs_clip']:.2f} "
            f"| {r['dropped'] / r['secs']:.1f} "
            f"| {r['masks_per_s']:.1f} | {fmt(r['mask_age_median'], '{:.0f}')} / {fmt(r['mask_age_p99'], '{:.0f}')} "
            f"| {r['faces_per_s']:.1f} | {fmt(r['face_age_median'], '{:.0f}')} / {fmt(r['face_age_p99'], '{:.0f}')} "
            f"| {fmt(r['delay_ms_median'], '{:.0f}')} / {fmt(r['delay_ms_p99'], '{:.0f}')} "
            f"| {r['cpu_percent']:.0f} %{viewer} | {r['rss_mib_last']:.0f} ({r['rss_mib_per_min']:+.1f}) |"
        )


if __name__ == "__main__":
    main()
