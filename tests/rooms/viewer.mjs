// One viewer in a room, for the live benchmark's `room` chain
// (scripts/bench-live.py): headless Chromium opens URL as "Viewer", waits
// until the peer named NAME is decoding, prints "VIEWING" (the caller then
// measures the browser, this process's descendants, apart from the
// daemon), stays until its standard input closes (or SECONDS pass) and
// prints the frames the page decoded meanwhile and their size.
//
//   node tests/rooms/viewer.mjs URL NAME [SECONDS]

import { chromium } from "playwright-core";
import { CHROMIUM, FLAGS, decoding, videoOf } from "./lib.mjs";

const [url, name, secs = "600"] = process.argv.slice(2);
if (!url || !name) {
  console.error("usage: viewer.mjs URL NAME [SECONDS]");
  process.exit(2);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
const page = await (await browser.newContext()).newPage();
await page.goto(`${url}?name=Viewer`);
if (!(await decoding(page, name, 30000))) {
  console.error(`viewer: the video of ${name} never decoded in ${url}`);
  await browser.close();
  process.exit(1);
}
const first = await videoOf(page, name);
console.log("VIEWING");
await new Promise((done) => {
  process.stdin.on("end", done);
  process.stdin.on("close", done);
  process.stdin.resume();
  setTimeout(done, Number(secs) * 1000);
});
const last = await videoOf(page, name);
console.log(`VIEWED ${JSON.stringify({ decoded: (last?.decoded ?? 0) - first.decoded, width: last?.width, height: last?.height })}`);
await browser.close();
