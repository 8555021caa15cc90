#pragma once
/// \file
/// Minimum-cost assignment (Hungarian / Kuhn-Munkres with potentials) on a
/// dense rectangular cost matrix, for data association and the evaluators.
#include <vector>

namespace dyn4d::tracking {

/// Assigns rows to columns minimising the total cost; every row of the
/// smaller side is assigned. `cost` is rows x cols (row-major, all rows the
/// same length). Pairs with cost >= `forbidden` are never returned.
/// Returns, per row, its column or -1.
std::vector<int> SolveAssignment(const std::vector<std::vector<double>>& cost,
                                 double forbidden = 1e18);

}  // namespace dyn4d::tracking
