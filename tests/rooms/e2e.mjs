// End to end: the room server, bytemeetd (demo source, thermal filter) and
// two headless Chromium browsers in one room, then the faults: the server
// restarted mid-call, a browser killed without a goodbye, malformed and
// oversized events from a raw Socket.io client, the daemon's room encoder
// panicking (injected), and the daemon leaving.
//
// Run under a private session bus (tests/run.sh does):
//   dbus-run-session -- node tests/rooms/e2e.mjs BIN_DIR OUT_DIR
// BIN_DIR holds bytemeet-rooms, bytemeetd and bytemeetctl; screenshots go
// to OUT_DIR.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { io } from "socket.io-client";
import { CHROMIUM, FLAGS, Harness, decoding, log, runChecks, sleep, until, videoOf } from "./lib.mjs";

const [bin, out] = process.argv.slice(2);
if (!bin || !out) {
  console.error("usage: e2e.mjs BIN_DIR OUT_DIR");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

// The room encoder panics once, on purpose, at its 150th picture (a few
// seconds into the call): the call must go on.
const h = new Harness(bin, { BYTEMEETD_INJECT: "encoder-panic@150" });
const ctl = (...args) => h.ctl(...args);
let failures = 0;

function check(ok, what) {
  if (ok) {
    log(`ok   ${what}`);
  } else {
    failures++;
    log(`FAIL ${what}`);
  }
  return ok;
}

// Mean colour and the share of strongly coloured pixels in a tile's video.
async function colours(page, name) {
  return page.evaluate((name) => {
    const tile = [...document.querySelectorAll(".tile")].find(
      (t) => t.querySelector(".name").textContent === name,
    );
    const video = tile && tile.querySelector("video");
    if (!video || !video.videoWidth) return null;
    const c = document.createElement("canvas");
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    const g = c.getContext("2d");
    g.drawImage(video, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let r = 0, gr = 0, b = 0, vivid = 0;
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      r += d[i];
      gr += d[i + 1];
      b += d[i + 2];
      const max = Math.max(d[i], d[i + 1], d[i + 2]);
      const min = Math.min(d[i], d[i + 1], d[i + 2]);
      if (max > 40 && (max - min) / max > 0.5) vivid++;
    }
    return { r: r / n, g: gr / n, b: b / n, vivid: vivid / n };
  }, name);
}

const tiles = (page) =>
  page.evaluate(() => [...document.querySelectorAll(".tile .name")].map((e) => e.textContent));

async function main() {
  const { server: first, base } = await h.startServer(0);
  const port = new URL(base).port;
  const room = "e2e-" + Date.now().toString(36);
  const roomUrl = `${base}/${room}`;
  log(`room server at ${base}`);

  // The daemon: demo portrait through the thermal filter, no virtual camera.
  await h.startDaemon([
    "--source", "demo", "--filter", "thermal", "--size", "640x360", "--fps", "30",
  ]);
  check(ctl("room", "join", roomUrl, "--name", "Daemon") === room, "bytemeetctl room join answers the room id");

  const browserA = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const serverB = await chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const browserB = await chromium.connect(serverB.wsEndpoint());
  const a = await (await browserA.newContext()).newPage();
  const b = await (await browserB.newContext()).newPage();
  for (const [p, who] of [[a, "Ada"], [b, "Bob"]]) {
    p.on("pageerror", (e) => log(`${who} page error: ${e}`));
  }
  await a.goto(`${roomUrl}?name=Ada`);
  await b.goto(`${roomUrl}?name=Bob`);

  // Each browser decodes the daemon's video at the daemon's size.
  for (const [p, who] of [[a, "Ada"], [b, "Bob"]]) {
    const v = await decoding(p, "Daemon", 20000);
    check(v && v.width === 640 && v.height === 360,
      `${who} decodes the daemon's video (${JSON.stringify(v)})`);
  }
  // The thermal filter's false colours reach the browser.
  const col = await until(5000, () => colours(a, "Daemon"));
  check(col && col.vivid > 0.6 && col.r > col.g,
    `the daemon's tile shows thermal colours (${JSON.stringify(col)})`);
  // The browsers see each other's fake cameras.
  check(await decoding(a, "Bob", 15000), "Ada decodes Bob's camera");
  check(await decoding(b, "Ada", 15000), "Bob decodes Ada's camera");
  check(ctl("room", "list").includes("with 2 others"), `the daemon counts two others (${ctl("room", "list")})`);

  // Chat, shown as text.
  await a.fill("#chat-input", "<b>hi</b> from Ada");
  await a.press("#chat-input", "Enter");
  const said = await until(5000, () =>
    b.evaluate(() => {
      const t = [...document.querySelectorAll("#messages .text")].map((e) => e.textContent);
      const html = document.querySelector("#messages b") !== null;
      return t.includes("<b>hi</b> from Ada") ? { html } : null;
    }));
  check(said && !said.html, "Ada's chat reaches Bob as text, not HTML");
  await a.screenshot({ path: join(out, "ada.png") });
  await b.screenshot({ path: join(out, "bob.png") });

  // The encoder's injected panic: caught, shown in status, the encoder
  // started again (its first picture a keyframe), the browsers decoding on.
  const faulted = await until(30000, async () =>
    (JSON.parse(ctl("status", "--json")).stats.faults || []).find((f) => f.startsWith("room-encode")));
  check(faulted, `the room encoder's panic is caught and shown by status (${faulted})`);
  const before = await videoOf(a, "Daemon");
  await sleep(2000);
  const after = await videoOf(a, "Daemon");
  check(before && after && after.decoded > before.decoded + 10,
    `Ada decodes the daemon on after the encoder restarted (${before?.decoded} -> ${after?.decoded} frames)`);

  // A second room at once, with its own bitrate ceiling: so low that the
  // picture goes at half size.
  // Cy is there first, so here the daemon is the newcomer and makes the offer.
  const room2 = room + "-b";
  const c = await (await browserA.newContext()).newPage();
  await c.goto(`${base}/${room2}?name=Cy`);
  await until(10000, () => c.evaluate(() => window.bytemeet.me !== null));
  check(ctl("room", "join", `${base}/${room2}`, "--name", "Daemon", "--max-kbps", "150") === room2,
    "the daemon joins a second room, where Cy waits");
  const v2 = await decoding(c, "Daemon", 20000);
  check(v2 && v2.width === 320 && v2.height === 180,
    `Cy decodes the daemon in the second room, at half size (${JSON.stringify(v2)})`);
  const kbps = await c.evaluate(async () => {
    const [p] = [...window.bytemeet.peers.values()];
    const bytes = async () => {
      let b = 0;
      (await p.pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "video") b = r.bytesReceived;
      });
      return b;
    };
    const b0 = await bytes();
    await new Promise((r) => setTimeout(r, 3000));
    return ((await bytes()) - b0) * 8 / 3000;
  });
  check(kbps > 30 && kbps < 250, `the second room keeps to its 150 kbit/s ceiling (${kbps.toFixed(0)} kbit/s)`);
  check(ctl("room", "list").split("\n").length === 2, "two rooms listed");
  await c.screenshot({ path: join(out, "cy.png") });
  ctl("room", "leave", room2);
  await c.close();

  // A raw Socket.io client sends junk: errors come back, the call goes on.
  const raw = io(base, { transports: ["websocket"], reconnection: false });
  const errors = [];
  raw.on("error", (e) => errors.push(e.code));
  await until(5000, async () => raw.connected);
  raw.emit("join", { room: "other", name: "Mallory" });
  raw.emit("launch-missiles", {});
  raw.emit("offer", "not an object");
  raw.emit("join", { room: room, name: "again" });
  raw.emit("chat", { text: "x".repeat(70000) });
  raw.emit("ice", { to: "p1", candidate: { candidate: "c" } });
  await until(5000, async () => errors.length >= 5);
  check(JSON.stringify(errors) === JSON.stringify(["malformed", "malformed", "already-in-room", "too-large", "unknown-peer"]),
    `junk events get error events (${JSON.stringify(errors)})`);
  raw.close();
  check(await decoding(a, "Daemon", 5000), "Ada's call is undisturbed");
  const notes = await a.evaluate(() => [...document.querySelectorAll("#messages .note")].map((e) => e.textContent));
  check(!notes.some((n) => n.startsWith("server:")), "Ada got no error from someone else's junk");

  // The server restarts mid-call: everyone is back within 10 s.
  first.kill("SIGTERM");
  await until(5000, async () => first.exitCode !== null);
  log("room server stopped");
  await sleep(500);
  const restartedAt = Date.now();
  await h.startServer(port);
  log("room server started again");
  const back = await until(10000, async () => {
    for (const [p, others] of [[a, ["Bob", "Daemon"]], [b, ["Ada", "Daemon"]]]) {
      for (const o of others) {
        const v = await videoOf(p, o);
        if (!v || !v.decoded) return false;
      }
    }
    return true;
  });
  check(back, `everyone is back ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the restart (10 s allowed)`);
  check(await decoding(a, "Daemon", 5000), "Ada decodes the daemon again");
  await a.screenshot({ path: join(out, "ada-after-restart.png") });

  // Bob's browser dies without a goodbye: he leaves Ada's grid.
  serverB.process().kill("SIGKILL");
  const gone = await until(20000, async () => !(await tiles(a)).includes("Bob"));
  check(gone, `a killed browser leaves the grid (${JSON.stringify(await tiles(a))})`);
  check(await until(5000, async () => ctl("room", "list").includes("with 1 other")), "the daemon sees Bob go");

  // The daemon leaves: its tile goes.
  ctl("room", "leave", room);
  check(await until(10000, async () => !(await tiles(a)).includes("Daemon")), "the daemon's tile goes when it leaves");
  check(ctl("room", "list") === "no rooms joined", "no rooms joined after leaving");
  await a.screenshot({ path: join(out, "ada-alone.png") });
  await browserA.close();
}

await runChecks(h, main, () => failures, join(out, "logs.txt"), `rooms (logs and screenshots in ${out})`);
