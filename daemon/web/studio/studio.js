// ByteMeet Studio: the page. Every address is relative to the page's own
// (/s/TOKEN/), so the token travels with each request and nowhere else.
"use strict";

const $ = (id) => document.getElementById(id);
const studio = { mode: "starting", pc: null, state: null, tiles: [], error: "" };
window.studio = studio; // for the browser tests

async function call(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const resp = await fetch(path, { cache: "no-store", ...init });
  const text = await resp.text();
  let data = {};
  try { data = JSON.parse(text); } catch { data = { error: text }; }
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

function showError(msg) {
  studio.error = msg || "";
  $("error").textContent = studio.error;
}

// A change goes to the daemon; the page shows it when the daemon pushes
// its new state (as it does for changes made with bytemeetctl).
async function change(what, spec) {
  try {
    await call("api/set", { what, spec });
    showError("");
  } catch (e) {
    showError(e.message);
  }
}

// ---- galleries ----

let thumbRound = -1;

function selectedSpec(kind, s) {
  const e = s.effects;
  if (kind === "filter") return e.filter_name;
  if (kind === "avatar") return e.avatar;
  const b = e.background;
  if (!b || b === "none") return "none";
  if (b.startsWith("blur")) return "blur";
  return b;
}

async function loadTiles() {
  let data;
  try { data = await call("api/tiles"); } catch (e) { showError(e.message); return; }
  studio.tiles = data.tiles;
  studio.filterParams = data.filter_params;
  studio.blur = data.blur;
  for (const kind of ["filter", "background", "avatar"]) {
    const box = $("gallery-" + kind);
    const want = data.tiles.filter((t) => t.kind === kind);
    const have = [...box.children].map((b) => b.dataset.spec);
    if (JSON.stringify(have) === JSON.stringify(want.map((t) => t.spec))) continue;
    box.replaceChildren(...want.map((t) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "tile";
      b.dataset.kind = kind;
      b.dataset.spec = t.spec;
      b.setAttribute("aria-pressed", "false");
      b.setAttribute("aria-label", `${kind} ${t.label}: ${t.description}`);
      b.title = t.description;
      const img = document.createElement("img");
      img.alt = "";
      const label = document.createElement("span");
      label.textContent = t.label;
      b.append(img, label);
      b.addEventListener("click", () => {
        const on = b.getAttribute("aria-pressed") === "true";
        // Clicking the look in use takes it off (backgrounds go to none).
        change(kind, on ? "none" : t.spec);
      });
      return b;
    }));
    thumbRound = -1;
  }
}

function paintSelection(s) {
  for (const b of document.querySelectorAll(".tile")) {
    const on = selectedSpec(b.dataset.kind, s) === b.dataset.spec;
    b.setAttribute("aria-pressed", on ? "true" : "false");
  }
}

function paintThumbs(round) {
  // Round 0: nothing drawn yet.
  if (round === thumbRound || round === 0) return;
  thumbRound = round;
  for (const b of document.querySelectorAll(".tile")) {
    const key = `${b.dataset.kind}:${b.dataset.spec}`;
    b.querySelector("img").src = `api/thumb?tile=${encodeURIComponent(key)}&round=${round}`;
  }
}

// ---- parameters ----

let paramsShown = "";

function paintParams(s) {
  const e = s.effects;
  const key = `${e.filter}|${e.background}`;
  if (key === paramsShown || document.activeElement?.type === "range") return;
  paramsShown = key;
  const box = $("params");
  box.replaceChildren();
  const slider = (id, text, min, max, step, value, apply) => {
    const label = document.createElement("label");
    label.htmlFor = id;
    const out = document.createElement("output");
    out.textContent = value;
    label.append(text + " ", out);
    const input = document.createElement("input");
    Object.assign(input, { type: "range", id, min, max, step, value });
    input.addEventListener("input", () => { out.textContent = input.value; });
    input.addEventListener("change", () => apply(input.value));
    box.append(label, input);
  };
  const params = (studio.filterParams || {})[e.filter_name] || [];
  for (const p of params) {
    if (e.filter_name === "lut") continue;
    const value = e.filter_params[p.name] ?? p.default;
    const step = p.max - p.min > 4 ? 1 : 0.05;
    slider(`param-${p.name}`, `${e.filter_name} ${p.name}`, p.min, p.max, step, value, (v) => {
      const values = { ...e.filter_params, [p.name]: Number(v) };
      const spec = e.filter_name + ":" + Object.entries(values).map(([k, x]) => `${k}=${x}`).join(",");
      change("filter", spec);
    });
  }
  if (e.background.startsWith("blur") && studio.blur) {
    const strength = Number(e.background.split(":")[1] || studio.blur.default);
    slider("blur-strength", "blur strength", studio.blur.min, studio.blur.max, 1, strength,
      (v) => change("background", `blur:${v}`));
  }
}

