#include "dyn4d/io/color_registration.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "../common/test_stages.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/pipeline/config.h"

using namespace dyn4d;
namespace fs = std::filesystem;

namespace {

pipeline::Image ToImage(const cv::Mat& m, pipeline::PixelEncoding encoding) {
  pipeline::Image img;
  img.width = m.cols;
  img.height = m.rows;
  img.encoding = encoding;
  img.data = pipeline::Buffer::CopyOf(m.data, m.total() * m.elemSize());
  return img;
}

cv::Mat ToMat(const pipeline::Image& img) {  // bgr8 only, a view
  return cv::Mat(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.data.data()));
}

// A wall at 3 m with a box face at 1.5 m, seen by a depth camera and by a
// colour camera with its own intrinsics, `t` beside it (a depth-camera point
// p is at p + t for the colour camera). Colour is a smooth pattern of the
// surface point, different on the box, so colour edges sit on depth edges.
struct TwoCameraScene {
  pipeline::CameraIntrinsics depth_k{300, 300, 160, 120, 320, 240};
  io::ColorCameraModel color{{270, 270, 158, 122, 320, 240}, Eigen::Vector3d(-0.025, 0.004, 0)};
  double box_x0 = -0.3, box_x1 = 0.2, box_y0 = -0.25, box_y1 = 0.3;  // metres at z = 1.5

  static constexpr double kWall = 3.0, kBox = 1.5;
  bool OnBox(double x, double y) const {
    return x >= box_x0 && x <= box_x1 && y >= box_y0 && y <= box_y1;
  }
  cv::Vec3b Texture(double x, double y, bool box) const {
    auto c = [](double v) { return cv::saturate_cast<uint8_t>(128 + 90 * std::sin(v)); };
    return box ? cv::Vec3b(c(6 * x), 230, c(6 * y)) : cv::Vec3b(c(4 * x + 1), 30, c(4 * y + 2));
  }
  // The surface point along a ray from `origin` (depth-camera frame).
  Eigen::Vector3d Hit(const Eigen::Vector3d& origin, const Eigen::Vector3d& dir, bool* box) const {
    const Eigen::Vector3d p = origin + dir * ((kBox - origin.z()) / dir.z());
    *box = OnBox(p.x(), p.y());
    return *box ? p : Eigen::Vector3d(origin + dir * ((kWall - origin.z()) / dir.z()));
  }
  // What the depth camera sees at each pixel: depth (mono16, mm) and colour.
  void RenderDepthCamera(cv::Mat* depth, cv::Mat* color) const {
    depth->create(depth_k.height, depth_k.width, CV_16UC1);
    color->create(depth_k.height, depth_k.width, CV_8UC3);
    for (int v = 0; v < depth->rows; ++v)
      for (int u = 0; u < depth->cols; ++u) {
        bool box;
        const auto p = Hit(Eigen::Vector3d::Zero(),
                           {(u - depth_k.cx) / depth_k.fx, (v - depth_k.cy) / depth_k.fy, 1}, &box);
        depth->at<uint16_t>(v, u) = static_cast<uint16_t>(std::lround(p.z() * 1000));
        color->at<cv::Vec3b>(v, u) = Texture(p.x(), p.y(), box);
      }
  }
  cv::Mat Depth() const {
    cv::Mat d, c;
    RenderDepthCamera(&d, &c);
    return d;
  }
  cv::Mat ColorSeenByDepthCamera() const {  // what registration should give
    cv::Mat d, c;
    RenderDepthCamera(&d, &c);
    return c;
  }
  cv::Mat Color() const {  // as the colour camera sees it
    const auto& k = color.intrinsics;
    cv::Mat c(k.height, k.width, CV_8UC3);
    for (int v = 0; v < c.rows; ++v)
      for (int u = 0; u < c.cols; ++u) {
        bool box;
        const auto p = Hit(-color.t_color_depth, {(u - k.cx) / k.fx, (v - k.cy) / k.fy, 1}, &box);
        c.at<cv::Vec3b>(v, u) = Texture(p.x(), p.y(), box);
      }
    return c;
  }
  pipeline::RgbdFrame Frame() const {
    pipeline::RgbdFrame f;
    f.color = ToImage(Color(), pipeline::PixelEncoding::kBgr8);
    f.depth = ToImage(Depth(), pipeline::PixelEncoding::kMono16);
    f.depth_scale = 1000;
    f.intrinsics = depth_k;
    return f;
  }
};

// Pixels whose colour is within 12 of `expected` in every channel.
double FractionMatching(const cv::Mat& got, const cv::Mat& expected) {
  int n = 0;
  for (int v = 0; v < got.rows; ++v)
    for (int u = 0; u < got.cols; ++u) {
      const cv::Vec3b a = got.at<cv::Vec3b>(v, u), b = expected.at<cv::Vec3b>(v, u);
      n +=
          std::abs(a[0] - b[0]) <= 12 && std::abs(a[1] - b[1]) <= 12 && std::abs(a[2] - b[2]) <= 12;
    }
  return static_cast<double>(n) / got.total();
}

}  // namespace

