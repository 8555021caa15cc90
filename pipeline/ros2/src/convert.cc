#include "dyn4d/ros2/convert.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace dyn4d::ros2 {

namespace {

Pose PoseOf(const pipeline::CameraPose& p) {
  Pose out;
  out.position = {p.t_world_cam[0], p.t_world_cam[1], p.t_world_cam[2]};
  out.orientation = {p.q_world_cam[0], p.q_world_cam[1], p.q_world_cam[2], p.q_world_cam[3]};
  return out;
}

// "#4 person", and " (stopped)" for an object that moved and now stands
// still: it is still an object, which a viewer should not hide.
std::string TrackLabel(const pipeline::Track& t) {
  std::string label = "#" + std::to_string(t.track_id) + " " +
                      (t.class_name.empty() ? std::string("object") : t.class_name);
  if (t.motion == "stopped") label += " (stopped)";
  return label;
}

// A distinct, stable colour per track id (golden-angle hue steps).
ColorRGBA TrackColor(int64_t id) {
  const double h = std::fmod(static_cast<double>(id) * 0.618033988749895, 1.0) * 6.0;
  const double x = 1 - std::abs(std::fmod(h, 2.0) - 1);
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(h)) {
    case 0:
      r = 1, g = x;
      break;
    case 1:
      r = x, g = 1;
      break;
    case 2:
      g = 1, b = x;
      break;
    case 3:
      g = x, b = 1;
      break;
    case 4:
      r = x, b = 1;
      break;
    default:
      r = 1, b = x;
      break;
  }
  return {float(0.2 + 0.8 * r), float(0.2 + 0.8 * g), float(0.2 + 0.8 * b), 0.8f};
}

}  // namespace

Header MakeHeader(const pipeline::MessageMeta& meta, const std::string& frame_id) {
  Header h;
  h.stamp = Time::FromNs(meta.stamp_ns);
  h.frame_id = frame_id;
  return h;
}

int64_t ToNs(const Time& t) { return int64_t(t.sec) * 1000000000 + t.nanosec; }

PointCloud2 ToPointCloud2(const pipeline::PointCloud& cloud, const FrameIds& frames) {
  PointCloud2 c;
  c.header = MakeHeader(cloud.meta, cloud.frame_id == "world" ? frames.map : frames.camera);
  const uint32_t n = cloud.num_points;
  const bool colours = cloud.colors.size() == size_t(n) * 3;
  c.height = 1, c.width = n;
  c.fields = {{"x", 0, PointField::kFloat32, 1},
              {"y", 4, PointField::kFloat32, 1},
              {"z", 8, PointField::kFloat32, 1}};
  if (colours) c.fields.push_back({"rgb", 12, PointField::kUint32, 1});
  c.point_step = colours ? 16 : 12;
  c.row_step = c.point_step * n;
  c.data.resize(size_t(c.row_step));
  const auto* xyz = reinterpret_cast<const float*>(cloud.points.data());
  const uint8_t* rgb = cloud.colors.data();
  bool dense = true;
  for (uint32_t i = 0; i < n; ++i) {
    uint8_t* p = c.data.data() + size_t(i) * c.point_step;
    std::memcpy(p, xyz + 3 * i, 12);
    dense = dense && std::isfinite(xyz[3 * i]) && std::isfinite(xyz[3 * i + 1]) &&
            std::isfinite(xyz[3 * i + 2]);
    if (colours) {
      const uint32_t packed =
          (uint32_t(rgb[3 * i]) << 16) | (uint32_t(rgb[3 * i + 1]) << 8) | uint32_t(rgb[3 * i + 2]);
      std::memcpy(p + 12, &packed, 4);
    }
  }
  c.is_dense = dense;
  return c;
}

