// dyn4d synth, dyn4d eval stereo, dyn4d bench io, dyn4d calibrate color.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "commands.h"
#include "dyn4d/io/color_registration.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/io/stereo.h"
#include "dyn4d/io/synth_writer.h"
#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/pipeline/config.h"
#include "progress.h"

namespace dyn4d::cli {

namespace fs = std::filesystem;

std::string FindSharedDir(const std::string& given) {
  if (!given.empty()) return fs::exists(given) ? given : "";
  if (const char* env = std::getenv("DYN4D_SHARED"); env && fs::exists(env)) return env;
  for (const char* c : {"../shared", "../../shared"})
    if (fs::exists(c)) return c;
  return "";
}

void OverrideParams(pipeline::Params& params, const std::string& flag,
                    const std::vector<std::string>& key_values) {
  for (const std::string& kv : key_values) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw pipeline::ConfigError({flag + " '" + kv + "': expected KEY=VALUE"});
    params.Override(kv.substr(0, eq), kv.substr(eq + 1));
  }
}

int RunSynth(const SynthOptions& o) {
  io::SyntheticScene::Config c;
  c.num_frames = o.frames;
  c.width = o.width;
  c.height = o.height;
  c.fx = c.fy = c.FocalForWidth();
  c.num_objects = o.objects;
  c.seed = static_cast<uint32_t>(o.seed);
  c.depth_noise = o.noise;
  for (const std::string& p : c.Validate()) {
    std::fprintf(stderr, "dyn4d synth: %s\n", p.c_str());
    return 2;
  }
  std::printf("dyn4d synth: %d frames %dx%d, %d objects, seed %d -> %s/\n", o.frames, o.width,
              o.height, o.objects, o.seed, o.out_dir.c_str());
  ProgressBar bar("synth", o.frames);
  io::SynthWriteResult r;
  try {
    r = io::WriteSyntheticSequence(c, o.out_dir, [&](int done, int) { bar.Update(done); });
  } catch (const std::exception& e) {
    bar.Finish();
    std::fprintf(stderr, "dyn4d synth: %s\n", e.what());
    return 1;
  }
  bar.Finish();
  std::printf(
      "wrote %d frames, %zu ground-truth events; rendering %.1f frames/s, writing PNGs %.1f "
      "frames/s\n",
      r.frames, r.events, r.frames / std::max(1e-9, r.render_s),
      r.frames / std::max(1e-9, r.write_s));
  std::printf("read it back with: dyn4d run --input %s\n", o.out_dir.c_str());
  return 0;
}

int RunStereoEval(const StereoEvalOptions& o) {
  const std::string shared = FindSharedDir(o.shared_dir);
  if (shared.empty()) {
    std::fprintf(stderr, "dyn4d eval stereo: ../shared not found (set DYN4D_SHARED or --shared)\n");
    return 4;
  }
  const fs::path dir = fs::path(shared) / "data" / "stereo";
  std::string left, right, gt;
  int num_disp = o.num_disparities;
  double png_scale = 1.0;
  if (o.dataset == "aloe") {
    left = "aloeL.jpg", right = "aloeR.jpg", gt = "aloeGT.png";
    if (!num_disp) num_disp = 128;
  } else if (o.dataset == "motorcycle") {
    left = "motorcycle_left.png", right = "motorcycle_right.png", gt = "motorcycle_disp0.pfm";
    if (!num_disp) num_disp = 128;
  } else {
    std::fprintf(stderr, "dyn4d eval stereo: unknown dataset '%s' (aloe, motorcycle)\n",
                 o.dataset.c_str());
    return 2;
  }
  try {
    pipeline::Image L = io::ReadColorImage((dir / left).string());
    pipeline::Image R = io::ReadColorImage((dir / right).string());
    pipeline::Image G = io::ReadGroundTruthDisparity((dir / gt).string(), png_scale);
    io::StereoConfig cfg;
    cfg.num_disparities = num_disp;
    std::printf("%s: %dx%d, ground truth %s, %d disparities\n", o.dataset.c_str(), L.width,
                L.height, gt.c_str(), num_disp);
    double chosen = 0;
    for (bool wls : {false, true}) {
      cfg.wls = wls;
      const auto t0 = std::chrono::steady_clock::now();
      pipeline::Image D = io::ComputeDisparity(L, R, cfg);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      io::BadPixelResult b = io::BadPixelRate(D, G, 2.0, num_disp);
      std::printf(
          "  %-10s bad2 %6.2f %%  (no estimate %5.2f %%, %zu pixels with ground truth, %.0f ms)\n",
          wls ? "SGBM+WLS" : "SGBM", b.bad_percent, b.invalid_percent, b.evaluated, ms);
      if (wls == o.wls) chosen = b.bad_percent;
    }
    std::printf("bad2_percent %.2f\n", chosen);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d eval stereo: %s\n", e.what());
    return 1;
  }
  return 0;
}

