#pragma once
/// \file
/// The bounded input queue of a node: one bounded FIFO per input edge, popped
/// in arrival order across edges. Lossless edges refuse to overfill (the
/// caller stops reading the socket, which back-pressures the producer);
/// latest edges drop their oldest item and count it.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "dyn4d/pipeline/flow.h"

namespace dyn4d::pipeline {

template <typename T>
class EdgeQueue {
 public:
  struct EdgeSpec {
    FlowPolicy flow = FlowPolicy::kLossless;
    size_t capacity = 8;  ///< >= 1
  };
  struct Item {
    size_t edge;
    T value;
  };

  explicit EdgeQueue(std::vector<EdgeSpec> specs)
      : specs_(std::move(specs)), edges_(specs_.size()) {}

  /// True if `edge` can take an item without dropping or exceeding capacity.
  bool HasSpace(size_t edge) const {
    std::lock_guard<std::mutex> lock(mu_);
    return edges_[edge].items.size() < specs_[edge].capacity;
  }

  /// Adds an item. On a full latest edge the oldest item of that edge is
  /// dropped (returns true); a full lossless edge is over-filled by one rather
  /// than losing data, so callers check HasSpace first.
  bool Push(size_t edge, T value) {
    bool dropped = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Edge& e = edges_[edge];
      if (specs_[edge].flow == FlowPolicy::kLatest && e.items.size() >= specs_[edge].capacity) {
        e.items.pop_front();
        ++e.dropped;
        --depth_;
        dropped = true;
      }
      e.items.push_back({next_arrival_++, std::move(value)});
      ++depth_;
      if (depth_ > max_depth_) max_depth_ = depth_;
    }
    not_empty_.notify_one();
    return dropped;
  }

  /// Removes the oldest item across all edges; waits up to `timeout`.
  std::optional<Item> Pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!not_empty_.wait_for(lock, timeout, [&] { return depth_ > 0 || shutdown_; })) return {};
    if (depth_ == 0) return {};
    size_t best = edges_.size();
    for (size_t i = 0; i < edges_.size(); ++i) {
      if (edges_[i].items.empty()) continue;
      if (best == edges_.size() ||
          edges_[i].items.front().arrival < edges_[best].items.front().arrival)
        best = i;
    }
    Item out{best, std::move(edges_[best].items.front().value)};
    edges_[best].items.pop_front();
    --depth_;
    lock.unlock();
    has_space_.notify_all();
    return out;
  }

  /// Waits until some lossless edge has space again, or `timeout`.
  void WaitForSpace(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    has_space_.wait_for(lock, timeout, [&] {
      if (shutdown_) return true;
      for (size_t i = 0; i < edges_.size(); ++i)
        if (edges_[i].items.size() < specs_[i].capacity) return true;
      return false;
    });
  }

  /// Wakes every waiter; Pop then returns what is left, then nothing.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
    }
    not_empty_.notify_all();
    has_space_.notify_all();
  }

  size_t Depth() const {
    std::lock_guard<std::mutex> lock(mu_);
    return depth_;
  }
  /// Largest depth ever reached: proves the bound in tests and stats.
  size_t MaxDepth() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_depth_;
  }
  uint64_t Dropped() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t n = 0;
    for (const Edge& e : edges_) n += e.dropped;
    return n;
  }

 private:
  struct Entry {
    uint64_t arrival;
    T value;
  };
  struct Edge {
    std::deque<Entry> items;
    uint64_t dropped = 0;
  };
  const std::vector<EdgeSpec> specs_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_, has_space_;
  std::vector<Edge> edges_;
  uint64_t next_arrival_ = 0;
  size_t depth_ = 0, max_depth_ = 0;
  bool shutdown_ = false;
};

}  // namespace dyn4d::pipeline
