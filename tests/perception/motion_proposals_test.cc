// Geometric motion proposals: hand-made frames with known answers, and the
// synthetic scene with ground truth.
#include "dyn4d/perception/motion_proposals.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "dyn4d/io/synthetic_scene.h"

using namespace dyn4d;
using perception::MotionProposalConfig;
using perception::MotionProposer;

namespace {

constexpr int kW = 160, kH = 120;
constexpr double kF = 131.25;

// A frame looking at a wall `wall_m` away, with optional squares in front:
// {x, y, size, depth_m, b, g, r}.
struct Square {
  int x, y, size;
  double depth_m;
  uint8_t b, g, r;
};
pipeline::RgbdFrame Frame(uint64_t seq, double wall_m, const std::vector<Square>& squares) {
  pipeline::RgbdFrame f;
  f.meta.seq = seq;
  f.meta.stamp_ns = static_cast<int64_t>(seq) * 33333333;
  f.intrinsics = {kF, kF, kW / 2.0, kH / 2.0, kW, kH};
  f.depth_scale = 1000;
  f.color = pipeline::Image::Allocate(kW, kH, pipeline::PixelEncoding::kBgr8);
  f.depth = pipeline::Image::Allocate(kW, kH, pipeline::PixelEncoding::kMono16);
  uint16_t* d = f.depth.data.mutable_as<uint16_t>();
  uint8_t* c = f.color.data.mutable_data();
  for (int i = 0; i < kW * kH; ++i) {
    d[i] = static_cast<uint16_t>(wall_m * 1000);
    c[3 * i] = c[3 * i + 1] = c[3 * i + 2] = 128;
  }
  for (const Square& s : squares)
    for (int y = s.y; y < s.y + s.size; ++y)
      for (int x = s.x; x < s.x + s.size; ++x) {
        const int i = y * kW + x;
        d[i] = static_cast<uint16_t>(s.depth_m * 1000);
        c[3 * i] = s.b, c[3 * i + 1] = s.g, c[3 * i + 2] = s.r;
      }
  return f;
}

pipeline::CameraPose PoseAt(double x) {
  pipeline::CameraPose p;
  p.t_world_cam = {x, 0, 0};
  return p;
}

}  // namespace

TEST_CASE("a square in space the reference saw as free becomes one proposal", "[perception]") {
  MotionProposer proposer;
  const auto ref = proposer.MakeReference(Frame(0, 3.0, {}), PoseAt(0));
  SECTION("same viewpoint") {
    const auto r = proposer.Propose(Frame(5, 3.0, {{60, 40, 40, 2.0, 40, 40, 200}}), PoseAt(0),
                                    {&ref});
    REQUIRE(r.proposals.size() == 1);
    const auto& p = r.proposals[0];
    CHECK(p.box.x == 60);
    CHECK(p.box.y == 40);
    CHECK(p.box.w == 40);
    CHECK(p.box.h == 40);
    CHECK(p.pixels == 1600);
    CHECK(p.mask.width == 40);
    // Centre pixel (79.5, 59.5) at 2 m: x = (79.5 - 80) / 131.25 * 2.
    CHECK(p.centroid_world[0] == Approx((79 - 80) / kF * 2).margin(0.01));
    CHECK(p.centroid_world[2] == Approx(2.0).margin(1e-3));
    CHECK(p.median_depth_m == Approx(2.0).margin(1e-3));
    // 5th-95th percentile of the tested columns 60, 62, ..., 98.
    CHECK(p.extent[0] == Approx(0.9 * 38 * 2.0 / kF).margin(0.03));
    CHECK(p.score == Approx(0).margin(1e-9));  // one reference: never two votes
  }
  SECTION("camera moved 0.2 m sideways: motion compensated, no proposal at the wall's edges") {
    // The wall is the plane z = 3 in both views; the square sits at x = 0.
    const auto r =
        proposer.Propose(Frame(5, 3.0, {{70, 40, 30, 2.0, 40, 40, 200}}), PoseAt(0.2), {&ref});
    REQUIRE(r.proposals.size() == 1);
    CHECK(r.proposals[0].centroid_world[0] == Approx(0.2 + (84 - 80) / kF * 2).margin(0.02));
  }
  SECTION("nothing moved: nothing proposed") {
    const auto r = proposer.Propose(Frame(5, 3.0, {}), PoseAt(0), {&ref});
    CHECK(r.proposals.empty());
    CHECK(r.dynamic_pixels == 0);
    CHECK(r.tested_pixels == (kW / 2) * (kH / 2));
  }
  SECTION("background revealed behind a departed object is not dynamic") {
    const auto ref_with_object =
        proposer.MakeReference(Frame(0, 3.0, {{60, 40, 40, 2.0, 40, 40, 200}}), PoseAt(0));
    const auto r = proposer.Propose(Frame(5, 3.0, {}), PoseAt(0), {&ref_with_object});
    CHECK(r.proposals.empty());
  }
  SECTION("two touching objects at one depth split by colour") {
    const auto r = proposer.Propose(
        Frame(5, 3.0, {{40, 40, 40, 2.0, 40, 40, 200}, {80, 40, 40, 2.0, 200, 120, 30}}),
        PoseAt(0), {&ref});
    CHECK(r.proposals.size() == 2);
    MotionProposalConfig grey;
    grey.neighbour_chroma_gap = 0;
    const auto merged = MotionProposer(grey).Propose(
        Frame(5, 3.0, {{40, 40, 40, 2.0, 40, 40, 200}, {80, 40, 40, 2.0, 200, 120, 30}}),
        PoseAt(0), {&ref});
    CHECK(merged.proposals.size() == 1);
  }
  SECTION("two objects side by side at different depths split by the depth step") {
    const auto r = proposer.Propose(
        Frame(5, 3.0, {{40, 40, 40, 2.0, 40, 40, 200}, {80, 40, 40, 1.5, 40, 40, 200}}),
        PoseAt(0), {&ref});
    CHECK(r.proposals.size() == 2);
  }
  SECTION("small specks are not objects") {
    const auto r =
        proposer.Propose(Frame(5, 3.0, {{60, 40, 6, 2.0, 40, 40, 200}}), PoseAt(0), {&ref});
    CHECK(r.proposals.empty());
  }
}

