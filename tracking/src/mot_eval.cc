#include "dyn4d/tracking/mot_eval.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include "dyn4d/tracking/assignment.h"

namespace dyn4d::tracking {

MotSequence LoadMotFile(const std::string& path, bool ground_truth) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  MotSequence seq;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<double> v;
    std::stringstream ss(line);
    for (std::string field; std::getline(ss, field, ',');) {
      try {
        size_t used = 0;
        v.push_back(std::stod(field, &used));
      } catch (const std::exception&) {
        throw std::runtime_error(path + ":" + std::to_string(n) + ": '" + field +
                                 "' is not a number");
      }
    }
    if (v.size() < 6)
      throw std::runtime_error(path + ":" + std::to_string(n) +
                               ": expected frame,id,x,y,w,h[,conf,...], got '" + line + "'");
    for (double x : v)
      if (!std::isfinite(x)) throw std::runtime_error(path + ":" + std::to_string(n) + ": NaN/inf");
    if (v[4] < 0 || v[5] < 0)
      throw std::runtime_error(path + ":" + std::to_string(n) + ": negative box size");
    if (v[0] < 1) throw std::runtime_error(path + ":" + std::to_string(n) + ": frame must be >= 1");
    if (ground_truth && v.size() >= 7 && v[6] == 0) continue;  // "do not consider"
    seq[static_cast<int>(v[0])].push_back(
        {static_cast<int64_t>(v[1]), v[2], v[3], v[4], v[5], v.size() >= 7 ? v[6] : 1.0});
  }
  return seq;
}

double Iou(const MotBox& a, const MotBox& b) {
  const double x0 = std::max(a.x, b.x), y0 = std::max(a.y, b.y);
  const double x1 = std::min(a.x + a.w, b.x + b.w), y1 = std::min(a.y + a.h, b.y + b.h);
  const double inter = std::max(0.0, x1 - x0) * std::max(0.0, y1 - y0);
  const double uni = a.w * a.h + b.w * b.h - inter;
  return uni > 0 ? inter / uni : 0;
}

MotMetrics& MotMetrics::operator+=(const MotMetrics& o) {
  gt += o.gt, predictions += o.predictions, matches += o.matches, fp += o.fp, fn += o.fn;
  idsw += o.idsw, fragmentations += o.fragmentations;
  mostly_tracked += o.mostly_tracked, partly_tracked += o.partly_tracked;
  mostly_lost += o.mostly_lost, iou_sum += o.iou_sum;
  idtp += o.idtp, idfp += o.idfp, idfn += o.idfn;
  return *this;
}

namespace {

// Every frame with a ground-truth or a result box, in order.
std::set<int> FramesOf(const MotSequence& gt, const MotSequence& res) {
  std::set<int> frames;
  for (const auto& [f, _] : gt) frames.insert(f);
  for (const auto& [f, _] : res) frames.insert(f);
  return frames;
}

const std::vector<MotBox>& BoxesAt(const MotSequence& s, int frame) {
  static const std::vector<MotBox> kNone;
  const auto it = s.find(frame);
  return it == s.end() ? kNone : it->second;
}

std::vector<std::vector<double>> IouMatrix(const std::vector<MotBox>& g,
                                           const std::vector<MotBox>& r) {
  std::vector<std::vector<double>> m(g.size(), std::vector<double>(r.size()));
  for (size_t i = 0; i < g.size(); ++i)
    for (size_t j = 0; j < r.size(); ++j) m[i][j] = Iou(g[i], r[j]);
  return m;
}

}  // namespace

