#include "dyn4d/perception/stream_anchors.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dyn4d::perception {

std::vector<std::string> StreamAnchors::Config::Validate() const {
  std::vector<std::string> p;
  if (max_per_class < 1) p.push_back("max_per_class: must be >= 1");
  if (forget_after_looks < 1) p.push_back("forget_after_looks: must be >= 1");
  return p;
}

StreamAnchors::StreamAnchors(Config config) : c_(config) {
  const auto problems = c_.Validate();
  if (!problems.empty()) throw std::invalid_argument("StreamAnchors::Config: " + problems.front());
}

void StreamAnchors::BeginLook() {
  ++looks_;
  anchored_.erase(std::remove_if(anchored_.begin(), anchored_.end(),
                                 [&](const Anchored& a) {
                                   return looks_ - a.last_look > c_.forget_after_looks;
                                 }),
                  anchored_.end());
}

namespace {

// The vector scaled to unit length (empty when it has none).
std::vector<float> Unit(const std::vector<float>& e) {
  double n = 0;
  for (float v : e) n += double(v) * v;
  if (!(n > 0) || !std::isfinite(n)) return {};
  std::vector<float> u(e.size());
  const double inv = 1 / std::sqrt(n);
  for (size_t i = 0; i < e.size(); ++i) u[i] = static_cast<float>(e[i] * inv);
  return u;
}

}  // namespace

void StreamAnchors::Add(int class_id, const std::vector<float>& features) {
  if (class_id < 0) throw std::invalid_argument("StreamAnchors::Add: class id must be >= 0");
  if (features.empty()) throw std::invalid_argument("StreamAnchors::Add: empty feature vector");
  if (dims_ == 0) dims_ = features.size();
  if (features.size() != dims_)
    throw std::invalid_argument("StreamAnchors::Add: feature vector of " +
                                std::to_string(features.size()) + " values, the first had " +
                                std::to_string(dims_));
  std::vector<float> u = Unit(features);
  if (u.empty()) return;  // no direction to compare
  auto it = std::find_if(anchored_.begin(), anchored_.end(),
                         [&](const Anchored& a) { return a.class_id == class_id; });
  if (it == anchored_.end())
    it = anchored_.insert(anchored_.end(), {class_id, looks_, {}, std::vector<double>(dims_, 0)});
  Anchored& a = *it;
  a.last_look = looks_;
  if (static_cast<int>(a.members.size()) == c_.max_per_class) {
    for (size_t i = 0; i < dims_; ++i) a.sum[i] -= a.members.front()[i];
    a.members.erase(a.members.begin());
  }
  for (size_t i = 0; i < dims_; ++i) a.sum[i] += u[i];
  a.members.push_back(std::move(u));
}

std::optional<StreamAnchors::Match> StreamAnchors::Nearest(
    const std::vector<float>& features) const {
  if (anchored_.empty() || features.size() != dims_) return std::nullopt;
  const std::vector<float> u = Unit(features);
  if (u.empty()) return std::nullopt;
  std::optional<Match> best;
  for (const Anchored& a : anchored_) {
    double dot = 0, norm = 0;
    for (size_t i = 0; i < dims_; ++i) dot += a.sum[i] * u[i], norm += a.sum[i] * a.sum[i];
    if (!(norm > 0)) continue;
    const float similarity = static_cast<float>(dot / std::sqrt(norm));
    if (!best || similarity > best->similarity) best = Match{a.class_id, similarity};
  }
  return best;
}

int StreamAnchors::classes() const { return static_cast<int>(anchored_.size()); }

}  // namespace dyn4d::perception
