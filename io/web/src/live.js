// The live page: a client of the viewer's Foxglove WebSocket protocol (the
// same channels Foxglove and Lichtblick read), decoding each channel's CDR
// with its own ros2msg schema.
import { FoxgloveClient } from "@foxglove/ws-protocol";
import * as THREE from "three";
import { parse } from "@foxglove/rosmsg";
import { MessageReader } from "@foxglove/rosmsg2-serialization";
import { $, addAnswer, css, drawTopDown, fillStats, setSummary, trackColor } from "./common.js";
import { Scene3D } from "./scene3d.js";

const SUFFIXES = ["/color/image_raw", "/masks", "/annotations", "/pose", "/path", "/cloud", "/map",
  "/markers", "/cognitive_map", "/answers", "/diagnostics"];

export function startLive() {
  $("mode").textContent = "live";
  for (const id of ["thumbs", "timeline-panel"]) $(id).classList.add("hidden");
  const scene = new Scene3D($("scene"));
  const frameCanvas = $("frame");
  const state = {
    images: new Map(), // stamp -> ImageData (recent only)
    masks: new Map(), annotations: new Map(),
    frames: 0, path: [], pose: null, tracks: new Map(), map: null, prefix: "/dyn4d",
    drawStamp: null, lastOverlay: 0, received: 0, startedAt: performance.now(),
  };
  let client = null, questionChannel = null, serverInfo = null;
  const readers = new Map();

  const params = new URLSearchParams(location.search);
  const url = params.get("ws") || `ws://${location.host}`;
  const status = (text, cls = "") => { $("status").textContent = text; $("status").className = cls; };

  function connect() {
    status(`connecting to ${url}`);
    const ws = new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
    client = new FoxgloveClient({ ws });
    client.on("open", () => status(`connected to ${url}`, "ok"));
    client.on("serverInfo", (info) => (serverInfo = info));
    client.on("error", () => {});
    client.on("close", () => {
      status("disconnected: the run ended or the viewer stopped; retrying", "bad");
      readers.clear();
      questionChannel = null;
      setTimeout(connect, 2000);
    });
    client.on("advertise", (channels) => {
      for (const ch of channels) {
        const suffix = SUFFIXES.find((s) => ch.topic.endsWith(s));
        if (!suffix || ch.encoding !== "cdr") continue;
        if (suffix === "/cognitive_map") state.prefix = ch.topic.slice(0, -suffix.length);
        const reader = new MessageReader(parse(ch.schema, { ros2: true }));
        readers.set(client.subscribe(ch.id), { suffix, reader });
      }
    });
    client.on("message", ({ subscriptionId, timestamp, data }) => {
      const r = readers.get(subscriptionId);
      if (!r) return;
      state.received++;
      const msg = r.reader.readMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      handle(r.suffix, msg, String(timestamp));
    });
  }

  // Recent messages by stamp. Tracking runs seconds behind the camera in an
  // offline graph (look-ahead, queues), so frames wait here for their
  // tracks: up to a byte budget (about 200 frames of 640x480).
  const BUDGET = 192 << 20;
  const bytes = new Map();
  function remember(map, key, value) {
    map.set(key, value);
    const size = (b) => b.data?.byteLength ?? 1024;
    bytes.set(map, (bytes.get(map) ?? 0) + size(value));
    while (map.size > 1 && (bytes.get(map) > BUDGET || map.size > 900)) {
      const [oldKey, old] = map.entries().next().value;
      bytes.set(map, bytes.get(map) - size(old));
      map.delete(oldKey);
    }
  }

  function toImageData(m) {
    const out = new ImageData(m.width, m.height);
    const d = out.data, src = m.data;
    const enc = m.encoding;
    for (let y = 0; y < m.height; y++) {
      for (let x = 0; x < m.width; x++) {
        const o = 4 * (y * m.width + x);
        if (enc === "mono8") {
          const v = src[y * m.step + x];
          d[o] = d[o + 1] = d[o + 2] = v;
        } else {
          const i = y * m.step + 3 * x;
          const [r, g, b] = enc === "bgr8" ? [src[i + 2], src[i + 1], src[i]] : [src[i], src[i + 1], src[i + 2]];
          d[o] = r, d[o + 1] = g, d[o + 2] = b;
        }
        d[o + 3] = 255;
      }
    }
    return out;
  }

  // The colour image of `stamp` with that frame's masks tinted in the
  // tracks' colours and its boxes and labels (ids, classes, early exits).
  function drawFrame(stamp) {
    const overlay = state.annotations.has(stamp) || state.masks.has(stamp);
    const raw = state.images.get(stamp) ?? (overlay ? null : [...state.images.values()].pop());
    if (!raw) return;  // its frame is gone: never draw boxes on another frame
    const image = toImageData(raw);
    if (frameCanvas.width !== image.width) frameCanvas.width = image.width, frameCanvas.height = image.height;
    const ctx = frameCanvas.getContext("2d");
    const mask = state.masks.get(stamp);
    if (mask && mask.width === image.width && mask.height === image.height) {
      const tinted = new ImageData(new Uint8ClampedArray(image.data), image.width, image.height);
      const colours = new Map();
      for (let i = 0; i < mask.data.length; i++) {
        const v = mask.data[i];
        if (!v) continue;
        if (!colours.has(v)) colours.set(v, trackColor(v - 1).map((c) => c * 255));
        const c = colours.get(v), o = 4 * i;
        for (let k = 0; k < 3; k++) tinted.data[o + k] = 0.55 * tinted.data[o + k] + 0.45 * c[k];
      }
      ctx.putImageData(tinted, 0, 0);
    } else {
      ctx.putImageData(image, 0, 0);
    }
    const ann = state.annotations.get(stamp);
    frameCanvas.dataset.boxes = String(ann ? ann.points.length : 0);
    if (!ann) return;
    for (const p of ann.points) {
      if (p.points.length < 2) continue;
      ctx.strokeStyle = css([p.outline_color.r, p.outline_color.g, p.outline_color.b], p.outline_color.a);
      ctx.lineWidth = p.thickness || 2;
      ctx.beginPath();
      p.points.forEach((q, i) => (i ? ctx.lineTo(q.x, q.y) : ctx.moveTo(q.x, q.y)));
      if (p.type === 2) ctx.closePath();
      ctx.stroke();
    }
    ctx.font = "12px system-ui";
    for (const l of ann.labels) {
      const w = ctx.measureText(l.text).width + 6;
      const bg = l.background_color;
      ctx.fillStyle = css([bg.r, bg.g, bg.b], bg.a);
      ctx.fillRect(l.position.x, l.position.y - 15, w, 15);
      ctx.fillStyle = "#fff";
      ctx.fillText(l.text, l.position.x + 3, l.position.y - 3);
    }
    $("objects-now").textContent = String(ann.labels.length);
  }

  function scheduleDraw(stamp) {
    if (state.paused) return;
    if (state.drawStamp === null) requestAnimationFrame(() => { drawFrame(state.drawStamp); state.drawStamp = null; });
    state.drawStamp = stamp;
  }

  function decodeCloud(m, maxPoints) {
    const f = Object.fromEntries(m.fields.map((x) => [x.name, x.offset]));
    const n = m.width * m.height, step = Math.max(1, Math.ceil(n / maxPoints));
    const view = new DataView(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    const xyz = [], rgb = [];
    for (let i = 0; i < n; i += step) {
      const o = i * m.point_step;
      const x = view.getFloat32(o + f.x, true), y = view.getFloat32(o + f.y, true), z = view.getFloat32(o + f.z, true);
      if (!Number.isFinite(x + y + z)) continue;
      xyz.push(x, y, z);
      if (f.rgb !== undefined) {
        const c = view.getUint32(o + f.rgb, true);
        rgb.push((c >> 16) & 255, (c >> 8) & 255, c & 255);
      }
    }
    return { xyz: new Float32Array(xyz), rgb: rgb.length ? new Uint8Array(rgb) : null };
  }

  function toWorld(cloud, frameId) {
    // Clouds in the camera frame are placed with the latest pose.
    if (frameId === "map" || !state.pose) return cloud;
    const q = new THREE.Quaternion(...state.pose.q), v = new THREE.Vector3(), p = cloud.xyz;
    for (let i = 0; i < p.length; i += 3) {
      v.set(p[i], p[i + 1], p[i + 2]).applyQuaternion(q);
      p[i] = v.x + state.pose.t[0], p[i + 1] = v.y + state.pose.t[1], p[i + 2] = v.z + state.pose.t[2];
    }
    return cloud;
  }

  let lastCloud = 0, lastTopDown = 0;
  function handle(suffix, m, stamp) {
    switch (suffix) {
      case "/color/image_raw":
        remember(state.images, stamp, m);
        state.frames++;
        $("frame-count").textContent = String(state.frames);
        // Without tracks the frame is drawn as it comes; with them, when
        // its tracks arrive (tracking runs behind the camera), so boxes
        // and masks sit on the frame they belong to.
        if (performance.now() - state.lastOverlay > 3000) scheduleDraw(stamp);
        break;
      case "/masks":
        remember(state.masks, stamp, m);
        state.lastOverlay = performance.now();
        scheduleDraw(stamp);
        break;
      case "/annotations":
        remember(state.annotations, stamp, m);
        state.lastOverlay = performance.now();
        scheduleDraw(stamp);
        break;
      case "/pose": {
        const p = m.pose.position, q = m.pose.orientation;
        state.pose = { t: [p.x, p.y, p.z], q: [q.x, q.y, q.z, q.w] };
        scene.setCamera(state.pose.t, state.pose.q);
        break;
      }
      case "/path":
        state.path = m.poses.map((s) => [s.pose.position.x, s.pose.position.y, s.pose.position.z]);
        scene.setLine("path", state.path, 0x5fb3f9);
        break;
      case "/cloud":
        if (performance.now() - lastCloud < 300) break;  // a few per second are plenty
        lastCloud = performance.now();
        {
          const c = toWorld(decodeCloud(m, 40000), m.header.frame_id);
          scene.setPoints("cloud", c.xyz, c.rgb, 0.015);
        }
        break;
      case "/map":
        state.map = decodeCloud(m, 150000);
        scene.setPoints("map", state.map.xyz, state.map.rgb, 0.02);
        break;
      case "/markers": {
        const objects = new Map();
        for (const k of m.markers) {
          if (k.action === 3) continue;  // DELETEALL
          const o = objects.get(k.id) ?? { id: k.id };
          if (k.ns === "objects") o.center = [k.pose.position.x, k.pose.position.y, k.pose.position.z], o.size = [k.scale.x, k.scale.y, k.scale.z];
          if (k.ns === "trajectories") o.track = k.points.map((q) => [q.x, q.y, q.z]);
          objects.set(k.id, o);
        }
        for (const [id, o] of objects) if (o.track) state.tracks.set(id, o.track);
        scene.setObjects([...objects.values()]);
        break;
      }
      case "/cognitive_map":
        $("cogmap").textContent = m.data;
        break;
      case "/answers": {
        const [q, ...rest] = m.data.split("\n");
        addAnswer(q.replace(/^Q: /, ""), rest.join("\n").replace(/^A: /, ""));
        break;
      }
      case "/diagnostics":
        fillStats($("stats"), m.status.map((s) => {
          const v = Object.fromEntries(s.values.map((kv) => [kv.key, Number(kv.value)]));
          return { name: s.name, fps: v.fps, p50: v.latency_p50_ms, p95: v.latency_p95_ms, queue: v.queue_depth, dropped: v.dropped, errors: v.errors };
        }));
        break;
    }
    if (performance.now() - lastTopDown > 500) {
      lastTopDown = performance.now();
      drawTopDown($("topdown"), {
        map: state.map, paths: [{ points: state.path, style: "#5fb3f9" }],
        tracks: [...state.tracks].map(([id, points]) => ({ id, points })), camera: state.pose?.t,
      });
      const elapsed = (performance.now() - state.startedAt) / 1000;
      setSummary([["frames", String(state.frames)], ["objects", String(state.tracks.size)],
        ["messages", String(state.received)], ["frames/s here", (state.frames / Math.max(1, elapsed)).toFixed(1)]]);
    }
  }

  $("pause").classList.remove("hidden");
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("pause").textContent = state.paused ? "resume" : "pause";
  });
  $("ask").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = $("question").value.trim();
    if (!question || !client) return;
    if (!serverInfo?.capabilities?.includes("clientPublish")) {
      addAnswer(question, "this run has no reasoning node to ask");
      return;
    }
    questionChannel ??= client.advertise({ topic: `${state.prefix}/question`, encoding: "json", schemaName: "dyn4d/Question" });
    client.sendMessage(questionChannel, new TextEncoder().encode(JSON.stringify({ question })));
    $("question").value = "";
  });
  connect();
}
