#include "dyn4d/io/depth_distortion.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "../common/shared_data.h"
#include "../common/test_stages.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/pipeline/config.h"

using namespace dyn4d;

namespace {

constexpr double kDegree = M_PI / 180;

pipeline::CameraIntrinsics Camera(int width = 320, int height = 240) {
  return {262.5, 262.5, width / 2.0 - 0.5, height / 2.0 - 0.5, width, height};
}

struct Box {
  Eigen::Vector3d lo, hi;
};

// Distance along `dir` from `origin` to where the ray leaves (inside = true)
// or enters the box; infinity if it does not.
double RayBox(const Eigen::Vector3d& origin, const Eigen::Vector3d& dir, const Box& b,
              bool inside) {
  double t_in = -1e9, t_out = 1e9;
  for (int a = 0; a < 3; ++a) {
    const double t0 = (b.lo[a] - origin[a]) / dir[a], t1 = (b.hi[a] - origin[a]) / dir[a];
    t_in = std::max(t_in, std::min(t0, t1));
    t_out = std::min(t_out, std::max(t0, t1));
  }
  if (inside) return t_out;
  return t_in > 0 && t_in <= t_out ? t_in : INFINITY;
}

// A 6 x 3 x 8 m room (camera frame: x right, y down, z ahead) with furniture,
// seen from T_world_cam by a depth sensor with distortion `k`: it measures
// true depth / factor (mono16, 5000 units per metre).
pipeline::RgbdFrame RenderRoom(const Eigen::Isometry3d& T_world_cam,
                               const io::DepthDistortionModel& k, int seq) {
  static const Box room{{-3, -1.5, -2}, {3, 1.5, 6}};
  static const std::vector<Box> furniture{{{-1.6, 0.3, 2.0}, {-0.6, 1.5, 2.8}},
                                          {{0.7, -0.6, 2.6}, {1.5, 0.4, 3.4}},
                                          {{-0.3, 0.9, 3.8}, {0.5, 1.5, 4.4}},
                                          {{1.9, -1.5, 4.5}, {3.0, 1.5, 5.2}}};
  const pipeline::CameraIntrinsics cam = Camera();
  pipeline::RgbdFrame f;
  f.meta.seq = seq;
  f.meta.stamp_ns = seq * 33'333'333LL;
  f.intrinsics = cam;
  f.depth_scale = 5000;
  f.depth = pipeline::Image::Allocate(cam.width, cam.height, pipeline::PixelEncoding::kMono16);
  auto* out = reinterpret_cast<uint16_t*>(f.depth.data.mutable_data());
  for (int v = 0; v < cam.height; ++v)
    for (int u = 0; u < cam.width; ++u) {
      const double x = (u - cam.cx) / cam.fx, y = (v - cam.cy) / cam.fy;
      const Eigen::Vector3d dir = T_world_cam.linear() * Eigen::Vector3d(x, y, 1);
      double t = RayBox(T_world_cam.translation(), dir, room, true);
      for (const Box& b : furniture)
        t = std::min(t, RayBox(T_world_cam.translation(), dir, b, false));
      out[v * cam.width + u] = static_cast<uint16_t>(std::lround(t / k.Multiplier(x, y) * 5000));
    }
  return f;
}

// A hand-held sweep: 30 degrees of pan, a few of tilt, 0.2 m of walking.
Eigen::Isometry3d SweepPose(int i) {
  Eigen::Isometry3d T = Eigen::Isometry3d::Identity();
  T.linear() = (Eigen::AngleAxisd(0.5 * i * kDegree, Eigen::Vector3d::UnitY()) *
                Eigen::AngleAxisd(4 * kDegree * std::sin(i / 9.0), Eigen::Vector3d::UnitX()))
                   .toRotationMatrix();
  T.translation() = Eigen::Vector3d(0.003 * i, 0.03 * std::sin(i / 7.0), 0.002 * i);
  return T;
}

// Tracking-like error on each starting pose: ~0.3 degrees and ~5 mm.
Eigen::Isometry3d Perturbed(const Eigen::Isometry3d& T, std::mt19937& rng) {
  std::normal_distribution<double> n(0, 1);
  Eigen::Isometry3d d = Eigen::Isometry3d::Identity();
  d.linear() =
      Eigen::AngleAxisd(0.3 * kDegree, Eigen::Vector3d(n(rng), n(rng), n(rng)).normalized())
          .toRotationMatrix();
  d.translation() = 0.005 * Eigen::Vector3d(n(rng), n(rng), n(rng));
  return T * d;
}

struct Sweep {
  std::vector<pipeline::RgbdFrame> frames;
  std::vector<Eigen::Isometry3d> poses;
  std::vector<io::DepthCalibrationView> Views(unsigned seed) const {
    std::mt19937 rng(seed);
    std::vector<io::DepthCalibrationView> views;
    for (size_t i = 0; i < frames.size(); ++i)
      views.push_back({&frames[i], Perturbed(poses[i], rng)});
    return views;
  }
};

Sweep RenderSweep(const io::DepthDistortionModel& k, int count = 60) {
  Sweep s;
  for (int i = 0; i < count; ++i) {
    s.poses.push_back(SweepPose(i));
    s.frames.push_back(RenderRoom(s.poses.back(), k, i));
  }
  return s;
}

uint16_t DepthAt(const pipeline::Image& d, int u, int v) {
  return reinterpret_cast<const uint16_t*>(d.data.data())[v * d.width + u];
}

}  // namespace

