#pragma once
/// \file
/// Early-exit thresholds for a compute budget, as the official
/// adaptive_inference.py does it, on per-exit confidences of a calibration
/// set. Torch-free: the scores are plain arrays.
#include <cstdint>
#include <vector>

namespace dyn4d::recognition {

/// Per-sample, per-exit max-softmax confidence and whether that exit's
/// prediction is right; row-major (sample, exit).
struct ExitScores {
  int64_t samples = 0;
  int exits = 0;
  std::vector<float> confidence;
  std::vector<uint8_t> correct;
  float Confidence(int64_t i, int k) const { return confidence[i * exits + k]; }
  bool Correct(int64_t i, int k) const { return correct[i * exits + k] != 0; }
};

/// Fraction of samples exit `exit` classifies correctly.
double ExitAccuracy(const ExitScores& scores, int exit);

/// The official budget sweep (generate_distribution): 33 target exit
/// distributions, p proportional to q^[1..E] for q in {0.2, 0.25, ..., 1,
/// 20/20, 20/19, ..., 20/5}, then p[0] *= 0.85, p[1] *= 1, p[2] *= 0.5 in
/// turn with the remainder renormalised over the later exits.
std::vector<std::vector<double>> OfficialExitDistributions(int exits);
/// The same family on a finer grid of q (for calibrating to a budget).
std::vector<std::vector<double>> DenseExitDistributions(int exits, int count = 200);

/// dynamic_eval_find_threshold: for k = 1..E-1, among samples not yet
/// exited, the floor(N p_k)-th highest confidence at exit k. Thresholds
/// above 1 mean "nobody leaves here".
std::vector<float> ThresholdsForDistribution(const ExitScores& scores,
                                             const std::vector<double>& distribution);

struct DynamicEval {
  double accuracy = 0;       ///< fraction correct at the exit taken
  double expected_cost = 0;  ///< sum over exits of fraction * cumulative cost
  std::vector<double> exit_fraction;
};
/// Applies thresholds (size E-1; the last exit takes the rest).
DynamicEval EvaluateThresholds(const ExitScores& scores, const std::vector<float>& thresholds,
                               const std::vector<double>& exit_cost);

struct Calibration {
  std::vector<float> thresholds;
  DynamicEval on_calibration_set;
  bool budget_met = false;  ///< false: even the cheapest candidate costs more
};
/// The most accurate thresholds (on the calibration set) whose expected cost
/// is within `budget` (same unit as exit_cost: GFLOPs or ms per sample).
Calibration CalibrateForBudget(const ExitScores& scores, const std::vector<double>& exit_cost,
                               double budget);

}  // namespace dyn4d::recognition
