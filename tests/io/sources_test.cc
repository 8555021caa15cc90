#include "dyn4d/io/sources.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "../common/shared_data.h"
#include "../common/test_stages.h"
#include "dyn4d/io/synth_writer.h"

using namespace dyn4d;
using io::SourceRead;
namespace fs = std::filesystem;

namespace {

std::vector<SourceRead> ReadAll(io::FrameSource& s, size_t limit = 100000) {
  std::vector<SourceRead> out;
  while (out.size() < limit) {
    SourceRead r = s.Next();
    if (r.status == SourceRead::Status::kEnd) break;
    out.push_back(std::move(r));
  }
  return out;
}

io::SourceConfig Config(const std::string& path, const std::string& kind = "auto") {
  io::SourceConfig c;
  c.path = path;
  c.kind = kind;
  return c;
}

// A small synthetic sequence on disk (TUM layout), for tests that damage it.
std::string SmallSynthFolder(const std::string& name, int frames = 6) {
  const std::string dir = test::TempDir(name);
  io::SyntheticScene::Config c;
  c.width = 160;
  c.height = 120;
  c.fx = c.fy = 131.25;
  c.num_frames = frames;
  io::WriteSyntheticSequence(c, dir);
  return dir;
}

void WriteCalibration(const std::string& path, double fx, double cx, double cy, int w, int h,
                      double baseline = 0) {
  std::ofstream f(path);
  f << "%YAML:1.0\n---\nimage_width: " << w << "\nimage_height: " << h
    << "\ncamera_matrix: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n   data: [ " << fx
    << ", 0., " << cx << ", 0., " << fx << ", " << cy << ", 0., 0., 1. ]\n";
  if (baseline > 0) f << "baseline: " << baseline << "\n";
}

}  // namespace

