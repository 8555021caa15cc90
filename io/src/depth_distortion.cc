#include "dyn4d/io/depth_distortion.h"

#include <ceres/ceres.h>
#include <ceres/rotation.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace dyn4d::io {

namespace {

using pipeline::CameraIntrinsics;
using pipeline::Image;
using pipeline::PixelEncoding;

std::string Fixed(double v, int digits) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(digits);
  os << v;
  return os.str();
}

bool SameIntrinsics(const CameraIntrinsics& a, const CameraIntrinsics& b) {
  return a.fx == b.fx && a.fy == b.fy && a.cx == b.cx && a.cy == b.cy;
}

// A frame's depth in metres (0 = invalid), for look-ups in the fit.
struct MetricDepth {
  int width = 0, height = 0;
  std::vector<float> z;
  float At(int u, int v) const { return z[static_cast<size_t>(v) * width + u]; }
};

MetricDepth ToMetres(const pipeline::RgbdFrame& f) {
  MetricDepth d;
  d.width = f.depth.width;
  d.height = f.depth.height;
  d.z.resize(static_cast<size_t>(d.width) * d.height);
  if (f.depth.encoding == PixelEncoding::kMono16) {
    const auto* p = reinterpret_cast<const uint16_t*>(f.depth.data.data());
    const float per_unit = static_cast<float>(1.0 / f.depth_scale);
    for (size_t i = 0; i < d.z.size(); ++i) d.z[i] = p[i] * per_unit;
  } else {
    std::memcpy(d.z.data(), f.depth.data.data(), d.z.size() * sizeof(float));
    for (float& z : d.z)
      if (!std::isfinite(z) || z < 0) z = 0;
  }
  return d;
}

double Scalar(double v) { return v; }
template <typename T, int N>
double Scalar(const ceres::Jet<T, N>& j) {
  return j.a;
}

// One depth sample of a pair's first frame: its point (depth corrected by the
// model) moved by the pair's relative pose into the second frame must meet
// that frame's depth there (bilinear, corrected by the model at that pixel),
// in units of the sensor's noise at that depth. Parameters: the model's five
// terms, and a correction (angle-axis, translation) applied on the left of
// the pair's starting relative pose. A sample that leaves the image, lands
// across a depth edge or disagrees beyond the outlier bound contributes 0
// (occlusion, motion: not the same surface).
class PairSampleResidual {
 public:
  PairSampleResidual(double x, double y, double z, const Eigen::Isometry3d& T_j_i,
                     const MetricDepth& other, const CameraIntrinsics& k,
                     const DepthSelfCalibrationConfig& config)
      : x_(x),
        y_(y),
        z_(z),
        T_j_i_(T_j_i.matrix().topRows<3>()),
        other_(other),
        k_(k),
        config_(config) {}

