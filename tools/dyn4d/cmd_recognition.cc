// dyn4d recognize parity | flops: Dyn-Perceiver checks against the official code.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "commands.h"
#include "dyn4d/recognition/dyn_perceiver.h"
#include "recognition_common.h"
#include "steady_malloc.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;
using recognition::DynPerceiver;

std::vector<double> ReadFlopsFile(const std::string& path) {
  std::ifstream in(path);
  std::vector<double> v;
  double x;
  while (in >> x) v.push_back(x);
  return v;
}

int RunRecognizeParity(const RecognizeParityOptions& o) {
  try {
    SetTorchThreads(o.threads);
    torch::NoGradGuard no_grad;
    DynPerceiver model(recognition::ConfigForName(o.config));
    model->eval();
    const fs::path ref(o.ref_dir);
    recognition::LoadStateDict(*model, (ref / "state_dict.pt").string());
    std::map<std::string, torch::Tensor> io;
    for (auto& [k, v] : recognition::LoadTensorDict((ref / "io.pt").string())) io[k] = v;
    if (!io.count("input"))
      throw std::runtime_error((ref / "io.pt").string() + ": no 'input' tensor");
    double worst = 0;
    // As loaded, then prepared for inference (BatchNorm folded, Eigen latent branch).
    for (const bool prepared : {false, true}) {
      if (prepared) model->PrepareInference();
      const auto outputs = model->forward(io.at("input").to(torch::kFloat));
      for (int k = 0; k < recognition::kNumExits; ++k) {
        const std::string name = recognition::kExitNames[k];
        if (!io.count(name))
          throw std::runtime_error((ref / "io.pt").string() + ": no '" + name + "'");
        const double d = (outputs[k] - io.at(name)).abs().max().item<double>();
        std::printf("exit %d %-9s max_abs_diff %.3g%s\n", k + 1, name.c_str(), d,
                    prepared ? " (prepared for inference)" : "");
        worst = std::max(worst, d);
      }
    }
    const auto flops = model->CumulativeGflops();
    const auto official = ReadFlopsFile((ref / "flops.txt").string());
    for (int k = 0; k < 4; ++k) {
      if (k < static_cast<int>(official.size()))
        std::printf("exit %d gflops %.6f official %.6f (%+.3f %%)\n", k + 1, flops[k], official[k],
                    100 * (flops[k] / official[k] - 1));
      else
        std::printf("exit %d gflops %.6f\n", k + 1, flops[k]);
    }
    std::printf("parity_max_abs_diff %.3g\n", worst);
    return worst <= 1e-4 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d recognize parity: %s\n", e.what());
    return 2;
  }
}

