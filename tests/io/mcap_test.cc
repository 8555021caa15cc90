#include "dyn4d/io/mcap.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "../common/test_stages.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/graph.h"

using namespace dyn4d;
namespace fs = std::filesystem;

TEST_CASE("MCAP round trip: channels and messages in order", "[io][mcap]") {
  const std::string path = test::TempDir("mcap") + "/a.mcap";
  {
    io::McapWriter w(path);
    const uint16_t a = w.AddChannel("/a", "json");
    const uint16_t s = w.AddSchema("Thing", "jsonschema", "{}");
    const uint16_t b = w.AddChannel("/b", "json", s, {{"k", "v"}});
    w.WriteMessage(a, 1, 100, 90, "{\"x\":1}");
    w.WriteMessage(b, 2, 200, 190, "{\"y\":2}");
    w.WriteMessage(a, 3, 300, 290, std::string(1000, 'z'));
    CHECK_FALSE(fs::exists(path));  // only PATH.partial until Close
    w.Close();
  }
  REQUIRE(fs::exists(path));
  io::McapReader r(path);
  auto m1 = r.Next(), m2 = r.Next(), m3 = r.Next();
  REQUIRE(m3.has_value());
  CHECK_FALSE(r.Next().has_value());
  CHECK(m1->channel->topic == "/a");
  CHECK(m2->channel->topic == "/b");
  CHECK(m2->log_time_ns == 200);
  CHECK(m2->publish_time_ns == 190);
  CHECK(m3->data == std::string(1000, 'z'));
  CHECK(io::McapReader::ListChannels(path).size() == 2);
}

TEST_CASE("MCAP chunks: messages in order across chunks, damaged chunks named", "[io][mcap]") {
  const std::string dir = test::TempDir("mcap-chunks");
  const std::string path = dir + "/c.mcap";
  {
    io::McapWriter w(path, "ros2", "dyn4d", /*chunk_bytes=*/300);
    const uint16_t a = w.AddChannel("/a", "cdr"), b = w.AddChannel("/b", "cdr");
    for (uint32_t i = 0; i < 40; ++i)
      w.WriteMessage(i % 3 ? a : b, i, 1000 + i, 1000 + i, std::string(50 + i, char('a' + i % 26)));
    w.Close();
  }
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  {
    io::McapReader r(path);
    uint32_t expected = 0;
    while (auto m = r.Next()) {
      CHECK(m->sequence == expected);
      CHECK(m->channel->topic == (expected % 3 ? "/a" : "/b"));
      CHECK(m->data.size() == 50 + expected);
      ++expected;
    }
    CHECK(expected == 40);
  }
  // A flipped byte inside a chunk: the chunk's CRC names it.
  std::string damaged = bytes;
  damaged[bytes.find(std::string(60, 'k'))] ^= 1;
  std::ofstream(dir + "/d.mcap", std::ios::binary) << damaged;
  io::McapReader r(dir + "/d.mcap");
  CHECK_THROWS_WITH(
      [&] {
        while (r.Next()) {
        }
      }(),
      Catch::Contains("chunk CRC mismatch"));
}

TEST_CASE("MCAP reader rejects damaged files with the byte offset", "[io][mcap][bad-input]") {
  const std::string dir = test::TempDir("mcap-bad");
  std::ofstream(dir + "/x.mcap") << "not an mcap";
  CHECK_THROWS_WITH(io::McapReader(dir + "/x.mcap"), Catch::Contains("bad magic"));
  {
    io::McapWriter w(dir + "/t.mcap");
    w.WriteMessage(w.AddChannel("/a", "json"), 0, 1, 1, std::string(500, 'q'));
    w.Close();
  }
  std::string bytes;
  {
    std::ifstream in(dir + "/t.mcap", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(dir + "/t.mcap", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  io::McapReader r(dir + "/t.mcap");
  CHECK_THROWS_WITH(r.Next(), Catch::Contains("truncated") && Catch::Contains("at byte"));
}

TEST_CASE("Recorder and replay: a recorded stream replays byte for byte", "[io][mcap][graph]") {
  pipeline::StageRegistry registry;
  io::RegisterStages(registry);
  perception::RegisterStages(registry);
  const std::string out = test::TempDir("record");
  {
    auto g = pipeline::ParseGraphConfig(R"(
version: 1
nodes:
  source: {type: synthetic_rgbd, outputs: {frames: frames, poses: poses, tracks: tracks},
           params: {frames: 8, width: 96, height: 72, fx: 78.75, fy: 78.75}}
  rec: {type: recorder, inputs: {frames: frames, poses: poses, tracks: tracks}}
)",
                                        "rec.yaml");
    REQUIRE(test::RunGraphInto(g, registry, out).status == pipeline::RunResult::Status::kOk);
  }
  const std::string file = out + "/recording.mcap";
  REQUIRE(fs::exists(file));
  auto channels = io::McapReader::ListChannels(file);
  REQUIRE(channels.size() == 3);

  SECTION("as an input source: frames with their ground-truth poses") {
    io::SourceConfig c;
    c.path = file;
    CHECK(io::DetectSourceKind(file) == "recording");
    auto source = io::OpenSource(c);
    io::SyntheticScene::Config sc;
    sc.width = 96, sc.height = 72, sc.fx = sc.fy = 78.75, sc.num_frames = 8;
    io::SyntheticScene scene(sc);
    for (int i = 0; i < 8; ++i) {
      io::SourceRead r = source->Next();
      REQUIRE(r.status == io::SourceRead::Status::kFrame);
      auto expected = scene.Render(i);
      REQUIRE(r.frame.color.data.size() == expected.frame.color.data.size());
      CHECK(std::memcmp(r.frame.color.data.data(), expected.frame.color.data.data(),
                        r.frame.color.data.size()) == 0);
      CHECK(std::memcmp(r.frame.depth.data.data(), expected.frame.depth.data.data(),
                        r.frame.depth.data.size()) == 0);
      REQUIRE(r.ground_truth.has_value());
      CHECK(r.ground_truth->t_world_cam == expected.pose.t_world_cam);
    }
    CHECK(source->Next().status == io::SourceRead::Status::kEnd);
  }
  SECTION("through the input node at a multiple of its frames' rate (speed)") {
    // 8 frames at 30 Hz span 7/30 s; at half speed the input takes 0.47 s.
    auto g = pipeline::ParseGraphConfig(R"(
version: 1
nodes:
  input: {type: input, outputs: {poses: poses}, params: {path: ")" +
                                            file + R"(", speed: 0.5}}
  trajectory: {type: trajectory_writer, inputs: {poses: poses}}
)",
                                        "paced.yaml");
    const auto r = test::RunGraphInto(g, registry, test::TempDir("paced"));
    REQUIRE(r.status == pipeline::RunResult::Status::kOk);
    CHECK(r.elapsed_s >= 7 / 30.0 / 0.5 - 0.01);
  }
  SECTION("through the replay stage into a tracks writer") {
    const std::string out2 = test::TempDir("replay");
    auto g = pipeline::ParseGraphConfig(R"(
version: 1
nodes:
  replay: {type: replay, outputs: {tracks: tracks}, params: {file: ")" +
                                            file + R"("}}
  tracks: {type: tracks_writer, inputs: {tracks: tracks}}
)",
                                        "replay.yaml");
    REQUIRE(test::RunGraphInto(g, registry, out2).status == pipeline::RunResult::Status::kOk);
    std::ifstream in(out2 + "/tracks_mot.txt");
    int lines = 0;
    for (std::string l; std::getline(in, l);) ++lines;
    CHECK(lines > 8);  // several objects per frame
  }
}