  template <typename T>
  bool operator()(const T* terms, const T* delta, T* residual) const {
    residual[0] = T(0);
    const T m_i = Factor(terms, T(x_), T(y_));
    const T z = T(z_) * m_i;
    const T p[3] = {T(x_) * z, T(y_) * z, z};
    T q0[3], q[3];
    for (int r = 0; r < 3; ++r)
      q0[r] = T(T_j_i_(r, 0)) * p[0] + T(T_j_i_(r, 1)) * p[1] + T(T_j_i_(r, 2)) * p[2] +
              T(T_j_i_(r, 3));
    ceres::AngleAxisRotatePoint(delta, q0, q);
    for (int r = 0; r < 3; ++r) q[r] += delta[3 + r];
    const double qz = Scalar(q[2]);
    if (!(qz > config_.min_depth_m)) return true;
    const T u = T(k_.fx) * q[0] / q[2] + T(k_.cx);
    const T v = T(k_.fy) * q[1] / q[2] + T(k_.cy);
    const double us = Scalar(u), vs = Scalar(v);
    if (!(us >= 0 && vs >= 0 && us < other_.width - 1 && vs < other_.height - 1)) return true;
    const int u0 = static_cast<int>(us), v0 = static_cast<int>(vs);
    const float z00 = other_.At(u0, v0), z01 = other_.At(u0 + 1, v0);
    const float z10 = other_.At(u0, v0 + 1), z11 = other_.At(u0 + 1, v0 + 1);
    const float lo = std::min({z00, z01, z10, z11}), hi = std::max({z00, z01, z10, z11});
    if (!(lo > 0) || hi - lo > config_.max_neighbour_spread * hi) return true;
    const T a = u - T(u0), b = v - T(v0);
    const T z_other = (T(1) - a) * (T(1) - b) * T(z00) + a * (T(1) - b) * T(z01) +
                      (T(1) - a) * b * T(z10) + a * b * T(z11);
    const T m_j = Factor(terms, (u - T(k_.cx)) / T(k_.fx), (v - T(k_.cy)) / T(k_.fy));
    const double sigma = config_.sigma_base_m + config_.sigma_quadratic * qz * qz;
    const T r = (z_other * m_j - q[2]) / T(sigma);
    if (std::abs(Scalar(r)) > config_.outlier_sigmas) return true;
    residual[0] = r;
    return true;
  }

 private:
  template <typename T>
  static T Factor(const T* k, const T& x, const T& y) {
    return T(1) + k[0] * x + k[1] * y + k[2] * x * x + k[3] * x * y + k[4] * y * y;
  }

  double x_, y_, z_;
  Eigen::Matrix<double, 3, 4> T_j_i_;
  const MetricDepth& other_;
  CameraIntrinsics k_;
  const DepthSelfCalibrationConfig& config_;
};

// RMS of the residuals that count (non-zero), without the robust loss.
double RmsOfUsed(ceres::Problem& problem, int64_t* used) {
  ceres::Problem::EvaluateOptions options;
  options.apply_loss_function = false;
  std::vector<double> residuals;
  problem.Evaluate(options, nullptr, &residuals, nullptr, nullptr);
  double sum = 0;
  int64_t n = 0;
  for (double r : residuals)
    if (r != 0) sum += r * r, ++n;
  if (used) *used = n;
  return n ? std::sqrt(sum / n) : 0;
}

}  // namespace

std::vector<std::string> DepthDistortionModel::Validate(const CameraIntrinsics& intrinsics) const {
  std::vector<std::string> problems;
  for (size_t i = 0; i < k.size(); ++i)
    if (!std::isfinite(k[i]))
      problems.push_back(std::string(kParamNames[i]) + ": must be a finite number");
  if (!problems.empty() || intrinsics.fx <= 0 || intrinsics.fy <= 0) return problems;
  // A quadratic over the image: its extremes lie on the corners, the edges'
  // middles or inside, all on this grid's nodes or close to them.
  for (int gv = 0; gv <= 4; ++gv)
    for (int gu = 0; gu <= 4; ++gu) {
      const double u = (intrinsics.width - 1) * gu / 4.0, v = (intrinsics.height - 1) * gv / 4.0;
      const double m =
          Multiplier((u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy);
      if (!(m >= 0.8 && m <= 1.25)) {
        problems.push_back("depth_kx..depth_kyy: the depth factor is " + Fixed(m, 3) +
                           " at pixel (" + Fixed(u, 0) + ", " + Fixed(v, 0) +
                           "); a real sensor is within 0.8-1.25 (a typo, or terms for other "
                           "intrinsics?)");
        return problems;
      }
    }
  return problems;
}

std::vector<std::string> DepthDistortionModel::ParamAssignments() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < k.size(); ++i)
    out.push_back(std::string(kParamNames[i]) + "=" + Fixed(k[i], 5));
  return out;
}

