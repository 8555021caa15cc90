#pragma once
/// \file
/// The ROS 2 messages dyn4d publishes, records and reads (ROS 2 Jazzy
/// definitions; the .msg texts are in pipeline/ros2/msg/ and serve as the
/// schemas of MCAP recordings). Each struct lists its fields once, in wire
/// order, in Visit(); `kType` is its ROS name. Encode()/Decode() in cdr.h.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dyn4d/ros2/cdr.h"

namespace dyn4d::ros2 {

#define DYN4D_ROS2_TYPE(name) static constexpr const char* kType = name

// builtin_interfaces, std_msgs ------------------------------------------------
struct Time {
  DYN4D_ROS2_TYPE("builtin_interfaces/msg/Time");
  int32_t sec = 0;
  uint32_t nanosec = 0;
  static Time FromNs(int64_t ns);
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.sec), v(s.nanosec);
  }
};
struct Duration {
  DYN4D_ROS2_TYPE("builtin_interfaces/msg/Duration");
  int32_t sec = 0;
  uint32_t nanosec = 0;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.sec), v(s.nanosec);
  }
};
struct Header {
  DYN4D_ROS2_TYPE("std_msgs/msg/Header");
  Time stamp;
  std::string frame_id;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.stamp), v(s.frame_id);
  }
};
struct String {
  DYN4D_ROS2_TYPE("std_msgs/msg/String");
  std::string data;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.data);
  }
};
struct ColorRGBA {
  DYN4D_ROS2_TYPE("std_msgs/msg/ColorRGBA");
  float r = 0, g = 0, b = 0, a = 0;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.r), v(s.g), v(s.b), v(s.a);
  }
};

// geometry_msgs, nav_msgs, tf2_msgs -------------------------------------------
struct Point {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/Point");
  double x = 0, y = 0, z = 0;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.x), v(s.y), v(s.z);
  }
};
struct Vector3 {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/Vector3");
  double x = 0, y = 0, z = 0;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.x), v(s.y), v(s.z);
  }
};
struct Quaternion {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/Quaternion");
  double x = 0, y = 0, z = 0, w = 1;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.x), v(s.y), v(s.z), v(s.w);
  }
};
struct Pose {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/Pose");
  Point position;
  Quaternion orientation;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.position), v(s.orientation);
  }
};
struct PoseStamped {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/PoseStamped");
  Header header;
  Pose pose;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.pose);
  }
};
struct PoseWithCovariance {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/PoseWithCovariance");
  Pose pose;
  std::array<double, 36> covariance{};
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.pose), v(s.covariance);
  }
};
struct Twist {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/Twist");
  Vector3 linear, angular;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.linear), v(s.angular);
  }
};
struct TwistWithCovariance {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/TwistWithCovariance");
  Twist twist;
  std::array<double, 36> covariance{};
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.twist), v(s.covariance);
  }
};
struct Transform {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/Transform");
  Vector3 translation;
  Quaternion rotation;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.translation), v(s.rotation);
  }
};
struct TransformStamped {
  DYN4D_ROS2_TYPE("geometry_msgs/msg/TransformStamped");
  Header header;
  std::string child_frame_id;
  Transform transform;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.child_frame_id), v(s.transform);
  }
};
struct Odometry {
  DYN4D_ROS2_TYPE("nav_msgs/msg/Odometry");
  Header header;
  std::string child_frame_id;
  PoseWithCovariance pose;
  TwistWithCovariance twist;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.child_frame_id), v(s.pose), v(s.twist);
  }
};
struct Path {
  DYN4D_ROS2_TYPE("nav_msgs/msg/Path");
  Header header;
  std::vector<PoseStamped> poses;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.poses);
  }
};
struct TFMessage {
  DYN4D_ROS2_TYPE("tf2_msgs/msg/TFMessage");
  std::vector<TransformStamped> transforms;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.transforms);
  }
};

