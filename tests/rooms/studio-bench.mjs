// What ByteMeet Studio costs the daemon, and the delay of its preview.
//
// bytemeetd runs the demo portrait at 1280x720, 30 fps, with the background
// blurred (a person mask every frame), writing a y4m clip to /dev/null so the
// frame loop always runs. Phases of SECONDS each, in the order
// none, preview, page, none, preview, page (REPEAT times):
//   none     no page open;
//   preview  the page open with `?thumbs=off`: the WebRTC preview and the
//            state pushed by the daemon (on changes and every second), no
//            thumbnails;
//   page     the page as users get it: preview, state and thumbnails.
// For each phase: the daemon's CPU (user + system time over wall time, from
// /proc), its output fps and the effect stage's mean ms. The preview's
// glass-to-glass delay (capture-time stamp read in the browser, as
// latency.mjs does for rooms): median and p95.
//
//   dbus-run-session -- node tests/rooms/studio-bench.mjs BIN_DIR [SECONDS] [REPEAT]

import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { CHROMIUM, FLAGS, Harness, log, runChecks, sleep, stampDelays, until } from "./lib.mjs";

const [bin, secs = "15", repeat = "2"] = process.argv.slice(2);
if (!bin) {
  console.error("usage: studio-bench.mjs BIN_DIR [SECONDS] [REPEAT]");
  process.exit(2);
}

const TICK = 100; // clock ticks per second (USER_HZ on Linux)
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime
};

const h = new Harness(bin, { BYTEMEET_LATENCY_STAMP: "1" });
let code = 0;
await runChecks(h, async () => {
  const d = await h.startDaemon([
    "--source", "demo", "--size", "1280x720", "--fps", "30",
    "--background", "blur", "--output", "y4m:/dev/null",
  ]);
  const url = h.ctl("studio", "--no-open");
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  // Warm up: GPU engine, perception, the thumbnail chain's first round.
  {
    const p = await (await browser.newContext()).newPage();
    await p.goto(url);
    await until(60000, async () => (await p.evaluate(() => window.studio.mode)) === "webrtc" || null);
    await sleep(8000);
    await p.close();
    await sleep(12000); // the page counts as open 10 s after its last state
  }
  const results = { none: [], preview: [], page: [] };
  const delays = [];
  for (let r = 0; r < Number(repeat); r++) {
    for (const phase of ["none", "preview", "page"]) {
      let page = null;
      if (phase !== "none") {
        page = await (await browser.newContext()).newPage();
        await page.goto(phase === "preview" ? `${url}?thumbs=off` : url);
        const up = await until(30000, async () => (await page.evaluate(() => window.studio.mode)) === "webrtc" || null);
        if (!up) throw new Error(`the preview did not connect in phase ${phase}`);
        await sleep(3000); // bitrate and first thumbnails settle
      }
      const st0 = JSON.parse(h.ctl("status", "--json")).stats;
      const c0 = cpuSeconds(d.pid);
      const t0 = Date.now();
      if (page) {
        const video = await page.$("#preview");
        delays.push(...(await stampDelays(page, video, Number(secs) * 1000)));
      } else {
        await sleep(Number(secs) * 1000);
      }
      const wall = (Date.now() - t0) / 1000;
      const cpu = (cpuSeconds(d.pid) - c0) / wall;
      const st1 = JSON.parse(h.ctl("status", "--json")).stats;
      const fps = (st1.frames_out - st0.frames_out) / wall;
      const effects = st1.stage_ms.effects ?? 0;
      results[phase].push({ cpu, fps, effects });
      log(`${phase.padEnd(8)} cpu ${(cpu * 100).toFixed(0)}% of a core, ${fps.toFixed(1)} fps out, effects ${effects.toFixed(1)} ms`
        + (phase === "page" ? `, thumbnail round ${(st1.stage_ms["studio thumbnails"] ?? 0).toFixed(0)} ms` : ""));
      if (page) {
        await page.close();
        await sleep(12000); // the encoder stops, thumbnails stop
      }
    }
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const spread = (xs) => `${(Math.min(...xs) * 100).toFixed(0)}..${(Math.max(...xs) * 100).toFixed(0)}%`;
  const base = mean(results.none.map((x) => x.cpu));
  for (const phase of ["preview", "page"]) {
    const cpu = results[phase].map((x) => x.cpu);
    log(`${phase}: daemon CPU ${(mean(cpu) / base).toFixed(2)}x the no-page run `
      + `(${(mean(cpu) * 100).toFixed(0)}% vs ${(base * 100).toFixed(0)}% of a core; runs ${spread(cpu)} vs ${spread(results.none.map((x) => x.cpu))}), `
      + `fps ${mean(results[phase].map((x) => x.fps)).toFixed(1)} vs ${mean(results.none.map((x) => x.fps)).toFixed(1)}, `
      + `effects ${mean(results[phase].map((x) => x.effects)).toFixed(1)} vs ${mean(results.none.map((x) => x.effects)).toFixed(1)} ms`);
  }
  delays.sort((a, b) => a - b);
  const at = (p) => delays[Math.min(delays.length - 1, Math.floor(delays.length * p))];
  log(`preview glass-to-glass over ${delays.length} frames: median ${at(0.5)} ms, p95 ${at(0.95)} ms`);
  if (delays.length < Number(secs) * 10) {
    log("too few preview frames were read");
    code = 1;
  }
  await browser.close();
}, () => code, undefined, "studio bench");
