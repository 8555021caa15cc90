// RGB-only proposals: a textured scene with one moving square, with the
// camera still and with the camera panning.
#include "dyn4d/perception/background_proposals.h"

#include <catch2/catch.hpp>
#include <cmath>

using namespace dyn4d;

namespace {

constexpr int kW = 320, kH = 240;

// Background texture at (x, y) in scene coordinates: 6-pixel cells of
// hashed grey levels (plenty of corners, as real backgrounds have), bilinear
// between cells so a sub-pixel pan is a smooth shift.
double Cell(int64_t i, int64_t j) {
  uint64_t h = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL ^
               static_cast<uint64_t>(j) * 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return 40 + (h % 160);
}
uint8_t Texture(double x, double y) {
  const double u = x / 6, v = y / 6;
  const int64_t i = static_cast<int64_t>(std::floor(u)), j = static_cast<int64_t>(std::floor(v));
  const double a = u - i, b = v - j;
  return static_cast<uint8_t>((1 - a) * (1 - b) * Cell(i, j) + a * (1 - b) * Cell(i + 1, j) +
                              (1 - a) * b * Cell(i, j + 1) + a * b * Cell(i + 1, j + 1));
}

// The view shifted by `pan` pixels, with a bright checkered square at (sx, sy).
pipeline::Image View(double pan, int sx, int sy) {
  pipeline::Image img = pipeline::Image::Allocate(kW, kH, pipeline::PixelEncoding::kMono8);
  uint8_t* p = img.data.mutable_data();
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      const bool in = x >= sx && x < sx + 40 && y >= sy && y < sy + 40;
      p[y * kW + x] = in ? (((x - sx) / 8 + (y - sy) / 8) % 2 ? 250 : 20) : Texture(x + pan, y);
    }
  return img;
}

double Iou(const pipeline::Box2D& a, double x, double y, double w, double h) {
  const double x0 = std::max<double>(a.x, x), y0 = std::max<double>(a.y, y);
  const double x1 = std::min<double>(a.x + a.w, x + w), y1 = std::min<double>(a.y + a.h, y + h);
  const double i = std::max(0.0, x1 - x0) * std::max(0.0, y1 - y0);
  return i / (a.w * a.h + w * h - i);
}

}  // namespace

TEST_CASE("RGB-only proposals follow the moving object, camera still or panning", "[perception]") {
  for (const double pan_per_frame : {0.0, 3.0}) {
    INFO("camera pan " << pan_per_frame << " px/frame");
    perception::BackgroundProposer proposer;
    int frames_with_hit = 0, spurious = 0;
    for (int f = 0; f < 20; ++f) {
      const int sx = 60 + 5 * f, sy = 100;
      const auto r = proposer.Process(View(pan_per_frame * f, sx, sy));
      if (f == 0) {
        CHECK(r.message == "first frame");
        continue;
      }
      CHECK(r.camera_still == (pan_per_frame == 0));
      bool hit = false;
      for (const auto& d : r.proposals) {
        UNSCOPED_INFO("frame " << f << " box " << d.box.x << " " << d.box.y << " " << d.box.w << " "
                               << d.box.h << " motion " << r.camera_motion_px);
        // Boxes also cover where the object was a frame before (what moved
        // between two frames spans both places): IoU 0.45-0.55 here.
        if (Iou(d.box, sx, sy, 40, 40) >= 0.4)
          hit = true;
        else
          ++spurious;
        CHECK(d.mask.width == static_cast<int>(d.box.w));
      }
      frames_with_hit += hit;
    }
    CHECK(frames_with_hit >= 17);
    CHECK(spurious <= 2);
  }
}

TEST_CASE("RGB-only proposals: bad input reported", "[perception][bad-input]") {
  perception::BackgroundProposer proposer;
  pipeline::Image depth = pipeline::Image::Allocate(8, 8, pipeline::PixelEncoding::kMono16);
  CHECK_THAT(proposer.Process(depth).message, Catch::Contains("mono16"));
  CHECK(proposer.Process(pipeline::Image{}).message != "");
  perception::BackgroundProposalConfig c;
  c.work_width = 1;
  CHECK_THROWS_WITH(perception::BackgroundProposer(c), Catch::Contains("work_width"));
}
