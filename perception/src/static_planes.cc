#include "static_planes.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <random>

namespace dyn4d::perception {

namespace {

struct Plane {
  Eigen::Vector3f n = Eigen::Vector3f::Zero();  // unit normal
  float d = 0;                                  // n . X + d = 0
  float Distance(const Eigen::Vector3f& X) const { return std::abs(n.dot(X) + d); }
};

// Least-squares plane through points (the smallest principal axis of their
// scatter), from their accumulated moments.
struct Moments {
  double count = 0;
  Eigen::Vector3d sum = Eigen::Vector3d::Zero();
  Eigen::Matrix3d outer = Eigen::Matrix3d::Zero();
  void Add(const Eigen::Vector3f& p) {
    const Eigen::Vector3d q = p.cast<double>();
    count += 1, sum += q, outer += q * q.transpose();
  }
  bool Fit(Plane* plane) const {
    if (count < 3) return false;
    const Eigen::Vector3d mean = sum / count;
    const Eigen::Matrix3d scatter = outer / count - mean * mean.transpose();
    const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> eig(scatter);
    if (eig.info() != Eigen::Success) return false;
    plane->n = eig.eigenvectors().col(0).cast<float>();
    plane->d = static_cast<float>(-eig.eigenvectors().col(0).dot(mean));
    return true;
  }
};

}  // namespace

StaticPlanes FindStaticPlanes(const DepthView& view, const std::vector<MotionEvidence>& evidence,
                              const std::vector<uint8_t>& firm_static,
                              const MotionSegmentationConfig& c,
                              const std::function<float(float)>& depth_step) {
  const int w = view.width, h = view.height;
  const size_t n = static_cast<size_t>(w) * h;
  StaticPlanes found;
  found.on_plane.assign(n, 0);
  if (!(c.static_plane_min_area_m2 > 0) || view.depth_m.size() != n) return found;

  // Candidates: every pixel with depth that is not a flying one. Plane
  // hypotheses come from the firmly static ones (a plane must be static
  // somewhere to be structure); pixels found moving count against a plane
  // (below) and are never structure themselves.
  std::vector<Eigen::Vector3f> X(n, Eigen::Vector3f::Zero());
  std::vector<float> tolerance(n, 0), fronto_area(n, 0);
  std::vector<uint8_t> available(n, 0), moving(n, 0);
  for (int v = 0; v < h; ++v)
    for (int u = 0; u < w; ++u) {
      const size_t i = static_cast<size_t>(v) * w + u;
      const MotionEvidence e = evidence[i];
      if (e != MotionEvidence::kUnknown && e != MotionEvidence::kStatic &&
          e != MotionEvidence::kMoving)
        continue;
      moving[i] = e == MotionEvidence::kMoving;
      const float z = view.depth_m[i];
      X[i] = {static_cast<float>((u - view.cx) / view.fx * z),
              static_cast<float>((v - view.cy) / view.fy * z), z};
      // Depth noise is along the ray; as a distance from the plane it is at
      // most that.
      tolerance[i] = static_cast<float>(c.n_sigma * c.noise.Sigma(z, view.Rho2(u, v)));
      fronto_area[i] = static_cast<float>((z / view.fx) * (z / view.fy));
      available[i] = 1;
    }

  // The largest planes first (RANSAC scored by visible area on an even
  // subsample), each refined by least squares over its inliers; a few
  // planes are enough for the floor, the walls behind and a table.
  constexpr int kMaxPlanes = 4, kHypotheses = 60, kRefinements = 2;
  constexpr size_t kScoreSamples = 512;
  std::mt19937 rng(20261203);
  std::vector<size_t> pool, scored, stack, members;
  std::vector<uint8_t> inlier(n, 0), visited(n, 0);
  // A pixel still free for a plane, within the depth noise of it.
  auto on = [&](const Plane& plane, size_t i) {
    return available[i] && plane.Distance(X[i]) < tolerance[i];
  };
  for (int k = 0; k < kMaxPlanes; ++k) {
    pool.clear(), scored.clear();
    size_t candidates = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!available[i]) continue;
      ++candidates;
      if (firm_static[i] && !moving[i]) pool.push_back(i);
    }
    if (pool.size() < 3) break;
    const size_t every = std::max<size_t>(1, candidates / kScoreSamples);
    for (size_t i = 0, m = 0; i < n; ++i)
      if (available[i] && m++ % every == 0) scored.push_back(i);
    std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
    Plane best;
    float best_area = 0;
    for (int t = 0; t < kHypotheses; ++t) {
      const Eigen::Vector3f& a = X[pool[pick(rng)]];
      const Eigen::Vector3f& b = X[pool[pick(rng)]];
      const Eigen::Vector3f& q = X[pool[pick(rng)]];
      Plane p;
      p.n = (b - a).cross(q - a);
      const float norm = p.n.norm();
      if (!(norm > 1e-6f)) continue;
      p.n /= norm;
      p.d = -p.n.dot(a);
      float area = 0;
      for (size_t i : scored)
        if (on(p, i)) area += fronto_area[i];
      if (area > best_area) best_area = area, best = p;
    }
    // The subsample's area scaled to all candidates; at most 5x that as
    // surface (below): a plane that cannot reach the minimum ends the search.
    const float estimated_area = best_area * static_cast<float>(candidates) / scored.size();
    if (!(5 * estimated_area >= c.static_plane_min_area_m2)) break;
    for (int r = 0; r < kRefinements; ++r) {
      Moments m;
      for (size_t i = 0; i < n; ++i)
        if (on(best, i)) m.Add(X[i]);
      if (!m.Fit(&best)) break;
    }
    // Its connected parts (same surface: neighbours within the depth step),
    // each as a surface area (the visible area over the cosine of the
    // viewing angle, at most 5x: a grazing floor is larger than it looks,
    // but noise at grazing angles should not make it huge). A part with as
    // much motion evidence as a moving object needs (min_evidence_fraction
    // of it) is one: the face of a box sliding along itself agrees with
    // earlier views where it still covers what it covered, and its leading
    // strip is seen through.
    std::fill(visited.begin(), visited.end(), 0);
    for (size_t i = 0; i < n; ++i) inlier[i] = on(best, i);
    bool any = false;
    for (size_t s = 0; s < n; ++s) {
      if (!inlier[s] || visited[s]) continue;
      members.clear();
      double area = 0, moving_area = 0;
      bool seeded = false;
      visited[s] = 1;
      stack.assign(1, s);
      while (!stack.empty()) {
        const size_t i = stack.back();
        stack.pop_back();
        members.push_back(i);
        const float cosine = std::abs(best.n.dot(X[i])) / std::max(X[i].norm(), 1e-6f);
        const double a = fronto_area[i] / std::max(cosine, 0.2f);
        area += a;
        if (moving[i]) moving_area += a;
        seeded |= firm_static[i] && !moving[i];
        const int u = static_cast<int>(i % w), v = static_cast<int>(i / w);
        const int nb[4][2] = {{u - 1, v}, {u + 1, v}, {u, v - 1}, {u, v + 1}};
        for (const auto& q : nb) {
          if (q[0] < 0 || q[1] < 0 || q[0] >= w || q[1] >= h) continue;
          const size_t j = static_cast<size_t>(q[1]) * w + q[0];
          if (!inlier[j] || visited[j]) continue;
          if (std::abs(X[j].z() - X[i].z()) > depth_step(std::min(X[i].z(), X[j].z()))) continue;
          visited[j] = 1;
          stack.push_back(j);
        }
      }
      if (!seeded || area < c.static_plane_min_area_m2 ||
          moving_area >= c.min_evidence_fraction * area)
        continue;
      any = true;
      for (size_t i : members) found.on_plane[i] = !moving[i];
    }
    for (size_t i = 0; i < n; ++i)
      if (inlier[i]) available[i] = 0;
    found.planes += any;
  }
  return found;
}

}  // namespace dyn4d::perception