// ---- status ----

function row(list, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

function paintStatus(s) {
  const st = s.stats;
  const cam = s.camera_active ? "on" : "off (nobody watches)";
  $("summary").textContent = `camera ${cam} · ${st.fps_out.toFixed(1)} fps out · ${s.source}`;
  const list = $("status-list");
  list.replaceChildren();
  row(list, "camera", cam);
  row(list, "source", s.source);
  row(list, "outputs", s.outputs.length ? s.outputs.join("; ") : "none");
  row(list, "frames per second", `${st.fps_in.toFixed(1)} in, ${st.fps_out.toFixed(1)} out`);
  row(list, "frames", `${st.frames_in} in, ${st.frames_out} out, ${st.dropped} dropped, ${st.repeated} repeated`);
  row(list, "person masks", `${st.masks_per_s.toFixed(1)}/s, ${st.mask_age_frames.toFixed(1)} frames old`);
  row(list, "face tracks", `${st.faces_per_s.toFixed(1)}/s, ${st.face_age_frames.toFixed(1)} frames old`);
  row(list, "GPU", st.gpu || "not started");
  row(list, "faults recovered", st.faults.length ? st.faults.join("; ") : "none");
  const body = $("stages").tBodies[0];
  body.replaceChildren(...Object.keys(st.stage_ms).sort().map((k) => {
    const tr = document.createElement("tr");
    for (const v of [k, st.stage_ms[k].toFixed(1), (st.stage_max_ms[k] ?? 0).toFixed(1)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  }));
  const rooms = $("rooms");
  rooms.replaceChildren(...s.rooms.map((r) => {
    const li = document.createElement("li");
    li.textContent = `${r.id} (${r.state}) as ${r.name}`;
    const leave = document.createElement("button");
    leave.type = "button";
    leave.textContent = "Leave";
    leave.setAttribute("aria-label", `leave room ${r.id}`);
    leave.addEventListener("click", () => call("api/room", { action: "leave", id: r.id }).then(() => showError(""), (e) => showError(e.message)));
    li.append(leave);
    return li;
  }));
  if (!s.rooms.length) {
    const li = document.createElement("li");
    li.textContent = "none joined";
    rooms.append(li);
  }
}

// ---- the person finder ----

function paintSegmenter(s) {
  const seg = s.effects.segmenter || "model";
  const select = $("segmenter");
  const colour = $("chroma-colour");
  if (document.activeElement === select || document.activeElement === colour) return;
  const named = [...select.options].some((o) => o.value === seg);
  select.value = named ? seg : "custom";
  if (!named && seg.startsWith("chroma:#")) colour.value = seg.slice(7).toLowerCase();
  colour.hidden = select.value !== "custom";
  $("chroma-colour-label").hidden = colour.hidden;
}

$("segmenter").addEventListener("change", () => {
  const v = $("segmenter").value;
  const custom = v === "custom";
  $("chroma-colour").hidden = !custom;
  $("chroma-colour-label").hidden = !custom;
  change("segmenter", custom ? `chroma:${$("chroma-colour").value}` : v);
});
$("chroma-colour").addEventListener("change", () => change("segmenter", `chroma:${$("chroma-colour").value}`));

// ---- the state, pushed by the daemon ----

// `?thumbs=off`: the page does not ask for thumbnails (the benchmark
// measures the preview alone with it).
const query = new URLSearchParams(location.search).get("thumbs") === "off" ? "?thumbs=off" : "";

function paint(s) {
  studio.state = s;
  paintSelection(s);
  paintThumbs(s.thumbs);
  paintParams(s);
  paintSegmenter(s);
  paintStatus(s);
}

async function refresh() {
  let s;
  try { s = await call("api/state" + query); } catch (e) {
    $("summary").textContent = `the daemon does not answer: ${e.message}`;
    return;
  }
  paint(s);
}

// The daemon sends the state at once, on every change (from this page, the
// CLI or D-Bus) and every second for the figures. EventSource reconnects by
// itself when the daemon restarts.
studio.pushed = 0;
function listen() {
  if (typeof EventSource === "undefined") {
    setInterval(refresh, 1000);
    return refresh();
  }
  const events = new EventSource("api/events" + query);
  events.addEventListener("state", (ev) => {
    studio.pushed += 1;
    paint(JSON.parse(ev.data));
  });
  events.addEventListener("error", () => {
    $("summary").textContent = "the daemon does not answer; trying again…";
  });
}

// ---- preview: WebRTC from the daemon, still pictures when that fails ----

async function startWebRtc() {
  const pc = new RTCPeerConnection({ iceServers: [] });
  studio.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (ev) => {
    $("preview").srcObject = ev.streams[0] || new MediaStream([ev.track]);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && done());
    setTimeout(done, 2000);
  });
  const answer = await call("api/preview", { sdp: pc.localDescription.sdp });
  studio.previewId = answer.id;
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  for (const c of answer.candidates) {
    await pc.addIceCandidate(c).catch((e) => console.warn("candidate", e));
  }
  await new Promise((ok, fail) => {
    const check = () => {
      if (pc.connectionState === "connected") ok();
      if (pc.connectionState === "failed" || pc.connectionState === "closed") fail(new Error(`WebRTC ${pc.connectionState}`));
    };
    pc.addEventListener("connectionstatechange", check);
    check();
    setTimeout(() => fail(new Error("WebRTC did not connect within 10 s")), 10000);
  });
  studio.mode = "webrtc";
  $("preview-mode").textContent = "live over WebRTC (VP8), as rooms get it";
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "failed") startFallback("the WebRTC connection failed");
  });
}

