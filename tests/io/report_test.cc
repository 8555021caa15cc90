// OUT/report.html from a run's files: what it carries, what it leaves out,
// and that it cannot be broken out of its <script> by the run's text.
#include "dyn4d/io/report.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "../common/test_stages.h"

using namespace dyn4d;
namespace fs = std::filesystem;

namespace {

void Write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// The data the page carries (window.DYN4D_REPORT=...;</script>).
nlohmann::json Embedded(const std::string& html) {
  const std::string begin = "window.DYN4D_REPORT=";
  const size_t a = html.find(begin);
  REQUIRE(a != std::string::npos);
  const size_t b = html.find(";</script>", a);
  REQUIRE(b != std::string::npos);
  return nlohmann::json::parse(html.substr(a + begin.size(), b - a - begin.size()));
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A binary PLY as dyn4d writes map_points.ply: float x y z, uchar r g b.
void WritePly(const fs::path& path, int n) {
  std::ofstream out(path, std::ios::binary);
  out << "ply\nformat binary_little_endian 1.0\nelement vertex " << n
      << "\nproperty float x\nproperty float y\nproperty float z\n"
         "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n";
  for (int i = 0; i < n; ++i) {
    const float xyz[3] = {float(i), 0.5f, 2.0f};
    const uint8_t rgb[3] = {200, 100, uint8_t(i)};
    out.write(reinterpret_cast<const char*>(xyz), 12);
    out.write(reinterpret_cast<const char*>(rgb), 3);
  }
}

}  // namespace

TEST_CASE("report: a run's files become one page with its data", "[io][report]") {
  const fs::path dir = test::TempDir("report");
  std::string tum = "# timestamp tx ty tz qx qy qz qw\n";
  for (int i = 0; i <= 30; ++i)
    tum += std::to_string(i / 10.0) + " " + std::to_string(0.1 * i) + " 0 0 0 0 0 1\n";
  Write(dir / "trajectory.tum", tum);
  // Object 3: seen 0.0-0.5 s, then again 2.0-2.2 s (two spans); object 5 once.
  std::string tracks;
  auto line = [&](int id, double t, int exit) {
    tracks += "{\"track_id\":" + std::to_string(id) + ",\"t\":" + std::to_string(t) +
              ",\"class\":\"person\",\"exit\":" + std::to_string(exit) +
              ",\"position_world\":[1,0," + std::to_string(t) + "]}\n";
  };
  for (int i = 0; i <= 5; ++i) line(3, i / 10.0, 1);
  for (int i = 20; i <= 22; ++i) line(3, i / 10.0, 2);
  line(5, 1.0, 0);
  Write(dir / "tracks.jsonl", tracks);
  Write(dir / "stats.jsonl",
        "{\"node\":\"track\",\"t_s\":1.0,\"fps\":30,\"latency_p50_ms\":1,\"latency_p95_ms\":2,"
        "\"counters\":{}}\n"
        "{\"node\":\"recognize\",\"t_s\":1.0,\"fps\":30,\"latency_p50_ms\":5,\"latency_p95_ms\":9,"
        "\"counters\":{\"exit_1\":10,\"exit_2\":4}}\n"
        "{\"node\":\"recognize\",\"t_s\":2.5,\"fps\":28,\"latency_p50_ms\":6,\"latency_p95_ms\":8,"
        "\"counters\":{\"exit_1\":20,\"exit_2\":5}}\n");
  Write(dir / "reasoning.jsonl",
        "{\"kind\":\"cognitive_map\",\"map\":{\"events\":[{\"a\":3,\"t\":0.1,\"text\":\"person #3 "
        "appears\"}]}}\n"
        "{\"kind\":\"answer\",\"question\":\"How "
        "many?\",\"answer\":\"2\",\"justification\":\"x\"}\n");
  // Text from the run that would end the page's <script> if not escaped.
  Write(dir / "reasoning.txt", "Objects: person #3 </script><script>alert(1)</script>\n");
  WritePly(dir / "map_points.ply", 1000);
  {
    cv::VideoWriter video((dir / "overlay.mp4").string(),
                          cv::VideoWriter::fourcc('m', 'p', '4', 'v'), 10, cv::Size(64, 48));
    REQUIRE(video.isOpened());
    for (int i = 0; i < 20; ++i) video.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar(10 * i, 0, 0)));
  }

  io::ReportOptions o;
  o.output_dir = dir.string();
  o.thumbnails = 4;
  o.max_map_points = 100;
  o.elapsed_s = 1.5;
  const io::ReportResult r = io::WriteReport(o);
  CHECK(r.path == (dir / "report.html").string());
  CHECK(r.frames == 31);
  CHECK(r.objects == 2);
  CHECK(r.thumbnails == 4);
  CHECK(r.map_points == 100);
  CHECK(r.missing.empty());
  CHECK_FALSE(fs::exists(dir / "report.html.partial"));

  const std::string html = ReadAll(r.path);
  CHECK(html.find("</script><script>alert") == std::string::npos);
  const nlohmann::json d = Embedded(html);
  CHECK(d["summary"]["frames"] == 31);
  CHECK(d["summary"]["fps"].get<double>() == Approx(31 / 1.5).epsilon(1e-3));
  CHECK(d["summary"]["path_m"].get<double>() == Approx(3.0).epsilon(1e-3));
  CHECK(d["summary"]["objects"] == 2);
  const auto& person = d["objects"][0];
  CHECK(person["id"] == 3);
  CHECK(person["frames"] == 9);
  CHECK(person["spans"].size() == 2);  // the 1.5 s gap ends the first span
  CHECK(person["spans"][1][0].get<double>() == Approx(2.0));
  CHECK(person["exits"]["1"] == 6);
  CHECK(person["exits"]["2"] == 3);
  CHECK(d["objects"][1]["exits"].empty());  // no recognition: no exit
  CHECK(d["exits"]["exit_1"] == 20);        // the last counters, not a sum over time
  CHECK(d["exits"]["exit_2"] == 5);
  CHECK(d["nodes"]["recognize"]["p95"].size() == 2);
  CHECK(d["events"][0]["text"] == "person #3 appears");
  CHECK(d["answers"][0]["answer"] == "2");
  CHECK(d["reasoning"].get<std::string>().find("</script>") != std::string::npos);  // intact
  CHECK(d["thumbnails"].size() == 4);
  CHECK(d["thumbnails"][3]["frame"] == 19);
  CHECK(d["map"]["points"] == 100);
  // 100 points of float32 xyz: 1200 bytes in base64.
  CHECK(d["map"]["xyz_f32"].get<std::string>().size() == 1600);
  // The page itself is the built-in one.
  CHECK(html.find("<canvas id=\"topdown\"") != std::string::npos);
}

TEST_CASE("report: what a run did not write is left out and listed", "[io][report]") {
  const fs::path dir = test::TempDir("report_missing");
  Write(dir / "trajectory.tum", "0 0 0 0 0 0 0 1\n0.1 0.1 0 0 0 0 0 1\n");
  // A PLY the report cannot read (ASCII) gives no map, not a failure.
  Write(dir / "map_points.ply",
        "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
        "property float z\nend_header\n0 0 0\n");
  io::ReportOptions o;
  o.output_dir = dir.string();
  const io::ReportResult r = io::WriteReport(o);
  CHECK(r.frames == 2);
  CHECK(r.objects == 0);
  CHECK(r.map_points == 0);
  CHECK(r.missing == std::vector<std::string>{"tracks.jsonl", "stats.jsonl", "reasoning.jsonl",
                                              "reasoning.txt", "overlay.mp4"});
  const nlohmann::json d = Embedded(ReadAll(r.path));
  CHECK(d["map"].is_null());
  CHECK(d["missing"].size() == 5);

  o.output_dir = (dir / "no_such_run").string();
  CHECK_THROWS_WITH(io::WriteReport(o), Catch::Contains("no_such_run"));
}
