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

namespace {
// An observation with a world centroid; the image box is derived from a
// camera that pans (so boxes sweep across the image while the world is still).
Observation At3d(double x, double y, double z, double pan_px, double conf = 50) {
  Observation o;
  o.box = {-1, 100 * x + 300 - pan_px, 100 * z + 100, 40, 80, conf};
  o.has_position = true;
  o.position = {x, y, z};
  o.extent = {0.4, 0.4, 0.8};
  return o;
}
}  // namespace

TEST_CASE("in 3D, camera motion does not break tracks that IoU alone would lose",
          "[tracking][3d]") {
  // The camera pans 60 px a frame: consecutive boxes of the same still object
  // do not overlap, but its world centroid does not move.
  auto run = [](bool with_depth) {
    MultiObjectTracker t;
    std::set<int64_t> ids;
    for (int f = 0; f < 20; ++f) {
      Observation a = At3d(0.0, 3.0, 1.0, 60.0 * f), b = At3d(2.0, 3.0, 1.0, 60.0 * f);
      if (!with_depth) a.has_position = b.has_position = false;
      for (const TrackEstimate& e : t.Step({a, b}, f / 30.0))
        if (e.state == TrackState::kConfirmed) ids.insert(e.id);
    }
    return ids.size();
  };
  CHECK(run(true) == 2);
  CHECK(run(false) == 0);  // never two matches in a row: nothing confirmed
}

TEST_CASE("3D state: velocity in the world frame, occlusion re-identification by position",
          "[tracking][3d]") {
  MultiObjectTracker t;
  int64_t id_before = -1, id_after = -1;
  std::array<double, 3> velocity{};
  for (int f = 0; f < 60; ++f) {
    const double x = 0.04 * f;  // 1.2 m/s along x at 30 frames/s
    const bool hidden = f >= 20 && f < 30;
    std::vector<Observation> obs;
    if (!hidden) obs.push_back(At3d(x, 3.0, 0.9, 0));
    for (const TrackEstimate& e : t.Step(obs, f / 30.0)) {
      if (f == 19) id_before = e.id, velocity = e.velocity;
      if (hidden) CHECK(e.state == TrackState::kLost);
      if (f == 35 && e.state == TrackState::kConfirmed) id_after = e.id;
    }
  }
  CHECK(id_before == id_after);
  CHECK(velocity[0] == Approx(1.2).margin(0.05));
  CHECK(std::abs(velocity[1]) < 0.05);
}

TEST_CASE("3D: a partial view gives no velocity, and the whole object is found again",
          "[tracking][3d]") {
  // A person (0.5 x 1.7 x 0.4 m, y vertical) walks along x at 1 m/s. For 8
  // frames only their legs are seen (someone passes in front): the visible
  // part's centroid sinks 0.5 m and its height shrinks to 0.7 m. Then they
  // are hidden for 20 frames and seen whole again. (Bonn crowd: a man
  // whose legs alone were seen for 8 frames got 1.5 m/s downwards, was
  // predicted under the floor and came back as a new track.)
  auto person = [](int f, double sink, double height) {
    Observation o;
    const double x = f / 30.0;
    o.box = {-1, 200 + 100 * x, 100 + 100 * sink, 50, 170 * height / 1.7, 50};
    o.has_position = true;
    o.position = {x, sink, 2.5};
    o.extent = {0.5, height, 0.4};
    return o;
  };
  MultiObjectTracker t;
  int64_t id_before = -1, id_after = -1;
  double vertical_speed = 0;
  for (int f = 0; f < 70; ++f) {
    std::vector<Observation> obs;
    if (f < 30 || f >= 58) {
      obs.push_back(person(f, 0.0, 1.7));
    } else if (f < 38) {
      const double k = (f - 29) / 8.0;
      obs.push_back(person(f, 0.5 * k, 1.7 - k));
    }
    for (const TrackEstimate& e : t.Step(obs, f / 30.0)) {
      if (f == 29) id_before = e.id;
      if (f == 37) vertical_speed = std::abs(e.velocity[1]);
      if (f == 65 && e.state == TrackState::kConfirmed) id_after = e.id;
    }
  }
  CHECK(id_before >= 0);
  CHECK(id_after == id_before);
  CHECK(vertical_speed < 0.5);  // the legs sank at 1.9 m/s
}

