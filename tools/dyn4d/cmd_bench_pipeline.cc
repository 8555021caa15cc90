// `dyn4d bench pipeline`: the default graph end to end, each case a child
// `dyn4d run` (so CPU time and peak memory are that run's alone, from
// wait4's rusage): real 640x480 RGB-D sequences of ../shared, the synthetic
// scene at three sizes and with 1, 10 and 50 moving objects; the real ones
// also split over processes (one `dyn4d node` per node, tcp on loopback),
// and one replayed at a camera's pace for latency without queueing.
// Frames/s from the run's own summary; per-node p95 latency from its
// stats.jsonl; capture -> cognitive-map latency from its trace (--trace).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "dyn4d/pipeline/config.h"
#include "graph_run.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string name, input;
  bool real = false;
};

// Which nodes of the graph a latency is measured between.
struct GraphRoles {
  std::string source;  ///< the input node (type input): capture
  std::string reason;  ///< the reason node: the cognitive map's update
  int lookahead = 0;   ///< frames the geometry node waits for (offline)
};

GraphRoles RolesOf(const pipeline::GraphConfig& g) {
  GraphRoles r;
  for (const pipeline::NodeConfig& n : g.nodes) {
    if (n.type == "input") r.source = n.name;
    if (n.type == "reason") r.reason = n.name;
    if (n.type == "geometry")
      r.lookahead = std::max(r.lookahead, n.params->GetInt("lookahead_frames", 0, 0, 1 << 20));
  }
  return r;
}

constexpr uint64_t kWarmUpFrames = 30;

struct Latency {
  int frames = 0;  ///< frames with both ends in the trace
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;
};

struct TraceSummary {
  int frames_sent = 0;  ///< frames the source sent
  Latency latency;
};

// Capture -> cognitive-map latency per frame from a run's trace files
// (trace.csv, or trace.NODE.csv of a graph split over processes; one clock):
// the reason node done with frame N's tracks, minus when the source sent
// frame N + lookahead (the last frame the geometry node waited for, so the
// look-ahead itself is excluded). Steady state: the first second (30 frames)
// of map updates, with the start-up (models loaded, the first look-ahead
// window segmented at once), and the last `lookahead` frames, released
// together by the end of the stream, are left out.
TraceSummary ReadTrace(const std::string& dir, const GraphRoles& roles) {
  std::map<uint64_t, int64_t> sent, mapped;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("trace", 0) != 0 || it->path().extension() != ".csv") continue;
    std::ifstream in(it->path());
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::stringstream row(line);
      std::string node, port, seq, ns;
      if (!std::getline(row, node, ',') || !std::getline(row, port, ',') ||
          !std::getline(row, seq, ',') || !std::getline(row, ns))
        continue;
      if (node == roles.source && port == "frames")
        sent[std::stoull(seq)] = std::stoll(ns);
      else if (node == roles.reason && port == "tracks")
        mapped[std::stoull(seq)] = std::stoll(ns);
    }
  }
  TraceSummary t;
  t.frames_sent = int(sent.size());
  if (sent.empty()) return t;
  const uint64_t last = sent.rbegin()->first;
  std::vector<double> ms;
  for (const auto& [seq, done] : mapped) {
    if (seq < kWarmUpFrames || (roles.lookahead > 0 && seq + roles.lookahead > last)) continue;
    const auto from = sent.find(seq + roles.lookahead);
    if (from != sent.end()) ms.push_back((done - from->second) / 1e6);
  }
  if (ms.empty()) return t;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, size_t(q * (ms.size() - 1) + 0.5))];
  };
  Latency& l = t.latency;
  l.frames = int(ms.size());
  l.p50_ms = at(0.5), l.p95_ms = at(0.95), l.p99_ms = at(0.99);
  return t;
}

struct CaseResult {
  bool ok = false;
  int frames = 0;
  double seconds = 0, fps = 0, cpu_s = 0, peak_mib = 0;
  std::string slowest;  ///< node with the highest median p95 over the run
  double slowest_p95_ms = 0;
  Latency latency;
};

