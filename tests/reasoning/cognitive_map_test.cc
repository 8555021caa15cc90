// The ST-TCM builder on hand-made tracks with known answers: motion
// segments and events, pair trends, occlusion, overtaking, camera motion;
// the JSON form, the text form and its token budget; the question
// generator and the built-in reasoner; the reply parser.
#include "dyn4d/reasoning/cognitive_map.h"

#include <Eigen/Geometry>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "dyn4d/reasoning/questions.h"

using namespace dyn4d::reasoning;

namespace {

// A camera at the origin looking along world +y, z up (world z-up).
CameraSample LookingAlongY(double x = 0, double yaw_deg = 0) {
  // Camera axes in world: x_c = +x, y_c = -z, z_c = +y; then a yaw about z.
  Eigen::Matrix3d R;
  R << 1, 0, 0, 0, 0, 1, 0, -1, 0;
  R = Eigen::AngleAxisd(yaw_deg * M_PI / 180, Eigen::Vector3d::UnitZ()).toRotationMatrix() * R;
  const Eigen::Quaterniond q(R);
  return {{x, 0, 1}, {q.x(), q.y(), q.z(), q.w()}};
}

ObjectObservation Obj(int64_t id, const std::string& cat, double x, double y) {
  ObjectObservation o;
  o.id = id;
  o.category = cat;
  o.position = {x, y, 0.5};
  o.extent = {0.5, 0.5, 1.0};
  return o;
}

MapConfig ZUp() {
  MapConfig c;
  c.up = {0, 0, 1};
  return c;
}

const Event* FindEvent(const CognitiveMap& m, const std::string& type, int64_t a) {
  for (const auto& e : m.events)
    if (e.type == type && e.a == a) return &e;
  return nullptr;
}

// 4 s at 30 fps: #1 person stands 1 s, walks +x at 1 m/s for 2 s, stands;
// #2 ball stands still 3 m ahead the whole time.
CognitiveMap StopGoScene(CognitiveMapBuilder& b) {
  const CameraSample cam = LookingAlongY();
  for (int i = 0; i < 120; ++i) {
    const double t = i / 30.0;
    const double x = -1.0 + std::clamp(t - 1.0, 0.0, 2.0);
    b.AddFrame(t, &cam, {Obj(1, "person", x, 3.0), Obj(2, "ball", 0.0, 4.0)});
  }
  return b.Build();
}

}  // namespace

TEST_CASE("motion segments, start and stop events, camera-relative direction", "[reasoning]") {
  CognitiveMapBuilder b(ZUp());
  const CognitiveMap m = StopGoScene(b);
  const ObjectSummary* p = m.Find(1);
  REQUIRE(p);
  REQUIRE(p->segments.size() == 3);
  CHECK_FALSE(p->segments[0].moving);
  CHECK(p->segments[1].moving);
  CHECK_FALSE(p->segments[2].moving);
  CHECK(p->segments[1].t0 == Approx(1.0).margin(0.25));
  CHECK(p->segments[1].t1 == Approx(3.0).margin(0.25));
  CHECK(p->segments[1].speed_mps == Approx(1.0).margin(0.15));
  CHECK(p->segments[1].heading == "+x");
  CHECK(p->segments[1].camera_relative == "right");
  const Event* starts = FindEvent(m, "starts_moving", 1);
  const Event* stops = FindEvent(m, "stops", 1);
  REQUIRE(starts);
  REQUIRE(stops);
  CHECK(starts->t == Approx(1.0).margin(0.25));
  CHECK(stops->t == Approx(3.0).margin(0.25));
  CHECK(FindEvent(m, "starts_moving", 2) == nullptr);  // the ball never moves
  // Map frame: origin at the camera, y ahead, z up.
  CHECK(p->samples.front().position[0] == Approx(-1.0).margin(1e-9));
  CHECK(p->samples.front().position[1] == Approx(3.0).margin(1e-9));
  CHECK(p->samples.front().position[2] == Approx(-0.5).margin(1e-9));
  CHECK(p->samples.front().in_camera[2] == Approx(3.0).margin(1e-9));  // depth
}

