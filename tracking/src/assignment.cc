#include "dyn4d/tracking/assignment.h"

#include <algorithm>
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

std::vector<int> SolveAssignment(const std::vector<std::vector<double>>& cost, double forbidden) {
  const int rows = static_cast<int>(cost.size());
  if (rows == 0) return {};
  const int cols = static_cast<int>(cost[0].size());
  for (const auto& r : cost)
    if (static_cast<int>(r.size()) != cols)
      throw std::invalid_argument("SolveAssignment: rows of different lengths");
  if (cols == 0) return std::vector<int>(rows, -1);
  // Forbidden pairs get a cost larger than any feasible total, so they are
  // chosen only when unavoidable, and dropped afterwards.
  double big = 1;
  for (const auto& r : cost)
    for (double c : r)
      if (c < forbidden) big += std::abs(c);
  std::vector<std::vector<double>> a;
  const bool transpose = rows > cols;
  const int n = transpose ? cols : rows, m = transpose ? rows : cols;
  a.assign(n, std::vector<double>(m));
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

}  // namespace dyn4d::tracking
