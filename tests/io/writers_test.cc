#include "dyn4d/io/writers.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../common/test_stages.h"

using namespace dyn4d;

namespace {
std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("TUM trajectory lines: seconds then translation then quaternion xyzw", "[io][writers]") {
  const std::string path = test::TempDir("tum") + "/t.tum";
  io::TumTrajectoryWriter w(path);
  pipeline::CameraPose p;
  p.meta.stamp_ns = 1305031102175304000;
  p.t_world_cam = {1.25, -0.5, 2};
  p.q_world_cam = {0, 0, 0.7071068, 0.7071068};
  w.Write(p);
  w.Close();
  CHECK_THAT(Slurp(path), Catch::EndsWith("1305031102.175304 1.250000 -0.500000 2.000000 0.0000000 "
                                          "0.0000000 0.7071068 0.7071068\n"));
}

TEST_CASE("Binary PLY has a correct header and payload size", "[io][writers]") {
  const std::string path = test::TempDir("ply") + "/c.ply";
  std::vector<float> xyz = {0, 1, 2, 3, 4, 5};
  std::vector<uint8_t> rgb = {255, 0, 0, 0, 255, 0};
  io::WritePlyBinary(path, xyz, rgb);
  const std::string s = Slurp(path);
  const std::string header =
      "ply\nformat binary_little_endian 1.0\ncomment written by dyn4d\nelement vertex 2\n"
      "property float x\nproperty float y\nproperty float z\n"
      "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n";
  REQUIRE(s.substr(0, header.size()) == header);
  REQUIRE(s.size() == header.size() + 2 * 15);
  float x1;
  std::memcpy(&x1, s.data() + header.size() + 15, 4);
  CHECK(x1 == 3.0f);
  CHECK(uint8_t(s[header.size() + 15 + 12 + 1]) == 255);
}

TEST_CASE("Writers fail loudly with the path when they cannot write", "[io][writers][bad-input]") {
  CHECK_THROWS_WITH(io::TumTrajectoryWriter("/nonexistent-dir/x.tum"),
                    Catch::Contains("/nonexistent-dir/x.tum"));
}

TEST_CASE("Tracks go to MOTChallenge (1-based frames) and JSONL", "[io][writers]") {
  const std::string dir = test::TempDir("tracks");
  io::TracksWriter w(dir + "/t.txt", dir + "/t.jsonl");
  pipeline::Tracks t;
  t.meta.seq = 0;
  pipeline::Track a;
  a.track_id = 3;
  a.box = {10, 20, 30, 40};
  a.score = 1;
  a.class_name = "person";
  a.has_position = true;
  a.position_world = {1, 2, 3};
  a.state = "confirmed";
  // Grounding mask 2 x 3: rows "011", "110".
  a.mask = pipeline::Image::Allocate(3, 2, pipeline::PixelEncoding::kMono8);
  const uint8_t bits[] = {0, 255, 255, 255, 255, 0};
  std::memcpy(a.mask.data.mutable_data(), bits, 6);
  t.items = {a};
  w.Write(t);
  w.Close();
  CHECK(Slurp(dir + "/t.txt") == "1,3,10.00,20.00,30.00,40.00,1.0000,-1,-1,-1\n");
  CHECK_THAT(Slurp(dir + "/t.jsonl"),
             Catch::Contains("\"class\":\"person\"") &&
                 Catch::Contains("\"position_world\":[1.0,2.0,3.0]") &&
                 Catch::Contains("\"state\":\"confirmed\"") &&
                 Catch::Contains("\"mask_rle\":{\"counts\":[1,4,1],\"size\":[2,3]}"));
  CHECK(io::MaskRunLengths(a.mask) == std::vector<uint32_t>{1, 4, 1});
  pipeline::Image on = pipeline::Image::Allocate(2, 1, pipeline::PixelEncoding::kMono8);
  on.data.mutable_data()[0] = on.data.mutable_data()[1] = 1;
  CHECK(io::MaskRunLengths(on) == std::vector<uint32_t>{0, 2});
}

TEST_CASE("PCD v0.7 binary with packed rgb", "[io][writers]") {
  const std::string path = test::TempDir("pcd") + "/c.pcd";
  io::WritePcdBinary(path, {1, 2, 3}, {255, 128, 1});
  const std::string s = Slurp(path);
  const size_t data = s.find("DATA binary\n");
  REQUIRE(data != std::string::npos);
  CHECK_THAT(s, Catch::Contains("FIELDS x y z rgb\n") && Catch::Contains("POINTS 1\n"));
  const std::string payload = s.substr(data + 12);
  REQUIRE(payload.size() == 16);
  uint32_t packed;
  std::memcpy(&packed, payload.data() + 12, 4);
  CHECK(packed == 0xFF8001u);
}

TEST_CASE("Mesh PLY has vertices and triangle faces", "[io][writers]") {
  const std::string path = test::TempDir("mesh") + "/m.ply";
  io::WriteMeshPly(path, {0, 0, 0, 1, 0, 0, 0, 1, 0}, {}, {0, 1, 2});
  const std::string s = Slurp(path);
  CHECK_THAT(s, Catch::Contains("element vertex 3\n") && Catch::Contains("element face 1\n") &&
                    Catch::Contains("property list uchar int vertex_indices\n"));
  CHECK(s.size() == s.find("end_header\n") + 11 + 3 * 12 + 13);
  CHECK_THROWS_WITH(io::WriteMeshPly(path, {0, 0, 0}, {}, {0, 1, 2}),
                    Catch::Contains("face index"));
}

TEST_CASE("KITTI tracking lines: 0-based frames and KITTI types", "[io][writers]") {
  const std::string dir = test::TempDir("kitti");
  io::TracksWriter w(dir + "/t.txt", dir + "/t.jsonl", dir + "/k.txt");
  pipeline::Tracks t;
  t.meta.seq = 4;
  pipeline::Track a;
  a.track_id = 2;
  a.box = {10, 20, 30, 40};
  a.score = 0.5f;
  a.class_name = "person";
  t.items = {a};
  w.Write(t);
  w.Close();
  CHECK(Slurp(dir + "/k.txt") ==
        "4 2 Pedestrian -1 -1 -10 10.00 20.00 40.00 60.00 -1 -1 -1 -1000 -1000 -1000 -10 0.5000\n");
  CHECK(io::KittiType("ball") == "Misc");
}

TEST_CASE("Cognitive maps and answers go to JSONL and text", "[io][writers]") {
  const std::string dir = test::TempDir("reasoning");
  io::ReasoningWriter w(dir + "/r.jsonl", dir + "/r.txt");
  pipeline::CognitiveMap m;
  m.json = R"({"objects":[{"id":1}]})";
  m.text = "person#1 walks left";
  w.Write(m);
  pipeline::Answer a;
  a.request_id = 7;
  a.answer = "B";
  a.justification = "chair#2 distance 3.1 -> 1.2 m";
  w.Write(a);
  w.Close();
  CHECK_THAT(Slurp(dir + "/r.jsonl"), Catch::Contains(R"("map":{"objects":[{"id":1}]})") &&
                                          Catch::Contains(R"("answer":"B")"));
  CHECK_THAT(Slurp(dir + "/r.txt"),
             Catch::Contains("person#1 walks left") && Catch::Contains("A7: B"));
}

TEST_CASE("Atomic files appear only when complete and never replace devices",
          "[io][writers][bad-input]") {
  const std::string dir = test::TempDir("atomic");
  std::ofstream(dir + "/old.txt") << "previous run";
  {
    io::AtomicFile f(dir + "/old.txt");
    f.stream() << "half written";
    // Not committed (the run died): the previous file is intact.
  }
  CHECK(Slurp(dir + "/old.txt") == "previous run");
  CHECK(Slurp(dir + "/old.txt.partial") == "half written");
  io::AtomicFile null("/dev/null");
  null.stream() << "discarded";
  null.Commit();
  CHECK(std::filesystem::is_character_file("/dev/null"));
}

#include "dyn4d/io/stages.h"

namespace fs = std::filesystem;

TEST_CASE("Writers with if_empty: skip leave no file for a stream that never came",
          "[io][writers]") {
  pipeline::StageRegistry registry;
  io::RegisterStages(registry);
  const std::string dir = test::TempDir("if-empty");
  auto make = [&](const std::string& type, const std::string& yaml) {
    pipeline::Params p = pipeline::Params::FromYaml(yaml, "t.yaml", "nodes.w.params");
    pipeline::StageContext ctx;
    ctx.node_name = "w";
    ctx.output_dir = dir;
    return registry.Create(type, p, ctx);
  };
  make("trajectory_writer", "{file: gt_skip.tum, if_empty: skip}")->Finish();
  make("tracks_writer",
       "{mot_file: gt_mot.txt, jsonl_file: gt.jsonl, kitti_file: gt_kitti.txt, "
       "if_empty: skip}")
      ->Finish();
  make("trajectory_writer", "{file: kept.tum}")->Finish();
  CHECK_FALSE(fs::exists(dir + "/gt_skip.tum"));
  CHECK_FALSE(fs::exists(dir + "/gt_skip.tum.partial"));
  CHECK_FALSE(fs::exists(dir + "/gt_mot.txt"));
  CHECK_FALSE(fs::exists(dir + "/gt.jsonl"));
  CHECK_FALSE(fs::exists(dir + "/gt_kitti.txt"));
  CHECK(fs::exists(dir + "/kept.tum"));  // an estimate that found nothing is still a result
  // One message is enough for the file to be written.
  auto w = make("trajectory_writer", "{file: one.tum, if_empty: skip}");
  pipeline::CameraPose pose;
  pose.meta.stamp_ns = 1000000000;
  w->Process("poses", pose);
  w->Finish();
  CHECK(fs::exists(dir + "/one.tum"));
}

namespace {
// The vertex count in a PLY header.
size_t PlyVertices(const std::string& path) {
  const std::string text = Slurp(path);
  const std::string tag = "element vertex ";
  const size_t at = text.find(tag);
  REQUIRE(at != std::string::npos);
  return std::stoul(text.substr(at + tag.size()));
}
}  // namespace

namespace {
// A world-frame point cloud (no colours) of x, y, z triples.
pipeline::PointCloud CloudOf(const std::vector<float>& xyz) {
  pipeline::PointCloud c;
  c.num_points = static_cast<uint32_t>(xyz.size() / 3);
  c.points = pipeline::Buffer::CopyOf(xyz.data(), xyz.size() * sizeof(float));
  return c;
}
}  // namespace

TEST_CASE("cloud map: points seen once are noise and leave, the surface stays", "[io][map]") {
  pipeline::StageRegistry registry;
  io::RegisterStages(registry);
  const std::string dir = test::TempDir("cloudmap");
  // One surface of 100 points in separate 2 cm voxels, seen by every cloud,
  // plus 50 noise points that land in new voxels each time.
  auto cloud = [](int k) {
    std::vector<float> xyz;
    for (int i = 0; i < 100; ++i) xyz.insert(xyz.end(), {0.05f * i + 0.001f, 0.001f, 1.001f});
    for (int i = 0; i < 50; ++i) xyz.insert(xyz.end(), {0.05f * i + 0.001f, 0.05f * k + 0.3f, 2.f});
    return CloudOf(xyz);
  };
  auto run = [&](const std::string& params, int clouds, size_t* most) {
    pipeline::Params p = pipeline::Params::FromYaml(params);
    pipeline::StageContext ctx{"map", dir, {{"clouds", "clouds"}}, {}};
    auto stage = registry.Create("cloud_map_writer", p, ctx);
    *most = 0;
    for (int k = 0; k < clouds; ++k) {
      stage->Process("clouds", pipeline::Message(cloud(k)));
      *most = std::max(*most, static_cast<size_t>(stage->Counters().at("map_points")));
    }
    stage->Finish();
  };
  size_t most = 0;
  // Pruned every 5 clouds: after the 200th, the noise of clouds 196-199
  // is still young; earlier noise left.
  run("{file: pruned.ply, confirm_clouds: 5}", 200, &most);
  CHECK(PlyVertices(dir + "/pruned.ply") == 100 + 4 * 50);
  // Memory bounded by the scene, not the run's length: at most the noise of
  // two prune intervals (the young, and the old awaiting the next prune).
  CHECK(most <= 100 + 2 * 5 * 50);
  // confirm_clouds 0 keeps every voxel ever seen, as before.
  run("{file: all.ply, confirm_clouds: 0}", 20, &most);
  CHECK(PlyVertices(dir + "/all.ply") == 100 + 20 * 50);
  // A short run keeps what it saw.
  run("{file: short.ply}", 2, &most);
  CHECK(PlyVertices(dir + "/short.ply") == 100 + 2 * 50);
}

TEST_CASE("cloud map: a surface whose points straddle voxel boundaries stays whole", "[io][map]") {
  pipeline::StageRegistry registry;
  io::RegisterStages(registry);
  const std::string dir = test::TempDir("cloudmap_boundary");
  // The camera sweeps on: clouds 2p and 2p+1 see patch p, 100 surface points
  // 6 cm apart, each within 1 mm of a 2 cm voxel boundary, the even cloud on
  // one side and the odd cloud on the other; no voxel is hit twice. One stray
  // point per cloud lands far from everything else.
  auto cloud = [](int k) {
    std::vector<float> xyz;
    const float side = k % 2 ? 0.0005f : -0.0005f, y = 0.1f * (k / 2) + 0.01f;
    for (int i = 0; i < 100; ++i) xyz.insert(xyz.end(), {0.06f * i + 0.02f + side, y, 1.01f});
    xyz.insert(xyz.end(), {-3.f, 0.1f * k, 3.f});
    return CloudOf(xyz);
  };
  pipeline::StageContext ctx{"map", dir, {{"clouds", "clouds"}}, {}};
  pipeline::Params params = pipeline::Params::FromYaml("{file: map.ply, confirm_clouds: 5}");
  auto stage = registry.Create("cloud_map_writer", params, ctx);
  for (int k = 0; k < 100; ++k) stage->Process("clouds", pipeline::Message(cloud(k)));
  stage->Finish();
  // Both voxels of every surface point stay (50 patches x 200); of the strays
  // only the young ones (clouds 96-99, pruned every 5) are left.
  CHECK(PlyVertices(dir + "/map.ply") == 50 * 200 + 4);
}
