#pragma once
/// \file
/// Colour not registered to depth (raw Kinect v1 streams, 7-Scenes): the
/// colour camera has its own intrinsics and sits a few centimetres beside the
/// depth camera, so colour pixel (u, v) does not show what depth pixel (u, v)
/// measured. Registration re-samples the colour onto the depth grid through
/// each pixel's depth; calibration measures the colour camera from the images
/// themselves (colour edges against depth discontinuities) where a dataset
/// publishes none.

#include <Eigen/Core>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::io {

/// The colour camera relative to the depth camera. Rotation is taken as
/// identity (the two lenses of one device face the same way; a residual
/// rotation of a few tenths of a degree is within what the edge calibration
/// can resolve at 640x480).
struct ColorCameraModel {
  pipeline::CameraIntrinsics intrinsics;  ///< of the colour image, at its own size
  /// A depth-camera point p is seen by the colour camera at p + t (metres).
  Eigen::Vector3d t_color_depth = Eigen::Vector3d::Zero();
  /// Problems, each naming the field ("color_fx: must be > 0, got 0").
  std::vector<std::string> Validate() const;
};

/// Colour on the depth grid: depth pixel (u, v) gets the colour (bilinear)
/// where the colour camera sees its 3D point. Pixels without depth are
/// looked up at the frame's median depth (their colour is only used by
/// look-ups that land there, never attached to a 3D point). Throws
/// std::invalid_argument (naming the field) on an empty or mismatched
/// image. Returns an image of the depth's size in the colour's encoding.
pipeline::Image RegisterColorToDepth(const pipeline::Image& color, const pipeline::Image& depth,
                                     double depth_scale,
                                     const pipeline::CameraIntrinsics& depth_intrinsics,
                                     const ColorCameraModel& color_camera);

/// Colour camera measured from RGB-D frames: the model under which colour
/// edges (gradient magnitude, smoothed) are strongest at the depth
/// discontinuities (foreground side of jumps above 5 cm). Searches the focal
/// length (0.8-1.2 x the depth's), principal point (+-16 px) and a
/// translation (+-6 cm in x and y).
struct ColorCalibrationResult {
  enum class Status { kOk, kTooFewEdges };
  Status status = Status::kTooFewEdges;
  std::string message;
  ColorCameraModel camera;
  double edge_score = 0;             ///< mean colour edge strength at depth edges, calibrated
  double edge_score_registered = 0;  ///< the same if colour were registered already
  int64_t edge_pixels = 0;           ///< depth-edge pixels used
};
ColorCalibrationResult CalibrateColorToDepth(const std::vector<pipeline::RgbdFrame>& frames);

}  // namespace dyn4d::io