// Starts this binary with `args` (args[0] its name), stdout and stderr into
// `log`; returns the child's pid.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
  std::fflush(stdout);  // else the child writes our buffered lines again
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (f) dup2(fileno(stdout), STDERR_FILENO);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  return pid;
}

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double CpuSeconds(const rusage& u) {
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

// Runs a child to its end; its exit code and rusage back.
int RunChild(const std::vector<std::string>& args, const std::string& log, rusage* usage) {
  const pid_t pid = Spawn(args, log);
  int status = 0;
  if (pid < 0 || wait4(pid, &status, 0, usage) < 0) return -1;
  return ExitCode(status);
}

// The slowest node of a run: the highest median of its per-second p95
// latencies, over its stats files (stats.jsonl, or stats.NODE.jsonl each);
// the source is left out (a paced one waits for its frames' time).
void FindSlowest(const std::string& dir, const std::string& source, CaseResult& r) {
  std::map<std::string, std::vector<double>> p95;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().rfind("stats", 0) != 0 || it->path().extension() != ".jsonl")
      continue;
    std::ifstream stats(it->path());
    std::string line;
    while (std::getline(stats, line)) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.value("processed", 0) > 0 && j.value("node", "") != source)
        p95[j.value("node", "")].push_back(j.value("latency_p95_ms", 0.0));
    }
  }
  for (auto& [node, v] : p95) {
    std::sort(v.begin(), v.end());
    const double median = v[v.size() / 2];
    if (median > r.slowest_p95_ms) r.slowest = node, r.slowest_p95_ms = median;
  }
}

// One case in one process: `dyn4d run` with `extra` arguments.
CaseResult Measure(const Case& c, const std::string& work, const std::string& config,
                   const GraphRoles& roles, const std::vector<std::string>& extra = {}) {
  CaseResult r;
  const std::string out = work + "/" + c.name;
  const std::string log = out + ".log";
  rusage usage{};
  std::vector<std::string> args = {"dyn4d", "run",         "--input", c.input,    "--out",
                                   out,     "--no-report", "--trace", "--config", config};
  args.insert(args.end(), extra.begin(), extra.end());
  const int rc = RunChild(args, log, &usage);
  r.cpu_s = CpuSeconds(usage);
  r.peak_mib = usage.ru_maxrss / 1024.0;
  std::ifstream in(log);
  std::string line;
  static const std::regex kOverall(R"(overall: (\d+) frames in ([0-9.]+) s, ([0-9.]+) frames/s)");
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, kOverall)) {
      r.frames = std::stoi(m[1]);
      r.seconds = std::stod(m[2]);
      r.fps = std::stod(m[3]);
    }
  r.ok = rc == 0 && r.frames > 0;
  FindSlowest(out, roles.source, r);
  r.latency = ReadTrace(out, roles).latency;
  if (!r.ok)
    std::fprintf(stderr, "  %s failed (exit %d): see %s\n", c.name.c_str(), rc, log.c_str());
  return r;
}

// A free TCP port on loopback (the kernel's choice; free when it returns).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

