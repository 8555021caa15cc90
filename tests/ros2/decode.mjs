// Decodes dyn4d's ROS 2 samples (DIR/<pkg>_<Type>.cdr) with
// @foxglove/rosmsg2-serialization. Definitions come from
// @foxglove/rosmsg-msgs-common (ROS 2 Jazzy) where it has the type; dyn4d's
// own .msg schema (DIR/<pkg>_<Type>.msg) must parse to the same fields.
// vision_msgs is not in msgs-common: its schema is parsed from dyn4d's text.
// Exit 0 when every value checks; prints what differs otherwise.
import { readFileSync } from "node:fs";
import { parse } from "@foxglove/rosmsg";
import { MessageReader } from "@foxglove/rosmsg2-serialization";
import common from "@foxglove/rosmsg-msgs-common";

const dir = process.argv[2];
const jazzy = common.ros2jazzy;
let failures = 0;
const check = (what, ok) => {
  if (!ok) {
    console.log(`FAIL ${what}`);
    failures++;
  }
};
const near = (a, b) => Math.abs(a - b) < 1e-9;

// Foxglove's definitions of a type and everything it uses, ordered root first.
function commonDefinitions(type) {
  const out = [];
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    const def = jazzy[name];
    if (!def) throw new Error(`msgs-common has no ${name}`);
    out.push({ name, definitions: def.definitions });
    for (const f of def.definitions) if (f.isComplex) visit(f.type);
  };
  visit(type);
  return out;
}

// The ROS 2 parser maps builtin_interfaces/Time and Duration to its
// primitive time/duration types; their own sections (which rosbag2 writes
// too) are then unused.
const fieldsOf = (defs) =>
  defs.filter((d) => !/^builtin_interfaces\//.test(d.name)).map((d) => ({
    name: d.name,
    fields: d.definitions
      .filter((f) => !f.isConstant)
      .map((f) => `${f.type}${f.isArray ? `[${f.arrayLength ?? ""}]` : ""} ${f.name}`),
  }));

function decode(pkgType) {
  const [pkg, type] = pkgType.split("/");
  const base = `${dir}/${pkg}_${type}`;
  const ours = parse(readFileSync(`${base}.msg`, "utf8"), { ros2: true });
  ours[0].name = pkgType;
  let definitions = ours;
  if (jazzy[pkgType]) {
    const theirs = commonDefinitions(pkgType);
    // Our .msg data must describe the same fields in the same order.
    const a = fieldsOf(ours).map((d) => JSON.stringify(d.fields)).sort();
    const b = fieldsOf(theirs).map((d) => JSON.stringify(d.fields)).sort();
    check(`${pkgType}: dyn4d's .msg schema matches msgs-common`, JSON.stringify(a) === JSON.stringify(b));
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      console.log(" ours:  ", JSON.stringify(fieldsOf(ours)));
      console.log(" theirs:", JSON.stringify(fieldsOf(theirs)));
    }
    definitions = theirs;
  }
  const bytes = readFileSync(`${base}.cdr`);
  return new MessageReader(definitions).readMessage(bytes);
}

const stamp = (h, frame) =>
  h.frame_id === frame && h.stamp.sec === 1305031102 && h.stamp.nanosec === 175304000;
const pose = (p, x) =>
  near(p.position.x, x) && near(p.position.y, -2.5) && near(p.orientation.z, 0.38268343236508984);

const cloud = decode("sensor_msgs/PointCloud2");
check("cloud header", stamp(cloud.header, "map"));
check("cloud size", cloud.width === 3 && cloud.point_step === 16 && cloud.row_step === 48);
check("cloud fields", cloud.fields.map((f) => `${f.name}:${f.offset}:${f.datatype}`).join() ===
  "x:0:7,y:4:7,z:8:7,rgb:12:6");
