#include "dyn4d/perception/motion_segmentation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "dyn4d/perception/pose.h"
#include "normal_equations.h"

namespace dyn4d::perception {

std::vector<std::string> DepthNoiseModel::Validate() const {
  std::vector<std::string> p;
  if (!(sigma0_m > 0)) p.push_back("noise_sigma0_m: must be > 0");
  if (!(quadratic_per_m >= 0)) p.push_back("noise_quadratic_per_m: must be >= 0");
  if (!(offset_m >= 0)) p.push_back("noise_offset_m: must be >= 0");
  if (!(peripheral_per_m >= 0)) p.push_back("noise_peripheral_per_m: must be >= 0");
  return p;
}

std::vector<std::string> MotionSegmentationConfig::Validate() const {
  std::vector<std::string> p = noise.Validate();
  if (!(min_depth_m > 0) || !(max_depth_m > min_depth_m))
    p.push_back("min_depth_m, max_depth_m: need 0 < min < max");
  if (!(n_sigma > 0)) p.push_back("n_sigma: must be > 0");
  if (!(pose_sigma_m >= 0) || !(pose_sigma_deg >= 0))
    p.push_back("pose_sigma_m, pose_sigma_deg: must be >= 0");
  if (!(time_uncertainty_s >= 0)) p.push_back("time_uncertainty_s: must be >= 0");
  if (!(edge_rel >= 0)) p.push_back("edge_rel: must be >= 0");
  if (!(min_evidence_area_m2 >= 0) || !(min_region_area_m2 >= 0))
    p.push_back("min_evidence_area_m2, min_region_area_m2: must be >= 0");
  if (!(min_evidence_fraction >= 0 && min_evidence_fraction <= 1))
    p.push_back("min_evidence_fraction: must be in [0, 1]");
  if (!(merge_gap_m >= 0)) p.push_back("merge_gap_m: must be >= 0");
  if (!(max_object_speed_mps > 0)) p.push_back("max_object_speed_mps: must be > 0");
  if (persist_frames < 0) p.push_back("persist_frames: must be >= 0");
  if (min_evidence_frames < 1) p.push_back("min_evidence_frames: must be >= 1");
  if (!(support_min_dt_s >= 0)) p.push_back("support_min_dt_s: must be >= 0");
  return p;
}

double AngularSpeed(const Eigen::Isometry3d& a, const Eigen::Isometry3d& b, double dt_s) {
  if (!(dt_s > 0)) return 0;
  return RotationDeg(a.inverse() * b) * M_PI / 180 / dt_s;
}

DepthView MakeDepthView(const pipeline::RgbdFrame& frame, const Eigen::Isometry3d& T_world_cam,
                        int stride, const MotionSegmentationConfig& c) {
  if (frame.depth.empty() || frame.depth.encoding != pipeline::PixelEncoding::kMono16)
    throw std::invalid_argument("frame " + std::to_string(frame.meta.seq) +
                                ": motion segmentation needs mono16 depth");
  if (!(frame.intrinsics.fx > 0) || !(frame.intrinsics.fy > 0) || !(frame.depth_scale > 0))
    throw std::invalid_argument("frame " + std::to_string(frame.meta.seq) +
                                ": intrinsics or depth_scale not positive");
  if (stride < 1) throw std::invalid_argument("MakeDepthView: stride must be >= 1");
  DepthView v;
  v.stride = stride;
  v.width = frame.depth.width / stride, v.height = frame.depth.height / stride;
  // Pixel centres: working pixel (u, v) covers full pixels [u*s, u*s + s).
  v.fx = frame.intrinsics.fx / stride, v.fy = frame.intrinsics.fy / stride;
  v.cx = (frame.intrinsics.cx + 0.5) / stride - 0.5,
  v.cy = (frame.intrinsics.cy + 0.5) / stride - 0.5;
  v.T_world_cam = T_world_cam;
  v.stamp_ns = frame.meta.stamp_ns;
  v.depth_m.assign(static_cast<size_t>(v.width) * v.height, 0.f);
  const uint16_t* d = frame.depth.data.as<uint16_t>();
  const double scale = 1.0 / frame.depth_scale;
  const int W = frame.depth.width;
  for (int y = 0; y < v.height; ++y)
    for (int x = 0; x < v.width; ++x) {
      float nearest = 0;
      for (int dy = 0; dy < stride; ++dy)
        for (int dx = 0; dx < stride; ++dx) {
          const double m = d[static_cast<size_t>(y * stride + dy) * W + x * stride + dx] * scale;
          if (m >= c.min_depth_m && m <= c.max_depth_m && (nearest == 0 || m < nearest))
            nearest = static_cast<float>(m);
        }
      v.depth_m[static_cast<size_t>(y) * v.width + x] = nearest;
    }
  return v;
}

namespace {

// Running minimum over a window of 2r+1 samples, in O(n) whatever r (van
// Herk / Gil-Werman): block-wise prefix and suffix minima, each output the
// smaller of one suffix and one prefix. Beyond the ends the samples are
// `outside` (+inf: windows clipped; 0: a window reaching out is unknown).
void MinFilter1d(const float* in, float* out, int n, int stride, int r, std::vector<float>& g,
                 std::vector<float>& h, float outside = std::numeric_limits<float>::infinity()) {
  const int k = 2 * r + 1;
  const int padded = n + 2 * r;
  const int blocks = (padded + k - 1) / k;
  const int len = blocks * k;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  g.assign(len, kInf);
  h.assign(len, kInf);
  auto at = [&](int i) {
    return i >= r && i < r + n ? in[static_cast<size_t>(i - r) * stride] : outside;
  };
  for (int b = 0; b < blocks; ++b) {
    const int s = b * k;
    g[s] = at(s);
    for (int i = 1; i < k; ++i) g[s + i] = std::min(g[s + i - 1], at(s + i));
    h[s + k - 1] = at(s + k - 1);
    for (int i = k - 2; i >= 0; --i) h[s + i] = std::min(h[s + i + 1], at(s + i));
  }
  // Output j covers padded indices [j, j + 2r]: suffix from j, prefix to j + 2r.
  for (int j = 0; j < n; ++j) out[static_cast<size_t>(j) * stride] = std::min(h[j], g[j + 2 * r]);
}

// Binary dilation of a w x h mask by a (2r+1)^2 square, O(n) per pass.
std::vector<uint8_t> Dilate(const std::vector<uint8_t>& m, int w, int h, int r) {
  if (r <= 0) return m;
  std::vector<uint8_t> rows(m.size(), 0), out(m.size(), 0);
  std::vector<int> prefix;
  auto pass = [&](const std::vector<uint8_t>& in, std::vector<uint8_t>& o, int n, int count,
                  size_t step, size_t line_step) {
    prefix.assign(n + 1, 0);
    for (int line = 0; line < count; ++line) {
      const size_t base = line * line_step;
      for (int k = 0; k < n; ++k) prefix[k + 1] = prefix[k] + (in[base + k * step] != 0);
      for (int k = 0; k < n; ++k)
        o[base + k * step] = prefix[std::min(n, k + r + 1)] - prefix[std::max(0, k - r)] > 0;
    }
  };
  pass(m, rows, w, h, 1, static_cast<size_t>(w));
  pass(rows, out, h, w, static_cast<size_t>(w), 1);
  return out;
}

// The pixel of `view` (index) on which a point in its camera frame lands,
// if in front of the camera and inside the image.
std::optional<size_t> PixelOf(const DepthView& view, const Eigen::Vector3f& q) {
  if (q.z() <= 0) return std::nullopt;
  const int u = static_cast<int>(std::lround(view.fx * q.x() / q.z() + view.cx));
  const int v = static_cast<int>(std::lround(view.fy * q.y() / q.z() + view.cy));
  if (u < 0 || v < 0 || u >= view.width || v >= view.height) return std::nullopt;
  return static_cast<size_t>(v) * view.width + u;
}

// The time `seconds` before `stamp_ns`.
int64_t Before(int64_t stamp_ns, double seconds) {
  return stamp_ns - static_cast<int64_t>(seconds * 1e9);
}

// Where a prior object is expected in `view`: its points re-projected,
// grown by the image motion an object at `speed` can make since; and, per
// pixel, the depths it can have there (the nearest and farthest predicted
// depth within that reach, widened by the reach and the noise).
struct PriorSeed {
  std::vector<uint8_t> mask;
  std::vector<uint8_t> core;  // where its points land now, before growing
  std::vector<float> z_lo, z_hi;
};
PriorSeed Predict(const MovingObjectPrior& prior, const DepthView& view, double speed,
                  const DepthNoiseModel& noise) {
  PriorSeed p;
  const size_t n = static_cast<size_t>(view.width) * view.height;
  p.mask.assign(n, 0);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::vector<float> near(n, kInf), far(n, kInf);  // far holds -depth, so both are minima
  const Eigen::Isometry3f T_cw = view.T_world_cam.inverse().cast<float>();
  double dt = (view.stamp_ns - prior.stamp_ns) * 1e-9;
  if (!(dt > 0 && dt < 0.5)) dt = 1.0 / 30;
  // Constant velocity: where the object's points are now.
  const Eigen::Vector3f shift = (prior.velocity_world * dt).cast<float>();
  bool any = false;
  for (const Eigen::Vector3f& X : prior.world_points) {
    const Eigen::Vector3f q = T_cw * (X + shift);
    const std::optional<size_t> pixel = PixelOf(view, q);
    if (!pixel) continue;
    const size_t i = *pixel;
    p.mask[i] = 1;
    near[i] = std::min(near[i], q.z());
    far[i] = std::min(far[i], -q.z());
    any = true;
  }
  if (!any) return p;
  const double reach = speed * dt;  // metres the object may have moved
  const double median = std::max(0.1, prior.median_depth_m);
  const int r = std::clamp(static_cast<int>(std::ceil(view.fx * reach / median)) + 1, 1,
                           std::max(1, view.width / 8));
  p.core = Dilate(p.mask, view.width, view.height, 1);
  p.mask = Dilate(p.mask, view.width, view.height, r);
  std::vector<float> tmp(n), g, h;
  auto min_filter = [&](std::vector<float>& img) {
    for (int y = 0; y < view.height; ++y)
      MinFilter1d(img.data() + static_cast<size_t>(y) * view.width,
                  tmp.data() + static_cast<size_t>(y) * view.width, view.width, 1, r, g, h);
    for (int x = 0; x < view.width; ++x)
      MinFilter1d(tmp.data() + x, img.data() + x, view.height, view.width, r, g, h);
  };
  min_filter(near);
  min_filter(far);
  p.z_lo.assign(n, 0.f);
  p.z_hi.assign(n, 0.f);
  for (size_t i = 0; i < n; ++i) {
    if (!p.mask[i] || !std::isfinite(near[i]) || !std::isfinite(far[i])) {
      p.mask[i] = p.core[i] = 0;
      continue;
    }
    p.z_lo[i] = static_cast<float>(near[i] - reach - 3 * noise.Sigma(near[i]));
    p.z_hi[i] = static_cast<float>(-far[i] + reach + 3 * noise.Sigma(-far[i]));
  }
  return p;
}

// Where an object stands still: the pixels on which its points of an
// earlier frame land unmoved, on the same surface (depth within
// `tolerance` of the point's), and the share of those points seen there
// among the ones that land on a pixel with depth. An object that left shows
// what was behind it (farther); one hidden by another, something nearer.
struct Unmoved {
  std::vector<uint8_t> mask;
  double fraction = 0;
};
template <typename Tolerance>
Unmoved StillThere(const std::vector<Eigen::Vector3f>& points, const DepthView& view,
                   Tolerance tolerance) {
  Unmoved out;
  out.mask.assign(static_cast<size_t>(view.width) * view.height, 0);
  const Eigen::Isometry3f T_cw = view.T_world_cam.inverse().cast<float>();
  int seen = 0, same = 0;
  for (const Eigen::Vector3f& X : points) {
    const Eigen::Vector3f q = T_cw * X;
    const std::optional<size_t> pixel = PixelOf(view, q);
    if (!pixel) continue;
    const size_t i = *pixel;
    const float z = view.depth_m[i];
    if (z <= 0) continue;
    ++seen;
    if (std::abs(z - q.z()) > tolerance(std::min(z, q.z()))) continue;
    ++same;
    out.mask[i] = 1;
  }
  out.fraction = seen > 0 ? static_cast<double>(same) / seen : 0;
  return out;
}

}  // namespace

const std::vector<float>& ReferenceView::MinFiltered(int radius) const {
  if (radius <= 0) return view_.depth_m;
  auto it = min_filtered_.find(radius);
  if (it != min_filtered_.end()) return it->second;
  const int w = view_.width, h = view_.height;
  std::vector<float> rows(view_.depth_m.size()), out(view_.depth_m.size());
  std::vector<float> g, hh;
  // A window reaching beyond the image is unknown: what this view did not
  // see there may be the nearer surface.
  for (int y = 0; y < h; ++y)
    MinFilter1d(view_.depth_m.data() + static_cast<size_t>(y) * w,
                rows.data() + static_cast<size_t>(y) * w, w, 1, radius, g, hh, 0.f);
  for (int x = 0; x < w; ++x)
    MinFilter1d(rows.data() + x, out.data() + x, h, w, radius, g, hh, 0.f);
  return min_filtered_.emplace(radius, std::move(out)).first->second;
}

const std::vector<Eigen::Vector3f>& ReferenceView::Normals() const {
  if (!normals_.empty() || view_.depth_m.empty()) return normals_;
  const int w = view_.width, h = view_.height;
  const std::vector<float>& z = view_.depth_m;
  normals_.assign(z.size(), Eigen::Vector3f::Zero());
  auto point = [&](int u, int v) {
    const float d = z[static_cast<size_t>(v) * w + u];
    return Eigen::Vector3f((u - view_.cx) / view_.fx * d, (v - view_.cy) / view_.fy * d, d);
  };
  for (int v = 1; v < h - 1; ++v)
    for (int u = 1; u < w - 1; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      const float d = z[i], l = z[i - 1], r = z[i + 1], t = z[i - w], b = z[i + w];
      if (d <= 0 || l <= 0 || r <= 0 || t <= 0 || b <= 0) continue;
      const float edge = 0.05f * d;  // central differences across a depth edge mean nothing
      if (std::abs(r - l) > 2 * edge || std::abs(b - t) > 2 * edge) continue;
      Eigen::Vector3f n =
          (point(u + 1, v) - point(u - 1, v)).cross(point(u, v + 1) - point(u, v - 1));
      const float len = n.norm();
      if (!(len > 1e-12f)) continue;
      n /= len;
      if (n.dot(point(u, v)) > 0) n = -n;  // towards the camera
      normals_[i] = n;
    }
  return normals_;
}

std::vector<uint8_t> MotionSegmentation::Mask() const {
  std::vector<uint8_t> m(label.size(), 0);
  for (size_t i = 0; i < label.size(); ++i) m[i] = label[i] >= 0;
  return m;
}

MotionSegmenter::MotionSegmenter(MotionSegmentationConfig config) : config_(std::move(config)) {
  const auto problems = config_.Validate();
  if (!problems.empty())
    throw std::invalid_argument("MotionSegmentationConfig: " + problems.front());
}

int MotionSegmenter::WindowRadius(const DepthView& current, const DepthView& ref) const {
  const double angle =
      config_.pose_sigma_deg * M_PI / 180 +
      (current.angular_speed_rad_s + ref.angular_speed_rad_s) * config_.time_uncertainty_s;
  const double px = std::max(ref.fx, ref.fy) * angle;
  // Quantised, so that references keep few filtered copies.
  static constexpr int kRadii[] = {1, 2, 3, 4, 6, 8, 11, 16};
  for (int r : kRadii)
    if (px <= r) return r;
  return 16;
}

Eigen::Isometry3d MotionSegmenter::AlignToReference(const DepthView& cur, const ReferenceView& ref,
                                                    bool* refined,
                                                    const std::vector<uint8_t>* exclude,
                                                    const Eigen::Isometry3d* other_start) const {
  using internal::Mat6;
  using internal::Vec6;
  const DepthView& rv = ref.view();
  Eigen::Isometry3d start = rv.T_world_cam.inverse() * cur.T_world_cam;
  if (refined) *refined = false;
  const std::vector<Eigen::Vector3f>& normals = ref.Normals();
  if (normals.empty() || cur.depth_m.empty()) return start;
  // Samples on a grid (about 2000; six unknowns need far fewer, the rest
  // are for robustness to what moves).
  std::vector<Eigen::Vector3f> samples;
  const int grid = std::max(1, static_cast<int>(std::sqrt(cur.width * cur.height / 2000.0)));
  for (int v = grid / 2; v < cur.height; v += grid)
    for (int u = grid / 2; u < cur.width; u += grid) {
      const size_t i = static_cast<size_t>(v) * cur.width + u;
      const float d = cur.depth_m[i];
      if (exclude && i < exclude->size() && (*exclude)[i]) continue;
      if (d > 0) samples.emplace_back((u - cur.cx) / cur.fx * d, (v - cur.cy) / cur.fy * d, d);
    }
  if (samples.size() < 50) return start;
  // Agreeing samples at a pose (|residual| within 3 sigma), and the robust
  // normal equations there. Cauchy kernel on the residual in noise sigmas:
  // a moving object's points lose their pull with distance instead of
  // keeping a constant one. Every sample then counts alike: weighting by
  // 1 / sigma^2 as well would let a person a metre from the camera outweigh
  // the room behind them 60 to 1 (their depth is that much less noisy), and
  // the alignment would follow the person.
  struct Eval {
    int inliers = 0;
    Mat6 H = Mat6::Zero();
    Vec6 b = Vec6::Zero();
  };
  constexpr double kCauchy = 2.3849;
  auto evaluate = [&](const Eigen::Isometry3d& T) {
    Eval e;
    internal::NormalEquations normal;
    const Eigen::Matrix3f R = T.linear().cast<float>();
    const Eigen::Vector3f t = T.translation().cast<float>();
    for (const Eigen::Vector3f& X : samples) {
      const Eigen::Vector3f x = R * X + t;
      if (x.z() < config_.min_depth_m) continue;
      const float fu = rv.fx * x.x() / x.z() + rv.cx + 0.5f,
                  fv = rv.fy * x.y() / x.z() + rv.cy + 0.5f;
      if (!(fu >= 0 && fv >= 0 && fu < rv.width && fv < rv.height)) continue;
      const int u = static_cast<int>(fu), v = static_cast<int>(fv);
      const size_t k = static_cast<size_t>(v) * rv.width + u;
      const float zr = rv.depth_m[k];
      const Eigen::Vector3f& n = normals[k];
      if (zr <= 0 || n.squaredNorm() < 0.5f) continue;
      // Association gate: odometry drift is centimetres; beyond this the
      // pair is an occlusion or a moving object.
      if (std::abs(x.z() - zr) > 0.05f + 0.05f * zr) continue;
      const Eigen::Vector3f Xr((u - rv.cx) / rv.fx * zr, (v - rv.cy) / rv.fy * zr, zr);
      const float r = n.dot(x - Xr);
      const float s = static_cast<float>(config_.noise.Sigma(zr, rv.Rho2(u, v)) + 0.002);
      const float q = r / (static_cast<float>(kCauchy) * s);
      if (std::abs(r) < 3 * s) ++e.inliers;
      normal.Add(internal::PoseJacobian(x, n), r, 1.f / (1.f + q * q));
    }
    normal.Flush();
    e.H = normal.H();
    e.b = normal.b();
    return e;
  };
  Eval at_start = evaluate(start);
  if (other_start) {
    const Eval at_other = evaluate(*other_start);
    if (at_other.inliers > at_start.inliers) start = *other_start, at_start = at_other;
  }
  Eigen::Isometry3d T = start;
  Eval e = at_start;
  for (int it = 0; it < 6 && e.inliers >= 50; ++it) {
    // Damped: directions the scene does not constrain (a wall slides along
    // itself) stay where odometry put them.
    Mat6 A = e.H;
    A.diagonal() += 1e-3 * e.H.diagonal() + Vec6::Constant(1e-6 * e.H.trace());
    const Vec6 delta = -A.ldlt().solve(e.b);
    if (!delta.allFinite()) break;
    T = SE3Exp(delta) * T;
    e = evaluate(T);
    if (delta.head<3>().norm() < 1e-4 && delta.tail<3>().norm() < 1e-4) break;
  }
  // A correction beyond what odometry drift explains means the alignment
  // (or the odometry) went wrong: the reference is not used. Otherwise the
  // refinement stands if it makes the views agree better, and the reference
  // is used when enough of it agrees.
  const Eigen::Isometry3d correction = start.inverse() * T;
  if (correction.translation().norm() > 0.15 || RotationDeg(correction) > 5) return start;
  const bool better = e.inliers > at_start.inliers;
  if (!better) T = start;
  const int inliers = better ? e.inliers : at_start.inliers;
  if (inliers < std::max<int>(50, static_cast<int>(0.3 * samples.size()))) return start;
  if (refined) *refined = true;
  return T;
}

namespace {

struct Candidate {
  std::vector<int> pixels;
  int evidence = 0;
  double prior_area = 0;          // area of pixels seeded by a prior object
  int prior_frames = -1;          // fewest frames without evidence among those priors (-1 none)
  int prior_evidence_frames = 0;  // most frames with evidence among them
  int identity = -1;              // the established prior most of it came from, -1 none
  double area = 0, evidence_area = 0;
  int u0 = 0, v0 = 0, u1 = -1, v1 = -1;
  float z_lo = 0, z_hi = 0;  // 5th / 95th percentile of depth
};

int Find(std::vector<int>& parent, int a) {
  while (parent[a] != a) a = parent[a] = parent[parent[a]];
  return a;
}

}  // namespace

std::vector<uint8_t> MotionSegmenter::PredictMask(const std::vector<MovingObjectPrior>& priors,
                                                  const DepthView& view) const {
  std::vector<uint8_t> mask(static_cast<size_t>(view.width) * view.height, 0);
  for (const MovingObjectPrior& prior : priors) {
    const PriorSeed p = Predict(prior, view, config_.max_object_speed_mps, config_.noise);
    for (size_t i = 0; i < mask.size(); ++i) mask[i] |= p.mask[i];
  }
  return mask;
}

std::vector<MovingObjectPrior> MotionSegmenter::Carry(
    const MotionSegmentation& seg, const DepthView& cur,
    const std::vector<MovingObjectPrior>& priors) const {
  std::vector<MovingObjectPrior> out(seg.regions.size());
  for (size_t k = 0; k < seg.regions.size(); ++k) {
    const int before = seg.regions[k].continues;
    if (before >= 0 && before < static_cast<int>(priors.size())) {
      // Its history goes on: the earlier frames' surfaces and the last
      // frame's, without those older than the newest one at least
      // support_min_dt_s back.
      const MovingObjectPrior& p = priors[before];
      out[k].has_moved = seg.regions[k].has_moved;
      out[k].displaced_frames = seg.regions[k].displaced_frames;
      std::vector<std::shared_ptr<const MovingObjectPrior::Snapshot>>& h = out[k].history;
      h = p.history;
      h.push_back(std::make_shared<const MovingObjectPrior::Snapshot>(
          MovingObjectPrior::Snapshot{p.stamp_ns, p.world_points}));
      const int64_t horizon = Before(cur.stamp_ns, config_.support_min_dt_s);
      size_t first = 0;
      while (first + 1 < h.size() && h[first + 1]->stamp_ns <= horizon) ++first;
      h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(first));
    }
    out[k].median_depth_m = seg.regions[k].median_depth_m;
    out[k].frames_without_evidence = seg.regions[k].frames_without_evidence;
    out[k].evidence_frames = seg.regions[k].evidence_frames;
    out[k].stamp_ns = cur.stamp_ns;
    const MotionRegion& r = seg.regions[k];
    out[k].centroid_world = {r.centroid_world[0], r.centroid_world[1], r.centroid_world[2]};
    out[k].velocity_world = {r.velocity_world[0], r.velocity_world[1], r.velocity_world[2]};
  }
  if (seg.label.size() != cur.depth_m.size()) return out;
  const Eigen::Isometry3f T_wc = cur.T_world_cam.cast<float>();
  for (size_t i = 0; i < seg.label.size(); ++i) {
    const int k = seg.label[i];
    if (k < 0 || k >= static_cast<int>(out.size())) continue;
    const int u = static_cast<int>(i % cur.width), v = static_cast<int>(i / cur.width);
    const float z = cur.depth_m[i];
    if (z > 0)
      out[k].world_points.push_back(
          T_wc * Eigen::Vector3f((u - cur.cx) / cur.fx * z, (v - cur.cy) / cur.fy * z, z));
  }
  return out;
}

