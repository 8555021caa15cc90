// The MOTChallenge evaluator: hand-made cases with known answers, the
// official devkit's values on published tracker outputs, and bad files.
#include "dyn4d/tracking/mot_eval.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "../common/shared_data.h"
#include "../common/test_stages.h"
#include "dyn4d/tracking/assignment.h"

using namespace dyn4d::tracking;
namespace fs = std::filesystem;

TEST_CASE("assignment: optimal, rectangular, forbidden pairs", "[tracking]") {
  // Greedy would take (0,0) at cost 1 and pay 10 for (1,1); optimal is 2 + 2.
  const auto a = SolveAssignment({{1, 2}, {2, 10}});
  CHECK(a == std::vector<int>{1, 0});
  CHECK(SolveAssignment({{5, 1, 9}}) == std::vector<int>{1});
  CHECK(SolveAssignment({{3}, {1}, {2}}) == std::vector<int>{-1, 0, -1});
  CHECK(SolveAssignment({{1e18, 1e18}, {1, 1e18}}, 1e17) == std::vector<int>{-1, 0});
  CHECK(SolveAssignment({}).empty());
}

TEST_CASE("CLEAR-MOT and IDF1 on a hand-made sequence", "[tracking]") {
  // One person (gt 1) over 4 frames. The tracker follows it as id 7 on
  // frames 1-2, misses frame 3, and comes back as id 8 on frame 4 (an id
  // switch and a fragmentation); it also reports a ghost (id 9) on frame 1.
  const MotBox person{1, 10, 10, 20, 40};
  MotSequence gt, res;
  for (int f = 1; f <= 4; ++f) gt[f] = {person};
  res[1] = {{7, 11, 10, 20, 40}, {9, 200, 200, 20, 40}};
  res[2] = {{7, 10, 10, 20, 40}};
  res[4] = {{8, 10, 12, 20, 40}};
  const MotMetrics m = EvaluateMot(gt, res);
  CHECK(m.gt == 4);
  CHECK(m.predictions == 4);
  CHECK(m.matches == 3);
  CHECK(m.fn == 1);
  CHECK(m.fp == 1);
  CHECK(m.idsw == 1);
  CHECK(m.fragmentations == 1);
  CHECK(m.Mota() == Approx(1 - 3.0 / 4));
  // IoUs: 19*40/(2*800-760) = 760/840, 1, 18*40... frame 4: 20*38/(1600-760)
  CHECK(m.Motp() == Approx((760.0 / 840 + 1 + 760.0 / 840) / 3));
  // IDF1: gt 1 <-> tracker 7 share 2 boxes: IDTP 2 of 4 + 4.
  CHECK(m.idtp == 2);
  CHECK(m.Idf1() == Approx(2.0 * 2 / 8));
  CHECK(m.mostly_tracked == 0);
  CHECK(m.partly_tracked == 1);
}

TEST_CASE("the devkit's values on published MOT15 results", "[tracking][shared]") {
  const fs::path mot = dyn4d::test::SharedDirOrSkip("data/mot15");
  struct Expected {
    const char* seq;
    double idf1, mota;
    int fp, fn, idsw, frag, mt, pt, ml;
    double motp;
  };
  MotMetrics all;
  for (const Expected& e :
       {Expected{"TUD-Campus", 0.557659, 0.526462, 13, 150, 7, 7, 1, 6, 1, 72.3},
        Expected{"TUD-Stadtmitte", 0.644619, 0.564014, 45, 452, 7, 6, 5, 4, 1, 65.4}}) {
    INFO(e.seq);
    const MotMetrics m = EvaluateMot(
        LoadMotFile((mot / e.seq / "gt" / "gt.txt").string(), true),
        LoadMotFile((mot / "reference_results" / (std::string(e.seq) + ".txt")).string(), false));
    CHECK(m.Idf1() == Approx(e.idf1).margin(1e-6));
    CHECK(m.Mota() == Approx(e.mota).margin(1e-6));
    CHECK(m.fp == e.fp);
    CHECK(m.fn == e.fn);
    CHECK(m.idsw == e.idsw);
    CHECK(m.fragmentations == e.frag);
    CHECK(m.mostly_tracked == e.mt);
    CHECK(m.partly_tracked == e.pt);
    CHECK(m.mostly_lost == e.ml);
    CHECK(100 * m.Motp() == Approx(e.motp).margin(0.05));
    all += m;
  }
  CHECK(all.Idf1() == Approx(0.624296).margin(1e-6));
  CHECK(all.Mota() == Approx(0.555116).margin(1e-6));
}

