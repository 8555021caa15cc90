// Whole-run latency percentiles in bounded memory.
#include "dyn4d/pipeline/latency_histogram.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <vector>

using dyn4d::pipeline::LatencyHistogram;

TEST_CASE("run-long latency percentiles are within 6 % of the exact ones", "[pipeline]") {
  LatencyHistogram h;
  CHECK(h.PercentileMs(0.5) == 0);  // nothing yet
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> ms(std::log(12.0), 0.8);  // a node's spread of latencies
  std::vector<double> all;
  for (int i = 0; i < 100000; ++i) {
    const double v = ms(rng);
    all.push_back(v);
    h.Add(static_cast<int64_t>(v * 1e6));
  }
  std::sort(all.begin(), all.end());
  CHECK(h.count() == 100000);
  for (double q : {0.05, 0.5, 0.95, 0.99}) {
    CAPTURE(q);
    const double exact = all[static_cast<size_t>(q * all.size()) - 1];
    CHECK(h.PercentileMs(q) == Approx(exact).epsilon(0.06));
  }
  // Outside 1 us .. 1000 s: clamped to the ends, still counted.
  LatencyHistogram ends;
  ends.Add(10);                          // 10 ns
  ends.Add(int64_t{5000} * 1000000000);  // 5000 s
  CHECK(ends.PercentileMs(0.0) == Approx(1e-3));
  CHECK(ends.PercentileMs(1.0) == Approx(1e6));
}
