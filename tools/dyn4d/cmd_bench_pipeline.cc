// `dyn4d bench pipeline`: the default graph end to end, each case a child
// `dyn4d run` (so CPU time and peak memory are that run's alone, from
// wait4's rusage): real 640x480 RGB-D sequences of ../shared, the synthetic
// scene at three sizes and with 1, 3 and 6 moving objects. Frames/s from the
// run's own summary; per-node p95 latency from its stats.jsonl.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "graph_run.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string name, input;
  bool real = false;
};

struct CaseResult {
  bool ok = false;
  int frames = 0;
  double seconds = 0, fps = 0, cpu_s = 0, peak_mib = 0;
  std::string slowest;  ///< node with the highest median p95 over the run
  double slowest_p95_ms = 0;
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

// Runs a child to its end; its exit code and rusage back.
int RunChild(const std::vector<std::string>& args, const std::string& log, rusage* usage) {
  const pid_t pid = Spawn(args, log);
  int status = 0;
  if (pid < 0 || wait4(pid, &status, 0, usage) < 0) return -1;
  return ExitCode(status);
}

CaseResult Measure(const Case& c, const std::string& work, const std::string& config) {
  CaseResult r;
  const std::string out = work + "/" + c.name;
  const std::string log = out + ".log";
  rusage usage{};
  std::vector<std::string> args = {"dyn4d", "run", "--input", c.input, "--out", out, "--no-report"};
  if (!config.empty()) args.insert(args.end(), {"--config", config});
  const int rc = RunChild(args, log, &usage);
  r.cpu_s = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
            usage.ru_stime.tv_usec / 1e6;
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
  // The slowest node: highest median of its per-second p95 latencies.
  std::map<std::string, std::vector<double>> p95;
  std::ifstream stats(out + "/stats.jsonl");
  while (std::getline(stats, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("processed", 0) > 0)
      p95[j.value("node", "")].push_back(j.value("latency_p95_ms", 0.0));
  }
  for (auto& [node, v] : p95) {
    std::sort(v.begin(), v.end());
    const double median = v[v.size() / 2];
    if (median > r.slowest_p95_ms) r.slowest = node, r.slowest_p95_ms = median;
  }
  if (!r.ok)
    std::fprintf(stderr, "  %s failed (exit %d): see %s\n", c.name.c_str(), rc, log.c_str());
  return r;
}

// Resident memory (KiB) and open file descriptors of a process, from /proc.
std::pair<long, long> RssAndFds(pid_t pid) {
  long rss = 0, fds = 0;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) rss = std::stol(line.substr(6));
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    ++fds;
  return {rss, fds};
}

// Least-squares slope of y over x.
double Slope(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = double(x.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i)
    sx += x[i], sy += y[i], sxx += x[i] * x[i], sxy += x[i] * y[i];
  const double d = n * sxx - sx * sx;
  return d > 0 ? (n * sxy - sx * sy) / d : 0;
}

