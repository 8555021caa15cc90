// The ROS 2 serializer: golden bytes from CycloneDDS, round trips of every
// message type, errors on damaged payloads, schemas and names. The same
// samples are decoded by an independent decoder (@foxglove/rosmsg2-
// serialization) in ros2_decode_test.sh, through the hidden
// "[.export]" case below.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "dyn4d/ros2/convert.h"
#include "dyn4d/ros2/definitions.h"
#include "dyn4d/ros2/msgs.h"

using namespace dyn4d::ros2;

namespace {

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

Header MakeHeader(const char* frame) {
  Header h;
  h.stamp = Time::FromNs(1305031102175304000LL);
  h.frame_id = frame;
  return h;
}

Pose MakePose(double x) {
  Pose p;
  p.position = {x, -2.5, 0.75};
  p.orientation = {0.0, 0.0, 0.38268343236508984, 0.9238795325112867};
  return p;
}

// One non-trivial sample per published type (the values the decoder test
// checks on the JavaScript side).
struct Samples {
  PointCloud2 cloud;
  Image image;
  CameraInfo info;
  PoseStamped pose;
  Odometry odom;
  Path path;
  TFMessage tf;
  Detection3DArray detections;
  MarkerArray markers;
  String text;
  ImageAnnotations annotations;  // as the viewer draws them over the image
  DiagnosticArray diagnostics;   // per-node stats

  Samples() {
    cloud.header = MakeHeader("map");
    cloud.height = 1, cloud.width = 3;
    cloud.fields = {{"x", 0, PointField::kFloat32, 1},
                    {"y", 4, PointField::kFloat32, 1},
                    {"z", 8, PointField::kFloat32, 1},
                    {"rgb", 12, PointField::kUint32, 1}};
    cloud.point_step = 16, cloud.row_step = 48;
    for (int i = 0; i < 3; ++i) {
      const float xyz[3] = {1.5f * i, -0.25f, 2.0f + i};
      const uint32_t rgb = 0x00ff8000u + i;
      const auto* a = reinterpret_cast<const uint8_t*>(xyz);
      const auto* b = reinterpret_cast<const uint8_t*>(&rgb);
      cloud.data.insert(cloud.data.end(), a, a + 12);
      cloud.data.insert(cloud.data.end(), b, b + 4);
    }
    image.header = MakeHeader("camera");
    image.height = 2, image.width = 3, image.encoding = "rgb8", image.step = 9;
    for (int i = 0; i < 18; ++i) image.data.push_back(static_cast<uint8_t>(i * 13));
    info.header = MakeHeader("camera");
    info.height = 480, info.width = 640, info.distortion_model = "plumb_bob";
    info.d = {0.1, -0.2, 0, 0, 0.05};
    info.k = {517.3, 0, 318.6, 0, 516.5, 255.3, 0, 0, 1};
    info.r = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    info.p = {517.3, 0, 318.6, 0, 0, 516.5, 255.3, 0, 0, 0, 1, 0};
    pose.header = MakeHeader("map");
    pose.pose = MakePose(1.25);
    odom.header = MakeHeader("map");
    odom.child_frame_id = "camera";
    odom.pose.pose = MakePose(1.25);
    odom.pose.covariance[0] = 0.01, odom.pose.covariance[35] = 0.02;
    odom.twist.twist.linear = {0.5, 0, 0};
    path.header = MakeHeader("map");
    for (int i = 0; i < 4; ++i) {
      PoseStamped p;
      p.header = MakeHeader("map");
      p.pose = MakePose(0.5 * i);
      path.poses.push_back(p);
    }
    TransformStamped t;
    t.header = MakeHeader("map");
    t.child_frame_id = "camera";
    t.transform.translation = {1.25, -2.5, 0.75};
    t.transform.rotation = MakePose(0).orientation;
    tf.transforms = {t};
    detections.header = MakeHeader("map");
    for (int i = 0; i < 2; ++i) {
      Detection3D d;
      d.header = MakeHeader("map");
      d.id = std::to_string(7 + i);
      ObjectHypothesisWithPose h;
      h.hypothesis.class_id = i == 0 ? "person" : "object";
      h.hypothesis.score = 0.875;
      h.pose.pose = MakePose(i);
      d.results = {h};
      d.bbox.center = MakePose(i);
      d.bbox.size = {0.5, 0.4, 1.7};
      detections.detections.push_back(d);
    }
    Marker box;
    box.header = MakeHeader("map");
    box.ns = "objects", box.id = 7, box.type = Marker::kCube;
    box.pose = MakePose(1);
    box.scale = {0.5, 0.4, 1.7};
    box.color = {0.2f, 0.6f, 1.0f, 0.8f};
    box.lifetime = {0, 500000000};
    Marker trail = box;
    trail.ns = "trajectories", trail.type = Marker::kLineStrip;
    trail.scale = {0.02, 0, 0};
    trail.points = {{0, 0, 0}, {0.5, 0, 0}, {1, 0.25, 0}};
    Marker label = box;
    label.ns = "labels", label.type = Marker::kTextViewFacing, label.text = "#7 person";
    markers.markers = {box, trail, label};
    text.data = "Cognitive map: person #7 walks left (2.5 m from the camera)";
    dyn4d::pipeline::Tracks tracks;
    tracks.meta.stamp_ns = 1305031102175304000;
    dyn4d::pipeline::Track person;
    person.track_id = 7, person.class_name = "person", person.exit_index = 1;
    person.box = {10, 20, 30, 60};
    tracks.items = {person};
    annotations = ToImageAnnotations(tracks);
    dyn4d::pipeline::Stats st;
    st.node = "track", st.fps = 29.5, st.latency_p50_ms = 1.25, st.latency_p95_ms = 3.5;
    st.processed = 120, st.dropped = 2;
    st.counters = {{"exit_1", 40}};
    diagnostics = ToDiagnostics({{"track", st}}, MakeHeader(""));
  }
};

template <class M>
void CheckRoundTrip(const M& m) {
  const std::string bytes = Encode(m);
  CHECK(bytes.size() % 4 == 0);
  CHECK(static_cast<uint8_t>(bytes[1]) == 1);
  CHECK(Encode(Decode<M>(bytes)) == bytes);
}

}  // namespace

