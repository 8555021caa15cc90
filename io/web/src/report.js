// The offline report: the same page filled from the run's files
// (window.DYN4D_REPORT, embedded by io/src/report.cc), no server.
import uPlot from "uplot";
import { $, addAnswer, css, drawTopDown, el, fillStats, fmt, setSummary, trackColor } from "./common.js";
import { Scene3D } from "./scene3d.js";

const decode = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

export function startReport(data) {
  document.title = `dyn4d report: ${data.title}`;
  $("mode").textContent = `report of ${data.title}`;
  $("status").textContent = `generated ${data.generated}`;
  $("status").className = "ok";
  $("ask").classList.add("hidden");
  $("frame").classList.add("hidden");
  const s = data.summary;
  setSummary([["frames", String(s.frames)], ["video", `${fmt(s.video_s)} s`], ["run", `${fmt(s.elapsed_s)} s`],
    ["frames/s", fmt(s.fps)], ["objects", String(s.objects)], ["camera path", `${fmt(s.path_m, 2)} m`],
    ["answers", String(s.answers)]].concat(data.missing.length ? [["not in this run", data.missing.join(", ")]] : []));

  // Frames: thumbnails of the overlay video.
  $("frame-count").textContent = String(s.frames);
  $("objects-now").textContent = String(s.objects);
  for (const t of data.thumbnails)
    $("thumbs").append(el("figure", {}, [el("img", { src: `data:image/jpeg;base64,${t.jpeg}`, alt: `frame ${t.frame}` }),
      el("figcaption", { textContent: `t = ${fmt(t.t, 2)} s (frame ${t.frame})` })]));

  // 3D and top-down: map, camera path (and ground truth), object trajectories.
  const path = data.trajectory.map((p) => [p[1], p[2], p[3]]);
  const gt = (data.trajectory_gt ?? []).map((p) => [p[1], p[2], p[3]]);
  const map = data.map ? { xyz: new Float32Array(decode(data.map.xyz_f32).buffer), rgb: decode(data.map.rgb_u8) } : null;
  const scene = new Scene3D($("scene"));
  if (map) scene.setPoints("map", map.xyz, map.rgb, 0.02);
  scene.setLine("path", path, 0x5fb3f9);
  if (gt.length) scene.setLine("gt", gt, 0x999999, true);
  const tracks = data.objects.map((o) => ({ id: o.id, points: o.track.map((p) => [p[1], p[2], p[3]]) }));
  scene.setObjects(tracks.map((t) => ({ id: t.id, track: t.points })));
  if (path.length) scene.setCamera(path[path.length - 1], [0, 0, 0, 1]);
  drawTopDown($("topdown"), {
    map, tracks, camera: path[path.length - 1],
    paths: [{ points: gt, style: "#888", width: 1 }, { points: path, style: "#5fb3f9" }],
  });

  // Nodes: the last stats of each, and p95 latency over the run.
  const names = Object.keys(data.nodes);
  fillStats($("stats"), names.map((n) => {
    const v = data.nodes[n], i = v.t.length - 1;
    return { name: n, fps: v.fps[i], p50: v.p50[i], p95: v.p95[i] };
  }));
  if (names.length) {
    const times = [...new Set(names.flatMap((n) => data.nodes[n].t))].sort((a, b) => a - b);
    const series = names.map((n) => {
      const v = data.nodes[n], at = new Map(v.t.map((t, i) => [t, v.p95[i]]));
      return times.map((t) => at.get(t) ?? null);
    });
    new uPlot({
      width: Math.max(300, $("stats-panel").clientWidth - 20), height: 200, title: "p95 latency per node (ms) over the run (s)",
      scales: { x: { time: false } },
      series: [{}].concat(names.map((n, i) => ({ label: n, stroke: css(trackColor(i + 1)), spanGaps: true }))),
      axes: [{ stroke: "#8a93a3" }, { stroke: "#8a93a3" }],
    }, [times, ...series], $("latency"));
  }

  // Timeline: when each object was seen, and its events.
  const end = Math.max(data.trajectory.length ? data.trajectory[data.trajectory.length - 1][0] : 0,
    ...data.objects.flatMap((o) => o.spans.map((sp) => sp[1])), 1e-3);
  const begin = data.trajectory.length ? data.trajectory[0][0] : 0;
  const x = (t) => `${(100 * (t - begin)) / Math.max(1e-3, end - begin)}%`;
  for (const o of data.objects) {
    const bar = el("div", { className: "timeline-bar" });
    for (const [a, b] of o.spans)
      bar.append(el("div", { className: "timeline-span", title: `${fmt(a, 2)}-${fmt(b, 2)} s`,
        style: `left:${x(a)};width:max(2px,calc(${x(b)} - ${x(a)}));background:${css(trackColor(o.id))}` }));
    for (const e of data.events.filter((e) => e.a === o.id))
      bar.append(el("div", { className: "timeline-event", title: `${fmt(e.t, 2)} s: ${e.text}`, style: `left:${x(e.t)}` }));
    $("timeline").append(el("div", { className: "timeline-row" }, [el("span", { textContent: `#${o.id} ${o.class} (${o.frames})` }), bar]));
  }
  if (!data.objects.length) $("timeline").textContent = "no tracked objects in this run";

  // Early exits: how many recognitions left at each exit.
  const exits = Object.entries(data.exits).sort();
  const total = exits.reduce((a, [, n]) => a + n, 0);
  for (const [k, n] of exits)
    $("exits").append(el("div", { className: "exit-row" }, [el("span", { textContent: k.replace("_", " ") }),
      el("div", { className: "exit-bar", style: `width:${total ? (100 * n) / total : 0}%` }),
      el("span", { textContent: `${n} (${total ? fmt((100 * n) / total, 0) : 0}%)` })]));
  if (!exits.length) $("exits").textContent = "no recognition in this run";

  $("cogmap").textContent = data.reasoning || "no cognitive map in this run";
  for (const a of [...data.answers].reverse()) addAnswer(a.question, `${a.answer}${a.justification ? `\n${a.justification}` : ""}`);
  if (!data.answers.length) $("answers").textContent = "no questions were asked in this run (dyn4d run --questions FILE)";
}
