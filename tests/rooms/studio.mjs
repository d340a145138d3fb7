// ByteMeet Studio in headless Chromium: bytemeetd on the demo portrait,
// the page opened at the address `bytemeetctl studio --no-open` prints.
// The WebRTC preview decodes at the output size; clicking the sepia tile
// turns the preview warm and `bytemeetctl status --json` says sepia; a
// background set with the CLI shows as selected; an avatar tile puts the
// avatar on; every control is reachable with Tab and has a label; the
// still-picture fallback works. Screenshots go to OUT_DIR.
//
//   dbus-run-session -- node tests/rooms/studio.mjs BIN_DIR OUT_DIR

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, FLAGS, Harness, log, runChecks, sleep, until } from "./lib.mjs";

const [bin, out] = process.argv.slice(2);
if (!bin || !out) {
  console.error("usage: studio.mjs BIN_DIR OUT_DIR");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const h = new Harness(bin, {});
const ctl = (...args) => h.ctl(...args);
let failures = 0;

function check(ok, what) {
  log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures++;
  return ok;
}

// The preview's inbound video: frames decoded and their size.
const inbound = (page) =>
  page.evaluate(async () => {
    const pc = window.studio.pc;
    if (!pc) return null;
    let v = null;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") v = r;
    });
    return v && { frames: v.framesDecoded || 0, width: v.frameWidth, height: v.frameHeight };
  });

// Mean colour of what the preview shows (video, or the fallback picture).
const previewColour = (page) =>
  page.evaluate(() => {
    const v = document.getElementById("preview");
    const img = document.getElementById("fallback");
    const src = window.studio.mode === "stills" ? img : v;
    const w = src.videoWidth || src.naturalWidth;
    const hgt = src.videoHeight || src.naturalHeight;
    if (!w) return null;
    const c = document.createElement("canvas");
    c.width = w;
    c.height = hgt;
    const g = c.getContext("2d");
    g.drawImage(src, 0, 0);
    const d = g.getImageData(0, 0, w, hgt).data;
    let r = 0, gr = 0, b = 0;
    for (let i = 0; i < d.length; i += 4) { r += d[i]; gr += d[i + 1]; b += d[i + 2]; }
    const n = d.length / 4;
    return { r: r / n, g: gr / n, b: b / n };
  });

// The preview shrunk to 32x18 grey levels, to compare two moments.
const previewGrid = (page) =>
  page.evaluate(() => {
    const v = document.getElementById("preview");
    if (!v.videoWidth) return null;
    const c = document.createElement("canvas");
    c.width = 32;
    c.height = 18;
    const g = c.getContext("2d");
    g.drawImage(v, 0, 0, 32, 18);
    const d = g.getImageData(0, 0, 32, 18).data;
    const out = [];
    for (let i = 0; i < d.length; i += 4) out.push((d[i] + d[i + 1] + d[i + 2]) / 3);
    return out;
  });
const gridChange = (a, b) => a.reduce((s, x, i) => s + Math.abs(x - b[i]), 0) / a.length;

const pressed = (page, kind) =>
  page.evaluate((kind) =>
    [...document.querySelectorAll(`.tile[data-kind="${kind}"][aria-pressed="true"]`)].map((b) => b.dataset.spec), kind);

