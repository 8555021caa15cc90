// dyn4d recognize parity | flops: Dyn-Perceiver checks against the official code.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "commands.h"
#include "dyn4d/recognition/dyn_perceiver.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;
using recognition::DynPerceiver;

void SetTorchThreads(int threads) {
  // Debian's torch defaults to one thread here; use the cores we have.
  const int n =
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
}

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
    const auto outputs = model->forward(io.at("input").to(torch::kFloat));
    double worst = 0;
    for (int k = 0; k < recognition::kNumExits; ++k) {
      const std::string name = recognition::kExitNames[k];
      if (!io.count(name))
        throw std::runtime_error((ref / "io.pt").string() + ": no '" + name + "'");
      const double d = (outputs[k] - io.at(name)).abs().max().item<double>();
      std::printf("exit %d %-9s max_abs_diff %.3g\n", k + 1, name.c_str(), d);
      worst = std::max(worst, d);
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
