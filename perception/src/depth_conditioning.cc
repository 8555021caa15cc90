#include "dyn4d/perception/depth_conditioning.h"

#include <open3d/camera/PinholeCameraIntrinsic.h>
#include <open3d/geometry/KDTreeSearchParam.h>
#include <open3d/geometry/PointCloud.h>
#include <open3d/geometry/RGBDImage.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

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

pipeline::PointCloud MakeFrameCloud(const pipeline::RgbdFrame& f, const pipeline::CameraPose& pose,
                                    const pipeline::Image* mask, double voxel_m,
                                    double max_depth_m) {
  using namespace open3d;
  // Every second pixel is plenty before a voxel grid of centimetres; building
  // the full-resolution cloud in Open3D costs several times more.
  pipeline::RgbdFrame masked = f;
  if (mask && mask->width == f.depth.width && mask->height == f.depth.height &&
      f.depth.encoding == pipeline::PixelEncoding::kMono16) {
    masked.depth = pipeline::Image::Allocate(f.depth.width, f.depth.height, f.depth.encoding);
    const uint16_t* in = f.depth.data.as<uint16_t>();
    uint16_t* out = masked.depth.data.mutable_as<uint16_t>();
    for (size_t i = 0; i < mask->data.size(); ++i) out[i] = mask->data.data()[i] ? 0 : in[i];
  }
  BackprojectionConfig bc;
  bc.stride = 2;
  bc.max_depth_m = max_depth_m;
  const pipeline::PointCloud sampled = Backproject(masked, bc);  // camera frame
  auto cloud = std::make_shared<geometry::PointCloud>();
  cloud->points_.resize(sampled.num_points);
  cloud->colors_.resize(sampled.colors.empty() ? 0 : sampled.num_points);
  for (uint32_t i = 0; i < sampled.num_points; ++i) {
    const float* p = sampled.points.as<float>() + 3 * i;
    cloud->points_[i] = Eigen::Vector3d(p[0], p[1], p[2]);
    if (!cloud->colors_.empty()) {
      const uint8_t* c = sampled.colors.data() + 3 * i;
      cloud->colors_[i] = Eigen::Vector3d(c[0], c[1], c[2]) / 255.0;
    }
  }
  if (voxel_m > 0) cloud = cloud->VoxelDownSample(voxel_m);
  cloud->EstimateNormals(geometry::KDTreeSearchParamKNN(10));
  cloud->OrientNormalsTowardsCameraLocation(Eigen::Vector3d::Zero());
  cloud->Transform(ToIsometry(pose).matrix());
  pipeline::PointCloud out;
  out.meta = f.meta;
  out.frame_id = "world";
  const size_t n = cloud->points_.size();
  out.num_points = static_cast<uint32_t>(n);
  out.points = pipeline::Buffer::Allocate(n * 12);
  out.normals = pipeline::Buffer::Allocate(n * 12);
  out.colors = pipeline::Buffer::Allocate(n * 3);
  float* p = out.points.mutable_as<float>();
  float* nn = out.normals.mutable_as<float>();
  uint8_t* c = out.colors.mutable_data();
  for (size_t i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a) {
      p[3 * i + a] = static_cast<float>(cloud->points_[i][a]);
      nn[3 * i + a] = static_cast<float>(cloud->normals_[i][a]);
      c[3 * i + a] =
          cloud->colors_.empty()
              ? 200
              : static_cast<uint8_t>(std::lround(std::clamp(cloud->colors_[i][a], 0.0, 1.0) * 255));
    }
  return out;
}

}  // namespace dyn4d::perception
