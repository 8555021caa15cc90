#include "dyn4d/pipeline/config.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "../common/test_stages.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/graph.h"
#include "dyn4d/reasoning/stages.h"
#include "dyn4d/tracking/stages.h"

using namespace dyn4d::pipeline;

namespace {
const char* kGood = R"(
version: 1
name: t
output_dir: /tmp/x
nodes:
  src:
    type: counting_source
    outputs: {out: a}
    params: {count: 3}
  sink:
    type: recording_sink
    inputs: {in: a}
topics:
  a: {flow: latest, queue: 4}
)";

std::string ErrorOf(const std::string& yaml) {
  try {
    GraphConfig g = ParseGraphConfig(yaml, "my.yaml", /*throw_on_problems=*/false);
    auto registry = dyn4d::test::TestRegistry();
    RunOptions o;
    o.output_dir = dyn4d::test::TempDir("config");
    Graph graph(g, registry, o);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}
}  // namespace

TEST_CASE("A valid graph config parses with defaults filled in", "[config]") {
  GraphConfig g = ParseGraphConfig(kGood, "my.yaml");
  CHECK(g.name == "t");
  REQUIRE(g.nodes.size() == 2);
  CHECK(g.nodes[0].name == "src");  // file order kept
  CHECK(g.topics.at("a").endpoint == "inproc://a");
  CHECK(g.topics.at("a").flow == FlowPolicy::kLatest);
  CHECK(g.topics.at("a").queue == 4);
  CHECK(g.ConsumersOf("a") == std::vector<std::string>{"sink"});
  CHECK(ErrorOf(kGood).empty());
}

TEST_CASE("Config errors name the file line key and reason", "[config][bad-input]") {
  SECTION("unknown top-level key") {
    std::string e = ErrorOf(Replace(kGood, "name: t", "name: t\nspeed: 3"));
    CHECK_THAT(e, Catch::Contains("my.yaml:4: speed: unknown key"));
  }
  SECTION("unknown topic key") {
    CHECK_THAT(ErrorOf(Replace(kGood, "queue: 4", "queue: 4, colour: red")),
               Catch::Contains("topics.a.colour: unknown key"));
  }
  SECTION("unknown stage parameter lists the known ones") {
    std::string e = ErrorOf(Replace(kGood, "{count: 3}", "{count: 3, cuont: 4}"));
    CHECK_THAT(e, Catch::Contains("nodes.src.params.cuont: unknown key (known: count"));
    CHECK_THAT(e, Catch::Contains("my.yaml:"));
  }
  SECTION("wrong type") {
    CHECK_THAT(ErrorOf(Replace(kGood, "queue: 4", "queue: four")),
               Catch::Contains("topics.a.queue: expected an integer, got 'four'"));
    CHECK_THAT(ErrorOf(Replace(kGood, "{count: 3}", "{count: [1, 2]}")),
               Catch::Contains("nodes.src.params.count: expected an integer"));
  }
  SECTION("value out of range") {
    CHECK_THAT(ErrorOf(Replace(kGood, "queue: 4", "queue: 0")),
               Catch::Contains("topics.a.queue: value 0 out of range"));
  }
  SECTION("bad enum value") {
    CHECK_THAT(ErrorOf(Replace(kGood, "flow: latest", "flow: newest")),
               Catch::Contains("'newest' is not one of: lossless, latest"));
  }
  SECTION("input topic with no producer and no endpoint") {
    std::string e = ErrorOf(Replace(kGood, "inputs: {in: a}", "inputs: {in: b}"));
    CHECK_THAT(e, Catch::Contains("nodes.sink.inputs.in: topic 'b' has no producer"));
  }
  SECTION("a misspelt topic under topics: is not silently ignored") {
    CHECK_THAT(ErrorOf(Replace(kGood, "topics:", "topics:\n  aa: {queue: 2}")),
               Catch::Contains("topics.aa: not used by any node"));
  }
  SECTION("unknown stage type lists the known ones") {
    CHECK_THAT(ErrorOf(Replace(kGood, "type: recording_sink", "type: recorder")),
               Catch::Contains("unknown stage type 'recorder' (known: counting_source"));
  }
  SECTION("port the stage does not have") {
    CHECK_THAT(
        ErrorOf(Replace(kGood, "inputs: {in: a}", "inputs: {in: a, extra: a}")),
        Catch::Contains("nodes.sink.inputs.extra: stage 'recording_sink' has no input port"));
  }
  SECTION("bad endpoint scheme") {
    CHECK_THAT(ErrorOf(Replace(kGood, "flow: latest", "endpoint: 'udp://x', flow: latest")),
               Catch::Contains("topics.a.endpoint: 'udp://x' is not an inproc://"));
  }
  SECTION("a tcp endpoint without a port, or with a bad one, is named with its topic") {
    CHECK_THAT(ErrorOf(Replace(kGood, "flow: latest", "endpoint: 'tcp://127.0.0.1', flow: latest")),
               Catch::Contains("topics.a.endpoint: 'tcp://127.0.0.1' needs a host and a port"));
    CHECK_THAT(
        ErrorOf(Replace(kGood, "flow: latest", "endpoint: 'tcp://127.0.0.1:70000', flow: latest")),
        Catch::Contains("topics.a.endpoint: 'tcp://127.0.0.1:70000': port '70000' is not 1-65535"));
    CHECK_THAT(ErrorOf(Replace(kGood, "flow: latest", "endpoint: 'ipc://', flow: latest")),
               Catch::Contains("topics.a.endpoint: 'ipc://' needs a path"));
  }
  SECTION("missing version") {
    CHECK_THAT(ErrorOf(Replace(kGood, "version: 1", "")), Catch::Contains("version: missing"));
  }
  SECTION("every problem is reported at once") {
    std::string e =
        ErrorOf(Replace(Replace(kGood, "queue: 4", "queue: x"), "{count: 3}", "{cnt: 3}"));
    CHECK_THAT(e, Catch::Contains("topics.a.queue"));
    CHECK_THAT(e, Catch::Contains("params.cnt"));
  }
  SECTION("invalid YAML") {
    CHECK_THAT(ErrorOf("version: 1\nnodes: {a: [}"), Catch::Contains("my.yaml:2: invalid YAML"));
  }
  SECTION("a node run alone needs ipc/tcp endpoints") {
    GraphConfig g = ParseGraphConfig(kGood, "my.yaml");
    auto registry = dyn4d::test::TestRegistry();
    RunOptions o;
    o.output_dir = dyn4d::test::TempDir("config");
    o.only_nodes = {"sink"};
    try {
      Graph graph(g, registry, o);
      FAIL("expected a ConfigError");
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(), Catch::Contains("nodes.sink.inputs.in: topic 'a' uses inproc://a"));
      CHECK_THAT(e.what(), Catch::Contains("ipc:// or tcp://"));
    }
  }
}

