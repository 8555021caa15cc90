// OUT/report.html: the built-in page with the run's data embedded.
#include "dyn4d/io/report.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <sstream>
#include <stdexcept>

#include "dyn4d/io/writers.h"
#include "dyn4d/pipeline/codec.h"

// The bundled page (build/io/web/dyn4d.html), linked in by web_page.S.
extern "C" const char dyn4d_web_html_begin[];
extern "C" const char dyn4d_web_html_end[];

namespace dyn4d::io {
namespace fs = std::filesystem;
using nlohmann::json;

const std::string& WebPageHtml() {
  static const std::string html(dyn4d_web_html_begin, dyn4d_web_html_end);
  return html;
}

namespace {

// Where the report's data goes in the page (a comment in its <head>).
constexpr const char* kDataMarker = "<!--DYN4D_REPORT-->";

// Up to `max` items of `v`, evenly spaced, first and last kept.
template <class T>
std::vector<T> Thin(const std::vector<T>& v, size_t max) {
  if (v.size() <= max || max < 2) return v;
  std::vector<T> out;
  out.reserve(max);
  for (size_t i = 0; i < max; ++i) out.push_back(v[i * (v.size() - 1) / (max - 1)]);
  return out;
}

double Round(double v, double unit) { return std::round(v / unit) * unit; }

// TUM lines "t tx ty tz ..." as [t, x, y, z].
std::vector<std::array<double, 4>> ReadTum(const fs::path& path) {
  std::vector<std::array<double, 4>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::array<double, 4> p{};
    if (s >> p[0] >> p[1] >> p[2] >> p[3]) out.push_back(p);
  }
  return out;
}

json PathJson(const std::vector<std::array<double, 4>>& path, size_t max) {
  json out = json::array();
  for (const auto& p : Thin(path, max))
    out.push_back({Round(p[0], 1e-3), Round(p[1], 1e-4), Round(p[2], 1e-4), Round(p[3], 1e-4)});
  return out;
}

double PathLength(const std::vector<std::array<double, 4>>& path) {
  double length = 0;
  for (size_t i = 1; i < path.size(); ++i)
    length += std::hypot(path[i][1] - path[i - 1][1], path[i][2] - path[i - 1][2],
                         path[i][3] - path[i - 1][3]);
  return length;
}

template <class F>
void ForEachJsonLine(const fs::path& path, F&& f) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) f(j);
  }
}

// Objects from tracks.jsonl: class, visibility spans, trajectory, exits.
json ObjectsJson(const fs::path& path, const ReportOptions& o, int* count) {
  struct Object {
    std::string cls;
    std::vector<double> times;
    std::vector<std::array<double, 4>> track;
    std::map<int, int> exits;
  };
  std::map<int64_t, Object> objects;
  std::vector<double> all_times;
  ForEachJsonLine(path, [&](const json& j) {
    if (!j.contains("track_id") || !j.contains("t")) return;
    Object& obj = objects[j["track_id"].get<int64_t>()];
    const double t = j["t"].get<double>();
    obj.cls = j.value("class", obj.cls);
    obj.times.push_back(t);
    all_times.push_back(t);
    if (j.contains("position_world") && j["position_world"].size() == 3) {
      const auto& p = j["position_world"];
      obj.track.push_back({t, p[0].get<double>(), p[1].get<double>(), p[2].get<double>()});
    }
    if (j.value("exit", 0) > 0) ++obj.exits[j["exit"].get<int>()];
  });
  // Visibility spans: a gap of more than three frame periods ends one.
  std::sort(all_times.begin(), all_times.end());
  all_times.erase(std::unique(all_times.begin(), all_times.end()), all_times.end());
  double period = 1.0 / 30;
  if (all_times.size() > 2) {
    std::vector<double> gaps;
    for (size_t i = 1; i < all_times.size(); ++i) gaps.push_back(all_times[i] - all_times[i - 1]);
    std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
    period = std::max(1e-3, gaps[gaps.size() / 2]);
  }
  json out = json::array();
  for (auto& [id, obj] : objects) {
    std::sort(obj.times.begin(), obj.times.end());
    json spans = json::array();
    double begin = obj.times.front(), last = begin;
    for (double t : obj.times) {
      if (t - last > 3 * period) {
        spans.push_back({Round(begin, 1e-3), Round(last, 1e-3)});
        begin = t;
      }
      last = t;
    }
    spans.push_back({Round(begin, 1e-3), Round(last, 1e-3)});
    json exits = json::object();
    for (const auto& [e, n] : obj.exits) exits[std::to_string(e)] = n;
    out.push_back({{"id", id},
                   {"class", obj.cls.empty() ? "object" : obj.cls},
                   {"frames", obj.times.size()},
                   {"spans", spans},
                   {"track", PathJson(obj.track, o.max_object_points)},
                   {"exits", exits}});
  }
  *count = static_cast<int>(objects.size());
  return out;
}

