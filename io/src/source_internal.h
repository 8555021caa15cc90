#pragma once
// Factories implemented in their own files (they pull in OpenNI2, MCAP).
#include <memory>

#include "dyn4d/io/sources.h"

#include <map>
#include <string>

#include "dyn4d/pipeline/stage.h"

namespace dyn4d::io::internal {
std::unique_ptr<FrameSource> OpenOpenNiSource(const SourceConfig& config);
std::unique_ptr<FrameSource> OpenRecordingSource(const SourceConfig& config);
/// A rosbag2 MCAP (ROS 2 Image + CameraInfo topics) as a frame source.
std::unique_ptr<FrameSource> OpenRos2BagSource(const SourceConfig& config);
/// The recorder's ros2 profile (rosbag2 MCAP + metadata.yaml).
std::unique_ptr<pipeline::Stage> MakeRos2Recorder(const std::string& path,
                                                  std::map<std::string, std::string> ports,
                                                  const std::string& topic_prefix,
                                                  const std::string& map_frame,
                                                  const std::string& camera_frame);
}  // namespace dyn4d::io::internal
