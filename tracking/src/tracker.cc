#include "dyn4d/tracking/tracker.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "dyn4d/tracking/assignment.h"

namespace dyn4d::tracking {

std::vector<std::string> TrackerConfig::Validate() const {
  std::vector<std::string> p;
  if (low_score > high_score) p.push_back("low_score: must be <= high_score");
  if (match_iou <= 0 || match_iou > 1) p.push_back("match_iou: must be in (0, 1]");
  if (low_match_iou <= 0 || low_match_iou > 1) p.push_back("low_match_iou: must be in (0, 1]");
  if (min_hits < 1) p.push_back("min_hits: must be >= 1");
  if (max_age < 1) p.push_back("max_age: must be >= 1");
  return p;
}

TrackerConfig TrackerConfig::Sort() {
  TrackerConfig c;
  c.two_stage = false;
  c.match_iou = 0.3;
  c.min_hits = 3;
  c.max_age = 1;
  return c;
}

namespace {

using Vec8 = Eigen::Matrix<double, 8, 1>;
using Mat8 = Eigen::Matrix<double, 8, 8>;
using Vec4 = Eigen::Matrix<double, 4, 1>;

// ByteTrack's Kalman filter: state (cx, cy, aspect, h) and their velocities,
// noise proportional to the box height.
constexpr double kPos = 1.0 / 20, kVel = 1.0 / 160;

Vec4 Measure(const MotBox& b) { return {b.x + b.w / 2, b.y + b.h / 2, b.w / b.h, b.h}; }
MotBox ToBox(const Vec8& m) {
  MotBox b;
  b.h = m[3], b.w = m[2] * m[3];
  b.x = m[0] - b.w / 2, b.y = m[1] - b.h / 2;
  return b;
}

struct Track {
  int64_t id;
  Vec8 mean;
  Mat8 cov;
  int hits = 1, since_update = 0;
  bool confirmed = false;
  double score = 0;

  void Predict() {
    Mat8 F = Mat8::Identity();
    for (int i = 0; i < 4; ++i) F(i, i + 4) = 1;
    const double h = mean[3];
    Vec8 q;
    q << kPos * h, kPos * h, 1e-2, kPos * h, kVel * h, kVel * h, 1e-5, kVel * h;
    mean = F * mean;
    cov = F * cov * F.transpose() + Mat8(q.array().square().matrix().asDiagonal());
    ++since_update;
  }
  void Correct(const MotBox& d) {
    const double h = mean[3];
    Eigen::Vector4d r(kPos * h, kPos * h, 1e-1, kPos * h);
    const Eigen::Matrix<double, 4, 8> H = Eigen::Matrix<double, 4, 8>::Identity();
    const Eigen::Matrix4d S =
        H * cov * H.transpose() + Eigen::Matrix4d(r.array().square().matrix().asDiagonal());
    const Eigen::Matrix<double, 8, 4> K = cov * H.transpose() * S.inverse();
    mean += K * (Measure(d) - H * mean);
    cov = (Mat8::Identity() - K * H) * cov;
    score = d.conf;
    ++hits;
    since_update = 0;
  }
};

}  // namespace

struct MultiObjectTracker::Impl {
  TrackerConfig c;
  std::vector<Track> tracks;
  int64_t next_id = 1;
  uint64_t skipped = 0;

