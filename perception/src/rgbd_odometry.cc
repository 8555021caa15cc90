#include "dyn4d/perception/rgbd_odometry.h"

#include <Eigen/Cholesky>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "dyn4d/perception/pose.h"
#include "normal_equations.h"
#include "window_refinement.h"

namespace dyn4d::perception {
namespace {

using internal::Mat6;
using internal::NormalEquations;
using internal::PoseJacobian;
using internal::Vec6;

// One pyramid level of a frame: intensity, gradients, depth, points,
// normals, the dynamic mask, and (for keyframes) the pixels used.
struct Level {
  int w = 0, h = 0;
  float fx = 0, fy = 0, cx = 0, cy = 0;
  std::vector<float> I, Z;
  // Intensity and its x, y gradients side by side (the fourth is padding):
  // the bilinear look-ups of the photometric term read one place, not three.
  std::vector<Eigen::Vector4f> IG;
  std::vector<Eigen::Vector3f> P, N;
  std::vector<uint8_t> masked;
  std::vector<int> selected;
};

struct Pyramid {
  std::vector<Level> levels;  // [0] = finest used
};

// Rotations composed many times drift from orthonormal, and an Isometry3d's
// inverse (a transpose) then amplifies the drift frame after frame.
Eigen::Isometry3d Orthonormal(Eigen::Isometry3d T) {
  T.linear() = Eigen::Quaterniond(T.linear()).normalized().toRotationMatrix();
  return T;
}

// Robust weight for a residual in sigmas: Huber near the solution, and
// redescending (Cauchy) beyond 3k so that moving objects and occlusions lose
// their pull instead of keeping a constant one.
inline float RobustWeight(float r_sigma, float k) {
  const float a = std::abs(r_sigma);
  if (a <= k) return 1.f;
  const float huber = k / a;
  if (a <= 3 * k) return huber;
  const float x = a / (3 * k);
  return huber / (x * x);
}

void Select(Level& L, int level_index);

void Finish(Level& L, bool select, int level_index) {
  const int w = L.w, h = L.h;
  const size_t n = static_cast<size_t>(w) * h;
  L.IG.assign(n, Eigen::Vector4f::Zero());
  L.P.assign(n, Eigen::Vector3f::Zero());
  L.N.assign(n, Eigen::Vector3f::Zero());
  for (int v = 0; v < h; ++v)
    for (int u = 0; u < w; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      L.IG[i][0] = L.I[i];
      if (u > 0 && u < w - 1) L.IG[i][1] = 0.5f * (L.I[i + 1] - L.I[i - 1]);
      if (v > 0 && v < h - 1) L.IG[i][2] = 0.5f * (L.I[i + w] - L.I[i - w]);
      const float z = L.Z[i];
      if (z > 0) L.P[i] = {(u - L.cx) * z / L.fx, (v - L.cy) * z / L.fy, z};
    }
  for (int v = 0; v < h - 1; ++v)
    for (int u = 0; u < w - 1; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      const float z = L.Z[i], zr = L.Z[i + 1], zd = L.Z[i + w];
      if (z <= 0 || zr <= 0 || zd <= 0) continue;
      if (std::abs(zr - z) > 0.05f * z || std::abs(zd - z) > 0.05f * z) continue;  // depth edge
      Eigen::Vector3f n = (L.P[i + 1] - L.P[i]).cross(L.P[i + w] - L.P[i]);
      const float len = n.norm();
      if (len < 1e-12f) continue;
      n /= len;
      if (n.dot(L.P[i]) > 0) n = -n;  // towards the camera
      L.N[i] = n;
    }
  if (select) Select(L, level_index);
}

// Keyframe pixels: valid, unmasked, away from the border; at the finest
// level those with texture plus a sparse grid (flat areas still constrain
// the geometric term).
void Select(Level& L, int level_index) {
  const int w = L.w, h = L.h;
  L.selected.clear();
  const float g2 = 0.02f * 0.02f;
  for (int v = 2; v < h - 2; ++v)
    for (int u = 2; u < w - 2; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      if (L.Z[i] <= 0 || L.masked[i]) continue;
      const float gx = L.IG[i][1], gy = L.IG[i][2];
      if (level_index == 0 && gx * gx + gy * gy < g2 && (u % 3 || v % 3)) continue;
      L.selected.push_back(static_cast<int>(i));
    }
}

// Half resolution: intensity averaged, depth averaged over valid pixels
// unless they straddle a depth edge, masked if any source pixel is.
Level Downsample(const Level& s) {
  Level d;
  d.w = s.w / 2, d.h = s.h / 2;
  d.fx = s.fx / 2, d.fy = s.fy / 2, d.cx = (s.cx + 0.5f) / 2 - 0.5f,
  d.cy = (s.cy + 0.5f) / 2 - 0.5f;
  const size_t m = static_cast<size_t>(d.w) * d.h;
  d.I.resize(m), d.Z.assign(m, 0.f), d.masked.assign(m, 0);
  for (int v = 0; v < d.h; ++v)
    for (int u = 0; u < d.w; ++u) {
      const size_t o = static_cast<size_t>(v) * d.w + u;
      const size_t a = static_cast<size_t>(2 * v) * s.w + 2 * u;
      const size_t q[4] = {a, a + 1, a + s.w, a + s.w + 1};
      d.I[o] = 0.25f * (s.I[q[0]] + s.I[q[1]] + s.I[q[2]] + s.I[q[3]]);
      float zs = 0;
      int zn = 0;
      for (size_t k2 : q) {
        if (s.masked[k2]) d.masked[o] = 1;
        if (s.Z[k2] > 0) zs += s.Z[k2], ++zn;
      }
      // Average valid depths, unless they straddle an edge.
      if (zn && !d.masked[o]) {
        const float mean = zs / zn;
        bool edge = false;
        for (size_t k2 : q) edge |= s.Z[k2] > 0 && std::abs(s.Z[k2] - mean) > 0.03f * mean;
        if (!edge) d.Z[o] = mean;
      }
    }
  return d;
}

// Re-projects the depth of `L` through the small rigid motion `M` (points
// x -> M x, same intrinsics), the nearest surface per pixel. Brings a depth
// image taken a few milliseconds away from its colour image to the colour's
// time. (Measured against a hole-free backward look-up with interpolation:
// splatting is better on TUM fr1/rpy, 0.359 vs 0.374 deg/frame.)
void WarpDepth(const Eigen::Isometry3d& M, Level& L) {
  const Eigen::Matrix3f R = M.linear().cast<float>();
  const Eigen::Vector3f t = M.translation().cast<float>();
  std::vector<float> Z(L.Z.size(), 0.f);
  for (int v = 0; v < L.h; ++v)
    for (int u = 0; u < L.w; ++u) {
      const size_t i = static_cast<size_t>(v) * L.w + u;
      const float z = L.Z[i];
      if (z <= 0) continue;
      const Eigen::Vector3f q =
          R * Eigen::Vector3f((u - L.cx) * z / L.fx, (v - L.cy) * z / L.fy, z) + t;
      if (q.z() <= 0) continue;
      const int u2 = static_cast<int>(std::lround(L.fx * q.x() / q.z() + L.cx));
      const int v2 = static_cast<int>(std::lround(L.fy * q.y() / q.z() + L.cy));
      if (u2 < 0 || v2 < 0 || u2 >= L.w || v2 >= L.h) continue;
      float& slot = Z[static_cast<size_t>(v2) * L.w + u2];
      if (slot == 0 || q.z() < slot) slot = q.z();
    }
  L.Z = std::move(Z);
}

}  // namespace

std::vector<std::string> RgbdOdometry::Config::Validate() const {
  std::vector<std::string> p;
  if (levels < 1 || levels > 6) p.push_back("levels: must be 1..6");
  if (finest_level < 0 || finest_level > 3) p.push_back("finest_level: must be 0..3");
  if (static_cast<int>(iterations.size()) != levels) p.push_back("iterations: one count per level");
  if (!(min_depth_m > 0 && max_depth_m > min_depth_m))
    p.push_back("min_depth_m, max_depth_m: need 0 < min < max");
  if (!(sigma_intensity > 0 && sigma_depth_m > 0 && huber_k > 0))
    p.push_back("sigmas and huber_k must be positive");
  if (!(lost_min_inliers >= 0 && lost_min_inliers < 1))
    p.push_back("lost_min_inliers: must be in [0, 1)");
  if (!(min_visible_fraction >= 0 && min_visible_fraction < 1))
    p.push_back("min_visible_fraction: must be in [0, 1)");
  if (max_uncertain_frames < 0) p.push_back("max_uncertain_frames: must be >= 0");
  return p;
}

pipeline::CameraPose PoseMessage(const RgbdOdometry::Result& r, const pipeline::MessageMeta& meta) {
  return ToCameraPose(r.T_world_cam, meta,
                      r.usable() ? pipeline::PoseStatus::kOk : pipeline::PoseStatus::kLost);
}

std::string ToString(RgbdOdometry::Result::Status s) {
  switch (s) {
    case RgbdOdometry::Result::Status::kOk:
      return "ok";
    case RgbdOdometry::Result::Status::kInitialised:
      return "initialised";
    case RgbdOdometry::Result::Status::kLost:
      return "lost";
  }
  return "unknown";
}

struct RgbdOdometry::Impl {
  Config c;
  std::vector<internal::WindowKeyframe> window;  // last keyframes, oldest first
  std::optional<Pyramid> keyframe;
  std::optional<Pyramid> previous;  // last tracked frame, a second reference under fast rotation
  Eigen::Isometry3d T_kf_previous = Eigen::Isometry3d::Identity();
  Eigen::Isometry3d T_world_kf = Eigen::Isometry3d::Identity();
  Eigen::Isometry3d T_world_last = Eigen::Isometry3d::Identity();
  Eigen::Isometry3d velocity = Eigen::Isometry3d::Identity();  // last frame-to-frame motion
  bool have_last = false;
  int uncertain_frames = 0;  // in a row, on the prediction alone
  // The keyframe's frame and mask when its depth could not yet be brought to
  // its colour's time (no velocity known when it was built).
  std::optional<pipeline::RgbdFrame> uncompensated_kf;
  std::optional<pipeline::Image> uncompensated_kf_mask;

