#pragma once
/// \file
/// Depth back-projection: pixels with valid depth to 3D points, in the camera
/// frame or (given T_world_cam) the world frame.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

struct BackprojectionConfig {
  int stride = 4;            ///< use every stride-th pixel in u and v (>= 1)
  double min_depth_m = 0.1;  ///< closer returns are ignored
  double max_depth_m = 8.0;  ///< farther returns are ignored (noise grows as z^2)
  std::vector<std::string> Validate() const;
};

/// Throws std::invalid_argument naming the field when `frame` cannot be
/// back-projected (no depth, encoding, intrinsics, sizes, depth scale).
void CheckBackprojectable(const pipeline::RgbdFrame& frame);

/// Back-projects `frame`'s depth: X = (u - cx) z / fx, Y = (v - cy) z / fy, Z = z.
/// With a pose, points are transformed to the world (X_world = R X + t).
/// Colours come from the colour image at the same pixel. Throws
/// std::invalid_argument naming the field if the frame is inconsistent
/// (depth/colour size, intrinsics, depth scale).
pipeline::PointCloud Backproject(const pipeline::RgbdFrame& frame,
                                 const BackprojectionConfig& config,
                                 const pipeline::CameraPose* T_world_cam = nullptr);

}  // namespace dyn4d::perception
