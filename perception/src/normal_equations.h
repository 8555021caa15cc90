#pragma once
// Gauss-Newton normal equations for 6-DoF pose problems (internal to the
// odometry and the motion segmenter's alignment).
#include <Eigen/Core>
#include <cmath>

namespace dyn4d::perception::internal {

using Vec6 = Eigen::Matrix<double, 6, 1>;
using Mat6 = Eigen::Matrix<double, 6, 6>;

/// H = sum w J J^T, b = sum w r J and the cost sum w r^2, accumulated in
/// blocks: each residual's row sqrt(w) [J r] goes into a float block, and
/// the block's outer product (one small, vectorised matrix product) is
/// added to double sums. Done residual by residual in scalar double
/// arithmetic this was the innermost loop of tracking. Within a block, sums
/// of at most kBlock float terms lose about 1e-5 relatively, far below what
/// a Gauss-Newton step needs.
class NormalEquations {
 public:
  void Add(const Eigen::Matrix<float, 6, 1>& J, float r, float w) {
    const float sw = std::sqrt(w);
    auto row = rows_.col(n_);
    row.head<6>() = sw * J;
    row[6] = sw * r;
    row[7] = 0;
    if (++n_ == kBlock) Flush();
  }
  /// Adds the rows still in the block to the sums (before reading them).
  void Flush() {
    if (n_ == 0) return;
    const auto B = rows_.leftCols(n_);
    Eigen::Matrix<float, 8, 8> block;
    block.noalias() = B * B.transpose();
    sums_ += block.cast<double>();
    n_ = 0;
  }
  Mat6 H() const { return sums_.topLeftCorner<6, 6>(); }
  Vec6 b() const { return sums_.block<6, 1>(0, 6); }
  double cost() const { return sums_(6, 6); }

 private:
  static constexpr int kBlock = 256;
  Eigen::Matrix<float, 8, kBlock> rows_;  // one column per residual
  int n_ = 0;
  Eigen::Matrix<double, 8, 8> sums_ = Eigen::Matrix<double, 8, 8>::Zero();
};

/// The Jacobian of a residual whose derivative by the point q is d, under a
/// left perturbation (translation, rotation): [d, q x d]. Written out:
/// Eigen's vectorised 3-vector copies and cross product load four floats
/// from a 3-vector (GCC warns of the read past its end).
inline Eigen::Matrix<float, 6, 1> PoseJacobian(const Eigen::Vector3f& q, const Eigen::Vector3f& d) {
  Eigen::Matrix<float, 6, 1> J;
  J[0] = d[0], J[1] = d[1], J[2] = d[2];
  J[3] = q[1] * d[2] - q[2] * d[1];
  J[4] = q[2] * d[0] - q[0] * d[2];
  J[5] = q[0] * d[1] - q[1] * d[0];
  return J;
}

}  // namespace dyn4d::perception::internal