  // The camera motion from the depth image's time to the colour's, under
  // constant velocity: velocity^(offset / interval of the velocity).
  std::optional<Eigen::Isometry3d> DepthToColor(int64_t depth_offset_ns) const {
    if (!c.compensate_depth_time || depth_offset_ns == 0 || velocity_dt_ns <= 0)
      return std::nullopt;
    const double f = static_cast<double>(depth_offset_ns) / velocity_dt_ns;
    if (!(std::abs(f) < 1)) return std::nullopt;  // not a few milliseconds: not this mechanism
    const Eigen::AngleAxisd aa(velocity.linear());
    Eigen::Isometry3d M = Eigen::Isometry3d::Identity();
    M.linear() = Eigen::AngleAxisd(f * aa.angle(), aa.axis()).toRotationMatrix();
    M.translation() = f * velocity.translation();
    return M;
  }
  void RememberIfUncompensated(bool needs, const pipeline::RgbdFrame& f,
                               const pipeline::Image* mask) {
    uncompensated_kf.reset();
    uncompensated_kf_mask.reset();
    if (!needs) return;
    uncompensated_kf = f;
    if (mask) uncompensated_kf_mask = *mask;
  }
  int64_t last_stamp_ns = 0;   // of the last frame given to Track
  int64_t velocity_dt_ns = 0;  // time over which `velocity` was measured
  void ForgetVelocity() {
    velocity = Eigen::Isometry3d::Identity();
    velocity_dt_ns = 0;
  }
  // Adds the new keyframe to the window, refines the window in Ceres, and
  // continues from the refined pose of the new keyframe.
  void RefineWithWindow(Result& r) {
    const Level& L = keyframe->levels[0];
    internal::WindowKeyframe k;
    k.T_world_cam = T_world_kf;
    k.w = L.w, k.h = L.h, k.fx = L.fx, k.fy = L.fy, k.cx = L.cx, k.cy = L.cy;
    k.P = L.P, k.N = L.N;
    // An even spread of points with normals as residual sources.
    const size_t step =
        std::max<size_t>(1, L.selected.size() / static_cast<size_t>(c.window_samples));
    for (size_t i = 0; i < L.selected.size(); i += step)
      if (L.N[L.selected[i]].squaredNorm() > 0.5f) k.samples.push_back(L.selected[i]);
    window.push_back(std::move(k));
    if (static_cast<int>(window.size()) > c.window_size) window.erase(window.begin());
    const auto res = internal::RefineWindow(window, 2, c.sigma_depth_m, c.max_depth_diff_m * 2,
                                            0.005, 0.2 * M_PI / 180);
    if (!res.ran) return;
    const Eigen::Isometry3d refined = Orthonormal(window.back().T_world_cam);
    T_world_kf = refined;
    T_world_last = refined;
    r.T_world_cam = refined;
  }