TEST_CASE("pair trends, contact, visibility and occlusion", "[reasoning]") {
  CognitiveMapBuilder b(ZUp());
  const CameraSample cam = LookingAlongY();
  for (int i = 0; i < 90; ++i) {
    const double t = i / 30.0;
    // #1 walks toward #2 and back; #3 vanishes behind #4 at 1 s and comes
    // back at 2 s; #5 leaves the view at 1.5 s.
    const double x1 = t < 1.5 ? -2.0 + 1.2 * t : -0.2 - 1.2 * (t - 1.5);
    std::vector<ObjectObservation> obs = {Obj(1, "dog", x1, 3.0), Obj(2, "box", 0.3, 3.0),
                                          Obj(4, "chair", 2.0, 2.0)};
    obs.back().box = {300, 200, 100, 150};
    if (t < 1.0 || t > 2.0) {
      ObjectObservation hidden = Obj(3, "ball", 2.0, 4.0);
      hidden.box = {320, 220, 40, 40};
      obs.push_back(hidden);
    }
    if (t < 1.5) obs.push_back(Obj(5, "robot", -3.0, 5.0));
    b.AddFrame(t, &cam, obs);
  }
  const CognitiveMap m = b.Build();
  const PairSummary* p = m.FindPair(1, 2);
  REQUIRE(p);
  REQUIRE(p->trends.size() >= 2);
  CHECK(p->trends.front().trend == "approaching");
  CHECK(p->trends.back().trend == "receding");
  CHECK(p->contacts.size() == 1);
  REQUIRE(p->relations.size() == 3);      // 0, 1, 2 s
  CHECK(p->relations[0].view == "left");  // the dog starts left of the box
  CHECK(p->relations[0].world == "left");
  CHECK(p->relations[0].depth == "same depth");              // both 3 m ahead
  CHECK(m.FindPair(2, 4)->relations[0].depth == "farther");  // the box (3 m) behind the chair (2 m)
  const ObjectSummary* ball = m.Find(3);
  REQUIRE(ball->visible.size() == 2);
  CHECK(ball->visible[0].second == Approx(29 / 30.0));
  REQUIRE(ball->occluded.size() == 1);  // inferred: a nearer box covers it
  const Event* occ = FindEvent(m, "occluded", 3);
  REQUIRE(occ);
  CHECK(occ->b == 4);
  CHECK(m.FindPair(3, 4)->b_hides_a.size() == 1);
  CHECK(FindEvent(m, "reappears", 3) != nullptr);
  CHECK(m.Find(5)->leaves_view);
  CHECK_FALSE(m.Find(4)->leaves_view);
}

TEST_CASE("overtaking: same direction, the faster passes the slower", "[reasoning]") {
  CognitiveMapBuilder b(ZUp());
  const CameraSample cam = LookingAlongY();
  for (int i = 0; i < 90; ++i) {
    const double t = i / 30.0;
    b.AddFrame(t, &cam,
               {Obj(1, "person", -2.0 + 1.4 * t, 3.0), Obj(2, "dog", -1.0 + 0.5 * t, 3.5)});
  }
  const CognitiveMap m = b.Build();
  REQUIRE(m.FindPair(1, 2)->overtakes.size() == 1);
  CHECK(m.FindPair(1, 2)->overtakes[0] ==
        Approx(1.0 / 0.9).margin(0.1));  // gap 1 m closed at 0.9 m/s
  CHECK(FindEvent(m, "overtakes", 1)->b == 2);
  CHECK(AnswerFromMap(m, "Does the person overtake the dog?", {"A. yes", "B. no"}).letter == "A");
  CHECK(AnswerFromMap(m, "Does the dog overtake the person?", {"A. yes", "B. no"}).letter == "B");
}

