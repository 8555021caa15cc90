// Connects to dyn4d's viewer with @foxglove/ws-protocol's client (the one
// Foxglove ships), negotiates foxglove.websocket.v1, subscribes to the cloud,
// the pose and the colour image, and decodes them from each channel's own
// ros2msg schema with @foxglove/rosmsg2-serialization; then publishes a
// question (clientPublish, JSON) and waits for the answer channel.
//   node ws_client.mjs URL SECONDS [QUESTION]
import wsProtocol from "@foxglove/ws-protocol";  // CommonJS
const { FoxgloveClient } = wsProtocol;
import { parse } from "@foxglove/rosmsg";
import { MessageReader } from "@foxglove/rosmsg2-serialization";
import WebSocket from "ws";

const [url, seconds = "20", question] = process.argv.slice(2);
const want = {
  "/dyn4d/cloud": (m) => m.width > 100 && m.data.length === m.width * m.point_step &&
    m.header.frame_id === "map",
  "/dyn4d/pose": (m) => m.header.frame_id === "map" && Math.abs(m.pose.orientation.w) <= 1,
  "/dyn4d/color/image_raw": (m) => m.width === 320 && m.height === 240 && m.data.length === 320 * 240 * 3,
};
// The built-in reasoner answers a count with a number.
if (question) want["/dyn4d/answers"] = (m) => m.data.startsWith(`Q: ${question}\nA: `) &&
  /\nA: \d/.test(m.data);
let asked = false;
let answer = null;
const good = new Map();
let serverInfo = null;
let subprotocol = null;
const readers = new Map();

function connect() {
  const ws = new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
  ws.on("open", () => (subprotocol = ws.protocol));
  const client = new FoxgloveClient({ ws });
  client.on("error", () => {});
  client.on("serverInfo", (info) => (serverInfo = info));
  client.on("advertise", (channels) => {
    for (const ch of channels) {
      if (!(ch.topic in want)) continue;
      if (ch.encoding !== "cdr" || ch.schemaEncoding !== "ros2msg") {
        console.log(`FAIL ${ch.topic}: ${ch.encoding}/${ch.schemaEncoding}`);
        process.exit(1);
      }
      const sub = client.subscribe(ch.id);
      readers.set(sub, { topic: ch.topic, reader: new MessageReader(parse(ch.schema, { ros2: true })) });
    }
  });
  client.on("message", ({ subscriptionId, data }) => {
    const r = readers.get(subscriptionId);
    if (!r) return;
    const msg = r.reader.readMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (r.topic === "/dyn4d/answers") answer = msg.data;
    if (want[r.topic](msg)) good.set(r.topic, (good.get(r.topic) ?? 0) + 1);
    // Once the scene flows, ask (as a viewer's question box does).
    if (question && !asked && good.get("/dyn4d/pose") && serverInfo?.capabilities.includes("clientPublish")) {
      asked = true;
      const channel = client.advertise({ topic: "/dyn4d/question", encoding: "json", schemaName: "dyn4d/Question" });
      client.sendMessage(channel, new TextEncoder().encode(JSON.stringify({ question })));
    }
  });
  return ws;
}

// The server may still be starting: retry the connection for a while.
const deadline = Date.now() + Number(seconds) * 1000;
let ws = connect();
ws.on("error", () => {});
while (Date.now() < deadline && Object.keys(want).some((t) => !good.get(t))) {
  await new Promise((r) => setTimeout(r, 200));
  if (ws.readyState === WebSocket.CLOSED && !serverInfo) {
    ws = connect();
    ws.on("error", () => {});
  }
}
ws.close();
console.log(`subprotocol ${subprotocol}; server ${serverInfo?.name}`);
for (const t of Object.keys(want)) console.log(`${t}: ${good.get(t) ?? 0} decoded as expected`);
if (question) console.log(`answer: ${JSON.stringify(answer)}`);
const ok = subprotocol === "foxglove.websocket.v1" && serverInfo?.name === "dyn4d" &&
  Object.keys(want).every((t) => good.get(t) > 0);
console.log(ok ? "ok" : "FAIL");
process.exit(ok ? 0 : 1);
