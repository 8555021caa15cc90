#include "dyn4d/tracking/tracker.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include "dyn4d/tracking/assignment.h"

namespace dyn4d::tracking {

std::vector<std::string> TrackerConfig::Validate() const {
  std::vector<std::string> p;
  if (low_score > high_score) p.push_back("low_score: must be <= high_score");
  if (match_iou <= 0 || match_iou > 1) p.push_back("match_iou: must be in (0, 1]");
  if (low_match_iou <= 0 || low_match_iou > 1) p.push_back("low_match_iou: must be in (0, 1]");
  if (min_hits < 1) p.push_back("min_hits: must be >= 1");
  if (max_age < 1) p.push_back("max_age: must be >= 1");
  if (!(max_jump_m > 0)) p.push_back("max_jump_m: must be positive");
  if (!(gate_chi2 > 0)) p.push_back("gate_chi2: must be positive");
  if (!(accel_sigma > 0)) p.push_back("accel_sigma: must be positive");
  if (!(position_sigma_m > 0)) p.push_back("position_sigma_m: must be positive");
  if (!(position_sigma_extent >= 0)) p.push_back("position_sigma_extent: must be >= 0");
  if (!(min_travel_m >= 0)) p.push_back("min_travel_m: must be >= 0");
  if (!(max_speed_mps >= 0)) p.push_back("max_speed_mps: must be >= 0");
  if (!(velocity_decay_s >= 0)) p.push_back("velocity_decay_s: must be >= 0");
  if (appearance_weight < 0 || appearance_weight > 1)
    p.push_back("appearance_weight: must be in [0, 1]");
  if (embedding_momentum < 0 || embedding_momentum >= 1)
    p.push_back("embedding_momentum: must be in [0, 1)");
  return p;
}

TrackerConfig TrackerConfig::Sort() {
  TrackerConfig c;
  c.two_stage = false;
  c.match_iou = 0.3;
  c.min_hits = 3;
  c.max_age = 1;
  c.use_appearance = false;
  return c;
}

namespace {

using Vec8 = Eigen::Matrix<double, 8, 1>;
using Mat8 = Eigen::Matrix<double, 8, 8>;
using Vec4 = Eigen::Matrix<double, 4, 1>;
using Vec6 = Eigen::Matrix<double, 6, 1>;
using Mat6 = Eigen::Matrix<double, 6, 6>;

// ByteTrack's Kalman filter: state (cx, cy, aspect, h) and their velocities,
// noise proportional to the box height.
constexpr double kPos = 1.0 / 20, kVel = 1.0 / 160;
constexpr double kForbidden = std::numeric_limits<double>::infinity();

Vec4 Measure(const MotBox& b) { return {b.x + b.w / 2, b.y + b.h / 2, b.w / b.h, b.h}; }
MotBox ToBox(const Vec8& m) {
  MotBox b;
  b.h = m[3], b.w = m[2] * m[3];
  b.x = m[0] - b.w / 2, b.y = m[1] - b.h / 2;
  return b;
}

std::vector<float> Normalised(const std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += double(x) * x;
  if (!(n > 0) || !std::isfinite(n)) return {};
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i] / std::sqrt(n));
  return out;
}

// Centroid measurement noise of an observation, per world axis. The
// centroid of the visible part of an object shifts along an axis by up to a
// fraction of the object's size along it as parts are hidden or shown (an
// arm: a quarter of a person's width; legs behind a desk: a quarter of
// their height), the size being the larger of the observation's and the
// track's. A partial view, smaller along an axis than the object has been
// seen, has its centroid up to half the unseen size from the whole
// object's: the legs alone of someone behind another person say little
// about where they went and must not give them a velocity (Bonn crowd: a
// man "falling" through the floor at 1.5 m/s while his legs were all that
// was seen, predicted under it and found again as a new track).
Eigen::Vector3d MeasurementSigma(const Observation& o, const Eigen::Vector3d& track_extent,
                                 const TrackerConfig& c) {
  Eigen::Vector3d sigma;
  for (int a = 0; a < 3; ++a) {
    const double seen = std::isfinite(o.extent[a]) ? o.extent[a] : 0.0;
    const double size = std::max(seen, track_extent[a]);
    sigma[a] = std::max(
        {c.position_sigma_m, c.position_sigma_extent * size, 0.5 * (track_extent[a] - seen)});
  }
  return sigma;
}