// The graph file's text for a run the bench writes itself: its input node's
// `params: {kind: synthetic}` replaced by `input_params` and model paths made
// absolute (the copy lives elsewhere). Empty when the graph has no such node.
std::string GraphVariant(const std::string& config, const std::string& input_params) {
  std::string text;
  {
    std::ifstream in(config);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string default_input = "params: {kind: synthetic}";
  const size_t at = text.find(default_input);
  if (at == std::string::npos) {
    std::fprintf(stderr, "%s: the bench needs the input node's %s (as configs/offline.yaml)\n",
                 config.c_str(), default_input.c_str());
    return "";
  }
  text.replace(at, default_input.size(), input_params);
  const std::string config_dir = fs::absolute(config).parent_path().string();
  const std::string relative = " models/", absolute = " " + config_dir + "/models/";
  for (size_t i = 0; (i = text.find(relative, i)) != std::string::npos; i += absolute.size())
    text.replace(i, relative.size(), absolute);
  return text;
}

// One case with every node in its own process (`dyn4d node`), every topic
// over tcp on loopback: wall time from the first start to the last exit,
// CPU summed over the processes, peak memory their peaks summed.
CaseResult MeasureSplit(const Case& c, const std::string& work, const std::string& config,
                        const pipeline::GraphConfig& g, const GraphRoles& roles) {
  CaseResult r;
  const std::string name = c.name + "_split";
  const std::string out = work + "/" + name;
  fs::create_directories(out);
  std::string text = GraphVariant(config, "params: {kind: auto, path: \"" + c.input + "\"}");
  if (text.empty()) return r;
  if (text.find("\ntopics:") != std::string::npos) {
    std::fprintf(stderr,
                 "%s: the split case sets every topic's endpoint itself; this graph has "
                 "its own topics section\n",
                 config.c_str());
    return r;
  }
  text += "\ntopics:\n";
  for (const auto& [topic, t] : g.topics)
    text += "  " + topic + ": {endpoint: \"tcp://127.0.0.1:" + std::to_string(FreePort()) + "\"}\n";
  const std::string graph = work + "/" + name + ".yaml";
  std::ofstream(graph) << text;
  const auto start = std::chrono::steady_clock::now();
  std::map<pid_t, std::string> running;
  for (const pipeline::NodeConfig& n : g.nodes)
    running[Spawn({"dyn4d", "node", n.name, "--config", graph, "--out", out, "--trace"},
                  out + "/" + n.name + ".log")] = n.name;
  bool ok = true;
  while (!running.empty()) {
    int status = 0;
    rusage usage{};
    const pid_t pid = wait4(-1, &status, 0, &usage);
    if (pid < 0) break;
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    r.cpu_s += CpuSeconds(usage);
    r.peak_mib += usage.ru_maxrss / 1024.0;
    if (ExitCode(status) != 0) {
      ok = false;
      std::fprintf(stderr, "  %s: node '%s' failed (exit %d): see %s/%s.log\n", name.c_str(),
                   it->second.c_str(), ExitCode(status), out.c_str(), it->second.c_str());
    }
    running.erase(it);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const TraceSummary trace = ReadTrace(out, roles);
  r.latency = trace.latency;
  r.frames = trace.frames_sent;
  r.fps = r.seconds > 0 ? r.frames / r.seconds : 0;
  r.ok = ok && r.frames > 0;
  FindSlowest(out, roles.source, r);
  return r;
}

void PrintRow(const std::string& name, const CaseResult& r) {
  std::printf("%-26s %6d %6.1f %5.2f %6.0f %6.0f %6.0f %6.0f  %s (%.0f)\n", name.c_str(), r.frames,
              r.fps, r.seconds > 0 ? r.cpu_s / r.seconds : 0.0, r.peak_mib, r.latency.p50_ms,
              r.latency.p95_ms, r.latency.p99_ms, r.slowest.c_str(), r.slowest_p95_ms);
  std::fflush(stdout);
}

// Field by field medians of several runs of one case (the slowest node named
// as in the first run).
CaseResult MedianResult(const std::vector<CaseResult>& runs) {
  CaseResult m;
  if (runs.empty()) return m;
  auto median = [&](auto field) {
    std::vector<double> v;
    for (const CaseResult& r : runs) v.push_back(field(r));
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  m.ok = true;
  m.frames = runs.front().frames;
  m.slowest = runs.front().slowest;
  m.seconds = median([](const CaseResult& r) { return r.seconds; });
  m.fps = median([](const CaseResult& r) { return r.fps; });
  m.cpu_s = median([](const CaseResult& r) { return r.seconds > 0 ? r.cpu_s / r.seconds : 0; }) *
            m.seconds;
  m.peak_mib = median([](const CaseResult& r) { return r.peak_mib; });
  m.slowest_p95_ms = median([](const CaseResult& r) { return r.slowest_p95_ms; });
  m.latency.frames = runs.front().latency.frames;
  m.latency.p50_ms = median([](const CaseResult& r) { return r.latency.p50_ms; });
  m.latency.p95_ms = median([](const CaseResult& r) { return r.latency.p95_ms; });
  m.latency.p99_ms = median([](const CaseResult& r) { return r.latency.p99_ms; });
  return m;
}

// Resident memory (KiB: all, and the anonymous part, which is the heap;
// the rest is mapped files, such as library code paged in when first run)
// and open file descriptors of a process, from /proc.
struct ProcessSample {
  long rss_kib = 0, anon_kib = 0, fds = 0;
};
ProcessSample SampleProcess(pid_t pid) {
  ProcessSample p;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) p.rss_kib = std::stol(line.substr(6));
    if (line.rfind("RssAnon:", 0) == 0) p.anon_kib = std::stol(line.substr(8));
  }
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    ++p.fds;
  return p;
}

// Least-squares slope of y over x, and the half-width of its 95 %
// confidence interval (Student's t, n - 2 degrees of freedom; 2 for large n):
// a slope over a short window of noisy samples says little, and this says
// how little.
struct SlopeFit {
  double slope = 0, ci95 = 0;
};
SlopeFit FitSlope(const std::vector<double>& x, const std::vector<double>& y) {
  SlopeFit f;
  const size_t n = x.size();
  if (n < 3) return f;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mx += x[i], my += y[i];
  mx /= n, my /= n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; ++i) sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
  if (!(sxx > 0)) return f;
  f.slope = sxy / sxx;
  double residuals = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = y[i] - my - f.slope * (x[i] - mx);
    residuals += r * r;
  }
  const double dof = double(n - 2);
  const double t95 = dof >= 30 ? 2.0 : dof >= 20 ? 2.086 : dof >= 10 ? 2.228 : 2.776;
  f.ci95 = t95 * std::sqrt(residuals / dof / sxx);
  return f;
}

