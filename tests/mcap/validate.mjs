// Reads an MCAP file with @mcap/core (the reference TypeScript reader),
// validating CRCs, and checks what dyn4d says it wrote:
//   node validate.mjs FILE EXPECTED_MESSAGES TOPIC[,TOPIC...]
import { readFileSync } from "node:fs";
import { McapStreamReader } from "@mcap/core";

const [file, expectedMessages, topicList] = process.argv.slice(2);
const reader = new McapStreamReader({ validateCrcs: true });
reader.append(readFileSync(file));
const channels = new Map();
const counts = new Map();
let messages = 0, statistics = null, dataEnd = false, footer = false, header = null;
for (let record; (record = reader.nextRecord()); ) {
  switch (record.type) {
    case "Header": header = record; break;
    case "Channel": channels.set(record.id, record); break;
    case "Message": {
      const ch = channels.get(record.channelId);
      if (!ch) throw new Error(`message on unknown channel ${record.channelId}`);
      if (ch.messageEncoding !== "dyn4d-v1") throw new Error(`encoding ${ch.messageEncoding}`);
      // dyn4d-v1: u32 frame count, then u32 length + bytes per frame; frame 0 = topic.
      const view = new DataView(record.data.buffer, record.data.byteOffset, record.data.byteLength);
      const frames = view.getUint32(0, true);
      const topicLen = view.getUint32(4, true);
      const topic = new TextDecoder().decode(record.data.subarray(8, 8 + topicLen));
      if (frames < 2 || topic !== ch.topic) throw new Error(`payload topic '${topic}' on channel '${ch.topic}'`);
      counts.set(ch.topic, (counts.get(ch.topic) ?? 0) + 1);
      messages++;
      break;
    }
    case "Statistics": statistics = record; break;
    case "DataEnd": dataEnd = true; break;
    case "Footer": footer = true; break;
  }
}
if (!reader.done()) throw new Error("reader did not reach the end magic");
if (!header || header.library !== "dyn4d") throw new Error("missing or foreign header");
if (!dataEnd || !footer) throw new Error("no DataEnd or Footer");
if (messages !== Number(expectedMessages)) throw new Error(`${messages} messages, expected ${expectedMessages}`);
if (!statistics || Number(statistics.messageCount) !== messages) throw new Error("statistics disagree");
const topics = [...channels.values()].map((c) => c.topic).sort();
if (topics.join(",") !== topicList.split(",").sort().join(",")) throw new Error(`topics ${topics}`);
console.log(`@mcap/core ${file}: ${messages} messages, CRCs valid, topics ${[...counts].map(([t, n]) => `${t}=${n}`).join(" ")}`);