TEST_CASE("motion proposals: bad input is reported, not thrown", "[perception][bad-input]") {
  MotionProposer proposer;
  const auto ref = proposer.MakeReference(Frame(0, 3.0, {}), PoseAt(0));
  pipeline::RgbdFrame no_depth = Frame(1, 3.0, {});
  no_depth.depth = {};
  CHECK(proposer.Propose(no_depth, PoseAt(0), {&ref}).message == "no depth");
  CHECK_THROWS_WITH(proposer.MakeReference(no_depth, PoseAt(0)), Catch::Contains("no depth"));
  pipeline::RgbdFrame bad_k = Frame(1, 3.0, {});
  bad_k.intrinsics.fx = 0;
  CHECK_THAT(proposer.Propose(bad_k, PoseAt(0), {&ref}).message, Catch::Contains("fx"));
  CHECK(proposer.Propose(Frame(1, 3.0, {}), PoseAt(0), {}).message == "no reference view");
  MotionProposalConfig c;
  c.stride = 0;
  CHECK_THROWS_WITH(MotionProposer(c), Catch::Contains("stride"));
  // The stream: a lost pose gives no proposals and is no reference.
  perception::MotionProposalStream::Options o;
  o.reference_every = 1;
  perception::MotionProposalStream stream(o);
  pipeline::CameraPose lost = PoseAt(0);
  lost.status = pipeline::PoseStatus::kLost;
  const auto out = stream.Push(Frame(0, 3.0, {{60, 40, 40, 2.0, 40, 40, 200}}), lost);
  REQUIRE(out.size() == 1);
  CHECK(out[0].result.message == "pose lost");
  CHECK(stream.references() == 0);
}

TEST_CASE("motion proposals find the synthetic scene's moving objects, nothing else",
          "[perception]") {
  io::SyntheticScene::Config sc;
  sc.width = 320, sc.height = 240, sc.fx = sc.fy = 262.5, sc.num_frames = 60, sc.num_objects = 3;
  perception::MotionProposalStream::Options o;
  o.lookahead_frames = 30;
  auto run = [&](int objects) {
    sc.num_objects = objects;
    const io::SyntheticScene scene(sc);
    perception::MotionProposalStream stream(o);
    int found = 0, visible = 0, spurious = 0;
    std::vector<io::SyntheticScene::Rendered> frames;
    auto check = [&](const std::vector<perception::MotionProposalStream::Output>& outs) {
      for (const auto& out : outs) {
        const auto& truth = frames.at(out.frame.meta.seq).tracks.items;
        for (const auto& t : truth) {
          if (t.box.w * t.box.h < 400) continue;  // slivers at the image border
          ++visible;
          for (const auto& p : out.result.proposals) {
            const double x0 = std::max(p.box.x, t.box.x), y0 = std::max(p.box.y, t.box.y);
            const double x1 = std::min(p.box.x + p.box.w, t.box.x + t.box.w);
            const double y1 = std::min(p.box.y + p.box.h, t.box.y + t.box.h);
            const double inter = std::max(0.0, x1 - x0) * std::max(0.0, y1 - y0);
            if (inter / (p.box.w * p.box.h + t.box.w * t.box.h - inter) >= 0.5) {
              ++found;
              break;
            }
          }
        }
        for (const auto& p : out.result.proposals) {
          bool on_object = false;
          for (const auto& t : truth)
            on_object |= p.box.x < t.box.x + t.box.w && t.box.x < p.box.x + p.box.w &&
                         p.box.y < t.box.y + t.box.h && t.box.y < p.box.y + p.box.h;
          spurious += !on_object;
        }
      }
    };
    for (int i = 0; i < sc.num_frames; ++i) {
      frames.push_back(scene.Render(i));
      check(stream.Push(frames.back().frame, frames.back().pose));  // ground-truth poses
    }
    check(stream.Flush());
    return std::make_tuple(found, visible, spurious);
  };
  const auto [found, visible, spurious] = run(3);
  INFO(found << " of " << visible << " visible objects found, " << spurious << " spurious");
  CHECK(visible > 100);
  CHECK(found >= 0.9 * visible);
  CHECK(spurious <= 3);
  const auto [found0, visible0, spurious0] = run(0);
  CHECK(visible0 == 0);
  CHECK(spurious0 == 0);  // a static scene: no proposal at all
}
