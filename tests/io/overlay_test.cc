#include <catch2/catch.hpp>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "../common/test_stages.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/pipeline/graph.h"

using namespace dyn4d;

namespace {
std::vector<cv::Mat> RunOverlay(bool with_tracks, double source_fps = 30,
                                double* video_fps = nullptr) {
  pipeline::StageRegistry registry;
  io::RegisterStages(registry);
  const std::string out = test::TempDir("overlay");
  auto g = pipeline::ParseGraphConfig(std::string(R"(
version: 1
nodes:
  source: {type: synthetic_rgbd, outputs: {frames: frames, tracks: tracks},
           params: {frames: 10, width: 160, height: 120, fx: 131.25, fy: 131.25, noise: false,
                    fps: )") + std::to_string(source_fps) +
                                          R"(}}
  overlay: {type: overlay_video, inputs: {frames: frames)" +
                                          (with_tracks ? ", tracks: tracks" : "") + "}}\n",
                                      "overlay.yaml");
  REQUIRE(test::RunGraphInto(g, registry, out).status == pipeline::RunResult::Status::kOk);
  REQUIRE(std::filesystem::exists(out + "/overlay.mp4"));
  CHECK_FALSE(std::filesystem::exists(out + "/overlay.partial.mp4"));
  cv::VideoCapture cap(out + "/overlay.mp4");
  if (video_fps) *video_fps = cap.get(cv::CAP_PROP_FPS);
  std::vector<cv::Mat> frames;
  for (cv::Mat f; cap.read(f);) frames.push_back(f.clone());
  return frames;
}
}  // namespace

TEST_CASE("Overlay video: one MP4 frame per input frame with tracks drawn", "[io][overlay]") {
  std::vector<cv::Mat> plain = RunOverlay(false), annotated = RunOverlay(true);
  REQUIRE(plain.size() == 10);
  REQUIRE(annotated.size() == 10);
  // Boxes, masks and labels change many pixels; compression noise alone does not.
  cv::Mat diff;
  cv::absdiff(plain[5], annotated[5], diff);
  cv::cvtColor(diff, diff, cv::COLOR_BGR2GRAY);
  CHECK(cv::countNonZero(diff > 40) > 500);
}

TEST_CASE("Overlay video: plays at the source's frame rate", "[io][overlay]") {
  double fps = 0;
  REQUIRE(RunOverlay(false, 10, &fps).size() == 10);
  CHECK(fps == Approx(10).epsilon(0.02));  // a 10 fps source, not 30
  REQUIRE(RunOverlay(false, 30, &fps).size() == 10);
  CHECK(fps == Approx(30).epsilon(0.02));
}

TEST_CASE("Overlay video: a long stream goes on in numbered files, each finished",
          "[io][overlay]") {
  pipeline::StageRegistry registry;
  io::RegisterStages(registry);
  const std::string out = test::TempDir("overlay-segments");
  auto g = pipeline::ParseGraphConfig(R"(
version: 1
nodes:
  source: {type: synthetic_rgbd, outputs: {frames: frames},
           params: {frames: 25, width: 160, height: 120, fx: 131.25, fy: 131.25, noise: false}}
  overlay: {type: overlay_video, inputs: {frames: frames}, params: {segment_frames: 10}}
)",
                                      "overlay.yaml");
  REQUIRE(test::RunGraphInto(g, registry, out).status == pipeline::RunResult::Status::kOk);
  int total = 0;
  for (const auto& [file, frames] : {std::pair<const char*, int>{"overlay.mp4", 10},
                                     {"overlay_001.mp4", 10},
                                     {"overlay_002.mp4", 5}}) {
    CAPTURE(file);
    REQUIRE(std::filesystem::exists(out + "/" + file));
    cv::VideoCapture cap(out + "/" + file);
    int n = 0;
    for (cv::Mat f; cap.read(f);) ++n;
    CHECK(n == frames);
    total += n;
  }
  CHECK(total == 25);
  CHECK_FALSE(std::filesystem::exists(out + "/overlay_003.mp4"));
  for (const auto& e : std::filesystem::directory_iterator(out))
    CHECK(e.path().string().find(".partial") == std::string::npos);
}
