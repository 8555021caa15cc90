#include "dyn4d/tracking/assignment.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace dyn4d::tracking {
namespace {

// O(n^2 m) Hungarian algorithm with potentials for n <= m (every row gets a
// column). Returns the column of each row.
std::vector<int> Hungarian(const std::vector<std::vector<double>>& a, int n, int m) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(m + 1, 0), minv(m + 1);
  std::vector<int> p(m + 1, 0), way(m + 1, 0);
  std::vector<char> used(m + 1);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::fill(minv.begin(), minv.end(), inf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[j0] = 1;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = a[i0 - 1][j - 1] - u[i0] - v[j];
        if (cur < minv[j]) minv[j] = cur, way[j] = j0;
        if (minv[j] < delta) delta = minv[j], j1 = j;
      }
      for (int j = 0; j <= m; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  std::vector<int> row_to_col(n, -1);
  for (int j = 1; j <= m; ++j)
    if (p[j]) row_to_col[p[j] - 1] = j - 1;
  return row_to_col;
}

}  // namespace

namespace {

// Dense solve of one block (forbidden pairs priced above any feasible total).
std::vector<int> SolveDense(const std::vector<std::vector<double>>& cost, double forbidden) {
  const int rows = static_cast<int>(cost.size());
  const int cols = static_cast<int>(cost[0].size());
  double big = 1;
  for (const auto& r : cost)
    for (double c : r)
      if (c < forbidden) big += std::abs(c);
  const bool transpose = rows > cols;
  const int n = transpose ? cols : rows, m = transpose ? rows : cols;
  std::vector<std::vector<double>> a(n, std::vector<double>(m));
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      const double c = cost[i][j] >= forbidden ? big : cost[i][j];
      (transpose ? a[j][i] : a[i][j]) = c;
    }
  const std::vector<int> match = Hungarian(a, n, m);
  std::vector<int> out(rows, -1);
  for (int k = 0; k < n; ++k) {
    if (match[k] < 0) continue;
    const int i = transpose ? match[k] : k, j = transpose ? k : match[k];
    if (cost[i][j] < forbidden) out[i] = j;
  }
  return out;
}

int Find(std::vector<int>& parent, int x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

}  // namespace

std::vector<int> SolveAssignment(const std::vector<std::vector<double>>& cost, double forbidden) {
  const int rows = static_cast<int>(cost.size());
  if (rows == 0) return {};
  const int cols = static_cast<int>(cost[0].size());
  std::vector<AssignmentEdge> edges;
  for (int i = 0; i < rows; ++i) {
    if (static_cast<int>(cost[i].size()) != cols)
      throw std::invalid_argument("SolveAssignment: rows of different lengths");
    for (int j = 0; j < cols; ++j)
      if (cost[i][j] < forbidden) edges.push_back({i, j, cost[i][j]});
  }
  return SolveSparseAssignment(rows, cols, edges);
}

std::vector<int> SolveSparseAssignment(int rows, int cols,
                                       const std::vector<AssignmentEdge>& edges) {
  std::vector<int> out(std::max(rows, 0), -1);
  if (rows <= 0 || cols <= 0 || edges.empty()) return out;
  // Rows and columns linked by allowed pairs form independent blocks (in
  // tracking: groups of nearby objects); solving each block alone keeps the
  // cost near-linear in the number of objects instead of cubic.
  std::vector<int> parent(rows + cols);
  for (int k = 0; k < rows + cols; ++k) parent[k] = k;
  for (const AssignmentEdge& e : edges) {
    if (e.row < 0 || e.row >= rows || e.col < 0 || e.col >= cols || !std::isfinite(e.cost))
      throw std::invalid_argument("SolveSparseAssignment: edge out of range or not finite");
    parent[Find(parent, e.row)] = Find(parent, rows + e.col);
  }
  // Local indices of each row and column within its block.
  std::vector<int> local(rows + cols, -1), block_of(rows + cols, -1);
  std::vector<std::vector<int>> block_rows, block_cols;
  auto block = [&](int node) {
    const int root = Find(parent, node);
    if (block_of[root] < 0) {
      block_of[root] = static_cast<int>(block_rows.size());
      block_rows.emplace_back();
      block_cols.emplace_back();
    }
    return block_of[root];
  };
  for (const AssignmentEdge& e : edges) {
    const int b = block(e.row);
    if (local[e.row] < 0)
      local[e.row] = static_cast<int>(block_rows[b].size()), block_rows[b].push_back(e.row);
    const int c = rows + e.col;
    if (local[c] < 0)
      local[c] = static_cast<int>(block_cols[b].size()), block_cols[b].push_back(e.col);
  }
  constexpr double kForbidden = std::numeric_limits<double>::infinity();
  std::vector<std::vector<std::vector<double>>> sub(block_rows.size());
  for (size_t b = 0; b < block_rows.size(); ++b)
    sub[b].assign(block_rows[b].size(), std::vector<double>(block_cols[b].size(), kForbidden));
  for (const AssignmentEdge& e : edges) {
    double& c = sub[block(e.row)][local[e.row]][local[rows + e.col]];
    c = std::min(c, e.cost);
  }
  for (size_t b = 0; b < block_rows.size(); ++b) {
    const auto sol = SolveDense(sub[b], kForbidden);
    for (size_t i = 0; i < block_rows[b].size(); ++i)
      if (sol[i] >= 0) out[block_rows[b][i]] = block_cols[b][sol[i]];
  }
  return out;
}

}  // namespace dyn4d::tracking
