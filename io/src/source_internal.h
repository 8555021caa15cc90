#pragma once
// Factories implemented in their own files (they pull in OpenNI2, MCAP).
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "dyn4d/io/sources.h"
#include "dyn4d/pipeline/stage.h"
#include "dyn4d/ros2/topics.h"

namespace dyn4d::io::internal {
std::unique_ptr<FrameSource> OpenOpenNiSource(const SourceConfig& config);
std::unique_ptr<FrameSource> OpenRecordingSource(const SourceConfig& config);
/// The `ros2_bridge` stage: publishes its inputs as ROS 2 topics over DDS.
struct Ros2BridgeOptions {
  std::map<std::string, std::string> inputs;  ///< port -> dyn4d topic
  ros2::TopicMapper::Options mapper;          ///< topic prefix, frame ids
  int domain_id = -1;                         ///< -1: $ROS_DOMAIN_ID, else 0
  /// false: every topic reliable + transient-local (matches every reader);
  /// true: ROS's own profiles (sensor-data images and clouds).
  bool ros_profiles = false;
};
std::unique_ptr<pipeline::Stage> MakeRos2Bridge(const Ros2BridgeOptions& options);
/// The `viewer` stage: a Foxglove WebSocket server fed by its inputs.
struct ViewerOptions {
  std::map<std::string, std::string> inputs;  ///< port -> dyn4d topic
  std::string address = "127.0.0.1";
  uint16_t port = 8765;
  ros2::TopicMapper::Options mapper;  ///< topic prefix, frame ids
  /// The reasoning node's service (tcp:// or ipc://): questions a viewer
  /// publishes on PREFIX/question go there; empty: no questions.
  std::string ask_endpoint;
};
std::unique_ptr<pipeline::Stage> MakeViewer(const ViewerOptions& options);
/// Live ROS 2 camera topics (over DDS) as a frame source (kind ros2).
std::unique_ptr<FrameSource> OpenRos2TopicSource(const SourceConfig& config);
/// A rosbag2 MCAP (ROS 2 Image + CameraInfo topics) as a frame source.
std::unique_ptr<FrameSource> OpenRos2BagSource(const SourceConfig& config);
/// The recorder's ros2 profile (rosbag2 MCAP + metadata.yaml).
std::unique_ptr<pipeline::Stage> MakeRos2Recorder(const std::string& path,
                                                  std::map<std::string, std::string> ports,
                                                  ros2::TopicMapper::Options mapper);
/// Intrinsics given as parameters (fx > 0; fy defaults to fx), for sources
/// whose own (CameraInfo) may be missing; nullopt when none are given.
inline std::optional<pipeline::CameraIntrinsics> GivenIntrinsics(const SourceConfig& c) {
  if (!(c.fx > 0)) return std::nullopt;
  return pipeline::CameraIntrinsics{c.fx, c.fy > 0 ? c.fy : c.fx, c.cx, c.cy, 0, 0};
}
}  // namespace dyn4d::io::internal
