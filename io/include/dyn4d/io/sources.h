#pragma once
/// \file
/// Frame sources: datasets on disk (TUM RGB-D, 7-Scenes, image folders,
/// video files, stereo pairs, dyn4d recordings), live cameras (OpenNI2 RGB-D,
/// V4L2 / GStreamer RGB) and the synthetic scene. Plain classes, no sockets:
/// the `input` stage wraps one for a graph.
///
/// Error policy: a problem with the source as a whole (missing folder, no
/// frames, bad intrinsics, no device) throws SourceError when the source is
/// opened; a problem with one frame (unreadable image, wrong depth size,
/// timestamp out of order) skips that frame and says why.

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dyn4d/io/color_registration.h"
#include "dyn4d/io/depth_distortion.h"
#include "dyn4d/pipeline/messages.h"

namespace dyn4d::io {

/// The source cannot be used at all; what() names the file and the reason.
class SourceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Horizontal field of view assumed for colour-only input (video, images
/// without depth, webcams) that comes with no calibration: a typical webcam
/// or phone lens. Enough for 2D tracking; metric 3D needs the real
/// intrinsics (calibration YAML or fx, fy, cx, cy).
inline constexpr double kDefaultHorizontalFovDeg = 60.0;

/// Intrinsics of a pinhole camera with `horizontal_fov_deg` and the
/// principal point at the image centre (square pixels).
pipeline::CameraIntrinsics IntrinsicsFromFov(int width, int height, double horizontal_fov_deg);

struct SourceConfig {
  /// Folder, file, device or pipeline string. For `kind: v4l2` a device
  /// (/dev/video0), for `gstreamer` a pipeline ending in appsink, for
  /// `openni` a device URI or "" for the first device.
  std::string path;
  /// auto, tum, 7scenes, images, video, stereo, synthetic, recording,
  /// openni, v4l2, gstreamer, ros2. auto looks at `path` (DetectSourceKind).
  /// `stereo` takes a folder with left/ and right/, or a side-by-side video
  /// file (each frame [left | right]); both need a calibration with
  /// `baseline` (metres), by default calibration.yaml next to the data.
  std::string kind = "auto";
  /// Calibration YAML (OpenCV FileStorage: camera_matrix, image_width,
  /// image_height; stereo: also the baseline). Overrides the dataset's own.
  std::string calibration;
  /// Intrinsics given directly (all four > 0 to take effect).
  double fx = 0, fy = 0, cx = 0, cy = 0;
  /// Depth units per metre; 0 = the dataset's convention.
  double depth_scale = 0;
  /// For image folders: the matching depth folder ("" = none, RGB only).
  std::string depth_path;
  /// Frame rate for sources without timestamps (images, stereo folders).
  double fps = 30;
  /// Replay speed of a recorded source (folder, video, recording) for the
  /// input node: 0 = as fast as possible, 1 = its frames' own rate.
  double speed = 0;
  /// Stop after this many frames (0 = all).
  int max_frames = 0;
  /// Colour that is not registered to depth (7-Scenes; raw Kinect v1
  /// streams): the colour camera, to re-sample colour onto the depth grid
  /// (RegisterColorToDepth) before anything sees the frame. For RGB-D
  /// sources only (tum, 7scenes, images with depth_path, openni).
  /// `dyn4d calibrate color DIR` measures one from the images.
  std::optional<ColorCameraModel> color_camera;
  /// The depth sensor's distortion (Kinect v1, Xtion): each frame's depth is
  /// corrected by it before anything sees the frame (and before colour
  /// registration). RGB-D sources only. `dyn4d calibrate depth DIR` fits one
  /// from frames of a static scene.
  std::optional<DepthDistortionModel> depth_distortion;
  /// kind ros2 (live ROS 2 camera topics over DDS): `path` is the colour
  /// sensor_msgs/Image topic; the depth Image topic ("" = colour only,
  /// 16UC1 mm or 32FC1 m, registered to colour), the CameraInfo topic, and
  /// the ROS domain (-1: $ROS_DOMAIN_ID, else 0).
  std::string ros2_depth_topic, ros2_info_topic;
  int ros2_domain_id = -1;
};

/// One frame from a source, or why there is none.
struct SourceRead {
  enum class Status {
    kFrame,    ///< `frame` is valid
    kSkipped,  ///< this frame was bad; `message` says why; call Next again
    kEnd,      ///< no more frames
  };
  Status status = Status::kEnd;
  pipeline::RgbdFrame frame;
  std::optional<pipeline::CameraPose> ground_truth;     ///< when the dataset has poses
  std::optional<pipeline::Tracks> ground_truth_tracks;  ///< synthetic data
  std::string message;
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual SourceRead Next() = 0;
  /// "TUM RGB-D folder ../x (120 frames, 640x480, fx 517.3 ...)".
  virtual std::string Describe() const = 0;
  /// Live sources timestamp on arrival and want `latest` edges.
  virtual bool IsLive() const { return false; }
  /// Number of frames if known, else -1 (for progress bars).
  virtual int64_t SizeHint() const { return -1; }
};

/// What kind of source `path` is: "tum" (rgb.txt or associations.txt),
/// "7scenes" (frame-*.color.*), "stereo" (left/ and right/ folders),
/// "recording" (*.mcap), "video" (a video file), "video_folder" (a folder of
/// videos), "images" (a folder of images), "/dev/video*" -> "v4l2". Throws
/// SourceError when nothing fits, naming what was looked for.
std::string DetectSourceKind(const std::string& path);

/// Opens a source. Throws SourceError.
std::unique_ptr<FrameSource> OpenSource(const SourceConfig& config);

/// Reads intrinsics from an OpenCV calibration YAML (camera_matrix or K,
/// image_width, image_height). Throws SourceError naming the file and field.
pipeline::CameraIntrinsics ReadCalibrationYaml(const std::string& path);

/// Checks intrinsics against an image size; throws SourceError with `what`
/// (where they came from) when they cannot be right.
void ValidateIntrinsics(const pipeline::CameraIntrinsics& k, int width, int height,
                        const std::string& what);

/// Reads a colour image (bgr8). Throws SourceError naming the file.
pipeline::Image ReadColorImage(const std::string& path);

/// Video files found in a folder (sorted), for batch processing.
std::vector<std::string> ListVideos(const std::string& folder);

/// The shard (0 .. count-1) a video belongs to when a batch is split into
/// `count` jobs (`--shard I/N`, one array task each): a hash (FNV-1a, then a
/// SplitMix64 finalizer) of its file name alone, so every video has exactly one shard whatever else
/// is in the folder, and a shard's share never moves when videos are added.
int ShardOf(const std::string& video_path, int count);

}  // namespace dyn4d::io
