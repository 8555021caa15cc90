#include "dyn4d/perception/seen_through.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace dyn4d::perception {

std::vector<std::string> SeenThroughConfig::Validate() const {
  std::vector<std::string> p;
  if (window_frames < 0) p.push_back("window_frames: must be >= 0");
  if (view_every_frames < 1) p.push_back("view_every_frames: must be >= 1");
  if (min_views < 1 || min_views > 255) p.push_back("min_views: must be in [1, 255]");
  if (!(n_sigma > 0)) p.push_back("n_sigma: must be > 0");
  if (!(pose_error_m >= 0)) p.push_back("pose_error_m: must be >= 0");
  if (!(min_depth_m > 0) || !(max_depth_m > min_depth_m))
    p.push_back("min_depth_m, max_depth_m: need 0 < min < max");
  for (const std::string& m : noise.Validate()) p.push_back("noise: " + m);
  return p;
}

SeenThroughFilter::SeenThroughFilter(SeenThroughConfig config) : c_(std::move(config)) {}

namespace {
bool UsableDepth(const pipeline::RgbdFrame& f) {
  return !f.depth.empty() && f.depth.encoding == pipeline::PixelEncoding::kMono16 &&
         f.depth.data.size() >= f.depth.ExpectedBytes() && f.depth_scale > 0;
}

// The nearest valid depth of each pixel's 3x3 neighbourhood (0 = none;
// border pixels are never looked up): once per view, rather than nine
// loads for every keyframe pixel that lands on it.
std::vector<uint16_t> NearestOf3x3(const pipeline::Image& depth) {
  const int w = depth.width, h = depth.height;
  const uint16_t* d = depth.data.as<uint16_t>();
  constexpr uint16_t kNone = 0xFFFF;
  auto valid = [](uint16_t v) { return v ? v : kNone; };
  std::vector<uint16_t> rows(static_cast<size_t>(w) * h, kNone), out(rows.size(), 0);
  for (int y = 0; y < h; ++y)
    for (int x = 1; x < w - 1; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      rows[i] = std::min({valid(d[i - 1]), valid(d[i]), valid(d[i + 1])});
    }
  for (int y = 1; y < h - 1; ++y)
    for (int x = 1; x < w - 1; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      const uint16_t m = std::min({rows[i - w], rows[i], rows[i + w]});
      out[i] = m == kNone ? 0 : m;
    }
  return out;
}
}  // namespace

std::vector<SeenThroughFilter::Ready> SeenThroughFilter::Add(const pipeline::RgbdFrame& frame,
                                                             const Eigen::Isometry3d& T_world_cam,
                                                             const pipeline::Image* moving,
                                                             bool fuse) {
  const uint64_t index = added_++;
  const auto window = static_cast<uint64_t>(c_.window_frames);
  if (fuse) {
    Pending p;
    p.index = index;
    p.ready.frame = frame;
    p.ready.T_world_cam = T_world_cam;
    const int w = frame.depth.width, h = frame.depth.height;
    p.ready.mask = pipeline::Image::Allocate(w, h, pipeline::PixelEncoding::kMono8);
    if (moving && moving->width == w && moving->height == h &&
        moving->encoding == pipeline::PixelEncoding::kMono8 &&
        moving->data.size() >= moving->ExpectedBytes())
      std::memcpy(p.ready.mask.data.mutable_data(), moving->data.data(), p.ready.mask.data.size());
    if (window > 0) {
      p.votes.assign(static_cast<size_t>(w) * h, 0);
      if (UsableDepth(frame))
        for (const View& v : views_) Vote(p, v);
    }
    pending_.push_back(std::move(p));
  }
  if (window > 0 && index % static_cast<uint64_t>(c_.view_every_frames) == 0 &&
      UsableDepth(frame)) {
    View v{index,
           frame.depth.width,
           frame.depth.height,
           NearestOf3x3(frame.depth),
           frame.depth_scale,
           frame.intrinsics,
           T_world_cam.inverse()};
    for (Pending& p : pending_)
      if (p.index != index && UsableDepth(p.ready.frame)) Vote(p, v);
    views_.push_back(std::move(v));
  }
  while (!views_.empty() && views_.front().index + window < index) views_.pop_front();
  std::vector<Ready> out;
  while (!pending_.empty() && pending_.front().index + window <= index) {
    out.push_back(Finish(std::move(pending_.front())));
    pending_.pop_front();
  }
  return out;
}

std::vector<SeenThroughFilter::Ready> SeenThroughFilter::Flush() {
  std::vector<Ready> out;
  for (Pending& p : pending_) out.push_back(Finish(std::move(p)));
  pending_.clear();
  views_.clear();
  return out;
}

void SeenThroughFilter::Vote(Pending& p, const View& v) const {
  const pipeline::RgbdFrame& f = p.ready.frame;
  const pipeline::CameraIntrinsics& K = f.intrinsics;
  const int w = f.depth.width, h = f.depth.height;
  const int vw = v.width, vh = v.height;
  const uint16_t* depth = f.depth.data.as<uint16_t>();
  const uint8_t* out = p.ready.mask.data.data();
  // The keyframe's camera to the view's.
  const Eigen::Isometry3d T = v.T_cam_world * p.ready.T_world_cam;
  const Eigen::Matrix3f R = T.rotation().cast<float>();
  const Eigen::Vector3f t = T.translation().cast<float>();
  const float inv_scale = static_cast<float>(1.0 / f.depth_scale);
  const float view_inv_scale = static_cast<float>(1.0 / v.depth_scale);
  const auto min_z = static_cast<float>(c_.min_depth_m), max_z = static_cast<float>(c_.max_depth_m);
  for (int y = 0; y < h; ++y) {
    const float ry = static_cast<float>((y - K.cy) / K.fy);
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      if (out[i] || p.votes[i] >= c_.min_views) continue;  // out already
      const float z = depth[i] * inv_scale;
      if (!(z >= min_z && z <= max_z)) continue;
      const Eigen::Vector3f X(static_cast<float>((x - K.cx) / K.fx) * z, ry * z, z);
      const Eigen::Vector3f Y = R * X + t;
      if (Y.z() < min_z) continue;
      const int u = static_cast<int>(std::lround(v.K.fx * Y.x() / Y.z() + v.K.cx));
      const int r = static_cast<int>(std::lround(v.K.fy * Y.y() / Y.z() + v.K.cy));
      if (u < 1 || r < 1 || u >= vw - 1 || r >= vh - 1) continue;
      // The nearest valid depth of the 3x3 pixels around: a point a pixel
      // off an edge is not seen through.
      const uint16_t nearest = v.nearest[static_cast<size_t>(r) * vw + u];
      if (!nearest) continue;
      const double seen = nearest * view_inv_scale;
      const double expected = Y.z();
      const double s_seen = c_.noise.Sigma(seen), s_expected = c_.noise.Sigma(expected);
      const double margin =
          c_.n_sigma * std::sqrt(s_seen * s_seen + s_expected * s_expected) + c_.pose_error_m;
      if (seen > expected + margin) ++p.votes[i];
    }
  }
}

SeenThroughFilter::Ready SeenThroughFilter::Finish(Pending&& p) const {
  Ready r = std::move(p.ready);
  uint8_t* mask = r.mask.data.mutable_data();
  for (size_t i = 0; i < p.votes.size(); ++i)
    if (p.votes[i] >= c_.min_views && !mask[i]) mask[i] = 255, ++r.seen_through_pixels;
  return r;
}

}  // namespace dyn4d::perception