struct Track {
  int64_t id;
  Eigen::Vector3d start = Eigen::Vector3d::Zero();  // first world centroid
  Vec8 mean;                                        // image box
  Mat8 cov;
  bool has3d = false;
  Vec6 x3 = Vec6::Zero();  // world centroid and velocity
  Mat6 P3 = Mat6::Identity();
  Eigen::Vector3d extent = Eigen::Vector3d::Zero();  // world size, see ObserveSize
  std::vector<float> embedding;                      // unit norm, or empty
  std::map<int, double> votes;
  std::map<int, std::string> class_names;
  int hits = 1, since_update = 0, last_observation = -1;
  bool confirmed = false;
  double score = 0;

  double last_update_t = 0;  // time of the last matched observation, s

  void Predict(double dt, double accel_sigma, double velocity_decay_s = 0) {
    Mat8 F = Mat8::Identity();
    for (int i = 0; i < 4; ++i) F(i, i + 4) = 1;
    const double h = mean[3];
    Vec8 q;
    q << kPos * h, kPos * h, 1e-2, kPos * h, kVel * h, kVel * h, 1e-5, kVel * h;
    mean = F * mean;
    cov = F * cov * F.transpose() + Mat8(q.array().square().matrix().asDiagonal());
    if (has3d && dt > 0) {
      // Constant velocity, except that an unobserved object's velocity fades
      // (people stop and turn): after a second out of sight it is no longer
      // assumed to keep walking in the same direction.
      const double keep =
          since_update > 0 && velocity_decay_s > 0 ? std::exp(-dt / velocity_decay_s) : 1.0;
      Mat6 F3 = Mat6::Identity();
      F3.topRightCorner<3, 3>() = dt * Eigen::Matrix3d::Identity();
      F3.bottomRightCorner<3, 3>() *= keep;
      const double a2 = accel_sigma * accel_sigma;
      Mat6 Q = Mat6::Zero();
      Q.topLeftCorner<3, 3>() = a2 * std::pow(dt, 4) / 4 * Eigen::Matrix3d::Identity();
      Q.topRightCorner<3, 3>() = Q.bottomLeftCorner<3, 3>() =
          a2 * std::pow(dt, 3) / 2 * Eigen::Matrix3d::Identity();
      Q.bottomRightCorner<3, 3>() = a2 * dt * dt * Eigen::Matrix3d::Identity();
      x3 = F3 * x3;
      P3 = F3 * P3 * F3.transpose() + Q;
    }
    ++since_update;
    last_observation = -1;
  }

  // Squared Mahalanobis distance of a centroid from the prediction, and the
  // Euclidean one.
  std::pair<double, double> Distance3d(const std::array<double, 3>& z,
                                       const Eigen::Vector3d& sigma) const {
    const Eigen::Vector3d r = Eigen::Vector3d(z[0], z[1], z[2]) - x3.head<3>();
    return {r.dot(CentroidInnovation(sigma).ldlt().solve(r)), r.norm()};
  }

  // Covariance of a centroid observation about the prediction: the
  // prediction's own plus the measurement noise (per axis).
  Eigen::Matrix3d CentroidInnovation(const Eigen::Vector3d& sigma) const {
    return P3.topLeftCorner<3, 3>() + Eigen::Matrix3d(sigma.array().square().matrix().asDiagonal());
  }

