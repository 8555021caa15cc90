// The tracker: stable identities, re-identification after occlusion, the
// low-score stage, and bad detections.
#include "dyn4d/tracking/tracker.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>

using namespace dyn4d::tracking;

namespace {
MotBox Box(double x, double y, double conf = 50) { return {-1, x, y, 20, 40, conf}; }
}  // namespace

TEST_CASE("two crossing-free objects keep their identities", "[tracking]") {
  MultiObjectTracker t;
  std::map<int, std::set<int64_t>> ids_seen;  // object -> ids reported
  for (int f = 0; f < 30; ++f) {
    const auto out = t.Update({Box(10 + 3 * f, 100), Box(300 - 2 * f, 200)});
    if (f == 0) CHECK(out.empty());  // min_hits 2: tentative on the first frame
    for (const auto& b : out) ids_seen[b.box.y < 150 ? 0 : 1].insert(b.id);
    if (f >= 1) CHECK(out.size() == 2);
  }
  CHECK(ids_seen[0].size() == 1);
  CHECK(ids_seen[1].size() == 1);
  CHECK(*ids_seen[0].begin() != *ids_seen[1].begin());
}

TEST_CASE("an object occluded for a few frames comes back with its id", "[tracking]") {
  MultiObjectTracker t;
  int64_t before = -1, after = -1;
  for (int f = 0; f < 40; ++f) {
    const bool hidden = f >= 15 && f < 22;  // 7 frames, within max_age 30
    const auto out = t.Update(hidden ? std::vector<MotBox>{} : std::vector<MotBox>{Box(5 * f, 50)});
    if (f == 14) before = out.at(0).id;
    if (hidden) CHECK(out.empty());
    if (f == 25) after = out.at(0).id;
  }
  CHECK(before == after);
}

TEST_CASE("low-score detections keep a track alive (ByteTrack) where SORT drops it", "[tracking]") {
  auto run = [](const TrackerConfig& c) {
    MultiObjectTracker t(c);
    std::set<int64_t> ids;
    int reported_while_faint = 0;
    for (int f = 0; f < 30; ++f) {
      const bool faint = f >= 10 && f < 20;  // partly occluded: low detector score
      const auto out = t.Update({Box(4 * f, 80, faint ? 10 : 60)});
      for (const auto& b : out) ids.insert(b.id);
      reported_while_faint += faint && !out.empty();
    }
    return std::make_pair(ids.size(), reported_while_faint);
  };
  const auto byte = run(TrackerConfig{});
  CHECK(byte.first == 1);
  CHECK(byte.second == 10);
  const auto sort = run(TrackerConfig::Sort());
  CHECK(sort.second == 0);
  CHECK(sort.first == 2);  // a new id after the faint stretch
}

TEST_CASE("bad detections are skipped and counted, never a crash", "[tracking][bad-input]") {
  MultiObjectTracker t;
  const double nan = std::nan("");
  t.Update({Box(10, 10),
            {-1, nan, 0, 10, 10, 50},
            {-1, 0, 0, -3, 10, 50},
            {-1, 0, 0, 0, 10, 50},
            {-1, 0, 0, 10, 10, nan}});
  CHECK(t.skipped_detections() == 4);
  CHECK(t.live_tracks() == 1);
  CHECK_THROWS_WITH(MultiObjectTracker([] {
                      TrackerConfig c;
                      c.min_hits = 0;
                      return c;
                    }()),
                    Catch::Contains("min_hits"));
}