let fallbackTimer = null;

function startFallback(why) {
  if (studio.pc) { studio.pc.close(); studio.pc = null; }
  studio.mode = "stills";
  $("preview-mode").textContent = `still pictures, a few per second (${why})`;
  $("preview").hidden = true;
  const img = $("fallback");
  img.hidden = false;
  if (fallbackTimer) return;
  const next = async () => {
    try {
      const resp = await fetch("api/frame.jpg", { cache: "no-store" });
      if (resp.ok) {
        const url = URL.createObjectURL(await resp.blob());
        const old = img.src;
        img.src = url;
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      }
    } catch { /* the daemon may be restarting */ }
    fallbackTimer = setTimeout(next, 150);
  };
  next();
}

window.addEventListener("pagehide", () => {
  if (studio.previewId) {
    navigator.sendBeacon?.("api/preview/close", new Blob([JSON.stringify({ id: studio.previewId })], { type: "application/json" }));
  }
});

// ---- wiring ----

$("clear").addEventListener("click", () => change("clear", ""));
$("lut-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const path = $("lut-path").value.trim();
  if (path) change("filter", `lut:${path}`);
});
$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  call("api/room", { action: "join", url: $("room-url").value.trim(), name: $("room-name").value.trim() })
    .then(() => showError(""), (e) => showError(e.message));
});

(async () => {
  await loadTiles();
  listen();
  setInterval(loadTiles, 10000);
  const forced = new URLSearchParams(location.search).get("preview");
  if (forced === "stills" || typeof RTCPeerConnection === "undefined") {
    startFallback(forced === "stills" ? "asked for" : "this browser has no WebRTC");
    return;
  }
  try {
    await startWebRtc();
  } catch (e) {
    startFallback(e.message);
  }
})();