  void Correct(const Observation& o, int index, const TrackerConfig& c, double now) {
    const MotBox& d = o.box;
    const double h = mean[3];
    Eigen::Vector4d r(kPos * h, kPos * h, 1e-1, kPos * h);
    const Eigen::Matrix<double, 4, 8> H = Eigen::Matrix<double, 4, 8>::Identity();
    const Eigen::Matrix4d S =
        H * cov * H.transpose() + Eigen::Matrix4d(r.array().square().matrix().asDiagonal());
    const Eigen::Matrix<double, 8, 4> K = cov * H.transpose() * S.inverse();
    mean += K * (Measure(d) - H * mean);
    cov = (Mat8::Identity() - K * H) * cov;
    if (o.has_position && !has3d) {
      Init3d(o, c);
    } else if (o.has_position) {
      const Eigen::Vector3d z(o.position[0], o.position[1], o.position[2]);
      const Eigen::Matrix<double, 3, 6> H3 = Eigen::Matrix<double, 3, 6>::Identity();
      const Eigen::Matrix3d S3 = CentroidInnovation(MeasurementSigma(o, extent, c));
      const Eigen::Matrix<double, 6, 3> K3 = P3 * H3.transpose() * S3.inverse();
      x3 += K3 * (z - H3 * x3);
      P3 = (Mat6::Identity() - K3 * H3) * P3;
      ObserveSize({o.extent[0], o.extent[1], o.extent[2]});
    }
    const std::vector<float> emb = Normalised(o.embedding);
    if (!emb.empty()) {
      if (embedding.size() != emb.size()) {
        embedding = emb;
      } else {
        std::vector<float> mixed(emb.size());
        for (size_t i = 0; i < emb.size(); ++i)
          mixed[i] = static_cast<float>(c.embedding_momentum * embedding[i] +
                                        (1 - c.embedding_momentum) * emb[i]);
        embedding = Normalised(mixed);
      }
    }
    Vote(o);
    score = d.conf;
    ++hits;
    since_update = 0;
    last_update_t = now;
    last_observation = index;
  }

  // The 3D state from a first observation with a world centroid: there,
  // velocity unknown, its size, and where it started.
  void Init3d(const Observation& o, const TrackerConfig& c) {
    const Eigen::Vector3d z(o.position[0], o.position[1], o.position[2]);
    has3d = true;
    start = z;
    ObserveSize({o.extent[0], o.extent[1], o.extent[2]});
    x3 << z, 0, 0, 0;
    P3 = Mat6::Zero();
    P3.topLeftCorner<3, 3>() =
        c.position_sigma_m * c.position_sigma_m * Eigen::Matrix3d::Identity();
    P3.bottomRightCorner<3, 3>() = 1.0 * Eigen::Matrix3d::Identity();  // (1 m/s)^2: unknown
  }

  // The object's size follows what is seen quickly when it grows (a third
  // of the way each observation) and slowly when it shrinks (time constant
  // 20 observations): a few frames of a partial view are not a smaller
  // object.
  void ObserveSize(const Eigen::Vector3d& e) {
    if (extent.isZero()) {
      extent = e;
      return;
    }
    for (int a = 0; a < 3; ++a)
      extent[a] = e[a] >= extent[a] ? 0.7 * extent[a] + 0.3 * e[a] : 0.95 * extent[a] + 0.05 * e[a];
  }

  int VotedClass() const {
    int best = -1;
    double most = 0;
    for (const auto& [cls, w] : votes)
      if (w > most) most = w, best = cls;
    return best;
  }

  void Vote(const Observation& o) {
    if (o.class_id < 0) return;
    votes[o.class_id] += std::max(o.class_score, 1e-3);
    if (!o.class_name.empty()) class_names[o.class_id] = o.class_name;
  }
};

// Cells of a uniform grid, for candidate pairs without all-pairs tests.
struct Grid2d {
  double cell = 64;
  std::unordered_map<int64_t, std::vector<int>> cells;
  std::vector<int> large;  // boxes spanning too many cells: tested against everyone
  static int64_t Key(int64_t a, int64_t b) { return (a << 32) ^ (b & 0xffffffff); }
  template <typename F>
  void ForCells(const MotBox& b, F&& f) const {
    const int64_t x0 = std::floor(b.x / cell), x1 = std::floor((b.x + b.w) / cell);
    const int64_t y0 = std::floor(b.y / cell), y1 = std::floor((b.y + b.h) / cell);
    for (int64_t x = x0; x <= x1; ++x)
      for (int64_t y = y0; y <= y1; ++y) f(Key(x, y));
  }
  static int64_t CellsOf(const MotBox& b, double cell) {
    return (int64_t(std::floor((b.x + b.w) / cell)) - int64_t(std::floor(b.x / cell)) + 1) *
           (int64_t(std::floor((b.y + b.h) / cell)) - int64_t(std::floor(b.y / cell)) + 1);
  }
};

}  // namespace