// sensor_msgs -----------------------------------------------------------------
struct PointField {
  DYN4D_ROS2_TYPE("sensor_msgs/msg/PointField");
  enum : uint8_t { kInt8 = 1, kUint8, kInt16, kUint16, kInt32, kUint32, kFloat32, kFloat64 };
  std::string name;
  uint32_t offset = 0;
  uint8_t datatype = 0;
  uint32_t count = 1;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.name), v(s.offset), v(s.datatype), v(s.count);
  }
};
struct PointCloud2 {
  DYN4D_ROS2_TYPE("sensor_msgs/msg/PointCloud2");
  Header header;
  uint32_t height = 1, width = 0;
  std::vector<PointField> fields;
  bool is_bigendian = false;
  uint32_t point_step = 0, row_step = 0;
  std::vector<uint8_t> data;
  bool is_dense = true;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.height), v(s.width), v(s.fields), v(s.is_bigendian), v(s.point_step),
        v(s.row_step), v(s.data), v(s.is_dense);
  }
};
struct Image {
  DYN4D_ROS2_TYPE("sensor_msgs/msg/Image");
  Header header;
  uint32_t height = 0, width = 0;
  std::string encoding;  ///< rgb8, bgr8, mono8, 16UC1 (depth, mm), 32FC1 (depth, m) ...
  uint8_t is_bigendian = 0;
  uint32_t step = 0;
  std::vector<uint8_t> data;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.height), v(s.width), v(s.encoding), v(s.is_bigendian), v(s.step), v(s.data);
  }
};
struct CompressedImage {
  DYN4D_ROS2_TYPE("sensor_msgs/msg/CompressedImage");
  Header header;
  std::string format;
  std::vector<uint8_t> data;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.format), v(s.data);
  }
};
struct RegionOfInterest {
  DYN4D_ROS2_TYPE("sensor_msgs/msg/RegionOfInterest");
  uint32_t x_offset = 0, y_offset = 0, height = 0, width = 0;
  bool do_rectify = false;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.x_offset), v(s.y_offset), v(s.height), v(s.width), v(s.do_rectify);
  }
};
struct CameraInfo {
  DYN4D_ROS2_TYPE("sensor_msgs/msg/CameraInfo");
  Header header;
  uint32_t height = 0, width = 0;
  std::string distortion_model;
  std::vector<double> d;
  std::array<double, 9> k{}, r{};
  std::array<double, 12> p{};
  uint32_t binning_x = 0, binning_y = 0;
  RegionOfInterest roi;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.height), v(s.width), v(s.distortion_model), v(s.d), v(s.k), v(s.r), v(s.p),
        v(s.binning_x), v(s.binning_y), v(s.roi);
  }
};

// visualization_msgs ----------------------------------------------------------
struct UVCoordinate {
  DYN4D_ROS2_TYPE("visualization_msgs/msg/UVCoordinate");
  float u = 0, v = 0;
  template <class S, class V>
  static void Visit(S& s, V& vis) {
    vis(s.u), vis(s.v);
  }
};
struct MeshFile {
  DYN4D_ROS2_TYPE("visualization_msgs/msg/MeshFile");
  std::string filename;
  std::vector<uint8_t> data;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.filename), v(s.data);
  }
};
struct Marker {
  DYN4D_ROS2_TYPE("visualization_msgs/msg/Marker");
  enum : int32_t {
    kArrow = 0,
    kCube,
    kSphere,
    kCylinder,
    kLineStrip,
    kLineList,
    kCubeList,
    kSphereList,
    kPoints,
    kTextViewFacing,
    kMeshResource,
    kTriangleList
  };
  enum : int32_t { kAdd = 0, kDelete = 2, kDeleteAll = 3 };
  Header header;
  std::string ns;
  int32_t id = 0, type = 0, action = kAdd;
  Pose pose;
  Vector3 scale;
  ColorRGBA color;
  Duration lifetime;
  bool frame_locked = false;
  std::vector<Point> points;
  std::vector<ColorRGBA> colors;
  std::string texture_resource;
  CompressedImage texture;
  std::vector<UVCoordinate> uv_coordinates;
  std::string text, mesh_resource;
  MeshFile mesh_file;
  bool mesh_use_embedded_materials = false;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.ns), v(s.id), v(s.type), v(s.action), v(s.pose), v(s.scale), v(s.color),
        v(s.lifetime), v(s.frame_locked), v(s.points), v(s.colors), v(s.texture_resource),
        v(s.texture), v(s.uv_coordinates), v(s.text), v(s.mesh_resource), v(s.mesh_file),
        v(s.mesh_use_embedded_materials);
  }
};
struct MarkerArray {
  DYN4D_ROS2_TYPE("visualization_msgs/msg/MarkerArray");
  std::vector<Marker> markers;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.markers);
  }
};

