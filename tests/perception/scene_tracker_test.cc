#include "dyn4d/perception/scene_tracker.h"

#include <catch2/catch.hpp>
#include <cstring>

#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/pose.h"

using namespace dyn4d;

namespace {

// Runs the offline tracker over `frames`, with a known-moving mask (the
// first object's pixels) on every third frame.
std::vector<perception::SceneTracker::Output> Run(
    const std::vector<io::SyntheticScene::Rendered>& frames, bool thread) {
  perception::SceneTracker::Options o;
  o.lookahead_frames = 20;
  o.final_pass_thread = thread;
  perception::SceneTracker tracker(o);
  std::vector<perception::SceneTracker::Output> out;
  for (size_t i = 0; i < frames.size(); ++i) {
    const io::SyntheticScene::Rendered& r = frames[i];
    pipeline::Image known;
    if (i % 3 == 0) {
      known = pipeline::Image::Allocate(r.instances.width, r.instances.height,
                                        pipeline::PixelEncoding::kMono8);
      const uint8_t* ids = r.instances.data.data();
      uint8_t* m = known.data.mutable_data();
      for (size_t k = 0; k < known.data.size(); ++k) m[k] = ids[k] == 1 ? 255 : 0;
    }
    for (auto& o2 : tracker.Push(r.frame, i % 3 == 0 ? &known : nullptr))
      out.push_back(std::move(o2));
  }
  for (auto& o2 : tracker.Flush()) out.push_back(std::move(o2));
  return out;
}

}  // namespace

TEST_CASE("offline tracker: the final pass on its own thread gives the same frames, in order",
          "[perception][tracker]") {
  io::SyntheticScene::Config sc;
  sc.width = 320, sc.height = 240, sc.fx = sc.fy = 262.5, sc.num_frames = 50;
  sc.num_objects = 3;
  const io::SyntheticScene scene(sc);
  std::vector<io::SyntheticScene::Rendered> frames;
  for (int i = 0; i < sc.num_frames; ++i) frames.push_back(scene.Render(i));

  const auto serial = Run(frames, false);
  const auto threaded = Run(frames, true);
  REQUIRE(serial.size() == frames.size());
  REQUIRE(threaded.size() == frames.size());
  int with_objects = 0;
  double worst_m = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto& a = serial[i];
    const auto& b = threaded[i];
    INFO("frame " << i);
    CHECK(a.frame.meta.seq == i);
    CHECK(b.frame.meta.seq == i);
    // Bit for bit: the same computation, only on another thread.
    CHECK(a.odometry.status == b.odometry.status);
    CHECK(a.odometry.T_world_cam.matrix() == b.odometry.T_world_cam.matrix());
    CHECK(a.motion.regions.size() == b.motion.regions.size());
    REQUIRE(a.mask.data.size() == b.mask.data.size());
    CHECK(std::memcmp(a.mask.data.data(), b.mask.data.data(), a.mask.data.size()) == 0);
    with_objects += !a.motion.regions.empty();
    // And the camera follows the ground truth (tracking starts at the origin).
    const Eigen::Isometry3d truth = perception::ToIsometry(frames[0].pose).inverse() *
                                    perception::ToIsometry(frames[i].pose);
    worst_m = std::max(worst_m, (truth.translation() - b.odometry.T_world_cam.translation()).norm());
  }
  CHECK(with_objects > 25);  // the moving objects came through too
  CHECK(worst_m < 0.02);
}
