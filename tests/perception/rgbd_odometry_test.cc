#include "dyn4d/perception/rgbd_odometry.h"

#include <catch2/catch.hpp>
#include <cstring>

#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/pose.h"
#include "dyn4d/perception/trajectory_eval.h"

using namespace dyn4d;
using perception::RgbdOdometry;

namespace {

io::SyntheticScene::Config Scene(int objects) {
  io::SyntheticScene::Config c;
  c.width = 320, c.height = 240, c.fx = c.fy = 262.5, c.num_frames = 45, c.num_objects = objects;
  return c;  // noise on: Kinect-like depth noise and dropouts
}

// Tracks every frame of the scene; returns ATE, and the statuses.
double TrackScene(const io::SyntheticScene& scene, bool use_masks,
                  std::vector<RgbdOdometry::Result::Status>* statuses = nullptr,
                  const std::function<void(int, pipeline::RgbdFrame&)>& damage = nullptr,
                  RgbdOdometry::Config config = RgbdOdometry::Config()) {
  RgbdOdometry odometry(config);
  std::vector<std::pair<perception::StampedPose, perception::StampedPose>> pairs;
  for (int i = 0; i < scene.config().num_frames; ++i) {
    auto r = scene.Render(i);
    if (damage) damage(i, r.frame);
    pipeline::Image mask;
    if (use_masks) {  // every object pixel is "moving"
      mask = pipeline::Image::Allocate(r.instances.width, r.instances.height,
                                       pipeline::PixelEncoding::kMono8);
      for (size_t k = 0; k < r.instances.data.size(); ++k)
        mask.data.mutable_data()[k] = r.instances.data.data()[k] ? 255 : 0;
    }
    auto t = odometry.Track(r.frame, use_masks ? &mask : nullptr);
    if (statuses) statuses->push_back(t.status);
    if (t.usable())
      pairs.push_back({{i / 30.0, t.T_world_cam}, {i / 30.0, perception::ToIsometry(r.pose)}});
  }
  return perception::EvaluateTrajectory(pairs).ate_rmse_m;
}
}  // namespace

TEST_CASE("Odometry follows a synthetic camera with known motion", "[perception][odometry]") {
  SECTION("static scene") {
    const double ate = TrackScene(io::SyntheticScene(Scene(0)), false);
    INFO("ATE " << ate << " m over a 0.45 m path");
    CHECK(ate < 0.01);
  }
  SECTION("static scene with the Ceres window refinement on") {
    RgbdOdometry::Config c;
    c.window_size = 5;
    const double ate = TrackScene(io::SyntheticScene(Scene(0)), false, nullptr, nullptr, c);
    INFO("ATE " << ate);
    CHECK(ate < 0.01);
  }
  SECTION("moving objects, masked out") {
    const double ate = TrackScene(io::SyntheticScene(Scene(5)), true);
    INFO("ATE " << ate);
    CHECK(ate < 0.01);
  }
  SECTION("moving objects (16 % of the pixels), not masked: robust weights ignore them") {
    const double ate = TrackScene(io::SyntheticScene(Scene(5)), false);
    INFO("ATE " << ate);
    CHECK(ate < 0.01);
  }
}

TEST_CASE("Lost tracking is reported and tracking recovers", "[perception][odometry][bad-input]") {
  io::SyntheticScene scene(Scene(0));
  std::vector<RgbdOdometry::Result::Status> st;
  // Frames 20-22 lose all depth (sensor covered).
  TrackScene(scene, false, &st, [](int i, pipeline::RgbdFrame& f) {
    if (i >= 20 && i <= 22) {
      pipeline::Image d =
          pipeline::Image::Allocate(f.depth.width, f.depth.height, f.depth.encoding);
      f.depth = d;
    }
  });
  using S = RgbdOdometry::Result::Status;
  CHECK(st[0] == S::kInitialised);
  for (int i = 1; i < 20; ++i) CHECK(st[i] == S::kOk);
  for (int i = 20; i <= 22; ++i) CHECK(st[i] == S::kLost);
  // The keyframe is still valid: tracking resumes against it.
  for (int i = 23; i < 45; ++i) CHECK(st[i] == S::kOk);
}

TEST_CASE("A sudden jump is detected as lost, not followed", "[perception][odometry][bad-input]") {
  io::SyntheticScene::Config c = Scene(0);
  io::SyntheticScene scene(c);
  RgbdOdometry odometry;
  for (int i = 0; i < 10; ++i) REQUIRE(odometry.Track(scene.Render(i).frame).usable());
  // Frame 40 right after 10: over a metre away from the prediction.
  auto r = odometry.Track(scene.Render(40).frame);
  CHECK(r.status == RgbdOdometry::Result::Status::kLost);
  CHECK_THAT(r.message, Catch::Contains("jump") || Catch::Contains("inliers"));
  // Tracking then re-initialises on the next frame and follows from there.
  CHECK(odometry.Track(scene.Render(41).frame).status ==
        RgbdOdometry::Result::Status::kInitialised);
  auto a = odometry.Track(scene.Render(42).frame);
  REQUIRE(a.status == RgbdOdometry::Result::Status::kOk);
  // Relative motion 41 -> 42 matches the ground truth to a few mm.
  auto gt41 = perception::ToIsometry(scene.Render(41).pose),
       gt42 = perception::ToIsometry(scene.Render(42).pose);
  RgbdOdometry fresh;
  fresh.Track(scene.Render(41).frame);
  const Eigen::Isometry3d est = fresh.Track(scene.Render(42).frame).T_world_cam;
  CHECK((est.translation() - (gt41.inverse() * gt42).translation()).norm() < 0.005);
}