TEST_CASE("ros2 CDR: the PointCloud2 CycloneDDS writes, byte for byte", "[ros2][cdr]") {
  // shared/reference/ros2-zmq-formats.md 3.4: Debian CycloneDDS 0.10.2.
  PointCloud2 c;
  c.header.stamp = {1, 2};
  c.header.frame_id = "map";
  c.height = 1, c.width = 1;
  c.fields = {{"x", 0, PointField::kFloat32, 1}};
  c.point_step = 4, c.row_step = 4;
  const float one = 1.0f;
  c.data.assign(reinterpret_cast<const uint8_t*>(&one), reinterpret_cast<const uint8_t*>(&one) + 4);
  c.is_dense = true;
  const std::string golden =
      "00 01 00 03 01 00 00 00 02 00 00 00 04 00 00 00 6d 61 70 00 01 00 00 00 01 00 00 00 "
      "01 00 00 00 02 00 00 00 78 00 00 00 00 00 00 00 07 00 00 00 01 00 00 00 00 00 00 00 "
      "04 00 00 00 04 00 00 00 04 00 00 00 00 00 80 3f 01 00 00 00";
  const std::string bytes = Encode(c);
  CHECK(bytes.size() == 76);
  CHECK(Hex(bytes) == golden);
  const PointCloud2 back = Decode<PointCloud2>(bytes);
  CHECK(back.header.frame_id == "map");
  CHECK(back.fields.size() == 1);
  CHECK(back.fields[0].datatype == PointField::kFloat32);
  CHECK(back.data.size() == 4);
  CHECK(back.is_dense);
}

TEST_CASE("ros2 CDR: 8-byte values align after the header, strings carry their NUL",
          "[ros2][cdr]") {
  ObjectHypothesis h;
  h.class_id = "ab";  // u32 3, 'a' 'b' 0 end at byte 7 after the header: 1 pad byte
  h.score = 0.5;
  CHECK(Hex(Encode(h)) == "00 01 00 00 03 00 00 00 61 62 00 00 00 00 00 00 00 00 e0 3f");
  Time t = Time::FromNs(-1);  // before the epoch: nanosec stays in [0, 1e9)
  CHECK(t.sec == -1);
  CHECK(t.nanosec == 999999999u);
}

TEST_CASE("ros2 CDR: every message type survives a round trip", "[ros2][cdr]") {
  const Samples s;
  CheckRoundTrip(s.cloud);
  CheckRoundTrip(s.image);
  CheckRoundTrip(s.info);
  CheckRoundTrip(s.pose);
  CheckRoundTrip(s.odom);
  CheckRoundTrip(s.path);
  CheckRoundTrip(s.tf);
  CheckRoundTrip(s.detections);
  CheckRoundTrip(s.markers);
  CheckRoundTrip(s.text);
  CheckRoundTrip(s.annotations);
  CheckRoundTrip(s.diagnostics);
  const Image back = Decode<Image>(Encode(s.image));
  CHECK(back.encoding == "rgb8");
  CHECK(back.data == s.image.data);
  const CameraInfo info = Decode<CameraInfo>(Encode(s.info));
  CHECK(info.k[2] == 318.6);
  CHECK(info.d.size() == 5);
}