TEST_CASE("appearance keeps identities when two objects meet and part", "[tracking][appearance]") {
  // Two objects approach, meet and each turns back: a constant-velocity
  // model expects them to pass through each other and swaps them.
  auto run = [](bool appearance) {
    TrackerConfig c;
    c.use_appearance = appearance;
    c.appearance_weight = 0.6;
    MultiObjectTracker t(c);
    std::map<int64_t, std::set<int>> objects_of_id;
    for (int f = 0; f < 40; ++f) {
      const double gap = std::abs(20 - f) * 0.05;  // metres between them; 0 at f = 20
      std::vector<Observation> obs;
      for (int k = 0; k < 2; ++k) {
        // After they meet, each goes back the way it came.
        const double side = k == 0 ? -1 : 1;
        Observation o = At3d(1.0 + side * gap / 2, 3.0, 0.9, 0);
        o.embedding = k == 0 ? std::vector<float>{1, 0.1f, 0} : std::vector<float>{0, 0.1f, 1};
        obs.push_back(o);
      }
      for (const TrackEstimate& e : t.Step(obs, f / 30.0))
        if (e.observation >= 0 && e.state == TrackState::kConfirmed)
          objects_of_id[e.id].insert(e.observation);
    }
    int mixed = 0;
    for (const auto& [id, objs] : objects_of_id) mixed += objs.size() > 1;
    return mixed;
  };
  CHECK(run(true) == 0);
  CHECK(run(false) > 0);
}

TEST_CASE("class voting over the track's life outvotes occasional misclassification",
          "[tracking]") {
  TrackerConfig c;
  c.class_gate = false;  // misclassified observations still continue the track
  MultiObjectTracker t(c);
  TrackEstimate last;
  for (int f = 0; f < 20; ++f) {
    Observation o = At3d(0.02 * f, 3.0, 0.9, 0);
    const bool wrong = f % 4 == 1;  // 25 % of frames say "chair"
    o.class_id = wrong ? 1 : 0;
    o.class_name = wrong ? "chair" : "person";
    o.class_score = wrong ? 0.9 : 0.6;
    const auto out = t.Step({o}, f / 30.0);
    REQUIRE(out.size() == 1);
    last = out[0];
  }
  CHECK(last.class_id == 0);
  CHECK(last.class_name == "person");
  CHECK(last.class_confidence > 0.5);
}

TEST_CASE("bad 3D observations are skipped and counted", "[tracking][bad-input]") {
  MultiObjectTracker t;
  Observation bad = At3d(0, 3, 1, 0);
  bad.position[1] = std::nan("");
  Observation good = At3d(1, 3, 1, 0);
  const auto out = t.Step({bad, good}, 0);
  CHECK(t.skipped_detections() == 1);
  REQUIRE(out.size() == 1);
  CHECK(out[0].observation == 1);
}

TEST_CASE("class gate: an observation of another class never continues a track", "[tracking]") {
  MultiObjectTracker t;
  std::set<int64_t> ids;
  for (int f = 0; f < 6; ++f) {
    Observation o = At3d(0.0, 3.0, 0.9, 0);
    o.class_id = f < 3 ? 0 : 5;  // same place, another object from frame 3 on
    o.class_score = 0.9;
    for (const TrackEstimate& e : t.Step({o}, f / 30.0))
      if (e.state == TrackState::kConfirmed) ids.insert(e.id);
  }
  CHECK(ids.size() == 2);
}