TEST_CASE("camera motion: still, then panning left, then moving forward", "[reasoning]") {
  CognitiveMapBuilder b(ZUp());
  for (int i = 0; i < 90; ++i) {
    const double t = i / 30.0;
    CameraSample c = LookingAlongY(0, t < 1 ? 0 : t < 2 ? 30 * (t - 1) : 30);
    if (t >= 2) {  // forward along the viewing direction, 0.5 m/s
      const double a = 30 * M_PI / 180;
      c.position = {-std::sin(a) * 0.5 * (t - 2), std::cos(a) * 0.5 * (t - 2), 1};
    }
    b.AddFrame(t, &c, {});
  }
  const CognitiveMap m = b.Build();
  REQUIRE(m.camera.segments.size() == 3);
  CHECK(m.camera.segments[0].motion == "static");
  CHECK(m.camera.segments[1].motion == "pans left");
  CHECK(m.camera.segments[2].motion == "moves forward");
  CHECK(m.camera.path_length_m == Approx(0.5 * 29 / 30.0).margin(0.02));
}

TEST_CASE("JSON has the schema fields and is deterministic, text stays within the token budget",
          "[reasoning]") {
  MapConfig c = ZUp();
  CognitiveMapBuilder b(c);
  const CognitiveMap m = StopGoScene(b);
  const std::string j = ToJson(m);
  CHECK(j != ToJson(CognitiveMapBuilder(c).Build()));  // a different map differs
  CognitiveMapBuilder b2(c);
  CHECK(ToJson(StopGoScene(b2)) == j);  // same input, same bytes
  const auto doc = nlohmann::json::parse(j);
  CHECK(doc["schema"] == "dyn4d.st_tcm/1");
  for (const char* k : {"objects", "pairs", "camera", "events", "t_begin_s", "t_end_s"})
    CHECK(doc.contains(k));
  CHECK(doc["objects"][0]["motion"][1]["state"] == "moving");
  CHECK(doc["events"].size() == m.events.size());
  // Text: a long, busy video (5 minutes, 12 objects) fits the budget.
  CognitiveMapBuilder busy(c);
  const CameraSample cam = LookingAlongY();
  for (int i = 0; i < 5 * 60 * 10; ++i) {  // 10 frames/s
    const double t = i / 10.0;
    std::vector<ObjectObservation> obs;
    for (int k = 0; k < 12; ++k)
      obs.push_back(
          Obj(k + 1, "obj" + std::to_string(k), std::sin(0.05 * t * (k + 1)) * 3, 4 + k % 3));
    busy.AddFrame(t, &cam, obs);
  }
  const CognitiveMap big = busy.Build();
  for (int budget : {300, 1500, 4000}) {
    c.token_budget = budget;
    const std::string text = ToText(big, c);
    INFO("budget " << budget);
    CHECK(EstimateTokens(text) <= budget);
    CHECK_THAT(text, Catch::Contains("Cognitive map") && Catch::Contains("Objects:"));
    CHECK(text == ToText(big, c));
  }
  c.token_budget = 300;
  CHECK_THAT(ToText(big, c), Catch::Contains("omitted"));
}

TEST_CASE("reply parser: the first word, stripped, upper-cased", "[reasoning]") {
  CHECK(FirstWordLetter("B") == "B");
  CHECK(FirstWordLetter("  b. because the dog...") == "B");
  CHECK(FirstWordLetter("C:") == "C");
  CHECK(FirstWordLetter("\nA, approaching") == "A");
  CHECK(FirstWordLetter("") == "");
  CHECK(FirstWordLetter("The answer is B") == "THE");  // Dyn-Bench scores this wrong, so do we
}