// Per-node series from stats.jsonl, and the last value of every counter
// named exit_N (the recognition's early-exit histogram, summed over nodes).
void StatsJson(const fs::path& path, json* nodes, json* exits, double* last_t) {
  std::map<std::string, json> series;
  std::map<std::string, std::map<std::string, double>> last_counters;
  ForEachJsonLine(path, [&](const json& j) {
    const std::string node = j.value("node", "");
    if (node.empty()) return;
    json& s = series[node];
    if (s.is_null())
      s = {{"t", json::array()},
           {"fps", json::array()},
           {"p50", json::array()},
           {"p95", json::array()}};
    const double t = j.value("t_s", 0.0);
    *last_t = std::max(*last_t, t);
    s["t"].push_back(Round(t, 1e-2));
    s["fps"].push_back(Round(j.value("fps", 0.0), 1e-2));
    s["p50"].push_back(Round(j.value("latency_p50_ms", 0.0), 1e-3));
    s["p95"].push_back(Round(j.value("latency_p95_ms", 0.0), 1e-3));
    if (j.contains("counters") && j["counters"].is_object())
      for (const auto& [k, v] : j["counters"].items())
        if (k.rfind("exit_", 0) == 0 && v.is_number()) last_counters[node][k] = v.get<double>();
  });
  *nodes = json::object();
  for (auto& [node, s] : series) (*nodes)[node] = std::move(s);
  std::map<std::string, double> total;
  for (const auto& [node, counters] : last_counters)
    for (const auto& [k, v] : counters) total[k] += v;
  *exits = json::object();
  for (const auto& [k, v] : total) (*exits)[k] = v;
}

// Evenly spaced frames of the overlay video as JPEG data.
json ThumbnailsJson(const fs::path& path, const ReportOptions& o, int* count) {
  json out = json::array();
  cv::VideoCapture video(path.string());
  if (!video.isOpened()) return out;
  const double fps = video.get(cv::CAP_PROP_FPS) > 0 ? video.get(cv::CAP_PROP_FPS) : 30;
  const int frames = static_cast<int>(video.get(cv::CAP_PROP_FRAME_COUNT));
  const int wanted = std::max(0, std::min(o.thumbnails, frames));
  for (int k = 0; k < wanted; ++k) {
    const int index = wanted == 1 ? 0 : k * (frames - 1) / (wanted - 1);
    video.set(cv::CAP_PROP_POS_FRAMES, index);
    cv::Mat frame, small;
    if (!video.read(frame) || frame.empty()) continue;
    const double scale = std::min(1.0, double(o.thumbnail_width) / frame.cols);
    cv::resize(frame, small, cv::Size(), scale, scale, cv::INTER_AREA);
    std::vector<uint8_t> jpeg;
    cv::imencode(".jpg", small, jpeg, {cv::IMWRITE_JPEG_QUALITY, 80});
    out.push_back({{"t", Round(index / fps, 1e-3)},
                   {"frame", index},
                   {"jpeg", pipeline::Base64(jpeg.data(), jpeg.size())}});
  }
  *count = static_cast<int>(out.size());
  return out;
}

// The map's points (binary little-endian PLY with float x, y, z and uchar
// red, green, blue, as dyn4d writes it), thinned: base64 of float32 xyz and
// uint8 rgb arrays.
json MapJson(const fs::path& path, const ReportOptions& o, int* count) {
  std::ifstream in(path, std::ios::binary);
  std::string line, format;
  size_t vertices = 0, stride = 0;
  std::map<std::string, std::pair<size_t, std::string>> props;  // name -> offset, type
  bool in_vertex = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream s(line);
    std::string word;
    s >> word;
    if (word == "format") {
      s >> format;
    } else if (word == "element") {
      std::string name;
      s >> name;
      in_vertex = name == "vertex";
      if (in_vertex) s >> vertices;
    } else if (word == "property" && in_vertex) {
      std::string type, name;
      s >> type >> name;
      const size_t size = type == "float" || type == "float32" || type == "int" ? 4
                          : type == "double"                                    ? 8
                          : type == "uchar" || type == "uint8"                  ? 1
                                                                                : 0;
      if (size == 0) return json();  // lists or types the report does not read
      props[name] = {stride, type};
      stride += size;
    } else if (word == "end_header") {
      break;
    }
  }
  for (const char* p : {"x", "y", "z"})
    if (!props.count(p) || (props[p].second != "float" && props[p].second != "float32"))
      return json();
  if (format != "binary_little_endian" || vertices == 0) return json();
  const bool colour = props.count("red") && props.count("green") && props.count("blue");
  const size_t step = std::max<size_t>(1, (vertices + o.max_map_points - 1) / o.max_map_points);
  std::vector<char> row(stride);
  std::vector<float> xyz;
  std::vector<uint8_t> rgb;
  for (size_t i = 0; i < vertices && in.read(row.data(), stride); ++i) {
    if (i % step) continue;
    for (const char* p : {"x", "y", "z"}) {
      float v;
      std::memcpy(&v, row.data() + props[p].first, 4);
      xyz.push_back(v);
    }
    for (const char* p : {"red", "green", "blue"})
      rgb.push_back(colour ? static_cast<uint8_t>(row[props[p].first]) : 160);
  }
  *count = static_cast<int>(xyz.size() / 3);
  return {{"points", *count},
          {"xyz_f32", pipeline::Base64(xyz.data(), xyz.size() * sizeof(float))},
          {"rgb_u8", pipeline::Base64(rgb.data(), rgb.size())}};
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  return buf;
}

}  // namespace

