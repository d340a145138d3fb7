// The ByteMeet room page: joins the room named by the address over
// Socket.io (protocol: docs/signalling.md), shows everyone's camera in a grid
// and carries the chat. Media goes peer to peer: the newcomer offers to every
// peer already there; the others answer.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const room = decodeURIComponent(location.pathname.slice(1));
  const params = new URLSearchParams(location.search);

  const state = {
    name: "",
    me: null, // our peer id in the current session
    wantIn: false, // joined (or joining), and so rejoins after a reconnect
    stream: null, // our camera, if we have one
    peers: new Map(), // peer id -> { pc, name, tile, pending: [candidates] }
  };
  // For tests and for curious users: the peer connections by peer id.
  window.bytemeet = state;

  $("room-id").textContent = room;

  function setStatus(text, bad) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("bad", !!bad);
  }

  function note(text) {
    const li = document.createElement("li");
    li.className = "note";
    li.textContent = text;
    $("messages").append(li);
    li.scrollIntoView({ block: "end" });
  }

  function tile(id, name, self) {
    const div = document.createElement("div");
    div.className = "tile" + (self ? " self" : "");
    div.dataset.peer = id;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = !!self;
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = self ? name + " (you)" : name;
    div.append(video, label);
    $("grid").append(div);
    return div;
  }

  async function openCamera() {
    for (const constraints of [
      { video: { width: 1280, height: 720 }, audio: true },
      { video: { width: 1280, height: 720 }, audio: false },
    ]) {
      try {
        return await navigator.mediaDevices.getUserMedia(constraints);
      } catch (e) {
        console.warn("getUserMedia", constraints, e);
      }
    }
    note("No camera available: you can watch and chat, but others will not see you.");
    return null;
  }

  const socket = io({
    autoConnect: false,
    reconnectionDelay: 500,
    reconnectionDelayMax: 2000,
  });

  function send(event, data) {
    socket.emit(event, data);
  }

  function showPresence() {
    if (!state.wantIn || !socket.connected) return;
    const n = state.peers.size;
    setStatus(n === 0 ? "in the room, alone so far" : `in the room with ${n} other${n === 1 ? "" : "s"}`);
  }

  function dropPeer(id) {
    const peer = state.peers.get(id);
    if (!peer) return;
    state.peers.delete(id);
    peer.pc.close();
    peer.tile.remove();
    showPresence();
  }

  function dropAll() {
    for (const id of [...state.peers.keys()]) dropPeer(id);
  }

  function peerFor(id, name) {
    let peer = state.peers.get(id);
    if (peer) {
      if (name && peer.name !== name) {
        peer.name = name;
        peer.tile.querySelector(".name").textContent = name;
      }
      return peer;
    }
    const pc = new RTCPeerConnection({ iceServers: [] });
    peer = { pc, name: name || id, tile: tile(id, name || id, false), pending: [] };
    state.peers.set(id, peer);
    pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate) return;
      send("ice", {
        to: id,
        candidate: {
          candidate: e.candidate.candidate,
          sdpMid: e.candidate.sdpMid,
          sdpMLineIndex: e.candidate.sdpMLineIndex,
        },
      });
    };
    pc.ontrack = (e) => {
      const video = peer.tile.querySelector("video");
      video.srcObject = e.streams[0] || new MediaStream([e.track]);
    };
    pc.onconnectionstatechange = () => {
      // A peer gone without a word: its server connection times out too,
      // but the media path tells first.
      if (pc.connectionState === "failed" && state.peers.get(id) === peer) {
        dropPeer(id);
      }
    };
    if (state.stream) {
      for (const track of state.stream.getTracks()) pc.addTrack(track, state.stream);
    } else {
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    return peer;
  }

  async function flushCandidates(peer) {
    for (const c of peer.pending.splice(0)) {
      await peer.pc.addIceCandidate(c).catch((e) => console.warn("candidate", e));
    }
  }

  socket.on("connect", () => {
    setStatus("connected");
    if (state.wantIn) send("join", { room, name: state.name });
  });
  socket.on("disconnect", () => {
    setStatus("reconnecting…", true);
    dropAll();
  });
  socket.on("connect_error", () => setStatus("cannot reach the server; retrying…", true));

  socket.on("room-state", async ({ you, peers }) => {
    state.me = you;
    for (const p of peers) peerFor(p.id, p.name);
    showPresence();
    for (const p of peers) {
      const peer = peerFor(p.id, p.name);
      try {
        await peer.pc.setLocalDescription(await peer.pc.createOffer());
        send("offer", { to: p.id, sdp: peer.pc.localDescription.sdp });
      } catch (e) {
        console.error("offer to", p.id, e);
      }
    }
  });
  socket.on("peer-joined", ({ peer }) => {
    peerFor(peer.id, peer.name);
    showPresence();
    note(`${peer.name} joined`);
  });
  socket.on("peer-left", ({ id }) => {
    const peer = state.peers.get(id);
    if (peer) note(`${peer.name} left`);
    dropPeer(id);
  });
  socket.on("offer", async ({ from, sdp }) => {
    const peer = peerFor(from);
    try {
      await peer.pc.setRemoteDescription({ type: "offer", sdp });
      await flushCandidates(peer);
      await peer.pc.setLocalDescription(await peer.pc.createAnswer());
      send("answer", { to: from, sdp: peer.pc.localDescription.sdp });
    } catch (e) {
      console.error("answer to", from, e);
    }
  });
  socket.on("answer", async ({ from, sdp }) => {
    const peer = state.peers.get(from);
    if (!peer) return;
    try {
      await peer.pc.setRemoteDescription({ type: "answer", sdp });
      await flushCandidates(peer);
    } catch (e) {
      console.error("answer from", from, e);
    }
  });
  socket.on("ice", async ({ from, candidate }) => {
    const peer = peerFor(from);
    if (peer.pc.remoteDescription) {
      await peer.pc.addIceCandidate(candidate).catch((e) => console.warn("candidate", e));
    } else {
      // Relayed events can overtake the offer or answer.
      peer.pending.push(candidate);
    }
  });
  socket.on("chat", ({ name, text, from }) => {
    const li = document.createElement("li");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = from === state.me ? `${name} (you)` : name;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text; // text, never HTML
    li.append(who, body);
    $("messages").append(li);
    li.scrollIntoView({ block: "end" });
  });
  socket.on("error", ({ code, message }) => {
    note(`server: ${message} (${code})`);
  });

  async function join(name) {
    state.name = name;
    try {
      localStorage.setItem("bytemeet-name", name);
    } catch (_) {
      // storage may be off; the name is only a convenience
    }
    $("join").hidden = true;
    $("left").hidden = true;
    if (!state.stream) {
      state.stream = await openCamera();
      if (state.stream) {
        const self = tile("self", name, true);
        self.querySelector("video").srcObject = state.stream;
      }
    }
    state.wantIn = true;
    for (const el of [$("leave"), $("chat-input"), $("chat-form").querySelector("button")]) {
      el.disabled = false;
    }
    $("mute").disabled = !state.stream;
    if (socket.connected) send("join", { room, name });
    else socket.connect();
  }

  function leave() {
    state.wantIn = false;
    send("leave", {});
    dropAll();
    if (state.stream) {
      for (const t of state.stream.getTracks()) t.stop();
      state.stream = null;
    }
    document.querySelector(".tile.self")?.remove();
    for (const el of [$("leave"), $("mute"), $("chat-input"), $("chat-form").querySelector("button")]) {
      el.disabled = true;
    }
    setStatus("left");
    $("left").hidden = false;
  }

  $("copy-link").addEventListener("click", async () => {
    const link = location.origin + location.pathname;
    try {
      await navigator.clipboard.writeText(link);
      $("copy-link").textContent = "Copied";
    } catch (_) {
      window.prompt("Copy this room's address:", link);
    }
    setTimeout(() => ($("copy-link").textContent = "Copy link"), 1500);
  });

  $("mute").addEventListener("click", () => {
    if (!state.stream) return;
    const video = state.stream.getVideoTracks();
    const on = !video.every((t) => t.enabled);
    for (const t of video) t.enabled = on;
    $("mute").textContent = on ? "Camera off" : "Camera on";
    document.querySelector(".tile.self")?.classList.toggle("off", !on);
  });

  $("leave").addEventListener("click", leave);
  $("rejoin").addEventListener("click", () => join(state.name));

  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    send("chat", { text });
    input.value = "";
  });

  $("join").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("name").value.trim();
    if (name) join(name);
  });

  socket.connect();
  let saved = "";
  try {
    saved = localStorage.getItem("bytemeet-name") || "";
  } catch (_) {
    saved = "";
  }
  const given = (params.get("name") || "").trim();
  if (given) {
    join(given);
  } else {
    $("name").value = saved;
    $("join").hidden = false;
    $("name").focus();
  }
})();
