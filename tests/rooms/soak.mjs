// The daemon under a long run: the demo source with a blurred background
// and an avatar, a reader taking every frame (a y4m stream through a FIFO,
// as a virtual-camera reader would), `bytemeetctl` switching effects every
// second, the daemon joining a room with a browser in it every minute and
// leaving it 30 s later. Every 10 s: the daemon's RSS, open descriptors and
// threads, and the reader's frame gaps. At the end: the slope of each after
// the first minute, written to OUT/soak.json and OUT/samples.csv.
//
//   node tests/rooms/soak.mjs BIN OUT [--secs 3600] [--size 1280x720]
//        [--room-every 60] [--max-rss-mib-per-min 2] [--max-fd-growth 8]
//        [--max-thread-growth 8]
//
// Exits 1 when a growth bound is passed (CI runs it for 2 minutes).
// GPU memory: on Mesa's software Vulkan it is host memory, counted in RSS.

import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, FLAGS, Harness, log, sleep, videoOf } from "./lib.mjs";

const [bin, out, ...rest] = process.argv.slice(2);
if (!bin || !out) {
  console.error("usage: node tests/rooms/soak.mjs BIN OUT [--secs N] [--size WxH] [--max-rss-mib-per-min X]");
  process.exit(2);
}
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : dflt;
};
const SECS = Number(opt("secs", "3600"));
const SIZE = opt("size", "1280x720");
const MAX_RSS_SLOPE = Number(opt("max-rss-mib-per-min", "2"));
const MAX_FD_GROWTH = Number(opt("max-fd-growth", "8"));
const MAX_THREAD_GROWTH = Number(opt("max-thread-growth", "8"));
// The room is joined every ROOM_EVERY seconds and left half way to the next.
const ROOM_EVERY = Number(opt("room-every", "60"));
const [W, H] = SIZE.split("x").map(Number);
mkdirSync(out, { recursive: true });

const h = new Harness(bin);
const ctl = (...a) => h.ctl(...a);

// Least-squares slope of y over x.
function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den ? num / den : 0;
}