MotionSegmentation MotionSegmenter::Segment(const DepthView& cur,
                                            const std::vector<const ReferenceView*>& references,
                                            int full_width, int full_height,
                                            const std::vector<MovingObjectPrior>& priors) const {
  const MotionSegmentationConfig& c = config_;
  MotionSegmentation out;
  const int w = cur.width, h = cur.height;
  const size_t n = static_cast<size_t>(w) * h;
  out.width = w, out.height = h;
  out.evidence.assign(n, MotionEvidence::kInvalid);
  out.label.assign(n, -1);
  if (n == 0 || cur.depth_m.size() != n) return out;
  const std::vector<float>& z = cur.depth_m;
  const double edge_k = c.n_sigma * std::sqrt(2.0);
  auto step = [&](float d) { return edge_k * c.noise.Sigma(d) + c.edge_rel * d; };

  // 1. Flying pixels: next to a depth step in any direction.
  for (int v = 0; v < h; ++v)
    for (int u = 0; u < w; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      if (z[i] <= 0) continue;
      out.evidence[i] = MotionEvidence::kUnknown;
      const float s = step(z[i]);
      for (int dv = -1; dv <= 1 && out.evidence[i] != MotionEvidence::kEdge; ++dv)
        for (int du = -1; du <= 1; ++du) {
          const int uu = u + du, vv = v + dv;
          if (uu < 0 || vv < 0 || uu >= w || vv >= h) continue;
          const float zj = z[static_cast<size_t>(vv) * w + uu];
          if (zj > 0 && std::abs(zj - z[i]) > s) {
            out.evidence[i] = MotionEvidence::kEdge;
            break;
          }
        }
    }

  // 2. The free-space test against each reference.
  struct Ref {
    const DepthView* view;
    const std::vector<float>* min_depth;
    Eigen::Matrix3f R;
    Eigen::Vector3f t;
    bool far_in_time;  // far enough in time for agreement to mean "static" for sure
    bool earlier;      // taken before the current view
  };
  // Where the previous frame's objects are expected now.
  std::vector<PriorSeed> predicted;
  std::vector<uint8_t> expected(n, 0);  // where any carried object may be now
  for (const MovingObjectPrior& prior : priors) {
    if (prior.frames_without_evidence >= c.persist_frames) continue;
    predicted.push_back(Predict(prior, cur, c.max_object_speed_mps, c.noise));
    for (size_t i = 0; i < n; ++i) expected[i] |= predicted.back().mask[i];
  }
  // References are aligned from the nearest in time outwards, on each side
  // of the current view. Odometry's error grows with the time between two
  // views, past what one alignment can take back (a decimetre off along a
  // wall, a desk leg a metre in front of it lands on the wall and no longer
  // pulls), but it grows little between neighbouring references: each
  // reference also tries the correction its nearer neighbour on the same
  // side needed, and starts from whichever of the two agrees better.
  auto usable = [&](const ReferenceView* r) {
    return r && !r->view().depth_m.empty() && r->view().stamp_ns != cur.stamp_ns;
  };
  std::vector<size_t> order;
  for (size_t k = 0; k < references.size(); ++k)
    if (usable(references[k])) order.push_back(k);
  auto apart = [&](size_t k) { return std::abs(references[k]->view().stamp_ns - cur.stamp_ns); };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return apart(a) < apart(b); });
  std::vector<std::optional<Eigen::Isometry3d>> aligned(references.size());
  // The last correction found on each side (none yet: odometry's start only).
  std::optional<Eigen::Isometry3d> correction_before, correction_after;
  for (size_t k : order) {
    const ReferenceView& r = *references[k];
    const Eigen::Isometry3d odometry = r.view().T_world_cam.inverse() * cur.T_world_cam;
    if (!config_.refine_poses) {
      aligned[k] = odometry;
      continue;
    }
    std::optional<Eigen::Isometry3d>& correction =
        r.view().stamp_ns < cur.stamp_ns ? correction_before : correction_after;
    std::optional<Eigen::Isometry3d> neighbours;
    if (correction) neighbours = *correction * odometry;
    bool refined = false;
    const Eigen::Isometry3d T_rc =
        AlignToReference(cur, r, &refined, &expected, neighbours ? &*neighbours : nullptr);
    if (!refined) continue;
    aligned[k] = T_rc;
    correction = T_rc * odometry.inverse();
  }
  std::vector<Ref> refs;
  for (size_t k = 0; k < references.size(); ++k) {
    const ReferenceView* r = references[k];
    if (!usable(r)) continue;
    if (!aligned[k]) {
      ++out.unaligned;
      continue;
    }
    const Eigen::Isometry3d& T_rc = *aligned[k];
    out.refined += config_.refine_poses;
    const double dt = std::abs(static_cast<double>(r->view().stamp_ns - cur.stamp_ns)) * 1e-9;
    refs.push_back({&r->view(), &r->MinFiltered(WindowRadius(cur, r->view())),
                    T_rc.linear().cast<float>(), T_rc.translation().cast<float>(),
                    dt >= c.support_min_dt_s, r->view().stamp_ns < cur.stamp_ns});
  }
  out.references = static_cast<int>(refs.size());
  const double pose_var = c.pose_sigma_m * c.pose_sigma_m;
  std::vector<uint8_t> violation(n, 0);
  // Static support from a view far in time: the surface stayed put for that
  // long. Support from a view a moment away may be a moving object agreeing
  // with itself.
  std::vector<uint8_t> firm_static(n, 0);
  std::vector<uint8_t> firm_before(n, 0);  // ... from a view taken that long before
  std::vector<uint8_t> seen_before(n, 0);  // a view taken that long before saw a surface here
  for (int v = 0; v < h && !refs.empty(); ++v)
    for (int u = 0; u < w; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      if (out.evidence[i] == MotionEvidence::kInvalid) continue;
      const float zi = z[i];
      const Eigen::Vector3f X((u - cur.cx) / cur.fx * zi, (v - cur.cy) / cur.fy * zi, zi);
      const double sigma_i = c.noise.Sigma(zi, cur.Rho2(u, v));
      bool seen = false, supported = false, firmly_supported = false, through = false;
      bool supported_before = false, saw_before = false;
      for (const Ref& ref : refs) {
        const Eigen::Vector3f x = ref.R * X + ref.t;
        if (x.z() < c.min_depth_m) continue;
        const DepthView& rv = *ref.view;
        const float fu = rv.fx * x.x() / x.z() + rv.cx + 0.5f;
        const float fv = rv.fy * x.y() / x.z() + rv.cy + 0.5f;
        if (!(fu >= 0 && fv >= 0 && fu < rv.width && fv < rv.height)) continue;
        const size_t k = static_cast<size_t>(fv) * rv.width + static_cast<size_t>(fu);
        const float z_near = (*ref.min_depth)[k], z_here = rv.depth_m[k];
        const float zp = x.z();
        const double rho2 = rv.Rho2(fu - 0.5, fv - 0.5);
        if (z_here > 0) {
          const double s = c.noise.Sigma(z_here, rho2);
          const double thr = c.n_sigma * std::sqrt(sigma_i * sigma_i + s * s + pose_var);
          seen = true;
          saw_before |= ref.far_in_time && ref.earlier;
          if (std::abs(z_here - zp) < thr) {
            supported = true;
            firmly_supported |= ref.far_in_time;
            supported_before |= ref.far_in_time && ref.earlier;
          }
        }
        if (z_near > 0) {
          const double s = c.noise.Sigma(z_near, rho2);
          const double thr = c.n_sigma * std::sqrt(sigma_i * sigma_i + s * s + pose_var);
          if (z_near - zp > thr) {
            through = true;
            break;
          }
        }
      }
      if (seen || through) ++out.tested;
      if (out.evidence[i] == MotionEvidence::kEdge) continue;  // flying pixels are no evidence
      if (through) {
        violation[i] = 1;
      } else if (supported) {
        out.evidence[i] = MotionEvidence::kStatic;
        firm_static[i] = firmly_supported;
        firm_before[i] = supported_before;
        seen_before[i] = saw_before;
      }
    }
  // 2b. The other way round: reference points that the current view sees
  // through have moved away. Where the current view sees a surface behind
  // such a point by no more than an object could have receded since, that
  // surface is the object now (a person walking away from the camera only
  // ever moves into space the references saw as occluded, so the forward
  // test never flags them); a surface farther behind is what the object
  // uncovered.
  if (c.backward_test && !refs.empty()) {
    const ReferenceView cur_ref(cur);
    for (const Ref& ref : refs) {
      const DepthView& rv = *ref.view;
      const Eigen::Matrix3f Rcr = ref.R.transpose();
      const Eigen::Vector3f tcr = -(Rcr * ref.t);
      const std::vector<float>& near = cur_ref.MinFiltered(WindowRadius(rv, cur));
      const double dt = std::abs(static_cast<double>(cur.stamp_ns - rv.stamp_ns)) * 1e-9;
      const double reach = c.max_object_speed_mps * std::max(dt, 1.0 / 30);
      for (int v = 1; v < rv.height - 1; ++v)
        for (int u = 1; u < rv.width - 1; ++u) {
          const size_t k = static_cast<size_t>(v) * rv.width + u;
          const float zr = rv.depth_m[k];
          if (zr <= 0) continue;
          // Not a flying pixel of the reference.
          const float sr = step(zr);
          const float nb[4] = {rv.depth_m[k - 1], rv.depth_m[k + 1], rv.depth_m[k - rv.width],
                               rv.depth_m[k + rv.width]};
          bool edge = false;
          for (float q : nb) edge |= q > 0 && std::abs(q - zr) > sr;
          if (edge) continue;
          const Eigen::Vector3f X((u - rv.cx) / rv.fx * zr, (v - rv.cy) / rv.fy * zr, zr);
          const Eigen::Vector3f x = Rcr * X + tcr;
          if (x.z() < c.min_depth_m) continue;
          const float fu = cur.fx * x.x() / x.z() + cur.cx + 0.5f;
          const float fv = cur.fy * x.y() / x.z() + cur.cy + 0.5f;
          if (!(fu >= 0 && fv >= 0 && fu < w && fv < h)) continue;
          const size_t i = static_cast<size_t>(fv) * w + static_cast<size_t>(fu);
          const float zc_near = near[i];
          if (zc_near <= 0) continue;
          const double sx = c.noise.Sigma(x.z(), rv.Rho2(u, v));
          const double sc = c.noise.Sigma(zc_near, cur.Rho2(fu - 0.5, fv - 0.5));
          const double thr = c.n_sigma * std::sqrt(sx * sx + sc * sc + pose_var);
          if (zc_near - x.z() <= thr) continue;      // not seen through
          if (z[i] - x.z() > reach + thr) continue;  // uncovered background
          const MotionEvidence e = out.evidence[i];
          if (e == MotionEvidence::kInvalid || e == MotionEvidence::kEdge ||
              e == MotionEvidence::kStatic)
            continue;
          violation[i] = 1;
        }
    }
  }
  // Isolated violations are noise: at least 4 of the 3x3 neighbourhood agree.
  for (int v = 0; v < h; ++v)
    for (int u = 0; u < w; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      if (!violation[i]) continue;
      int agree = 0;
      for (int dv = -1; dv <= 1; ++dv)
        for (int du = -1; du <= 1; ++du) {
          const int uu = u + du, vv = v + dv;
          if (uu >= 0 && vv >= 0 && uu < w && vv < h)
            agree += violation[static_cast<size_t>(vv) * w + uu];
        }
      if (agree >= 4) {
        out.evidence[i] = MotionEvidence::kMoving;
        ++out.violations;
      }
    }

  // Where the previous frame's objects are expected, at a depth they can
  // have: seeds too (pixel -> the prior with the fewest frames without
  // evidence among those expected there).
  std::vector<int> prior_seed(n, -1);
  std::vector<uint8_t> seed_in_core(n, 0);  // the seed's prior landed right there
  std::vector<uint8_t> carried_core(n, 0);  // seeds of carried objects, static support or not
  // What each prior did, for the regions that continue it.
  struct PriorMotion {
    int displaced_frames = 0;
    bool moved = false, stopped = false;
  };
  std::vector<PriorMotion> prior_motion(priors.size());
  // The prior whose own surface lands on each pixel (at a depth it can
  // have), whatever the evidence there; -1 none, -2 more than one.
  std::vector<int> core_of(n, -1);
  for (size_t k = 0, kp = 0; k < priors.size(); ++k) {
    const MovingObjectPrior& prior = priors[k];
    if (prior.frames_without_evidence >= c.persist_frames) continue;
    const PriorSeed& p = predicted[kp++];
    // Moved before, static now. An object that moved (its surface of
    // support_min_dt_s ago was not where it is now, frame after frame) and
    // then stops is agreed with by the views taken after it stopped: that
    // says it stays there, not that it is part of the room. Only a view
    // from before it came can say that (it saw the same surface there
    // then); where no such view saw the place at all, agreement from either
    // side counts, as for any object. Once its surface of support_min_dt_s
    // ago is where it is now (it stopped), the pixels of its own last
    // surface stay it. Something that never moved (a chair once taken for
    // an object) is not kept this way, and the floor a moving object touched
    // stays behind: views from before saw it there.
    PriorMotion& motion = prior_motion[k];
    motion.displaced_frames = prior.displaced_frames;
    motion.moved = prior.has_moved;
    Unmoved stopped;
    const int64_t horizon = Before(cur.stamp_ns, c.support_min_dt_s);
    if (prior.evidence_frames >= c.min_evidence_frames && !prior.history.empty() &&
        prior.history.front()->stamp_ns <= horizon) {
      const bool here = StillThere(prior.history.front()->world_points, cur, step).fraction >= 0.5;
      // Moved: away from where it was, frame after frame, for as long as
      // the history reaches back (a region that once took in part of
      // someone passing by is displaced in a frame or two, not for that
      // long).
      if (!here) ++motion.displaced_frames;
      motion.moved |= motion.displaced_frames >= static_cast<int>(prior.history.size());
      if (prior.has_moved && here) stopped = StillThere(prior.world_points, cur, step);
    }
    motion.stopped = !stopped.mask.empty();
    for (size_t i = 0; i < n; ++i) {
      if (!p.mask[i] || z[i] < p.z_lo[i] || z[i] > p.z_hi[i]) continue;
      if (p.core[i]) core_of[i] = core_of[i] == -1 ? static_cast<int>(k) : -2;
      const MotionEvidence e = out.evidence[i];
      if (e == MotionEvidence::kInvalid || e == MotionEvidence::kEdge) continue;
      // Where the object itself was a moment ago, a view taken then agrees
      // with it: that is no sign of a static surface (unless a view from
      // long before or after agrees too, the room; for an object that
      // moved, see above).
      const bool still_there = motion.stopped && stopped.mask[i];
      const bool room =
          motion.moved ? firm_before[i] || (firm_static[i] && !seen_before[i]) : firm_static[i];
      if (e == MotionEvidence::kStatic && (!p.core[i] || room) && !still_there) continue;
      carried_core[i] = 1;
      // Where two objects may be, the one whose points landed there (not
      // merely within reach), then the one seen more recently.
      const bool better =
          prior_seed[i] < 0 || p.core[i] > seed_in_core[i] ||
          (p.core[i] == seed_in_core[i] &&
           prior.frames_without_evidence < priors[prior_seed[i]].frames_without_evidence);
      if (better) prior_seed[i] = static_cast<int>(k), seed_in_core[i] = p.core[i];
    }
  }

  // 3. Regions grown from the violations (and the carried objects) over
  // depth-continuous pixels that no reference saw as static.
  std::vector<Candidate> cands;
  std::vector<int> region(n, -1), stack;
  // The established object (a prior with evidence in enough frames) whose
  // seed a pixel is, or -1.
  auto established = [&](size_t i) {
    const int p = prior_seed[i];
    return p >= 0 && priors[p].evidence_frames >= c.min_evidence_frames ? p : -1;
  };
  auto pixel_area = [&](float d) { return (d / cur.fx) * (d / cur.fy); };
  // Violations seed first and grow freely; carried objects (seeds without
  // violations) then grow only where they may be now.
  for (size_t k = 0; k < 2 * n; ++k) {
    const size_t seed = k % n;
    const bool carried = k >= n;
    if (region[seed] >= 0) continue;
    if (!carried && out.evidence[seed] != MotionEvidence::kMoving) continue;
    if (carried && prior_seed[seed] < 0) continue;
    const int id = static_cast<int>(cands.size());
    cands.emplace_back();
    Candidate& cand = cands.back();
    region[seed] = id;
    stack.assign(1, static_cast<int>(seed));
    // Growth stays on one established object: pixels where another one is
    // expected (and at its depth) belong to that one, even where the two
    // touch at the same depth.
    int grown_on = established(seed);
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      cand.pixels.push_back(i);
      // Flying pixels join the region they touch but lead nowhere: chains
      // of them run along every depth edge.
      if (out.evidence[i] == MotionEvidence::kEdge) continue;
      const int u = i % w, v = i / w;
      const int nb[4][2] = {{u - 1, v}, {u + 1, v}, {u, v - 1}, {u, v + 1}};
      for (const auto& q : nb) {
        if (q[0] < 0 || q[1] < 0 || q[0] >= w || q[1] >= h) continue;
        const int j = q[1] * w + q[0];
        if (region[j] >= 0) continue;
        const MotionEvidence e = out.evidence[j];
        if (e == MotionEvidence::kInvalid) continue;
        if (e == MotionEvidence::kStatic && !carried_core[j]) continue;
        if (carried && !expected[j]) continue;
        if (std::abs(z[j] - z[i]) > step(std::min(z[i], z[j]))) continue;
        const int other = established(j);
        if (other >= 0) {
          if (grown_on >= 0 && other != grown_on) continue;
          grown_on = other;
        }
        region[j] = id;
        stack.push_back(j);
      }
    }
    std::vector<float> depths;
    depths.reserve(cand.pixels.size());
    cand.u0 = w, cand.v0 = h;
    for (int i : cand.pixels) {
      const int u = i % w, v = i / w;
      cand.u0 = std::min(cand.u0, u), cand.u1 = std::max(cand.u1, u);
      cand.v0 = std::min(cand.v0, v), cand.v1 = std::max(cand.v1, v);
      const double a = pixel_area(z[i]);
      cand.area += a;
      // Evidence counts in the interior of the violations only: a band one
      // or two pixels wide along a depth edge is what a small misalignment
      // or a thin structure produces, never a whole object.
      if (out.evidence[i] == MotionEvidence::kMoving) {
        ++cand.evidence;
        bool interior = u > 0 && v > 0 && u < w - 1 && v < h - 1;
        for (int dv = -1; dv <= 1 && interior; ++dv)
          for (int du = -1; du <= 1; ++du)
            interior &=
                out.evidence[static_cast<size_t>(v + dv) * w + u + du] == MotionEvidence::kMoving;
        if (interior) cand.evidence_area += a;
      }
      if (prior_seed[i] >= 0) {
        const MovingObjectPrior& prior = priors[prior_seed[i]];
        cand.prior_area += a;
        if (cand.prior_frames < 0 || prior.frames_without_evidence < cand.prior_frames)
          cand.prior_frames = prior.frames_without_evidence;
        cand.prior_evidence_frames = std::max(cand.prior_evidence_frames, prior.evidence_frames);
      }
      depths.push_back(z[i]);
    }
    // Which established object this part continues, by the most pixels
    // seeded from it.
    std::map<int, int> seeded_by;
    for (int i : cand.pixels)
      if (const int p = established(i); p >= 0) ++seeded_by[p];
    int most = 0;
    for (const auto& [prior, count] : seeded_by)
      if (count > most) most = count, cand.identity = prior;
    std::sort(depths.begin(), depths.end());
    cand.z_lo = depths[depths.size() / 20];
    cand.z_hi = depths[depths.size() - 1 - depths.size() / 20];
  }

  // 4. One object from parts of it that a depth step split off (an arm in
  // front of the body, crossed arms between chest and legs, a head): regions
  // that meet in the image along a border where their depths differ by less
  // than merge_gap_m. A person behind another, a metre away, stays apart;
  // so do two objects that were seen apart for several frames and now touch
  // (a box passing in front of another): parts are merged most-contact
  // first, and never two that continue different established objects.
  std::vector<int> parent(cands.size()), identity(cands.size());
  std::iota(parent.begin(), parent.end(), 0);
  for (size_t a = 0; a < cands.size(); ++a) identity[a] = cands[a].identity;
  // Candidates a and b into one group, unless the two groups continue
  // different established objects.
  auto join = [&](int a, int b) {
    const int ra = Find(parent, a), rb = Find(parent, b);
    if (ra == rb || (identity[ra] >= 0 && identity[rb] >= 0 && identity[ra] != identity[rb]))
      return;
    parent[ra] = rb;
    identity[rb] = std::max(identity[ra], identity[rb]);
  };
  {
    std::map<std::pair<int, int>, int> contacts;  // (a, b), a < b -> border pixels
    for (int v = 0; v < h; ++v)
      for (int u = 0; u < w; ++u) {
        const size_t i = static_cast<size_t>(v) * w + u;
        const int a = region[i];
        if (a < 0) continue;
        // Neighbours within two pixels right and down: parts split by a
        // depth step have a band of edge pixels between them.
        for (int dv = 0; dv <= 2; ++dv)
          for (int du = (dv == 0 ? 1 : -2); du <= 2; ++du) {
            const int uu = u + du, vv = v + dv;
            if (uu < 0 || uu >= w || vv >= h) continue;
            const size_t j = static_cast<size_t>(vv) * w + uu;
            const int b = region[j];
            if (b < 0 || b == a || std::abs(z[i] - z[j]) > c.merge_gap_m) continue;
            ++contacts[{std::min(a, b), std::max(a, b)}];
          }
      }
    std::vector<std::pair<int, std::pair<int, int>>> by_contact;
    for (const auto& [pair, n] : contacts)
      if (n >= 3) by_contact.push_back({n, pair});
    std::sort(by_contact.begin(), by_contact.end(), std::greater<>());
    for (const auto& [n, pair] : by_contact) join(pair.first, pair.second);
    // Parts of one established object that do not meet: where the object
    // overlaps where it stood a moment ago, firm support from an earlier
    // view can cut a band through it (a person who slows down at a desk
    // loses the hips and keeps torso and legs). Parts that lie mostly where
    // the same object's points land now, joined by a surface
    // (depth-continuous pixels in no region) no longer than merge_gap_m,
    // are that object; two objects it once took in together and that now
    // stand apart have the room between them.
    std::map<int, std::vector<int>> parts_of;  // established object -> its parts
    std::vector<uint8_t> is_part(cands.size(), 0);
    // Most of a part lies where its object's own surface lands now.
    auto OnCore = [&](size_t a) {
      size_t on = 0;
      for (int i : cands[a].pixels) on += core_of[i] == cands[a].identity;
      return 2 * on >= cands[a].pixels.size();
    };
    for (size_t a = 0; a < cands.size(); ++a)
      if (cands[a].identity >= 0 && OnCore(a)) {
        parts_of[cands[a].identity].push_back(static_cast<int>(a));
        is_part[a] = 1;
      }
    std::vector<int> hops(n, -1), frontier, next;
    for (const auto& [object, parts] : parts_of) {
      if (parts.size() < 2) continue;
      for (int a : parts) {
        // Breadth-first from part a over pixels in no region, as many steps
        // as merge_gap_m spans at its depth.
        const float z_a = 0.5f * (cands[a].z_lo + cands[a].z_hi);
        const int max_hops = static_cast<int>(c.merge_gap_m * cur.fx / std::max(z_a, 0.1f));
        std::vector<int> touched = cands[a].pixels;
        for (int i : cands[a].pixels) hops[i] = 0;
        frontier = cands[a].pixels;
        for (int hop = 1; hop <= max_hops && !frontier.empty(); ++hop) {
          next.clear();
          for (int i : frontier) {
            const int u = i % w, v = i / w;
            const int nb[4][2] = {{u - 1, v}, {u + 1, v}, {u, v - 1}, {u, v + 1}};
            for (const auto& q : nb) {
              if (q[0] < 0 || q[1] < 0 || q[0] >= w || q[1] >= h) continue;
              const int j = q[1] * w + q[0];
              if (hops[j] >= 0) continue;
              const MotionEvidence e = out.evidence[j];
              if (e == MotionEvidence::kInvalid || e == MotionEvidence::kEdge) continue;
              if (std::abs(z[j] - z[i]) > step(std::min(z[i], z[j]))) continue;
              if (const int b = region[j]; b >= 0) {
                // Another region is not crossed; another part is joined.
                if (is_part[b] && cands[b].identity == object) join(a, b);
                continue;
              }
              hops[j] = hop;
              touched.push_back(j);
              next.push_back(j);
            }
          }
          frontier.swap(next);
        }
        for (int i : touched) hops[i] = -1;
      }
    }
  }
  std::map<int, std::vector<int>> groups;
  for (size_t a = 0; a < cands.size(); ++a) groups[Find(parent, static_cast<int>(a))].push_back(a);

  // 5. Objects with enough evidence.
  const int s = std::max(1, cur.stride);
  for (const auto& [root, members] : groups) {
    double area = 0, evidence_area = 0, prior_area = 0;
    int prior_frames = -1, prior_evidence_frames = 0;
    for (int m : members) {
      area += cands[m].area, evidence_area += cands[m].evidence_area;
      prior_area += cands[m].prior_area;
      prior_evidence_frames = std::max(prior_evidence_frames, cands[m].prior_evidence_frames);
      if (cands[m].prior_frames >= 0 && (prior_frames < 0 || cands[m].prior_frames < prior_frames))
        prior_frames = cands[m].prior_frames;
    }
    if (area < c.min_region_area_m2) continue;
    const bool evident =
        evidence_area >= c.min_evidence_area_m2 && evidence_area >= c.min_evidence_fraction * area;
    // Carried: an object established over several frames, enough of it
    // where that object was expected, within the time allowed.
    const bool carried = !evident && prior_frames >= 0 && prior_frames + 1 <= c.persist_frames &&
                         prior_evidence_frames >= c.min_evidence_frames &&
                         prior_area >= c.min_evidence_area_m2;
    if (!evident && !carried) continue;
    const int id = static_cast<int>(out.regions.size());
    MotionRegion r;
    r.area_m2 = area, r.evidence_area_m2 = evidence_area, r.score = evidence_area / area;
    r.frames_without_evidence = evident ? 0 : prior_frames + 1;
    r.evidence_frames = prior_evidence_frames + (evident ? 1 : 0);
    int u0 = w, v0 = h, u1 = -1, v1 = -1;
    std::vector<double> coords[3];
    std::vector<float> depths;
    Eigen::Vector3d sum = Eigen::Vector3d::Zero();
    for (int m : members)
      for (int i : cands[m].pixels) {
        out.label[i] = id;
        ++r.pixels;
        const int u = i % w, v = i / w;
        u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
        const Eigen::Vector3d X =
            cur.T_world_cam *
            Eigen::Vector3d((u - cur.cx) / cur.fx * z[i], (v - cur.cy) / cur.fy * z[i], z[i]);
        sum += X;
        for (int a = 0; a < 3; ++a) coords[a].push_back(X[a]);
        depths.push_back(z[i]);
      }
    const int x0 = u0 * s, y0 = v0 * s;
    const int x1 = std::min(full_width, (u1 + 1) * s), y1 = std::min(full_height, (v1 + 1) * s);
    if (x1 <= x0 || y1 <= y0) continue;
    r.box = {float(x0), float(y0), float(x1 - x0), float(y1 - y0)};
    r.mask = pipeline::Image::Allocate(x1 - x0, y1 - y0, pipeline::PixelEncoding::kMono8);
    uint8_t* mk = r.mask.data.mutable_data();
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        const int u = x / s, v = y / s;
        if (u < w && v < h && out.label[static_cast<size_t>(v) * w + u] == id)
          mk[static_cast<size_t>(y - y0) * r.mask.width + (x - x0)] = 255;
      }
    const Eigen::Vector3d centroid = sum / static_cast<double>(r.pixels);
    r.continues = identity[Find(parent, root)];
    if (const int k = r.continues; k >= 0) {
      r.displaced_frames = prior_motion[k].displaced_frames;
      r.has_moved = prior_motion[k].moved;
      r.stopped = prior_motion[k].stopped && !evident;
      // Half the new displacement, half the old velocity: a centroid jumps
      // when occlusion hides part of the object.
      const MovingObjectPrior& prior = priors[k];
      const double dt = (cur.stamp_ns - prior.stamp_ns) * 1e-9;
      Eigen::Vector3d vel = prior.velocity_world;
      // Only like for like: a region that grew or shrank a lot (merged
      // with another, half hidden) moved its centroid, not the object.
      const double size_ratio =
          static_cast<double>(r.pixels) / std::max<size_t>(1, prior.world_points.size());
      if (dt > 0 && dt < 0.5 && size_ratio > 0.67 && size_ratio < 1.5)
        vel = 0.5 * vel + 0.5 * (centroid - prior.centroid_world) / dt;
      if (vel.norm() > c.max_object_speed_mps) vel *= c.max_object_speed_mps / vel.norm();
      r.velocity_world = {vel[0], vel[1], vel[2]};
    }
    for (int a = 0; a < 3; ++a) {
      std::vector<double>& v = coords[a];
      const size_t lo = v.size() / 20, hi = v.size() - 1 - v.size() / 20;
      std::nth_element(v.begin(), v.begin() + lo, v.end());
      const double vlo = v[lo];
      std::nth_element(v.begin(), v.begin() + hi, v.end());
      r.centroid_world[a] = centroid[a];
      r.extent[a] = v[hi] - vlo;
    }
    std::nth_element(depths.begin(), depths.begin() + depths.size() / 2, depths.end());
    r.median_depth_m = depths[depths.size() / 2];
    out.regions.push_back(std::move(r));
  }
  return out;
}

}  // namespace dyn4d::perception
