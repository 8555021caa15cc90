#pragma once
#include <chrono>
#include <cstdint>

namespace dyn4d::pipeline {

/// Steady-clock nanoseconds, the time base of latency figures.
inline int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
/// Wall-clock nanoseconds since the Unix epoch, for stamps of live data.
inline int64_t WallNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace dyn4d::pipeline