TEST_CASE("built-in reasoner answers from the map, with and without options", "[reasoning]") {
  CognitiveMapBuilder b(ZUp());
  const CognitiveMap m = StopGoScene(b);
  auto ask = [&](const std::string& q, std::vector<std::string> opts) {
    return AnswerFromMap(m, q, opts);
  };
  CHECK(ask("Between 1.0 s and 2.0 s, is the person approaching the ball, moving away from it, or "
            "keeping about the same distance?",
            {"A. moving away", "B. approaching", "C. keeping about the same distance"})
            .letter == "B");
  CHECK(ask("At 0.5 s, is the person to the left or to the right of the ball in the camera's view?",
            {"A. to the left", "B. to the right"})
            .letter == "A");
  CHECK(ask("At 0.5 s, which object is closest to the camera?", {"A. ball", "B. person"}).letter ==
        "B");
  CHECK(ask("Does the person stop for a while and then move again?", {"A. yes", "B. no"}).letter ==
        "B");
  CHECK(ask("Is the person moving at the end of the video?", {}).letter == "no");
  const auto a =
      ask("Of the objects standing still at the start, which one starts moving first?", {});
  CHECK(a.letter == "person");
  CHECK(a.track_id == 1);
  CHECK_THAT(a.justification, Catch::Contains("person #1"));
  CHECK(ask("What colour is the sky?", {"A. blue"}).letter == "");
  // Times as people write them; anything else gets the forms it understands.
  for (const char* when : {"At 2 s", "at 2 seconds", "At 2s", "At 2.0 s"})
    CHECK(ask(std::string(when) + ", is the person to the left or to the right of the ball?",
              {"A. to the left", "B. to the right"})
              .letter == "B");
  const auto unknown = ask("What colour is the sky?", {});
  CHECK_THAT(unknown.justification, Catch::Contains("not recognised") &&
                                        Catch::Contains("how many objects move") &&
                                        Catch::Contains("openai"));
}

TEST_CASE("image plane: 2D tracks give left/right, above/below, motion, size and occlusion",
          "[reasoning]") {
  // 3 s at 30 fps, no camera pose, boxes only. #1 starts at the left, walks
  // right for 2 s while its box grows 1.5x (nearing), and is gone behind #2
  // (a larger box, standing at the right) at 2 s.
  CognitiveMapBuilder b;
  for (int i = 0; i < 90; ++i) {
    const double t = i / 30.0;
    std::vector<ObjectObservation> obs;
    ObjectObservation still;
    still.id = 2, still.category = "object", still.has_position = false;
    still.box = {400, 100, 120, 300};
    if (t <= 2.0) {
      ObjectObservation walker;
      walker.id = 1, walker.category = "object", walker.has_position = false;
      const float h = 100 * (1 + 0.25f * static_cast<float>(t));
      walker.box = {static_cast<float>(50 + 190 * t), 200, 0.4f * h, h};
      obs.push_back(walker);
    }
    obs.push_back(still);
    b.AddFrame(t, nullptr, obs);
  }
  const CognitiveMap m = b.Build();
  CHECK(m.objects.empty());
  REQUIRE(m.image_plane.objects.size() == 2);
  const ImagePlaneObject* walker = m.image_plane.Find(1);
  const ImagePlaneObject* still = m.image_plane.Find(2);
  REQUIRE(walker);
  REQUIRE(still);
  REQUIRE(!walker->segments.empty());
  CHECK(walker->segments.front().moving);
  CHECK(walker->segments.front().direction == "right");
  CHECK(walker->size_trend == "grows");
  CHECK(walker->leaves_view);
  REQUIRE(still->segments.size() == 1);
  CHECK_FALSE(still->segments.front().moving);
  CHECK_FALSE(still->leaves_view);
  REQUIRE(!m.image_plane.relations.empty());
  const ImagePlaneRelation& first = m.image_plane.relations.front();
  CHECK(first.a == 1);
  CHECK(first.horizontal == "left of");
  CHECK(first.vertical == "level with");  // both box centres at y = 250
  CHECK_FALSE(first.overlap);
  bool hidden = false;
  for (const Event& e : m.events) hidden |= e.type == "occluded" && e.a == 1 && e.b == 2;
  CHECK(hidden);
  const std::string text = ToText(m, MapConfig{});
  CHECK_THAT(text, Catch::Contains("colour-only video") && Catch::Contains("(image plane)") &&
                       Catch::Contains("moves right") && Catch::Contains("nearing") &&
                       Catch::Contains("motion unknown"));
  const auto j = nlohmann::json::parse(ToJson(m));
  CHECK(j["image_plane"]["objects"].size() == 2);
  CHECK(j["image_plane"]["relations"][0]["a_horizontal"] == "left of");
  // Counting works on image-plane objects too: one of the two moves.
  CHECK(AnswerFromMap(m, "How many objects move at some point?", {}).letter == "1");
}

