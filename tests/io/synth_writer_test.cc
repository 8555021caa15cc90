#include "dyn4d/io/synth_writer.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "../common/test_stages.h"
#include "dyn4d/io/sources.h"

using namespace dyn4d;
using State = io::SyntheticScene::ObjectState;

namespace {
State S(int id, int visible, int silhouette, double speed, int occluder = 0) {
  State s;
  s.id = id;
  s.visible_pixels = visible;
  s.silhouette_pixels = silhouette;
  s.velocity = {speed, 0, 0};
  s.occluded_by = occluder;
  return s;
}
}  // namespace

TEST_CASE("Events: changes that hold for min_frames, stamped at their start",
          "[io][synthetic][events]") {
  // Object 1 visible, starts moving at frame 2, is hidden by 2 from frame 4,
  // leaves the view at frame 8; a one-frame blip at frame 6 is ignored.
  std::vector<std::vector<State>> frames;
  for (int f = 0; f < 11; ++f) {
    const bool moving = f >= 2;
    const bool hidden = f >= 4 && f != 6;
    const int visible = f >= 8 ? 0 : hidden ? 300 : 1000;
    frames.push_back(
        {S(1, visible, f >= 8 ? 0 : 1000, moving ? 0.5 : 0, hidden ? 2 : 0), S(2, 500, 500, 0)});
  }
  auto events = io::DetectEvents(frames, 10.0, 100, 2);
  std::vector<std::string> got;
  for (const auto& e : events)
    got.push_back(std::to_string(e.frame) + " " + e.type + " " + std::to_string(e.object) +
                  (e.other ? ">" + std::to_string(e.other) : ""));
  CHECK(got == std::vector<std::string>{"0 visible_at_start 1", "0 visible_at_start 2",
                                        "2 starts_moving 1", "4 occluded_by 1>2", "8 leaves_view 1",
                                        "8 no_longer_occluded 1>2"});
  CHECK(events[2].t_s == Approx(0.2));
}

TEST_CASE("dyn4d synth writes a TUM-compatible folder with its ground truth", "[io][synthetic]") {
  const std::string dir = test::TempDir("synth");
  io::SyntheticScene::Config c;
  c.width = 160, c.height = 120, c.fx = c.fy = 131.25, c.num_frames = 45, c.num_objects = 5;
  io::SynthWriteResult r = io::WriteSyntheticSequence(c, dir);
  CHECK(r.frames == 45);
  CHECK(r.events > 5);
  for (const char* f :
       {"rgb.txt", "depth.txt", "associations.txt", "groundtruth.txt", "calibration.yaml",
        "gt/tracks_mot.txt", "gt/tracks3d.jsonl", "gt/events.jsonl", "gt/objects.json",
        "rgb/000044.png", "depth/000044.png", "masks/000044.png"})
    CHECK(std::filesystem::exists(dir + "/" + f));
  // Read back through the TUM source: same intrinsics, poses, tracks.
  io::SourceConfig sc;
  sc.path = dir;
  auto source = io::OpenSource(sc);
  io::SyntheticScene scene(c);
  for (int i = 0; i < 45; ++i) {
    io::SourceRead read = source->Next();
    REQUIRE(read.status == io::SourceRead::Status::kFrame);
    auto expected = scene.Render(i);
    CHECK(read.frame.intrinsics.fx == Approx(131.25));
    REQUIRE(read.ground_truth.has_value());
    CHECK(read.ground_truth->t_world_cam[0] == Approx(expected.pose.t_world_cam[0]).margin(1e-5));
    REQUIRE(read.ground_truth_tracks.has_value());
    CHECK(read.ground_truth_tracks->items.size() == expected.tracks.items.size());
    for (size_t k = 0; k < expected.tracks.items.size(); ++k) {  // masks from masks/*.png
      const auto& m = read.ground_truth_tracks->items[k].mask;
      REQUIRE(m.data.size() == expected.tracks.items[k].mask.data.size());
      CHECK(std::memcmp(m.data.data(), expected.tracks.items[k].mask.data.data(), m.data.size()) ==
            0);
    }
    // Lossless PNG: depth is bit-exact.
    CHECK(std::memcmp(read.frame.depth.data.data(), expected.frame.depth.data.data(),
                      expected.frame.depth.data.size()) == 0);
  }
  std::ifstream ev(dir + "/gt/events.jsonl");
  std::string all((std::istreambuf_iterator<char>(ev)), {});
  CHECK_THAT(all, Catch::Contains("starts_moving") && Catch::Contains("visible_at_start"));
}

TEST_CASE("Synthetic scenarios: the occluder hides another object at some point",
          "[io][synthetic][events]") {
  io::SyntheticScene::Config c;
  c.width = 160, c.height = 120, c.fx = c.fy = 131.25, c.num_frames = 90, c.num_objects = 5;
  io::SyntheticScene scene(c);
  std::vector<std::vector<State>> states;
  for (int i = 0; i < 90; ++i) states.push_back(scene.Render(i).objects);
  auto events = io::DetectEvents(states, 30, 20);
  bool occlusion = false, stop = false;
  for (const auto& e : events) {
    occlusion |= e.type == "occluded_by";
    stop |= e.type == "stops";
  }
  CHECK(occlusion);
  CHECK(stop);
  CHECK(states[0][0].role == "walks_across");
  CHECK(states[0][4].role == "occluder");
}
