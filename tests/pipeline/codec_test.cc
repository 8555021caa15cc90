#include "dyn4d/pipeline/codec.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <nlohmann/json.hpp>

using namespace dyn4d::pipeline;

namespace {

Image PatternImage(int w, int h, PixelEncoding e) {
  Image img = Image::Allocate(w, h, e);
  for (size_t i = 0; i < img.data.size(); ++i)
    img.data.mutable_data()[i] = static_cast<uint8_t>(i * 7 + 3);
  return img;
}

bool SameBytes(const Buffer& a, const Buffer& b) {
  return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

bool SameImage(const Image& a, const Image& b) {
  return a.width == b.width && a.height == b.height && a.encoding == b.encoding &&
         SameBytes(a.data, b.data);
}

std::vector<Buffer> Frames(const WireMessage& w) {
  std::vector<Buffer> f = {Buffer::CopyOf(w.topic),
                           Buffer::CopyOf(w.header.data(), w.header.size())};
  f.insert(f.end(), w.payload.begin(), w.payload.end());
  return f;
}

template <typename T>
T RoundTrip(const T& in, const std::string& topic = "t") {
  DecodeResult r = Decode(Frames(Encode(topic, in)));
  INFO(r.error);
  REQUIRE(r.ok());
  REQUIRE(r.topic == topic);
  REQUIRE(std::holds_alternative<T>(r.message));
  T out = std::get<T>(r.message);
  CHECK(out.meta.seq == in.meta.seq);
  CHECK(out.meta.stamp_ns == in.meta.stamp_ns);
  CHECK(out.meta.source_id == in.meta.source_id);
  return out;
}

MessageMeta SomeMeta() { return {42, -1234567890123LL, "cam0"}; }

}  // namespace

TEST_CASE("Every message type survives encode/decode", "[codec]") {
  SECTION("RgbdFrame") {
    RgbdFrame f;
    f.meta = SomeMeta();
    f.color = PatternImage(8, 6, PixelEncoding::kBgr8);
    f.depth = PatternImage(8, 6, PixelEncoding::kMono16);
    f.intrinsics = {525.5, 524.25, 319.5, 239.5, 8, 6};
    f.depth_scale = 5000;
    RgbdFrame g = RoundTrip(f);
    CHECK(SameImage(f.color, g.color));
    CHECK(SameImage(f.depth, g.depth));
    CHECK(g.intrinsics == f.intrinsics);
    CHECK(g.depth_scale == 5000);
    CHECK(g.depth_offset_ns == 0);  // simultaneous: the field is left out
    f.depth_offset_ns = -3'840'930;
    CHECK(RoundTrip(f).depth_offset_ns == -3'840'930);
    CHECK(g.color_registered);  // registered: the field is left out
    f.color_registered = false;
    CHECK_FALSE(RoundTrip(f).color_registered);
  }
  SECTION("RgbdFrame without depth (RGB-only source)") {
    RgbdFrame f;
    f.meta = SomeMeta();
    f.color = PatternImage(4, 4, PixelEncoding::kRgb8);
    RgbdFrame g = RoundTrip(f);
    CHECK(g.depth.empty());
    CHECK(SameImage(f.color, g.color));
  }
  SECTION("CameraPose") {
    CameraPose p;
    p.meta = SomeMeta();
    p.t_world_cam = {1.5, -2.25, 0.125};
    p.q_world_cam = {0.1, 0.2, 0.3, 0.927};
    p.status = PoseStatus::kLost;
    CameraPose q = RoundTrip(p);
    CHECK(q.t_world_cam == p.t_world_cam);
    CHECK(q.q_world_cam == p.q_world_cam);
    CHECK(q.status == PoseStatus::kLost);
  }
  SECTION("PointCloud with colours and normals") {
    PointCloud c;
    c.meta = SomeMeta();
    c.frame_id = "camera";
    c.num_points = 5;
    std::vector<float> xyz(15), n(15);
    for (int i = 0; i < 15; ++i) xyz[i] = i * 0.5f, n[i] = -i * 0.25f;
    c.points = Buffer::CopyOf(xyz.data(), 60);
    c.normals = Buffer::CopyOf(n.data(), 60);
    std::vector<uint8_t> rgb(15, 9);
    c.colors = Buffer::CopyOf(rgb.data(), 15);
    PointCloud d = RoundTrip(c);
    CHECK(d.frame_id == "camera");
    CHECK(d.num_points == 5);
    CHECK(SameBytes(c.points, d.points));
    CHECK(SameBytes(c.normals, d.normals));
    CHECK(SameBytes(c.colors, d.colors));
  }
  SECTION("Detections with and without masks") {
    Detections d;
    d.meta = SomeMeta();
    Detection a;
    a.box = {1, 2, 3, 4};
    a.class_id = 7;
    a.class_name = "person";
    a.score = 0.75f;
    a.exit_index = 2;
    a.mask = PatternImage(3, 4, PixelEncoding::kMono8);
    a.track_id = 12;
    a.embedding = {0.5f, -1.25f, 3.f};
    a.has_position = true;
    a.position_world = {1.5f, -2.f, 0.25f};
    a.extent = {0.4f, 0.3f, 1.7f};
    a.motion = "stopped";
    Detection b;
    b.box = {10, 20, 30, 40};
    b.class_name = "ball";
    d.items = {a, b};
    Detections e = RoundTrip(d);
    REQUIRE(e.items.size() == 2);
    CHECK(e.items[0].class_name == "person");
    CHECK(e.items[0].exit_index == 2);
    CHECK(e.items[0].score == 0.75f);
    CHECK(e.items[0].box.w == 3);
    CHECK(SameImage(e.items[0].mask, a.mask));
    CHECK(e.items[1].mask.empty());
    CHECK(e.items[1].box.h == 40);
    CHECK(e.items[0].track_id == 12);
    CHECK(e.items[0].embedding == a.embedding);
    CHECK(e.items[1].track_id == -1);
    CHECK(e.items[1].embedding.empty());
    CHECK(e.items[0].has_position);
    CHECK(e.items[0].position_world == a.position_world);
    CHECK(e.items[0].extent == a.extent);
    CHECK_FALSE(e.items[1].has_position);
    CHECK(e.items[0].motion == "stopped");
    CHECK(e.items[1].motion.empty());
  }
  SECTION("Tracks") {
    Tracks t;
    t.meta = SomeMeta();
    Track a;
    a.track_id = 12;
    a.box = {5, 6, 7, 8};
    a.class_id = 1;
    a.class_name = "chair";
    a.score = 0.5f;
    a.has_position = true;
    a.position_world = {1, 2, 3};
    a.velocity_world = {0.1f, 0, -0.1f};
    a.extent = {0.5f, 0.5f, 0.9f};
    a.mask = PatternImage(7, 8, PixelEncoding::kMono8);
    a.state = "lost";
    a.motion = "moving";
    Track b;
    t.items = {a, b};
    Tracks u = RoundTrip(t);
    REQUIRE(u.items.size() == 2);
    CHECK(u.items[0].state == "lost");
    CHECK(u.items[1].state.empty());
    CHECK(u.items[0].motion == "moving");
    CHECK(u.items[1].motion.empty());
    CHECK(u.items[0].track_id == 12);
    CHECK(u.items[0].position_world == a.position_world);
    CHECK(u.items[0].velocity_world == a.velocity_world);
    CHECK(u.items[0].extent == a.extent);
    CHECK(SameImage(u.items[0].mask, a.mask));
  }
  SECTION("CognitiveMap") {
    CognitiveMap m;
    m.meta = SomeMeta();
    m.json = R"({"objects":[]})";
    m.text = "t=0.0s person#1 at (1.0, 2.0)";
    CognitiveMap n = RoundTrip(m);
    CHECK(n.json == m.json);
    CHECK(n.text == m.text);
  }
  SECTION("Query and Answer") {
    Query q;
    q.meta = SomeMeta();
    q.request_id = 99;
    q.question = "Which object approaches the camera?";
    q.options = {"A. person", "B. chair"};
    q.t_begin_s = 1.5;
    Query r = RoundTrip(q);
    CHECK(r.request_id == 99);
    CHECK(r.options == q.options);
    CHECK(r.t_begin_s == 1.5);
    CHECK_FALSE(r.t_end_s.has_value());
    Answer a;
    a.meta = SomeMeta();
    a.request_id = 99;
    a.answer = "A";
    a.justification = "person#1 distance 3.2 m -> 1.1 m";
    a.track_id = 1;
    Answer b = RoundTrip(a);
    CHECK(b.answer == "A");
    CHECK(b.justification == a.justification);
    CHECK(b.track_id == 1);
    CHECK(b.question.empty());
    a.question = "Which object approaches?";
    CHECK(RoundTrip(a).question == a.question);
  }
  SECTION("Stats") {
    Stats s;
    s.meta = SomeMeta();
    s.node = "geometry";
    s.fps = 29.5;
    s.latency_p50_ms = 3.25;
    s.latency_p95_ms = 9.5;
    s.queue_depth = 3;
    s.processed = 1000;
    s.emitted = 999;
    s.dropped = 17;
    s.errors = 2;
    s.counters = {{"exit_1", 40}, {"exit_4", 2}};
    s.run_latency_p50_ms = 2.75;
    s.run_latency_p95_ms = 12.5;
    Stats t = RoundTrip(s);
    CHECK(t.run_latency_p50_ms == 2.75);
    CHECK(t.run_latency_p95_ms == 12.5);
    // An older sender (before protocol 1.3) has no run-long latencies.
    WireMessage w = Encode("t", s);
    auto header = nlohmann::json::from_msgpack(w.header);
    REQUIRE(header["body"].contains("run_latency_p50_ms"));
    header["body"].erase("run_latency_p50_ms");
    header["body"].erase("run_latency_p95_ms");
    w.header = nlohmann::json::to_msgpack(header);
    const DecodeResult old = Decode(Frames(w));
    REQUIRE(old.ok());
    CHECK(std::get<Stats>(old.message).run_latency_p50_ms == 0);
    CHECK(std::get<Stats>(old.message).latency_p95_ms == 9.5);
    CHECK(t.counters == s.counters);
    CHECK(t.node == "geometry");
    CHECK(t.fps == 29.5);
    CHECK(t.latency_p95_ms == 9.5);
    CHECK(t.dropped == 17);
    CHECK(t.errors == 2);
    CHECK(t.processed == 1000);
  }
  SECTION("EndOfStream") {
    EndOfStream e;
    e.meta = SomeMeta();
    e.reason = "stopped";
    CHECK(RoundTrip(e).reason == "stopped");
  }
}

TEST_CASE("Image payloads are shared not copied on decode", "[codec]") {
  RgbdFrame f;
  f.color = PatternImage(16, 16, PixelEncoding::kBgr8);
  std::vector<Buffer> frames = Frames(Encode("frames", f));
  DecodeResult r = Decode(frames);
  REQUIRE(r.ok());
  CHECK(std::get<RgbdFrame>(r.message).color.data.data() == f.color.data.data());
}

TEST_CASE("Malformed messages are rejected with a reason and never crash", "[codec][bad-input]") {
  RgbdFrame f;
  f.meta = SomeMeta();
  f.color = PatternImage(8, 6, PixelEncoding::kBgr8);
  f.depth = PatternImage(8, 6, PixelEncoding::kMono16);
  f.intrinsics = {500, 500, 4, 3, 8, 6};
  WireMessage w = Encode("frames", f);
  std::vector<Buffer> good = Frames(w);
  nlohmann::json header = nlohmann::json::from_msgpack(w.header);
  auto with_header = [&](const nlohmann::json& h) {
    std::vector<Buffer> fr = good;
    auto bytes = nlohmann::json::to_msgpack(h);
    fr[1] = Buffer::CopyOf(bytes.data(), bytes.size());
    return fr;
  };

  SECTION("no frames / only a topic") {
    CHECK(Decode({}).status == DecodeResult::Status::kTruncated);
    CHECK(Decode({good[0]}).status == DecodeResult::Status::kTruncated);
  }
  SECTION("header cut short") {
    std::vector<Buffer> fr = good;
    fr[1] = Buffer::CopyOf(w.header.data(), w.header.size() / 2);
    DecodeResult r = Decode(fr);
    CHECK(r.status == DecodeResult::Status::kTruncated);
    CHECK_THAT(r.error, Catch::Contains("msgpack"));
  }
  SECTION("header is garbage") {
    std::vector<Buffer> fr = good;
    fr[1] = Buffer::CopyOf(std::string("\xc1\xc1\xc1garbage", 10));
    CHECK(Decode(fr).status == DecodeResult::Status::kMalformed);
  }
  SECTION("missing payload part") {
    std::vector<Buffer> fr = good;
    fr.pop_back();
    DecodeResult r = Decode(fr);
    CHECK(r.status == DecodeResult::Status::kTruncated);
    CHECK_THAT(r.error, Catch::Contains("declares 2 payload parts"));
  }
  SECTION("payload part shorter than declared") {
    std::vector<Buffer> fr = good;
    fr[2] = Buffer::CopyOf(fr[2].data(), fr[2].size() - 1);
    DecodeResult r = Decode(fr);
    CHECK(r.status == DecodeResult::Status::kTruncated);
    CHECK_THAT(r.error, Catch::Contains("color"));
  }
  SECTION("wrong protocol version") {
    nlohmann::json h = header;
    h["v"] = 2;
    DecodeResult r = Decode(with_header(h));
    CHECK(r.status == DecodeResult::Status::kWrongVersion);
    CHECK_THAT(r.error, Catch::Contains("protocol version 2"));
  }
  SECTION("unknown type") {
    nlohmann::json h = header;
    h["type"] = "Hologram";
    CHECK(Decode(with_header(h)).status == DecodeResult::Status::kUnknownType);
  }
  SECTION("field of the wrong type names the field") {
    nlohmann::json h = header;
    h["body"]["intrinsics"]["fx"] = "five hundred";
    DecodeResult r = Decode(with_header(h));
    CHECK(r.status == DecodeResult::Status::kMalformed);
    CHECK_THAT(r.error, Catch::Contains("body.intrinsics.fx"));
  }
  SECTION("a track's motion or state outside its values names the field and the values") {
    Tracks t;
    t.meta = SomeMeta();
    t.items.resize(1);
    t.items[0].motion = "moving";
    WireMessage tw = Encode("tracks", t);
    std::vector<Buffer> fr = Frames(tw);
    nlohmann::json h = nlohmann::json::from_msgpack(tw.header);
    h["body"]["items"][0]["motion"] = "flying";
    auto bytes = nlohmann::json::to_msgpack(h);
    fr[1] = Buffer::CopyOf(bytes.data(), bytes.size());
    DecodeResult r = Decode(fr);
    CHECK(r.status == DecodeResult::Status::kMalformed);
    CHECK_THAT(r.error, Catch::Contains("body.items[0].motion"));
    CHECK_THAT(r.error, Catch::Contains("'flying' is not moving or stopped"));
    h["body"]["items"][0].erase("motion");
    h["body"]["items"][0]["state"] = "asleep";
    bytes = nlohmann::json::to_msgpack(h);
    fr[1] = Buffer::CopyOf(bytes.data(), bytes.size());
    CHECK_THAT(Decode(fr).error, Catch::Contains("'asleep' is not tentative, confirmed or lost"));
  }
  SECTION("image size inconsistent with its bytes") {
    nlohmann::json h = header;
    h["parts"][0]["width"] = 9;  // declared size still matches the frame
    DecodeResult r = Decode(with_header(h));
    CHECK(r.status == DecodeResult::Status::kMalformed);
    CHECK_THAT(r.error, Catch::Contains("needs"));
  }
  SECTION("absurd dimensions are refused before any arithmetic") {
    nlohmann::json h = header;
    h["parts"][0]["width"] = int64_t{1} << 40;
    CHECK(Decode(with_header(h)).status == DecodeResult::Status::kMalformed);
  }
  SECTION("negative or out-of-range part index") {
    nlohmann::json h = header;
    h["body"]["color"] = 5;
    CHECK_THAT(Decode(with_header(h)).error, Catch::Contains("out of range"));
  }
  SECTION("a missing field is named") {
    nlohmann::json h = header;
    h.erase("seq");
    CHECK_THAT(Decode(with_header(h)).error, Catch::Contains("header.seq"));
  }
}