const view = new DataView(cloud.data.buffer, cloud.data.byteOffset, cloud.data.byteLength);
check("cloud points", cloud.data.length === 48 && view.getFloat32(16, true) === 1.5 &&
  view.getFloat32(40, true) === 4 && view.getUint32(44, true) === 0x00ff8002);
check("cloud is_dense", cloud.is_dense === true && cloud.is_bigendian === false);

const image = decode("sensor_msgs/Image");
check("image", stamp(image.header, "camera") && image.encoding === "rgb8" && image.step === 9 &&
  image.data.length === 18 && image.data[17] === (17 * 13) % 256);

const info = decode("sensor_msgs/CameraInfo");
check("camera info", info.width === 640 && info.distortion_model === "plumb_bob" &&
  info.d.length === 5 && near(info.k[2], 318.6) && near(info.p[6], 255.3) && info.roi.do_rectify === false);

const ps = decode("geometry_msgs/PoseStamped");
check("pose stamped", stamp(ps.header, "map") && pose(ps.pose, 1.25));

const odom = decode("nav_msgs/Odometry");
check("odometry", odom.child_frame_id === "camera" && pose(odom.pose.pose, 1.25) &&
  near(odom.pose.covariance[35], 0.02) && near(odom.twist.twist.linear.x, 0.5));

const path = decode("nav_msgs/Path");
check("path", path.poses.length === 4 && pose(path.poses[3].pose, 1.5));

const tf = decode("tf2_msgs/TFMessage");
check("tf", tf.transforms.length === 1 && tf.transforms[0].child_frame_id === "camera" &&
  stamp(tf.transforms[0].header, "map") && near(tf.transforms[0].transform.translation.z, 0.75));

const det = decode("vision_msgs/Detection3DArray");
check("detections", det.detections.length === 2 && det.detections[1].id === "8" &&
  det.detections[0].results[0].hypothesis.class_id === "person" &&
  near(det.detections[0].results[0].hypothesis.score, 0.875) &&
  near(det.detections[1].bbox.size.z, 1.7) && pose(det.detections[1].bbox.center, 1));

const markers = decode("visualization_msgs/MarkerArray");
const [box, trail, label] = markers.markers;
check("markers", markers.markers.length === 3 && box.ns === "objects" && box.id === 7 &&
  box.type === 1 && Math.abs(box.color.g - 0.6) < 1e-6 && box.lifetime.nanosec === 500000000 &&
  trail.type === 4 && trail.points.length === 3 && near(trail.points[2].y, 0.25) &&
  label.text === "#7 person" && label.mesh_use_embedded_materials === false);

const text = decode("std_msgs/String");
check("string", text.data.startsWith("Cognitive map: person #7"));

// foxglove_msgs is not in msgs-common either: dyn4d's schema text is parsed.
const ann = decode("foxglove_msgs/ImageAnnotations");
const [outline] = ann.points, [labelText] = ann.labels;
check("image annotations", ann.circles.length === 0 && ann.points.length === 1 &&
  outline.type === 2 && outline.points.length === 4 && near(outline.points[2].x, 40) &&
  near(outline.points[2].y, 80) && outline.outline_color.a === 1 && outline.thickness === 2 &&
  labelText.text === "#7 person exit 2" && near(labelText.position.x, 10) &&
  labelText.timestamp.sec === 1305031102);

const diag = decode("diagnostic_msgs/DiagnosticArray");
const [st] = diag.status;
const kv = Object.fromEntries(st.values.map((v) => [v.key, v.value]));
check("diagnostics", diag.status.length === 1 && st.name === "track" && st.level === 1 &&
  st.hardware_id === "dyn4d" && kv.fps === "29.5" && kv.latency_p95_ms === "3.5" &&
  kv.dropped === "2" && kv.exit_1 === "40" && st.message.startsWith("29.5/s"));

if (failures === 0) console.log("all 12 message types decoded by @foxglove/rosmsg2-serialization");
process.exit(failures === 0 ? 0 : 1);
