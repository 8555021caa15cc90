#include "dyn4d/perception/place_recognition.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/pose.h"

using dyn4d::perception::PlaceRecognition;
using dyn4d::perception::PlaceRecognitionConfig;
using dyn4d::perception::ToIsometry;
namespace io = dyn4d::io;
namespace pipeline = dyn4d::pipeline;

namespace {

// The pose of frame k relative to frame 0, against the truth's: metres and degrees.
struct RelativeError {
  double m, deg;
};
RelativeError ErrorAt(const std::vector<Eigen::Isometry3d>& est,
                      const std::vector<Eigen::Isometry3d>& truth, size_t k) {
  const Eigen::Isometry3d e =
      (truth[0].inverse() * truth[k]).inverse() * (est[0].inverse() * est[k]);
  return {e.translation().norm(), Eigen::AngleAxisd(e.rotation()).angle() * 180 / M_PI};
}

// The drifting tracker's pose of frame k (see Drifting).
Eigen::Isometry3d DriftedPose(const Eigen::Isometry3d& truth, int k) {
  // Drift about the first camera: a yaw about the world's up axis and a
  // slide along x, both growing with the frame count.
  Eigen::Isometry3d drift = Eigen::Isometry3d::Identity();
  drift.linear() =
      Eigen::AngleAxisd(0.05 * k * M_PI / 180, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  drift.translation() = Eigen::Vector3d(0.001 * k, 0, 0);
  return drift * truth;
}

struct Run {
  std::vector<Eigen::Isometry3d> truth, drifted, corrected;
  PlaceRecognition::Stats stats;
};

// The synthetic room (no moving objects) seen by a tracker that drifts
// 0.05 deg and 1 mm a frame (about the graph's odometry noise, 0.15 deg
// and 3 mm per node of three frames), corrected by place recognition.
Run Drifting(int frames, PlaceRecognitionConfig config, bool mask_everything = false) {
  io::SyntheticScene::Config sc;
  sc.num_objects = 0;
  sc.num_frames = frames;
  const io::SyntheticScene scene(sc);
  PlaceRecognition places(config);
  Run run;
  for (int k = 0; k < frames; ++k) {
    const io::SyntheticScene::Rendered r = scene.Render(k);
    const Eigen::Isometry3d truth = ToIsometry(r.pose);
    const Eigen::Isometry3d tracked = DriftedPose(truth, k);
    pipeline::Image mask;
    if (mask_everything) {
      mask = pipeline::Image::Allocate(r.frame.color.width, r.frame.color.height,
                                       pipeline::PixelEncoding::kMono8);
      std::fill(mask.data.mutable_data(), mask.data.mutable_data() + mask.data.size(), 255);
    }
    const Eigen::Isometry3d correction =
        places.Add(r.frame, mask_everything ? &mask : nullptr, tracked, true);
    run.truth.push_back(truth);
    run.drifted.push_back(tracked);
    run.corrected.push_back(correction * tracked);
  }
  run.stats = places.stats();
  return run;
}

}  // namespace

TEST_CASE("Place recognition takes a tracker's drift out where views overlap", "[places]") {
  const Run run = Drifting(120, PlaceRecognitionConfig{});
  const size_t last = run.truth.size() - 1;
  const RelativeError before = ErrorAt(run.drifted, run.truth, last);
  const RelativeError after = ErrorAt(run.corrected, run.truth, last);
  INFO("place edges " << run.stats.place_edges << " of " << run.stats.pairs_tried
                      << " tried, nodes " << run.stats.nodes << "; last frame " << before.m
                      << " m / " << before.deg << " deg drifted, " << after.m << " m / "
                      << after.deg << " deg corrected");
  CHECK(run.stats.nodes == 40);
  CHECK(run.stats.place_edges > 10);
  CHECK(run.stats.solves > 0);
  // 6 deg and 0.12 m of drift by the last frame.
  CHECK(before.deg > 5.5);
  // Most of it taken out (measured: 0.153 m / 5.95 deg -> 0.053 m / 1.94 deg).
  CHECK(after.deg < 0.4 * before.deg);
  CHECK(after.m < 0.4 * before.m);
}

TEST_CASE("Place recognition solves over a window of the newest nodes on long runs", "[places]") {
  PlaceRecognitionConfig c;
  c.solve_window_nodes = 12;  // 36 frames: edges reach 30 frames back
  c.max_nodes_with_features = 15;
  const Run run = Drifting(120, c);
  const size_t last = run.truth.size() - 1;
  const RelativeError before = ErrorAt(run.drifted, run.truth, last);
  const RelativeError after = ErrorAt(run.corrected, run.truth, last);
  INFO(before.deg << " deg drifted, " << after.deg << " deg corrected; nodes " << run.stats.nodes
                  << ", kept " << run.stats.nodes_kept);
  CHECK(run.stats.place_edges > 10);
  CHECK(std::isfinite(after.m));
  CHECK(after.deg < before.deg);
  // The graph stays bounded: nodes without features before the window go.
  CHECK(run.stats.nodes == 40);
  CHECK(run.stats.nodes_kept <= c.solve_window_nodes + c.max_nodes_with_features + 1);
  CHECK(run.stats.nodes_kept < run.stats.nodes);
}

TEST_CASE("Place recognition leaves poses alone without usable features", "[places]") {
  SECTION("everything masked as moving") {
    const Run run = Drifting(45, PlaceRecognitionConfig{}, /*mask_everything=*/true);
    CHECK(run.stats.place_edges == 0);
    CHECK(run.stats.nodes_with_features == 0);
    for (size_t k = 0; k < run.truth.size(); ++k)
      CHECK(run.corrected[k].isApprox(run.drifted[k], 1e-12));
  }
  SECTION("an image that moves too fast for features") {
    PlaceRecognitionConfig c;
    c.max_image_motion_px = 0.5;  // the synthetic camera moves about 3 px a frame
    const Run run = Drifting(45, c);
    CHECK(run.stats.place_edges == 0);
    CHECK(run.stats.nodes == 15);
    for (size_t k = 0; k < run.truth.size(); ++k)
      CHECK(run.corrected[k].isApprox(run.drifted[k], 1e-12));
  }
}

TEST_CASE("Place recognition takes no features from colour not registered to depth", "[places]") {
  io::SyntheticScene::Config sc;
  sc.num_objects = 0;
  const io::SyntheticScene scene(sc);
  PlaceRecognition places{PlaceRecognitionConfig{}};
  for (int k = 0; k < 45; ++k) {
    io::SyntheticScene::Rendered r = scene.Render(k);
    r.frame.color_registered = false;  // as 7-Scenes ships it
    CHECK(places.Add(r.frame, nullptr, DriftedPose(ToIsometry(r.pose), k), true)
              .isApprox(Eigen::Isometry3d::Identity()));
  }
  CHECK(places.stats().nodes == 15);
  CHECK(places.stats().nodes_with_features == 0);
}

TEST_CASE("Place recognition keeps the current correction over lost frames", "[places]") {
  io::SyntheticScene::Config sc;
  sc.num_objects = 0;
  const io::SyntheticScene scene(sc);
  PlaceRecognition places{PlaceRecognitionConfig{}};
  const io::SyntheticScene::Rendered r = scene.Render(0);
  const Eigen::Isometry3d T = ToIsometry(r.pose);
  // Frame 0 lost: no node where one was due; frames 1-3 tracked: a node at 3.
  CHECK(places.Add(r.frame, nullptr, T, false).isApprox(Eigen::Isometry3d::Identity()));
  CHECK(places.stats().nodes == 0);
  for (int k = 1; k <= 3; ++k)
    CHECK(places.Add(r.frame, nullptr, T, true).isApprox(Eigen::Isometry3d::Identity()));
  CHECK(places.stats().nodes == 1);
}

TEST_CASE("Place recognition on its own thread gives each frame the same correction", "[places]") {
  io::SyntheticScene::Config sc;
  sc.num_objects = 0;
  sc.num_frames = 90;
  const io::SyntheticScene scene(sc);
  // Submitted and taken as SceneTracker does; with a thread, each frame's
  // buffers are zeroed right after Submit (a caller reusing them).
  auto corrections = [&](int max_frames_in_work) {
    PlaceRecognitionConfig c;
    c.max_frames_in_work = max_frames_in_work;
    PlaceRecognition places(c);
    std::vector<Eigen::Isometry3d> out;
    for (int k = 0; k < sc.num_frames; ++k) {
      io::SyntheticScene::Rendered r = scene.Render(k);
      places.Submit(r.frame, nullptr, DriftedPose(ToIsometry(r.pose), k), true);
      if (max_frames_in_work > 0) {
        for (pipeline::Image* image : {&r.frame.color, &r.frame.depth})
          std::fill(image->data.mutable_data(), image->data.mutable_data() + image->data.size(), 0);
      }
      for (const Eigen::Isometry3d& t : places.Take(max_frames_in_work)) out.push_back(t);
      // Never more than max_frames_in_work frames without their correction.
      CHECK(static_cast<int>(out.size()) >= k + 1 - max_frames_in_work);
    }
    for (const Eigen::Isometry3d& t : places.Take(0)) out.push_back(t);
    CHECK(places.stats().place_edges > 5);
    return out;
  };
  const std::vector<Eigen::Isometry3d> inline_ = corrections(0);
  const std::vector<Eigen::Isometry3d> threaded = corrections(6);
  REQUIRE(inline_.size() == size_t(sc.num_frames));
  REQUIRE(threaded.size() == inline_.size());
  size_t corrected = 0;
  for (size_t k = 0; k < inline_.size(); ++k) {
    CHECK(threaded[k].matrix() == inline_[k].matrix());  // bit for bit
    corrected += !inline_[k].isApprox(Eigen::Isometry3d::Identity());
  }
  CHECK(corrected > 20);  // 27: edges reach 30 frames back
}

TEST_CASE("Place recognition's configuration is checked", "[places]") {
  CHECK(PlaceRecognitionConfig{}.Validate().empty());
  PlaceRecognitionConfig c;
  c.node_every_frames = 0;
  c.match_ratio = 1.5;
  c.max_depth_m = 0.1;
  c.solve_window_nodes = 1;
  c.max_frames_in_work = -1;
  const std::vector<std::string> problems = c.Validate();
  CHECK(problems.size() == 5);
}
