#include "dyn4d/pipeline/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace dyn4d::pipeline {

void LatencyHistogram::Add(int64_t ns) {
  const double ms = ns / 1e6;
  int bin;
  if (!(ms >= 1e-3))
    bin = 0;
  else
    bin = 1 + static_cast<int>(std::floor(std::log10(ms / 1e-3) * kPerDecade));
  ++bins_[std::clamp(bin, 0, kBins + 1)];
  ++count_;
}

double LatencyHistogram::PercentileMs(double q) const {
  if (count_ == 0) return 0;
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_)));
  uint64_t seen = 0;
  for (int b = 0; b < kBins + 2; ++b) {
    seen += bins_[b];
    if (seen < rank) continue;
    if (b == 0) return 1e-3;
    if (b == kBins + 1) return 1e6;
    return 1e-3 * std::pow(10.0, (b - 1 + 0.5) / kPerDecade);
  }
  return 1e6;
}

}  // namespace dyn4d::pipeline
