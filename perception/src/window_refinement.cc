#include "window_refinement.h"

#include <ceres/ceres.h>
#include <ceres/manifold.h>

#include <cmath>

namespace dyn4d::perception::internal {
namespace {

// Point p_i of keyframe i, matched to point q_j with normal n_j of keyframe
// j: the distance of T_j^-1 T_i p_i to q_j's tangent plane.
// Residuals are in sigmas (the depth noise at that range), like the priors.
struct PointToPlane {
  PointToPlane(const Eigen::Vector3d& p_i, const Eigen::Vector3d& q_j, const Eigen::Vector3d& n_j,
               double inv_sigma)
      : p_i(p_i), q_j(q_j), n_j(n_j), inv_sigma(inv_sigma) {}
  template <typename T>
  bool operator()(const T* qi, const T* ti, const T* qj, const T* tj, T* residual) const {
    const Eigen::Map<const Eigen::Quaternion<T>> Ri(qi), Rj(qj);
    const Eigen::Map<const Eigen::Matrix<T, 3, 1>> ti_(ti), tj_(tj);
    const Eigen::Matrix<T, 3, 1> world = Ri * p_i.cast<T>() + ti_;
    const Eigen::Matrix<T, 3, 1> in_j = Rj.conjugate() * (world - tj_);
    residual[0] = n_j.cast<T>().dot(in_j - q_j.cast<T>()) * T(inv_sigma);
    return true;
  }
  Eigen::Vector3d p_i, q_j, n_j;
  double inv_sigma;
};

// Keeps a pose near where tracking put it, so that directions the geometry
// does not constrain (sliding along a wall-floor edge) stay put.
struct PosePrior {
  PosePrior(const Eigen::Quaterniond& q0, const Eigen::Vector3d& t0, double sigma_t, double sigma_r)
      : q0(q0), t0(t0), inv_t(1.0 / sigma_t), inv_r(1.0 / sigma_r) {}
  template <typename T>
  bool operator()(const T* q, const T* t, T* residual) const {
    const Eigen::Map<const Eigen::Quaternion<T>> R(q);
    const Eigen::Quaternion<T> d = q0.cast<T>().conjugate() * R;
    for (int k = 0; k < 3; ++k) residual[k] = (t[k] - T(t0[k])) * T(inv_t);
    residual[3] = T(2) * d.x() * T(inv_r);
    residual[4] = T(2) * d.y() * T(inv_r);
    residual[5] = T(2) * d.z() * T(inv_r);
    return true;
  }
  Eigen::Quaterniond q0;
  Eigen::Vector3d t0;
  double inv_t, inv_r;
};

}  // namespace

WindowRefinementResult RefineWindow(std::vector<WindowKeyframe>& window, int span, double huber_m,
                                    double max_depth_diff_m, double prior_t_m, double prior_r_rad) {
  WindowRefinementResult result;
  const size_t n = window.size();
  if (n < 2) return result;
  // Parameter blocks: quaternion (x, y, z, w) and translation per keyframe.
  std::vector<Eigen::Quaterniond> q(n);
  std::vector<Eigen::Vector3d> t(n);
  for (size_t k = 0; k < n; ++k) {
    q[k] = Eigen::Quaterniond(window[k].T_world_cam.linear()).normalized();
    t[k] = window[k].T_world_cam.translation();
  }
  // Two rounds: associate with the current poses, solve, associate again.
  for (int round = 0; round < 2; ++round) {
    ceres::Problem problem;
    int residuals = 0;
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        if (i == j ||
            static_cast<int>(std::abs(static_cast<long>(i) - static_cast<long>(j))) > span)
          continue;
        const WindowKeyframe& a = window[i];
        const WindowKeyframe& b = window[j];
        Eigen::Isometry3d Ta = Eigen::Isometry3d::Identity(), Tb = Eigen::Isometry3d::Identity();
        Ta.linear() = q[i].toRotationMatrix(), Ta.translation() = t[i];
        Tb.linear() = q[j].toRotationMatrix(), Tb.translation() = t[j];
        const Eigen::Isometry3d T_b_a = Tb.inverse() * Ta;
        for (int idx : a.samples) {
          const Eigen::Vector3d p = a.P[idx].cast<double>();
          const Eigen::Vector3d in_b = T_b_a * p;
          if (in_b.z() <= 0.1) continue;
          const long u = std::lround(b.fx * in_b.x() / in_b.z() + b.cx),
                     v = std::lround(b.fy * in_b.y() / in_b.z() + b.cy);
          if (u < 0 || v < 0 || u >= b.w || v >= b.h) continue;
          const size_t k = static_cast<size_t>(v) * b.w + u;
          const Eigen::Vector3f& qb = b.P[k];
          const Eigen::Vector3f& nb = b.N[k];
          if (qb.z() <= 0 || nb.squaredNorm() < 0.5f ||
              std::abs(qb.z() - in_b.z()) > max_depth_diff_m)
            continue;
          const double sigma =
              huber_m * std::max(1.0, double(qb.z()) * qb.z());  // noise grows with z^2
          auto* cost = new ceres::AutoDiffCostFunction<PointToPlane, 1, 4, 3, 4, 3>(
              new PointToPlane(p, qb.cast<double>(), nb.cast<double>(), 1.0 / sigma));
          problem.AddResidualBlock(cost, new ceres::HuberLoss(1.345), q[i].coeffs().data(),
                                   t[i].data(), q[j].coeffs().data(), t[j].data());
          ++residuals;
        }
      }
    }
    if (residuals < 50) return result;
    for (size_t k = 1; k < n; ++k) {
      const Eigen::Quaterniond q0(window[k].T_world_cam.linear());
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<PosePrior, 6, 4, 3>(new PosePrior(
              q0.normalized(), window[k].T_world_cam.translation(), prior_t_m, prior_r_rad)),
          nullptr, q[k].coeffs().data(), t[k].data());
    }
    for (size_t k = 0; k < n; ++k) {
      if (problem.HasParameterBlock(q[k].coeffs().data()))
        problem.SetManifold(q[k].coeffs().data(), new ceres::EigenQuaternionManifold);
    }
    // The oldest keyframe anchors the window (gauge freedom).
    if (problem.HasParameterBlock(q[0].coeffs().data())) {
      problem.SetParameterBlockConstant(q[0].coeffs().data());
      problem.SetParameterBlockConstant(t[0].data());
    }
    ceres::Solver::Options options;
    options.linear_solver_type = ceres::DENSE_QR;
    options.max_num_iterations = 8;
    options.num_threads = 1;
    options.logging_type = ceres::SILENT;
    ceres::Solver::Summary summary;
    ceres::Solve(options, &problem, &summary);
    if (round == 0) result.initial_cost = summary.initial_cost;
    result.final_cost = summary.final_cost;
    result.residuals = residuals;
    if (!summary.IsSolutionUsable()) return result;
  }
  for (size_t k = 1; k < n; ++k) {
    window[k].T_world_cam.linear() = q[k].normalized().toRotationMatrix();
    window[k].T_world_cam.translation() = t[k];
  }
  result.ran = true;
  return result;
}

}  // namespace dyn4d::perception::internal