// A long synthetic run: memory and file descriptors sampled every second;
// the slope after the first fifth (warm-up: the map and track history fill).
int RunLong(const PipelineBenchOptions& o, const std::string& work) {
  // The default graph with the synthetic scene (small frames) for its input.
  const std::string graph = work + "/long.yaml";
  std::string text;
  {
    std::ifstream in(o.config.empty() ? DefaultOfflineConfig() : o.config);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string input_type = "    type: input\n", input_params = "params: {kind: synthetic}";
  const size_t a = text.find(input_type), b = text.find(input_params);
  if (a == std::string::npos || b == std::string::npos) {
    std::fprintf(stderr, "--long needs the default graph's input node (type: input, %s)\n",
                 input_params.c_str());
    return 2;
  }
  text.replace(b, input_params.size(),
               "params: {frames: " + std::to_string(o.long_frames) + ", width: 160, height: 120}");
  text.replace(a, input_type.size(), "    type: synthetic_rgbd\n");
  // Paths relative to the graph's folder (the model files) stay valid.
  const std::string config_dir =
      fs::absolute(o.config.empty() ? DefaultOfflineConfig() : o.config).parent_path().string();
  const std::string relative = " models/", absolute = " " + config_dir + "/models/";
  for (size_t at = 0; (at = text.find(relative, at)) != std::string::npos; at += absolute.size())
    text.replace(at, relative.size(), absolute);
  std::ofstream(graph) << text;
  std::printf("long run: %d synthetic 160x120 frames (%s)\n", o.long_frames, graph.c_str());
  const pid_t pid =
      Spawn({"dyn4d", "run", "--config", graph, "--out", work + "/long", "--no-report", "-q"},
            work + "/long.log");
  std::vector<double> t, rss, fds;
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    const auto [kib, open] = RssAndFds(pid);
    if (kib > 0) {
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      rss.push_back(kib / 1024.0);
      fds.push_back(double(open));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (ExitCode(status) != 0 || t.size() < 10) {
    std::fprintf(stderr, "long run failed or too short (see %s/long.log)\n", work.c_str());
    return 1;
  }
  const size_t warm = t.size() / 5;
  const std::vector<double> tt(t.begin() + warm, t.end()), rr(rss.begin() + warm, rss.end()),
      ff(fds.begin() + warm, fds.end());
  const double duration = t.back() - t.front();
  std::printf(
      "%zu samples over %.0f s; after warm-up (%.0f s): RSS %.0f -> %.0f MiB, "
      "slope %.3f MiB/min; open files %.0f -> %.0f, slope %.3f /min\n",
      t.size(), duration, t[warm], rr.front(), rr.back(), 60 * Slope(tt, rr), ff.front(), ff.back(),
      60 * Slope(tt, ff));
  std::printf("long_rss_slope_mib_per_min %.3f\n", 60 * Slope(tt, rr));
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
  std::vector<Case> cases;
  const std::string shared = FindSharedDir(o.shared_dir);
  for (const char* seq : {"tum_fr1_rpy", "7scenes_redkitchen", "bonn_crowd"}) {
    const fs::path p = fs::path(shared) / "data" / seq;
    if (!shared.empty() && fs::exists(p))
      cases.push_back({seq, p.string(), true});
    else
      std::printf("(no %s: ../shared not found; real-data cases skipped)\n", seq);
  }
  // Synthetic scenes: 640x480 with 1, 3, 6 objects; 320x240 and 1280x720 with 3.
  struct Synth {
    int w, h, objects;
  };
  for (const Synth s : std::vector<Synth>{
           {640, 480, 1}, {640, 480, 3}, {640, 480, 6}, {320, 240, 3}, {1280, 720, 3}}) {
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
      "dyn4d bench pipeline: the default graph, each case a separate `dyn4d run` process "
      "(outputs in %s)\n\n",
      work.c_str());
  std::printf("%-24s %7s %8s %7s %9s %9s  %s\n", "case", "frames", "seconds", "fps", "cpu cores",
              "peak MiB", "slowest node (median p95 ms)");
  std::vector<double> real_fps;
  bool all_ok = true;
  for (const Case& c : cases) {
    const CaseResult r = Measure(c, work, o.config);
    all_ok &= r.ok;
    if (r.ok && c.real) real_fps.push_back(r.fps);
    std::printf("%-24s %7d %8.1f %7.1f %9.2f %9.0f  %s (%.0f)\n", c.name.c_str(), r.frames,
                r.seconds, r.fps, r.seconds > 0 ? r.cpu_s / r.seconds : 0.0, r.peak_mib,
                r.slowest.c_str(), r.slowest_p95_ms);
    std::fflush(stdout);
  }
  std::sort(real_fps.begin(), real_fps.end());
  const double median = real_fps.empty() ? 0 : real_fps[real_fps.size() / 2];
  std::printf(
      "\n(fps: frames over the run's wall time, start-up and the end-of-stream flush "
      "included; cpu cores: the run's user+system CPU time over its wall time; machine: "
      "%ld cores)\n",
      sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("pipeline_fps %.2f\n", median);
  return all_ok ? 0 : 1;
}

}  // namespace dyn4d::cli