TEST_CASE("generated questions have clear answers the reasoner finds from exact tracks",
          "[reasoning]") {
  // A scene truth: #1 person walks right, stops, walks again; #2 ball rolls
  // toward the camera and leaves the view at the bottom at 2 s; camera still.
  SceneTruth truth;
  const CameraSample cam = LookingAlongY();
  CognitiveMapBuilder b(ZUp());
  for (int i = 0; i < 90; ++i) {
    const double t = i / 30.0;
    SceneTruth::Frame f;
    f.t = t;
    f.camera = cam;
    const double x = t < 1 ? -1.5 + t : t < 1.6 ? -0.5 : -0.5 + (t - 1.6);
    const double vx = (t < 1 || t >= 1.6) ? 1.0 : 0.0;
    f.objects.push_back({1, "person", {x, 3.0, 0.9}, {vx, 0, 0}, 5000, 5000, -1});
    const bool ball_in = t < 2.0;
    f.objects.push_back(
        {2, "ball", {0.8, 4.5 - t, 0.2}, {0, -1, 0}, ball_in ? 800 : 0, ball_in ? 800 : 0, -1});
    truth.frames.push_back(f);
    std::vector<ObjectObservation> obs;
    for (const auto& o : f.objects) {
      if (o.visible_pixels < 20) continue;
      ObjectObservation ob = Obj(o.id, o.category, o.center[0], o.center[1]);
      ob.position = o.center;
      obs.push_back(ob);
    }
    b.AddFrame(t, &cam, obs);
  }
  const auto qs = GenerateQuestions(truth);
  std::set<std::string> families;
  for (const auto& q : qs) families.insert(q.family);
  for (const char* f : {"approaching", "relative_direction", "depth_order", "leaves_view",
                        "stops_and_moves", "camera_motion_of_object", "event_order"})
    CHECK(families.count(f) == 1);
  const CognitiveMap m = b.Build();
  int right = 0;
  for (const auto& q : qs) {
    const auto a = AnswerFromMap(m, q.question, q.options);
    INFO(q.question << " -> " << a.letter << " (" << a.justification << "), truth " << q.answer);
    CHECK(a.letter == q.answer);
    right += a.letter == q.answer;
    CHECK(q.options.size() >= 2);
    CHECK(q.answer.size() == 1);
  }
  CHECK(right == static_cast<int>(qs.size()));
}

TEST_CASE("bad input: frames out of order, bad config", "[reasoning][bad-input]") {
  CognitiveMapBuilder b;
  b.AddFrame(1.0, nullptr, {});
  CHECK_THROWS_WITH(b.AddFrame(0.5, nullptr, {}), Catch::Contains("older"));
  MapConfig c;
  c.up = {0, 0, 0};
  CHECK_THROWS_WITH(CognitiveMapBuilder(c), Catch::Contains("up"));
  ObjectObservation nan = Obj(7, "x", std::nan(""), 1);
  CognitiveMapBuilder ok;
  ok.AddFrame(0, nullptr, {nan});
  CHECK(ok.Build().objects.empty());
}

