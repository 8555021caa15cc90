#include "dyn4d/recognition/calibration.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace dyn4d::recognition {
namespace {

std::vector<double> DistributionFor(double q, int exits) {
  std::vector<double> p(exits);
  for (int k = 0; k < exits; ++k) p[k] = std::pow(q, k + 1);
  const double sum = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& v : p) v /= sum;
  // Scale exit k by its factor and spread what is left over the later exits
  // in proportion to their current shares.
  const double factors[3] = {0.85, 1.0, 0.5};
  double used = 0;
  for (int k = 0; k + 1 < exits && k < 3; ++k) {
    p[k] *= factors[k];
    used += p[k];
    double rest = 0;
    for (int j = k + 1; j < exits; ++j) rest += p[j];
    for (int j = k + 1; j < exits; ++j) p[j] = rest > 0 ? p[j] / rest * (1 - used) : 0;
  }
  return p;
}

void CheckScores(const ExitScores& s) {
  if (s.exits < 2 || s.samples < 1 || s.confidence.size() != size_t(s.samples * s.exits) ||
      s.correct.size() != s.confidence.size())
    throw std::invalid_argument("ExitScores: need >= 2 exits and samples x exits entries");
}

}  // namespace

double ExitAccuracy(const ExitScores& s, int exit) {
  CheckScores(s);
  int64_t right = 0;
  for (int64_t i = 0; i < s.samples; ++i) right += s.Correct(i, exit);
  return double(right) / double(s.samples);
}

std::vector<std::vector<double>> OfficialExitDistributions(int exits) {
  std::vector<std::vector<double>> out;
  for (int i = 0; i <= 16; ++i) out.push_back(DistributionFor(0.2 + 0.05 * i, exits));
  for (int d = 20; d >= 5; --d) out.push_back(DistributionFor(20.0 / d, exits));
  return out;
}

std::vector<std::vector<double>> DenseExitDistributions(int exits, int count) {
  std::vector<std::vector<double>> out;
  for (int i = 0; i < count; ++i) {
    const double q = std::exp(std::log(0.02) + (std::log(50.0) - std::log(0.02)) * i / (count - 1));
    out.push_back(DistributionFor(q, exits));
  }
  return out;
}

std::vector<float> ThresholdsForDistribution(const ExitScores& s,
                                             const std::vector<double>& distribution) {
  CheckScores(s);
  if (int(distribution.size()) != s.exits)
    throw std::invalid_argument("distribution has " + std::to_string(distribution.size()) +
                                " entries for " + std::to_string(s.exits) + " exits");
  std::vector<uint8_t> exited(s.samples, 0);
  std::vector<float> thresholds(s.exits - 1, 1e8f);
  std::vector<int64_t> order(s.samples);
  for (int k = 0; k + 1 < s.exits; ++k) {
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return s.Confidence(a, k) > s.Confidence(b, k); });
    const auto wanted = static_cast<int64_t>(std::floor(s.samples * distribution[k]));
    int64_t count = 0;
    for (int64_t i : order) {
      if (exited[i]) continue;
      if (++count == wanted) {
        thresholds[k] = s.Confidence(i, k);
        break;
      }
    }
    for (int64_t i = 0; i < s.samples; ++i)
      if (s.Confidence(i, k) >= thresholds[k]) exited[i] = 1;
  }
  return thresholds;
}

DynamicEval EvaluateThresholds(const ExitScores& s, const std::vector<float>& thresholds,
                               const std::vector<double>& exit_cost) {
  CheckScores(s);
  if (int(thresholds.size()) != s.exits - 1 || int(exit_cost.size()) != s.exits)
    throw std::invalid_argument("need " + std::to_string(s.exits - 1) + " thresholds and " +
                                std::to_string(s.exits) + " exit costs");
  DynamicEval e;
  e.exit_fraction.assign(s.exits, 0);
  int64_t right = 0;
  for (int64_t i = 0; i < s.samples; ++i) {
    int k = 0;
    while (k + 1 < s.exits && s.Confidence(i, k) < thresholds[k]) ++k;
    e.exit_fraction[k] += 1;
    right += s.Correct(i, k);
  }
  for (int k = 0; k < s.exits; ++k) {
    e.exit_fraction[k] /= double(s.samples);
    e.expected_cost += e.exit_fraction[k] * exit_cost[k];
  }
  e.accuracy = double(right) / double(s.samples);
  return e;
}

Calibration CalibrateForBudget(const ExitScores& s, const std::vector<double>& exit_cost,
                               double budget) {
  Calibration best, cheapest;
  bool have_best = false, have_cheapest = false;
  for (const auto& p : DenseExitDistributions(s.exits)) {
    Calibration c;
    c.thresholds = ThresholdsForDistribution(s, p);
    c.on_calibration_set = EvaluateThresholds(s, c.thresholds, exit_cost);
    c.budget_met = c.on_calibration_set.expected_cost <= budget;
    if (c.budget_met &&
        (!have_best || c.on_calibration_set.accuracy > best.on_calibration_set.accuracy)) {
      best = c;
      have_best = true;
    }
    if (!have_cheapest ||
        c.on_calibration_set.expected_cost < cheapest.on_calibration_set.expected_cost) {
      cheapest = c;
      have_cheapest = true;
    }
  }
  return have_best ? best : cheapest;
}

}  // namespace dyn4d::recognition
