#include "dyn4d/io/synthetic_scene.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

using dyn4d::io::SyntheticScene;
using namespace dyn4d::pipeline;

namespace {

SyntheticScene::Config Small(bool noise) {
  SyntheticScene::Config c;
  c.width = 160;
  c.height = 120;
  c.fx = c.fy = 131.25;  // same field of view as 640x480 at 525
  c.num_frames = 30;
  c.depth_noise = noise;
  return c;
}

bool SameBytes(const Buffer& a, const Buffer& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// Rotation matrix (row-major) from a unit quaternion (x, y, z, w).
std::array<double, 9> Rot(const std::array<double, 4>& q) {
  const double x = q[0], y = q[1], z = q[2], w = q[3];
  return {1 - 2 * (y * y + z * z), 2 * (x * y - z * w),     2 * (x * z + y * w),
          2 * (x * y + z * w),     1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
          2 * (x * z - y * w),     2 * (y * z + x * w),     1 - 2 * (x * x + y * y)};
}

}  // namespace

TEST_CASE("Synthetic scene is deterministic for a seed", "[io][synthetic]") {
  SyntheticScene a(Small(true)), b(Small(true));
  auto ra = a.Render(7), rb = b.Render(7);
  CHECK(SameBytes(ra.frame.color.data, rb.frame.color.data));
  CHECK(SameBytes(ra.frame.depth.data, rb.frame.depth.data));
  SyntheticScene::Config other = Small(true);
  other.seed = 2;
  CHECK_FALSE(SameBytes(SyntheticScene(other).Render(7).frame.depth.data, ra.frame.depth.data));
}

TEST_CASE("Noise-free synthetic depth equals the ray-cast room geometry", "[io][synthetic]") {
  SyntheticScene scene(Small(false));
  auto r = scene.Render(10);
  const auto K = scene.intrinsics();
  const auto R = Rot(r.pose.q_world_cam);
  const auto& t = r.pose.t_world_cam;
  const double lo[3] = {-4, -3, 0}, hi[3] = {4, 3, 2.8};
  int checked = 0;
  for (int v = 5; v < K.height; v += 17) {
    for (int u = 3; u < K.width; u += 13) {
      const size_t idx = size_t(v) * K.width + u;
      if (r.instances.data.data()[idx] != 0) continue;  // an object, not the room
      const double dc[3] = {(u - K.cx) / K.fx, (v - K.cy) / K.fy, 1.0};
      double d[3];
      for (int a = 0; a < 3; ++a)
        d[a] = R[a * 3] * dc[0] + R[a * 3 + 1] * dc[1] + R[a * 3 + 2] * dc[2];
      double z = 1e9;  // exit distance of the ray from the room box
      for (int a = 0; a < 3; ++a)
        if (d[a] != 0) z = std::min(z, ((d[a] > 0 ? hi[a] : lo[a]) - t[a]) / d[a]);
      const double measured = r.frame.depth.data.as<uint16_t>()[idx] / r.frame.depth_scale;
      INFO("pixel " << u << "," << v);
      CHECK(measured == Approx(z).margin(1.0 / r.frame.depth_scale));
      ++checked;
    }
  }
  CHECK(checked > 50);
}

TEST_CASE("Ground-truth tracks match the rendered instances and project correctly",
          "[io][synthetic]") {
  SyntheticScene scene(Small(false));
  int seen = 0, projected = 0;
  for (int i = 0; i < 30; i += 5) {
    auto r = scene.Render(i);
    const auto K = scene.intrinsics();
    const auto R = Rot(r.pose.q_world_cam);
    for (const Track& tr : r.tracks.items) {
      ++seen;
      REQUIRE(tr.mask.width == int(tr.box.w));
      REQUIRE(tr.mask.height == int(tr.box.h));
      // The mask is the instance image inside the box.
      int on = 0;
      for (int y = 0; y < tr.mask.height; ++y)
        for (int x = 0; x < tr.mask.width; ++x) {
          const bool m = tr.mask.data.data()[y * tr.mask.width + x] == 255;
          const bool inst =
              r.instances.data.data()[(int(tr.box.y) + y) * K.width + int(tr.box.x) + x] ==
              tr.track_id;
          REQUIRE(m == inst);
          on += m;
        }
      CHECK(on >= 20);
      // The visible part (occlusion can hide some) lies inside the
      // projection of the object's 3D box under the true pose.
      double umin = 1e9, umax = -1e9, vmin = 1e9, vmax = -1e9;
      bool all_in_front = true;
      for (int corner = 0; corner < 8; ++corner) {
        double p[3];
        for (int a = 0; a < 3; ++a)
          p[a] = tr.position_world[a] + ((corner >> a) & 1 ? 0.5 : -0.5) * tr.extent[a] -
                 r.pose.t_world_cam[a];
        const double xc = R[0] * p[0] + R[3] * p[1] + R[6] * p[2];
        const double yc = R[1] * p[0] + R[4] * p[1] + R[7] * p[2];
        const double zc = R[2] * p[0] + R[5] * p[1] + R[8] * p[2];
        if (zc <= 0.05) all_in_front = false;
        const double u = K.fx * xc / zc + K.cx, v = K.fy * yc / zc + K.cy;
        umin = std::min(umin, u), umax = std::max(umax, u);
        vmin = std::min(vmin, v), vmax = std::max(vmax, v);
      }
      if (!all_in_front) continue;
      ++projected;
      CHECK(tr.box.x >= umin - 1);
      CHECK(tr.box.x + tr.box.w <= umax + 1);
      CHECK(tr.box.y >= vmin - 1);
      CHECK(tr.box.y + tr.box.h <= vmax + 1);
    }
  }
  CHECK(seen > 0);
  CHECK(projected > 0);
}

TEST_CASE("Depth noise follows the sensor model", "[io][synthetic]") {
  auto clean = SyntheticScene(Small(false)).Render(3);
  auto noisy = SyntheticScene(Small(true)).Render(3);
  const auto* a = clean.frame.depth.data.as<uint16_t>();
  const auto* b = noisy.frame.depth.data.as<uint16_t>();
  const size_t n = clean.frame.depth.data.size() / 2;
  size_t missing = 0, beyond = 0, valid = 0;
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == 0) continue;
    if (b[i] == 0) {
      ++missing;
      continue;
    }
    ++valid;
    const double z = a[i] / 5000.0;
    const double sigma = 0.0012 + 0.0019 * (z - 0.4) * (z - 0.4);
    if (std::abs(b[i] / 5000.0 - z) > 5 * sigma + 0.0004) ++beyond;
  }
  CHECK(missing > 0);                // edge dropouts exist
  CHECK(missing < n / 10);           // but are rare
  CHECK(beyond < valid / 1000 + 1);  // errors stay within 5 sigma
}

TEST_CASE("Synthetic scene config validation names the field", "[io][synthetic][bad-input]") {
  SyntheticScene::Config c;
  c.width = 2;
  c.num_objects = 99;
  auto problems = c.Validate();
  REQUIRE(problems.size() == 2);
  CHECK_THAT(problems[0], Catch::Contains("width"));
  CHECK_THAT(problems[1], Catch::Contains("num_objects"));
}

TEST_CASE("Synthetic scene: up to 50 objects, the ones beyond six wander", "[io][synthetic]") {
  SyntheticScene::Config c;
  c.width = 160, c.height = 120, c.fx = c.fy = 131.25, c.num_frames = 30;
  c.num_objects = SyntheticScene::kMaxObjects;
  REQUIRE(c.Validate().empty());
  SyntheticScene scene(c);
  const auto r = scene.Render(15);
  REQUIRE(r.objects.size() == 50);
  for (size_t k = 6; k < r.objects.size(); ++k) CHECK(r.objects[k].role == "wanders");
  CHECK(r.objects[49].id == 50);
}
