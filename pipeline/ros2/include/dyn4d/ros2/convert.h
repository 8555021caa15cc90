#pragma once
/// \file
/// dyn4d's messages as ROS 2 messages and back: what the ROS 2 bridge
/// publishes, the ros2-profile MCAP recorder writes and the live viewer
/// sends. Frames: `map` (dyn4d's world frame) and `camera` (the optical
/// frame: x right, y down, z forward), both configurable.
#include <map>
#include <optional>
#include <string>

#include "dyn4d/pipeline/messages.h"
#include "dyn4d/ros2/msgs.h"

namespace dyn4d::ros2 {

struct FrameIds {
  std::string map = "map";
  std::string camera = "camera";
};

Header MakeHeader(const pipeline::MessageMeta& meta, const std::string& frame_id);

/// x, y, z float32 (+ rgb packed as UINT32 0x00RRGGBB when colours exist),
/// one row; in `map` for world clouds, `camera` otherwise.
PointCloud2 ToPointCloud2(const pipeline::PointCloud& cloud, const FrameIds& frames = {});
/// bgr8/rgb8/mono8 as they are; depth mono16 as 16UC1 (millimetres,
/// rescaled from depth_scale when it is not 1000); float32 as 32FC1.
Image ToImage(const pipeline::Image& image, const Header& header, double depth_scale = 1000);
CameraInfo ToCameraInfo(const pipeline::CameraIntrinsics& k, const Header& header);
PoseStamped ToPoseStamped(const pipeline::CameraPose& pose, const FrameIds& frames = {});
Odometry ToOdometry(const pipeline::CameraPose& pose, const FrameIds& frames = {});
/// map -> camera.
TransformStamped ToTransform(const pipeline::CameraPose& pose, const FrameIds& frames = {});
/// Tracked objects with a 3D position: id = track id, one hypothesis
/// (class name, score), axis-aligned box of the object's extent.
Detection3DArray ToDetections(const pipeline::Tracks& tracks, const FrameIds& frames = {});
/// For RViz2/Foxglove: per 3D track a box (ns "objects"), a label
/// ("#id class", ns "labels") and, when given, its trajectory (ns
/// "trajectories"); a DELETEALL first so vanished objects go away.
MarkerArray ToMarkers(const pipeline::Tracks& tracks, const FrameIds& frames = {},
                      const std::map<int64_t, std::vector<Point>>* trajectories = nullptr);
String ToString(const pipeline::CognitiveMap& map);
/// The tracks' masks (box-sized, placed at their boxes; the box itself for a
/// track without a mask) as one mono8 image of width x height: 0 where no
/// object is, else 1 + (track id mod 255) - grounding, per frame.
Image ToMaskImage(const pipeline::Tracks& tracks, int width, int height, const Header& header);
/// What Foxglove's Image panel draws over the colour image: per track its
/// 2D box (a LINE_LOOP in the track's colour) and a label "#id class" with
/// the early exit of its latest recognition ("exit 2") where it has one.
ImageAnnotations ToImageAnnotations(const pipeline::Tracks& tracks);
/// One DiagnosticStatus per node (name = node, hardware_id = "dyn4d"):
/// frames/s, p50/p95 latency, queue, totals and the stage's counters as
/// key/values; WARN when it dropped or rejected messages.
DiagnosticArray ToDiagnostics(const std::map<std::string, pipeline::Stats>& latest,
                              const Header& header);

/// A ROS image as a dyn4d image: rgb8, bgr8, mono8 and 16UC1 as they are
/// (16UC1 is millimetres: depth_scale 1000), 32FC1 metres converted to
/// millimetres (0 where not finite). Returns nullopt and sets `why` for
/// other encodings, big-endian data or a size that does not match.
std::optional<pipeline::Image> FromImage(const Image& image, std::string* why);
/// The intrinsics in a CameraInfo (K), with its size.
pipeline::CameraIntrinsics FromCameraInfo(const CameraInfo& info);
int64_t ToNs(const Time& t);

}  // namespace dyn4d::ros2