TEST_CASE("bad MOT files name the line", "[tracking][bad-input]") {
  const std::string dir = dyn4d::test::TempDir("mot-bad");
  auto load = [&](const std::string& text) {
    std::ofstream(dir + "/f.txt") << text;
    return LoadMotFile(dir + "/f.txt", true);
  };
  CHECK(load("1,1,0,0,10,10,1\n2,1,0,0,10,10,0\n").size() == 1);  // conf 0: ignored gt
  CHECK_THROWS_WITH(load("1,1,0,0,10,10\n1,2,x,0,1,1\n"),
                    Catch::Contains("f.txt:2") && Catch::Contains("'x'"));
  CHECK_THROWS_WITH(load("1,1,0,0\n"), Catch::Contains("f.txt:1: expected"));
  CHECK_THROWS_WITH(load("1,1,0,0,-5,10\n"), Catch::Contains("negative box size"));
  CHECK_THROWS_WITH(load("1,1,0,0,nan,10\n"), Catch::Contains("NaN"));
  CHECK_THROWS_WITH(load("0,1,0,0,5,10\n"), Catch::Contains("frame must be >= 1"));
  CHECK_THROWS_WITH(LoadMotFile(dir + "/none.txt", false), Catch::Contains("cannot open"));
  fs::remove_all(dir);
}

TEST_CASE("HOTA on hand-made cases with known answers", "[tracking]") {
  const MotBox person{1, 10, 10, 20, 40};
  MotSequence gt;
  for (int f = 1; f <= 4; ++f) gt[f] = {person};
  SECTION("perfect tracking: 1") {
    MotSequence res = gt;
    const auto h = EvaluateHota(gt, res);
    CHECK(h.Hota() == Approx(1));
    CHECK(h.DetA() == Approx(1));
    CHECK(h.AssA() == Approx(1));
    CHECK(h.LocA() == Approx(1));
  }
  SECTION("exact boxes, identity switched half-way: DetA 1, AssA 0.5") {
    MotSequence res;
    for (int f = 1; f <= 4; ++f) res[f] = {{f <= 2 ? 7 : 8, 10, 10, 20, 40}};
    const auto h = EvaluateHota(gt, res);
    CHECK(h.DetA() == Approx(1));
    CHECK(h.AssA() == Approx(0.5));
    CHECK(h.Hota() == Approx(std::sqrt(0.5)));
  }
  SECTION("one identity, IoU 0.625 everywhere: matched for alpha <= 0.6 only (12 of 19)") {
    MotSequence res;
    // Same height, shifted right by 6 of 20 px wide: 14*40 / (1600 - 560) = 0.538; use 5 px:
    // 15*40 / (1600 - 600) = 0.6 exactly -> avoid the boundary; 4.6 px: 15.4/24.6 = 0.626.
    for (int f = 1; f <= 4; ++f) res[f] = {{7, 14.6, 10, 20, 40}};
    REQUIRE(Iou(person, res[1][0]) == Approx(15.4 / 24.6));
    const auto h = EvaluateHota(gt, res);
    CHECK(h.Hota() == Approx(12.0 / 19));
    CHECK(h.HotaAt(11) == Approx(1));                              // alpha 0.60
    CHECK(h.HotaAt(12) == Approx(0));                              // alpha 0.65
    CHECK(h.LocA() == Approx((12 * 15.4 / 24.6 + 7 * 1.0) / 19));  // TrackEval: 1 when no TP
  }
}
