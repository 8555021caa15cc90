#include <Eigen/Geometry>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "../common/test_stages.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/graph.h"

using namespace dyn4d;

TEST_CASE("Geometry node: poses, static map, and moving objects in world coordinates",
          "[perception][graph]") {
  pipeline::StageRegistry registry;
  io::RegisterStages(registry);
  perception::RegisterStages(registry);
  const std::string out = test::TempDir("geometry");
  auto g = pipeline::ParseGraphConfig(R"(
version: 1
nodes:
  source: {type: synthetic_rgbd, outputs: {frames: frames, tracks: tracks},
           params: {frames: 30, width: 320, height: 240, fx: 262.5, fy: 262.5, objects: 4}}
  geometry: {type: geometry, inputs: {frames: frames, tracks: tracks},
             outputs: {poses: poses, clouds: clouds, objects: objects},
             params: {voxel_m: 0.03, sdf_trunc_m: 0.1}}
  trajectory: {type: trajectory_writer, inputs: {poses: poses}}
  objects: {type: tracks_writer, inputs: {tracks: objects}}
  map: {type: cloud_map_writer, inputs: {clouds: clouds}}
)",
                                      "geometry.yaml");
  const pipeline::RunResult r = test::RunGraphInto(g, registry, out);
  INFO(r.message);
  REQUIRE(r.status == pipeline::RunResult::Status::kOk);
  CHECK(r.final_stats.at("geometry").errors == 0);  // no frame lost
  for (const char* f :
       {"trajectory.tum", "map_mesh.ply", "map_tsdf.ply", "map.ply", "tracks.jsonl"})
    CHECK(std::filesystem::file_size(out + "/" + f) > 100);
  // Object centroids from masked depth lie within the objects' true boxes
  // (they are surface centroids, so they sit on the side facing the camera).
  io::SyntheticScene::Config c;
  c.width = 320, c.height = 240, c.fx = c.fy = 262.5, c.num_frames = 30, c.num_objects = 4;
  io::SyntheticScene scene(c);
  // The estimate's world is the first camera's frame: map the truth into it.
  const auto& p0 = scene.Render(0).pose;
  Eigen::Isometry3d T_w_c0 = Eigen::Isometry3d::Identity();
  T_w_c0.linear() =
      Eigen::Quaterniond(p0.q_world_cam[3], p0.q_world_cam[0], p0.q_world_cam[1], p0.q_world_cam[2])
          .normalized()
          .toRotationMatrix();
  T_w_c0.translation() << p0.t_world_cam[0], p0.t_world_cam[1], p0.t_world_cam[2];
  std::ifstream in(out + "/tracks.jsonl");
  int checked = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    REQUIRE(j.contains("position_world"));
    const auto truth = scene.Render(j["frame"].get<int>()).objects.at(j["track_id"].get<int>() - 1);
    const Eigen::Vector3d centre =
        T_w_c0.inverse() * Eigen::Vector3d(truth.center[0], truth.center[1], truth.center[2]);
    const auto est = j["position_world"].get<std::array<double, 3>>();
    const double half_diagonal =
        0.5 * Eigen::Vector3d(truth.size[0], truth.size[1], truth.size[2]).norm();
    INFO("track " << j["track_id"] << " frame " << j["frame"]);
    CHECK((Eigen::Vector3d(est[0], est[1], est[2]) - centre).norm() < half_diagonal + 0.05);
    ++checked;
  }
  CHECK(checked > 30);
}

namespace {

// A geometry stage fed frames (and requests) directly, publishing its map
// every keyframe: coarse voxels, and keyframes reach the map 6 frames after
// their frame (map_seen_through_frames, 30 by default) so that short runs
// have a map. `extra`: more params, YAML "key: value, ..." or empty.
std::unique_ptr<pipeline::Stage> MapPublishingStage(const std::string& out,
                                                    const std::string& extra) {
  static pipeline::StageRegistry registry = [] {
    pipeline::StageRegistry r;
    perception::RegisterStages(r);
    return r;
  }();
  pipeline::Params params = pipeline::Params::FromYaml(
      "{map_every_keyframes: 1, voxel_m: 0.04, sdf_trunc_m: 0.12, map_seen_through_frames: 6" +
      (extra.empty() ? "" : ", " + extra) + "}");
  pipeline::StageContext ctx{"geometry", out, {{"frames", "frames"}, {"requests", "requests"}}, {}};
  return registry.Create("geometry", params, ctx);
}

// The empty synthetic room, 160x120.
io::SyntheticScene SmallRoom(int frames) {
  io::SyntheticScene::Config c;
  c.width = 160, c.height = 120, c.fx = c.fy = 131.25, c.num_frames = frames, c.num_objects = 0;
  return io::SyntheticScene(c);
}

}  // namespace

