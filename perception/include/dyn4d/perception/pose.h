#pragma once
/// \file
/// Conversions between pose messages and Eigen transforms.

#include <Eigen/Geometry>
#include <cmath>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

/// T_world_cam of a pose message (quaternion normalised).
inline Eigen::Isometry3d ToIsometry(const pipeline::CameraPose& p) {
  Eigen::Isometry3d T = Eigen::Isometry3d::Identity();
  T.linear() =
      Eigen::Quaterniond(p.q_world_cam[3], p.q_world_cam[0], p.q_world_cam[1], p.q_world_cam[2])
          .normalized()
          .toRotationMatrix();
  T.translation() = Eigen::Vector3d(p.t_world_cam[0], p.t_world_cam[1], p.t_world_cam[2]);
  return T;
}

/// The rotation angle of T, in degrees.
inline double RotationDeg(const Eigen::Isometry3d& T) {
  return Eigen::AngleAxisd(T.linear()).angle() * 180.0 / M_PI;
}

/// SE(3) exponential of a left perturbation d = (v, w): translation part v,
/// rotation vector w (radians).
inline Eigen::Isometry3d SE3Exp(const Eigen::Matrix<double, 6, 1>& d) {
  const Eigen::Vector3d v = d.head<3>(), w = d.tail<3>();
  const double theta = w.norm();
  Eigen::Matrix3d W;
  W << 0, -w.z(), w.y(), w.z(), 0, -w.x(), -w.y(), w.x(), 0;
  Eigen::Matrix3d R = Eigen::Matrix3d::Identity(), V = Eigen::Matrix3d::Identity();
  if (theta > 1e-10) {
    R = Eigen::AngleAxisd(theta, w / theta).toRotationMatrix();
    V += (1 - std::cos(theta)) / (theta * theta) * W +
         (theta - std::sin(theta)) / (theta * theta * theta) * W * W;
  }
  Eigen::Isometry3d T = Eigen::Isometry3d::Identity();
  T.linear() = R;
  T.translation() = V * v;
  return T;
}

/// A pose message for T_world_cam.
inline pipeline::CameraPose ToCameraPose(const Eigen::Isometry3d& T,
                                         const pipeline::MessageMeta& meta,
                                         pipeline::PoseStatus status) {
  pipeline::CameraPose p;
  p.meta = meta;
  const Eigen::Quaterniond q(T.linear());
  p.t_world_cam = {T.translation().x(), T.translation().y(), T.translation().z()};
  p.q_world_cam = {q.x(), q.y(), q.z(), q.w()};
  p.status = status;
  return p;
}

}  // namespace dyn4d::perception
