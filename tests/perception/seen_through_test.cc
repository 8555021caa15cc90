#include "dyn4d/perception/seen_through.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

using dyn4d::perception::SeenThroughConfig;
using dyn4d::perception::SeenThroughFilter;
namespace pipeline = dyn4d::pipeline;

namespace {

constexpr int kW = 160, kH = 120;

// A wall 3 m ahead and, when `box`, a 0.4 x 0.6 m board 1.5 m ahead of the
// world origin, seen by a camera at (camera_x, 0, 0) looking along +z.
pipeline::RgbdFrame Render(double camera_x, bool box, uint64_t seq) {
  pipeline::RgbdFrame f;
  f.meta.seq = seq;
  f.intrinsics = {150, 150, 80, 60, kW, kH};
  f.depth_scale = 1000;
  f.color = pipeline::Image::Allocate(kW, kH, pipeline::PixelEncoding::kBgr8);
  f.depth = pipeline::Image::Allocate(kW, kH, pipeline::PixelEncoding::kMono16);
  uint16_t* d = f.depth.data.mutable_as<uint16_t>();
  for (int v = 0; v < kH; ++v)
    for (int u = 0; u < kW; ++u) {
      const double rx = (u - 80) / 150.0, ry = (v - 60) / 150.0;
      const double x = camera_x + 1.5 * rx, y = 1.5 * ry;
      const bool on_box = box && std::abs(x) <= 0.2 && std::abs(y) <= 0.3;
      d[v * kW + u] = on_box ? 1500 : 3000;
    }
  return f;
}

Eigen::Isometry3d At(double x) {
  Eigen::Isometry3d T = Eigen::Isometry3d::Identity();
  T.translation().x() = x;
  return T;
}

// The pixels the board covers in a frame from camera_x.
int BoardPixels(double camera_x) {
  const pipeline::RgbdFrame f = Render(camera_x, true, 0);
  int n = 0;
  for (int i = 0; i < kW * kH; ++i) n += f.depth.data.as<uint16_t>()[i] == 1500;
  return n;
}

int Marked(const pipeline::Image& mask) {
  int n = 0;
  for (size_t i = 0; i < mask.data.size(); ++i) n += mask.data.data()[i] != 0;
  return n;
}

// 60 frames, the camera sliding 1 cm a frame; the board there while
// `board_there(k)`; frame 20 a keyframe. Returns what the filter released.
template <typename BoardThere>
std::vector<SeenThroughFilter::Ready> Run(BoardThere board_there, SeenThroughConfig c = {}) {
  SeenThroughFilter filter(c);
  std::vector<SeenThroughFilter::Ready> out;
  for (int k = 0; k < 60; ++k) {
    const double x = 0.01 * (k - 20);
    for (auto& r : filter.Add(Render(x, board_there(k), k), At(x), nullptr, k == 20))
      out.push_back(std::move(r));
  }
  for (auto& r : filter.Flush()) out.push_back(std::move(r));
  return out;
}

}  // namespace

TEST_CASE("What the camera later sees through stays out of the map", "[seen_through]") {
  // A board (a person standing) there until frame 30, then gone: the wall
  // behind it is seen from frame 30 on.
  const auto out = Run([](int k) { return k < 30; });
  REQUIRE(out.size() == 1);
  CHECK(out[0].frame.meta.seq == 20);
  const int board = BoardPixels(0);
  INFO("board " << board << " px, kept out " << out[0].seen_through_pixels);
  CHECK(out[0].seen_through_pixels >= board * 95 / 100);
  CHECK(out[0].seen_through_pixels <= board * 105 / 100);  // not the wall
  CHECK(Marked(out[0].mask) == out[0].seen_through_pixels);
}

TEST_CASE("What was seen through before the keyframe stays out too", "[seen_through]") {
  // The board arrives at frame 12 (someone walks in and stands).
  const auto out = Run([](int k) { return k >= 12; });
  REQUIRE(out.size() == 1);
  CHECK(out[0].seen_through_pixels >= BoardPixels(0) * 95 / 100);
}

TEST_CASE("A static scene seen while the camera moves keeps its pixels", "[seen_through]") {
  // 60 cm of sideways motion: the wall behind the board's edges comes into
  // view, but no view sees through the board or the wall.
  const auto out = Run([](int) { return true; });
  REQUIRE(out.size() == 1);
  INFO("kept out " << out[0].seen_through_pixels << " of " << kW * kH);
  CHECK(out[0].seen_through_pixels == 0);
}

TEST_CASE("Seen-through needs more views than one", "[seen_through]") {
  // The board gone in frame 40 only (a depth dropout, say): one view.
  const auto out = Run([](int k) { return k != 39; });
  REQUIRE(out.size() == 1);
  CHECK(out[0].seen_through_pixels == 0);
}

TEST_CASE("The moving mask stays in, and a window of 0 frames releases at once", "[seen_through]") {
  pipeline::Image moving = pipeline::Image::Allocate(kW, kH, pipeline::PixelEncoding::kMono8);
  for (int i = 0; i < 100; ++i) moving.data.mutable_data()[i] = 255;
  SECTION("window 0") {
    SeenThroughConfig c;
    c.window_frames = 0;
    SeenThroughFilter filter(c);
    CHECK(filter.Add(Render(0, true, 0), At(0), &moving, false).empty());
    const auto out = filter.Add(Render(0, true, 1), At(0), &moving, true);
    REQUIRE(out.size() == 1);
    CHECK(Marked(out[0].mask) == 100);
    CHECK(out[0].seen_through_pixels == 0);
  }
  SECTION("released after the window, or on Flush") {
    SeenThroughConfig c;
    c.window_frames = 6;
    SeenThroughFilter filter(c);
    CHECK(filter.Add(Render(0, true, 0), At(0), &moving, true).empty());
    for (int k = 1; k < 6; ++k)
      CHECK(filter.Add(Render(0, true, k), At(0), nullptr, false).empty());
    const auto out = filter.Add(Render(0, true, 6), At(0), nullptr, true);
    REQUIRE(out.size() == 1);
    CHECK(out[0].frame.meta.seq == 0);
    CHECK(Marked(out[0].mask) == 100);
    const auto rest = filter.Flush();
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].frame.meta.seq == 6);
    CHECK(Marked(rest[0].mask) == 0);
  }
}

TEST_CASE("Seen-through configuration is checked", "[seen_through]") {
  CHECK(SeenThroughConfig{}.Validate().empty());
  SeenThroughConfig c;
  c.window_frames = -1;
  c.view_every_frames = 0;
  c.min_views = 0;
  c.n_sigma = 0;
  CHECK(c.Validate().size() == 4);
}
