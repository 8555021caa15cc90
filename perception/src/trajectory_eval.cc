#include "dyn4d/perception/trajectory_eval.h"

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "dyn4d/perception/pose.h"

namespace dyn4d::perception {

std::vector<StampedPose> ReadTumTrajectory(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open trajectory '" + path + "'");
  std::vector<StampedPose> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    double t, x, y, z, qx, qy, qz, qw;
    if (!(ls >> t >> x >> y >> z >> qx >> qy >> qz >> qw))
      throw std::runtime_error("'" + path + "' line " + std::to_string(n) +
                               ": expected 't tx ty tz qx qy qz qw'");
    Eigen::Quaterniond q(qw, qx, qy, qz);
    if (std::abs(q.norm() - 1) > 0.01)
      throw std::runtime_error("'" + path + "' line " + std::to_string(n) +
                               ": quaternion is not unit norm");
    StampedPose p;
    p.t_s = t;
    p.T_world_cam.linear() = q.normalized().toRotationMatrix();
    p.T_world_cam.translation() = Eigen::Vector3d(x, y, z);
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.t_s < b.t_s; });
  return out;
}

std::vector<std::pair<StampedPose, StampedPose>> Associate(const std::vector<StampedPose>& est,
                                                           const std::vector<StampedPose>& gt,
                                                           double max_dt_s) {
  std::vector<std::pair<StampedPose, StampedPose>> out;
  if (gt.empty()) return out;
  for (const StampedPose& e : est) {
    // The ground-truth samples either side of the estimate's time.
    auto it = std::lower_bound(gt.begin(), gt.end(), e.t_s,
                               [](const StampedPose& g, double t) { return g.t_s < t; });
    if (it != gt.end() && std::abs(it->t_s - e.t_s) < 1e-9) {
      out.emplace_back(e, *it);
      continue;
    }
    if (it == gt.begin() || it == gt.end()) {
      // Just outside the ground truth: its end sample, if near enough.
      const StampedPose& end = it == gt.end() ? gt.back() : gt.front();
      if (std::abs(end.t_s - e.t_s) <= max_dt_s) out.emplace_back(e, end);
      continue;
    }
    const StampedPose& a = *(it - 1);
    const StampedPose& b = *it;
    if (std::min(e.t_s - a.t_s, b.t_s - e.t_s) > max_dt_s) continue;  // no sample near
    const double u = (e.t_s - a.t_s) / (b.t_s - a.t_s);
    StampedPose g;
    g.t_s = e.t_s;
    const Eigen::Quaterniond qa(a.T_world_cam.linear()), qb(b.T_world_cam.linear());
    g.T_world_cam.linear() = qa.slerp(u, qb).normalized().toRotationMatrix();
    g.T_world_cam.translation() =
        (1 - u) * a.T_world_cam.translation() + u * b.T_world_cam.translation();
    out.emplace_back(e, g);
  }
  return out;
}

Eigen::Isometry3d UmeyamaRigid(const std::vector<Eigen::Vector3d>& a,
                               const std::vector<Eigen::Vector3d>& b) {
  const size_t n = a.size();
  Eigen::Vector3d ma = Eigen::Vector3d::Zero(), mb = Eigen::Vector3d::Zero();
  for (size_t i = 0; i < n; ++i) ma += a[i], mb += b[i];
  ma /= n, mb /= n;
  Eigen::Matrix3d cov = Eigen::Matrix3d::Zero();
  for (size_t i = 0; i < n; ++i) cov += (b[i] - mb) * (a[i] - ma).transpose();
  Eigen::JacobiSVD<Eigen::Matrix3d> svd(cov, Eigen::ComputeFullU | Eigen::ComputeFullV);
  Eigen::Matrix3d S = Eigen::Matrix3d::Identity();
  if ((svd.matrixU() * svd.matrixV().transpose()).determinant() < 0) S(2, 2) = -1;  // no reflection
  Eigen::Isometry3d T = Eigen::Isometry3d::Identity();
  T.linear() = svd.matrixU() * S * svd.matrixV().transpose();
  T.translation() = mb - T.linear() * ma;
  return T;
}

TrajectoryErrors EvaluateTrajectory(const std::vector<std::pair<StampedPose, StampedPose>>& pairs,
                                    int delta) {
  if (pairs.size() < 3)
    throw std::invalid_argument("trajectory evaluation needs at least 3 associated poses, got " +
                                std::to_string(pairs.size()));
  TrajectoryErrors r;
  r.pairs = pairs.size();
  std::vector<Eigen::Vector3d> a, b;
  for (const auto& [e, g] : pairs)
    a.push_back(e.T_world_cam.translation()), b.push_back(g.T_world_cam.translation());
  r.alignment = UmeyamaRigid(a, b);
  double sum2 = 0, sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = (r.alignment * a[i] - b[i]).norm();
    sum2 += err * err, sum += err;
    r.ate_max_m = std::max(r.ate_max_m, err);
  }
  r.ate_rmse_m = std::sqrt(sum2 / a.size());
  r.ate_mean_m = sum / a.size();
  double t2 = 0, r2 = 0;
  size_t n = 0;
  for (size_t i = 0; i + delta < pairs.size(); ++i) {
    const Eigen::Isometry3d de =
        pairs[i].first.T_world_cam.inverse() * pairs[i + delta].first.T_world_cam;
    const Eigen::Isometry3d dg =
        pairs[i].second.T_world_cam.inverse() * pairs[i + delta].second.T_world_cam;
    const Eigen::Isometry3d err = dg.inverse() * de;
    t2 += err.translation().squaredNorm();
    const double angle = RotationDeg(err);
    r2 += angle * angle;
    ++n;
  }
  r.rpe_trans_rmse_m = n ? std::sqrt(t2 / n) : 0;
  r.rpe_rot_rmse_deg = n ? std::sqrt(r2 / n) : 0;
  return r;
}

}  // namespace dyn4d::perception
