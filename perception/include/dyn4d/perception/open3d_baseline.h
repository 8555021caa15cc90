#pragma once
/// \file
/// Open3D's own frame-to-frame RGB-D odometry (ComputeRGBDOdometry, hybrid
/// photometric + geometric term, default options), chained into a
/// trajectory: the peer baseline of `dyn4d bench geometry`. Open3D stays
/// behind this header.

#include <Eigen/Geometry>
#include <memory>
#include <optional>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

class Open3dOdometryBaseline {
 public:
  Open3dOdometryBaseline();
  ~Open3dOdometryBaseline();
  /// T_world_cam of this frame (the first frame is the world origin); on
  /// failure the previous pose is kept and `ok` is false.
  struct Result {
    Eigen::Isometry3d T_world_cam = Eigen::Isometry3d::Identity();
    bool ok = false;
  };
  Result Track(const pipeline::RgbdFrame& frame);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::perception
