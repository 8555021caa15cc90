#include "dyn4d/pipeline/codec.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace dyn4d::pipeline {
namespace {

using json = nlohmann::json;

// Largest image side accepted from the wire; bounds size arithmetic so a
// hostile header cannot overflow it.
constexpr int64_t kMaxImageSide = 1 << 16;
constexpr int64_t kMaxPoints = int64_t{1} << 31;

// A rejection while decoding; `status` says which kind.
struct DecodeError : std::runtime_error {
  DecodeError(DecodeResult::Status s, const std::string& what)
      : std::runtime_error(what), status(s) {}
  DecodeResult::Status status;
};

[[noreturn]] void Fail(const std::string& what) {
  throw DecodeError(DecodeResult::Status::kMalformed, what);
}

// ---- typed field access with the field's path in every error -------------

const json& Field(const json& obj, const std::string& path, const char* key) {
  if (!obj.is_object()) Fail(path + ": expected a map");
  auto it = obj.find(key);
  if (it == obj.end()) Fail("missing field '" + path + "." + key + "'");
  return *it;
}

std::string Join(const std::string& path, const char* key) { return path + "." + key; }

int64_t GetInt(const json& obj, const std::string& path, const char* key, int64_t lo, int64_t hi) {
  const json& v = Field(obj, path, key);
  if (!v.is_number_integer()) Fail("field '" + Join(path, key) + "': expected an integer");
  // Unsigned values above int64 max are out of every range we accept.
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    Fail("field '" + Join(path, key) + "': out of range");
  int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    Fail("field '" + Join(path, key) + "': value " + std::to_string(x) + " out of range [" +
         std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

uint64_t GetUint(const json& obj, const std::string& path, const char* key) {
  const json& v = Field(obj, path, key);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    Fail("field '" + Join(path, key) + "': expected an unsigned integer");
  return v.get<uint64_t>();
}

double GetDouble(const json& obj, const std::string& path, const char* key) {
  const json& v = Field(obj, path, key);
  if (!v.is_number()) Fail("field '" + Join(path, key) + "': expected a number");
  return v.get<double>();
}

float GetFloat(const json& obj, const std::string& path, const char* key) {
  return static_cast<float>(GetDouble(obj, path, key));
}

std::string GetString(const json& obj, const std::string& path, const char* key) {
  const json& v = Field(obj, path, key);
  if (!v.is_string()) Fail("field '" + Join(path, key) + "': expected a string");
  return v.get<std::string>();
}

// Detection::motion and Track::motion.
const std::initializer_list<const char*> kMotionValues = {"moving", "stopped"};

// A string field that must be one of `allowed` ("a, b or c" in the error).
std::string GetOneOf(const json& obj, const std::string& path, const char* key,
                     std::initializer_list<const char*> allowed) {
  std::string v = GetString(obj, path, key);
  std::string list;
  size_t k = 0;
  for (const char* a : allowed) {
    if (v == a) return v;
    if (k > 0) list += k + 1 == allowed.size() ? " or " : ", ";
    list += a;
    ++k;
  }
  Fail("field '" + Join(path, key) + "': '" + v + "' is not " + list);
}

bool GetBool(const json& obj, const std::string& path, const char* key) {
  const json& v = Field(obj, path, key);
  if (!v.is_boolean()) Fail("field '" + Join(path, key) + "': expected a boolean");
  return v.get<bool>();
}

const json& GetArray(const json& obj, const std::string& path, const char* key) {
  const json& v = Field(obj, path, key);
  if (!v.is_array()) Fail("field '" + Join(path, key) + "': expected an array");
  return v;
}

template <size_t N, typename T>
std::array<T, N> GetFixedArray(const json& obj, const std::string& path, const char* key) {
  const json& a = GetArray(obj, path, key);
  if (a.size() != N)
    Fail("field '" + Join(path, key) + "': expected " + std::to_string(N) + " numbers");
  std::array<T, N> out{};
  for (size_t i = 0; i < N; ++i) {
    if (!a[i].is_number()) Fail("field '" + Join(path, key) + "': expected numbers");
    out[i] = a[i].get<T>();
  }
  return out;
}

// ---- payload parts ----------------------------------------------------------

// Appends raw parts to the payload and describes each in the header.
class PartWriter {
 public:
  PartWriter(json& parts, std::vector<Buffer>& payload) : parts_(parts), payload_(payload) {}

  // Returns the part index, or -1 for an empty image (no part written).
  int AddImage(const std::string& name, const Image& img) {
    if (img.empty()) return -1;
    if (img.data.size() != img.ExpectedBytes())
      throw std::invalid_argument("image '" + name + "': buffer has " +
                                  std::to_string(img.data.size()) + " bytes, expected " +
                                  std::to_string(img.ExpectedBytes()));
    json d = {{"name", name},       {"kind", "image"},      {"encoding", ToString(img.encoding)},
              {"width", img.width}, {"height", img.height}, {"size", img.data.size()}};
    return Add(std::move(d), img.data);
  }

  int AddArray(const std::string& name, const char* dtype, uint32_t rows, int cols,
               const Buffer& data) {
    if (data.empty()) return -1;
    json d = {{"name", name},
              {"kind", "array"},
              {"dtype", dtype},
              {"shape", {rows, cols}},
              {"size", data.size()}};
    return Add(std::move(d), data);
  }

 private:
  int Add(json desc, const Buffer& data) {
    parts_.push_back(std::move(desc));
    payload_.push_back(data);
    return static_cast<int>(payload_.size()) - 1;
  }
  json& parts_;
  std::vector<Buffer>& payload_;
};

// Validates payload parts against their header descriptions.
class PartReader {
 public:
  PartReader(const json& parts, const std::vector<Buffer>& frames)
      : parts_(parts), frames_(frames) {
    if (frames_.size() - 2 != parts_.size())
      throw DecodeError(frames_.size() - 2 < parts_.size() ? DecodeResult::Status::kTruncated
                                                           : DecodeResult::Status::kMalformed,
                        "header declares " + std::to_string(parts_.size()) +
                            " payload parts, message has " + std::to_string(frames_.size() - 2));
    for (size_t i = 0; i < parts_.size(); ++i) {
      const std::string path = "parts[" + std::to_string(i) + "]";
      uint64_t size = GetUint(parts_[i], path, "size");
      if (size != frames_[i + 2].size())
        throw DecodeError(DecodeResult::Status::kTruncated,
                          path + " ('" + GetString(parts_[i], path, "name") + "'): declared " +
                              std::to_string(size) + " bytes, received " +
                              std::to_string(frames_[i + 2].size()));
    }
  }

  // index -1 means "no image".
  Image ReadImage(int64_t index, const std::string& what) const {
    if (index == -1) return {};
    CheckIndex(index, what);
    const json& d = parts_[index];
    const std::string path = "parts[" + std::to_string(index) + "]";
    if (GetString(d, path, "kind") != "image") Fail(what + ": part is not an image");
    Image img;
    auto enc = PixelEncodingFromString(GetString(d, path, "encoding"));
    if (!enc) Fail(what + ": unknown pixel encoding '" + GetString(d, path, "encoding") + "'");
    img.encoding = *enc;
    img.width = static_cast<int>(GetInt(d, path, "width", 1, kMaxImageSide));
    img.height = static_cast<int>(GetInt(d, path, "height", 1, kMaxImageSide));
    img.data = frames_[index + 2];
    if (img.data.size() != img.ExpectedBytes())
      Fail(what + ": " + std::to_string(img.width) + "x" + std::to_string(img.height) + " " +
           ToString(img.encoding) + " needs " + std::to_string(img.ExpectedBytes()) +
           " bytes, part has " + std::to_string(img.data.size()));
    return img;
  }

  Buffer ReadArray(int64_t index, const std::string& what, const char* dtype, uint64_t rows,
                   int cols, size_t elem_size) const {
    if (index == -1) return {};
    CheckIndex(index, what);
    const std::string path = "parts[" + std::to_string(index) + "]";
    if (GetString(parts_[index], path, "dtype") != dtype) Fail(what + ": expected dtype " + dtype);
    const Buffer& b = frames_[index + 2];
    if (b.size() != rows * cols * elem_size)
      Fail(what + ": " + std::to_string(rows) + "x" + std::to_string(cols) + " " + dtype +
           " needs " + std::to_string(rows * cols * elem_size) + " bytes, part has " +
           std::to_string(b.size()));
    return b;
  }

 private:
  void CheckIndex(int64_t index, const std::string& what) const {
    if (index < 0 || static_cast<size_t>(index) >= parts_.size())
      Fail(what + ": part index " + std::to_string(index) + " out of range");
  }
  const json& parts_;
  const std::vector<Buffer>& frames_;
};

// ---- per-type bodies --------------------------------------------------------

json BoxToJson(const Box2D& b) { return json::array({b.x, b.y, b.w, b.h}); }
Box2D BoxFromJson(const json& obj, const std::string& path) {
  auto a = GetFixedArray<4, float>(obj, path, "box");
  return {a[0], a[1], a[2], a[3]};
}

json IntrinsicsToJson(const CameraIntrinsics& k) {
  return {{"fx", k.fx}, {"fy", k.fy},       {"cx", k.cx},
          {"cy", k.cy}, {"width", k.width}, {"height", k.height}};
}
CameraIntrinsics IntrinsicsFromJson(const json& j, const std::string& p) {
  CameraIntrinsics k;
  k.fx = GetDouble(j, p, "fx");
  k.fy = GetDouble(j, p, "fy");
  k.cx = GetDouble(j, p, "cx");
  k.cy = GetDouble(j, p, "cy");
  k.width = static_cast<int>(GetInt(j, p, "width", 0, kMaxImageSide));
  k.height = static_cast<int>(GetInt(j, p, "height", 0, kMaxImageSide));
  return k;
}

void EncodeBody(const RgbdFrame& m, json& body, PartWriter& w) {
  body["intrinsics"] = IntrinsicsToJson(m.intrinsics);
  body["depth_scale"] = m.depth_scale;
  body["color"] = w.AddImage("color", m.color);
  body["depth"] = w.AddImage("depth", m.depth);
  if (m.depth_offset_ns != 0) body["depth_offset_ns"] = m.depth_offset_ns;
  if (!m.color_registered) body["color_registered"] = false;
}
void DecodeBody(const json& b, const PartReader& r, RgbdFrame& m) {
  m.intrinsics = IntrinsicsFromJson(Field(b, "body", "intrinsics"), "body.intrinsics");
  m.depth_scale = GetDouble(b, "body", "depth_scale");
  m.color = r.ReadImage(GetInt(b, "body", "color", -1, 1 << 20), "color");
  m.depth = r.ReadImage(GetInt(b, "body", "depth", -1, 1 << 20), "depth");
  // Optional (protocol 1.3): absent = simultaneous.
  if (b.contains("depth_offset_ns"))
    m.depth_offset_ns = GetInt(b, "body", "depth_offset_ns", -10'000'000'000LL, 10'000'000'000LL);
  // Optional (protocol 1.3): absent = registered.
  if (b.contains("color_registered")) m.color_registered = GetBool(b, "body", "color_registered");
  if (!m.depth.empty() && m.depth.encoding != PixelEncoding::kMono16 &&
      m.depth.encoding != PixelEncoding::kFloat32)
    Fail("depth: encoding must be mono16 or 32FC1, got " + ToString(m.depth.encoding));
}

void EncodeBody(const CameraPose& m, json& body, PartWriter&) {
  body["t_world_cam"] = m.t_world_cam;
  body["q_world_cam"] = m.q_world_cam;
  body["status"] = ToString(m.status);
}
void DecodeBody(const json& b, const PartReader&, CameraPose& m) {
  m.t_world_cam = GetFixedArray<3, double>(b, "body", "t_world_cam");
  m.q_world_cam = GetFixedArray<4, double>(b, "body", "q_world_cam");
  const std::string s = GetString(b, "body", "status");
  if (s == "ok")
    m.status = PoseStatus::kOk;
  else if (s == "lost")
    m.status = PoseStatus::kLost;
  else if (s == "ground_truth")
    m.status = PoseStatus::kGroundTruth;
  else
    Fail("body.status: unknown pose status '" + s + "'");
}

void EncodeBody(const PointCloud& m, json& body, PartWriter& w) {
  body["frame_id"] = m.frame_id;
  body["num_points"] = m.num_points;
  body["points"] = w.AddArray("points", "float32", m.num_points, 3, m.points);
  body["colors"] = w.AddArray("colors", "uint8", m.num_points, 3, m.colors);
  body["normals"] = w.AddArray("normals", "float32", m.num_points, 3, m.normals);
}
void DecodeBody(const json& b, const PartReader& r, PointCloud& m) {
  m.frame_id = GetString(b, "body", "frame_id");
  m.num_points = static_cast<uint32_t>(GetInt(b, "body", "num_points", 0, kMaxPoints - 1));
  const int64_t kMaxIdx = 1 << 20;
  m.points = r.ReadArray(GetInt(b, "body", "points", -1, kMaxIdx), "points", "float32",
                         m.num_points, 3, 4);
  m.colors =
      r.ReadArray(GetInt(b, "body", "colors", -1, kMaxIdx), "colors", "uint8", m.num_points, 3, 1);
  m.normals = r.ReadArray(GetInt(b, "body", "normals", -1, kMaxIdx), "normals", "float32",
                          m.num_points, 3, 4);
  if (m.num_points > 0 && m.points.empty()) Fail("points: missing for a non-empty cloud");
}

void EncodeBody(const Detections& m, json& body, PartWriter& w) {
  json items = json::array();
  for (size_t i = 0; i < m.items.size(); ++i) {
    const Detection& d = m.items[i];
    items.push_back({{"box", BoxToJson(d.box)},
                     {"class_id", d.class_id},
                     {"class_name", d.class_name},
                     {"score", d.score},
                     {"exit_index", d.exit_index},
                     {"mask", w.AddImage("mask/" + std::to_string(i), d.mask)},
                     {"track_id", d.track_id},
                     {"embedding", d.embedding}});
    if (d.has_position) {
      items.back()["position_world"] = d.position_world;
      items.back()["extent"] = d.extent;
    }
    if (!d.motion.empty()) items.back()["motion"] = d.motion;
  }
  body["items"] = std::move(items);
}
void DecodeBody(const json& b, const PartReader& r, Detections& m) {
  const json& items = GetArray(b, "body", "items");
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string p = "body.items[" + std::to_string(i) + "]";
    Detection d;
    d.box = BoxFromJson(items[i], p);
    d.class_id = static_cast<int>(GetInt(items[i], p, "class_id", -1, 1 << 30));
    d.class_name = GetString(items[i], p, "class_name");
    d.score = GetFloat(items[i], p, "score");
    d.exit_index = static_cast<int>(GetInt(items[i], p, "exit_index", -1, 64));
    d.mask = r.ReadImage(GetInt(items[i], p, "mask", -1, 1 << 20), p + ".mask");
    // Optional (added in protocol 1.1): older senders leave them out.
    if (items[i].contains("track_id"))
      d.track_id = GetInt(items[i], p, "track_id", -1, std::numeric_limits<int64_t>::max());
    if (items[i].contains("embedding")) {
      const json& e = GetArray(items[i], p, "embedding");
      for (const json& v : e) {
        if (!v.is_number()) Fail("field '" + p + ".embedding': expected numbers");
        d.embedding.push_back(v.get<float>());
      }
    }
    // Optional (protocol 1.2): present only on 3D proposals.
    if (items[i].contains("position_world")) {
      d.has_position = true;
      d.position_world = GetFixedArray<3, float>(items[i], p, "position_world");
      d.extent = GetFixedArray<3, float>(items[i], p, "extent");
    }
    if (items[i].contains("motion"))  // optional (1.3)
      d.motion = GetOneOf(items[i], p, "motion", kMotionValues);
    m.items.push_back(std::move(d));
  }
}

void EncodeBody(const Tracks& m, json& body, PartWriter& w) {
  json items = json::array();
  for (size_t i = 0; i < m.items.size(); ++i) {
    const Track& t = m.items[i];
    json j = {{"track_id", t.track_id},
              {"box", BoxToJson(t.box)},
              {"class_id", t.class_id},
              {"class_name", t.class_name},
              {"score", t.score},
              {"has_position", t.has_position},
              {"position_world", t.position_world},
              {"velocity_world", t.velocity_world},
              {"extent", t.extent},
              {"exit_index", t.exit_index},
              {"mask", w.AddImage("mask/" + std::to_string(i), t.mask)}};
    if (!t.state.empty()) j["state"] = t.state;
    if (!t.motion.empty()) j["motion"] = t.motion;
    items.push_back(std::move(j));
  }
  body["items"] = std::move(items);
}
void DecodeBody(const json& b, const PartReader& r, Tracks& m) {
  const json& items = GetArray(b, "body", "items");
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string p = "body.items[" + std::to_string(i) + "]";
    const json& j = items[i];
    Track t;
    t.track_id = GetInt(j, p, "track_id", -1, std::numeric_limits<int64_t>::max());
    t.box = BoxFromJson(j, p);
    t.class_id = static_cast<int>(GetInt(j, p, "class_id", -1, 1 << 30));
    t.class_name = GetString(j, p, "class_name");
    t.score = GetFloat(j, p, "score");
    t.has_position = GetBool(j, p, "has_position");
    t.position_world = GetFixedArray<3, float>(j, p, "position_world");
    t.velocity_world = GetFixedArray<3, float>(j, p, "velocity_world");
    t.extent = GetFixedArray<3, float>(j, p, "extent");
    // Added after v1 was published: optional, so older streams still decode.
    if (j.contains("exit_index"))
      t.exit_index = static_cast<int>(GetInt(j, p, "exit_index", -1, 64));
    t.mask = r.ReadImage(GetInt(j, p, "mask", -1, 1 << 20), p + ".mask");
    if (j.contains("state"))  // optional (protocol 1.2)
      t.state = GetOneOf(j, p, "state", {"tentative", "confirmed", "lost"});
    if (j.contains("motion"))  // optional (protocol 1.3)
      t.motion = GetOneOf(j, p, "motion", kMotionValues);
    m.items.push_back(std::move(t));
  }
}

void EncodeBody(const CognitiveMap& m, json& body, PartWriter&) {
  body["json"] = m.json;
  body["text"] = m.text;
}
void DecodeBody(const json& b, const PartReader&, CognitiveMap& m) {
  m.json = GetString(b, "body", "json");
  m.text = GetString(b, "body", "text");
}

void EncodeBody(const Query& m, json& body, PartWriter&) {
  body["request_id"] = m.request_id;
  body["question"] = m.question;
  body["options"] = m.options;
  body["t_begin_s"] = m.t_begin_s ? json(*m.t_begin_s) : json(nullptr);
  body["t_end_s"] = m.t_end_s ? json(*m.t_end_s) : json(nullptr);
}
std::optional<double> GetOptionalDouble(const json& b, const char* key) {
  const json& v = Field(b, "body", key);
  if (v.is_null()) return std::nullopt;
  return GetDouble(b, "body", key);
}
void DecodeBody(const json& b, const PartReader&, Query& m) {
  m.request_id = GetUint(b, "body", "request_id");
  m.question = GetString(b, "body", "question");
  const json& opts = GetArray(b, "body", "options");
  for (const json& o : opts) {
    if (!o.is_string()) Fail("body.options: expected strings");
    m.options.push_back(o.get<std::string>());
  }
  m.t_begin_s = GetOptionalDouble(b, "t_begin_s");
  m.t_end_s = GetOptionalDouble(b, "t_end_s");
}

void EncodeBody(const Answer& m, json& body, PartWriter&) {
  body["request_id"] = m.request_id;
  body["answer"] = m.answer;
  body["justification"] = m.justification;
  body["track_id"] = m.track_id;
  if (!m.question.empty()) body["question"] = m.question;
}
void DecodeBody(const json& b, const PartReader&, Answer& m) {
  m.request_id = GetUint(b, "body", "request_id");
  m.answer = GetString(b, "body", "answer");
  m.justification = GetString(b, "body", "justification");
  m.track_id = GetInt(b, "body", "track_id", -1, std::numeric_limits<int64_t>::max());
  if (b.contains("question")) m.question = GetString(b, "body", "question");  // optional (1.2)
}

void EncodeBody(const Stats& m, json& body, PartWriter&) {
  body = {{"node", m.node},
          {"fps", m.fps},
          {"latency_p50_ms", m.latency_p50_ms},
          {"latency_p95_ms", m.latency_p95_ms},
          {"run_latency_p50_ms", m.run_latency_p50_ms},
          {"run_latency_p95_ms", m.run_latency_p95_ms},
          {"queue_depth", m.queue_depth},
          {"processed", m.processed},
          {"emitted", m.emitted},
          {"dropped", m.dropped},
          {"errors", m.errors},
          {"counters", m.counters}};
}
void DecodeBody(const json& b, const PartReader&, Stats& m) {
  m.node = GetString(b, "body", "node");
  m.fps = GetDouble(b, "body", "fps");
  m.latency_p50_ms = GetDouble(b, "body", "latency_p50_ms");
  m.latency_p95_ms = GetDouble(b, "body", "latency_p95_ms");
  if (b.contains("run_latency_p50_ms")) {  // optional (protocol 1.3)
    m.run_latency_p50_ms = GetDouble(b, "body", "run_latency_p50_ms");
    m.run_latency_p95_ms = GetDouble(b, "body", "run_latency_p95_ms");
  }
  m.queue_depth = GetUint(b, "body", "queue_depth");
  m.processed = GetUint(b, "body", "processed");
  m.emitted = GetUint(b, "body", "emitted");
  m.dropped = GetUint(b, "body", "dropped");
  m.errors = GetUint(b, "body", "errors");
  if (b.contains("counters")) {  // optional (protocol 1.1)
    const json& c = b.at("counters");
    if (!c.is_object()) Fail("field 'body.counters': expected an object of numbers");
    for (const auto& [k, v] : c.items()) {
      if (!v.is_number()) Fail("field 'body.counters." + k + "': expected a number");
      m.counters[k] = v.get<double>();
    }
  }
}

void EncodeBody(const EndOfStream& m, json& body, PartWriter&) { body["reason"] = m.reason; }
void DecodeBody(const json& b, const PartReader&, EndOfStream& m) {
  m.reason = GetString(b, "body", "reason");
}

// Builds the variant alternative named `type`, or nullopt if none is.
template <size_t I = 0>
std::optional<Message> MakeByName(const std::string& type) {
  if constexpr (I < std::variant_size_v<Message>) {
    if (TypeNameAt(I) == type) return Message{std::in_place_index<I>};
    return MakeByName<I + 1>(type);
  } else {
    return std::nullopt;
  }
}

}  // namespace