MotMetrics EvaluateMot(const MotSequence& gt, const MotSequence& res, double thr) {
  MotMetrics m;
  std::map<int64_t, int64_t> last_match;         // gt id -> tracker id, last time matched
  std::map<int64_t, int64_t> current;            // matches of the previous frame
  std::map<int64_t, int> present, tracked;       // per gt id: frames present, frames matched
  std::map<int64_t, std::vector<char>> history;  // per gt id, matched flag per present frame
  std::map<std::pair<int64_t, int64_t>, int64_t> pair_hits;  // (gt, tracker) IoU >= thr
  std::map<int64_t, int64_t> gt_count, res_count;
  for (int f : FramesOf(gt, res)) {
    const auto& G = BoxesAt(gt, f);
    const auto& R = BoxesAt(res, f);
    m.gt += G.size(), m.predictions += R.size();
    for (const auto& g : G) ++gt_count[g.id];
    for (const auto& r : R) ++res_count[r.id];
    const auto iou = IouMatrix(G, R);
    for (size_t i = 0; i < G.size(); ++i)
      for (size_t j = 0; j < R.size(); ++j)
        if (iou[i][j] >= thr) ++pair_hits[{G[i].id, R[j].id}];
    std::vector<int> g_to_r(G.size(), -1);
    std::vector<char> r_used(R.size(), 0);
    // 1) Keep last frame's correspondences that are still valid.
    for (size_t i = 0; i < G.size(); ++i) {
      auto c = current.find(G[i].id);
      if (c == current.end()) continue;
      for (size_t j = 0; j < R.size(); ++j)
        if (!r_used[j] && R[j].id == c->second && iou[i][j] >= thr) {
          g_to_r[i] = static_cast<int>(j), r_used[j] = 1;
          break;
        }
    }
    // 2) The rest by minimum-cost assignment on 1 - IoU.
    std::vector<size_t> gi, rj;
    for (size_t i = 0; i < G.size(); ++i)
      if (g_to_r[i] < 0) gi.push_back(i);
    for (size_t j = 0; j < R.size(); ++j)
      if (!r_used[j]) rj.push_back(j);
    if (!gi.empty() && !rj.empty()) {
      std::vector<std::vector<double>> cost(gi.size(), std::vector<double>(rj.size()));
      for (size_t a = 0; a < gi.size(); ++a)
        for (size_t b = 0; b < rj.size(); ++b) {
          const double o = iou[gi[a]][rj[b]];
          cost[a][b] = o >= thr ? 1 - o : 1e18;
        }
      const auto sol = SolveAssignment(cost, 1e17);
      for (size_t a = 0; a < gi.size(); ++a)
        if (sol[a] >= 0) {
          const size_t i = gi[a], j = rj[sol[a]];
          g_to_r[i] = static_cast<int>(j), r_used[j] = 1;
          auto lm = last_match.find(G[i].id);
          if (lm != last_match.end() && lm->second != R[j].id) ++m.idsw;
        }
    }
    current.clear();
    for (size_t i = 0; i < G.size(); ++i) {
      const bool hit = g_to_r[i] >= 0;
      ++present[G[i].id];
      history[G[i].id].push_back(hit);
      if (!hit) {
        ++m.fn;
        continue;
      }
      const MotBox& r = R[g_to_r[i]];
      ++tracked[G[i].id], ++m.matches;
      m.iou_sum += iou[i][g_to_r[i]];
      current[G[i].id] = r.id;
      last_match[G[i].id] = r.id;
    }
    for (size_t j = 0; j < R.size(); ++j) m.fp += !r_used[j];
  }
  for (const auto& [id, n] : present) {
    const double ratio = double(tracked[id]) / n;
    if (ratio >= 0.8)
      ++m.mostly_tracked;
    else if (ratio < 0.2)
      ++m.mostly_lost;
    else
      ++m.partly_tracked;
    // A fragmentation: tracked, then not (while present), then tracked again.
    const auto& h = history[id];
    bool seen = false, gap = false;
    for (char hit : h) {
      if (hit && seen && gap) ++m.fragmentations, gap = false;
      if (hit)
        seen = true;
      else if (seen)
        gap = true;
    }
  }
  // IDF1: one-to-one matching of gt ids to tracker ids maximising the
  // number of boxes they share (IDTP).
  std::vector<int64_t> gids, rids;
  for (const auto& [id, _] : gt_count) gids.push_back(id);
  for (const auto& [id, _] : res_count) rids.push_back(id);
  if (!gids.empty() && !rids.empty()) {
    std::vector<std::vector<double>> cost(gids.size(), std::vector<double>(rids.size(), 0));
    for (const auto& [p, n] : pair_hits) {
      const size_t a = std::lower_bound(gids.begin(), gids.end(), p.first) - gids.begin();
      const size_t b = std::lower_bound(rids.begin(), rids.end(), p.second) - rids.begin();
      cost[a][b] = -double(n);
    }
    const auto sol = SolveAssignment(cost);
    for (size_t a = 0; a < gids.size(); ++a)
      if (sol[a] >= 0) m.idtp += static_cast<int64_t>(-cost[a][sol[a]]);
  }
  m.idfn = m.gt - m.idtp;
  m.idfp = m.predictions - m.idtp;
  return m;
}

namespace {
template <typename PerAlpha>
double MeanOverAlpha(PerAlpha per_alpha) {
  double s = 0;
  for (int a = 0; a < HotaMetrics::kAlphas; ++a) s += per_alpha(a);
  return s / HotaMetrics::kAlphas;
}
}  // namespace

