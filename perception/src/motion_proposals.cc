#include "dyn4d/perception/motion_proposals.h"

#include <Eigen/Geometry>
#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "dyn4d/perception/pose.h"

namespace dyn4d::perception {

std::vector<std::string> MotionProposalConfig::Validate() const {
  std::vector<std::string> p;
  if (stride < 1 || stride > 16) p.push_back("stride: must be in [1, 16]");
  if (!(min_depth_m > 0) || !(max_depth_m > min_depth_m))
    p.push_back("min_depth_m, max_depth_m: need 0 < min < max");
  if (!(free_margin_m >= 0) || !(free_margin_rel >= 0))
    p.push_back("free_margin_m, free_margin_rel: must be >= 0");
  if (min_votes < 1) p.push_back("min_votes: must be >= 1");
  if (!(neighbour_gap_m > 0) || !(neighbour_gap_rel >= 0))
    p.push_back("neighbour_gap_m: must be > 0, neighbour_gap_rel >= 0");
  if (min_pixels < 1) p.push_back("min_pixels: must be >= 1");
  if (!(neighbour_chroma_gap >= 0)) p.push_back("neighbour_chroma_gap: must be >= 0");
  return p;
}

MotionProposer::MotionProposer(MotionProposalConfig config) : config_(std::move(config)) {
  const auto problems = config_.Validate();
  if (!problems.empty()) throw std::invalid_argument("MotionProposalConfig: " + problems.front());
}

namespace {

// Depth in metres at the stride's pixels (0 = invalid or out of range).
std::vector<float> ReducedDepth(const pipeline::RgbdFrame& f, const MotionProposalConfig& c,
                                int& w, int& h) {
  const int s = c.stride;
  w = f.depth.width / s, h = f.depth.height / s;
  std::vector<float> z(static_cast<size_t>(w) * h, 0.f);
  const uint16_t* d = f.depth.data.as<uint16_t>();
  const double scale = 1.0 / f.depth_scale;
  for (int v = 0; v < h; ++v)
    for (int u = 0; u < w; ++u) {
      const double m = d[static_cast<size_t>(v * s) * f.depth.width + u * s] * scale;
      if (m >= c.min_depth_m && m <= c.max_depth_m) z[static_cast<size_t>(v) * w + u] = float(m);
    }
  return z;
}

std::string CheckFrame(const pipeline::RgbdFrame& f) {
  if (f.depth.empty()) return "no depth";
  if (f.depth.encoding != pipeline::PixelEncoding::kMono16)
    return std::string("depth is ") + pipeline::ToString(f.depth.encoding) + ", needs mono16";
  if (!(f.intrinsics.fx > 0) || !(f.intrinsics.fy > 0))
    return "intrinsics fx/fy not positive";
  if (!(f.depth_scale > 0)) return "depth_scale not positive";
  return "";
}

}  // namespace

ProposalReference MotionProposer::MakeReference(const pipeline::RgbdFrame& frame,
                                                const pipeline::CameraPose& pose) const {
  const std::string problem = CheckFrame(frame);
  if (!problem.empty())
    throw std::invalid_argument("frame " + std::to_string(frame.meta.seq) + ": " + problem);
  ProposalReference r;
  r.stamp_ns = frame.meta.stamp_ns;
  r.pose = pose;
  const std::vector<float> z = ReducedDepth(frame, config_, r.width, r.height);
  const double s = config_.stride;
  r.fx = frame.intrinsics.fx / s, r.fy = frame.intrinsics.fy / s;
  r.cx = frame.intrinsics.cx / s, r.cy = frame.intrinsics.cy / s;
  // 3x3 minimum, unknown (0) included: near a depth edge or a hole, the
  // nearer surface wins, so an edge a pose error shifts never reads as free.
  r.depth_m.assign(z.size(), 0.f);
  for (int v = 0; v < r.height; ++v)
    for (int u = 0; u < r.width; ++u) {
      float m = z[static_cast<size_t>(v) * r.width + u];
      for (int dv = -1; dv <= 1 && m > 0; ++dv)
        for (int du = -1; du <= 1; ++du) {
          const int uu = u + du, vv = v + dv;
          if (uu < 0 || vv < 0 || uu >= r.width || vv >= r.height) continue;
          m = std::min(m, z[static_cast<size_t>(vv) * r.width + uu]);
        }
      r.depth_m[static_cast<size_t>(v) * r.width + u] = m;
    }
  return r;
}

MotionProposer::Result MotionProposer::Propose(
    const pipeline::RgbdFrame& frame, const pipeline::CameraPose& pose,
    const std::vector<const ProposalReference*>& references) const {
  Result result;
  result.message = CheckFrame(frame);
  if (!result.message.empty()) return result;
  const MotionProposalConfig& c = config_;
  const int s = c.stride;
  int w = 0, h = 0;
  const std::vector<float> z = ReducedDepth(frame, c, w, h);
  const double fx = frame.intrinsics.fx, fy = frame.intrinsics.fy;
  const double cx = frame.intrinsics.cx, cy = frame.intrinsics.cy;
  const Eigen::Isometry3d T_wc = ToIsometry(pose);

  struct Ref {
    const ProposalReference* r;
    Eigen::Matrix3d R;  // T_ref_cam
    Eigen::Vector3d t;
  };
  std::vector<Ref> refs;
  for (const ProposalReference* r : references) {
    if (!r || r->stamp_ns == frame.meta.stamp_ns || r->depth_m.empty()) continue;
    const Eigen::Isometry3d T_rc = ToIsometry(r->pose).inverse() * T_wc;
    refs.push_back({r, T_rc.linear(), T_rc.translation()});
  }
  if (refs.empty()) {
    result.message = "no reference view";
    return result;
  }

  // 1. Free-space test per pixel: votes from references that saw through it.
  std::vector<uint8_t> votes(z.size(), 0);
  const int enough = c.min_votes + 1;  // counted a little further, for the score
  for (int v = 0; v < h; ++v)
    for (int u = 0; u < w; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      if (z[i] <= 0) continue;
      ++result.tested_pixels;
      const Eigen::Vector3d X((u * s - cx) / fx * z[i], (v * s - cy) / fy * z[i], z[i]);
      int n = 0;
      for (const Ref& ref : refs) {
        const Eigen::Vector3d x = ref.R * X + ref.t;
        if (x.z() < c.min_depth_m) continue;
        const ProposalReference& r = *ref.r;
        const int ur = static_cast<int>(std::lround(r.fx * x.x() / x.z() + r.cx));
        const int vr = static_cast<int>(std::lround(r.fy * x.y() / x.z() + r.cy));
        if (ur < 0 || vr < 0 || ur >= r.width || vr >= r.height) continue;
        const float d = r.depth_m[static_cast<size_t>(vr) * r.width + ur];
        if (d > 0 && d > x.z() + c.free_margin_m + c.free_margin_rel * x.z()) {
          if (++n >= enough) break;
        }
      }
      votes[i] = static_cast<uint8_t>(n);
    }
  // 2. Dynamic pixels, with isolated ones (noise) removed: at least 4 of the
  // 3x3 neighbourhood must agree.
  std::vector<uint8_t> dyn(z.size(), 0);
  for (int v = 0; v < h; ++v)
    for (int u = 0; u < w; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      if (votes[i] < c.min_votes) continue;
      int agree = 0;
      for (int dv = -1; dv <= 1; ++dv)
        for (int du = -1; du <= 1; ++du) {
          const int uu = u + du, vv = v + dv;
          if (uu >= 0 && vv >= 0 && uu < w && vv < h &&
              votes[static_cast<size_t>(vv) * w + uu] >= c.min_votes)
            ++agree;
        }
      if (agree >= 4) dyn[i] = 1, ++result.dynamic_pixels;
    }
  // Chromaticity per tested pixel (r, g over r + g + b), -1 where too dark
  // to tell or without a colour image.
  std::vector<std::array<float, 2>> chroma;
  const pipeline::Image& img = frame.color;
  const bool colour = c.neighbour_chroma_gap > 0 && img.width == frame.depth.width &&
                      img.height == frame.depth.height &&
                      (img.encoding == pipeline::PixelEncoding::kBgr8 ||
                       img.encoding == pipeline::PixelEncoding::kRgb8);
  if (colour) {
    chroma.assign(z.size(), {-1.f, -1.f});
    const bool bgr = img.encoding == pipeline::PixelEncoding::kBgr8;
    const uint8_t* px = img.data.data();
    for (size_t i = 0; i < z.size(); ++i) {
      if (!dyn[i]) continue;
      const int u = static_cast<int>(i % w) * s, v = static_cast<int>(i / w) * s;
      const uint8_t* p = px + (static_cast<size_t>(v) * img.width + u) * 3;
      const float r = bgr ? p[2] : p[0], g = p[1], b = bgr ? p[0] : p[2];
      const float sum = r + g + b;
      if (sum >= 60) chroma[i] = {r / sum, g / sum};
    }
  }
  auto colour_step = [&](int i, int j) {
    if (!colour || chroma[i][0] < 0 || chroma[j][0] < 0) return false;
    const float b_i = 1 - chroma[i][0] - chroma[i][1], b_j = 1 - chroma[j][0] - chroma[j][1];
    return std::abs(chroma[i][0] - chroma[j][0]) + std::abs(chroma[i][1] - chroma[j][1]) +
               std::abs(b_i - b_j) >
           c.neighbour_chroma_gap;
  };
  // 3. Regions: 4-connected dynamic pixels without a depth discontinuity or
  // a colour edge between them.
  std::vector<int> label(z.size(), -1);
  std::vector<std::vector<int>> regions;
  std::vector<int> stack;
  for (size_t seed = 0; seed < z.size(); ++seed) {
    if (!dyn[seed] || label[seed] >= 0) continue;
    const int id = static_cast<int>(regions.size());
    regions.emplace_back();
    label[seed] = id;
    stack.assign(1, static_cast<int>(seed));
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      regions[id].push_back(i);
      const int u = i % w, v = i / w;
      const int nb[4][2] = {{u - 1, v}, {u + 1, v}, {u, v - 1}, {u, v + 1}};
      for (const auto& q : nb) {
        if (q[0] < 0 || q[1] < 0 || q[0] >= w || q[1] >= h) continue;
        const int j = q[1] * w + q[0];
        if (!dyn[j] || label[j] >= 0) continue;
        if (std::abs(z[j] - z[i]) > c.neighbour_gap_m + c.neighbour_gap_rel * z[i]) continue;
        if (colour_step(i, j)) continue;
        label[j] = id;
        stack.push_back(j);
      }
    }
  }
  // 4. Colour edges also cut objects into faces (shading saturates a
  // channel, highlights): a region too small to stand alone joins the
  // depth-continuous neighbour region it touches most, smallest first.
  if (colour && regions.size() > 1) {
    std::vector<int> order(regions.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int>(k);
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return regions[a].size() < regions[b].size(); });
    for (int id : order) {
      if (regions[id].empty() || static_cast<int>(regions[id].size()) * s * s >= 2 * c.min_pixels)
        continue;
      std::map<int, int> contacts;
      for (int i : regions[id]) {
        const int u = i % w, v = i / w;
        const int nb[4][2] = {{u - 1, v}, {u + 1, v}, {u, v - 1}, {u, v + 1}};
        for (const auto& q : nb) {
          if (q[0] < 0 || q[1] < 0 || q[0] >= w || q[1] >= h) continue;
          const int j = q[1] * w + q[0];
          if (label[j] < 0 || label[j] == id) continue;
          if (std::abs(z[j] - z[i]) > c.neighbour_gap_m + c.neighbour_gap_rel * z[i]) continue;
          ++contacts[label[j]];
        }
      }
      int best = -1, most = 0;
      for (const auto& [other, n] : contacts)
        if (n > most) best = other, most = n;
      if (best < 0) continue;
      for (int i : regions[id]) label[i] = best;
      regions[best].insert(regions[best].end(), regions[id].begin(), regions[id].end());
      regions[id].clear();
    }
  }
  // 5. Proposals from the regions big enough.
  for (size_t id = 0; id < regions.size(); ++id) {
    const std::vector<int>& px = regions[id];
    if (px.empty() || static_cast<int>(px.size()) * s * s < c.min_pixels) continue;
    int u0 = w, v0 = h, u1 = -1, v1 = -1, strong = 0;
    std::vector<double> coords[3];
    std::vector<float> depths;
    Eigen::Vector3d sum = Eigen::Vector3d::Zero();
    for (int i : px) {
      const int u = i % w, v = i / w;
      u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
      strong += votes[i] >= enough;
      const Eigen::Vector3d X = T_wc * Eigen::Vector3d((u * s - cx) / fx * z[i],
                                                       (v * s - cy) / fy * z[i], z[i]);
      sum += X;
      for (int a = 0; a < 3; ++a) coords[a].push_back(X[a]);
      depths.push_back(z[i]);
    }
    // Slivers (one or two tested pixels across) are grazing faces and depth
    // edges, never a whole object.
    if (u1 - u0 + 1 < 3 || v1 - v0 + 1 < 3) continue;
    MotionProposal p;
    const int x0 = u0 * s, y0 = v0 * s;
    const int x1 = std::min(frame.depth.width, (u1 + 1) * s);
    const int y1 = std::min(frame.depth.height, (v1 + 1) * s);
    p.box = {float(x0), float(y0), float(x1 - x0), float(y1 - y0)};
    p.mask = pipeline::Image::Allocate(x1 - x0, y1 - y0, pipeline::PixelEncoding::kMono8);
    uint8_t* m = p.mask.data.mutable_data();
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        const int i = (y / s) * w + (x / s);
        if (y / s < h && x / s < w && label[i] == static_cast<int>(id)) {
          m[static_cast<size_t>(y - y0) * p.mask.width + (x - x0)] = 255;
          ++p.pixels;
        }
      }
    const Eigen::Vector3d centroid = sum / static_cast<double>(px.size());
    for (int a = 0; a < 3; ++a) {
      std::vector<double>& v = coords[a];
      const size_t lo = v.size() / 20, hi = v.size() - 1 - v.size() / 20;
      std::nth_element(v.begin(), v.begin() + lo, v.end());
      const double vlo = v[lo];
      std::nth_element(v.begin(), v.begin() + hi, v.end());
      p.centroid_world[a] = centroid[a];
      p.extent[a] = v[hi] - vlo;
    }
    std::nth_element(depths.begin(), depths.begin() + depths.size() / 2, depths.end());
    p.median_depth_m = depths[depths.size() / 2];
    p.score = static_cast<double>(strong) / px.size();
    result.proposals.push_back(std::move(p));
  }
  return result;
}

}  // namespace dyn4d::perception