TEST_CASE("the depth factor corrects each valid pixel and leaves holes alone", "[io][depth]") {
  const pipeline::CameraIntrinsics cam{5, 5, 3.5, 2.5, 8, 6};  // x in [-0.7, 0.7]
  io::DepthDistortionModel model;
  model.k = {-0.03, 0.02, 0.1, 0.05, -0.04};
  pipeline::Image depth = pipeline::Image::Allocate(8, 6, pipeline::PixelEncoding::kMono16);
  auto* p = reinterpret_cast<uint16_t*>(depth.data.mutable_data());
  for (int i = 0; i < 48; ++i) p[i] = 10000;
  p[5] = 0;
  p[47] = 65500;
  const pipeline::Image out = io::CorrectDepth(depth, cam, model);
  for (int v = 0; v < 6; ++v)
    for (int u = 0; u < 8; ++u) {
      const int i = v * 8 + u;
      const double m = model.Multiplier((u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy);
      INFO("pixel " << u << "," << v << " factor " << m);
      if (i == 5)
        CHECK(DepthAt(out, u, v) == 0);
      else if (i == 47)
        CHECK(DepthAt(out, u, v) == std::min<long>(65535, std::lround(65500 * m)));
      else
        CHECK(DepthAt(out, u, v) == std::lround(10000 * m));
    }
  CHECK(DepthAt(out, 7, 5) == 65535);    // saturated: the factor there is 1.05
  CHECK(DepthAt(depth, 0, 0) == 10000);  // the input is not touched

  pipeline::Image metres = pipeline::Image::Allocate(8, 6, pipeline::PixelEncoding::kFloat32);
  reinterpret_cast<float*>(metres.data.mutable_data())[9] = 2.0f;
  const pipeline::Image metres_out = io::CorrectDepth(metres, cam, model);
  CHECK(reinterpret_cast<const float*>(metres_out.data.data())[9] ==
        Approx(2.0 * model.Multiplier((1 - cam.cx) / cam.fx, (1 - cam.cy) / cam.fy)));
  CHECK(reinterpret_cast<const float*>(metres_out.data.data())[0] == 0.0f);

  CHECK_THROWS_WITH(
      io::CorrectDepth(pipeline::Image::Allocate(8, 6, pipeline::PixelEncoding::kBgr8), cam, model),
      Catch::Contains("mono16 or float32"));
  CHECK_THROWS_WITH(io::CorrectDepth(depth, Camera(16, 12), model),
                    Catch::Contains("8x6") && Catch::Contains("16x12"));
}

TEST_CASE("implausible distortion terms are refused by name", "[io][depth]") {
  io::DepthDistortionModel model;
  CHECK(model.Validate(Camera()).empty());
  model.k = {0.9, 0, 0, 0, 0};  // 45 % off at the image's sides: a typo
  const auto far = model.Validate(Camera());
  REQUIRE(far.size() == 1);
  CHECK_THAT(far[0], Catch::Contains("depth_kx..depth_kyy") && Catch::Contains("0.8-1.25"));
  model.k = {0, 0, NAN, 0, 0};
  const auto nan = model.Validate(Camera());
  REQUIRE_FALSE(nan.empty());
  CHECK_THAT(nan[0], Catch::Contains("depth_kxx") && Catch::Contains("finite"));

  SECTION("input node params") {
    auto none = pipeline::Params::FromYaml("{}");
    CHECK_FALSE(io::ReadDepthDistortionParams(none));
    auto given = pipeline::Params::FromYaml("{depth_kx: -0.02, depth_kyy: 0.05}");
    const auto m = io::ReadDepthDistortionParams(given);
    given.Finish();
    REQUIRE(m);
    CHECK(m->k == std::array<double, 5>{-0.02, 0, 0, 0, 0.05});
    auto typo = pipeline::Params::FromYaml("{depth_kxy: 3}", "g.yaml", "nodes.input.params");
    io::ReadDepthDistortionParams(typo);
    CHECK_THROWS_WITH(typo.Finish(), Catch::Contains("nodes.input.params.depth_kxy"));
  }
  SECTION("a source corrects its frames, and one without depth is refused") {
    const std::string dir = test::TempDir("depth_correction_7scenes");
    const pipeline::CameraIntrinsics cam = Camera();
    cv::imwrite(dir + "/frame-000000.color.png",
                cv::Mat(cam.height, cam.width, CV_8UC3, cv::Scalar(90, 120, 150)));
    cv::imwrite(dir + "/frame-000000.depth.png",
                cv::Mat(cam.height, cam.width, CV_16UC1, cv::Scalar(2000)));
    io::SourceConfig c;
    c.path = dir;
    c.fx = cam.fx, c.fy = cam.fy, c.cx = cam.cx, c.cy = cam.cy;
    io::DepthDistortionModel model2;
    model2.k = {-0.05, 0, 0, 0, 0};
    c.depth_distortion = model2;
    auto source = io::OpenSource(c);
    CHECK_THAT(source->Describe(), Catch::Contains("depth corrected"));
    io::SourceRead r = source->Next();
    REQUIRE(r.status == io::SourceRead::Status::kFrame);
    CHECK(DepthAt(r.frame.depth, 0, 0) ==
          std::lround(2000 * model2.Multiplier(-cam.cx / cam.fx, 0)));
    CHECK(DepthAt(r.frame.depth, 0, 0) > 2000);  // the left edge read short

    const std::string images = test::TempDir("depth_correction_rgb_only");
    cv::imwrite(images + "/000000.png", cv::Mat(16, 16, CV_8UC3, cv::Scalar(1, 2, 3)));
    io::SourceConfig rgb = c;
    rgb.path = images;
    CHECK_THROWS_WITH(io::OpenSource(rgb), Catch::Contains("no depth to correct"));
  }
}

TEST_CASE("self-calibration finds a sensor's depth distortion from a static sweep", "[io][depth]") {
  io::DepthDistortionModel truth;
  truth.k = {-0.03, 0.02, 0.1, 0.12, -0.06};  // Bonn's Xtion is of this order
  const Sweep distorted = RenderSweep(truth);
  const io::DepthSelfCalibrationResult r = io::CalibrateDepthDistortion(distorted.Views(1));
  REQUIRE(r.status == io::DepthSelfCalibrationResult::Status::kOk);
  INFO("found " << r.model.k[0] << " " << r.model.k[1] << " " << r.model.k[2] << " " << r.model.k[3]
                << " " << r.model.k[4] << "; rms " << r.rms_rigid_sigmas << " -> "
                << r.rms_model_sigmas << " over " << r.comparisons << " comparisons, " << r.pairs
                << " pairs");
  CHECK(r.pairs == 21);
  for (size_t i = 0; i < truth.k.size(); ++i)
    CHECK(r.model.k[i] == Approx(truth.k[i]).margin(0.003));
  CHECK(r.rms_model_sigmas < 0.5 * r.rms_rigid_sigmas);

  SECTION("a sensor without distortion gets none") {
    const Sweep exact = RenderSweep(io::DepthDistortionModel{});
    const auto none = io::CalibrateDepthDistortion(exact.Views(2));
    REQUIRE(none.status == io::DepthSelfCalibrationResult::Status::kOk);
    for (double k : none.model.k) CHECK(std::abs(k) < 0.005);
    CHECK(none.rms_model_sigmas == Approx(none.rms_rigid_sigmas).epsilon(0.05));
  }
  SECTION("too few frames, or two sensors, are refused with the reason") {
    std::vector<io::DepthCalibrationView> few = distorted.Views(3);
    few.resize(20);
    const auto short_sweep = io::CalibrateDepthDistortion(few);
    CHECK(short_sweep.status == io::DepthSelfCalibrationResult::Status::kFailed);
    CHECK_THAT(short_sweep.message, Catch::Contains("20 frames give 2 pairs"));
    Sweep mixed = distorted;
    mixed.frames[7].intrinsics.fx = 300;
    const auto two = io::CalibrateDepthDistortion(mixed.Views(3));
    CHECK(two.status == io::DepthSelfCalibrationResult::Status::kFailed);
    CHECK_THAT(two.message, Catch::Contains("view 7") && Catch::Contains("intrinsics"));
  }
}