int RunIoBench(const IoBenchOptions& o) {
  const std::string shared = FindSharedDir(o.shared_dir);
  double tum_fps = -1, synth_fps = -1;
  class Capture : public benchmark::ConsoleReporter {
   public:
    void ReportRuns(const std::vector<Run>& runs) override {
      ConsoleReporter::ReportRuns(runs);
      for (const Run& r : runs)
        if (auto it = r.counters.find("frames_per_s"); it != r.counters.end())
          fps[r.run_name.function_name] = it->second.value;
    }
    std::map<std::string, double> fps;
  } reporter;
  if (!shared.empty()) {
    const std::string tum = (fs::path(shared) / "data" / "tum_fr1_rpy").string();
    benchmark::RegisterBenchmark("io/tum_read_decode",
                                 [tum](benchmark::State& state) {
                                   int64_t frames = 0;
                                   for (auto _ : state) {
                                     io::SourceConfig c;
                                     c.path = tum;
                                     auto source = io::OpenSource(c);
                                     while (true) {
                                       io::SourceRead r = source->Next();
                                       if (r.status == io::SourceRead::Status::kEnd) break;
                                       benchmark::DoNotOptimize(r.frame.depth.data.data());
                                       ++frames;
                                     }
                                   }
                                   state.counters["frames_per_s"] = benchmark::Counter(
                                       double(frames), benchmark::Counter::kIsRate);
                                 })
        ->MinTime(o.min_time_s)
        ->Unit(benchmark::kMillisecond);
  } else {
    std::fprintf(stderr, "../shared not found: skipping the TUM read benchmark\n");
  }
  benchmark::RegisterBenchmark(
      "io/synth_render_640x480",
      [](benchmark::State& state) {
        io::SyntheticScene::Config c;
        c.num_objects = 5;
        c.num_frames = 300;
        io::SyntheticScene scene(c);
        int64_t frames = 0;
        for (auto _ : state)
          benchmark::DoNotOptimize(
              scene.Render(static_cast<int>(frames++ % 300)).frame.depth.data.data());
        state.counters["frames_per_s"] =
            benchmark::Counter(double(frames), benchmark::Counter::kIsRate);
      })
      ->MinTime(o.min_time_s)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("io/synth_write_640x480",
                               [](benchmark::State& state) {
                                 io::SyntheticScene::Config c;
                                 c.num_objects = 5;
                                 c.num_frames = 30;
                                 const std::string dir =
                                     (fs::temp_directory_path() / "dyn4d-bench-synth").string();
                                 int64_t frames = 0;
                                 for (auto _ : state) {
                                   io::WriteSyntheticSequence(c, dir);
                                   frames += c.num_frames;
                                 }
                                 fs::remove_all(dir);
                                 state.counters["frames_per_s"] = benchmark::Counter(
                                     double(frames), benchmark::Counter::kIsRate);
                               })
      ->MinTime(o.min_time_s)
      ->Unit(benchmark::kMillisecond);
  std::vector<std::string> args = {"dyn4d-bench"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = 1;
  benchmark::Initialize(&argc, argv.data());
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (reporter.fps.count("io/tum_read_decode")) tum_fps = reporter.fps["io/tum_read_decode"];
  synth_fps = reporter.fps["io/synth_render_640x480"];
  std::printf(
      "\ntum_read_fps %.1f   (640x480 PNG colour + 16-bit depth, decode included, one thread)\n",
      tum_fps);
  std::printf("synth_write_fps %.1f (render + PNG encode + write, one thread)\n",
              reporter.fps["io/synth_write_640x480"]);
  std::printf("synth_render_fps %.1f\n", synth_fps);
  return 0;
}

int ReadCalibrationFrames(const std::string& command, const std::string& path,
                          const std::string& kind, int skip, int every, int count,
                          std::vector<pipeline::RgbdFrame>* frames, std::string* described) {
  try {
    io::SourceConfig c;
    c.path = path;
    c.kind = kind;
    auto source = io::OpenSource(c);
    *described = source->Describe();
    for (int64_t i = 0; frames->size() < static_cast<size_t>(count); ++i) {
      io::SourceRead r = source->Next();
      if (r.status == io::SourceRead::Status::kEnd) break;
      if (r.status != io::SourceRead::Status::kFrame || i < skip || (i - skip) % every != 0)
        continue;
      if (r.frame.depth.empty()) {
        std::fprintf(stderr, "dyn4d %s: '%s' has no depth\n", command.c_str(), path.c_str());
        return 2;
      }
      frames->push_back(std::move(r.frame));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d %s: %s\n", command.c_str(), e.what());
    return 2;
  }
  return 0;
}

int RunColorCalibration(const ColorCalibrationOptions& o) {
  std::vector<pipeline::RgbdFrame> frames;
  std::string described;
  if (const int rc = ReadCalibrationFrames("calibrate color", o.path, o.kind, 0, o.every, o.frames,
                                           &frames, &described))
    return rc;
  std::printf("%s\n%zu frames (every %d)\n", described.c_str(), frames.size(), o.every);
  const io::ColorCalibrationResult r = io::CalibrateColorToDepth(frames);
  if (r.status != io::ColorCalibrationResult::Status::kOk) {
    std::fprintf(stderr, "dyn4d calibrate color: %s\n", r.message.c_str());
    return 1;
  }
  const auto& k = r.camera.intrinsics;
  const auto& t = r.camera.t_color_depth;
  std::printf(
      "depth-edge pixels %lld; colour edge strength at them %.2f calibrated, %.2f as if "
      "registered\n\n",
      static_cast<long long>(r.edge_pixels), r.edge_score, r.edge_score_registered);
  std::printf("input node params (graph YAML):\n");
  std::printf("  color_fx: %.1f\n  color_fy: %.1f\n  color_cx: %.1f\n  color_cy: %.1f\n", k.fx,
              k.fy, k.cx, k.cy);
  std::printf("  color_tx: %.3f\n  color_ty: %.3f\n", t.x(), t.y());
  std::printf(
      "or: dyn4d run --input %s --input-param color_fx=%.1f --input-param color_fy=%.1f "
      "--input-param color_cx=%.1f --input-param color_cy=%.1f --input-param color_tx=%.3f "
      "--input-param color_ty=%.3f\n\n",
      o.path.c_str(), k.fx, k.fy, k.cx, k.cy, t.x(), t.y());
  // Relative gain last, for scripts: 1.0 means the colour already fits the depth.
  std::printf("edge_gain %.3f\n", r.edge_score / std::max(r.edge_score_registered, 1e-9));
  return 0;
}

}  // namespace dyn4d::cli
