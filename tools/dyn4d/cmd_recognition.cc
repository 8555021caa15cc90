// dyn4d recognize parity | flops: Dyn-Perceiver checks against the official code.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "commands.h"
#include "dyn4d/recognition/dyn_perceiver.h"
#include "recognition_common.h"

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

int RunRecognitionLatencyBench(const RecognitionLatencyOptions& o) {
  try {
    SetTorchThreads(o.threads);
    torch::InferenceMode inference;
    recognition::DynPerceiverConfig config = recognition::ConfigForName(o.config);
    DynPerceiver model(config);
    model->eval();
    if (!o.weights.empty()) recognition::LoadStateDict(*model, o.weights);
    bool eigen = false;
    model->prefer_channels_last = o.channels_last;
    if (o.fold_batchnorm) eigen = model->PrepareInference();
    torch::manual_seed(0);
    const torch::Tensor image =
        torch::randn({1, config.in_channels, config.image_size, config.image_size});
    std::printf("%s, batch 1, 224x224, %d torch threads, median of %d after %d warm-up runs%s%s\n",
                o.config.c_str(), torch::get_num_threads(), o.runs, o.warmup,
                o.fold_batchnorm
                    ? (eigen ? ", BatchNorm folded, latent branch on Eigen" : ", BatchNorm folded")
                    : "",
                o.fold_batchnorm && o.channels_last ? ", convolutions channels-last" : "");
    const double backbone = TimeMs([&] { model->ForwardBackbone(image); }, o.warmup, o.runs);
    const std::vector<double> exit_ms = MeasureExitLatencyMs(*model, config, o.runs, o.warmup);
    std::printf("backbone alone (stem + 4 stages + head)  %.2f ms\n", backbone);
    for (int k = 1; k <= 3; ++k)
      std::printf("stop after exit %d                        %.2f ms\n", k, exit_ms[k - 1]);
    std::printf("full forward (all 4 exits)               %.2f ms\n", exit_ms[3]);
    std::printf("latency_exit1_b1_ms %.2f\n", exit_ms[0]);
    std::printf("latency_full_b1_ms %.2f\n", exit_ms[3]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench recognition: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
