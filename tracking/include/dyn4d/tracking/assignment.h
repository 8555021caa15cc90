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

/// One allowed pair of a sparse assignment problem.
struct AssignmentEdge {
  int row = 0, col = 0;
  double cost = 0;
};

/// The same for a sparse problem: only the listed pairs are allowed. Rows
/// and columns linked by edges form independent blocks, each solved densely,
/// so the cost follows the size of the largest block, not rows x cols.
/// Returns, per row, its column or -1.
std::vector<int> SolveSparseAssignment(int rows, int cols,
                                       const std::vector<AssignmentEdge>& edges);

}  // namespace dyn4d::tracking
