// The sparse assignment solver against brute force on random problems.
#include "dyn4d/tracking/assignment.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>
#include <random>

using namespace dyn4d::tracking;

namespace {
// Best (max pairs, then min cost) over all injective row -> column maps.
std::pair<int, double> BruteForce(int rows, int cols, const std::vector<std::vector<double>>& c) {
  std::pair<int, double> best{0, 0};
  std::vector<int> perm(std::max(rows, cols));
  std::iota(perm.begin(), perm.end(), 0);
  do {
    int pairs = 0;
    double cost = 0;
    for (int i = 0; i < rows; ++i)
      if (perm[i] < cols && std::isfinite(c[i][perm[i]])) ++pairs, cost += c[i][perm[i]];
    if (pairs > best.first || (pairs == best.first && cost < best.second - 1e-12))
      best = {pairs, cost};
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}
}  // namespace

TEST_CASE("sparse assignment: as many pairs as possible at minimum cost", "[tracking]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    const int rows = 1 + trial % 5, cols = 1 + (trial / 5) % 5;
    std::vector<std::vector<double>> dense(rows, std::vector<double>(cols, INFINITY));
    std::vector<AssignmentEdge> edges;
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j)
        if (u(rng) < 0.5) {
          dense[i][j] = u(rng);
          edges.push_back({i, j, dense[i][j]});
        }
    const std::vector<int> sol = SolveSparseAssignment(rows, cols, edges);
    REQUIRE(sol.size() == size_t(rows));
    int pairs = 0;
    double cost = 0;
    std::vector<int> used(cols, 0);
    for (int i = 0; i < rows; ++i) {
      if (sol[i] < 0) continue;
      REQUIRE(std::isfinite(dense[i][sol[i]]));  // only listed pairs
      REQUIRE(used[sol[i]]++ == 0);              // each column once
      ++pairs, cost += dense[i][sol[i]];
    }
    const auto best = BruteForce(rows, cols, dense);
    INFO("trial " << trial);
    CHECK(pairs == best.first);
    CHECK(cost == Approx(best.second).margin(1e-9));
  }
  CHECK_THROWS(SolveSparseAssignment(2, 2, {{0, 5, 1.0}}));
  CHECK(SolveSparseAssignment(3, 0, {}) == std::vector<int>{-1, -1, -1});
}
