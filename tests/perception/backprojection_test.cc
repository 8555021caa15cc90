#include "dyn4d/perception/backprojection.h"

#include <catch2/catch.hpp>
#include <cmath>

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