// vision_msgs (4.x) -----------------------------------------------------------
struct ObjectHypothesis {
  DYN4D_ROS2_TYPE("vision_msgs/msg/ObjectHypothesis");
  std::string class_id;
  double score = 0;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.class_id), v(s.score);
  }
};
struct ObjectHypothesisWithPose {
  DYN4D_ROS2_TYPE("vision_msgs/msg/ObjectHypothesisWithPose");
  ObjectHypothesis hypothesis;
  PoseWithCovariance pose;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.hypothesis), v(s.pose);
  }
};
struct BoundingBox3D {
  DYN4D_ROS2_TYPE("vision_msgs/msg/BoundingBox3D");
  Pose center;
  Vector3 size;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.center), v(s.size);
  }
};
struct Detection3D {
  DYN4D_ROS2_TYPE("vision_msgs/msg/Detection3D");
  Header header;
  std::vector<ObjectHypothesisWithPose> results;
  BoundingBox3D bbox;
  std::string id;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.results), v(s.bbox), v(s.id);
  }
};
struct Detection3DArray {
  DYN4D_ROS2_TYPE("vision_msgs/msg/Detection3DArray");
  Header header;
  std::vector<Detection3D> detections;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.detections);
  }
};

// foxglove_msgs (image annotations: what Foxglove's Image panel draws) -------
struct Point2 {
  DYN4D_ROS2_TYPE("foxglove_msgs/msg/Point2");
  double x = 0, y = 0;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.x), v(s.y);
  }
};
struct FoxgloveColor {
  DYN4D_ROS2_TYPE("foxglove_msgs/msg/Color");
  double r = 0, g = 0, b = 0, a = 0;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.r), v(s.g), v(s.b), v(s.a);
  }
};
struct CircleAnnotation {
  DYN4D_ROS2_TYPE("foxglove_msgs/msg/CircleAnnotation");
  Time timestamp;
  Point2 position;
  double diameter = 0, thickness = 0;
  FoxgloveColor fill_color, outline_color;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.timestamp), v(s.position), v(s.diameter), v(s.thickness), v(s.fill_color),
        v(s.outline_color);
  }
};
struct PointsAnnotation {
  DYN4D_ROS2_TYPE("foxglove_msgs/msg/PointsAnnotation");
  static constexpr uint8_t kPoints = 1, kLineLoop = 2, kLineStrip = 3, kLineList = 4;
  Time timestamp;
  uint8_t type = 0;
  std::vector<Point2> points;
  FoxgloveColor outline_color;
  std::vector<FoxgloveColor> outline_colors;
  FoxgloveColor fill_color;
  double thickness = 0;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.timestamp), v(s.type), v(s.points), v(s.outline_color), v(s.outline_colors),
        v(s.fill_color), v(s.thickness);
  }
};
struct TextAnnotation {
  DYN4D_ROS2_TYPE("foxglove_msgs/msg/TextAnnotation");
  Time timestamp;
  Point2 position;
  std::string text;
  double font_size = 0;
  FoxgloveColor text_color, background_color;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.timestamp), v(s.position), v(s.text), v(s.font_size), v(s.text_color),
        v(s.background_color);
  }
};
struct ImageAnnotations {
  DYN4D_ROS2_TYPE("foxglove_msgs/msg/ImageAnnotations");
  std::vector<CircleAnnotation> circles;
  std::vector<PointsAnnotation> points;
  std::vector<TextAnnotation> labels;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.circles), v(s.points), v(s.labels);
  }
};

// diagnostic_msgs (per-node stats, as Foxglove's Diagnostics panel reads) ------
struct KeyValue {
  DYN4D_ROS2_TYPE("diagnostic_msgs/msg/KeyValue");
  std::string key, value;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.key), v(s.value);
  }
};
struct DiagnosticStatus {
  DYN4D_ROS2_TYPE("diagnostic_msgs/msg/DiagnosticStatus");
  static constexpr uint8_t kOk = 0, kWarn = 1, kError = 2, kStale = 3;
  uint8_t level = kOk;
  std::string name, message, hardware_id;
  std::vector<KeyValue> values;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.level), v(s.name), v(s.message), v(s.hardware_id), v(s.values);
  }
};
struct DiagnosticArray {
  DYN4D_ROS2_TYPE("diagnostic_msgs/msg/DiagnosticArray");
  Header header;
  std::vector<DiagnosticStatus> status;
  template <class S, class V>
  static void Visit(S& s, V& v) {
    v(s.header), v(s.status);
  }
};

#undef DYN4D_ROS2_TYPE

}  // namespace dyn4d::ros2