  // Builds the pyramid of `f`, or returns why not.
  // `depth_to_color` (optional): the camera motion from the depth image's
  // time to the colour image's; the depth is re-projected to the colour time
  // (at the finest level used) so both terms see the same instant.
  std::optional<Pyramid> Build(const pipeline::RgbdFrame& f, const pipeline::Image* mask,
                               const std::optional<Eigen::Isometry3d>& depth_to_color,
                               std::string* why) const {
    using pipeline::PixelEncoding;
    if (f.color.empty() || f.depth.empty()) {
      *why = "frame has no colour or no depth";
      return std::nullopt;
    }
    if (f.color.width != f.depth.width || f.color.height != f.depth.height ||
        f.intrinsics.width != f.depth.width || !(f.intrinsics.fx > 0) || !(f.depth_scale > 0)) {
      *why = "inconsistent sizes or intrinsics";
      return std::nullopt;
    }
    if (mask && (mask->width != f.depth.width || mask->height != f.depth.height ||
                 mask->encoding != PixelEncoding::kMono8))
      mask = nullptr;  // a mask that does not fit is ignored rather than misapplied
    Level L;
    L.w = f.depth.width, L.h = f.depth.height;
    L.fx = f.intrinsics.fx, L.fy = f.intrinsics.fy, L.cx = f.intrinsics.cx, L.cy = f.intrinsics.cy;
    const size_t n = static_cast<size_t>(L.w) * L.h;
    L.I.resize(n), L.Z.assign(n, 0.f), L.masked.assign(n, 0);
    const uint8_t* col = f.color.data.data();
    const bool rgb = f.color.encoding == PixelEncoding::kRgb8;
    const bool mono = f.color.encoding == PixelEncoding::kMono8;
    size_t valid = 0;
    for (size_t i = 0; i < n; ++i) {
      if (mono)
        L.I[i] = col[i] / 255.f;
      else {
        const uint8_t* p = col + 3 * i;
        const float r = rgb ? p[0] : p[2], g = p[1], b = rgb ? p[2] : p[0];
        L.I[i] = (0.299f * r + 0.587f * g + 0.114f * b) / 255.f;
      }
      const float z = f.depth.encoding == PixelEncoding::kMono16
                          ? f.depth.data.as<uint16_t>()[i] / float(f.depth_scale)
                          : f.depth.data.as<float>()[i];
      if (z >= c.min_depth_m && z <= c.max_depth_m) L.Z[i] = z, ++valid;
      if (mask && mask->data.data()[i]) L.masked[i] = 1, L.Z[i] = 0;
    }
    if (valid < n / 50) {
      *why = "too little valid depth (" + std::to_string(100.0 * valid / n) + " % of pixels)";
      return std::nullopt;
    }
    std::vector<Level> all;
    all.push_back(std::move(L));
    for (int k = 1; k <= c.finest_level; ++k) all.push_back(Downsample(all.back()));
    if (depth_to_color) WarpDepth(*depth_to_color, all.back());
    for (int k = c.finest_level + 1; k < c.finest_level + c.levels; ++k)
      all.push_back(Downsample(all.back()));
    Pyramid p;
    for (int k = c.finest_level; k < c.finest_level + c.levels; ++k)
      p.levels.push_back(std::move(all[k]));
    for (size_t k = 0; k < p.levels.size(); ++k) Finish(p.levels[k], true, static_cast<int>(k));
    return p;
  }