const char* TrackStateName(TrackState s) {
  switch (s) {
    case TrackState::kTentative:
      return "tentative";
    case TrackState::kConfirmed:
      return "confirmed";
    case TrackState::kLost:
      return "lost";
  }
  return "?";
}

struct MultiObjectTracker::Impl {
  TrackerConfig c;
  std::vector<Track> tracks;
  int64_t next_id = 1;
  uint64_t skipped = 0;
  int64_t frames = 0;  // Update(): one frame per call
  double last_t = 0;
  bool started = false;

  // Association cost of a track and an observation, or kForbidden.
  double Cost(const Track& t, const Observation& o, double min_iou) const {
    if (c.class_gate && o.class_id >= 0 && !t.votes.empty() && o.class_id != t.VotedClass())
      return kForbidden;
    double geo;
    if (t.has3d && o.has_position) {
      const auto [m2, d] = t.Distance3d(o.position, MeasurementSigma(o, t.extent, c));
      // Out of sight for a while, an object may be farther from where it
      // was predicted, by as much as it can walk in that time.
      const double unseen_s = std::max(0.0, last_t - t.last_update_t);
      if (d > c.max_jump_m + c.max_speed_mps * unseen_s || m2 > c.gate_chi2) return kForbidden;
      geo = m2 / c.gate_chi2;
    } else {
      const double iou = Iou(ToBox(t.mean), o.box);
      if (iou < min_iou) return kForbidden;
      geo = 1 - iou;
    }
    if (!c.use_appearance || t.embedding.empty() || o.embedding.size() != t.embedding.size())
      return geo;
    double dot = 0, n = 0;
    for (size_t i = 0; i < o.embedding.size(); ++i)
      dot += double(o.embedding[i]) * t.embedding[i], n += double(o.embedding[i]) * o.embedding[i];
    const double cosine = n > 0 ? dot / std::sqrt(n) : 0;
    return (1 - c.appearance_weight) * geo + c.appearance_weight * (1 - cosine) / 2;
  }

  // Matches tracks[ti] to obs[oi] by optimal assignment over the candidate
  // pairs a spatial grid yields; returns pairs and leaves the unmatched in
  // the lists.
  std::vector<std::pair<size_t, size_t>> Match(std::vector<size_t>& ti,
                                               const std::vector<Observation>& obs,
                                               std::vector<size_t>& oi, double min_iou) {
    std::vector<std::pair<size_t, size_t>> pairs;
    if (ti.empty() || oi.empty()) return pairs;
    // 2D grid over observation boxes, cells about one typical box wide.
    std::vector<double> sizes;
    for (size_t b : oi) sizes.push_back(std::max(obs[b].box.w, obs[b].box.h));
    std::nth_element(sizes.begin(), sizes.begin() + sizes.size() / 2, sizes.end());
    Grid2d g2;
    g2.cell = std::max(16.0, sizes[sizes.size() / 2]);
    for (size_t b = 0; b < oi.size(); ++b) {
      if (Grid2d::CellsOf(obs[oi[b]].box, g2.cell) > 64)
        g2.large.push_back(static_cast<int>(b));
      else
        g2.ForCells(obs[oi[b]].box, [&](int64_t k) { g2.cells[k].push_back(static_cast<int>(b)); });
    }
    // 3D grid over centroids, cells max_jump_m wide: neighbours are exact.
    std::unordered_map<int64_t, std::vector<int>> g3;
    auto key3 = [&](const Eigen::Vector3d& p, int dx, int dy, int dz) {
      const int64_t x = int64_t(std::floor(p.x() / c.max_jump_m)) + dx;
      const int64_t y = int64_t(std::floor(p.y() / c.max_jump_m)) + dy;
      const int64_t z = int64_t(std::floor(p.z() / c.max_jump_m)) + dz;
      return (x * 73856093) ^ (y * 19349663) ^ (z * 83492791);
    };
    for (size_t b = 0; b < oi.size(); ++b) {
      const Observation& o = obs[oi[b]];
      if (o.has_position)
        g3[key3({o.position[0], o.position[1], o.position[2]}, 0, 0, 0)].push_back(int(b));
    }
    std::vector<AssignmentEdge> edges;
    std::vector<int64_t> seen(oi.size(), -1);
    for (size_t a = 0; a < ti.size(); ++a) {
      const Track& t = tracks[ti[a]];
      auto consider = [&](int b) {
        if (seen[b] == int64_t(a)) return;
        seen[b] = int64_t(a);
        const double cost = Cost(t, obs[oi[b]], min_iou);
        if (cost < kForbidden) edges.push_back({int(a), b, cost});
      };
      g2.ForCells(ToBox(t.mean), [&](int64_t k) {
        auto it = g2.cells.find(k);
        if (it != g2.cells.end())
          for (int b : it->second) consider(b);
      });
      for (int b : g2.large) consider(b);
      if (t.has3d && !g3.empty())
        for (int dx = -1; dx <= 1; ++dx)
          for (int dy = -1; dy <= 1; ++dy)
            for (int dz = -1; dz <= 1; ++dz) {
              auto it = g3.find(key3(t.x3.head<3>(), dx, dy, dz));
              if (it != g3.end())
                for (int b : it->second) consider(b);
            }
    }
    const auto sol = SolveSparseAssignment(int(ti.size()), int(oi.size()), edges);
    std::vector<char> used(oi.size(), 0);
    std::vector<size_t> left;
    for (size_t a = 0; a < ti.size(); ++a) {
      if (sol[a] < 0) {
        left.push_back(ti[a]);
        continue;
      }
      pairs.push_back({ti[a], oi[sol[a]]});
      used[sol[a]] = 1;
    }
    std::vector<size_t> oleft;
    for (size_t b = 0; b < oi.size(); ++b)
      if (!used[b]) oleft.push_back(oi[b]);
    ti = std::move(left);
    oi = std::move(oleft);
    return pairs;
  }
};