std::string ToString(DecodeResult::Status s) {
  switch (s) {
    case DecodeResult::Status::kOk:
      return "ok";
    case DecodeResult::Status::kMalformed:
      return "malformed";
    case DecodeResult::Status::kTruncated:
      return "truncated";
    case DecodeResult::Status::kWrongVersion:
      return "wrong_version";
    case DecodeResult::Status::kUnknownType:
      return "unknown_type";
  }
  return "unknown";
}

WireMessage Encode(const std::string& topic, const Message& msg) {
  WireMessage wire;
  wire.topic = topic;
  const MessageMeta& meta = Meta(msg);
  json header = {{"v", kProtocolVersion},
                 {"type", TypeName(msg)},
                 {"seq", meta.seq},
                 {"stamp_ns", meta.stamp_ns},
                 {"source", meta.source_id}};
  json body = json::object();
  json parts = json::array();
  PartWriter writer(parts, wire.payload);
  std::visit([&](const auto& m) { EncodeBody(m, body, writer); }, msg);
  header["body"] = std::move(body);
  header["parts"] = std::move(parts);
  wire.header = json::to_msgpack(header);
  return wire;
}

DecodeResult Decode(const std::vector<Buffer>& frames) {
  DecodeResult result;
  try {
    if (frames.size() < 2)
      throw DecodeError(
          DecodeResult::Status::kTruncated,
          "expected at least 2 frames [topic, header], got " + std::to_string(frames.size()));
    result.topic = std::string(frames[0].view());
    json header;
    try {
      header = json::from_msgpack(frames[1].data(), frames[1].data() + frames[1].size());
    } catch (const json::parse_error& e) {
      // 110 is nlohmann's "unexpected end of input".
      throw DecodeError(
          e.id == 110 ? DecodeResult::Status::kTruncated : DecodeResult::Status::kMalformed,
          std::string("header is not valid msgpack: ") + e.what());
    }
    if (!header.is_object()) Fail("header: expected a map");
    const int64_t version = GetInt(header, "header", "v", std::numeric_limits<int>::min(),
                                   std::numeric_limits<int>::max());
    if (version != kProtocolVersion)
      throw DecodeError(DecodeResult::Status::kWrongVersion,
                        "protocol version " + std::to_string(version) + ", this build speaks " +
                            std::to_string(kProtocolVersion));
    const std::string type = GetString(header, "header", "type");
    std::optional<Message> msg = MakeByName(type);
    if (!msg)
      throw DecodeError(DecodeResult::Status::kUnknownType, "unknown message type '" + type + "'");
    MessageMeta& meta = Meta(*msg);
    meta.seq = GetUint(header, "header", "seq");
    meta.stamp_ns = GetInt(header, "header", "stamp_ns", std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max());
    meta.source_id = GetString(header, "header", "source");
    const json& body = Field(header, "header", "body");
    if (!body.is_object()) Fail("header.body: expected a map");
    PartReader reader(GetArray(header, "header", "parts"), frames);
    std::visit([&](auto& m) { DecodeBody(body, reader, m); }, *msg);
    result.message = std::move(*msg);
    result.status = DecodeResult::Status::kOk;
  } catch (const DecodeError& e) {
    result.status = e.status;
    result.error = e.what();
  } catch (const std::exception& e) {  // nlohmann type errors and the like
    result.status = DecodeResult::Status::kMalformed;
    result.error = e.what();
  }
  return result;
}

std::string Base64(const void* data, size_t size) {
  const auto* b = static_cast<const uint8_t*>(data);
  static const char* kTable = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < size; i += 3) {
    const uint32_t v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    out += kTable[v >> 18], out += kTable[(v >> 12) & 63], out += kTable[(v >> 6) & 63],
        out += kTable[v & 63];
  }
  if (i + 1 == size) {
    const uint32_t v = b[i] << 16;
    out += kTable[v >> 18], out += kTable[(v >> 12) & 63], out += "==";
  } else if (i + 2 == size) {
    const uint32_t v = (b[i] << 16) | (b[i + 1] << 8);
    out += kTable[v >> 18], out += kTable[(v >> 12) & 63], out += kTable[(v >> 6) & 63], out += '=';
  }
  return out;
}

}  // namespace dyn4d::pipeline