// What a run's stats.jsonl says about its warm-up: every bounded structure
// (a node counter NAME with a cap NAME_max: the TSDF's blocks, the point
// map's points) grows until it is full or the scene is covered; memory can
// only be flat after the last of them stopped growing. The stream ends when
// the per-frame nodes have processed their last frame (the outputs written
// after that are not the steady state).
struct WarmUp {
  struct Structure {
    std::string name;  // node.counter
    double cap = 0, value = 0;
    double full_t = -1;        // when it reached its cap; -1 never
    double last_growth_t = 0;  // when it last grew
    double settled_t() const { return full_t >= 0 ? full_t : last_growth_t; }
  };
  std::vector<Structure> structures;
  double end_t = 0;  // warm-up over (the last structure settled)
  double stream_end_t = 0;
};

WarmUp ReadWarmUp(const std::string& stats_file, int frames) {
  std::map<std::string, WarmUp::Structure> structures;
  std::map<std::string, std::pair<uint64_t, double>> done;  // node: processed, first t at it
  std::ifstream stats(stats_file);
  std::string line;
  while (std::getline(stats, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    const std::string node = j.value("node", "");
    const double t = j.value("t_s", 0.0);
    const uint64_t processed = j.value("processed", uint64_t{0});
    auto& d = done[node];
    if (processed > d.first) d = {processed, t};
    const auto counters = j.value("counters", nlohmann::json::object());
    for (const auto& [key, value] : counters.items()) {
      const auto cap = counters.find(key + "_max");
      if (cap == counters.end() || !value.is_number()) continue;
      WarmUp::Structure& s = structures[node + "." + key];
      s.cap = cap->get<double>();
      const double v = value.get<double>();
      if (v > s.value) s.last_growth_t = t;
      s.value = v;
      if (s.full_t < 0 && v >= s.cap) s.full_t = t;
    }
  }
  WarmUp w;
  for (auto& [name, s] : structures) {
    s.name = name;
    w.end_t = std::max(w.end_t, s.settled_t());
    w.structures.push_back(s);
  }
  for (const auto& [node, d] : done)
    if (d.first * 2 >= static_cast<uint64_t>(frames))
      w.stream_end_t = std::max(w.stream_end_t, d.second);
  return w;
}

// A long synthetic run: memory and file descriptors sampled every second;
// the slope from the end of the warm-up (read from the run's stats) to the
// end of the stream.
int RunLong(const PipelineBenchOptions& o, const std::string& work) {
  // The default graph with the synthetic scene (small frames) for its input.
  const std::string graph = work + "/long.yaml";
  std::string text = GraphVariant(
      o.config.empty() ? DefaultOfflineConfig() : o.config,
      "params: {frames: " + std::to_string(o.long_frames) + ", width: 160, height: 120}");
  const std::string input_type = "    type: input\n";
  const size_t a = text.find(input_type);
  if (a == std::string::npos) {
    std::fprintf(stderr, "--long needs the default graph's input node (%s)\n", input_type.c_str());
    return 2;
  }
  text.replace(a, input_type.size(), "    type: synthetic_rgbd\n");
  // Caps small enough that every bounded structure fills in the first
  // seconds, so that most of the run is steady state (where the graph does
  // not set them itself): the point map at o.long_map_points, the
  // cognitive map's history at o.long_history_s of stream time, the
  // overlay's files at o.long_overlay_frames (the defaults, 2 M points, 30
  // minutes and 18,000 frames, fill after about 57 s, 54,000 and 18,000
  // frames here). The mechanism measured is the same.
  YAML::Node root = YAML::Load(text);
  int capped = 0;
  for (auto node : root["nodes"]) {
    const std::string type = node.second["type"].as<std::string>("");
    YAML::Node params = node.second["params"];
    if (type == "cloud_map_writer" && o.long_map_points > 0 && !params["max_points"])
      params["max_points"] = o.long_map_points, ++capped;
    if (type == "reason" && o.long_history_s > 0 && !params["history_s"])
      params["history_s"] = o.long_history_s, ++capped;
    if (type == "overlay_video" && o.long_overlay_frames > 0 && !params["segment_frames"])
      params["segment_frames"] = o.long_overlay_frames, ++capped;
  }
  YAML::Emitter emitted;
  emitted << root;
  std::ofstream(graph) << emitted.c_str() << "\n";
  std::printf(
      "long run: %d synthetic 160x120 frames (%s; point map cap %d, cognitive-map history %.0f "
      "s, overlay files of %d frames: %d caps set)\n",
      o.long_frames, graph.c_str(), o.long_map_points, o.long_history_s, o.long_overlay_frames,
      capped);
  const pid_t pid =
      Spawn({"dyn4d", "run", "--config", graph, "--out", work + "/long", "--no-report", "-q"},
            work + "/long.log");
  std::vector<double> t, rss, anon, fds;
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    const ProcessSample p = SampleProcess(pid);
    if (p.rss_kib > 0) {
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      rss.push_back(p.rss_kib / 1024.0);
      anon.push_back(p.anon_kib / 1024.0);
      fds.push_back(double(p.fds));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (ExitCode(status) != 0 || t.size() < 10) {
    std::fprintf(stderr, "long run failed or too short (see %s/long.log)\n", work.c_str());
    return 1;
  }
  {
    std::ofstream csv(work + "/long_memory.csv");
    csv << "t_s,rss_mib,anon_mib,open_files\n";
    for (size_t i = 0; i < t.size(); ++i)
      csv << t[i] << ',' << rss[i] << ',' << anon[i] << ',' << fds[i] << '\n';
  }
  const WarmUp warm = ReadWarmUp(work + "/long/stats.jsonl", o.long_frames);
  for (const WarmUp::Structure& s : warm.structures) {
    if (s.full_t >= 0)
      std::printf("  %-24s full (%.0f) at %.1f s\n", s.name.c_str(), s.cap, s.full_t);
    else
      std::printf("  %-24s %.0f of %.0f, last grew at %.1f s\n", s.name.c_str(), s.value, s.cap,
                  s.last_growth_t);
  }
  // The samples between the end of the warm-up and the end of the stream
  // (the stats' clock starts with the run, within a second of the samples').
  // The stream's end is known to a stats period: the last second is left
  // out, as the outputs written at the end (the map's mesh) may be in it
  // (one such sample, 30 MiB up, made a 24-sample slope 23.6 instead of 6.3).
  std::vector<double> tt, rr, aa, ff;
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i] >= warm.end_t && t[i] <= warm.stream_end_t - 1.0)
      tt.push_back(t[i]), rr.push_back(rss[i]), aa.push_back(anon[i]), ff.push_back(fds[i]);
  std::printf("stream over at %.1f s; warm-up over at %.1f s\n", warm.stream_end_t, warm.end_t);
  if (tt.size() < 10) {
    std::printf(
        "memory not measured: under 10 samples (s) between the end of the warm-up and the end of "
        "the stream; run more frames\n");
    std::printf("long_rss_slope_mib_per_min nan\n");
    return 0;
  }
  const SlopeFit rss_fit = FitSlope(tt, rr), anon_fit = FitSlope(tt, aa),
                 fds_fit = FitSlope(tt, ff);
  const double slope = 60 * rss_fit.slope;
  std::printf(
      "%zu samples after warm-up (%.0f-%.0f s): RSS %.1f -> %.1f MiB, slope %.3f +- %.3f MiB/min "
      "(95 %%; of which anonymous, the heap: %.1f -> %.1f MiB, slope %.3f; the rest is mapped "
      "files); open files %.0f -> %.0f, slope %.3f /min\n",
      tt.size(), tt.front(), tt.back(), rr.front(), rr.back(), slope, 60 * rss_fit.ci95, aa.front(),
      aa.back(), 60 * anon_fit.slope, ff.front(), ff.back(), 60 * fds_fit.slope);
  std::printf("long_rss_slope_mib_per_min %.3f\n", slope);
  return 0;
}

}  // namespace

