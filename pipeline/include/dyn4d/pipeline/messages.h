#pragma once
/// \file
/// The typed messages that flow between dyn4d nodes. Wire layout and field
/// meaning for clients in other languages: docs/PROTOCOL.md.
///
/// Conventions: lengths in metres, times in nanoseconds since the Unix epoch
/// (or since stream start for offline sources), poses as T_world_cam (maps
/// camera coordinates to world coordinates), quaternions as (x, y, z, w),
/// images row-major with no padding between rows.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "dyn4d/pipeline/buffer.h"

namespace dyn4d::pipeline {

/// Version of the wire protocol; a receiver rejects any other major version.
inline constexpr int kProtocolVersion = 1;

/// Fields every message carries.
struct MessageMeta {
  uint64_t seq = 0;       ///< per-source sequence number, frame index for frames
  int64_t stamp_ns = 0;   ///< capture time of the data this message is about
  std::string source_id;  ///< which source (camera, file, node) it comes from
};

/// Pixel encodings, named as in ROS sensor_msgs/Image.
enum class PixelEncoding : uint8_t { kBgr8, kRgb8, kMono8, kMono16, kFloat32 };
std::string ToString(PixelEncoding e);
std::optional<PixelEncoding> PixelEncodingFromString(const std::string& s);
int Channels(PixelEncoding e);
int BytesPerChannel(PixelEncoding e);

/// A dense image; rows are contiguous (step = width * channels * bytes).
struct Image {
  int width = 0;
  int height = 0;
  PixelEncoding encoding = PixelEncoding::kBgr8;
  Buffer data;

