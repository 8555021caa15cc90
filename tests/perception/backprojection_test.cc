#include "dyn4d/perception/backprojection.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/depth_conditioning.h"

using namespace dyn4d;
using namespace dyn4d::pipeline;

namespace {
RgbdFrame TinyFrame() {
  RgbdFrame f;
  f.depth = Image::Allocate(4, 3, PixelEncoding::kMono16);
  f.color = Image::Allocate(4, 3, PixelEncoding::kBgr8);
  f.intrinsics = {2.0, 4.0, 1.0, 1.0, 4, 3};
  f.depth_scale = 1000;
  // One valid pixel at (u=3, v=2), 2 m; blue-ish colour in BGR.
  f.depth.data.mutable_as<uint16_t>()[2 * 4 + 3] = 2000;
  uint8_t* px = f.color.data.mutable_data() + (2 * 4 + 3) * 3;
  px[0] = 200, px[1] = 100, px[2] = 50;
  return f;
}
}  // namespace

TEST_CASE("Back-projection of a hand-computed pixel", "[perception][geometry]") {
  perception::BackprojectionConfig c;
  c.stride = 1;
  SECTION("camera frame") {
    PointCloud cloud = perception::Backproject(TinyFrame(), c);
    REQUIRE(cloud.num_points == 1);  // zero depth is invalid
    CHECK(cloud.frame_id == "camera");
    const float* p = cloud.points.as<float>();
    // X = (3 - 1) * 2 / 2 = 2, Y = (2 - 1) * 2 / 4 = 0.5, Z = 2.
    CHECK(p[0] == Approx(2.0));
    CHECK(p[1] == Approx(0.5));
    CHECK(p[2] == Approx(2.0));
    // Colours are RGB in clouds.
    CHECK(cloud.colors.data()[0] == 50);
    CHECK(cloud.colors.data()[2] == 200);
  }
  SECTION("world frame: 90 degrees about z, then +1 m in x") {
    CameraPose pose;
    pose.t_world_cam = {1, 0, 0};
    pose.q_world_cam = {0, 0, std::sin(M_PI / 4), std::cos(M_PI / 4)};
    PointCloud cloud = perception::Backproject(TinyFrame(), c, &pose);
    const float* p = cloud.points.as<float>();
    // R (2, 0.5, 2) = (-0.5, 2, 2); + t = (0.5, 2, 2).
    CHECK(cloud.frame_id == "world");
    CHECK(p[0] == Approx(0.5));
    CHECK(p[1] == Approx(2.0));
    CHECK(p[2] == Approx(2.0));
  }
}

TEST_CASE("Back-projection rejects inconsistent frames with the field named",
          "[perception][bad-input]") {
  perception::BackprojectionConfig c;
  RgbdFrame f = TinyFrame();
  f.intrinsics.width = 640;
  CHECK_THROWS_WITH(perception::Backproject(f, c), Catch::Contains("intrinsics"));
  f = TinyFrame();
  f.intrinsics.fx = 0;
  CHECK_THROWS_WITH(perception::Backproject(f, c), Catch::Contains("fx"));
  f = TinyFrame();
  f.depth = Image();
  CHECK_THROWS_WITH(perception::Backproject(f, c), Catch::Contains("no depth"));
  CameraPose bad;
  bad.q_world_cam = {0, 0, 0, 0};
  CHECK_THROWS_WITH(perception::Backproject(TinyFrame(), c, &bad), Catch::Contains("quaternion"));
}

TEST_CASE("Bilateral depth filter removes noise but not edges", "[perception][geometry]") {
  io::SyntheticScene::Config c;
  c.width = 160, c.height = 120, c.fx = c.fy = 131.25, c.num_objects = 3;
  c.depth_noise = false;
  auto exact = io::SyntheticScene(c).Render(20).frame.depth;
  c.depth_noise = true;
  auto noisy = io::SyntheticScene(c).Render(20).frame.depth;
  pipeline::Image filtered = perception::BilateralFilterDepth(noisy);
  const auto *e = exact.data.as<uint16_t>(), *n = noisy.data.as<uint16_t>(),
             *f = filtered.data.as<uint16_t>();
  double err_noisy = 0, err_filtered = 0;
  size_t count = 0, smeared = 0;
  for (size_t i = 0; i < exact.data.size() / 2; ++i) {
    if (!e[i] || !n[i]) {
      CHECK(f[i] == (n[i] ? f[i] : 0));  // invalid stays invalid
      continue;
    }
    err_noisy += std::pow(n[i] - e[i], 2), err_filtered += std::pow(f[i] - e[i], 2);
    ++count;
    smeared += std::abs(f[i] - e[i]) > 0.05 * e[i];  // mixed with another surface
  }
  INFO("rms noisy " << std::sqrt(err_noisy / count) << ", filtered "
                    << std::sqrt(err_filtered / count));
  CHECK(err_filtered < 0.6 * err_noisy);
  CHECK(smeared < count / 1000);
}

TEST_CASE("Per-frame clouds: world frame, voxel-downsampled, normals and colours",
          "[perception][geometry]") {
  io::SyntheticScene::Config c;
  c.width = 160, c.height = 120, c.fx = c.fy = 131.25, c.num_objects = 0, c.depth_noise = false;
  auto r = io::SyntheticScene(c).Render(5);
  pipeline::PointCloud cloud = perception::MakeFrameCloud(r.frame, r.pose, nullptr, 0.1, 8.0);
  REQUIRE(cloud.num_points > 100);
  CHECK(cloud.num_points < 160 * 120 / 4);  // downsampled
  REQUIRE(cloud.normals.size() == cloud.num_points * 12);
  REQUIRE(cloud.colors.size() == cloud.num_points * 3);
  const float* p = cloud.points.as<float>();
  const float* nn = cloud.normals.as<float>();
  size_t on_room = 0, on_one_plane = 0, normal_right = 0;
  for (uint32_t i = 0; i < cloud.num_points; ++i) {
    const float x = p[3 * i], y = p[3 * i + 1], z = p[3 * i + 2];
    // Distances to the room's six planes, and each one's inward normal.
    const double d[6] = {std::abs(x + 4.f), std::abs(x - 4.f), std::abs(y + 3.f),
                         std::abs(y - 3.f), std::abs(z),       std::abs(z - 2.8f)};
    const int axis[6] = {0, 0, 1, 1, 2, 2};
    const double inward[6] = {1, -1, 1, -1, 1, -1};
    const int nearest = int(std::min_element(d, d + 6) - d);
    on_room += d[nearest] < 0.06;
    CHECK(std::abs(std::sqrt(nn[3 * i] * nn[3 * i] + nn[3 * i + 1] * nn[3 * i + 1] +
                             nn[3 * i + 2] * nn[3 * i + 2]) -
                   1) < 1e-3);
    // Away from corners and edges (the voxel there straddles two planes),
    // the normal is the plane's, pointing into the room (at the camera).
    int near_planes = 0;
    for (double di : d) near_planes += di < 0.2;
    if (d[nearest] < 0.06 && near_planes == 1) {
      ++on_one_plane;
      normal_right += nn[3 * i + axis[nearest]] * inward[nearest] > 0.95;
    }
  }
  CHECK(on_room > cloud.num_points * 95 / 100);
  REQUIRE(on_one_plane > cloud.num_points / 2);
  CHECK(normal_right > on_one_plane * 98 / 100);
}
