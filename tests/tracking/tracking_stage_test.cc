// The track stage alone (detections in, tracks out), and the RGB-D tracking
// path as real nodes over ZeroMQ: synthetic source -> geometry ->
// motion_proposals -> track -> tracks_writer, scored against ground truth.
#include <catch2/catch.hpp>
#include <filesystem>

#include "../common/test_stages.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/graph.h"
#include "dyn4d/tracking/mot_eval.h"
#include "dyn4d/tracking/stages.h"

using namespace dyn4d;

namespace {
pipeline::Detections Dets(uint64_t seq, const std::vector<std::array<float, 3>>& centres) {
  pipeline::Detections d;
  d.meta.seq = seq;
  d.meta.stamp_ns = static_cast<int64_t>(seq) * 33333333;
  for (const auto& c : centres) {
    pipeline::Detection det;
    det.box = {100 * c[0] + 200, 100, 30, 60};
    det.score = 0.9f;
    det.mask = pipeline::Image::Allocate(30, 60, pipeline::PixelEncoding::kMono8);
    det.mask.data.mutable_data()[0] = static_cast<uint8_t>(seq);  // tells the masks apart
    det.has_position = true;
    det.position_world = c;
    det.extent = {0.4f, 0.4f, 0.8f};
    det.class_id = 2;
    det.class_name = "ball";
    d.items.push_back(std::move(det));
  }
  return d;
}
}  // namespace

TEST_CASE("track stage: ids, grounding masks, world velocity, states", "[tracking]") {
  pipeline::StageRegistry registry;
  tracking::RegisterStages(registry);
  pipeline::Params params = pipeline::Params::FromYaml("{states: 'confirmed,lost'}");
  pipeline::StageContext ctx{"track", "/tmp", {{"detections", "d"}}, {}};
  auto stage = registry.Create("track", params, ctx);
  int64_t id = -1;
  for (uint64_t f = 0; f < 20; ++f) {
    const bool hidden = f >= 12 && f < 15;
    const float x = 0.03f * f;  // 0.9 m/s
    const auto outs = stage->Process(
        "detections", Dets(f, hidden ? std::vector<std::array<float, 3>>{}
                                     : std::vector<std::array<float, 3>>{{x, 3, 0.5f}}));
    REQUIRE(outs.size() == 1);
    const auto& tracks = std::get<pipeline::Tracks>(outs[0].message);
    if (f == 0) {
      CHECK(tracks.items.empty());  // tentative is not reported by default
      continue;
    }
    REQUIRE(tracks.items.size() == 1);
    const pipeline::Track& t = tracks.items[0];
    if (id < 0) id = t.track_id;
    CHECK(t.track_id == id);
    CHECK(t.class_name == "ball");
    if (hidden) {
      CHECK(t.state == "lost");
      CHECK(t.mask.empty());
    } else {
      CHECK(t.state == "confirmed");
      REQUIRE(t.mask.width == 30);
      CHECK(t.mask.data.data()[0] == static_cast<uint8_t>(f));  // this frame's mask
    }
    if (f == 11) CHECK(t.velocity_world[0] == Approx(0.9).margin(0.1));
  }
  pipeline::Params bad = pipeline::Params::FromYaml("{states: 'confirmed,gone'}");
  CHECK_THROWS_WITH(registry.Create("track", bad, ctx), Catch::Contains("gone"));
}

TEST_CASE("RGB-D tracking path over ZeroMQ: proposals and tracker against ground truth",
          "[tracking][graph]") {
  pipeline::StageRegistry registry;
  io::RegisterStages(registry);
  perception::RegisterStages(registry);
  tracking::RegisterStages(registry);
  const std::string out = test::TempDir("tracking-graph");
  auto g = pipeline::ParseGraphConfig(R"(
version: 1
nodes:
  source: {type: synthetic_rgbd, outputs: {frames: frames, tracks: gt_tracks},
           params: {frames: 60, width: 320, height: 240, fx: 262.5, fy: 262.5, objects: 3}}
  geometry: {type: geometry, inputs: {frames: frames}, outputs: {poses: poses},
             params: {voxel_m: 0.04, sdf_trunc_m: 0.12, cloud_voxel_m: 0}}
  proposals: {type: motion_proposals, inputs: {frames: frames, poses: poses},
              outputs: {proposals: proposals}, params: {lookahead_frames: 30}}
  track: {type: track, inputs: {detections: proposals}, outputs: {tracks: tracks},
          params: {high_score: 0.0, two_stage: false}}
  tracks: {type: tracks_writer, inputs: {tracks: tracks}}
  truth: {type: tracks_writer, inputs: {tracks: gt_tracks},
          params: {mot_file: gt_mot.txt, jsonl_file: gt.jsonl, kitti_file: gt_kitti.txt}}
)",
                                      "tracking.yaml");
  const pipeline::RunResult r = test::RunGraphInto(g, registry, out);
  INFO(r.message);
  REQUIRE(r.status == pipeline::RunResult::Status::kOk);
  CHECK(r.final_stats.at("proposals").errors == 0);
  const auto gt = tracking::LoadMotFile(out + "/gt_mot.txt", true);
  const auto res = tracking::LoadMotFile(out + "/tracks_mot.txt", false);
  const auto hota = tracking::EvaluateHota(gt, res);
  const auto mot = tracking::EvaluateMot(gt, res);
  INFO("HOTA " << hota.Hota() << " MOTA " << mot.Mota() << " IDSW " << mot.idsw);
  // Measured 0.699 (MOTA 0.795, 1 identity switch) since the tracker
  // discounts partial views' centroids (0.701, 0 switches before); the
  // tracker's accuracy is measured by `dyn4d bench tracking --synth`.
  CHECK(hota.Hota() > 0.69);
  CHECK(mot.idsw <= 2);
}
