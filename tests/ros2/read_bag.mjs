// Reads a ros2-profile MCAP written by dyn4d's recorder the way indexed
// readers (Foxglove, ros2 bag) do - summary, chunk indexes, message indexes -
// with @mcap/core, validating CRCs, and decodes every message from its own
// ros2msg schema with @foxglove/rosmsg2-serialization.
//   node read_bag.mjs FILE EXPECTED_FRAMES
import { readFileSync } from "node:fs";
import { McapIndexedReader, McapStreamReader } from "@mcap/core";
import { parse } from "@foxglove/rosmsg";
import { MessageReader } from "@foxglove/rosmsg2-serialization";

const [file, expectedFrames] = process.argv.slice(2);
const bytes = readFileSync(file);
const fail = (why) => {
  console.log(`FAIL ${why}`);
  process.exit(1);
};

// 1. Streamed, every CRC checked.
const stream = new McapStreamReader({ validateCrcs: true });
stream.append(bytes);
let streamed = 0;
for (let r; (r = stream.nextRecord()); ) if (r.type === "Message") streamed++;
if (!stream.done()) fail("stream reader did not reach the end magic");

// 2. Indexed: through the summary and the chunk and message indexes.
const readable = {
  size: async () => BigInt(bytes.length),
  read: async (offset, size) => bytes.subarray(Number(offset), Number(offset + size)),
};
const reader = await McapIndexedReader.Initialize({ readable });
if (reader.header.profile !== "ros2") fail(`profile '${reader.header.profile}'`);
if (reader.chunkIndexes.length === 0) fail("no chunk indexes");
const decoders = new Map();
for (const [id, ch] of reader.channelsById) {
  const schema = reader.schemasById.get(ch.schemaId);
  if (ch.messageEncoding !== "cdr" || schema?.encoding !== "ros2msg")
    fail(`${ch.topic}: encodings ${ch.messageEncoding} / ${schema?.encoding}`);
  if (!ch.metadata.get("offered_qos_profiles")?.includes("reliability"))
    fail(`${ch.topic}: no offered_qos_profiles`);
  const defs = parse(new TextDecoder().decode(schema.data), { ros2: true });
  decoders.set(id, { topic: ch.topic, type: schema.name, reader: new MessageReader(defs) });
}
const counts = new Map();
const seen = {};
let indexed = 0;
for await (const m of reader.readMessages()) {
  const d = decoders.get(m.channelId);
  const msg = d.reader.readMessage(m.data);
  counts.set(d.topic, (counts.get(d.topic) ?? 0) + 1);
  seen[d.type] ??= msg;
  indexed++;
}
if (indexed !== streamed) fail(`indexed reader saw ${indexed} messages, stream ${streamed}`);
const want = Number(expectedFrames);
const n = (topic) => counts.get(topic) ?? 0;
if (n("/dyn4d/frames/color/image_raw") !== want || n("/dyn4d/frames/depth/image_raw") !== want ||
    n("/dyn4d/frames/color/camera_info") !== want)
  fail(`frame topics: ${JSON.stringify([...counts])}`);
if (n("/tf") !== want || n("/dyn4d/poses/pose") !== want || n("/dyn4d/poses/path") !== want)
  fail(`pose topics: ${JSON.stringify([...counts])}`);
if (n("/dyn4d/tracks/objects") !== want || n("/dyn4d/tracks/markers") !== want)
  fail(`track topics: ${JSON.stringify([...counts])}`);
const image = seen["sensor_msgs/msg/Image"];
if (!(image.width === 160 && image.height === 120 && image.data.length === image.step * 120))
  fail("image size");
const info = seen["sensor_msgs/msg/CameraInfo"];
if (Math.abs(info.k[0] - 131.25) > 1e-9) fail(`camera info fx ${info.k[0]}`);
const tf = seen["tf2_msgs/msg/TFMessage"];
if (tf.transforms[0].header.frame_id !== "map" || tf.transforms[0].child_frame_id !== "camera")
  fail("tf frames");
const dets = seen["vision_msgs/msg/Detection3DArray"];
if (!dets) fail("no Detection3DArray");
if (!seen["visualization_msgs/msg/MarkerArray"]) fail("no MarkerArray");
console.log(`@mcap/core + rosmsg2-serialization ${file}: ${indexed} messages in ` +
  `${reader.chunkIndexes.length} chunks, CRCs valid; ` +
  [...counts].map(([t, c]) => `${t}=${c}`).join(" "));