int RunPipelineBench(const PipelineBenchOptions& o) {
  const std::string work =
      o.save_dir.empty()
          ? (fs::temp_directory_path() / ("dyn4d-bench-pipeline-" + std::to_string(getpid())))
                .string()
          : o.save_dir;
  fs::create_directories(work);
  if (o.long_frames > 0) return RunLong(o, work);
  const std::string config = fs::absolute(o.config.empty() ? DefaultOfflineConfig() : o.config);
  pipeline::GraphConfig graph;
  try {
    graph = pipeline::LoadGraphConfig(config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench pipeline: %s\n", e.what());
    return 2;
  }
  const GraphRoles roles = RolesOf(graph);
  if (roles.source.empty() || roles.reason.empty()) {
    std::fprintf(stderr, "dyn4d bench pipeline: %s needs an input node and a reason node\n",
                 config.c_str());
    return 2;
  }
  std::vector<Case> cases;
  const std::string shared = FindSharedDir(o.shared_dir);
  for (const char* seq : {"tum_fr1_rpy", "7scenes_redkitchen", "bonn_crowd"}) {
    const fs::path p = fs::path(shared) / "data" / seq;
    if (!shared.empty() && fs::exists(p))
      cases.push_back({seq, p.string(), true});
    else
      std::printf("(no %s: ../shared not found; real-data cases skipped)\n", seq);
  }
  // Synthetic scenes: 640x480 with 1, 10, 50 objects; 320x240 and 1280x720 with 10.
  struct Synth {
    int w, h, objects;
  };
  for (const Synth s : std::vector<Synth>{
           {640, 480, 1}, {640, 480, 10}, {640, 480, 50}, {320, 240, 10}, {1280, 720, 10}}) {
    const std::string name = "synth_" + std::to_string(s.w) + "x" + std::to_string(s.h) + "_" +
                             std::to_string(s.objects) + "obj";
    const std::string dir = work + "/" + name + "_data";
    rusage ignored{};
    const int rc = RunChild({"dyn4d", "synth", "--out", dir, "--frames", std::to_string(o.frames),
                             "--width", std::to_string(s.w), "--height", std::to_string(s.h),
                             "--objects", std::to_string(s.objects)},
                            work + "/" + name + "_synth.log", &ignored);
    if (rc != 0) {
      std::fprintf(stderr, "dyn4d bench pipeline: writing %s failed\n", name.c_str());
      return 1;
    }
    cases.push_back({name, dir, false});
  }
  std::printf(
      "dyn4d bench pipeline: %s, each case separate processes (outputs in %s)\n\n"
      "%-26s %6s %6s %5s %6s %20s  %s\n%-26s %6s %6s %5s %6s %6s %6s %6s  %s\n",
      config.c_str(), work.c_str(), "case", "frames", "fps", "cores", "peak", "capture->map ms",
      "slowest node", "", "", "", "", "MiB", "p50", "p95", "p99", "(median p95 ms)");
  std::vector<double> real_fps;
  bool all_ok = true;
  const Case* paced = nullptr;
  for (const Case& c : cases) {
    const CaseResult r = Measure(c, work, config, roles);
    all_ok &= r.ok;
    if (r.ok && c.real) real_fps.push_back(r.fps);
    PrintRow(c.name, r);
    if (!c.real) continue;
    paced = &c;
    // The same, one process per node over tcp, right after (same load).
    const CaseResult split = MeasureSplit(c, work, config, graph, roles);
    all_ok &= split.ok;
    PrintRow("  split over processes", split);
  }
  // Latency without queueing: the last real sequence replayed at a third of
  // its frame rate (10 frames/s for these 30 Hz sequences, below what the
  // graph sustains), offline (look-ahead excluded) and as the live graph
  // (no look-ahead: the geometry node segments causally).
  // Repeated, the two graphs alternating, and summarised by medians: one run
  // of the live graph's p95 read 102, 117, 162 and 197 ms on this machine.
  double live_p95_median = 0;
  if (paced) {
    std::printf("\n%s replayed at 1/3 of its frame rate (no queueing), %d runs of each graph:\n",
                paced->name.c_str(), o.paced_repeats);
    const std::vector<std::string> pace = {"--input-param", "speed=0.3333"};
    std::string live_text = GraphVariant(config, "params: {kind: synthetic}");
    live_text = std::regex_replace(live_text, std::regex(R"(lookahead_frames: \d+)"),
                                   "lookahead_frames: 0");
    const std::string live_config = work + "/live.yaml";
    std::ofstream(live_config) << live_text;
    GraphRoles live_roles = roles;
    live_roles.lookahead = 0;
    std::vector<CaseResult> offline_runs, live_runs;
    for (int r = 0; r < o.paced_repeats; ++r) {
      const std::string suffix = r ? "_" + std::to_string(r + 1) : "";
      Case offline = *paced;
      offline.name += "_paced" + suffix;
      const CaseResult a = Measure(offline, work, config, roles, pace);
      PrintRow("  offline graph", a);
      if (a.ok) offline_runs.push_back(a);
      Case live = *paced;
      live.name += "_paced_live" + suffix;
      const CaseResult b = Measure(live, work, live_config, live_roles, pace);
      PrintRow("  live graph (no look-ahead)", b);
      if (b.ok) live_runs.push_back(b);
      all_ok &= a.ok && b.ok;
    }
    const CaseResult live_median = MedianResult(live_runs);
    if (o.paced_repeats > 1) {
      PrintRow("  offline graph, medians", MedianResult(offline_runs));
      PrintRow("  live graph, medians", live_median);
    }
    live_p95_median = live_median.latency.p95_ms;
  }
  std::sort(real_fps.begin(), real_fps.end());
  const double median = real_fps.empty() ? 0 : real_fps[real_fps.size() / 2];
  std::printf(
      "\n(fps: frames over the run's wall time, start-up and the end-of-stream flush included; "
      "cores: user+system CPU time over wall time; peak: the run's peak resident memory, summed "
      "over the processes when split; capture->map: from the source sending frame N+%d (the "
      "geometry node's look-ahead, excluded) to the reason node done with frame N's tracks, "
      "queueing included, so saturated runs show their queues; the first %d frames (start-up) "
      "and the last %d (flushed together at the end) left out; machine: %ld cores)\n",
      roles.lookahead, int(kWarmUpFrames), roles.lookahead, sysconf(_SC_NPROCESSORS_ONLN));
  if (paced) std::printf("paced_live_p95_ms %.0f\n", live_p95_median);
  std::printf("pipeline_fps %.2f\n", median);
  return all_ok ? 0 : 1;
}

}  // namespace dyn4d::cli
