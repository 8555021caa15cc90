#pragma once
/// \file
/// What dyn4d's messages become on ROS 2 topics: the one mapping the DDS
/// bridge, the rosbag2 recorder and the live viewer (Foxglove WebSocket)
/// share, so a ROS 2 user, a `ros2 bag` user and a Foxglove user see the
/// same topics with the same bytes.
#include <map>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"
#include "dyn4d/ros2/convert.h"

namespace dyn4d::ros2 {

/// How a topic is offered (the transports turn it into QoS).
enum class Delivery {
  kSensor,   ///< images and per-frame clouds: the latest matters
  kStream,   ///< poses, tf, objects, markers
  kLatched,  ///< state a late subscriber needs: path, static map, cognitive map
};

struct TopicMessage {
  std::string topic;  ///< ROS topic ("/dyn4d/color/image_raw")
  std::string type;   ///< "pkg/msg/Type"
  std::string cdr;    ///< Encode(message)
  int64_t stamp_ns = 0;
  Delivery delivery = Delivery::kStream;
};

class TopicMapper {
 public:
  struct Options {
    std::string prefix = "/dyn4d";
    FrameIds frames;
  };
  explicit TopicMapper(Options options) : o_(std::move(options)) {}

  /// The ROS messages for one dyn4d message, under prefix + `ns`:
  ///   RgbdFrame    -> NS/color/image_raw, NS/depth/image_raw (16UC1 mm), NS/color/camera_info
  ///   CameraPose   -> NS/pose, NS/odom, NS/path (latched), /tf (map -> camera)
  ///   PointCloud   -> NS/cloud, or NS/map (latched) when `is_map`
  ///   Tracks       -> NS/objects (Detection3DArray), NS/markers (MarkerArray),
  ///                   NS/masks (mono8, the frame's size: 0 background, 1-255
  ///                   the track id mod 255; once a frame told the size),
  ///                   NS/annotations (foxglove_msgs ImageAnnotations: boxes
  ///                   and "#id class exit N" labels for the colour image)
  ///   CognitiveMap -> NS/cognitive_map (String, latched)
  ///   Stats        -> NS/diagnostics (DiagnosticArray of every node's latest
  ///                   stats seen so far, latched)
  /// Other messages (queries, answers, ...) have no ROS form: empty.
  std::vector<TopicMessage> Map(const pipeline::Message& m, const std::string& ns = "",
                                bool is_map = false);

 private:
  Options o_;
  std::map<std::string, Path> paths_;       // per namespace
  int frame_width_ = 0, frame_height_ = 0;  // of the latest frame (for the masks image)
  std::map<std::string, std::map<int64_t, std::vector<Point>>> trails_;
  std::map<std::string, std::map<std::string, pipeline::Stats>> stats_;  // per namespace, node
};

}  // namespace dyn4d::ros2