function proc(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (k) => Number((status.match(new RegExp(`^${k}:\\s+(\\d+)`, "m")) || [])[1] || 0);
  return {
    rss_mib: field("VmRSS") / 1024,
    threads: field("Threads"),
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

// The reader: a small Python process reads the y4m stream from the FIFO and
// reports frames and gaps (its own process, so this script's pauses do not
// count as gaps).
const READER = String.raw`
import json, sys, time
f = open(sys.argv[1], "rb", buffering=0)
header = b""
while not header.endswith(b"\n"):
    header += f.read(1)
w = h = 0
for tok in header.split():
    if tok.startswith(b"W"): w = int(tok[1:])
    if tok.startswith(b"H"): h = int(tok[1:])
size = w * h * 3 // 2
frames = 0; last = None; worst = 0.0; over = 0; since = time.monotonic()
first = None; worst_steady = 0.0; over_steady = 0
def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk: return None
        buf += chunk
    return buf
while True:
    line = b""
    while not line.endswith(b"\n"):
        c = f.read(1)
        if not c: sys.exit(0)
        line += c
    if read_exact(size) is None: sys.exit(0)
    now = time.monotonic()
    frames += 1
    if first is None: first = now
    if last is not None:
        gap = now - last
        worst = max(worst, gap)
        if gap > 0.1: over += 1
        # After the first minute: the steady state, start-up left out.
        if now - first > 60:
            worst_steady = max(worst_steady, gap)
            if gap > 0.1: over_steady += 1
    last = now
    if now - since >= 1.0:
        print(json.dumps({"frames": frames, "worst_gap_ms": worst * 1000, "gaps_over_100ms": over,
                          "worst_gap_ms_after_1min": worst_steady * 1000, "gaps_over_100ms_after_1min": over_steady}), flush=True)
        since = now
`;

async function main() {
  const fifo = join(out, "out.y4m");
  execFileSync("rm", ["-f", fifo]);
  execFileSync("mkfifo", [fifo]);
  const reader = spawn("python3", ["-c", READER, fifo], { stdio: ["ignore", "pipe", "inherit"] });
  let readerStats = { frames: 0, worst_gap_ms: 0, gaps_over_100ms: 0 };
  reader.stdout.on("data", (d) => {
    const lines = d.toString().trim().split("\n");
    try {
      readerStats = JSON.parse(lines[lines.length - 1]);
    } catch {}
  });

  const { base } = await h.startServer(0);
  const roomUrl = `${base}/soak`;
  const daemon = await h.startDaemon([
    "--source", "demo", "--size", SIZE, "--fps", "30", "--output", `y4m:${fifo}`,
  ]);
  ctl("background", "blur", "--strength", "12");
  ctl("avatar", "set", "space-trooper");
  log(`bytemeetd pid ${daemon.pid} at ${SIZE}; room ${roomUrl}; ${SECS} s`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${roomUrl}?name=Watcher`);

  // What is switched, one a second, round and round: blur and an avatar
  // stay on most of the time; each also goes off now and then (perception
  // then stops tracking faces, or stops).
  const switches = [
    ["filter", "set", "sepia"],
    ["avatar", "set", "robot"],
    ["background", "scene", "moon"],
    ["filter", "set", "toon"],
    ["avatar", "set", "space-trooper"],
    ["background", "blur", "--strength", "12"],
    ["filter", "off"],
    ["avatar", "set", "wizard"],
    ["avatar", "off"],
    ["background", "off"],
    ["avatar", "set", "space-trooper"],
    ["background", "blur", "--strength", "12"],
  ];
  const samples = [];
  const t0 = Date.now();
  let joined = null;
  let joins = 0;
  let decodedMax = 0;
  let tick = 0;
  while ((Date.now() - t0) / 1000 < SECS) {
    const t = (Date.now() - t0) / 1000;
    try {
      ctl(...switches[tick % switches.length]);
    } catch (e) {
      throw new Error(`bytemeetctl ${switches[tick % switches.length].join(" ")} failed: ${e.stderr || e}`);
    }
    if (tick % ROOM_EVERY === 5 % ROOM_EVERY) {
      joined = ctl("room", "join", roomUrl, "--name", "Daemon");
      joins++;
    }
    if (tick % ROOM_EVERY === (5 + ROOM_EVERY / 2) % ROOM_EVERY && joined) {
      const v = await videoOf(page, "Daemon").catch(() => null);
      if (v) decodedMax = Math.max(decodedMax, v.decoded);
      ctl("room", "leave", joined);
      joined = null;
    }
    if (tick % 10 === 0) {
      const p = proc(daemon.pid);
      const s = { t: Math.round(t), ...p, ...readerStats, joined: joined !== null };
      samples.push(s);
      log(`t=${s.t}s rss ${p.rss_mib.toFixed(0)} MiB, ${p.fds} fds, ${p.threads} threads; ${s.frames} frames, worst gap ${s.worst_gap_ms.toFixed(0)} ms`);
    }
    tick++;
    const next = t0 + tick * 1000;
    await sleep(Math.max(0, next - Date.now()));
  }
  await browser.close();

  const steady = samples.filter((s) => s.t >= 60);
  const apart = steady.filter((s) => !s.joined);
  const growth = (list, key) => (list.length < 2 ? 0 : Math.max(...list.map((s) => s[key])) - list[0][key]);
  const xsMin = steady.map((s) => s.t / 60);
  const result = {
    secs: SECS,
    size: SIZE,
    samples: samples.length,
    joins,
    browser_decoded_frames: decodedMax,
    rss_mib_first_minute: samples.find((s) => s.t >= 60)?.rss_mib ?? null,
    rss_mib_end: samples[samples.length - 1].rss_mib,
    // Out of the room only: a joined room's own buffers come and go with it.
    rss_mib_per_min: slope(apart.map((s) => s.t / 60), apart.map((s) => s.rss_mib)),
    rss_mib_per_min_all: slope(xsMin, steady.map((s) => s.rss_mib)),
    // Compared in the same state (out of the room): a joined room holds its
    // own threads and sockets while it lasts.
    fd_growth: growth(apart, "fds"),
    thread_growth: growth(apart, "threads"),
    frames: readerStats.frames,
    expected_frames: Math.round(SECS * 30),
    worst_gap_ms: readerStats.worst_gap_ms,
    gaps_over_100ms: readerStats.gaps_over_100ms,
    worst_gap_ms_after_1min: readerStats.worst_gap_ms_after_1min,
    gaps_over_100ms_after_1min: readerStats.gaps_over_100ms_after_1min,
  };
  writeFileSync(join(out, "soak.json"), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(
    join(out, "samples.csv"),
    "t,rss_mib,fds,threads,frames,worst_gap_ms,gaps_over_100ms,joined\n" +
      samples.map((s) => [s.t, s.rss_mib.toFixed(1), s.fds, s.threads, s.frames, s.worst_gap_ms.toFixed(1), s.gaps_over_100ms, s.joined].join(",")).join("\n") + "\n",
  );
  console.log(JSON.stringify(result, null, 2));
  await h.stop(join(out, "soak.log"));
  reader.kill();
  const fails = [];
  if (apart.length >= 3 && result.rss_mib_per_min > MAX_RSS_SLOPE)
    fails.push(`RSS grows ${result.rss_mib_per_min.toFixed(2)} MiB/min after the first minute (bound ${MAX_RSS_SLOPE})`);
  if (result.fd_growth > MAX_FD_GROWTH) fails.push(`open descriptors grew by ${result.fd_growth} (bound ${MAX_FD_GROWTH})`);
  if (result.thread_growth > MAX_THREAD_GROWTH) fails.push(`threads grew by ${result.thread_growth} (bound ${MAX_THREAD_GROWTH})`);
  if (joins > 0 && decodedMax === 0) fails.push("the browser in the room never decoded the daemon's video");
  if (fails.length) {
    for (const f of fails) console.error(`FAIL: ${f}`);
    process.exit(1);
  }
  log("soak: within bounds");
  process.exit(0);
}

main().catch(async (e) => {
  console.error(e);
  await h.stop(join(out, "soak.log"));
  process.exit(1);
});
