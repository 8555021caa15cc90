// dyn4d eval mot: MOTChallenge metrics of tracker results.
#include <cstdio>
#include <stdexcept>

#include "commands.h"
#include "dyn4d/tracking/mot_eval.h"

namespace dyn4d::cli {

int RunMotEval(const MotEvalOptions& o) {
  try {
    if (o.gt.size() != o.res.size() || o.gt.empty())
      throw std::invalid_argument("give as many --res files as --gt files (one pair per sequence)");
    tracking::MotMetrics all;
    tracking::HotaMetrics all_hota;
    std::printf("%-28s %7s %7s %7s %7s %7s %6s %6s %5s %4s %9s\n", "sequence", "IDF1", "IDP", "IDR",
                "Rcll", "Prcn", "FP", "FN", "IDSW", "FM", "MOTA");
    auto row = [](const std::string& name, const tracking::MotMetrics& m) {
      std::printf(
          "%-28s %7.1f %7.1f %7.1f %7.1f %7.1f %6lld %6lld %5lld %4lld %9.1f  MOTP %.1f  "
          "MT/PT/ML %d/%d/%d\n",
          name.c_str(), 100 * m.Idf1(), 100 * m.Idp(), 100 * m.Idr(), 100 * m.Recall(),
          100 * m.Precision(), static_cast<long long>(m.fp), static_cast<long long>(m.fn),
          static_cast<long long>(m.idsw), static_cast<long long>(m.fragmentations), 100 * m.Mota(),
          100 * m.Motp(), m.mostly_tracked, m.partly_tracked, m.mostly_lost);
    };
    auto hota_row = [](const std::string& name, const tracking::HotaMetrics& h) {
      std::printf("%-28s HOTA %.2f  DetA %.2f  AssA %.2f  LocA %.2f\n", name.c_str(),
                  100 * h.Hota(), 100 * h.DetA(), 100 * h.AssA(), 100 * h.LocA());
    };
    std::vector<tracking::HotaMetrics> hotas;
    std::vector<std::string> names;
    for (size_t i = 0; i < o.gt.size(); ++i) {
      const auto gt = tracking::LoadMotFile(o.gt[i], true);
      const auto res = tracking::LoadMotFile(o.res[i], false);
      const auto m = tracking::EvaluateMot(gt, res, o.iou);
      names.push_back(o.res[i].size() > 28 ? "..." + o.res[i].substr(o.res[i].size() - 25)
                                           : o.res[i]);
      row(names.back(), m);
      all += m;
      hotas.push_back(tracking::EvaluateHota(gt, res));
      all_hota += hotas.back();
    }
    if (o.gt.size() > 1) row("combined", all);
    for (size_t i = 0; i < hotas.size(); ++i) hota_row(names[i], hotas[i]);
    if (o.gt.size() > 1) hota_row("combined", all_hota);
    std::printf("idf1 %.6f\n", all.Idf1());
    std::printf("mota %.6f\n", all.Mota());
    std::printf("hota %.6f\n", all_hota.Hota());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d eval mot: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli

// ---------------------------------------------------------------------------
// dyn4d bench tracking --mot15 DIR

#include <chrono>
#include <filesystem>
#include <random>

#include "dyn4d/tracking/tracker.h"

namespace dyn4d::cli {
namespace {

struct TrackerRun {
  tracking::MotSequence results;
  double seconds = 0;
  int64_t frames = 0;
};

TrackerRun RunTracker(const tracking::TrackerConfig& config, const tracking::MotSequence& dets,
                      int last_frame) {
  TrackerRun run;
  tracking::MultiObjectTracker tracker(config);
  const std::vector<tracking::MotBox> none;
  const auto t0 = std::chrono::steady_clock::now();
  for (int f = 1; f <= last_frame; ++f) {
    const auto it = dets.find(f);
    const auto out = tracker.Update(it == dets.end() ? none : it->second);
    for (const auto& t : out) run.results[f].push_back(t.box);
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.frames = last_frame;
  return run;
}

}  // namespace

int RunTrackingBench(const TrackingBenchOptions& o) {
  namespace fs = std::filesystem;
  try {
    std::vector<fs::path> seqs;
    for (const auto& e : fs::directory_iterator(o.mot15_dir))
      if (fs::exists(e.path() / "det" / "det.txt") && fs::exists(e.path() / "gt" / "gt.txt"))
        seqs.push_back(e.path());
    std::sort(seqs.begin(), seqs.end());
    if (seqs.empty())
      throw std::runtime_error(o.mot15_dir +
                               ": no sequence folders with det/det.txt and gt/gt.txt");
    const tracking::TrackerConfig ours, sort = tracking::TrackerConfig::Sort();
    std::printf("MOT15 public detections (%zu sequences); tracker only, detections loaded first\n",
                seqs.size());
    std::printf("%-16s %-8s %7s %7s %7s %6s %6s %6s %10s\n", "sequence", "tracker", "HOTA", "MOTA",
                "IDF1", "IDSW", "FP", "FN", "frames/s");
    tracking::MotMetrics all_m[2];
    tracking::HotaMetrics all_h[2];
    double secs[2] = {0, 0};
    int64_t frames = 0;
    for (const auto& seq : seqs) {
      const auto dets = tracking::LoadMotFile((seq / "det" / "det.txt").string(), false);
      const auto gt = tracking::LoadMotFile((seq / "gt" / "gt.txt").string(), true);
      int last = 0;
      if (!dets.empty()) last = std::max(last, dets.rbegin()->first);
      if (!gt.empty()) last = std::max(last, gt.rbegin()->first);
      frames += last;
      for (int k = 0; k < 2; ++k) {
        const TrackerRun run = RunTracker(k == 0 ? ours : sort, dets, last);
        const auto m = tracking::EvaluateMot(gt, run.results);
        const auto h = tracking::EvaluateHota(gt, run.results);
        all_m[k] += m, all_h[k] += h, secs[k] += run.seconds;
        std::printf("%-16s %-8s %7.2f %7.2f %7.2f %6lld %6lld %6lld %10.0f\n",
                    seq.filename().string().c_str(), k == 0 ? "dyn4d" : "SORT", 100 * h.Hota(),
                    100 * m.Mota(), 100 * m.Idf1(), static_cast<long long>(m.idsw),
                    static_cast<long long>(m.fp), static_cast<long long>(m.fn),
                    run.frames / std::max(1e-9, run.seconds));
      }
    }
    for (int k = 0; k < 2; ++k)
      std::printf("%-16s %-8s %7.2f %7.2f %7.2f %6lld %6lld %6lld %10.0f\n", "combined",
                  k == 0 ? "dyn4d" : "SORT", 100 * all_h[k].Hota(), 100 * all_m[k].Mota(),
                  100 * all_m[k].Idf1(), static_cast<long long>(all_m[k].idsw),
                  static_cast<long long>(all_m[k].fp), static_cast<long long>(all_m[k].fn),
                  frames / std::max(1e-9, secs[k]));
    // Cost against the number of objects: synthetic boxes drifting slowly.
    std::printf("\ntracker time per frame vs detections per frame (synthetic, 100 frames):\n");
    for (int n : {10, 100, 1000}) {
      std::mt19937 rng(1);
      std::uniform_real_distribution<double> pos(0, 4000), jitter(-1, 1);
      std::vector<tracking::MotBox> boxes(n);
      for (auto& b : boxes) b = {-1, pos(rng), pos(rng), 20, 40, 50};
      tracking::MultiObjectTracker tracker(ours);
      const auto t0 = std::chrono::steady_clock::now();
      for (int f = 0; f < 100; ++f) {
        for (auto& b : boxes) b.x += 1 + jitter(rng), b.y += jitter(rng);
        tracker.Update(boxes);
      }
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("  %5d detections: %.3f ms per frame\n", n, ms / 100);
    }
    std::printf("hota_gain_vs_sort %.2f\n", 100 * (all_h[0].Hota() - all_h[1].Hota()));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench tracking: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli

// ---------------------------------------------------------------------------
// dyn4d bench tracking --mot17 DIR

#include "dyn4d/pipeline/graph.h"
#include "graph_run.h"

namespace dyn4d::cli {

int RunMot17Bench(const TrackingBenchOptions& o) {
  namespace fs = std::filesystem;
  try {
    // MOT17's layout: DIR/train/<sequence>/{img1,det,gt}, or the sequences
    // directly under DIR.
    std::vector<fs::path> seqs;
    for (const fs::path& root : {fs::path(o.mot17_dir) / "train", fs::path(o.mot17_dir)}) {
      if (!fs::is_directory(root)) continue;
      for (const auto& e : fs::directory_iterator(root))
        if (fs::is_directory(e.path() / "img1") && fs::exists(e.path() / "gt" / "gt.txt"))
          seqs.push_back(e.path());
      if (!seqs.empty()) break;
    }
    std::sort(seqs.begin(), seqs.end());
    if (seqs.empty())
      throw std::runtime_error(o.mot17_dir +
                               ": no MOT17 sequence folders (img1/ and gt/gt.txt) in it or "
                               "its train/");
    const std::string config = DefaultConfigFor(/*colour_only=*/true);
    std::printf(
        "MOT17 (%zu sequences from %s): the RGB-only default path (%s: ego-motion-compensated "
        "2D motion proposals + the 2D tracker, no detections given) against dyn4d's tracker on "
        "the public detections (det/det.txt), same frames, same run\n",
        seqs.size(), o.mot17_dir.c_str(), fs::path(config).filename().string().c_str());
    std::printf("%-16s %6s %-14s %7s %7s %7s %6s %6s %6s %10s\n", "sequence", "frames", "tracker",
                "HOTA", "MOTA", "IDF1", "IDSW", "FP", "FN", "frames/s");
    tracking::MotMetrics all_m[2];
    tracking::HotaMetrics all_h[2];
    double secs[2] = {0, 0};
    int64_t frames_all = 0;
    const char* names[2] = {"rgb-only graph", "public dets"};
    for (const auto& seq : seqs) {
      const auto gt = tracking::LoadMotFile((seq / "gt" / "gt.txt").string(), true);
      int frames = 0;
      for (const auto& e : fs::directory_iterator(seq / "img1"))
        if (e.is_regular_file()) ++frames;
      tracking::MotSequence result[2];
      // 1. The default graph on the images, as `dyn4d run --input img1` runs it.
      {
        pipeline::GraphConfig g = pipeline::LoadGraphConfig(config, true);
        InputOverride in;
        in.path = (seq / "img1").string();
        ApplyInput(g, in);
        pipeline::StageRegistry registry = MakeRegistry();
        pipeline::RunOptions ro;
        ro.output_dir = (fs::path(o.out_dir) / seq.filename()).string();
        ro.status_line = false;
        pipeline::Graph graph(std::move(g), registry, ro);
        pipeline::RunControl control;
        const pipeline::RunResult r = graph.Run(control);
        if (r.status != pipeline::RunResult::Status::kOk)
          throw std::runtime_error("the RGB-only graph failed on " + seq.string() + ": " +
                                   r.message);
        secs[0] += r.elapsed_s;
        result[0] = tracking::LoadMotFile(ro.output_dir + "/tracks_mot.txt", false);
      }
      // 2. The tracker on the public detections of the same frames.
      {
        auto dets = tracking::LoadMotFile((seq / "det" / "det.txt").string(), false);
        for (auto it = dets.begin(); it != dets.end();)
          it = it->first > frames ? dets.erase(it) : std::next(it);
        // MOT17's FRCNN scores are probabilities (MOT15's DPM scores are
        // not): ByteTrack's split, 0.6 for the first stage.
        tracking::TrackerConfig public_config;
        public_config.high_score = 0.6;
        public_config.low_score = 0.1;
        const TrackerRun run = RunTracker(public_config, dets, frames);
        secs[1] += run.seconds;
        result[1] = run.results;
      }
      frames_all += frames;
      for (int k = 0; k < 2; ++k) {
        const auto m = tracking::EvaluateMot(gt, result[k]);
        const auto h = tracking::EvaluateHota(gt, result[k]);
        all_m[k] += m, all_h[k] += h;
        std::printf("%-16s %6d %-14s %7.2f %7.2f %7.2f %6lld %6lld %6lld %10s\n",
                    seq.filename().string().substr(0, 16).c_str(), frames, names[k], 100 * h.Hota(),
                    100 * m.Mota(), 100 * m.Idf1(), static_cast<long long>(m.idsw),
                    static_cast<long long>(m.fp), static_cast<long long>(m.fn), "");
      }
    }
    for (int k = 0; k < 2; ++k)
      std::printf("%-16s %6lld %-14s %7.2f %7.2f %7.2f %6lld %6lld %6lld %10.1f\n", "combined",
                  static_cast<long long>(frames_all), names[k], 100 * all_h[k].Hota(),
                  100 * all_m[k].Mota(), 100 * all_m[k].Idf1(),
                  static_cast<long long>(all_m[k].idsw), static_cast<long long>(all_m[k].fp),
                  static_cast<long long>(all_m[k].fn), frames_all / std::max(1e-9, secs[k]));
    std::printf(
        "(frames/s: the whole graph with image decoding and writers for the RGB-only path; "
        "the tracker alone for public detections)\n");
    std::printf("hota_rgb_only %.2f\n", 100 * all_h[0].Hota());
    std::printf("hota_public_detections %.2f\n", 100 * all_h[1].Hota());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench tracking --mot17: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