TEST_CASE("Every config shipped in configs/ is valid", "[config]") {
  StageRegistry registry;
  dyn4d::io::RegisterStages(registry);
  dyn4d::perception::RegisterStages(registry);
  dyn4d::tracking::RegisterStages(registry);
  dyn4d::reasoning::RegisterStages(registry);
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(DYN4D_SOURCE_DIR "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path().string());
    // Configs that point at ../shared models (not shipped) are checked
    // only where ../shared is.
    std::ifstream in(entry.path());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find("../../shared/") != std::string::npos &&
        !std::filesystem::exists(DYN4D_SOURCE_DIR "/../shared/models")) {
      WARN(entry.path().string() << ": needs ../shared/models, not checked here");
      continue;
    }
    GraphConfig g = LoadGraphConfig(entry.path().string());
    RunOptions o;
    o.output_dir = dyn4d::test::TempDir("configs");
    CHECK_NOTHROW(Graph(g, registry, o));
    ++n;
  }
  CHECK(n >= 1);
}

TEST_CASE("Params lists: a YAML sequence or a separated string, numbers with a count", "[config]") {
  Params p = Params::FromYaml(
      "{a: [x, ' y '], b: 'x, y,,z', c: '0, -1, 0', d: [1, 2], e: '1, two', q: 'Q1? | A. x; Q2'}");
  CHECK(p.GetList("a", {}) == std::vector<std::string>{"x", "y"});
  CHECK(p.GetList("b", {}) == std::vector<std::string>{"x", "y", "z"});
  CHECK(p.GetList("missing", {"dflt"}) == std::vector<std::string>{"dflt"});
  CHECK(p.GetList("q", {}, ';') == std::vector<std::string>{"Q1? | A. x", "Q2"});
  CHECK(p.GetNumbers("c", {}, 3) == std::vector<double>{0, -1, 0});
  CHECK(p.GetNumbers("d", {}) == std::vector<double>{1, 2});
  CHECK(p.GetNumbers("d", {9}, 3) == std::vector<double>{9});  // wrong count: default, problem
  CHECK(p.GetNumbers("e", {}).empty());
  CHECK_THROWS_WITH(p.Finish(), Catch::Contains("expected 3 numbers, got 2") &&
                                    Catch::Contains("'two' is not a number"));
}
