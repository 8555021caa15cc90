// Model files (configs/models/*.yaml): the shipped ones load, mistakes are
// named by file and field, and calibration rewrites only the thresholds.
#include "dyn4d/perception/recognition_model.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../common/test_stages.h"

using namespace dyn4d::perception;
namespace fs = std::filesystem;

namespace {
std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("the shipped Fashion-MNIST model files load", "[perception][recognition]") {
  for (const char* name : {"dyn_perceiver", "linear_exits", "static"}) {
    const std::string file =
        std::string(DYN4D_SOURCE_DIR) + "/configs/models/fashion_mnist_" + name + ".yaml";
    const RecognitionModelSpec s = LoadRecognitionModelSpec(file);
    CHECK(s.net.in_channels == 1);
    CHECK(s.net.num_classes == 10);
    CHECK(s.classes.size() == 10);
    CHECK(s.classes[9] == "ankle boot");
    CHECK(fs::path(s.weights).is_absolute());
    CHECK(s.training.epochs >= 1);
    CHECK(dyn4d::recognition::ModelKindName(s.kind) == std::string(name));
  }
}

TEST_CASE("model file mistakes name the file and the field", "[perception][recognition]") {
  const std::string dir = dyn4d::test::TempDir("model-spec");
  const std::string file = dir + "/m.yaml";
  auto load_with = [&](const std::string& text) {
    std::ofstream(file) << text;
    return LoadRecognitionModelSpec(file);
  };
  CHECK_THROWS_WITH(load_with("kind: dyn_perceiver\nbase: mobilenetV3_0x5_perceiver_t32\n"),
                    Catch::Contains(file + ": weights: required"));
  CHECK_THROWS_WITH(load_with("kind: resnet\nweights: w.pt\n"), Catch::Contains("kind:"));
  CHECK_THROWS_WITH(load_with("weights: w.pt\nnet:\n  num_latents: 20\n"),
                    Catch::Contains("net: num_latents"));
  CHECK_THROWS_WITH(load_with("weights: w.pt\nnet:\n  depth_factor: [1, 1]\n"),
                    Catch::Contains("net.depth_factor: needs 4 values"));
  CHECK_THROWS_WITH(load_with("weights: w.pt\nthresholds: [0.5]\n"),
                    Catch::Contains("thresholds: needs 3 values"));
  CHECK_THROWS_WITH(load_with("weights: w.pt\nnet:\n  widht_mult: 2\n"),
                    Catch::Contains("net.widht_mult: unknown field"));
  CHECK_THROWS_WITH(load_with("weights: w.pt\ntraining:\n  epochs: zero\n"),
                    Catch::Contains("training.epochs: cannot read"));
  CHECK_THROWS_WITH(load_with("weights: w.pt\ntraining:\n  rand_augment: 12\n"),
                    Catch::Contains("training: rand_augment: magnitude in [0, 10]"));
  CHECK(load_with("weights: w.pt\ntraining:\n  rand_augment: 9\n  random_erasing: 0.25\n")
            .training.random_erasing == 0.25);
  CHECK_THROWS_WITH(LoadRecognitionModelSpec(dir + "/absent.yaml"),
                    Catch::Contains("absent.yaml: cannot open"));
  fs::remove_all(dir);
}

TEST_CASE("calibration rewrites only the thresholds line", "[perception][recognition]") {
  const std::string dir = dyn4d::test::TempDir("model-thresholds");
  const std::string file = dir + "/m.yaml";
  std::ofstream(file)
      << "# keep me\nweights: w.pt\nthresholds: []  # old\nnet:\n  num_classes: 10\n";
  WriteThresholds(file, {0.9f, 0.75f, 0.5f}, "for 0.01 GFLOPs");
  CHECK(Slurp(file) ==
        "# keep me\nweights: w.pt\nthresholds: [0.9, 0.75, 0.5]  # for 0.01 GFLOPs\nnet:\n"
        "  num_classes: 10\n");
  const auto s = LoadRecognitionModelSpec(file);
  REQUIRE(s.thresholds.size() == 3);
  CHECK(s.thresholds[1] == Approx(0.75f));
  fs::remove_all(dir);
}