  /// Allocates a zeroed image of the given size and encoding.
  static Image Allocate(int width, int height, PixelEncoding encoding);
  size_t ExpectedBytes() const {
    return static_cast<size_t>(width) * height * Channels(encoding) * BytesPerChannel(encoding);
  }
  bool empty() const { return width == 0 || height == 0; }
};

/// Pinhole intrinsics in pixels, for an image of width x height.
struct CameraIntrinsics {
  double fx = 0, fy = 0, cx = 0, cy = 0;
  int width = 0, height = 0;
  bool operator==(const CameraIntrinsics& o) const {
    return fx == o.fx && fy == o.fy && cx == o.cx && cy == o.cy && width == o.width &&
           height == o.height;
  }
};

/// One RGB-D (or RGB-only, depth empty) frame from a source.
struct RgbdFrame {
  MessageMeta meta;
  Image color;                  ///< bgr8 or rgb8
  Image depth;                  ///< mono16 in units of 1/depth_scale metres, 0 = invalid; or empty
  CameraIntrinsics intrinsics;  ///< of the color image; depth is registered to color
  double depth_scale = 1000.0;  ///< depth units per metre (TUM 5000, Kinect/7-Scenes 1000)
  /// When the depth image was taken, relative to meta.stamp_ns (the colour
  /// image's time): TUM fr1 pairs differ by -0.3 to +11 ms, which is a
  /// degree of rotation at 100 deg/s. 0 = simultaneous or unknown.
  int64_t depth_offset_ns = 0;
  /// False when colour comes from another camera than depth and was not
  /// re-sampled onto the depth grid (7-Scenes as shipped): a colour pixel's
  /// depth is then another point's, up to ~30 px away at the border.
  bool color_registered = true;
};

/// Tracking state of a pose estimate.
enum class PoseStatus : uint8_t { kOk, kLost, kGroundTruth };
std::string ToString(PoseStatus s);

/// Camera pose T_world_cam at meta.stamp_ns.
struct CameraPose {
  MessageMeta meta;
  std::array<double, 3> t_world_cam{0, 0, 0};
  std::array<double, 4> q_world_cam{0, 0, 0, 1};  ///< (x, y, z, w), unit norm
  PoseStatus status = PoseStatus::kOk;
};

/// A point cloud; points as float32 xyz triples in the named frame.
struct PointCloud {
  MessageMeta meta;
  std::string frame_id = "world";  ///< "world" or "camera"
  uint32_t num_points = 0;
  Buffer points;   ///< num_points * 3 float32
  Buffer colors;   ///< num_points * 3 uint8 (r, g, b), or empty
  Buffer normals;  ///< num_points * 3 float32, or empty
};

/// Axis-aligned 2D box in pixels: top-left corner plus size.
struct Box2D {
  float x = 0, y = 0, w = 0, h = 0;
};

/// One detection in an image.
struct Detection {
  Box2D box;
  int class_id = -1;
  std::string class_name;
  float score = 0;
  int exit_index = -1;           ///< which early exit classified it (0-based), -1 if none
  Image mask;                    ///< mono8 of box size (255 = object), or empty
  int64_t track_id = -1;         ///< the tracked object this is about, -1 if none / whole frame
  std::vector<float> embedding;  ///< appearance embedding (re-identification), or empty
  bool has_position = false;     ///< a 3D proposal: world centroid and extent below
  std::array<float, 3> position_world{0, 0, 0};  ///< centroid, metres
  std::array<float, 3> extent{0, 0, 0};          ///< bounding box size, metres
  /// A moving-object proposal's motion: "moving" (moving now, or carried
  /// since), "stopped" (moved before, static now); empty when not known
  /// (detector boxes, 2D proposals).
  std::string motion;
};

struct Detections {
  MessageMeta meta;
  std::vector<Detection> items;
};

/// One tracked object at one frame.
struct Track {
  int64_t track_id = -1;
  Box2D box;
  int class_id = -1;
  std::string class_name;
  float score = 0;
  bool has_position = false;
  std::array<float, 3> position_world{0, 0, 0};  ///< centroid, metres
  std::array<float, 3> velocity_world{0, 0, 0};  ///< metres per second
  std::array<float, 3> extent{0, 0, 0};          ///< bounding box size, metres
  int exit_index = -1;  ///< early exit of the latest recognition, -1 if none
  Image mask;           ///< mono8 of box size, or empty
  std::string state;    ///< "tentative", "confirmed", "lost"; empty if not a tracker's
  std::string motion;   ///< its observation's Detection::motion this frame, or empty
};

struct Tracks {
  MessageMeta meta;
  std::vector<Track> items;
};

/// Spatio-temporal textual cognitive map: JSON form and compact text form.
struct CognitiveMap {
  MessageMeta meta;
  std::string json;
  std::string text;
};

/// A question to the reasoning node.
struct Query {
  MessageMeta meta;
  uint64_t request_id = 0;
  std::string question;
  std::vector<std::string> options;  ///< "A. ...", empty for open questions
  std::optional<double> t_begin_s, t_end_s;
};

/// The reasoning node's reply to a Query.
struct Answer {
  MessageMeta meta;
  uint64_t request_id = 0;
  std::string answer;         ///< option letter for multiple choice
  std::string justification;  ///< cites cognitive-map entries
  int64_t track_id = -1;      ///< for grounding questions, else -1
  std::string question;       ///< the question answered (optional on the wire)
};

/// Health of one node, published about once a second.
struct Stats {
  MessageMeta meta;
  std::string node;
  double fps = 0;             ///< messages processed per second over the last window
  double latency_p50_ms = 0;  ///< processing latency percentiles over the window
  double latency_p95_ms = 0;
  /// The same over the whole run so far (log-binned: within 6 %).
  double run_latency_p50_ms = 0;
  double run_latency_p95_ms = 0;
  uint64_t queue_depth = 0;  ///< messages waiting in the node's input queues now
  uint64_t processed = 0;    ///< total inputs processed (or items produced by a source)
  uint64_t emitted = 0;      ///< total messages published
  uint64_t dropped = 0;      ///< total inputs dropped by `latest` edges
  uint64_t errors = 0;       ///< total rejected messages and per-message failures
  /// Stage-specific totals, e.g. recognition's "exit_1".."exit_4" histogram.
  std::map<std::string, double> counters;
};

/// Marks the end of a stream on a topic; nodes flush and forward it.
struct EndOfStream {
  MessageMeta meta;
  std::string reason = "done";  ///< "done", "stopped" (signal) or "error"
};

using Message = std::variant<RgbdFrame, CameraPose, PointCloud, Detections, Tracks, CognitiveMap,
                             Query, Answer, Stats, EndOfStream>;

/// The type name used on the wire ("RgbdFrame", ...).
std::string TypeName(const Message& m);
/// The wire name of the Message alternative at `index`.
std::string TypeNameAt(size_t index);

/// Position of T among the Message alternatives.
template <typename T, size_t I = 0>
constexpr size_t MessageIndex() {
  static_assert(I < std::variant_size_v<Message>, "not a Message type");
  if constexpr (std::is_same_v<std::variant_alternative_t<I, Message>, T>)
    return I;
  else
    return MessageIndex<T, I + 1>();
}
/// The wire name of message type T, e.g. TypeNameOf<Tracks>() == "Tracks".
template <typename T>
std::string TypeNameOf() {
  return TypeNameAt(MessageIndex<T>());
}
const MessageMeta& Meta(const Message& m);
MessageMeta& Meta(Message& m);
inline bool IsEndOfStream(const Message& m) { return std::holds_alternative<EndOfStream>(m); }

}  // namespace dyn4d::pipeline
