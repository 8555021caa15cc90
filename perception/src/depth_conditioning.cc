#include "dyn4d/perception/depth_conditioning.h"

#include <Eigen/Geometry>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "dyn4d/perception/backprojection.h"
#include "dyn4d/perception/pose.h"

namespace dyn4d::perception {

pipeline::Image BilateralFilterDepth(const pipeline::Image& depth, double relative_sigma,
                                     double spatial_sigma_px) {
  if (depth.encoding != pipeline::PixelEncoding::kMono16)
    throw std::invalid_argument("BilateralFilterDepth: depth must be mono16");
  const int w = depth.width, h = depth.height, r = 2;
  pipeline::Image out = pipeline::Image::Allocate(w, h, depth.encoding);
  const uint16_t* in = depth.data.as<uint16_t>();
  uint16_t* o = out.data.mutable_as<uint16_t>();
  double spatial[5][5];
  for (int dy = -r; dy <= r; ++dy)
    for (int dx = -r; dx <= r; ++dx)
      spatial[dy + r][dx + r] =
          std::exp(-(dx * dx + dy * dy) / (2 * spatial_sigma_px * spatial_sigma_px));
  for (int v = 0; v < h; ++v)
    for (int u = 0; u < w; ++u) {
      const double z = in[v * w + u];
      if (z == 0) continue;
      const double inv2s2 = 1.0 / (2 * (relative_sigma * z) * (relative_sigma * z));
      double sum = 0, weight = 0;
      for (int dy = -r; dy <= r; ++dy) {
        const int y = v + dy;
        if (y < 0 || y >= h) continue;
        for (int dx = -r; dx <= r; ++dx) {
          const int x = u + dx;
          if (x < 0 || x >= w) continue;
          const double zn = in[y * w + x];
          if (zn == 0) continue;
          const double d = zn - z;
          if (d * d * inv2s2 > 4.5) continue;  // beyond 3 sigma: another surface
          const double k = spatial[dy + r][dx + r] * std::exp(-d * d * inv2s2);
          sum += k * zn, weight += k;
        }
      }
      o[v * w + u] = static_cast<uint16_t>(std::lround(sum / weight));
    }
  return out;
}

namespace {
// Voxel of a camera-frame point, packed (21 bits an axis: +-10 km at 1 cm).
uint64_t VoxelKey(const Eigen::Vector3d& p, double voxel_m) {
  auto axis = [&](double x) {
    return static_cast<uint64_t>(static_cast<int64_t>(std::floor(x / voxel_m)) + (1 << 20)) &
           0x1fffff;
  };
  return axis(p.x()) | axis(p.y()) << 21 | axis(p.z()) << 42;
}
}  // namespace

pipeline::PointCloud MakeFrameCloud(const pipeline::RgbdFrame& f, const pipeline::CameraPose& pose,
                                    const pipeline::Image* mask, double voxel_m,
                                    double max_depth_m) {
  CheckBackprojectable(f);
  // Every second pixel is plenty before a voxel grid of centimetres. Normals
  // come from the image grid (the cross product of the neighbours' offsets
  // two pixels away), not from a k-nearest-neighbour search over the cloud,
  // which cost 9 % of the whole default graph's CPU time.
  constexpr int kStride = 2;
  const auto& K = f.intrinsics;
  const int w = f.depth.width, h = f.depth.height;
  const bool use_mask = mask && mask->width == w && mask->height == h;
  const bool mono16 = f.depth.encoding == pipeline::PixelEncoding::kMono16;
  auto depth_at = [&](int u, int v) -> double {
    const size_t i = static_cast<size_t>(v) * w + u;
    if (use_mask && mask->data.data()[i]) return 0;
    const double z =
        mono16 ? f.depth.data.as<uint16_t>()[i] / f.depth_scale : f.depth.data.as<float>()[i];
    return z > 0.1 && z < max_depth_m ? z : 0;
  };
  auto point = [&](int u, int v, double z) {
    return Eigen::Vector3d((u - K.cx) * z / K.fx, (v - K.cy) * z / K.fy, z);
  };
  const bool has_color = !f.color.empty();
  const bool bgr = f.color.encoding == pipeline::PixelEncoding::kBgr8;
  struct Voxel {
    Eigen::Vector3d point = Eigen::Vector3d::Zero(), normal = Eigen::Vector3d::Zero(),
                    color = Eigen::Vector3d::Zero();
    int count = 0;
  };
  std::vector<Voxel> voxels;
  std::unordered_map<uint64_t, uint32_t> index;
  index.reserve(static_cast<size_t>(w / kStride) * (h / kStride) / 4);
  for (int v = 0; v < h; v += kStride)
    for (int u = 0; u < w; u += kStride) {
      const double z = depth_at(u, v);
      if (z == 0) continue;
      const Eigen::Vector3d p = point(u, v, z);
      // A neighbour on the same surface: its depth within what a surface
      // tilted up to 80 degrees from the view ray spans over the step
      // (tan 80 = 5.7 times the step's width there); beyond, a depth edge or
      // a flying pixel, whose normal would be meaningless.
      const double max_step = 5.7 * kStride * z / K.fx;
      auto neighbour = [&](int du, int dv, Eigen::Vector3d* q) {
        const int x = u + du, y = v + dv;
        if (x < 0 || y < 0 || x >= w || y >= h) return false;
        const double zn = depth_at(x, y);
        if (zn == 0 || std::abs(zn - z) > max_step) return false;
        *q = point(x, y, zn);
        return true;
      };
      // Central differences where both sides are on the surface, else the
      // one side that is.
      auto tangent = [&](int du, int dv, Eigen::Vector3d* t) {
        Eigen::Vector3d a, b;
        const bool has_a = neighbour(-du, -dv, &a), has_b = neighbour(du, dv, &b);
        if (has_a && has_b)
          *t = b - a;
        else if (has_b)
          *t = b - p;
        else if (has_a)
          *t = p - a;
        else
          return false;
        return true;
      };
      Eigen::Vector3d tu, tv;
      if (!tangent(kStride, 0, &tu) || !tangent(0, kStride, &tv)) continue;
      Eigen::Vector3d n = tu.cross(tv);
      const double norm = n.norm();
      if (!(norm > 0)) continue;
      n /= norm;
      if (n.dot(p) > 0) n = -n;  // towards the camera
      const uint64_t key = voxel_m > 0 ? VoxelKey(p, voxel_m) : static_cast<uint64_t>(v) * w + u;
      const auto [it, added] = index.emplace(key, static_cast<uint32_t>(voxels.size()));
      if (added) voxels.emplace_back();
      Voxel& vx = voxels[it->second];
      vx.point += p;
      vx.normal += n;
      if (has_color) {
        const uint8_t* px = f.color.data.data() + (static_cast<size_t>(v) * w + u) * 3;
        vx.color += Eigen::Vector3d(px[bgr ? 2 : 0], px[1], px[bgr ? 0 : 2]);
      }
      ++vx.count;
    }
  const Eigen::Isometry3d T = ToIsometry(pose);
  pipeline::PointCloud out;
  out.meta = f.meta;
  out.frame_id = "world";
  std::vector<uint32_t> kept;  // voxels whose normals did not cancel out
  kept.reserve(voxels.size());
  for (uint32_t i = 0; i < voxels.size(); ++i)
    if (voxels[i].normal.norm() > 1e-6) kept.push_back(i);
  const size_t n = kept.size();
  out.num_points = static_cast<uint32_t>(n);
  out.points = pipeline::Buffer::Allocate(n * 12);
  out.normals = pipeline::Buffer::Allocate(n * 12);
  out.colors = pipeline::Buffer::Allocate(n * 3);
  float* pts = out.points.mutable_as<float>();
  float* nn = out.normals.mutable_as<float>();
  uint8_t* c = out.colors.mutable_data();
  for (size_t k = 0; k < n; ++k) {
    const Voxel& vx = voxels[kept[k]];
    const Eigen::Vector3d p = T * (vx.point / vx.count);
    const Eigen::Vector3d normal = T.linear() * vx.normal.normalized();
    for (int a = 0; a < 3; ++a) {
      pts[3 * k + a] = static_cast<float>(p[a]);
      nn[3 * k + a] = static_cast<float>(normal[a]);
      c[3 * k + a] = has_color ? static_cast<uint8_t>(std::lround(vx.color[a] / vx.count)) : 200;
    }
  }
  return out;
}

}  // namespace dyn4d::perception
