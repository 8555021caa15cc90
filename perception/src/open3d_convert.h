#pragma once
// pipeline frames to Open3D images (internal; Open3D stays in perception's .cc files).
#include <open3d/camera/PinholeCameraIntrinsic.h>
#include <open3d/geometry/Image.h>
#include <open3d/geometry/RGBDImage.h>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception::internal {

/// Copies an image into Open3D's layout (Open3D owns its bytes); bgr8 becomes rgb.
open3d::geometry::Image ToOpen3dImage(const pipeline::Image& img);

/// Colour + depth as an Open3D RGBD image; depth under `exclude_mask`
/// (mono8, nonzero) is removed and depth beyond `max_depth_m` truncated.
std::shared_ptr<open3d::geometry::RGBDImage> ToOpen3dRgbd(const pipeline::RgbdFrame& frame,
                                                          const pipeline::Image* exclude_mask,
                                                          double max_depth_m, bool to_intensity);

open3d::camera::PinholeCameraIntrinsic ToOpen3dIntrinsics(const pipeline::CameraIntrinsics& k);

}  // namespace dyn4d::perception::internal