Image CorrectDepth(const Image& depth, const CameraIntrinsics& intrinsics,
                   const DepthDistortionModel& model) {
  if (depth.encoding != PixelEncoding::kMono16 && depth.encoding != PixelEncoding::kFloat32)
    throw std::invalid_argument("depth correction: depth must be mono16 or float32, got " +
                                pipeline::ToString(depth.encoding));
  if (depth.width != intrinsics.width || depth.height != intrinsics.height)
    throw std::invalid_argument("depth correction: depth is " + std::to_string(depth.width) + "x" +
                                std::to_string(depth.height) + " but the intrinsics are for " +
                                std::to_string(intrinsics.width) + "x" +
                                std::to_string(intrinsics.height));
  Image out = Image::Allocate(depth.width, depth.height, depth.encoding);
  std::vector<double> x(depth.width);
  for (int u = 0; u < depth.width; ++u) x[u] = (u - intrinsics.cx) / intrinsics.fx;
  for (int v = 0; v < depth.height; ++v) {
    const double y = (v - intrinsics.cy) / intrinsics.fy;
    const size_t row = static_cast<size_t>(v) * depth.width;
    if (depth.encoding == PixelEncoding::kMono16) {
      const auto* in = reinterpret_cast<const uint16_t*>(depth.data.data()) + row;
      auto* o = reinterpret_cast<uint16_t*>(out.data.mutable_data()) + row;
      for (int u = 0; u < depth.width; ++u)
        o[u] = in[u] == 0 ? 0
                          : static_cast<uint16_t>(
                                std::min(65535.0, std::round(in[u] * model.Multiplier(x[u], y))));
    } else {
      const auto* in = reinterpret_cast<const float*>(depth.data.data()) + row;
      auto* o = reinterpret_cast<float*>(out.data.mutable_data()) + row;
      for (int u = 0; u < depth.width; ++u)
        o[u] = in[u] > 0 ? static_cast<float>(in[u] * model.Multiplier(x[u], y)) : in[u];
    }
  }
  return out;
}

std::vector<std::string> DepthSelfCalibrationConfig::Validate() const {
  std::vector<std::string> p;
  if (pair_separations.empty()) p.push_back("pair_separations: give at least one");
  for (int d : pair_separations)
    if (d < 1) p.push_back("pair_separations: must be >= 1, got " + std::to_string(d));
  if (pair_stride < 1) p.push_back("pair_stride: must be >= 1");
  if (pixel_step < 1) p.push_back("pixel_step: must be >= 1");
  if (!(sigma_base_m > 0) || !(sigma_quadratic >= 0))
    p.push_back("sigma_base_m > 0 and sigma_quadratic >= 0 needed");
  if (!(huber_sigmas > 0) || !(outlier_sigmas > huber_sigmas))
    p.push_back("huber_sigmas > 0 and outlier_sigmas > huber_sigmas needed");
  if (!(min_depth_m > 0) || !(max_depth_m > min_depth_m))
    p.push_back("0 < min_depth_m < max_depth_m needed");
  if (!(max_neighbour_spread > 0)) p.push_back("max_neighbour_spread: must be > 0");
  if (max_iterations < 1) p.push_back("max_iterations: must be >= 1");
  if (min_pairs < 1) p.push_back("min_pairs: must be >= 1");
  return p;
}

