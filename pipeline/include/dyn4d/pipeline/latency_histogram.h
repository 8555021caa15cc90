#pragma once
/// \file
/// Processing latencies over a whole run in bounded memory: log-spaced bins,
/// 20 a decade from 1 microsecond to 1000 seconds, so a percentile is known
/// to within 6 % however long the run (the per-window latencies a node's
/// stats carry are exact, but only for the last second).
#include <array>
#include <cstdint>

namespace dyn4d::pipeline {

class LatencyHistogram {
 public:
  void Add(int64_t ns);
  /// The q-quantile (nearest rank) in milliseconds, as the geometric centre
  /// of its bin; 0 when empty.
  double PercentileMs(double q) const;
  uint64_t count() const { return count_; }

 private:
  static constexpr int kPerDecade = 20;
  static constexpr int kDecades = 9;  // 1e-3 ms .. 1e6 ms
  static constexpr int kBins = kPerDecade * kDecades;
  std::array<uint64_t, kBins + 2> bins_{};  // [0] below 1 us, [kBins + 1] above 1000 s
  uint64_t count_ = 0;
};

}  // namespace dyn4d::pipeline