double HotaMetrics::Hota() const {
  return MeanOverAlpha([&](int a) { return HotaAt(a); });
}
double HotaMetrics::DetA() const {
  return MeanOverAlpha([&](int a) { return DetA(a); });
}
double HotaMetrics::AssA() const {
  return MeanOverAlpha([&](int a) { return AssA(a); });
}
double HotaMetrics::LocA() const {
  // TrackEval: 1 where an alpha has no match (1e-10 / 1e-10).
  return MeanOverAlpha([&](int a) { return std::max(1e-10, loc_sum[a]) / std::max(1e-10, tp[a]); });
}
HotaMetrics& HotaMetrics::operator+=(const HotaMetrics& o) {
  for (int a = 0; a < kAlphas; ++a) {
    tp[a] += o.tp[a], fn[a] += o.fn[a], fp[a] += o.fp[a];
    ass_a_tp[a] += o.ass_a_tp[a], loc_sum[a] += o.loc_sum[a];
  }
  return *this;
}

HotaMetrics EvaluateHota(const MotSequence& gt, const MotSequence& res) {
  constexpr int A = HotaMetrics::kAlphas;
  std::map<int64_t, int> gid, rid;  // ids -> dense indices
  for (const auto& [f, boxes] : gt)
    for (const auto& b : boxes) gid.emplace(b.id, 0);
  for (const auto& [f, boxes] : res)
    for (const auto& b : boxes) rid.emplace(b.id, 0);
  int n = 0;
  for (auto& [id, k] : gid) k = n++;
  const int G = n;
  n = 0;
  for (auto& [id, k] : rid) k = n++;
  const int R = n;
  const std::set<int> frames = FramesOf(gt, res);
  // Global alignment of every (gt id, tracker id) pair.
  std::vector<std::vector<double>> potential(G, std::vector<double>(R, 0));
  std::vector<double> gcount(G, 0), rcount(R, 0);
  for (int f : frames) {
    const auto &g = BoxesAt(gt, f), &r = BoxesAt(res, f);
    const auto sim = IouMatrix(g, r);
    std::vector<double> row(g.size(), 0), col(r.size(), 0);
    for (size_t i = 0; i < g.size(); ++i)
      for (size_t j = 0; j < r.size(); ++j) row[i] += sim[i][j], col[j] += sim[i][j];
    for (size_t i = 0; i < g.size(); ++i)
      for (size_t j = 0; j < r.size(); ++j) {
        const double denom = row[i] + col[j] - sim[i][j];
        if (denom > 1e-12) potential[gid[g[i].id]][rid[r[j].id]] += sim[i][j] / denom;
      }
    for (const auto& b : g) gcount[gid[b.id]] += 1;
    for (const auto& b : r) rcount[rid[b.id]] += 1;
  }
  std::vector<std::vector<double>> align(G, std::vector<double>(R, 0));
  for (int i = 0; i < G; ++i)
    for (int j = 0; j < R; ++j)
      align[i][j] = potential[i][j] / (gcount[i] + rcount[j] - potential[i][j]);

  HotaMetrics h;
  std::vector<std::vector<std::vector<double>>> matches(
      A, std::vector<std::vector<double>>(G, std::vector<double>(R, 0)));
  const double eps = std::numeric_limits<double>::epsilon();
  for (int f : frames) {
    const auto &g = BoxesAt(gt, f), &r = BoxesAt(res, f);
    if (g.empty() || r.empty()) {
      for (int a = 0; a < A; ++a) h.fn[a] += g.size(), h.fp[a] += r.size();
      continue;
    }
    const auto sim = IouMatrix(g, r);
    std::vector<std::vector<double>> cost(g.size(), std::vector<double>(r.size()));
    for (size_t i = 0; i < g.size(); ++i)
      for (size_t j = 0; j < r.size(); ++j)
        cost[i][j] = -align[gid[g[i].id]][rid[r[j].id]] * sim[i][j];
    const auto sol = SolveAssignment(cost);
    for (int a = 0; a < A; ++a) {
      const double alpha = 0.05 + 0.05 * a;
      int matched = 0;
      for (size_t i = 0; i < g.size(); ++i) {
        if (sol[i] < 0 || sim[i][sol[i]] < alpha - eps) continue;
        ++matched;
        h.loc_sum[a] += sim[i][sol[i]];
        matches[a][gid[g[i].id]][rid[r[sol[i]].id]] += 1;
      }
      h.tp[a] += matched;
      h.fn[a] += double(g.size()) - matched;
      h.fp[a] += double(r.size()) - matched;
    }
  }
  for (int a = 0; a < A; ++a)
    for (int i = 0; i < G; ++i)
      for (int j = 0; j < R; ++j) {
        const double m = matches[a][i][j];
        if (m > 0) h.ass_a_tp[a] += m * m / std::max(1.0, gcount[i] + rcount[j] - m);
      }
  return h;
}

}  // namespace dyn4d::tracking
