#pragma once
// Sliding-window refinement of keyframe poses with Ceres (internal to
// RgbdOdometry). Ceres stays inside window_refinement.cc.
#include <Eigen/Geometry>
#include <vector>

namespace dyn4d::perception::internal {

/// What the refinement needs of a keyframe: its pose and, at one pyramid
/// level, its points and normals (camera frame, zero = invalid) for
/// association, plus the pixels used as residual sources.
struct WindowKeyframe {
  Eigen::Isometry3d T_world_cam = Eigen::Isometry3d::Identity();
  int w = 0, h = 0;
  float fx = 0, fy = 0, cx = 0, cy = 0;
  std::vector<Eigen::Vector3f> P, N;
  std::vector<int> samples;
};

struct WindowRefinementResult {
  bool ran = false;
  int residuals = 0;
  double initial_cost = 0, final_cost = 0;
};

/// Refines the poses of window[1..] (window[0] is held fixed) with
/// point-to-plane residuals between every pair at most `span` apart, and a
/// prior keeping each pose near its tracked value (sigmas prior_t_m,
/// prior_r_rad).
WindowRefinementResult RefineWindow(std::vector<WindowKeyframe>& window, int span, double huber_m,
                                    double max_depth_diff_m, double prior_t_m, double prior_r_rad);

}  // namespace dyn4d::perception::internal
