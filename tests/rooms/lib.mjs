// Shared by the rooms' browser test and latency benchmark: starting the
// binaries with a private home, polling, and the Chromium flags.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Headless, no network chatter, a fake camera that needs no prompt, and
// loopback ICE candidates allowed (everything runs on 127.0.0.1).
export const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
  "--allow-loopback-in-peer-connection",
];

const started = Date.now();

export function log(msg) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `probe` until it returns a truthy value or `ms` pass.
export async function until(ms, probe) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await probe().catch(() => undefined);
    if (last) return last;
    await sleep(250);
  }
  return last;
}

// The binaries in `bin`, run with their own config, state and data homes.
export class Harness {
  constructor(bin, extraEnv = {}) {
    this.bin = bin;
    this.children = [];
    const home = mkdtempSync(join(tmpdir(), "bytemeet-rooms-"));
    this.env = {
      ...process.env,
      XDG_CONFIG_HOME: join(home, "config"),
      XDG_STATE_HOME: join(home, "state"),
      XDG_DATA_HOME: join(home, "data"),
      RUST_LOG: process.env.RUST_LOG || "info",
      ...extraEnv,
    };
  }

  start(name, args) {
    const child = spawn(join(this.bin, name), args, {
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines = [];
    const keep = (d) => {
      for (const l of d.toString().split("\n")) if (l) lines.push(l);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.lines = lines;
    this.children.push(child);
    return child;
  }

  // A room server on `port` (0: any); its base address.
  async startServer(port) {
    const server = this.start("bytemeet-rooms", ["--port", String(port)]);
    const url = await until(10000, async () => server.lines.find((l) => l.startsWith("http://")));
    if (!url) throw new Error(`the room server did not start:\n${server.lines.join("\n")}`);
    return { server, base: url.replace(/\/$/, "") };
  }

  // bytemeetd with `args`, once it answers on the bus.
  async startDaemon(args) {
    const daemon = this.start("bytemeetd", args);
    const up = await until(20000, async () => {
      try {
        return this.ctl("status").includes("running");
      } catch {
        return false;
      }
    });
    if (!up) throw new Error(`bytemeetd did not come up:\n${daemon.lines.join("\n")}`);
    return daemon;
  }

  ctl(...args) {
    return execFileSync(join(this.bin, "bytemeetctl"), args, {
      env: this.env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  }

  // Stops everything; their output goes to `logFile`.
  async stop(logFile) {
    for (const c of this.children) {
      if (c.exitCode === null) c.kill("SIGTERM");
    }
    await sleep(300);
    if (logFile) {
      writeFileSync(logFile, this.children.map((c) => c.lines.join("\n")).join("\n----\n"));
    }
  }
}

// The inbound video stats of the tile named `name` on `page`.
export async function videoOf(page, name) {
  return page.evaluate(async (name) => {
    for (const [, p] of window.bytemeet.peers) {
      if (p.name !== name) continue;
      let v = null;
      (await p.pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "video") v = r;
      });
      if (!v) return null;
      return { decoded: v.framesDecoded || 0, width: v.frameWidth, height: v.frameHeight };
    }
    return null;
  }, name);
}

// The video stats once the video from `name` on `page` is decoding
// (frames rise), or a falsy value after `ms`.
export async function decoding(page, name, ms) {
  return until(ms, async () => {
    const a = await videoOf(page, name);
    if (!a || !a.decoded) return false;
    await sleep(700);
    const b = await videoOf(page, name);
    return b && b.decoded > a.decoded ? b : false;
  });
}

// Glass-to-glass delays (ms) of every frame `video` (an element handle on
// `page`) presents for `ms`: the daemon draws each frame's capture time
// (BYTEMEET_LATENCY_STAMP=1, daemon/src/room/stamp.rs) as 32 bits in the top
// row of a 1280-wide picture; the page reads it back and compares it with
// its own clock (the same machine's).
export async function stampDelays(page, video, ms) {
  return page.evaluate(async ([video, ms]) => {
    const canvas = document.createElement("canvas");
    canvas.width = 32 * 16;
    canvas.height = 16;
    const g = canvas.getContext("2d", { willReadFrequently: true });
    const out = [];
    const end = performance.now() + ms;
    await new Promise((done) => {
      const onFrame = () => {
        const shown = Date.now();
        g.drawImage(video, 0, 0, 512, 16, 0, 0, 512, 16);
        const d = g.getImageData(0, 0, 512, 16).data;
        let v = 0;
        for (let bit = 0; bit < 32; bit++) {
          const i = (8 * 512 + bit * 16 + 8) * 4;
          v = (v * 2 + (d[i] > 128 ? 1 : 0)) >>> 0;
        }
        const delay = ((shown % 2 ** 32) - v + 2 ** 32) % 2 ** 32;
        if (delay < 10000) out.push(delay);
        if (performance.now() < end) video.requestVideoFrameCallback(onFrame);
        else done();
      };
      video.requestVideoFrameCallback(onFrame);
    });
    return out;
  }, [video, ms]);
}

// Runs `main`, stops everything `h` started (their output to `logFile`,
// when given), says how it went and exits: 1 when `main` threw or
// `failures()` counts any.
export async function runChecks(h, main, failures, logFile, what) {
  let thrown = 0;
  try {
    await main();
  } catch (e) {
    thrown = 1;
    log(`FAIL ${e.stack || e}`);
  } finally {
    await h.stop(logFile);
  }
  const failed = thrown + failures();
  log(failed ? `${what}: ${failed} check(s) failed` : `${what}: all checks passed`);
  process.exit(failed ? 1 : 0);
}