Image ToImage(const pipeline::Image& image, const Header& header, double depth_scale) {
  Image out;
  out.header = header;
  out.width = uint32_t(image.width), out.height = uint32_t(image.height);
  const int channels = pipeline::Channels(image.encoding);
  const int bytes = pipeline::BytesPerChannel(image.encoding);
  out.step = out.width * channels * bytes;
  const uint8_t* src = image.data.data();
  switch (image.encoding) {
    case pipeline::PixelEncoding::kBgr8:
      out.encoding = "bgr8";
      break;
    case pipeline::PixelEncoding::kRgb8:
      out.encoding = "rgb8";
      break;
    case pipeline::PixelEncoding::kMono8:
      out.encoding = "mono8";
      break;
    case pipeline::PixelEncoding::kMono16:
      out.encoding = "16UC1";
      break;
    case pipeline::PixelEncoding::kFloat32:
      out.encoding = "32FC1";
      break;
  }
  if (image.encoding == pipeline::PixelEncoding::kMono16 && depth_scale != 1000 &&
      depth_scale > 0) {
    // ROS depth in 16UC1 is millimetres by convention (REP 118).
    out.data.resize(image.ExpectedBytes());
    const auto* in = reinterpret_cast<const uint16_t*>(src);
    auto* mm = reinterpret_cast<uint16_t*>(out.data.data());
    const double to_mm = 1000.0 / depth_scale;
    for (size_t i = 0; i < size_t(image.width) * image.height; ++i)
      mm[i] = uint16_t(std::min(65535.0, std::round(in[i] * to_mm)));
  } else {
    out.data.assign(src, src + image.ExpectedBytes());
  }
  return out;
}

CameraInfo ToCameraInfo(const pipeline::CameraIntrinsics& k, const Header& header) {
  CameraInfo c;
  c.header = header;
  c.width = uint32_t(k.width), c.height = uint32_t(k.height);
  c.distortion_model = "plumb_bob";
  c.d = {0, 0, 0, 0, 0};
  c.k = {k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1};
  c.r = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  c.p = {k.fx, 0, k.cx, 0, 0, k.fy, k.cy, 0, 0, 0, 1, 0};
  return c;
}

PoseStamped ToPoseStamped(const pipeline::CameraPose& pose, const FrameIds& frames) {
  PoseStamped p;
  p.header = MakeHeader(pose.meta, frames.map);
  p.pose = PoseOf(pose);
  return p;
}

Odometry ToOdometry(const pipeline::CameraPose& pose, const FrameIds& frames) {
  Odometry o;
  o.header = MakeHeader(pose.meta, frames.map);
  o.child_frame_id = frames.camera;
  o.pose.pose = PoseOf(pose);
  // No covariance estimate: ROS's convention for "unknown" is -1 on the
  // diagonal's first element.
  o.pose.covariance[0] = -1;
  o.twist.covariance[0] = -1;
  return o;
}

TransformStamped ToTransform(const pipeline::CameraPose& pose, const FrameIds& frames) {
  TransformStamped t;
  t.header = MakeHeader(pose.meta, frames.map);
  t.child_frame_id = frames.camera;
  t.transform.translation = {pose.t_world_cam[0], pose.t_world_cam[1], pose.t_world_cam[2]};
  t.transform.rotation = {pose.q_world_cam[0], pose.q_world_cam[1], pose.q_world_cam[2],
                          pose.q_world_cam[3]};
  return t;
}

Detection3DArray ToDetections(const pipeline::Tracks& tracks, const FrameIds& frames) {
  Detection3DArray a;
  a.header = MakeHeader(tracks.meta, frames.map);
  for (const pipeline::Track& t : tracks.items) {
    if (!t.has_position) continue;
    Detection3D d;
    d.header = a.header;
    d.id = std::to_string(t.track_id);
    ObjectHypothesisWithPose h;
    h.hypothesis.class_id = t.class_name.empty() ? "object" : t.class_name;
    h.hypothesis.score = t.score;
    h.pose.pose.position = {t.position_world[0], t.position_world[1], t.position_world[2]};
    d.results = {h};
    d.bbox.center.position = h.pose.pose.position;
    d.bbox.size = {t.extent[0], t.extent[1], t.extent[2]};
    a.detections.push_back(std::move(d));
  }
  return a;
}

