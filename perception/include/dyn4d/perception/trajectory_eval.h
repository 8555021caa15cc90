#pragma once
/// \file
/// Trajectory accuracy as the TUM RGB-D benchmark defines it (Sturm et al.,
/// IROS 2012): ATE = RMSE of positions after the rigid alignment (rotation +
/// translation, no scale; Umeyama 1991) of the estimate onto the ground
/// truth; RPE = error of relative motions over a fixed frame step.

#include <Eigen/Geometry>
#include <string>
#include <vector>

namespace dyn4d::perception {

struct StampedPose {
  double t_s = 0;
  Eigen::Isometry3d T_world_cam = Eigen::Isometry3d::Identity();
};

/// Reads a TUM trajectory ("t tx ty tz qx qy qz qw", # comments). Throws
/// std::runtime_error naming the file and line.
std::vector<StampedPose> ReadTumTrajectory(const std::string& path);

/// Pairs each estimated pose with the ground truth at its time: interpolated
/// (linearly, rotations by slerp) between the samples either side, when one
/// of them is within `max_dt_s` of it (not the nearest sample: motion
/// capture at 100 Hz leaves up to 5 ms between a frame and its nearest
/// sample, half a degree at 100 deg/s). Estimates outside the ground truth
/// or far from any sample are left out.
std::vector<std::pair<StampedPose, StampedPose>> Associate(const std::vector<StampedPose>& est,
                                                           const std::vector<StampedPose>& gt,
                                                           double max_dt_s = 0.02);

/// Rigid transform (no scale) minimising sum |T a_i - b_i|^2.
Eigen::Isometry3d UmeyamaRigid(const std::vector<Eigen::Vector3d>& a,
                               const std::vector<Eigen::Vector3d>& b);

struct TrajectoryErrors {
  size_t pairs = 0;       ///< associated poses
  double ate_rmse_m = 0;  ///< after rigid alignment
  double ate_mean_m = 0, ate_max_m = 0;
  double rpe_trans_rmse_m = 0;  ///< per step of `delta` frames
  double rpe_rot_rmse_deg = 0;
  Eigen::Isometry3d alignment = Eigen::Isometry3d::Identity();  ///< applied to the estimate
};

/// Errors of `pairs` (estimate, ground truth), in time order. Throws
/// std::invalid_argument with fewer than 3 pairs.
TrajectoryErrors EvaluateTrajectory(const std::vector<std::pair<StampedPose, StampedPose>>& pairs,
                                    int delta = 1);

}  // namespace dyn4d::perception
