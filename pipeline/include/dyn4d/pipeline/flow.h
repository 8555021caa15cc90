#pragma once
#include <optional>
#include <string>

namespace dyn4d::pipeline {

/// What an edge does when its consumer is slower than its producer.
enum class FlowPolicy {
  /// Back-pressure: the producer waits, nothing is ever dropped. For offline
  /// sources (files, recordings) where every frame matters.
  kLossless,
  /// Bounded queue that drops the oldest message and counts the drop. For live
  /// sources, where a late frame is worth less than a fresh one.
  kLatest,
};

std::string ToString(FlowPolicy p);
std::optional<FlowPolicy> FlowPolicyFromString(const std::string& s);

}  // namespace dyn4d::pipeline
