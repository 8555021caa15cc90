#include "dyn4d/perception/backprojection.h"

#include <cmath>
#include <stdexcept>

namespace dyn4d::perception {

std::vector<std::string> BackprojectionConfig::Validate() const {
  std::vector<std::string> p;
  if (stride < 1) p.push_back("stride: must be >= 1");
  if (!(min_depth_m >= 0) || !(max_depth_m > min_depth_m))
    p.push_back("min_depth_m, max_depth_m: need 0 <= min < max");
  return p;
}

void CheckBackprojectable(const pipeline::RgbdFrame& f) {
  using pipeline::PixelEncoding;
  const auto& K = f.intrinsics;
  if (f.depth.empty())
    throw std::invalid_argument("frame " + std::to_string(f.meta.seq) + ": no depth image");
  if (f.depth.encoding != PixelEncoding::kMono16 && f.depth.encoding != PixelEncoding::kFloat32)
    throw std::invalid_argument("depth: encoding " + ToString(f.depth.encoding) +
                                " (need mono16 or 32FC1)");
  if (!(K.fx > 0) || !(K.fy > 0))
    throw std::invalid_argument("intrinsics: fx, fy must be positive (got " + std::to_string(K.fx) +
                                ", " + std::to_string(K.fy) + ")");
  if (K.width != f.depth.width || K.height != f.depth.height)
    throw std::invalid_argument("intrinsics: " + std::to_string(K.width) + "x" +
                                std::to_string(K.height) + " do not match depth " +
                                std::to_string(f.depth.width) + "x" +
                                std::to_string(f.depth.height));
  if (!(f.depth_scale > 0)) throw std::invalid_argument("depth_scale: must be positive");
  if (!f.color.empty() && (f.color.width != f.depth.width || f.color.height != f.depth.height))
    throw std::invalid_argument("color and depth sizes differ");
}

pipeline::PointCloud Backproject(const pipeline::RgbdFrame& f, const BackprojectionConfig& c,
                                 const pipeline::CameraPose* pose) {
  using pipeline::PixelEncoding;
  CheckBackprojectable(f);
  const auto& K = f.intrinsics;
  const bool has_color = !f.color.empty();

  // Rotation and translation (identity without a pose).
  double R[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, t[3] = {0, 0, 0};
  if (pose) {
    const double x = pose->q_world_cam[0], y = pose->q_world_cam[1], z = pose->q_world_cam[2],
                 w = pose->q_world_cam[3];
    const double n = std::sqrt(x * x + y * y + z * z + w * w);
    if (!(n > 0.5 && n < 1.5)) throw std::invalid_argument("pose: quaternion is not unit norm");
    const double qx = x / n, qy = y / n, qz = z / n, qw = w / n;
    const double r[9] = {
        1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw),     2 * (qx * qz + qy * qw),
        2 * (qx * qy + qz * qw),     1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw),
        2 * (qx * qz - qy * qw),     2 * (qy * qz + qx * qw),     1 - 2 * (qx * qx + qy * qy)};
    std::copy(r, r + 9, R);
    std::copy(pose->t_world_cam.begin(), pose->t_world_cam.end(), t);
  }

  // Write straight into the message buffers (sized for every sampled pixel;
  // the cloud then views the used prefix), so nothing is copied afterwards.
  const size_t cap = static_cast<size_t>((f.depth.width + c.stride - 1) / c.stride) *
                     ((f.depth.height + c.stride - 1) / c.stride);
  pipeline::Buffer xyz_buf = pipeline::Buffer::Allocate(cap * 3 * sizeof(float));
  pipeline::Buffer rgb_buf = pipeline::Buffer::Allocate(has_color ? cap * 3 : 0);
  float* xyz = xyz_buf.mutable_as<float>();
  uint8_t* rgb = rgb_buf.mutable_data();
  size_t n = 0;
  const bool bgr = f.color.encoding == PixelEncoding::kBgr8;
  const uint8_t* col = has_color ? f.color.data.data() : nullptr;
  for (int v = 0; v < f.depth.height; v += c.stride) {
    for (int u = 0; u < f.depth.width; u += c.stride) {
      const size_t idx = static_cast<size_t>(v) * f.depth.width + u;
      double z = f.depth.encoding == PixelEncoding::kMono16
                     ? f.depth.data.as<uint16_t>()[idx] / f.depth_scale
                     : f.depth.data.as<float>()[idx];
      if (!(z > c.min_depth_m && z < c.max_depth_m)) continue;
      const double X = (u - K.cx) * z / K.fx, Y = (v - K.cy) * z / K.fy;
      xyz[3 * n] = static_cast<float>(R[0] * X + R[1] * Y + R[2] * z + t[0]);
      xyz[3 * n + 1] = static_cast<float>(R[3] * X + R[4] * Y + R[5] * z + t[1]);
      xyz[3 * n + 2] = static_cast<float>(R[6] * X + R[7] * Y + R[8] * z + t[2]);
      if (has_color) {
        const uint8_t* px = col + idx * 3;
        rgb[3 * n] = px[bgr ? 2 : 0];
        rgb[3 * n + 1] = px[1];
        rgb[3 * n + 2] = px[bgr ? 0 : 2];
      }
      ++n;
    }
  }
  pipeline::PointCloud cloud;
  cloud.meta = f.meta;
  cloud.frame_id = pose ? "world" : "camera";
  cloud.num_points = static_cast<uint32_t>(n);
  cloud.points = pipeline::Buffer(xyz_buf.owner(), xyz_buf.data(), n * 3 * sizeof(float));
  if (has_color) cloud.colors = pipeline::Buffer(rgb_buf.owner(), rgb_buf.data(), n * 3);
  return cloud;
}

}  // namespace dyn4d::perception