async function main() {
  await h.startDaemon(["--source", "demo", "--size", "640x360", "--fps", "30", "--output", `png:${join(out, "out.png")}`]);
  const url = ctl("studio", "--no-open");
  check(/^http:\/\/127\.0\.0\.1:\d+\/s\/[0-9a-f]{32}\/$/.test(url), `bytemeetctl studio prints the address (${url.replace(/[0-9a-f]{32}/, "TOKEN")})`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(url);

  // The live preview decodes, at the output's size, frames rising.
  const first = await until(30000, async () => {
    const v = await inbound(page);
    return v && v.frames > 5 ? v : null;
  });
  check(first && first.width === 640 && first.height === 360, `the WebRTC preview decodes at 640x360 (${JSON.stringify(first)})`);
  await sleep(2000);
  const later = await inbound(page);
  check(first && later && later.frames > first.frames + 20, `frames keep coming (${first?.frames} -> ${later?.frames} in 2 s)`);
  check(await page.evaluate(() => window.studio.mode) === "webrtc", "the preview runs over WebRTC");

  // Thumbnails arrive for the galleries.
  const thumbs = await until(60000, () =>
    page.evaluate(() => {
      const imgs = [...document.querySelectorAll(".tile img")];
      const done = imgs.filter((i) => i.complete && i.naturalWidth > 0).length;
      return imgs.length && done === imgs.length ? done : null;
    }));
  check(thumbs > 15, `every tile shows a thumbnail (${thumbs})`);
  await page.screenshot({ path: join(out, "studio-plain.png"), fullPage: true });

  // Click sepia: the preview turns warm within a second, the CLI agrees.
  const before = await previewColour(page);
  await page.click('.tile[data-kind="filter"][data-spec="sepia"]');
  const t0 = Date.now();
  // Sepia: no colour but brown, so red over blue rises and the gap
  // between green and the mean of red and blue closes.
  const tone = (c) => c.r - c.b;
  // The change must arrive (and its delay is reported); how fast it is on
  // an idle machine belongs to studio-bench.mjs, not to a pass or fail on
  // a busy one.
  const warm = await until(15000, async () => {
    const c = await previewColour(page);
    return c && tone(c) > tone(before) + 12 ? c : null;
  });
  const took = Date.now() - t0;
  check(warm, `clicking sepia turns the preview warm in ${took} ms (${JSON.stringify(before)} -> ${JSON.stringify(warm)})`);
  const st = JSON.parse(ctl("status", "--json"));
  check(st.filter === "sepia", `bytemeetctl status --json shows sepia (${st.filter})`);
  check((await pressed(page, "filter")).join() === "sepia", "the sepia tile is marked as chosen");

  // A background set with the CLI shows as chosen on the page: pushed by
  // the daemon, not asked for (the page makes no state request meanwhile).
  const asked = [];
  const onRequest = (r) => r.url().includes("/api/state") && asked.push(r.url());
  page.on("request", onRequest);
  const pushedBefore = await page.evaluate(() => window.studio.pushed);
  ctl("background", "scene", "moon");
  const t1 = Date.now();
  const moon = await until(15000, async () => ((await pressed(page, "background")).join() === "scene:moon" ? true : null));
  const pushMs = Date.now() - t1;
  check(moon && pushMs < 1000, `a background set with bytemeetctl shows as chosen on the page within a second (${pushMs} ms)`);
  const pushedAfter = await page.evaluate(() => window.studio.pushed);
  page.off("request", onRequest);
  check(asked.length === 0 && pushedAfter > pushedBefore, `the page was told, not polling (${pushedAfter - pushedBefore} states pushed, ${asked.length} asked for)`);

  // The person finder: the page's choice reaches the daemon; the CLI's
  // choice shows on the page.
  await page.selectOption("#segmenter", "chroma:blue");
  const blue = await until(15000, async () => JSON.parse(ctl("status", "--json")).segmenter === "chroma:blue" || null);
  check(blue, "choosing the blue screen on the page sets the segmenter (bytemeetctl status --json: chroma:blue)");
  await page.selectOption("#segmenter", "custom");
  await page.evaluate(() => {
    const c = document.getElementById("chroma-colour");
    c.value = "#ff00aa";
    c.dispatchEvent(new Event("change"));
  });
  const pink = await until(15000, async () => JSON.parse(ctl("status", "--json")).segmenter === "chroma:#FF00AA" || null);
  check(pink, "a backdrop colour of one's own reaches the daemon (chroma:#FF00AA)");
  await page.evaluate(() => document.activeElement?.blur());
  ctl("segmenter", "model");
  const model = await until(15000, async () =>
    (await page.evaluate(() => document.getElementById("segmenter").value)) === "model" && (await page.evaluate(() => document.getElementById("chroma-colour").hidden)) ? true : null);
  check(model, "the segmenter set with bytemeetctl shows on the page");

  // Parameters: the sepia amount slider is there with a label.
  const slider = await page.evaluate(() => {
    const i = document.getElementById("param-amount");
    return i && i.labels.length > 0 ? i.labels[0].textContent : null;
  });
  check(slider && slider.includes("amount"), `the filter's parameter has a labelled slider (${slider})`);

  // An avatar tile puts the avatar on, and the preview shows it (the
  // robot replaces the person: much of the picture changes).
  await sleep(1000);
  const bare = await previewGrid(page);
  await page.click('.tile[data-kind="avatar"][data-spec="robot"]');
  const worn = await until(15000, async () => JSON.parse(ctl("status", "--json")).avatar === "robot" || null);
  check(worn, "clicking the robot tile wears the robot avatar");
  const changed = await until(15000, async () => {
    const now = await previewGrid(page);
    const d = bare && now ? gridChange(bare, now) : 0;
    return d > 12 ? d : null;
  });
  check(changed, `the preview shows the avatar (mean change ${changed?.toFixed?.(1)} grey levels)`);
  await sleep(3000);
  await page.screenshot({ path: join(out, "studio-sepia-moon-robot.png"), fullPage: true });

  // Keyboard: every control is reached with Tab and has a name.
  const reached = new Set();
  let unnamed = [];
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press("Tab");
    const info = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const name = e.getAttribute("aria-label") || (e.labels && e.labels[0]?.textContent) || e.textContent.trim();
      return { id: e.id || `${e.dataset.kind}:${e.dataset.spec}`, name };
    });
    if (!info) continue;
    reached.add(info.id);
    if (!info.name) unnamed.push(info.id);
  }
  const controls = await page.evaluate(() =>
    [...document.querySelectorAll("button, a[href], input, select")].filter((e) => !e.hidden && e.offsetParent !== null).map((e) => e.id || `${e.dataset.kind}:${e.dataset.spec}`));
  const missed = controls.filter((c) => !reached.has(c));
  check(missed.length === 0, `Tab reaches every control (${reached.size} reached; missed: ${missed.join(", ")})`);
  check(unnamed.length === 0, `every control has a name (${unnamed.join(", ") || "all named"})`);

  // Clear all.
  await page.click("#clear");
  const cleared = await until(15000, async () => {
    const s = JSON.parse(ctl("status", "--json"));
    return (s.filter === null && s.avatar === null && s.background === "none") || null;
  });
  check(cleared, "clear all takes every effect off");

  // The still-picture fallback (what the page uses when WebRTC fails).
  const still = await (await browser.newContext()).newPage();
  await still.goto(url + "?preview=stills");
  const shown = await until(10000, () =>
    still.evaluate(() => {
      const img = document.getElementById("fallback");
      return window.studio.mode === "stills" && img.naturalWidth === 640 ? img.naturalWidth : null;
    }));
  check(shown, "the fallback preview shows still pictures at 640x360");

  // The preview closes with the page.
  await page.close();
  await still.close();
  check(errors.length === 0, `no errors on the page (${errors.join(" | ")})`);
  await browser.close();
}

await runChecks(h, main, () => failures, join(out, "studio.log"), `studio (logs and screenshots in ${out})`);