namespace dyn4d::perception {

MotionProposalStream::MotionProposalStream(Options options)
    : o_(std::move(options)), proposer_(o_.proposer) {
  if (o_.lookahead_frames < 0 || o_.reference_every < 1 || o_.past_frames < 0)
    throw std::invalid_argument(
        "MotionProposalStream: lookahead_frames and past_frames must be >= 0, reference_every "
        ">= 1");
}

std::vector<MotionProposalStream::Output> MotionProposalStream::Push(
    const pipeline::RgbdFrame& frame, const pipeline::CameraPose& pose) {
  const bool usable = pose.status != pipeline::PoseStatus::kLost && !frame.depth.empty() &&
                      frame.depth.encoding == pipeline::PixelEncoding::kMono16;
  if (usable && pushed_ % o_.reference_every == 0)
    refs_.emplace_back(frame.meta.seq, proposer_.MakeReference(frame, pose));
  ++pushed_;
  pending_.emplace_back(frame, pose);
  std::vector<Output> out;
  while (pending_.size() > static_cast<size_t>(o_.lookahead_frames)) {
    out.push_back(Process(pending_.front().first, pending_.front().second));
    pending_.erase(pending_.begin());
  }
  return out;
}

std::vector<MotionProposalStream::Output> MotionProposalStream::Flush() {
  std::vector<Output> out;
  for (const auto& [frame, pose] : pending_) out.push_back(Process(frame, pose));
  pending_.clear();
  return out;
}

MotionProposalStream::Output MotionProposalStream::Process(const pipeline::RgbdFrame& frame,
                                                           const pipeline::CameraPose& pose) {
  const uint64_t seq = frame.meta.seq;
  // Forget references too old for this frame (and so for every later one).
  while (!refs_.empty() && refs_.front().first + o_.past_frames < seq)
    refs_.erase(refs_.begin());
  Output out{frame, pose, {}};
  if (pose.status == pipeline::PoseStatus::kLost) {
    out.result.message = "pose lost";
    return out;
  }
  std::vector<const ProposalReference*> refs;
  for (const auto& [ref_seq, ref] : refs_)
    if (ref_seq != seq && ref_seq <= seq + o_.lookahead_frames) refs.push_back(&ref);
  out.result = proposer_.Propose(frame, pose, refs);
  return out;
}

}  // namespace dyn4d::perception