MultiObjectTracker::MultiObjectTracker(TrackerConfig config) : impl_(std::make_unique<Impl>()) {
  const auto problems = config.Validate();
  if (!problems.empty()) throw std::invalid_argument("TrackerConfig: " + problems.front());
  impl_->c = config;
}
MultiObjectTracker::~MultiObjectTracker() = default;
MultiObjectTracker::MultiObjectTracker(MultiObjectTracker&&) noexcept = default;
MultiObjectTracker& MultiObjectTracker::operator=(MultiObjectTracker&&) noexcept = default;
uint64_t MultiObjectTracker::skipped_detections() const { return impl_->skipped; }
size_t MultiObjectTracker::live_tracks() const { return impl_->tracks.size(); }

std::vector<TrackEstimate> MultiObjectTracker::Step(const std::vector<Observation>& observations,
                                                    double t_s) {
  Impl& s = *impl_;
  const double dt = s.started ? std::max(0.0, t_s - s.last_t) : 0.0;
  s.started = true;
  s.last_t = t_s;
  std::vector<size_t> valid;
  for (size_t i = 0; i < observations.size(); ++i) {
    const Observation& o = observations[i];
    const MotBox& d = o.box;
    bool ok = std::isfinite(d.x) && std::isfinite(d.y) && d.w > 0 && d.h > 0 &&
              std::isfinite(d.w) && std::isfinite(d.h) && std::isfinite(d.conf);
    for (int a = 0; a < 3 && o.has_position; ++a)
      ok = ok && std::isfinite(o.position[a]) && std::isfinite(o.extent[a]);
    if (ok)
      valid.push_back(i);
    else
      ++s.skipped;
  }
  const std::vector<Observation>& obs = observations;
  for (Track& t : s.tracks) t.Predict(dt, s.c.accel_sigma, s.c.velocity_decay_s);
  std::vector<size_t> high, low;
  for (size_t i : valid) {
    if (obs[i].box.conf >= s.c.high_score)
      high.push_back(i);
    else if (s.c.two_stage && obs[i].box.conf >= s.c.low_score)
      low.push_back(i);
  }
  // Stage 1: confirmed (and lost) tracks with confident observations.
  std::vector<size_t> confirmed, tentative;
  for (size_t i = 0; i < s.tracks.size(); ++i)
    (s.tracks[i].confirmed ? confirmed : tentative).push_back(i);
  auto apply = [&](const std::vector<std::pair<size_t, size_t>>& pairs) {
    for (const auto& [t, d] : pairs) {
      Track& track = s.tracks[t];
      track.Correct(obs[d], static_cast<int>(d), s.c, s.last_t);
      const bool travelled = s.c.min_travel_m <= 0 || !track.has3d ||
                             (track.x3.head<3>() - track.start).norm() >= s.c.min_travel_m;
      if (track.hits >= s.c.min_hits && travelled) track.confirmed = true;
    }
  };
  apply(s.Match(confirmed, obs, high, s.c.match_iou));
  // Stage 2 (ByteTrack): tracks seen last frame that are still unmatched,
  // with the low-score observations (occluded or blurred objects).
  if (s.c.two_stage) {
    std::vector<size_t> recent, old;
    for (size_t t : confirmed) (s.tracks[t].since_update <= 1 ? recent : old).push_back(t);
    apply(s.Match(recent, obs, low, s.c.low_match_iou));
    recent.insert(recent.end(), old.begin(), old.end());
    confirmed = recent;
  }
  // Tentative tracks only with confident observations; unmatched, they die.
  apply(s.Match(tentative, obs, high, s.c.match_iou));
  std::vector<char> dead(s.tracks.size(), 0);
  for (size_t t : tentative) dead[t] = 1;
  for (size_t t = 0; t < s.tracks.size(); ++t)
    if (s.tracks[t].since_update > s.c.max_age) dead[t] = 1;
  std::vector<Track> kept;
  for (size_t t = 0; t < s.tracks.size(); ++t)
    if (!dead[t]) kept.push_back(std::move(s.tracks[t]));
  s.tracks = std::move(kept);
  // Births from the confident observations nobody took.
  for (size_t d : high) {
    const Observation& o = obs[d];
    Track t;
    t.id = s.next_id++;
    const Vec4 z = Measure(o.box);
    t.mean << z, 0, 0, 0, 0;
    const double h = z[3];
    Vec8 sd;
    sd << 2 * kPos * h, 2 * kPos * h, 1e-2, 2 * kPos * h, 10 * kVel * h, 10 * kVel * h, 1e-5,
        10 * kVel * h;
    t.cov = sd.array().square().matrix().asDiagonal();
    if (o.has_position) t.Init3d(o, s.c);
    t.embedding = Normalised(o.embedding);
    t.Vote(o);
    t.score = o.box.conf;
    t.confirmed = s.c.min_hits <= 1 && s.c.min_travel_m <= 0;
    t.last_update_t = t_s;
    t.last_observation = static_cast<int>(d);
    s.tracks.push_back(std::move(t));
  }
  std::vector<TrackEstimate> out;
  out.reserve(s.tracks.size());
  for (const Track& t : s.tracks) {
    TrackEstimate e;
    e.id = t.id;
    e.state = !t.confirmed          ? TrackState::kTentative
              : t.since_update == 0 ? TrackState::kConfirmed
                                    : TrackState::kLost;
    e.observation = t.last_observation;
    e.box = ToBox(t.mean);
    e.box.id = t.id;
    e.score = t.score;
    e.has_position = t.has3d;
    for (int a = 0; a < 3; ++a)
      e.position[a] = t.x3[a], e.velocity[a] = t.x3[a + 3], e.extent[a] = t.extent[a];
    double total = 0, best = 0;
    for (const auto& [cls, w] : t.votes) {
      total += w;
      if (w > best) best = w, e.class_id = cls;
    }
    if (e.class_id >= 0) {
      e.class_confidence = best / total;
      auto name = t.class_names.find(e.class_id);
      if (name != t.class_names.end()) e.class_name = name->second;
    }
    e.hits = t.hits;
    e.frames_since_update = t.since_update;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<TrackedBox> MultiObjectTracker::Update(const std::vector<MotBox>& detections) {
  std::vector<Observation> obs(detections.size());
  for (size_t i = 0; i < detections.size(); ++i) obs[i].box = detections[i];
  const double t = static_cast<double>(impl_->frames++) / 30.0;
  std::vector<TrackedBox> out;
  for (const TrackEstimate& e : Step(obs, t))
    if (e.state == TrackState::kConfirmed) out.push_back({e.id, e.box, e.score});
  return out;
}

}  // namespace dyn4d::tracking
