#pragma once
/// \file
/// Pairs a primary stream (frames) with an optional secondary one (their
/// tracks) by sequence number, releasing primaries in order. A primary waits
/// for its secondary only while the secondary input is connected, no later
/// secondary has arrived (a secondary stream comes in order, so a later one
/// means this primary's will not come), and at most `max_wait` newer
/// primaries have arrived, so a missing secondary never stalls the stream or
/// grows memory without bound.

#include <cstdint>
#include <map>

namespace dyn4d::pipeline {

template <typename Primary, typename Secondary>
class OrderedJoin {
 public:
  /// `wait_for_secondary`: the secondary input is connected.
  OrderedJoin(bool wait_for_secondary, uint64_t max_wait)
      : wait_(wait_for_secondary), max_wait_(max_wait) {}

  void AddPrimary(uint64_t seq, const Primary& p) { primary_[seq] = p; }
  void AddSecondary(uint64_t seq, const Secondary& s) {
    secondary_[seq] = s;
    if (!any_secondary_ || seq > newest_secondary_) newest_secondary_ = seq;
    any_secondary_ = true;
  }

  /// Calls fn(primary, secondary or nullptr) for every primary that is ready,
  /// in sequence order, and forgets secondaries older than what is pending.
  template <typename Fn>
  void Release(Fn&& fn) {
    while (!primary_.empty()) {
      auto p = primary_.begin();
      auto s = secondary_.find(p->first);
      const bool stale = primary_.rbegin()->first >= p->first + max_wait_;
      const bool passed = any_secondary_ && newest_secondary_ > p->first;
      if (wait_ && s == secondary_.end() && !stale && !passed) break;
      fn(p->second, s == secondary_.end() ? nullptr : &s->second);
      if (s != secondary_.end()) secondary_.erase(s);
      primary_.erase(p);
    }
    while (!secondary_.empty() && !primary_.empty() &&
           secondary_.begin()->first < primary_.begin()->first)
      secondary_.erase(secondary_.begin());
  }

  /// End of stream: every pending primary, with its secondary if it came.
  template <typename Fn>
  void Flush(Fn&& fn) {
    for (auto& [seq, p] : primary_) {
      auto s = secondary_.find(seq);
      fn(p, s == secondary_.end() ? nullptr : &s->second);
    }
    primary_.clear();
    secondary_.clear();
  }

 private:
  bool wait_;
  uint64_t max_wait_;
  bool any_secondary_ = false;
  uint64_t newest_secondary_ = 0;
  std::map<uint64_t, Primary> primary_;
  std::map<uint64_t, Secondary> secondary_;
};

}  // namespace dyn4d::pipeline