MarkerArray ToMarkers(const pipeline::Tracks& tracks, const FrameIds& frames,
                      const std::map<int64_t, std::vector<Point>>* trajectories) {
  MarkerArray a;
  Marker clear;
  clear.header = MakeHeader(tracks.meta, frames.map);
  clear.action = Marker::kDeleteAll;
  a.markers.push_back(clear);
  for (const pipeline::Track& t : tracks.items) {
    if (!t.has_position) continue;
    Marker box;
    box.header = clear.header;
    box.ns = "objects";
    box.id = static_cast<int32_t>(t.track_id);
    box.type = Marker::kCube;
    box.pose.position = {t.position_world[0], t.position_world[1], t.position_world[2]};
    box.scale = {std::max(0.01f, t.extent[0]), std::max(0.01f, t.extent[1]),
                 std::max(0.01f, t.extent[2])};
    box.color = TrackColor(t.track_id);
    box.color.a = 0.4f;
    a.markers.push_back(box);
    Marker label = box;
    label.ns = "labels";
    label.type = Marker::kTextViewFacing;
    label.pose.position.y -= 0.5 * box.scale.y + 0.1;  // above it (y is down in dyn4d's world)
    label.scale = {0, 0, 0.12};
    label.color.a = 1;
    label.text = TrackLabel(t);
    a.markers.push_back(label);
    if (trajectories) {
      const auto it = trajectories->find(t.track_id);
      if (it != trajectories->end() && it->second.size() >= 2) {
        Marker trail = box;
        trail.ns = "trajectories";
        trail.type = Marker::kLineStrip;
        trail.pose = Pose{};
        trail.scale = {0.02, 0, 0};
        trail.color.a = 1;
        trail.points = it->second;
        a.markers.push_back(trail);
      }
    }
  }
  return a;
}

String ToString(const pipeline::CognitiveMap& map) { return String{map.text}; }

Image ToMaskImage(const pipeline::Tracks& tracks, int width, int height, const Header& header) {
  Image out;
  out.header = header;
  out.width = uint32_t(std::max(0, width)), out.height = uint32_t(std::max(0, height));
  out.encoding = "mono8";
  out.step = out.width;
  out.data.assign(size_t(out.width) * out.height, 0);
  for (const pipeline::Track& t : tracks.items) {
    const uint8_t value = static_cast<uint8_t>(1 + (t.track_id % 255 + 255) % 255);
    const int x0 = int(t.box.x), y0 = int(t.box.y), w = int(t.box.w), h = int(t.box.h);
    const bool has_mask = !t.mask.empty() && t.mask.width == w && t.mask.height == h;
    for (int y = std::max(0, y0); y < std::min(height, y0 + h); ++y)
      for (int x = std::max(0, x0); x < std::min(width, x0 + w); ++x)
        if (!has_mask || t.mask.data.data()[size_t(y - y0) * w + (x - x0)] != 0)
          out.data[size_t(y) * out.width + x] = value;
  }
  return out;
}

ImageAnnotations ToImageAnnotations(const pipeline::Tracks& tracks) {
  ImageAnnotations a;
  const Time stamp = Time::FromNs(tracks.meta.stamp_ns);
  for (const pipeline::Track& t : tracks.items) {
    if (t.box.w <= 0 || t.box.h <= 0) continue;
    const ColorRGBA c = TrackColor(t.track_id);
    const FoxgloveColor colour{c.r, c.g, c.b, 1.0};
    PointsAnnotation box;
    box.timestamp = stamp;
    box.type = PointsAnnotation::kLineLoop;
    const double x0 = t.box.x, y0 = t.box.y, x1 = t.box.x + t.box.w, y1 = t.box.y + t.box.h;
    box.points = {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}};
    box.outline_color = colour;
    box.thickness = 2;
    a.points.push_back(std::move(box));
    TextAnnotation label;
    label.timestamp = stamp;
    label.position = {x0, std::max(0.0, y0 - 2)};
    label.text =
        TrackLabel(t) + (t.exit_index >= 0 ? " exit " + std::to_string(t.exit_index + 1) : "");
    label.font_size = 12;
    label.text_color = {1, 1, 1, 1};
    label.background_color = {c.r * 0.6, c.g * 0.6, c.b * 0.6, 0.85};
    a.labels.push_back(std::move(label));
  }
  return a;
}