TEST_CASE("Geometry stage exports the map on request and publishes map updates",
          "[perception][map]") {
  const std::string out = test::TempDir("geometry-requests");
  auto stage = MapPublishingStage(out, "");
  const io::SyntheticScene scene = SmallRoom(20);
  size_t map_updates = 0;
  std::vector<pipeline::Answer> replies;
  auto take = [&](const pipeline::Outputs& outs) {
    for (const pipeline::Output& o : outs)
      if (o.port == "map") {
        ++map_updates;
        CHECK(std::get<pipeline::PointCloud>(o.message).num_points > 100);
      } else if (o.port == "replies") {
        replies.push_back(std::get<pipeline::Answer>(o.message));
      }
  };
  for (int i = 0; i < 20; ++i) take(stage->Process("frames", scene.Render(i).frame));
  pipeline::Query q;
  q.request_id = 7;
  q.question = "export_map";
  // The map side works on its own thread: the request waits for it, and
  // the updates it finished meanwhile go out with the reply.
  take(stage->Process("requests", q));
  CHECK(map_updates >= 1);
  REQUIRE(replies.size() == 1);
  const auto& a = replies[0];
  CHECK(a.request_id == 7);
  CHECK(a.answer == "ok");
  CHECK_THAT(a.justification, Catch::Contains("triangles"));
  CHECK(std::filesystem::file_size(out + "/map_mesh.ply") > 1000);
  q.question = "teleport";
  CHECK(std::get<pipeline::Answer>(stage->Process("requests", q)[0].message).answer == "error");
}

TEST_CASE("The map side gives the same map on its own thread as inline", "[perception][map]") {
  const io::SyntheticScene scene = SmallRoom(30);
  struct Run {
    std::vector<uint32_t> update_points;  // each map update's size, in order
    std::string mesh;
    double blocks = 0, seen_through = 0;
  };
  auto run = [&](bool thread) {
    const std::string out = test::TempDir(thread ? "geometry-map-thread" : "geometry-map-inline");
    auto stage = MapPublishingStage(out, thread ? "map_thread: true" : "map_thread: false");
    Run r;
    auto take = [&](const pipeline::Outputs& outs) {
      for (const pipeline::Output& o : outs)
        if (o.port == "map")
          r.update_points.push_back(std::get<pipeline::PointCloud>(o.message).num_points);
    };
    for (int i = 0; i < 30; ++i) take(stage->Process("frames", scene.Render(i).frame));
    take(stage->Finish());
    std::ifstream mesh(out + "/map_mesh.ply", std::ios::binary);
    r.mesh.assign(std::istreambuf_iterator<char>(mesh), {});
    r.blocks = stage->Counters().at("tsdf_blocks");
    r.seen_through = stage->Counters().at("seen_through_pixels");
    return r;
  };
  const Run inline_map = run(false), threaded = run(true);
  CHECK(inline_map.update_points.size() >= 2);
  CHECK(threaded.update_points == inline_map.update_points);
  CHECK(inline_map.mesh.size() > 1000);
  CHECK(threaded.mesh == inline_map.mesh);  // byte for byte
  CHECK(inline_map.blocks > 0);
  CHECK(threaded.blocks == inline_map.blocks);
  CHECK(threaded.seen_through == inline_map.seen_through);
}

TEST_CASE("Geometry stage publishes the map per keyframe, also when it fuses every frame",
          "[perception][map]") {
  auto stage =
      MapPublishingStage(test::TempDir("geometry-all-frames"), "integrate_all_frames: true");
  const io::SyntheticScene scene = SmallRoom(30);
  size_t map_updates = 0;
  auto count = [&](const pipeline::Outputs& outs) {
    for (const pipeline::Output& o : outs) map_updates += o.port == "map";
  };
  for (int i = 0; i < 30; ++i) count(stage->Process("frames", scene.Render(i).frame));
  count(stage->Finish());
  const double keyframes = stage->Counters().at("keyframes");
  INFO(keyframes << " keyframes, " << map_updates << " map updates");
  CHECK(keyframes >= 2);
  CHECK(keyframes < 30);  // the frames between keyframes are fused but publish nothing
  CHECK(map_updates == size_t(keyframes));
}
