// Shared by the live page and the report: colours, the 2D views, panels.

// The colour of a track id: golden-angle hue steps, as the C++ side's
// TrackColor (ros2/convert.cc) gives the Foxglove markers, so one object has
// one colour everywhere.
export function trackColor(id) {
  const h = (((id * 0.618033988749895) % 1) + 1) % 1 * 6;
  const x = 1 - Math.abs((h % 2) - 1);
  const [r, g, b] = [[1, x, 0], [x, 1, 0], [0, 1, x], [0, x, 1], [x, 0, 1], [1, 0, x]][Math.min(5, Math.floor(h))];
  return [0.2 + 0.8 * r, 0.2 + 0.8 * g, 0.2 + 0.8 * b];
}
export const css = (rgb, a = 1) => `rgba(${rgb.map((c) => Math.round(c * 255)).join(",")},${a})`;

export const $ = (id) => document.getElementById(id);
export function el(tag, props = {}, children = []) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of [].concat(children)) e.append(c);
  return e;
}
export const fmt = (v, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "-");

// Top-down view (x right, z ahead: dyn4d's world is the first camera's frame,
// y down): the camera path, the ground-truth path, object trajectories and
// the map's points, fitted to the canvas with a 1 m grid.
export function drawTopDown(canvas, { map = null, paths = [], tracks = [], camera = null }) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  ctx.fillStyle = "#0d1014";
  ctx.fillRect(0, 0, W, H);
  let xs = [], zs = [];
  for (const p of paths) for (const q of p.points) xs.push(q[0]), zs.push(q[2]);
  for (const t of tracks) for (const q of t.points) xs.push(q[0]), zs.push(q[2]);
  if (map) for (let i = 0; i < map.xyz.length; i += 3 * 20) xs.push(map.xyz[i]), zs.push(map.xyz[i + 2]);
  if (!xs.length) xs = [-1, 1], zs = [-1, 1];
  const q = (v, f) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(f * (s.length - 1))]; };
  let x0 = q(xs, 0.01), x1 = q(xs, 0.99), z0 = q(zs, 0.01), z1 = q(zs, 0.99);
  const pad = 0.5;
  x0 -= pad, x1 += pad, z0 -= pad, z1 += pad;
  const scale = Math.min(W / (x1 - x0), H / (z1 - z0));
  const cx = (x0 + x1) / 2, cz = (z0 + z1) / 2;
  const X = (x) => W / 2 + (x - cx) * scale, Y = (z) => H / 2 - (z - cz) * scale;
  ctx.strokeStyle = "#222833";
  ctx.lineWidth = 1;
  for (let g = Math.floor(cx - W / scale); g <= cx + W / scale; g++) {
    ctx.beginPath(); ctx.moveTo(X(g), 0); ctx.lineTo(X(g), H); ctx.stroke();
  }
  for (let g = Math.floor(cz - H / scale); g <= cz + H / scale; g++) {
    ctx.beginPath(); ctx.moveTo(0, Y(g)); ctx.lineTo(W, Y(g)); ctx.stroke();
  }
  if (map) {
    for (let i = 0; i < map.xyz.length / 3; i += Math.max(1, Math.floor(map.xyz.length / 3 / 20000))) {
      ctx.fillStyle = `rgb(${map.rgb[3 * i]},${map.rgb[3 * i + 1]},${map.rgb[3 * i + 2]})`;
      ctx.fillRect(X(map.xyz[3 * i]), Y(map.xyz[3 * i + 2]), 1.5, 1.5);
    }
  }
  const line = (points, style, width) => {
    if (points.length < 2) return;
    ctx.strokeStyle = style;
    ctx.lineWidth = width;
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[2])) : ctx.moveTo(X(p[0]), Y(p[2]))));
    ctx.stroke();
  };
  for (const p of paths) line(p.points, p.style, p.width ?? 2);
  for (const t of tracks) {
    line(t.points, css(trackColor(t.id)), 2);
    const last = t.points[t.points.length - 1];
    if (last) {
      ctx.fillStyle = css(trackColor(t.id));
      ctx.font = "11px system-ui";
      ctx.fillText(`#${t.id}`, X(last[0]) + 4, Y(last[2]) - 4);
    }
  }
  if (camera) {
    ctx.fillStyle = "#5fb3f9";
    ctx.beginPath();
    ctx.arc(X(camera[0]), Y(camera[2]), 4, 0, 2 * Math.PI);
    ctx.fill();
  }
}

// Per-node table: frames/s, latencies, queue, drops, errors.
export function fillStats(table, rows) {
  table.replaceChildren(el("tr", {}, ["node", "fps", "p50 ms", "p95 ms", "queue", "dropped", "errors"].map((h) => el("th", { textContent: h }))));
  for (const r of rows) {
    const tr = el("tr", { className: r.dropped > 0 || r.errors > 0 ? "warn" : "" },
      [r.name, fmt(r.fps), fmt(r.p50, 2), fmt(r.p95, 2), String(r.queue ?? "-"), String(r.dropped ?? 0), String(r.errors ?? 0)]
        .map((v) => el("td", { textContent: v })));
    table.append(tr);
  }
}

export function addAnswer(question, answer) {
  $("answers").prepend(el("div", { className: "answer" }, [el("div", { className: "q", textContent: `Q: ${question}` }), el("div", { textContent: answer })]));
}

export function setSummary(items) {
  $("summary").replaceChildren(...items.map(([k, v]) => el("span", { className: "chip" }, [`${k} `, el("b", { textContent: v })])));
}
