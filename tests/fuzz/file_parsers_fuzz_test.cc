// Every file parser fuzzed for a bounded time: graph configs, calibration
// YAML, TUM image lists (rgb.txt, depth.txt, associations.txt), TUM
// trajectories, MOTChallenge det.txt / gt.txt and MCAP recordings. Each
// starts from valid files and mutates them (bit flips, interesting bytes and
// tokens, inserted, deleted, duplicated and cut ranges) with fixed seeds, so a
// failure reproduces. A parser may accept or reject; it must never crash or
// hang, and a rejection must be an exception that names the file.
// (The message decoder has its own libFuzzer target, fuzz.message_decoder.)
// DYN4D_FUZZ_LAST=FILE keeps the input being parsed in FILE: the one that
// hangs or crashes a parser is then at hand.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <opencv2/core/utils/logger.hpp>
#include <random>
#include <sstream>

#include "../common/test_stages.h"
#include "dyn4d/io/mcap.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/perception/trajectory_eval.h"
#include "dyn4d/pipeline/config.h"
#include "dyn4d/tracking/mot_eval.h"

using namespace dyn4d;
namespace fs = std::filesystem;

namespace {

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  std::string Mutate(std::string s) {
    const int n = 1 + Pick(4);
    for (int k = 0; k < n; ++k) MutateOnce(s);
    return s;
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  size_t At(const std::string& s) { return s.empty() ? 0 : size_t(Pick(int(s.size()))); }

  void MutateOnce(std::string& s) {
    static const std::vector<std::string> kTokens = {"nan",
                                                     "-nan",
                                                     "inf",
                                                     "-1",
                                                     "0",
                                                     "1e308",
                                                     "-1e308",
                                                     "4294967296",
                                                     "99999999999999999999",
                                                     "\n",
                                                     "\r\n",
                                                     "\t",
                                                     " ",
                                                     "#",
                                                     ",",
                                                     ":",
                                                     "-",
                                                     ".",
                                                     "e",
                                                     "[",
                                                     "]",
                                                     "{",
                                                     "}",
                                                     "'",
                                                     "\"",
                                                     "\\",
                                                     "%YAML:1.0\n",
                                                     "!!opencv-matrix",
                                                     "&a",
                                                     "*a",
                                                     "<<: *a",
                                                     "---\n",
                                                     "...",
                                                     "~",
                                                     "null",
                                                     std::string(1, '\0'),
                                                     "\xff\xfe",
                                                     "1305031102.175304",
                                                     ",,,,,,",
                                                     "    - ",
                                                     "? "};
    switch (Pick(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[At(s)] ^= char(1 << Pick(8));
        break;
      case 1:  // an interesting byte
        if (!s.empty()) s[At(s)] = "\0\xff\n ,.-9:#{["[Pick(12)];
        break;
      case 2:  // a token inserted
        s.insert(At(s), kTokens[Pick(int(kTokens.size()))]);
        break;
      case 3: {  // a range deleted
        const size_t a = At(s);
        s.erase(a, size_t(Pick(64)));
        break;
      }
      case 4: {  // a range duplicated
        const size_t a = At(s), len = std::min(s.size() - a, size_t(Pick(128)));
        s.insert(At(s), s.substr(a, len));
        break;
      }
      case 5:  // cut short
        s.resize(At(s));
        break;
      case 6: {  // a line swapped for a token
        const size_t a = s.find('\n', At(s));
        if (a != std::string::npos) s.insert(a + 1, kTokens[Pick(int(kTokens.size()))] + "\n");
        break;
      }
      default:  // random bytes
        for (int i = Pick(8); i >= 0; --i) s.insert(At(s), 1, char(Pick(256)));
        break;
    }
  }

  std::mt19937 rng_;
};

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `parse` on `iterations` mutants of the seeds. Accepting is fine;
// a rejection must be a std::exception whose message names `must_name`.
// Returns how many were rejected (a fuzzer that never reaches the error
// paths tests little).
int Fuzz(const std::vector<std::string>& seeds, int iterations, uint32_t seed,
         const std::string& must_name, const std::function<void(const std::string&)>& parse) {
  Mutator m(seed);
  int rejected = 0;
  for (int i = 0; i < iterations; ++i) {
    const std::string input = m.Mutate(seeds[size_t(i) % seeds.size()]);
    if (std::getenv("DYN4D_FUZZ_LAST")) WriteFile(std::getenv("DYN4D_FUZZ_LAST"), input);
    try {
      parse(input);
    } catch (const std::exception& e) {
      ++rejected;
      const std::string what = e.what();
      if (what.find(must_name) == std::string::npos) {
        INFO("iteration " << i << ", input:\n" << input);
        FAIL("the error does not name " << must_name << ": " << what);
      }
    }
  }
  return rejected;
}

const std::string kSource = DYN4D_SOURCE_DIR;

}  // namespace

TEST_CASE("fuzz: graph configs", "[fuzz][config]") {
  std::vector<std::string> seeds;
  for (const char* f : {"configs/offline.yaml", "configs/demo.yaml", "configs/video.yaml"})
    seeds.push_back(ReadFile(kSource + "/" + f));
  const int rejected = Fuzz(seeds, 20000, 11, "fuzz.yaml", [](const std::string& text) {
    pipeline::ParseGraphConfig(text, "fuzz.yaml");
  });
  CHECK(rejected > 500);
}

TEST_CASE("fuzz: calibration YAML", "[fuzz][io]") {
  const fs::path dir = test::TempDir("fuzz_calib");
  const fs::path file = dir / "calibration.yaml";
  const std::string seed =
      "%YAML:1.0\n---\nimage_width: 640\nimage_height: 480\ncamera_matrix: !!opencv-matrix\n"
      "   rows: 3\n   cols: 3\n   dt: d\n   data: [ 517.3, 0., 318.6, 0., 516.5, 255.3, 0., 0., 1. "
      "]\n";
  const int rejected = Fuzz({seed}, 10000, 12, file.string(), [&](const std::string& text) {
    WriteFile(file, text);
    io::ReadCalibrationYaml(file.string());
  });
  CHECK(rejected > 500);
}

TEST_CASE("fuzz: TUM image lists", "[fuzz][io]") {
  const fs::path dir = test::TempDir("fuzz_tum");
  const std::string rgb =
      "# color images\n# timestamp filename\n1305031102.175304 rgb/1305031102.175304.png\n"
      "1305031102.211214 rgb/1305031102.211214.png\n";
  const std::string assoc =
      "1305031102.175304 rgb/1305031102.175304.png 1305031102.160407 "
      "depth/1305031102.160407.png\n";
  // Either list, fuzzed: rgb.txt + depth.txt are paired, associations.txt is read as it is.
  // (Reading the listed images fails, as it must here: OpenCV need not say so each time.)
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
  int rejected = 0;
  for (const bool associations : {false, true}) {
    rejected += Fuzz({associations ? assoc : rgb}, 5000, associations ? 13 : 14, dir.string(),
                     [&](const std::string& text) {
                       fs::remove_all(dir);
                       fs::create_directories(dir);
                       WriteFile(dir / (associations ? "associations.txt" : "rgb.txt"), text);
                       if (!associations) WriteFile(dir / "depth.txt", rgb);
                       io::SourceConfig c;
                       c.kind = "tum";
                       c.path = dir.string();
                       c.fx = c.fy = 525, c.cx = 319.5, c.cy = 239.5;
                       auto source = io::OpenSource(c);
                       source->Next();  // no image files: it must say so, naming them
                     });
  }
  CHECK(rejected > 500);
}

TEST_CASE("fuzz: TUM trajectories", "[fuzz][perception]") {
  const fs::path file = fs::path(test::TempDir("fuzz_traj")) / "groundtruth.txt";
  const std::string seed =
      "# ground truth trajectory\n# timestamp tx ty tz qx qy qz qw\n"
      "1305031098.6659 1.3563 0.6305 1.6380 0.6132 0.5962 -0.3311 -0.3986\n"
      "1305031098.6758 1.3543 0.6306 1.6360 0.6129 0.5966 -0.3316 -0.3980\n";
  const int rejected = Fuzz({seed}, 15000, 15, file.string(), [&](const std::string& text) {
    WriteFile(file, text);
    perception::ReadTumTrajectory(file.string());
  });
  CHECK(rejected > 500);
}

TEST_CASE("fuzz: MOTChallenge det.txt and gt.txt", "[fuzz][tracking]") {
  const fs::path file = fs::path(test::TempDir("fuzz_mot")) / "det.txt";
  const std::string det =
      "1,-1,1359.1,413.27,120.26,362.77,2.3092,-1,-1,-1\n"
      "1,-1,571.03,402.13,104.56,315.68,1.5028,-1,-1,-1\n2,-1,650.8,455.86,63.98,193.94,0.33276,-1,"
      "-1,-1\n";
  const std::string gt = "1,1,912,484,97,109,0,7,1\n2,1,912,484,97,109,1,7,1\n";
  int rejected = 0;
  for (const bool ground_truth : {false, true})
    rejected += Fuzz({ground_truth ? gt : det}, 10000, ground_truth ? 16 : 17, file.string(),
                     [&](const std::string& text) {
                       WriteFile(file, text);
                       tracking::LoadMotFile(file.string(), ground_truth);
                     });
  CHECK(rejected > 500);
}

TEST_CASE("fuzz: MCAP recordings", "[fuzz][io][mcap]") {
  const fs::path dir = test::TempDir("fuzz_mcap");
  // Seeds: an unchunked dyn4d recording and a chunked one with a schema.
  std::vector<std::string> seeds;
  for (const uint64_t chunk : {uint64_t(0), uint64_t(256)}) {
    const fs::path p = dir / ("seed" + std::to_string(chunk) + ".mcap");
    io::McapWriter w(p.string(), "", "dyn4d", chunk);
    const uint16_t schema = w.AddSchema("std_msgs/msg/String", "ros2msg", "string data\n");
    const uint16_t ch = w.AddChannel("/text", "cdr", schema, {{"k", "v"}});
    const uint16_t raw = w.AddChannel("poses", io::kDyn4dMessageEncoding);
    for (uint32_t i = 0; i < 6; ++i) {
      w.WriteMessage(ch, i, 1000 + i, 1000 + i, std::string("\0\1\0\0\3\0\0\0hi\0", 11));
      pipeline::CameraPose pose;
      pose.meta.seq = i;
      w.WriteDyn4d(raw, "poses", pose, 2000 + i);
    }
    w.Close();
    seeds.push_back(ReadFile(p));
  }
  const fs::path file = dir / "fuzz.mcap";
  const int rejected = Fuzz(seeds, 15000, 18, file.string(), [&](const std::string& bytes) {
    WriteFile(file, bytes);
    io::McapReader reader(file.string());
    for (int i = 0; i < 10000 && reader.Next(); ++i) {
    }
    io::McapReader::ListChannels(file.string());
  });
  CHECK(rejected > 500);
}