DepthSelfCalibrationResult CalibrateDepthDistortion(const std::vector<DepthCalibrationView>& views,
                                                    const DepthSelfCalibrationConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  DepthSelfCalibrationResult result;
  if (const auto p = config.Validate(); !p.empty()) {
    result.message = "depth calibration config: " + p.front();
    return result;
  }
  for (size_t i = 0; i < views.size(); ++i) {
    const pipeline::RgbdFrame* f = views[i].frame;
    const std::string which = "view " + std::to_string(i);
    if (!f || f->depth.empty()) {
      result.message = which + " has no depth";
      return result;
    }
    if (f->depth.encoding != PixelEncoding::kMono16 &&
        f->depth.encoding != PixelEncoding::kFloat32) {
      result.message =
          which + ": depth must be mono16 or float32, got " + pipeline::ToString(f->depth.encoding);
      return result;
    }
    const auto& k0 = views[0].frame->intrinsics;
    if (!SameIntrinsics(f->intrinsics, k0) || f->depth.width != views[0].frame->depth.width ||
        f->depth.height != views[0].frame->depth.height) {
      result.message = which + ": intrinsics or depth size differ from view 0's (one sensor only)";
      return result;
    }
  }
  std::vector<std::pair<size_t, size_t>> pairs;
  for (int d : config.pair_separations)
    for (size_t i = 0; i + d < views.size(); i += config.pair_stride) pairs.emplace_back(i, i + d);
  if (static_cast<int>(pairs.size()) < config.min_pairs) {
    result.message = std::to_string(views.size()) + " frames give " + std::to_string(pairs.size()) +
                     " pairs (" + std::to_string(config.min_pairs) +
                     " needed): give more frames of the static scene";
    return result;
  }

  std::vector<MetricDepth> depth(views.size());
  for (const auto& [i, j] : pairs)
    for (size_t v : {i, j})
      if (depth[v].z.empty()) depth[v] = ToMetres(*views[v].frame);

  const CameraIntrinsics k = views[0].frame->intrinsics;
  std::array<double, 5> terms{0, 0, 0, 0, 0};
  std::vector<std::array<double, 6>> deltas(pairs.size(), std::array<double, 6>{0, 0, 0, 0, 0, 0});
  ceres::Problem::Options problem_options;
  problem_options.loss_function_ownership = ceres::DO_NOT_TAKE_OWNERSHIP;
  ceres::Problem problem(problem_options);
  ceres::HuberLoss loss(config.huber_sigmas);
  for (size_t p = 0; p < pairs.size(); ++p) {
    const auto [i, j] = pairs[p];
    const Eigen::Isometry3d T_j_i = views[j].T_world_cam.inverse() * views[i].T_world_cam;
    const MetricDepth& di = depth[i];
    for (int v = config.pixel_step / 2; v < di.height; v += config.pixel_step)
      for (int u = config.pixel_step / 2; u < di.width; u += config.pixel_step) {
        const double z = di.At(u, v);
        if (!(z >= config.min_depth_m && z <= config.max_depth_m)) continue;
        auto* cost =
            new ceres::AutoDiffCostFunction<PairSampleResidual, 1, 5, 6>(new PairSampleResidual(
                (u - k.cx) / k.fx, (v - k.cy) / k.fy, z, T_j_i, depth[j], k, config));
        problem.AddResidualBlock(cost, &loss, terms.data(), deltas[p].data());
      }
  }
  if (problem.NumResidualBlocks() == 0) {
    result.message = "no valid depth in the frames' sample grid";
    return result;
  }
  ceres::Solver::Options options;
  options.linear_solver_type = ceres::DENSE_SCHUR;
  options.max_num_iterations = config.max_iterations;
  options.num_threads = std::max(1u, std::thread::hardware_concurrency());
  ceres::Solver::Summary summary;
  // First the pairs' poses alone (what a rigid motion explains), then the
  // model with them.
  problem.SetParameterBlockConstant(terms.data());
  ceres::Solve(options, &problem, &summary);
  result.rms_rigid_sigmas = RmsOfUsed(problem, nullptr);
  problem.SetParameterBlockVariable(terms.data());
  ceres::Solve(options, &problem, &summary);
  if (!summary.IsSolutionUsable()) {
    result.message = "the fit did not converge: " + summary.message;
    return result;
  }
  result.rms_model_sigmas = RmsOfUsed(problem, &result.comparisons);
  result.model.k = terms;
  result.pairs = static_cast<int>(pairs.size());
  if (const auto p = result.model.Validate(k); !p.empty()) {
    result.message = "the fitted model is implausible (" + p.front() +
                     "): are the frames of a static scene, and tracked?";
    return result;
  }
  result.status = DepthSelfCalibrationResult::Status::kOk;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace dyn4d::io