TEST_CASE("TUM folder: the shared fr1/rpy excerpt with its calibration and ground truth",
          "[io][sources][shared]") {
  const std::string dir = test::SharedDirOrSkip("data/tum_fr1_rpy");
  CHECK(io::DetectSourceKind(dir) == "tum");
  auto source = io::OpenSource(Config(dir));
  CHECK(source->SizeHint() == 120);
  auto frames = ReadAll(*source);
  REQUIRE(frames.size() == 120);
  const auto& f = frames[0].frame;
  CHECK(f.color.width == 640);
  CHECK(f.depth.encoding == pipeline::PixelEncoding::kMono16);
  CHECK(f.depth_scale == 5000);
  CHECK(f.intrinsics.fx == Approx(517.3));
  CHECK(f.intrinsics.cy == Approx(255.3));
  CHECK(f.meta.stamp_ns == 1305031229528748000);
  // Depth 1305031229.528784 s, 36 us after the colour; frame 1 differs by 17 us.
  CHECK(std::abs(f.depth_offset_ns - 36'000) < 1000);
  CHECK(std::abs(frames[1].frame.depth_offset_ns - 17'000) < 1000);
  // Depth of a real room: mostly valid, between 0.4 and 5 m.
  const auto* d = f.depth.data.as<uint16_t>();
  size_t valid = 0;
  double sum = 0;
  for (size_t i = 0; i < 640 * 480; ++i)
    if (d[i]) ++valid, sum += d[i] / 5000.0;
  CHECK(valid > 640 * 480 / 2);
  CHECK(sum / valid > 0.4);
  CHECK(sum / valid < 5.0);
  // Every frame has a ground-truth pose (interpolated at 100 Hz).
  for (const auto& r : frames) REQUIRE(r.ground_truth.has_value());
  CHECK(frames[0].ground_truth->status == pipeline::PoseStatus::kGroundTruth);
}

TEST_CASE("TUM folder without associations.txt pairs rgb.txt and depth.txt within 0.02 s",
          "[io][sources]") {
  const std::string dir = SmallSynthFolder("tum-assoc");
  fs::remove(fs::path(dir) / "associations.txt");
  auto frames = ReadAll(*io::OpenSource(Config(dir)));
  REQUIRE(frames.size() == 6);
  CHECK_FALSE(frames[3].frame.depth.empty());
  CHECK(frames[3].ground_truth.has_value());
  CHECK(frames[3].ground_truth_tracks.has_value());  // synth folders carry their tracks
}

TEST_CASE("7-Scenes folder: millimetre depth with 65535 as invalid and per-frame poses",
          "[io][sources][shared]") {
  const std::string dir = test::SharedDirOrSkip("data/7scenes_redkitchen");
  CHECK(io::DetectSourceKind(dir) == "7scenes");
  io::SourceConfig c = Config(dir);
  c.max_frames = 20;
  auto frames = ReadAll(*io::OpenSource(c));
  REQUIRE(frames.size() == 20);
  CHECK(frames[0].frame.depth_scale == 1000);
  CHECK(frames[0].frame.intrinsics.fx == 585);
  // 65535 (7-Scenes' "no depth") becomes 0, dyn4d's: a copy of frame 0
  // with holes punched in.
  const std::string holes = test::TempDir("7s-holes");
  for (const char* f : {"frame-000000.color.jpg", "frame-000000.pose.txt", "camera-intrinsics.txt"})
    fs::copy_file(dir + "/" + f, holes + "/" + f);
  cv::Mat raw = cv::imread(dir + "/frame-000000.depth.png", cv::IMREAD_ANYDEPTH);
  REQUIRE(raw.type() == CV_16UC1);
  raw(cv::Rect(100, 100, 20, 10)).setTo(65535);
  cv::imwrite(holes + "/frame-000000.depth.png", raw);
  auto holed = ReadAll(*io::OpenSource(Config(holes)));
  REQUIRE(holed.size() == 1);
  const auto* d = holed[0].frame.depth.data.as<uint16_t>();
  CHECK(d[105 * 640 + 110] == 0);
  for (size_t i = 0; i < 640 * 480; ++i) REQUIRE(d[i] != 65535);
  // Pose equals the file's 4x4 (translation column).
  std::ifstream pf(dir + "/frame-000005.pose.txt");
  double T[16];
  for (double& x : T) pf >> x;
  REQUIRE(frames[5].ground_truth.has_value());
  CHECK(frames[5].ground_truth->t_world_cam[0] == Approx(T[3]));
  CHECK(frames[5].ground_truth->t_world_cam[2] == Approx(T[11]));
}

TEST_CASE("Image folder with a depth folder needs intrinsics and a depth scale", "[io][sources]") {
  const std::string synth = SmallSynthFolder("imgs-src", 4);
  const std::string dir = test::TempDir("imgs");
  fs::create_directories(dir + "/color");
  fs::create_directories(dir + "/depth");
  for (int i = 0; i < 4; ++i) {
    char n[16];
    std::snprintf(n, sizeof n, "%06d.png", i);
    fs::copy_file(synth + "/rgb/" + n, dir + "/color/" + n);
    fs::copy_file(synth + "/depth/" + n, dir + "/depth/" + n);
  }
  io::SourceConfig c = Config(dir + "/color");
  c.depth_path = dir + "/depth";
  SECTION("without intrinsics: a clear error") {
    CHECK(io::DetectSourceKind(dir + "/color") == "images");
    CHECK_THROWS_WITH(io::OpenSource(c),
                      Catch::Contains("no camera intrinsics") && Catch::Contains("calibration"));
  }
  SECTION("with them") {
    c.fx = c.fy = 131.25, c.cx = 79.5, c.cy = 59.5;
    c.depth_scale = 5000;
    auto frames = ReadAll(*io::OpenSource(c));
    REQUIRE(frames.size() == 4);
    CHECK(frames[2].frame.depth.width == 160);
    CHECK(frames[2].frame.meta.stamp_ns == std::llround(2 / 30.0 * 1e9));
  }
  SECTION("wrong intrinsics are refused, naming where they came from") {
    c.fx = c.fy = 131.25, c.cx = 500, c.cy = 59.5;  // outside a 160 px image
    c.depth_scale = 5000;
    CHECK_THROWS_WITH(io::OpenSource(c), Catch::Contains("wrong intrinsics from the config") &&
                                             Catch::Contains("principal point"));
  }
}

TEST_CASE("Video files are read with any FFmpeg codec and corrupt ones are refused",
          "[io][sources]") {
  const std::string dir = test::TempDir("video");
  const std::string path = dir + "/clip.mp4";
  {
    cv::VideoWriter w(path, cv::VideoWriter::fourcc('m', 'p', '4', 'v'), 25, cv::Size(96, 64));
    REQUIRE(w.isOpened());
    for (int i = 0; i < 12; ++i)
      w.write(cv::Mat(64, 96, CV_8UC3, cv::Scalar(i * 20, 100, 255 - i * 20)));
  }
  io::SourceConfig c = Config(path);
  c.fx = c.fy = 80, c.cx = 47.5, c.cy = 31.5;
  CHECK(io::DetectSourceKind(path) == "video");
  auto frames = ReadAll(*io::OpenSource(c));
  REQUIRE(frames.size() == 12);
  CHECK(frames[0].frame.depth.empty());
  CHECK(frames[11].frame.meta.stamp_ns == std::llround(11 / 25.0 * 1e9));
  // Colour survives compression roughly: frame 11 is blue-ish (B = 220).
  CHECK(frames[11].frame.color.data.data()[0] > 150);
  // Without intrinsics a colour-only source assumes the documented field of
  // view (principal point at the centre), where an RGB-D one refuses.
  c.fx = c.fy = c.cx = c.cy = 0;
  auto assumed = ReadAll(*io::OpenSource(c));
  REQUIRE(assumed.size() == 12);
  const auto& k = assumed[0].frame.intrinsics;
  CHECK(k.cx == Approx(48));
  CHECK(k.cy == Approx(32));
  CHECK(2 * std::atan(48 / k.fx) * 180 / M_PI == Approx(io::kDefaultHorizontalFovDeg));
  CHECK(k.fy == Approx(k.fx));
  CHECK_THROWS_WITH(io::IntrinsicsFromFov(96, 64, 180), Catch::Contains("fov"));

  {
    cv::VideoWriter empty(dir + "/empty.mp4", cv::VideoWriter::fourcc('m', 'p', '4', 'v'), 25,
                          cv::Size(96, 64));
    REQUIRE(empty.isOpened());
  }  // released with zero frames
  c.path = dir + "/empty.mp4";
  CHECK_THROWS_WITH(io::OpenSource(c),
                    Catch::Contains("empty.mp4") &&
                        (Catch::Contains("no frames") || Catch::Contains("cannot be opened")));
  std::filesystem::remove(dir + "/empty.mp4");
  std::ofstream(dir + "/broken.mp4") << "this is not a video";
  c.path = dir + "/broken.mp4";
  CHECK_THROWS_WITH(io::OpenSource(c), Catch::Contains("broken.mp4"));
  CHECK(io::ListVideos(dir) == std::vector<std::string>{dir + "/broken.mp4", path});
  CHECK(io::DetectSourceKind(dir) == "video_folder");
}

TEST_CASE("Stereo folders and side-by-side videos give depth from SGBM + WLS and the baseline",
          "[io][sources][shared]") {
  const std::string stereo = test::SharedDirOrSkip("data/stereo");
  const std::string dir = test::TempDir("stereo");
  fs::create_directories(dir + "/left");
  fs::create_directories(dir + "/right");
  fs::copy_file(stereo + "/motorcycle_left.png", dir + "/left/000.png");
  fs::copy_file(stereo + "/motorcycle_right.png", dir + "/right/000.png");
  SECTION("missing calibration is a clear error") {
    CHECK_THROWS_WITH(io::OpenSource(Config(dir)), Catch::Contains("needs a calibration YAML"));
  }
  SECTION("depth follows z = fx * B / d") {
    WriteCalibration(dir + "/calibration.yaml", 500, 370, 250, 741, 500, 0.2);
    CHECK(io::DetectSourceKind(dir) == "stereo");
    auto frames = ReadAll(*io::OpenSource(Config(dir)));
    REQUIRE(frames.size() == 1);
    const auto& depth = frames[0].frame.depth;
    REQUIRE(depth.width == 741);
    const auto* d = depth.data.as<uint16_t>();
    size_t valid = 0;
    for (size_t i = 0; i < size_t(741) * 500; ++i) valid += d[i] > 0;
    CHECK(valid > size_t(741) * 500 / 2);
    // Motorcycle disparities are ~20-70 px here: 500 * 0.2 / d = 1.4-5 m.
    const uint16_t centre = d[250 * 741 + 370];
    CHECK(centre / 1000.0 > 1.0);
    CHECK(centre / 1000.0 < 6.0);
  }
  SECTION("the same pair as a side-by-side video") {
    cv::Mat l = cv::imread(stereo + "/motorcycle_left.png"),
            r = cv::imread(stereo + "/motorcycle_right.png");
    cv::Mat sbs;
    cv::hconcat(l(cv::Rect(0, 0, 740, 500)), r(cv::Rect(0, 0, 740, 500)), sbs);
    const std::string video = dir + "/sbs.avi";
    {
      // Lossless-ish MJPG at high quality keeps the texture SGBM needs.
      cv::VideoWriter w(video, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, sbs.size());
      REQUIRE(w.isOpened());
      w.set(cv::VIDEOWRITER_PROP_QUALITY, 100);
      for (int i = 0; i < 3; ++i) w.write(sbs);
    }
    WriteCalibration(dir + "/calibration.yaml", 500, 370, 250, 740, 500, 0.2);
    auto frames = ReadAll(*io::OpenSource(Config(video, "stereo")));
    REQUIRE(frames.size() == 3);
    CHECK(frames[2].frame.color.width == 740);
    const auto* d = frames[2].frame.depth.data.as<uint16_t>();
    CHECK(d[250 * 740 + 370] / 1000.0 > 1.0);
    CHECK(d[250 * 740 + 370] / 1000.0 < 6.0);
  }
}

TEST_CASE("Live sources fail clearly when no device is there", "[io][sources][live]") {
  SECTION("OpenNI2") {
    CHECK_THROWS_WITH(
        io::OpenSource(Config("", "openni")),
        Catch::Contains("OpenNI2") && (Catch::Contains("no OpenNI2 RGB-D camera found") ||
                                       Catch::Contains("cannot be opened")));
  }
  SECTION("V4L2") {
    CHECK(io::DetectSourceKind("/dev/video99") == "v4l2");
    CHECK_THROWS_WITH(io::OpenSource(Config("/dev/video99")), Catch::Contains("/dev/video99"));
  }
  SECTION("GStreamer") {
    CHECK_THROWS_WITH(io::OpenSource(Config("nosuchelement ! appsink", "gstreamer")),
                      Catch::Contains("GStreamer pipeline"));
  }
}

TEST_CASE("Bad frames are skipped with the file and reason and the rest is read",
          "[io][sources][bad-input]") {
  const std::string dir = SmallSynthFolder("bad-frames", 6);
  // Frame 1: truncated colour PNG. Frame 2: depth of the wrong size.
  // Frame 3: an 8-bit depth image. Frame 4: timestamp out of order.
  {
    std::string bytes;
    std::ifstream in(dir + "/rgb/000001.png", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
    std::ofstream(dir + "/rgb/000001.png", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  cv::imwrite(dir + "/depth/000002.png", cv::Mat(10, 10, CV_16UC1, cv::Scalar(1000)));
  cv::imwrite(dir + "/depth/000003.png", cv::Mat(120, 160, CV_8UC1, cv::Scalar(10)));
  {
    std::ifstream in(dir + "/associations.txt");
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    lines[4].replace(0, lines[4].find(' '), "0.010000");  // frame 4 now earlier than frame 3
    std::ofstream out(dir + "/associations.txt");
    for (auto& l : lines) out << l << "\n";
  }
  auto source = io::OpenSource(Config(dir));
  std::vector<SourceRead> all = ReadAll(*source);
  REQUIRE(all.size() == 6);
  CHECK(all[0].status == SourceRead::Status::kFrame);
  CHECK(all[1].status == SourceRead::Status::kSkipped);
  CHECK_THAT(all[1].message, Catch::Contains("rgb/000001.png") && Catch::Contains("truncated"));
  CHECK_THAT(all[2].message, Catch::Contains("depth/000002.png") && Catch::Contains("10x10"));
  CHECK_THAT(all[3].message, Catch::Contains("depth/000003.png") && Catch::Contains("16-bit"));
  CHECK_THAT(all[4].message, Catch::Contains("out of order"));
  CHECK(all[5].status == SourceRead::Status::kFrame);
}

TEST_CASE("Source-level problems are errors naming the path", "[io][sources][bad-input]") {
  const std::string empty = test::TempDir("empty");
  CHECK_THROWS_WITH(io::DetectSourceKind(empty), Catch::Contains("not a known layout"));
  CHECK_THROWS_WITH(io::DetectSourceKind("/nonexistent/x"), Catch::Contains("does not exist"));
  const std::string dir = SmallSynthFolder("bad-source", 2);
  std::ofstream(dir + "/associations.txt") << "# nothing listed\n";
  CHECK_THROWS_WITH(io::OpenSource(Config(dir)), Catch::Contains("no frames listed"));
  std::ofstream(dir + "/associations.txt") << "1.0 rgb/000000.png\n";
  CHECK_THROWS_WITH(io::OpenSource(Config(dir)), Catch::Contains("associations.txt' line 1"));
  std::ofstream(dir + "/calib.yaml") << "%YAML:1.0\n---\nimage_width: 160\n";
  CHECK_THROWS_WITH(io::ReadCalibrationYaml(dir + "/calib.yaml"), Catch::Contains("camera_matrix"));
}

TEST_CASE("Batch shards: every video in exactly one, by its name alone", "[io][sources][shard]") {
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("/data/videos/clip_" + std::to_string(i) + ".mp4");
  for (const int count : {1, 2, 4, 7}) {
    std::vector<int> per_shard(count, 0);
    for (const std::string& n : names) {
      const int s = io::ShardOf(n, count);
      REQUIRE(s >= 0);
      REQUIRE(s < count);
      ++per_shard[s];
    }
    // Balanced enough for an array job: each within 25 % of its share.
    for (const int k : per_shard) CHECK(std::abs(k - 1000.0 / count) <= 0.25 * 1000.0 / count);
  }
  // The folder does not matter, only the name (a share never moves).
  CHECK(io::ShardOf("/a/clip_7.mp4", 4) == io::ShardOf("/elsewhere/clip_7.mp4", 4));
  CHECK(io::ShardOf("x.mp4", 0) == 0);
}

TEST_CASE("Calibration YAML: OpenCV's layout and plain lists, damage named, never a hang",
          "[io][sources][calibration]") {
  const std::string dir = test::TempDir("calib_forms");
  const auto write = [&](const std::string& text) {
    std::ofstream(dir + "/c.yaml", std::ios::binary) << text;
    return dir + "/c.yaml";
  };
  // A flat list and a list of rows, without OpenCV's header.
  auto k = io::ReadCalibrationYaml(write("K: [500, 0, 320, 0, 510, 240, 0, 0, 1]\n"));
  CHECK(k.fx == 500);
  CHECK(k.fy == 510);
  CHECK(k.cy == 240);
  k = io::ReadCalibrationYaml(
      write("image_width: 640\ncamera_matrix: [[500, 0, 320], [0, 510, 240], [0, 0, 1]]\n"));
  CHECK(k.cx == 320);
  CHECK(k.width == 640);
  // A damaged size must not be allocated.
  CHECK_THROWS_WITH(
      io::ReadCalibrationYaml(write("%YAML:1.0\n---\ncamera_matrix: !!opencv-matrix\n   rows: "
                                    "3\n   cols: 999999999\n   dt: d\n   data: [ 1 ]\n")),
      Catch::Contains("rows and cols must be 3 and 3"));
  CHECK_THROWS_WITH(io::ReadCalibrationYaml(write("K: [1, 2, 3]\n")),
                    Catch::Contains("3 numbers, expected 9"));
  CHECK_THROWS_WITH(io::ReadCalibrationYaml(write("K: [1, 2, 3, 4, 5, 6, 7, 8, .nan]\n")),
                    Catch::Contains("not finite"));
  // Found by the file-parser fuzz test: OpenCV 4.6's FileStorage never
  // returns on this file.
  const std::string hung =
      "%YAML:1.0\n----image_width: .0\n----image_width: 640\nimag2e_height: 48\x8f"
      "0\ncamer640\nimag2e_height: 48\x8f"
      "0\ncamer";
  CHECK_THROWS_WITH(io::ReadCalibrationYaml(write(hung)), Catch::Contains(dir + "/c.yaml"));
}
