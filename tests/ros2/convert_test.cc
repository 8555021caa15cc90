// dyn4d messages as ROS 2 messages and back.
#include "dyn4d/ros2/convert.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

using namespace dyn4d;
using namespace dyn4d::ros2;

TEST_CASE("ros2 convert: clouds, images, camera info", "[ros2][convert]") {
  pipeline::PointCloud cloud;
  cloud.meta.stamp_ns = 2500000001;
  cloud.frame_id = "world";
  cloud.num_points = 2;
  const float xyz[6] = {1, 2, 3, -1, -2, -3};
  cloud.points = pipeline::Buffer::Allocate(sizeof(xyz));
  std::memcpy(cloud.points.mutable_data(), xyz, sizeof(xyz));
  cloud.colors = pipeline::Buffer::Allocate(6);
  const uint8_t rgb[6] = {255, 128, 0, 1, 2, 3};
  std::memcpy(cloud.colors.mutable_data(), rgb, 6);
  const PointCloud2 c = ToPointCloud2(cloud);
  CHECK(c.header.frame_id == "map");
  CHECK(c.header.stamp.sec == 2);
  CHECK(c.header.stamp.nanosec == 500000001u);
  CHECK(c.width == 2);
  CHECK(c.point_step == 16);
  REQUIRE(c.data.size() == 32);
  float x;
  uint32_t packed;
  std::memcpy(&x, c.data.data() + 16, 4);
  std::memcpy(&packed, c.data.data() + 12, 4);
  CHECK(x == -1.f);
  CHECK(packed == 0xff8000u);

  // TUM depth (5000 per metre) becomes millimetres, as 16UC1 means in ROS.
  pipeline::Image depth = pipeline::Image::Allocate(2, 1, pipeline::PixelEncoding::kMono16);
  reinterpret_cast<uint16_t*>(depth.data.mutable_data())[0] = 5000;
  const Image d = ToImage(depth, Header{}, 5000);
  CHECK(d.encoding == "16UC1");
  CHECK(d.step == 4);
  CHECK(reinterpret_cast<const uint16_t*>(d.data.data())[0] == 1000);

  pipeline::CameraIntrinsics k{517.3, 516.5, 318.6, 255.3, 640, 480};
  const CameraInfo info = ToCameraInfo(k, Header{});
  CHECK(info.k[0] == 517.3);
  CHECK(info.p[6] == 255.3);
  CHECK(FromCameraInfo(info) == k);
}

TEST_CASE("ros2 convert: images a ROS driver sends become frames", "[ros2][convert]") {
  Image rgb;
  rgb.width = 2, rgb.height = 2, rgb.encoding = "rgb8", rgb.step = 8;  // padded rows
  rgb.data.assign(16, 7);
  std::string why;
  auto a = FromImage(rgb, &why);
  REQUIRE(a);
  CHECK(a->encoding == pipeline::PixelEncoding::kRgb8);
  CHECK(a->data.size() == 12);  // padding dropped

  Image metres;  // 32FC1 depth in metres (some drivers) -> millimetres
  metres.width = 3, metres.height = 1, metres.encoding = "32FC1", metres.step = 12;
  const float m[3] = {1.25f, NAN, -1.f};
  metres.data.resize(12);
  std::memcpy(metres.data.data(), m, 12);
  auto b = FromImage(metres, &why);
  REQUIRE(b);
  const auto* mm = reinterpret_cast<const uint16_t*>(b->data.data());
  CHECK(mm[0] == 1250);
  CHECK(mm[1] == 0);
  CHECK(mm[2] == 0);

  Image bad = rgb;
  bad.encoding = "yuv422";
  CHECK_FALSE(FromImage(bad, &why));
  CHECK(why.find("yuv422") != std::string::npos);
  bad = rgb;
  bad.data.resize(10);
  CHECK_FALSE(FromImage(bad, &why));
  CHECK(why.find("needs 12 bytes") != std::string::npos);
}

TEST_CASE("ros2 convert: poses, tracks, the cognitive map", "[ros2][convert]") {
  pipeline::CameraPose p;
  p.meta.stamp_ns = 1000000000;
  p.t_world_cam = {1, 2, 3};
  p.q_world_cam = {0, 0, 0.6, 0.8};
  CHECK(ToPoseStamped(p).pose.orientation.z == 0.6);
  const TransformStamped t = ToTransform(p, {"world", "cam"});
  CHECK(t.header.frame_id == "world");
  CHECK(t.child_frame_id == "cam");
  CHECK(t.transform.translation.y == 2);
  CHECK(ToOdometry(p).child_frame_id == "camera");

  pipeline::Tracks tracks;
  pipeline::Track a, flat;
  a.track_id = 4, a.class_name = "person", a.score = 0.9f, a.has_position = true;
  a.position_world = {0.5f, -1.f, 2.f};
  a.extent = {0.4f, 1.7f, 0.3f};
  flat.track_id = 5;  // 2D only: no 3D detection, no marker
  tracks.items = {a, flat};
  const Detection3DArray d = ToDetections(tracks);
  REQUIRE(d.detections.size() == 1);
  CHECK(d.detections[0].id == "4");
  CHECK(d.detections[0].results[0].hypothesis.class_id == "person");
  CHECK(d.detections[0].bbox.size.y == Approx(1.7));
  std::map<int64_t, std::vector<Point>> trails = {{4, {{0, 0, 0}, {0.5, -1, 2}}}};
  const MarkerArray m = ToMarkers(tracks, {}, &trails);
  REQUIRE(m.markers.size() == 4);  // delete-all, box, label, trajectory
  CHECK(m.markers[0].action == Marker::kDeleteAll);
  CHECK(m.markers[2].text == "#4 person");
  CHECK(m.markers[3].points.size() == 2);
  tracks.items[0].motion = "stopped";  // moved before, stands still now: still shown
  CHECK(ToMarkers(tracks, {}).markers[2].text == "#4 person (stopped)");
  tracks.items[0].box = {10, 20, 30, 40};
  CHECK(ToImageAnnotations(tracks).labels.at(0).text == "#4 person (stopped)");

  pipeline::CognitiveMap map;
  map.text = "Objects: person #4";
  CHECK(ToString(map).data == "Objects: person #4");
}

TEST_CASE("ros2 convert: the tracks' masks as one mono8 image (grounding)", "[ros2][convert]") {
  pipeline::Tracks tracks;
  pipeline::Track a, b;
  a.track_id = 3, a.box = {1, 1, 2, 2};
  a.mask = pipeline::Image::Allocate(2, 2, pipeline::PixelEncoding::kMono8);
  a.mask.data.mutable_data()[0] = 255;      // only the top-left pixel of its box
  b.track_id = 300, b.box = {4, 0, 10, 2};  // no mask: its box, clipped to the image
  tracks.items = {a, b};
  const Image m = ToMaskImage(tracks, 6, 3, Header{});
  REQUIRE(m.data.size() == 18u);
  CHECK(m.encoding == "mono8");
  CHECK(m.data[1 * 6 + 1] == 4);  // 1 + 3
  CHECK(m.data[1 * 6 + 2] == 0);  // masked out
  CHECK(m.data[0 * 6 + 5] == 1 + 300 % 255);
  CHECK(m.data[2 * 6 + 5] == 0);
}
