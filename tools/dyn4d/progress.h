#pragma once
// A progress bar for long offline work: redrawn in place on a terminal,
// one line per 10 % in a log.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace dyn4d::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total)
      : label_(std::move(label)),
        total_(total),
        tty_(isatty(STDERR_FILENO)),
        start_(std::chrono::steady_clock::now()) {}
  void Update(int64_t done) {
    const double frac = total_ > 0 ? std::min(1.0, double(done) / total_) : 0;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (tty_) {
      const int filled = static_cast<int>(frac * 30);
      std::fprintf(stderr, "\r\033[K%s [%s%s] %3.0f%% %lld/%lld  %.1f/s", label_.c_str(),
                   std::string(filled, '#').c_str(), std::string(30 - filled, '.').c_str(),
                   frac * 100, static_cast<long long>(done), static_cast<long long>(total_),
                   done / std::max(1e-9, elapsed));
    } else if (static_cast<int>(frac * 10) > last_decile_) {
      last_decile_ = static_cast<int>(frac * 10);
      std::fprintf(stderr, "%s: %3.0f%% (%lld/%lld)\n", label_.c_str(), frac * 100,
                   static_cast<long long>(done), static_cast<long long>(total_));
    }
  }
  void Finish() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  int last_decile_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace dyn4d::cli