ReportResult WriteReport(const ReportOptions& o) {
  const fs::path dir(o.output_dir);
  if (!fs::is_directory(dir))
    throw std::runtime_error("report: output folder '" + o.output_dir + "' does not exist");
  ReportResult r;
  auto have = [&](const char* name) {
    if (fs::exists(dir / name)) return true;
    r.missing.push_back(name);
    return false;
  };
  json data;
  const std::string folder = fs::absolute(dir).lexically_normal().filename().string();
  data["title"] = o.title.empty() ? (folder.empty() ? std::string("dyn4d run") : folder) : o.title;
  data["generated"] = UtcNow();

  std::vector<std::array<double, 4>> path;
  if (have("trajectory.tum")) path = ReadTum(dir / "trajectory.tum");
  data["trajectory"] = PathJson(path, o.max_path_points);
  if (fs::exists(dir / "trajectory_gt.tum"))
    data["trajectory_gt"] = PathJson(ReadTum(dir / "trajectory_gt.tum"), o.max_path_points);
  r.frames = static_cast<int>(path.size());

  data["objects"] =
      have("tracks.jsonl") ? ObjectsJson(dir / "tracks.jsonl", o, &r.objects) : json::array();
  json nodes = json::object(), exits = json::object();
  double last_t = 0;
  if (have("stats.jsonl")) StatsJson(dir / "stats.jsonl", &nodes, &exits, &last_t);
  data["nodes"] = nodes;
  data["exits"] = exits;

  json events = json::array();
  data["answers"] = json::array();
  if (have("reasoning.jsonl"))
    ForEachJsonLine(dir / "reasoning.jsonl", [&](const json& j) {
      const std::string kind = j.value("kind", "");
      if (kind == "cognitive_map" && j.contains("map") && j["map"].contains("events"))
        events = j["map"]["events"];  // the last map holds every event
      else if (kind == "answer")
        data["answers"].push_back({{"question", j.value("question", "")},
                                   {"answer", j.value("answer", "")},
                                   {"justification", j.value("justification", "")}});
    });
  data["events"] = events;
  data["reasoning"] = have("reasoning.txt") ? ReadText(dir / "reasoning.txt") : "";
  data["thumbnails"] =
      have("overlay.mp4") ? ThumbnailsJson(dir / "overlay.mp4", o, &r.thumbnails) : json::array();
  data["map"] = have("map_points.ply") ? MapJson(dir / "map_points.ply", o, &r.map_points) : json();

  const double elapsed = o.elapsed_s > 0 ? o.elapsed_s : last_t;
  const double video_s = path.size() > 1 ? path.back()[0] - path.front()[0] : 0;
  data["summary"] = {{"frames", r.frames},
                     {"video_s", Round(video_s, 1e-2)},
                     {"elapsed_s", Round(elapsed, 1e-2)},
                     {"fps", elapsed > 0 ? Round(r.frames / elapsed, 1e-2) : 0.0},
                     {"objects", r.objects},
                     {"path_m", Round(PathLength(path), 1e-3)},
                     {"answers", data["answers"].size()}};
  data["missing"] = r.missing;

  // Embedded in a <script>: "</" must not end it early.
  std::string text = data.dump(-1, ' ', false, json::error_handler_t::replace);
  for (size_t at = 0; (at = text.find("</", at)) != std::string::npos; at += 3)
    text.replace(at, 2, "<\\/");
  std::string html = WebPageHtml();
  const size_t marker = html.find(kDataMarker);
  const std::string script = "<script>window.DYN4D_REPORT=" + text + ";</script>";
  if (marker == std::string::npos)
    html.insert(0, script);
  else
    html.replace(marker, std::strlen(kDataMarker), script);

  r.path = (dir / o.file).string();
  AtomicFile out(r.path);
  out.stream() << html;
  out.Commit();
  r.bytes = html.size();
  return r;
}

}  // namespace dyn4d::io