  // Matches tracks[ti] to dets[di] by optimal assignment on 1 - IoU with a
  // minimum IoU; returns pairs and leaves the unmatched in the lists.
  std::vector<std::pair<size_t, size_t>> Match(std::vector<size_t>& ti,
                                               const std::vector<MotBox>& dets,
                                               std::vector<size_t>& di, double min_iou) {
    std::vector<std::pair<size_t, size_t>> pairs;
    if (ti.empty() || di.empty()) return pairs;
    std::vector<std::vector<double>> cost(ti.size(), std::vector<double>(di.size()));
    for (size_t a = 0; a < ti.size(); ++a) {
      const MotBox tb = ToBox(tracks[ti[a]].mean);
      for (size_t b = 0; b < di.size(); ++b) {
        const double o = Iou(tb, dets[di[b]]);
        cost[a][b] = o >= min_iou ? 1 - o : 1e18;
      }
    }
    const auto sol = SolveAssignment(cost, 1e17);
    std::vector<char> det_used(di.size(), 0);
    std::vector<size_t> left;
    for (size_t a = 0; a < ti.size(); ++a) {
      if (sol[a] < 0) {
        left.push_back(ti[a]);
        continue;
      }
      pairs.push_back({ti[a], di[sol[a]]});
      det_used[sol[a]] = 1;
    }
    std::vector<size_t> dleft;
    for (size_t b = 0; b < di.size(); ++b)
      if (!det_used[b]) dleft.push_back(di[b]);
    ti = std::move(left);
    di = std::move(dleft);
    return pairs;
  }
};

MultiObjectTracker::MultiObjectTracker(TrackerConfig config) : impl_(std::make_unique<Impl>()) {
  const auto problems = config.Validate();
  if (!problems.empty()) throw std::invalid_argument("TrackerConfig: " + problems.front());
  impl_->c = config;
}
MultiObjectTracker::~MultiObjectTracker() = default;
uint64_t MultiObjectTracker::skipped_detections() const { return impl_->skipped; }
size_t MultiObjectTracker::live_tracks() const { return impl_->tracks.size(); }

std::vector<TrackedBox> MultiObjectTracker::Update(const std::vector<MotBox>& detections) {
  Impl& s = *impl_;
  std::vector<MotBox> dets;
  for (const MotBox& d : detections) {
    if (!std::isfinite(d.x) || !std::isfinite(d.y) || !(d.w > 0) || !(d.h > 0) ||
        !std::isfinite(d.w) || !std::isfinite(d.h) || !std::isfinite(d.conf)) {
      ++s.skipped;
      continue;
    }
    dets.push_back(d);
  }
  for (Track& t : s.tracks) t.Predict();
  std::vector<size_t> high, low;
  for (size_t i = 0; i < dets.size(); ++i) {
    if (dets[i].conf >= s.c.high_score)
      high.push_back(i);
    else if (s.c.two_stage && dets[i].conf >= s.c.low_score)
      low.push_back(i);
  }
  // Stage 1: confirmed (and recently lost) tracks with confident detections.
  std::vector<size_t> confirmed, tentative;
  for (size_t i = 0; i < s.tracks.size(); ++i)
    (s.tracks[i].confirmed ? confirmed : tentative).push_back(i);
  auto apply = [&](const std::vector<std::pair<size_t, size_t>>& pairs) {
    for (const auto& [t, d] : pairs) {
      s.tracks[t].Correct(dets[d]);
      if (s.tracks[t].hits >= s.c.min_hits) s.tracks[t].confirmed = true;
    }
  };
  apply(s.Match(confirmed, dets, high, s.c.match_iou));
  // Stage 2 (ByteTrack): tracks seen last frame that are still unmatched,
  // with the low-score detections (occluded or blurred objects).
  if (s.c.two_stage) {
    std::vector<size_t> recent, old;
    for (size_t t : confirmed) (s.tracks[t].since_update <= 1 ? recent : old).push_back(t);
    apply(s.Match(recent, dets, low, s.c.low_match_iou));
    recent.insert(recent.end(), old.begin(), old.end());
    confirmed = recent;
  }
  // Tentative tracks only with confident detections; unmatched, they die.
  apply(s.Match(tentative, dets, high, s.c.match_iou));
  std::vector<char> dead(s.tracks.size(), 0);
  for (size_t t : tentative) dead[t] = 1;
  for (size_t t = 0; t < s.tracks.size(); ++t)
    if (s.tracks[t].since_update > s.c.max_age) dead[t] = 1;
  std::vector<Track> kept;
  for (size_t t = 0; t < s.tracks.size(); ++t)
    if (!dead[t]) kept.push_back(std::move(s.tracks[t]));
  s.tracks = std::move(kept);
  // Births from the confident detections nobody took.
  for (size_t d : high) {
    Track t;
    t.id = s.next_id++;
    const Vec4 z = Measure(dets[d]);
    t.mean << z, 0, 0, 0, 0;
    const double h = z[3];
    Vec8 sd;
    sd << 2 * kPos * h, 2 * kPos * h, 1e-2, 2 * kPos * h, 10 * kVel * h, 10 * kVel * h, 1e-5,
        10 * kVel * h;
    t.cov = sd.array().square().matrix().asDiagonal();
    t.score = dets[d].conf;
    t.confirmed = s.c.min_hits <= 1;
    s.tracks.push_back(t);
  }
  std::vector<TrackedBox> out;
  for (const Track& t : s.tracks)
    if (t.confirmed && t.since_update == 0) {
      TrackedBox b;
      b.id = t.id;
      b.box = ToBox(t.mean);
      b.box.id = t.id;
      b.score = t.score;
      out.push_back(b);
    }
  return out;
}

}  // namespace dyn4d::tracking
