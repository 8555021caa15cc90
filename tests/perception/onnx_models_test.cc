// The ONNX models through OpenCV DNN on real images (../shared): YOLOX-nano
// on a 7-Scenes kitchen frame, OSNet embeddings, and their bad input.
#include "dyn4d/perception/onnx_models.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "../common/shared_data.h"

using namespace dyn4d;

namespace {
pipeline::Image Load(const std::string& path) {
  const cv::Mat m = cv::imread(path, cv::IMREAD_COLOR);
  REQUIRE(!m.empty());
  pipeline::Image img = pipeline::Image::Allocate(m.cols, m.rows, pipeline::PixelEncoding::kBgr8);
  for (int y = 0; y < m.rows; ++y)
    std::memcpy(img.data.mutable_data() + static_cast<size_t>(y) * m.cols * 3, m.ptr(y),
                m.cols * 3);
  return img;
}
float Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += a[i] * b[i];
  return d;  // unit vectors
}
}  // namespace

TEST_CASE("YOLOX-nano finds the kitchen's objects", "[perception][shared]") {
  const std::string shared = test::SharedDirOrSkip("models/yolox_nano.onnx");
  const std::string root = test::SharedDirOrSkip("");
  perception::YoloxConfig c;
  c.model = shared;
  perception::YoloxDetector detector(c);
  const pipeline::Image img = Load(root + "/data/7scenes_redkitchen/frame-000000.color.jpg");
  const auto dets = detector.Detect(img);
  std::set<std::string> names;
  for (const auto& d : dets) {
    names.insert(d.class_name);
    CHECK(d.score >= 0.3f);
    CHECK(d.box.x >= 0);
    CHECK(d.box.y >= 0);
    CHECK(d.box.x + d.box.w <= img.width);
    CHECK(d.box.y + d.box.h <= img.height);
  }
  INFO(dets.size() << " detections");
  CHECK(names.count("cup") == 1);
  CHECK((names.count("dining table") + names.count("chair")) >= 1);
  // keep: only the listed classes.
  c.keep = {"cup"};
  for (const auto& d : perception::YoloxDetector(c).Detect(img)) CHECK(d.class_name == "cup");
}

TEST_CASE("OSNet embeddings: the same object across frames is closer than another object",
          "[perception][shared]") {
  const std::string model = test::SharedDirOrSkip("models/osnet_x0_25_msmt17.onnx");
  const std::string root = test::SharedDirOrSkip("");
  perception::ReidEmbedder reid(model);
  const pipeline::Image a = Load(root + "/data/7scenes_redkitchen/frame-000000.color.jpg");
  const pipeline::Image b = Load(root + "/data/7scenes_redkitchen/frame-000002.color.jpg");
  // The cup and a chair of frame 0 (YOLOX boxes); the camera barely moves in 2 frames.
  const pipeline::Box2D cup{367, 164, 36, 38}, chair{420, 143, 130, 67};
  const auto ea = reid.Embed(a, {cup, chair, {5, 5, 1, 1}});
  const auto eb = reid.Embed(b, {cup});
  REQUIRE(ea[0].size() == 512);
  CHECK(ea[2].empty());  // too small to crop
  float norm = 0;
  for (float x : ea[0]) norm += x * x;
  CHECK(norm == Approx(1).margin(1e-4));
  CHECK(Cosine(ea[0], eb[0]) > Cosine(ea[0], ea[1]) + 0.05f);
}

TEST_CASE("ONNX models: clear errors for missing files, wrong layouts, wrong images",
          "[perception][bad-input]") {
  perception::YoloxConfig c;
  c.model = "/nonexistent/yolox.onnx";
  CHECK_THROWS_WITH(perception::YoloxDetector(c), Catch::Contains("/nonexistent/yolox.onnx"));
  c.model = "x.onnx";
  c.input_size = 100;
  CHECK_THROWS_WITH(perception::YoloxDetector(c), Catch::Contains("input_size"));
  c.input_size = 416;
  c.keep = {"unicorn"};
  CHECK_THROWS_WITH(perception::YoloxDetector(c), Catch::Contains("unicorn"));
  CHECK_THROWS_WITH(perception::ReidEmbedder("/nonexistent/osnet.onnx"),
                    Catch::Contains("no such model file"));
}

TEST_CASE("a network that is not YOLOX is refused by name", "[perception][shared][bad-input]") {
  const std::string osnet = test::SharedDirOrSkip("models/osnet_x0_25_msmt17.onnx");
  perception::YoloxConfig c;
  c.model = osnet;
  c.input_size = 128;
  perception::YoloxDetector d(c);
  const pipeline::Image img = pipeline::Image::Allocate(128, 128, pipeline::PixelEncoding::kBgr8);
  CHECK_THROWS_WITH(d.Detect(img), Catch::Contains("osnet_x0_25_msmt17.onnx"));
  const pipeline::Image depth = pipeline::Image::Allocate(8, 8, pipeline::PixelEncoding::kMono16);
  CHECK_THROWS_AS(d.Detect(depth), std::invalid_argument);
}
