#include "dyn4d/perception/open3d_baseline.h"

#include <open3d/camera/PinholeCameraIntrinsic.h>
#include <open3d/geometry/Image.h>
#include <open3d/geometry/RGBDImage.h>
#include <open3d/pipelines/odometry/Odometry.h>

#include <cstring>

#include "open3d_convert.h"

namespace dyn4d::perception {

struct Open3dOdometryBaseline::Impl {
  std::shared_ptr<open3d::geometry::RGBDImage> previous;
  Eigen::Isometry3d T_world_prev = Eigen::Isometry3d::Identity();
};

Open3dOdometryBaseline::Open3dOdometryBaseline() : impl_(std::make_unique<Impl>()) {}
Open3dOdometryBaseline::~Open3dOdometryBaseline() = default;

Open3dOdometryBaseline::Result Open3dOdometryBaseline::Track(const pipeline::RgbdFrame& f) {
  using namespace open3d;
  // Default conversion and options, as a user of Open3D would call it
  // (depth truncated at 3 m by CreateFromColorAndDepth's default).
  // Open3D images hold their own bytes: one copy per frame (the baseline's
  // cost, not dyn4d's). 3.0 m is CreateFromColorAndDepth's default truncation.
  auto rgbd = internal::ToOpen3dRgbd(f, nullptr, 3.0, true);
  Result r;
  r.T_world_cam = impl_->T_world_prev;
  if (impl_->previous) {
    const auto K = internal::ToOpen3dIntrinsics(f.intrinsics);
    // source = this frame, target = previous: the result maps this frame's
    // points into the previous frame, i.e. T_prev_cur.
    auto [ok, T, info] = pipelines::odometry::ComputeRGBDOdometry(
        *rgbd, *impl_->previous, K, Eigen::Matrix4d::Identity(),
        pipelines::odometry::RGBDOdometryJacobianFromHybridTerm(),
        pipelines::odometry::OdometryOption());
    (void)info;
    r.ok = ok;
    if (ok) r.T_world_cam = impl_->T_world_prev * Eigen::Isometry3d(T);
  } else {
    r.ok = true;
  }
  impl_->previous = rgbd;
  impl_->T_world_prev = r.T_world_cam;
  return r;
}

}  // namespace dyn4d::perception
