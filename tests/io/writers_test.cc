#include "dyn4d/io/writers.h"

#include <catch2/catch.hpp>
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
  t.items = {a};
  w.Write(t);
  w.Close();
  CHECK(Slurp(dir + "/t.txt") == "1,3,10.00,20.00,30.00,40.00,1.0000,-1,-1,-1\n");
  CHECK_THAT(Slurp(dir + "/t.jsonl"), Catch::Contains("\"class\":\"person\"") &&
                                          Catch::Contains("\"position_world\":[1.0,2.0,3.0]"));
}