TEST_CASE("Depth taken later than colour is brought to the colour's time",
          "[perception][odometry]") {
  // The same static scene rendered at 10 and 30 frames/s: colour (and the
  // ground truth) from the 10 fps sequence, depth from the 30 fps one a
  // third of a frame later (33 ms), as unsynchronised RGB-D sensors deliver
  // it (TUM fr1: 0-11 ms).
  io::SyntheticScene::Config slow = Scene(0);
  slow.fps = 10, slow.num_frames = 20;
  io::SyntheticScene::Config fast = slow;
  fast.fps = 30, fast.num_frames = 60;
  const io::SyntheticScene colour_scene(slow), depth_scene(fast);
  auto track = [&](bool compensate) {
    RgbdOdometry::Config c;
    c.compensate_depth_time = compensate;
    RgbdOdometry odometry(c);
    std::vector<std::pair<perception::StampedPose, perception::StampedPose>> pairs;
    for (int i = 0; i < slow.num_frames; ++i) {
      auto r = colour_scene.Render(i);
      r.frame.depth = depth_scene.Render(3 * i + 1).frame.depth;
      r.frame.depth_offset_ns = 1'000'000'000 / 30;
      auto t = odometry.Track(r.frame);
      REQUIRE(t.usable());
      pairs.push_back({{i / 10.0, t.T_world_cam}, {i / 10.0, perception::ToIsometry(r.pose)}});
    }
    return perception::EvaluateTrajectory(pairs);
  };
  const auto off = track(false), on = track(true);
  // Measured: 1.38 mm uncompensated, 1.02 mm compensated.
  INFO("uncompensated ATE " << off.ate_rmse_m << " m, compensated " << on.ate_rmse_m << " m");
  CHECK(on.ate_rmse_m < 0.85 * off.ate_rmse_m);
  CHECK(on.ate_rmse_m < 0.0015);
}

namespace {
// A still camera before a textured wall 4 m away; a textured board 1.2 m
// away fills the left `board_share` of the image and slides sideways by
// `board_shift_m` a frame (a person walking past close to the camera).
pipeline::RgbdFrame BoardBeforeWall(int index, double board_share, double board_shift_m) {
  constexpr int kW = 320, kH = 240;
  constexpr double kF = 262.5, kWall = 4.0, kBoard = 1.2;
  pipeline::RgbdFrame f;
  f.meta.seq = static_cast<uint64_t>(index);
  f.meta.stamp_ns = static_cast<int64_t>(index) * 33'333'333;
  f.intrinsics = {kF, kF, kW / 2.0, kH / 2.0, kW, kH};
  f.depth_scale = 5000;
  f.color = pipeline::Image::Allocate(kW, kH, pipeline::PixelEncoding::kBgr8);
  f.depth = pipeline::Image::Allocate(kW, kH, pipeline::PixelEncoding::kMono16);
  // Texture in metres on each surface, so it moves with the surface.
  auto texture = [](double x, double y) {
    return 128 + 50 * std::sin(9.1 * x + 2.3 * y) + 40 * std::sin(5.3 * y - 3.7 * x) +
           25 * std::sin(17.9 * x * y + 1.1);
  };
  uint8_t* bgr = f.color.data.mutable_data();
  auto* depth = reinterpret_cast<uint16_t*>(f.depth.data.mutable_data());
  for (int v = 0; v < kH; ++v)
    for (int u = 0; u < kW; ++u) {
      const bool board = u < board_share * kW;
      const double z = board ? kBoard : kWall;
      const double x = (u - kW / 2.0) / kF * z, y = (v - kH / 2.0) / kF * z;
      const double g = board ? texture(x - index * board_shift_m + 7, y) : texture(x, y);
      const size_t i = static_cast<size_t>(v) * kW + u;
      std::memset(bgr + 3 * i, static_cast<int>(std::clamp(g, 0.0, 255.0)), 3);
      depth[i] = static_cast<uint16_t>(std::lround(z * f.depth_scale));
    }
  return f;
}
}  // namespace

TEST_CASE(
    "Weighted by surface area, a near object filling most of the view does not move the camera",
    "[perception][odometry]") {
  // The board fills 60 % of the pixels but a tenth of the surface in view
  // (each of its pixels covers (1.2 / 4)^2 of a wall pixel's area).
  auto camera_motion = [](bool by_area) {
    RgbdOdometry::Config c;
    c.weight_by_surface_area = by_area;
    RgbdOdometry odometry(c);
    Eigen::Isometry3d last = Eigen::Isometry3d::Identity();
    for (int i = 0; i < 6; ++i) {
      const auto r = odometry.Track(BoardBeforeWall(i, 0.6, 0.01));
      REQUIRE(r.usable());
      last = r.T_world_cam;
    }
    return last.translation().norm();
  };
  const double alike = camera_motion(false), by_area = camera_motion(true);
  INFO("camera moved " << alike << " m with pixels alike, " << by_area << " m by surface area");
  // Pixels alike, the camera follows the board (5 cm over five frames).
  CHECK(alike > 0.04);
  // By area the board keeps an eighth of the weight (0.6 * 0.09 against
  // 0.4), which the robust weights mostly leave out: the wall holds it.
  CHECK(by_area < 0.25 * alike);
}