TEST_CASE("ros2 CDR: damaged payloads are refused with the type and offset", "[ros2][cdr]") {
  const Samples s;
  const std::string bytes = Encode(s.image);
  CHECK_THROWS_WITH(Decode<Image>(bytes.substr(0, 30)),
                    Catch::Contains("sensor_msgs/msg/Image: CDR payload truncated"));
  CHECK_THROWS_WITH(Decode<Image>("\x01\x00"), Catch::Contains("no encapsulation header"));
  std::string big_endian = bytes;
  big_endian[1] = 0;
  CHECK_THROWS_WITH(Decode<Image>(big_endian), Catch::Contains("not plain little-endian CDR"));
  // A sequence count larger than the payload: refused, not allocated.
  std::string huge = Encode(s.tf);
  huge[4] = '\xff', huge[5] = '\xff', huge[6] = '\xff', huge[7] = '\x7f';
  CHECK_THROWS_WITH(Decode<TFMessage>(huge), Catch::Contains("truncated"));
}

TEST_CASE("ros2 names and schemas", "[ros2][definitions]") {
  CHECK(DdsTypeName("sensor_msgs/msg/PointCloud2") == "sensor_msgs::msg::dds_::PointCloud2_");
  CHECK(DdsTypeName("vision_msgs/Detection3DArray") == "vision_msgs::msg::dds_::Detection3DArray_");
  CHECK(DdsTopicName("/dyn4d/cloud") == "rt/dyn4d/cloud");
  CHECK(DdsTopicName("tf") == "rt/tf");
  CHECK(TypeHash("sensor_msgs/msg/Image").rfind("RIHS01_", 0) == 0);
  CHECK(TypeHash("vision_msgs/msg/Detection3DArray").empty());
  const std::string schema = Ros2MsgSchema("sensor_msgs/msg/PointCloud2");
  const std::string rule = std::string(80, '=');
  CHECK(schema.rfind("std_msgs/Header header\n", 0) == 0);
  CHECK(schema.find(rule + "\nMSG: std_msgs/Header\n") != std::string::npos);
  CHECK(schema.find(rule + "\nMSG: builtin_interfaces/Time\n") != std::string::npos);
  CHECK(schema.find(rule + "\nMSG: sensor_msgs/PointField\n") != std::string::npos);
  // Each dependency once, even when used twice (Marker uses Header twice).
  const std::string marker = Ros2MsgSchema("visualization_msgs/msg/Marker");
  const auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = marker.find(what); at != std::string::npos; at = marker.find(what, at + 1))
      ++n;
    return n;
  };
  CHECK(count("MSG: std_msgs/Header\n") == 1);
  CHECK(count("MSG: geometry_msgs/Point\n") == 1);
  CHECK(count("MSG: sensor_msgs/CompressedImage\n") == 1);
  CHECK_THROWS_WITH(MsgDefinition("foo_msgs/msg/Bar"), Catch::Contains("foo_msgs/msg/Bar"));
  for (const std::string& type : KnownTypes()) CHECK_NOTHROW(Ros2MsgSchema(type));
}

// Writes the samples for the independent decoder: NAME.cdr and NAME.msg
// (the ros2msg schema) per type, into $DYN4D_ROS2_SAMPLES.
TEST_CASE("ros2 samples for the independent decoder", "[.export]") {
  const char* dir = std::getenv("DYN4D_ROS2_SAMPLES");
  REQUIRE(dir != nullptr);
  std::filesystem::create_directories(dir);
  const Samples s;
  auto write = [&](const std::string& type, const std::string& bytes) {
    const std::string name = std::string(dir) + "/" + type.substr(0, type.find('/')) + "_" +
                             type.substr(type.rfind('/') + 1);
    std::ofstream(name + ".cdr", std::ios::binary) << bytes;
    std::ofstream(name + ".msg") << Ros2MsgSchema(type);
  };
  write(PointCloud2::kType, Encode(s.cloud));
  write(Image::kType, Encode(s.image));
  write(CameraInfo::kType, Encode(s.info));
  write(PoseStamped::kType, Encode(s.pose));
  write(Odometry::kType, Encode(s.odom));
  write(Path::kType, Encode(s.path));
  write(TFMessage::kType, Encode(s.tf));
  write(Detection3DArray::kType, Encode(s.detections));
  write(MarkerArray::kType, Encode(s.markers));
  write(String::kType, Encode(s.text));
  write(ImageAnnotations::kType, Encode(s.annotations));
  write(DiagnosticArray::kType, Encode(s.diagnostics));
}