int RunRecognizeFlops(const std::string& config) {
  try {
    DynPerceiver model(recognition::ConfigForName(config));
    const auto f = model->CumulativeGflops();
    std::printf("%s: cumulative GFLOPs per exit (official convention)\n", config.c_str());
    for (int k = 0; k < 4; ++k)
      std::printf("exit %d %-9s %.6f\n", k + 1, recognition::kExitNames[k], f[k]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d recognize flops: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli

namespace dyn4d::cli {
namespace {
double MedianMs(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
// Median wall time of fn over `runs` calls after `warmup` calls.
template <typename Fn>
double TimeMs(Fn&& fn, int warmup, int runs) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return MedianMs(ms);
}
}  // namespace

std::vector<double> MeasureExitLatencyMs(recognition::MultiExitNet& net,
                                         const recognition::DynPerceiverConfig& config, int runs,
                                         int warmup) {
  torch::InferenceMode inference;
  torch::manual_seed(0);
  const torch::Tensor image =
      torch::randn({1, config.in_channels, config.image_size, config.image_size});
  std::vector<double> ms(net.num_exits());
  for (int k = net.num_exits(); k >= 1; --k)  // the full path first, as a last warm-up
    ms[k - 1] = TimeMs([&] { net.ForwardUntil(image, k); }, warmup, runs);
  return ms;
}

// Median per path over interleaved rounds: each round runs every path as a
// block (one untimed call that brings its weights back into the caches, then
// `block` timed calls, their median the round's figure), starting at a
// different path each round, so a change of load on the machine hits every
// path alike. Single calls alternating between two models measured each
// other's cache misses (the deployed model 2x slower next to the plain one).
struct InterleavedTimes {
  std::vector<std::vector<double>> ms;  ///< [path][round]
  double Median(size_t path) const { return MedianMs(ms[path]); }
  /// Median over the rounds of path a's time over path b's.
  double RatioMedian(size_t a, size_t b) const {
    std::vector<double> r;
    for (size_t i = 0; i < ms[a].size(); ++i) r.push_back(ms[a][i] / ms[b][i]);
    return MedianMs(r);
  }
};

InterleavedTimes TimeInterleaved(const std::vector<std::function<void()>>& paths, int warmup,
                                 int rounds, int block) {
  for (int i = 0; i < warmup; ++i)
    for (const auto& fn : paths) fn();
  InterleavedTimes t;
  t.ms.assign(paths.size(), {});
  for (int r = 0; r < rounds; ++r)
    for (size_t k = 0; k < paths.size(); ++k) {
      const size_t p = (k + r) % paths.size();
      paths[p]();
      std::vector<double> ms;
      for (int i = 0; i < block; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        paths[p]();
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      }
      t.ms[p].push_back(MedianMs(ms));
    }
  return t;
}

int RunRecognitionLatencyBench(const RecognitionLatencyOptions& o) {
  UseSteadyMallocForBench();
  try {
    SetTorchThreads(o.threads);
    torch::InferenceMode inference;
    recognition::DynPerceiverConfig config = recognition::ConfigForName(o.config);
    // The model as deployed, and the same weights as loaded (unoptimised:
    // BatchNorm separate, NCHW, the latent branch on ATen), timed together.
    torch::manual_seed(0);
    DynPerceiver model(config);
    torch::manual_seed(0);
    DynPerceiver plain(config);
    for (DynPerceiver* m : {&model, &plain}) {
      (*m)->eval();
      if (!o.weights.empty()) recognition::LoadStateDict(**m, o.weights);
    }
    plain->prefer_channels_last = false;
    bool eigen = false;
    model->prefer_channels_last = o.channels_last;
    if (o.fold_batchnorm) eigen = model->PrepareInference();
    torch::manual_seed(0);
    const torch::Tensor image =
        torch::randn({1, config.in_channels, config.image_size, config.image_size});
    const int rounds = std::max(5, o.runs / 5);
    std::printf(
        "%s, batch 1, 224x224, %d torch threads, medians of %d interleaved rounds (each path a "
        "block of 5 timed calls per round) after %d warm-up calls, malloc thresholds fixed "
        "(steady_malloc.h)%s%s\n",
        o.config.c_str(), torch::get_num_threads(), rounds, o.warmup,
        o.fold_batchnorm
            ? (eigen ? ", BatchNorm folded, latent branch on Eigen" : ", BatchNorm folded")
            : "",
        o.fold_batchnorm && o.channels_last ? ", convolutions channels-last" : "");
    enum { kBackbone, kExit1, kExit2, kExit3, kFull };
    // The deployed model's paths together; then, apart, its full forward
    // against the unoptimised one: next to each other the two models slow
    // each other down (2x here, the deployed one most), which would leave
    // the first set saying little about a node that runs one model.
    const InterleavedTimes t = TimeInterleaved(
        {[&] { model->ForwardBackbone(image); }, [&] { model->ForwardUntil(image, 1); },
         [&] { model->ForwardUntil(image, 2); }, [&] { model->ForwardUntil(image, 3); },
         [&] { model->ForwardUntil(image, 4); }},
        o.warmup, rounds, 5);
    const InterleavedTimes vs = TimeInterleaved(
        {[&] { model->ForwardUntil(image, 4); }, [&] { plain->ForwardUntil(image, 4); }}, o.warmup,
        rounds, 5);
    std::printf("backbone alone (stem + 4 stages + head)  %.2f ms\n", t.Median(kBackbone));
    for (int k = 1; k <= 3; ++k)
      std::printf("stop after exit %d                        %.2f ms\n", k,
                  t.Median(kExit1 + k - 1));
    std::printf("full forward (all 4 exits)               %.2f ms\n", t.Median(kFull));
    std::printf(
        "then, full forward against the unoptimised model (as loaded), interleaved:\n"
        "  deployed %.2f ms, unoptimised %.2f ms\n",
        vs.Median(0), vs.Median(1));
    std::printf("(ratios: medians of the per-round ratios)\n");
    std::printf("exit1_over_backbone %.3f\n", t.RatioMedian(kExit1, kBackbone));
    std::printf("full_over_unoptimised %.3f\n", vs.RatioMedian(0, 1));
    std::printf("latency_exit1_b1_ms %.2f\n", t.Median(kExit1));
    std::printf("latency_full_b1_ms %.2f\n", t.Median(kFull));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench recognition: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
