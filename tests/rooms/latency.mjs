// Glass-to-glass latency, daemon -> Chromium on loopback: bytemeetd (demo
// source, 1280x720, 30 fps) draws each frame's capture time into its room
// video (BYTEMEET_LATENCY_STAMP=1, see daemon/src/room/stamp.rs); the page
// reads the stamp from every frame it presents and compares it with its own
// clock. Also reports the daemon's per-frame encode time, and the time of
// its RGBA->I420 conversion as the baseline measured in the same run.
//
//   dbus-run-session -- node tests/rooms/latency.mjs BIN_DIR [SECONDS]

import { chromium } from "playwright-core";
import { CHROMIUM, FLAGS, Harness, decoding, log, runChecks, stampDelays } from "./lib.mjs";

const [bin, secs = "15"] = process.argv.slice(2);
if (!bin) {
  console.error("usage: latency.mjs BIN_DIR [SECONDS]");
  process.exit(2);
}

const h = new Harness(bin, { BYTEMEET_LATENCY_STAMP: "1" });
let code = 0;
await runChecks(h, async () => {
  const { base } = await h.startServer(0);
  await h.startDaemon(["--source", "demo", "--size", "1280x720", "--fps", "30"]);
  const url = `${base}/latency`;
  h.ctl("room", "join", url, "--name", "Daemon");
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${url}?name=Viewer`);
  if (!(await decoding(page, "Daemon", 20000))) throw new Error("the daemon's video never decoded");
  // Let the bitrate settle before measuring.
  await page.waitForTimeout(3000);
  const video = await page.evaluateHandle(() =>
    [...document.querySelectorAll(".tile")]
      .find((t) => t.querySelector(".name").textContent === "Daemon")
      .querySelector("video"));
  const samples = await stampDelays(page, video, Number(secs) * 1000);
  samples.sort((a, b) => a - b);
  const at = (p) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))];
  const status = h.ctl("status");
  const stages = (status.split("\n").find((l) => l.startsWith("stages")) || "").replace(/^stages \(ms\)\s*/, "");
  log(`${samples.length} frames in ${secs} s: glass-to-glass median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${samples[samples.length - 1]} ms`);
  log(`daemon per-frame stages (ms): ${stages}`);
  if (samples.length < Number(secs) * 10) {
    log("too few frames were read");
    code = 1;
  }
  await browser.close();
}, () => code, undefined, "latency");