DiagnosticArray ToDiagnostics(const std::map<std::string, pipeline::Stats>& latest,
                              const Header& header) {
  DiagnosticArray a;
  a.header = header;
  const auto number = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return std::string(buf);
  };
  for (const auto& [node, s] : latest) {
    DiagnosticStatus d;
    d.name = node;
    d.hardware_id = "dyn4d";
    d.level = s.dropped > 0 || s.errors > 0 ? DiagnosticStatus::kWarn : DiagnosticStatus::kOk;
    char message[96];
    std::snprintf(message, sizeof message, "%.1f/s, p50 %.1f ms, p95 %.1f ms", s.fps,
                  s.latency_p50_ms, s.latency_p95_ms);
    d.message = message;
    d.values = {{"fps", number(s.fps)},
                {"latency_p50_ms", number(s.latency_p50_ms)},
                {"latency_p95_ms", number(s.latency_p95_ms)},
                {"queue_depth", std::to_string(s.queue_depth)},
                {"processed", std::to_string(s.processed)},
                {"emitted", std::to_string(s.emitted)},
                {"dropped", std::to_string(s.dropped)},
                {"errors", std::to_string(s.errors)}};
    for (const auto& [key, value] : s.counters) d.values.push_back({key, number(value)});
    a.status.push_back(std::move(d));
  }
  return a;
}

std::optional<pipeline::Image> FromImage(const Image& image, std::string* why) {
  auto fail = [&](const std::string& reason) -> std::optional<pipeline::Image> {
    if (why) *why = reason;
    return std::nullopt;
  };
  pipeline::PixelEncoding e;
  int bytes_per_pixel = 0;
  if (image.encoding == "rgb8")
    e = pipeline::PixelEncoding::kRgb8, bytes_per_pixel = 3;
  else if (image.encoding == "bgr8")
    e = pipeline::PixelEncoding::kBgr8, bytes_per_pixel = 3;
  else if (image.encoding == "mono8" || image.encoding == "8UC1")
    e = pipeline::PixelEncoding::kMono8, bytes_per_pixel = 1;
  else if (image.encoding == "16UC1" || image.encoding == "mono16")
    e = pipeline::PixelEncoding::kMono16, bytes_per_pixel = 2;
  else if (image.encoding == "32FC1")
    e = pipeline::PixelEncoding::kMono16, bytes_per_pixel = 4;
  else
    return fail("encoding '" + image.encoding + "' is not rgb8, bgr8, mono8, 16UC1 or 32FC1");
  if (image.is_bigendian && bytes_per_pixel > 1) return fail("big-endian image data");
  if (image.width == 0 || image.height == 0) return fail("empty image");
  if (image.step < image.width * uint32_t(bytes_per_pixel) ||
      image.data.size() < size_t(image.step) * image.height)
    return fail(std::to_string(image.width) + "x" + std::to_string(image.height) + " " +
                image.encoding + " needs " +
                std::to_string(size_t(image.width) * bytes_per_pixel * image.height) +
                " bytes (step " + std::to_string(image.step) + "), message has " +
                std::to_string(image.data.size()));
  pipeline::Image out = pipeline::Image::Allocate(int(image.width), int(image.height), e);
  uint8_t* dst = out.data.mutable_data();
  const size_t out_row = out.ExpectedBytes() / image.height;
  for (uint32_t y = 0; y < image.height; ++y) {
    const uint8_t* row = image.data.data() + size_t(y) * image.step;
    if (image.encoding == "32FC1") {
      auto* mm = reinterpret_cast<uint16_t*>(dst + y * out_row);
      for (uint32_t x = 0; x < image.width; ++x) {
        float m;
        std::memcpy(&m, row + 4 * x, 4);
        mm[x] = std::isfinite(m) && m > 0 ? uint16_t(std::min(65535.f, std::round(m * 1000.f))) : 0;
      }
    } else {
      std::memcpy(dst + y * out_row, row, out_row);
    }
  }
  return out;
}

pipeline::CameraIntrinsics FromCameraInfo(const CameraInfo& info) {
  pipeline::CameraIntrinsics k;
  k.fx = info.k[0], k.fy = info.k[4], k.cx = info.k[2], k.cy = info.k[5];
  k.width = int(info.width), k.height = int(info.height);
  return k;
}

}  // namespace dyn4d::ros2