TEST_CASE("Colour from another camera is registered onto the depth grid", "[io][registration]") {
  const TwoCameraScene scene;
  const pipeline::RgbdFrame f = scene.Frame();
  const cv::Mat expected = scene.ColorSeenByDepthCamera();
  const double raw = FractionMatching(ToMat(f.color), expected);
  const pipeline::Image reg =
      io::RegisterColorToDepth(f.color, f.depth, f.depth_scale, f.intrinsics, scene.color);
  REQUIRE(reg.width == f.depth.width);
  REQUIRE(reg.encoding == pipeline::PixelEncoding::kBgr8);
  const double registered = FractionMatching(ToMat(reg), expected);
  INFO("matching pixels: raw " << raw << ", registered " << registered);
  CHECK(raw < 0.6);          // the unregistered colour is far off (10 % focal difference, 2.5 cm)
  CHECK(registered > 0.97);  // the rest: box outline pixels the colour camera cannot see

  SECTION("bad input names the field") {
    io::ColorCameraModel bad = scene.color;
    bad.intrinsics.fx = 0;
    CHECK_THROWS_WITH(io::RegisterColorToDepth(f.color, f.depth, 1000, f.intrinsics, bad),
                      Catch::Contains("color_fx"));
    CHECK_THROWS_WITH(
        io::RegisterColorToDepth(f.color, pipeline::Image{}, 1000, f.intrinsics, scene.color),
        Catch::Contains("depth"));
  }
}

TEST_CASE("The colour camera is measured from colour edges at depth edges", "[io][registration]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> pos(-0.5, 0.3);
  std::vector<pipeline::RgbdFrame> frames;
  TwoCameraScene scene;
  for (int i = 0; i < 8; ++i) {  // the box in different places, as a moving camera would see
    scene.box_x0 = pos(rng);
    scene.box_x1 = scene.box_x0 + 0.35;
    scene.box_y0 = pos(rng);
    scene.box_y1 = scene.box_y0 + 0.3;
    frames.push_back(scene.Frame());
  }
  const io::ColorCalibrationResult r = io::CalibrateColorToDepth(frames);
  REQUIRE(r.status == io::ColorCalibrationResult::Status::kOk);
  const auto& k = r.camera.intrinsics;
  INFO("fx " << k.fx << " cx " << k.cx << " cy " << k.cy << " t " << r.camera.t_color_depth.x()
             << " " << r.camera.t_color_depth.y() << " score " << r.edge_score << " vs "
             << r.edge_score_registered);
  CHECK(k.fx == Approx(270).margin(3));
  CHECK(k.fy == Approx(270).margin(3));
  // Principal point and translation trade against each other at one depth
  // pair; what must come out right is where the edges land: checked through
  // the registration of a new view below.
  CHECK(r.edge_score > 1.5 * r.edge_score_registered);

  scene.box_x0 = -0.1, scene.box_x1 = 0.3, scene.box_y0 = -0.3, scene.box_y1 = 0.05;
  const pipeline::RgbdFrame f = scene.Frame();
  const double registered = FractionMatching(
      ToMat(io::RegisterColorToDepth(f.color, f.depth, f.depth_scale, f.intrinsics, r.camera)),
      scene.ColorSeenByDepthCamera());
  CHECK(registered > 0.95);

  SECTION("frames without depth edges are refused, saying why") {
    pipeline::RgbdFrame flat = frames[0];
    cv::Mat d(flat.depth.height, flat.depth.width, CV_16UC1, cv::Scalar(2000));
    flat.depth = ToImage(d, pipeline::PixelEncoding::kMono16);
    const auto bad = io::CalibrateColorToDepth({flat});
    CHECK(bad.status == io::ColorCalibrationResult::Status::kTooFewEdges);
    CHECK_THAT(bad.message, Catch::Contains("depth-edge pixels"));
  }
}

TEST_CASE("Sources register colour when the input node is given a colour camera",
          "[io][registration][sources]") {
  // A one-frame 7-Scenes folder of the two-camera scene.
  const TwoCameraScene scene;
  const std::string dir = test::TempDir("registration_7scenes");
  cv::imwrite(dir + "/frame-000000.color.png", scene.Color());
  cv::imwrite(dir + "/frame-000000.depth.png", scene.Depth());
  io::SourceConfig c;
  c.path = dir;
  c.fx = scene.depth_k.fx, c.fy = scene.depth_k.fy, c.cx = scene.depth_k.cx,
  c.cy = scene.depth_k.cy;
  c.color_camera = scene.color;
  auto source = io::OpenSource(c);
  CHECK_THAT(source->Describe(), Catch::Contains("colour registered to depth"));
  io::SourceRead r = source->Next();
  REQUIRE(r.status == io::SourceRead::Status::kFrame);
  CHECK(FractionMatching(ToMat(r.frame.color), scene.ColorSeenByDepthCamera()) > 0.97);

  SECTION("a source without depth is refused by name") {
    const std::string images = test::TempDir("registration_rgb_only");
    cv::imwrite(images + "/000000.png", scene.Color());
    io::SourceConfig rgb = c;
    rgb.path = images;
    CHECK_THROWS_WITH(io::OpenSource(rgb), Catch::Contains("no depth to register colour to"));
  }
  SECTION("input node params: all four intrinsics or none") {
    auto p = pipeline::Params::FromYaml("{color_fx: 270, color_tx: -0.02}", "g.yaml",
                                        "nodes.input.params");
    CHECK_FALSE(io::ReadColorCameraParams(p));
    CHECK_THROWS_WITH(
        p.Finish(), Catch::Contains("nodes.input.params.color_fx") && Catch::Contains("color_cy"));
    auto ok = pipeline::Params::FromYaml(
        "{color_fx: 270, color_fy: 270, color_cx: 158, color_cy: 122, color_tx: -0.025}");
    const auto cam = io::ReadColorCameraParams(ok);
    ok.Finish();
    REQUIRE(cam);
    CHECK(cam->t_color_depth.x() == Approx(-0.025));
  }
}