TEST_CASE("a time window: the map of part of the stream, in the same frame", "[reasoning]") {
  CognitiveMapBuilder b(ZUp());
  const CognitiveMap whole = StopGoScene(b);
  const CognitiveMap early = b.Build(0.0, 0.8), middle = b.Build(0.0, 2.0);
  CHECK(early.t_end == Approx(0.8).margin(0.04));
  CHECK(AnswerFromMap(early, "Is the person moving at the end of the video?", {}).letter == "no");
  CHECK(AnswerFromMap(middle, "Is the person moving at the end of the video?", {}).letter == "yes");
  const CognitiveMap late = b.Build(2.0, 4.0);
  CHECK(late.t_begin == Approx(2.0).margin(0.04));
  // Same map frame as the whole stream's.
  CHECK(late.Find(2)->samples[0].position[1] == Approx(whole.Find(2)->samples[0].position[1]));
}

TEST_CASE("turns: a moving object that changes heading", "[reasoning]") {
  CognitiveMapBuilder b(ZUp());
  const CameraSample cam = LookingAlongY();
  for (int i = 0; i < 60; ++i) {
    const double t = i / 30.0;  // +x for 1 s, then +y for 1 s, 1 m/s
    b.AddFrame(t, &cam, {Obj(1, "dog", t < 1 ? t : 1.0, t < 1 ? 3.0 : 3.0 + (t - 1))});
  }
  const CognitiveMap m = b.Build();
  const Event* turn = FindEvent(m, "turns", 1);
  REQUIRE(turn);
  CHECK(turn->t == Approx(1.0).margin(0.3));
}

TEST_CASE("a long stream's map covers its last history_s seconds, in the same map frame",
          "[reasoning]") {
  MapConfig c = ZUp();
  c.history_s = 10;
  CognitiveMapBuilder b(c), whole(ZUp());
  // 60 s at 30 fps; the camera walks +x while a ball stands 3 m ahead of
  // where it started: the map frame is the first pose's, whatever is kept.
  for (int i = 0; i < 1800; ++i) {
    const double t = 100 + i / 30.0;
    const CameraSample cam = LookingAlongY(0.01 * i);
    b.AddFrame(t, &cam, {Obj(2, "ball", 0.0, 3.0)});
    whole.AddFrame(t, &cam, {Obj(2, "ball", 0.0, 3.0)});
    CHECK(b.history_span_s() <= 11.0 + 1e-9);
  }
  CHECK(b.frames() <= 331);
  CHECK(b.frames() + b.forgotten_frames() == 1800);
  CHECK(b.frames_added() == 1800);
  CHECK(whole.frames() == 1800);
  CHECK(b.first_time() == Approx(100));
  const CognitiveMap m = b.Build(), all = whole.Build();
  CHECK(m.t_end == Approx(all.t_end));  // times still count from the first frame
  CHECK(m.t_begin >= m.t_end - 11.0);
  CHECK(m.t_begin <= m.t_end - 10.0);
  const ObjectSummary* ball = m.Find(2);
  const ObjectSummary* ball_all = all.Find(2);
  REQUIRE(ball);
  REQUIRE(ball_all);
  for (int a = 0; a < 3; ++a)
    CHECK(ball->samples.back().position[a] == Approx(ball_all->samples.back().position[a]));
  CHECK(ball->visible.size() == 1);
  CHECK(ball->visible.front().first == Approx(m.t_begin));
  // Seen when the history starts: not an object entering the view.
  CHECK(FindEvent(m, "appears", 2)->t == Approx(m.t_begin));
  CHECK_FALSE(ball->leaves_view);

  MapConfig bad = ZUp();
  bad.history_s = -1;
  CHECK_THROWS_WITH(CognitiveMapBuilder(bad), Catch::Contains("history_s"));
}