  struct Fit {
    int in_view = 0, inliers = 0, selected = 0, iterations = 0;
    int occluded = 0;  // in view, but on a masked (moving) pixel of the current frame
  };

  // Gauss-Newton for T (keyframe -> current) at one level.
  // `R2` (optional): a second reference (the previous frame) whose points
  // map into the keyframe's coordinates by `T_kf_r2`; it adds residuals on
  // the same unknown T but does not count in `fit`.
  Fit Align(const Level& R, const Level& C, int level, int max_iterations, Eigen::Isometry3d& T,
            const Level* R2 = nullptr,
            const Eigen::Isometry3d& T_kf_r2 = Eigen::Isometry3d::Identity()) const {
    Fit fit;
    fit.selected = static_cast<int>(R.selected.size());
    const double gate = c.max_depth_diff_m * (1 << level);
    double lambda = 1e-4;  // Levenberg-Marquardt damping, relative to diag(H)
    double last_cost = std::numeric_limits<double>::infinity();
    Mat6 last_H = Mat6::Zero();
    Vec6 last_b = Vec6::Zero();
    Eigen::Isometry3d last_T = T;
    Fit last_fit;
    // Residual scales: the configured sigmas at first, then 1.4826 * MAD of
    // the previous iteration's residuals (never below the configured ones),
    // so outliers such as moving objects are judged against the spread the
    // data actually has. The geometric one is per metre^2 of depth.
    double scale_i = c.sigma_intensity, scale_g = c.sigma_depth_m;
    // Surface-area weights: depth squared, relative to the farthest
    // keyframe pixel's (any common scale gives the same solution).
    float inv_far2 = 0;
    if (c.weight_by_surface_area) {
      float far = 0;
      for (int i : R.selected) far = std::max(far, R.Z[i]);
      if (far > 0) inv_far2 = 1.f / (far * far);
    }
    std::vector<float> abs_i, abs_g;
    abs_i.reserve(R.selected.size());
    abs_g.reserve(R.selected.size());
    for (int it = 0; it < max_iterations; ++it) {
      NormalEquations normal;
      int n_res = 0;
      abs_i.clear();
      abs_g.clear();
      int in_view = 0, inliers = 0, occluded = 0;
      const Eigen::Matrix3f Rf = T.linear().cast<float>();
      const Eigen::Vector3f tf = T.translation().cast<float>();
      const Eigen::Isometry3f T2 = (T * T_kf_r2).cast<float>();
      const float huber_k = static_cast<float>(c.huber_k);
      const float s_i = static_cast<float>(scale_i), s_g = static_cast<float>(scale_g);
      const float gate_f = static_cast<float>(gate);
      const size_t n_first = R.selected.size();
      const size_t n_second = R2 ? R2->selected.size() : 0;
      for (size_t s_idx = 0; s_idx < n_first + n_second; s_idx += (s_idx < n_first ? 1 : 2)) {
        const bool first = s_idx < n_first;
        const Level& Ref = first ? R : *R2;
        const int idx = first ? R.selected[s_idx] : R2->selected[s_idx - n_first];
        const Eigen::Vector3f q =
            first ? Eigen::Vector3f(Rf * R.P[idx] + tf) : Eigen::Vector3f(T2 * R2->P[idx]);
        if (q.z() < c.min_depth_m) continue;
        const float iz = 1.f / q.z();
        const float u = C.fx * q.x() * iz + C.cx, v = C.fy * q.y() * iz + C.cy;
        if (!(u >= 0 && v >= 0 && u < C.w - 1.001f && v < C.h - 1.001f)) continue;
        if (first) ++in_view;
        const int iu = static_cast<int>(u), iv = static_cast<int>(v);
        const float a = u - iu, bb = v - iv;
        const size_t o = static_cast<size_t>(iv) * C.w + iu;
        // u, v >= 0 here, so truncating u + 0.5 rounds (std::lround is a libm call).
        const size_t near =
            static_cast<size_t>(static_cast<int>(v + 0.5f)) * C.w + static_cast<int>(u + 0.5f);
        if (C.masked[near]) {
          if (first) ++occluded;
          continue;
        }
        float area = 1;
        if (inv_far2 > 0) {
          const float z_ref = first ? R.Z[idx] : R2->Z[idx];
          area = std::min(1.f, z_ref * z_ref * inv_far2);
        }
        // Photometric term: intensity and gradients interpolated together.
        {
          const Eigen::Vector4f ig = (1 - bb) * ((1 - a) * C.IG[o] + a * C.IG[o + 1]) +
                                     bb * ((1 - a) * C.IG[o + C.w] + a * C.IG[o + C.w + 1]);
          const float r = ig[0] - Ref.I[idx];
          const float gx = ig[1], gy = ig[2];
          const Eigen::Vector3f g(gx * C.fx * iz, gy * C.fy * iz,
                                  -(gx * C.fx * q.x() + gy * C.fy * q.y()) * iz * iz);
          const Eigen::Matrix<float, 6, 1> J = PoseJacobian(q, g);
          abs_i.push_back(std::abs(r));
          normal.Add(J, r, area * RobustWeight(r / s_i, huber_k) / (s_i * s_i));
          ++n_res;
        }
        // Geometric term: point-to-plane against the current depth.
        const float zc = C.Z[near];
        const Eigen::Vector3f& n = C.N[near];
        if (zc > 0 && n.squaredNorm() > 0.5f && std::abs(zc - q.z()) < gate_f) {
          const float r = n.dot(q - C.P[near]);
          const float z2 = std::max(1.f, q.z() * q.z());
          const float s = s_g * z2;
          abs_g.push_back(std::abs(r) / z2);
          const Eigen::Matrix<float, 6, 1> J = PoseJacobian(q, n);
          normal.Add(J, r, area * RobustWeight(r / s, huber_k) / (s * s));
          ++n_res;
          if (first && std::abs(r) < 3 * s) ++inliers;
        }
      }
      normal.Flush();
      Mat6 H = normal.H();
      Vec6 b = normal.b();
      double cost = normal.cost();
      fit.in_view = in_view, fit.inliers = inliers, fit.iterations = it + 1;
      fit.occluded = occluded;
      if (in_view < 30 || n_res == 0) break;
      auto mad = [](std::vector<float>& v) {
        if (v.size() < 20) return 0.0;
        std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
        return 1.4826 * v[v.size() / 2];
      };
      cost /= n_res;
      if (cost > last_cost) {
        // The step made things worse: undo it and damp more.
        T = last_T, H = last_H, b = last_b, cost = last_cost, fit = last_fit;
        fit.iterations = it + 1;
        lambda *= 10;
        if (lambda > 1e4) break;
      } else {
        lambda = std::max(1e-7, lambda / 3);
        last_cost = cost, last_H = H, last_b = b, last_T = T, last_fit = fit;
        // New scales apply from the next evaluation; the costs compared by
        // the step test then change scale too, so reset the reference.
        const double new_i = std::max(c.sigma_intensity * c.adaptive_floor, mad(abs_i));
        const double new_g = std::max(c.sigma_depth_m * c.adaptive_floor, mad(abs_g));
        if (c.adaptive_scale && (std::abs(new_i - scale_i) > 0.05 * scale_i ||
                                 std::abs(new_g - scale_g) > 0.05 * scale_g)) {
          scale_i = new_i, scale_g = new_g;
          last_cost = std::numeric_limits<double>::infinity();
        }
      }
      Mat6 A = H;
      A.diagonal() += lambda * H.diagonal();
      const Vec6 delta = -A.ldlt().solve(b);
      if (!delta.allFinite()) break;
      T = Orthonormal(SE3Exp(delta) * T);
      if (delta.squaredNorm() < 1e-12) break;
    }
    // The last step was not evaluated: keep the best evaluated pose.
    T = last_T;
    return last_fit.iterations ? last_fit : fit;
  }
};

RgbdOdometry::RgbdOdometry(Config config) : impl_(std::make_unique<Impl>()) {
  const auto problems = config.Validate();
  if (!problems.empty()) throw std::invalid_argument("RgbdOdometry::Config: " + problems.front());
  impl_->c = std::move(config);
}
RgbdOdometry::RgbdOdometry() : RgbdOdometry(Config()) {}
RgbdOdometry::~RgbdOdometry() = default;
RgbdOdometry::RgbdOdometry(RgbdOdometry&&) noexcept = default;
const RgbdOdometry::Config& RgbdOdometry::config() const { return impl_->c; }

void RgbdOdometry::Reset() {
  impl_->keyframe.reset();
  impl_->previous.reset();
  impl_->window.clear();
  impl_->ForgetVelocity();
  impl_->uncompensated_kf.reset();
  impl_->uncompensated_kf_mask.reset();
}

RgbdOdometry::Result RgbdOdometry::Track(const pipeline::RgbdFrame& frame,
                                         const pipeline::Image* mask) {
  const auto t0 = std::chrono::steady_clock::now();
  Impl& s = *impl_;
  Result r;
  auto done = [&]() {
    r.time_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };
  std::string why;
  const int64_t dt_ns = static_cast<int64_t>(frame.meta.stamp_ns) - s.last_stamp_ns;
  const std::optional<Eigen::Isometry3d> depth_to_color =
      s.keyframe ? s.DepthToColor(frame.depth_offset_ns) : std::nullopt;
  std::optional<Pyramid> cur = s.Build(frame, mask, depth_to_color, &why);
  // Without a velocity yet (first frame) the depth stays where it was taken;
  // a keyframe made of it is rebuilt as soon as a velocity is known.
  const bool needs_compensation =
      s.c.compensate_depth_time && frame.depth_offset_ns != 0 && !depth_to_color;
  s.last_stamp_ns = static_cast<int64_t>(frame.meta.stamp_ns);
  const Eigen::Isometry3d predicted = Orthonormal(s.T_world_last * s.velocity);
  if (!cur) {
    r.status = Result::Status::kLost;
    r.message = why;
    r.T_world_cam = predicted;
    s.ForgetVelocity();
    return done();
  }
  if (!s.keyframe) {
    // First frame, or after a loss: this frame anchors tracking at the last
    // known pose.
    s.keyframe = std::move(cur);
    s.RememberIfUncompensated(needs_compensation, frame, mask);
    s.previous.reset();
    s.T_world_kf = s.T_world_last;
    s.ForgetVelocity();
    s.have_last = true;
    r.status = Result::Status::kInitialised;
    r.T_world_cam = s.T_world_kf;
    r.is_keyframe = true;
    r.inlier_fraction = 1;
    r.overlap = 1;
    return done();
  }
  // T maps keyframe coordinates into the current frame.
  Eigen::Isometry3d T = Orthonormal(predicted.inverse() * s.T_world_kf);
  Impl::Fit fit;
  for (int l = static_cast<int>(cur->levels.size()) - 1; l >= 0; --l) {
    // Under fast rotation (blur, shrinking overlap with the keyframe) the
    // previous frame also constrains the motion, at every level.
    const bool two = s.previous && RotationDeg(s.velocity) > s.c.previous_frame_above_deg;
    fit = s.Align(s.keyframe->levels[l], cur->levels[l], l + s.c.finest_level, s.c.iterations[l], T,
                  two ? &s.previous->levels[l] : nullptr, s.T_kf_previous);
    r.iterations += fit.iterations;
  }
  const Eigen::Isometry3d T_world_cur = Orthonormal(s.T_world_kf * T.inverse());
  r.T_world_cam = T_world_cur;
  r.overlap = fit.selected ? double(fit.in_view) / fit.selected : 0;
  // Agreement among the keyframe pixels that could agree: those hidden by a
  // moving object in this frame say nothing about the pose.
  const int comparable = fit.selected - fit.occluded;
  r.inlier_fraction = comparable > 0 ? double(fit.inliers) / comparable : 0;
  const Eigen::Isometry3d jump = predicted.inverse() * T_world_cur;
  // Keyframe pixels this frame could confirm: in view and not hidden by a
  // moving object (or missing depth).
  const double visible = fit.selected ? double(fit.in_view - fit.occluded) / fit.selected : 0;
  if (visible < s.c.min_visible_fraction) {
    // Too little of the scene is visible (a person right in front of the
    // camera, depth mostly missing) to hold the pose, and too little to say
    // tracking failed. The prediction stands in (marked lost: kept out of
    // the map and of references) and the keyframe stays, so tracking
    // resumes against the scene as it was.
    r.status = Result::Status::kLost;
    char msg[160];
    std::snprintf(msg, sizeof msg, "uncertain: %.0f %% of the keyframe visible", 100 * visible);
    r.message = msg;
    r.T_world_cam = predicted;
    s.T_world_last = predicted;
    s.previous.reset();
    ++s.uncertain_frames;
    return done();
  }
  // After frames on the prediction alone, the pose may land farther from it.
  const double slack = 1 + s.uncertain_frames;
  if (!T.matrix().allFinite() || r.inlier_fraction < s.c.lost_min_inliers ||
      jump.translation().norm() > slack * s.c.lost_max_jump_m ||
      RotationDeg(jump) > slack * s.c.lost_max_jump_deg) {
    r.status = Result::Status::kLost;
    char msg[160];
    std::snprintf(msg, sizeof msg, "inliers %.0f %%, jump %.2f m / %.1f deg from the prediction",
                  100 * r.inlier_fraction, jump.translation().norm(), RotationDeg(jump));
    r.message = msg;
    r.T_world_cam = predicted;
    if (s.uncertain_frames < s.c.max_uncertain_frames) {
      // One bad frame (a person filling most of the view, motion blur)
      // should not cut the chain: the prediction stands in and the next
      // frame is aligned to the same keyframe again.
      s.T_world_last = predicted;
      s.previous.reset();
      ++s.uncertain_frames;
      return done();
    }
    // Re-initialise on the next frame from the prediction.
    s.T_world_last = predicted;
    s.keyframe.reset();
    s.previous.reset();
    s.window.clear();  // refinement must not tie new keyframes to the lost chain
    s.uncertain_frames = 0;
    return done();
  }
  r.status = Result::Status::kOk;
  s.uncertain_frames = 0;
  const Eigen::Isometry3d from_kf = T.inverse();
  const bool new_keyframe = from_kf.translation().norm() > s.c.keyframe_translation_m ||
                            RotationDeg(from_kf) > s.c.keyframe_rotation_deg ||
                            r.overlap < s.c.keyframe_min_overlap;
  s.velocity = Orthonormal(s.T_world_last.inverse() * T_world_cur);
  s.velocity_dt_ns = dt_ns;
  // The first keyframe, built before any velocity was known, is rebuilt at
  // the colour's time now.
  if (s.uncompensated_kf) {
    std::string ignored;
    const pipeline::Image* kf_mask = s.uncompensated_kf_mask ? &*s.uncompensated_kf_mask : nullptr;
    if (auto M = s.DepthToColor(s.uncompensated_kf->depth_offset_ns))
      if (auto rebuilt = s.Build(*s.uncompensated_kf, kf_mask, M, &ignored)) {
        s.keyframe = std::move(rebuilt);
      }
    s.uncompensated_kf.reset();
    s.uncompensated_kf_mask.reset();
  }
  s.T_world_last = T_world_cur;
  if (new_keyframe) {
    s.keyframe = std::move(cur);
    s.RememberIfUncompensated(needs_compensation, frame, mask);
    s.previous.reset();  // the new keyframe is this frame
    s.T_world_kf = T_world_cur;
    r.is_keyframe = true;
    if (s.c.window_size >= 2) s.RefineWithWindow(r);
  } else if (s.c.previous_frame_above_deg < 180) {
    s.previous = std::move(cur);
    s.T_kf_previous = from_kf;
  }
  return done();
}

}  // namespace dyn4d::perception
