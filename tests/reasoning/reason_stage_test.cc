// The reason stage: tracks and poses in, the cognitive map out at end of
// stream, questions answered on requests and from its `questions` list.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "dyn4d/pipeline/graph.h"
#include "dyn4d/reasoning/stages.h"

using namespace dyn4d;

namespace {
pipeline::Tracks Frame(uint64_t seq) {
  pipeline::Tracks t;
  t.meta.seq = seq;
  t.meta.stamp_ns = static_cast<int64_t>(seq) * 33333333;
  const double s = seq / 30.0;
  pipeline::Track a;  // walks along camera x (right) at 1 m/s, 3 m ahead
  a.track_id = 1;
  a.class_name = "person";
  a.has_position = true;
  a.position_world = {float(-1 + s), 0.f, 3.f};
  a.extent = {0.5f, 1.7f, 0.4f};
  a.state = "confirmed";
  pipeline::Track b = a;  // a ball standing 4 m ahead
  b.track_id = 2;
  b.class_name = "ball";
  b.position_world = {0.f, 0.5f, 4.f};
  t.items = {a, b};
  return t;
}
}  // namespace

TEST_CASE("reason stage: map at end of stream, answers to requests and listed questions",
          "[reasoning]") {
  pipeline::StageRegistry registry;
  reasoning::RegisterStages(registry);
  pipeline::Params params = pipeline::Params::FromYaml(
      "{questions: 'At 1.0 s, which object is closest to the camera?; "
      "Is the person moving at the end of the video? | A. no | B. yes'}");
  pipeline::StageContext ctx{"reason", "/tmp", {{"tracks", "t"}, {"requests", "q"}}, {}};
  auto stage = registry.Create("reason", params, ctx);
  for (uint64_t f = 0; f < 60; ++f) CHECK(stage->Process("tracks", Frame(f)).empty());
  pipeline::Query q;
  q.request_id = 42;
  q.question =
      "At 0.5 s, is the person to the left or to the right of the ball in the camera's view?";
  q.options = {"A. to the left", "B. to the right"};
  const auto replies = stage->Process("requests", q);
  REQUIRE(replies.size() == 1);
  const auto& a = std::get<pipeline::Answer>(replies[0].message);
  CHECK(a.request_id == 42);
  CHECK(a.answer == "A");
  CHECK(a.track_id == 1);
  CHECK(a.question == q.question);
  CHECK_THAT(a.justification, Catch::Contains("grounding: track 1, masks in frames 0-59"));
  const auto out = stage->Finish();
  REQUIRE(out.size() == 3);
  CHECK(out[0].port == "maps");
  const auto& m = std::get<pipeline::CognitiveMap>(out[0].message);
  CHECK(nlohmann::json::parse(m.json)["objects"].size() == 2);
  CHECK_THAT(m.text, Catch::Contains("person #1") && Catch::Contains("ball #2"));
  CHECK(std::get<pipeline::Answer>(out[1].message).answer == "person");
  CHECK(std::get<pipeline::Answer>(out[2].message).answer == "B");
  pipeline::Params bad = pipeline::Params::FromYaml("{backend: oracle}");
  CHECK_THROWS_WITH(registry.Create("reason", bad, ctx), Catch::Contains("oracle"));
  pipeline::Params bad_url = pipeline::Params::FromYaml("{backend: openai, url: 'gopher://x'}");
  CHECK_THROWS_WITH(registry.Create("reason", bad_url, ctx), Catch::Contains("url"));
}

TEST_CASE("reason stage: a request sees every frame that came before it", "[reasoning]") {
  pipeline::StageRegistry registry;
  reasoning::RegisterStages(registry);
  pipeline::Params params = pipeline::Params::FromYaml("{}");
  pipeline::StageContext ctx{"reason", "/tmp", {{"tracks", "t"}, {"requests", "q"}}, {}};
  auto stage = registry.Create("reason", params, ctx);
  pipeline::Query q;
  q.question = "At 1.5 s, which object is closest to the camera?";
  auto ask = [&] {
    return std::get<pipeline::Answer>(stage->Process("requests", q).at(0).message).answer;
  };
  for (uint64_t f = 0; f < 30; ++f) stage->Process("tracks", Frame(f));
  CHECK(ask() == "");  // 1.5 s not seen yet
  for (uint64_t f = 30; f < 60; ++f) stage->Process("tracks", Frame(f));
  CHECK(ask() == "person");  // the map follows the stream
}

TEST_CASE("reason stage: the history it holds is bounded, and its grounding with it",
          "[reasoning]") {
  pipeline::StageRegistry registry;
  reasoning::RegisterStages(registry);
  pipeline::Params params = pipeline::Params::FromYaml("{history_s: 1}");
  pipeline::StageContext ctx{"reason", "/tmp", {{"tracks", "t"}, {"requests", "q"}}, {}};
  auto stage = registry.Create("reason", params, ctx);
  // Track 1 is seen for the first second only; track 2 throughout.
  for (uint64_t f = 0; f < 150; ++f) {
    pipeline::Tracks t = Frame(f);
    if (f >= 30) t.items.erase(t.items.begin());
    stage->Process("tracks", t);
    const auto counters = stage->Counters();
    CHECK(counters.at("history_s") <= 1.1 + 1e-6);
    CHECK(counters.at("history_s_max") == 1.0);
  }
  CHECK(stage->Counters().at("frames") <= 34);
  // The map at the end: the last second, without the track seen only at
  // the start.
  const auto out = stage->Finish();
  REQUIRE(out.size() == 1);
  const auto objects =
      nlohmann::json::parse(std::get<pipeline::CognitiveMap>(out[0].message).json)["objects"];
  REQUIRE(objects.size() == 1);
  CHECK(objects[0]["id"] == 2);
  pipeline::Params bad = pipeline::Params::FromYaml("{history_s: -2}");
  CHECK_THROWS_WITH(registry.Create("reason", bad, ctx), Catch::Contains("history_s"));
}
