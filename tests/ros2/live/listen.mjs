// A ROS 2 peer that is not dyn4d and not CycloneDDS: @foxglove/ros2 (pure
// TypeScript RTPS) subscribes to the bridge's topics on 127.0.0.1 and checks
// topic names, types and contents. Prints one line per topic, then "ok" or
// what is missing; exit 0 when every topic delivered.
//   node listen.mjs SECONDS
import ros2 from "@foxglove/ros2";  // CommonJS
import ros2node from "@foxglove/ros2/nodejs.js";
import common from "@foxglove/rosmsg-msgs-common";

const seconds = Number(process.argv[2] ?? 20);
const defs = common.ros2jazzy;
const definitionsOf = (type) => {
  const out = [];
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    out.push({ name, definitions: defs[name].definitions });
    for (const f of defs[name].definitions) if (f.isComplex) visit(f.type);
  };
  visit(type);
  return out;
};

const { RosNode } = ros2;
const { UdpSocketNode } = ros2node;
const ros = new RosNode({ name: "dyn4d_test_listener", domainId: Number(process.env.ROS_DOMAIN_ID ?? 0),
  addresses: ["127.0.0.1"], udpSocketCreate: UdpSocketNode.Create });
await ros.start();

const expect = {
  "/dyn4d/color/image_raw": ["sensor_msgs/msg/Image", (m) => m.width === 640 && m.height === 480 &&
    m.encoding === "bgr8" && m.data.length === 640 * 480 * 3 && m.header.frame_id === "camera"],
  "/dyn4d/color/camera_info": ["sensor_msgs/msg/CameraInfo", (m) => m.width === 640 && m.k[0] > 0],
  "/dyn4d/pose": ["geometry_msgs/msg/PoseStamped", (m) => m.header.frame_id === "map"],
  "/tf": ["tf2_msgs/msg/TFMessage", (m) => m.transforms[0]?.child_frame_id === "camera"],
  "/dyn4d/cloud": ["sensor_msgs/msg/PointCloud2", (m) => m.width > 1000 &&
    m.data.length === m.width * m.point_step && m.fields.map((f) => f.name).join() === "x,y,z,rgb"],
  "/dyn4d/markers": ["visualization_msgs/msg/MarkerArray", (m) => m.markers.length >= 1],
  "/dyn4d/cognitive_map": ["std_msgs/msg/String", (m) => m.data.length > 0],
};
const got = new Map();
for (const [topic, [dataType, ok]] of Object.entries(expect)) {
  const sub = ros.subscribe({ topic, dataType, msgDefinition: definitionsOf(dataType.replace("/msg/", "/")) });
  sub.on("message", (_t, msg) => {
    const entry = got.get(topic) ?? { n: 0, good: 0 };
    entry.n++;
    if (ok(msg)) entry.good++;
    got.set(topic, entry);
  });
}
const deadline = Date.now() + seconds * 1000;
while (Date.now() < deadline && [...Object.keys(expect)].some((t) => !(got.get(t)?.good > 0)))
  await new Promise((r) => setTimeout(r, 200));
let missing = 0;
for (const topic of Object.keys(expect)) {
  const e = got.get(topic) ?? { n: 0, good: 0 };
  console.log(`${topic} ${expect[topic][0]}: ${e.n} received, ${e.good} as expected`);
  if (e.good === 0) missing++;
}
console.log(missing === 0 ? "ok: every topic arrived intact at @foxglove/ros2" : `FAIL ${missing} topic(s) missing`);
await ros.shutdown();
process.exit(missing === 0 ? 0 : 1);
