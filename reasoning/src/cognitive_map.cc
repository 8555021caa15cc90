#include "dyn4d/reasoning/cognitive_map.h"

#include <Eigen/Geometry>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace dyn4d::reasoning {
namespace {

using Eigen::Vector3d;

Vector3d V(const Vec3& a) { return {a[0], a[1], a[2]}; }
Vec3 A(const Vector3d& v) { return {v.x(), v.y(), v.z()}; }

Eigen::Matrix3d Rotation(const CameraSample& c) {
  return Eigen::Quaterniond(c.q_xyzw[3], c.q_xyzw[0], c.q_xyzw[1], c.q_xyzw[2])
      .normalized()
      .toRotationMatrix();
}

// Runs of equal labels over samples, shorter runs (in seconds) folded into
// the longer neighbour; returns [begin, end) index ranges with their label.
template <typename Label>
std::vector<std::pair<std::pair<size_t, size_t>, Label>> Runs(const std::vector<double>& t,
                                                              std::vector<Label> labels,
                                                              double min_s) {
  std::vector<std::pair<std::pair<size_t, size_t>, Label>> runs;
  auto rebuild = [&] {
    runs.clear();
    for (size_t i = 0; i < labels.size(); ++i) {
      if (runs.empty() || runs.back().second != labels[i])
        runs.push_back({{i, i + 1}, labels[i]});
      else
        runs.back().first.second = i + 1;
    }
  };
  rebuild();
  // Fold the shortest too-short run into a neighbour until none is left. A
  // run at either end is kept down to 0.1 s: the velocity window blurs the
  // ends of the stream, so a short first run (waiting before moving) is real.
  for (;;) {
    size_t worst = runs.size();
    double worst_score = 1;  // length / its minimum: below 1 is too short
    for (size_t k = 0; k < runs.size() && runs.size() > 1; ++k) {
      const double len = t[runs[k].first.second - 1] - t[runs[k].first.first];
      const double min_len = (k == 0 || k + 1 == runs.size()) ? std::min(min_s, 0.1) : min_s;
      if (min_len <= 0) continue;
      if (len / min_len < worst_score) worst_score = len / min_len, worst = k;
    }
    if (worst == runs.size()) break;
    const size_t k = worst;
    const size_t into = k == 0 ? 1
                        : k + 1 == runs.size()
                            ? k - 1
                            : (runs[k - 1].first.second - runs[k - 1].first.first >=
                                       runs[k + 1].first.second - runs[k + 1].first.first
                                   ? k - 1
                                   : k + 1);
    for (size_t i = runs[k].first.first; i < runs[k].first.second; ++i)
      labels[i] = runs[into].second;
    rebuild();
  }
  return runs;
}

std::string Fixed(double v, int digits) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  std::string s = b;
  if (s == "-0" || s == "-0.0" || s == "-0.00") s = s.substr(1);
  return s;
}

double Round(double v, double step) { return std::round(v / step) * step; }

std::string HeadingWord(const Vector3d& d) {
  const int axis = std::abs(d.x()) >= std::abs(d.y())
                       ? (std::abs(d.x()) >= std::abs(d.z()) ? 0 : 2)
                       : (std::abs(d.y()) >= std::abs(d.z()) ? 1 : 2);
  const char* pos[] = {"+x", "+y", "+z"};
  const char* neg[] = {"-x", "-y", "-z"};
  return d[axis] >= 0 ? pos[axis] : neg[axis];
}

// Camera-relative direction of a displacement seen in a camera frame.
std::string CameraWord(const Vector3d& d_cam) {
  if (std::abs(d_cam.x()) >= std::abs(d_cam.z())) return d_cam.x() >= 0 ? "right" : "left";
  return d_cam.z() >= 0 ? "away from the camera" : "toward the camera";
}

// Appends item(k) for k < n; past `max_items`, only the first and last
// halves, with elided(count left out) in their place.
template <class Item, class Elided>
void AppendElided(std::string& line, size_t n, size_t max_items, Item item, Elided elided) {
  for (size_t k = 0; k < n; ++k) {
    if (n > max_items && k == max_items / 2) {
      line += elided(n - max_items);
      k = n - (max_items - max_items / 2) - 1;
      continue;
    }
    line += item(k);
  }
}

}  // namespace

std::vector<std::string> MapConfig::Validate() const {
  std::vector<std::string> p;
  if (!(V(up).norm() > 0)) p.push_back("up: must be a non-zero vector");
  if (!(moving_speed_mps > 0)) p.push_back("moving_speed_mps: must be positive");
  if (!(min_segment_s >= 0)) p.push_back("min_segment_s: must be >= 0");
  if (!(trend_rate_mps > 0)) p.push_back("trend_rate_mps: must be positive");
  if (!(gone_after_s > 0)) p.push_back("gone_after_s: must be positive");
  if (!(position_step_m > 0)) p.push_back("position_step_m: must be positive");
  if (token_budget < 100) p.push_back("token_budget: must be >= 100");
  if (!(history_s >= 0)) p.push_back("history_s: must be >= 0 (0: the whole stream)");
  return p;
}

const ImagePlaneObject* ImagePlaneMap::Find(int64_t id) const {
  for (const auto& o : objects)
    if (o.id == id) return &o;
  return nullptr;
}

const ObjectSummary* CognitiveMap::Find(int64_t id) const {
  for (const auto& o : objects)
    if (o.id == id) return &o;
  return nullptr;
}
const PairSummary* CognitiveMap::FindPair(int64_t a, int64_t b) const {
  if (a > b) std::swap(a, b);
  for (const auto& p : pairs)
    if (p.a == a && p.b == b) return &p;
  return nullptr;
}

CognitiveMapBuilder::CognitiveMapBuilder(MapConfig config) : config_(std::move(config)) {
  const auto problems = config_.Validate();
  if (!problems.empty()) throw std::invalid_argument("MapConfig: " + problems.front());
}

void CognitiveMapBuilder::AddFrame(double t_s, const CameraSample* camera,
                                   const std::vector<ObjectObservation>& objects) {
  if (!frames_.empty() && t_s < frames_.back().t)
    throw std::invalid_argument("CognitiveMapBuilder: frame at " + std::to_string(t_s) +
                                " s is older than the last one (" +
                                std::to_string(frames_.back().t) + " s)");
  Frame f{t_s, camera != nullptr, camera ? *camera : CameraSample{}, {}};
  for (const auto& o : objects) {
    bool finite = true;
    for (int a = 0; a < 3 && o.has_position; ++a) finite = finite && std::isfinite(o.position[a]);
    for (int a = 0; a < 4 && !o.has_position; ++a) finite = finite && std::isfinite(o.box[a]);
    if (finite && o.id >= 0 && (o.has_position || o.box[3] > 0)) f.objects.push_back(o);
  }
  if (frames_added() == 0) origin_ = t_s;
  if (camera && !first_camera_) first_camera_ = *camera;
  frames_.push_back(std::move(f));
  // Forget what is older than the history, a tenth of it at a time (one
  // erase per tenth instead of one per frame).
  const double h = config_.history_s;
  if (h > 0 && history_span_s() > 1.1 * h) {
    const double keep_from = frames_.back().t - h;
    const auto first_kept = std::find_if(frames_.begin(), frames_.end(),
                                         [&](const Frame& x) { return x.t >= keep_from; });
    forgotten_ += static_cast<size_t>(first_kept - frames_.begin());
    frames_.erase(frames_.begin(), first_kept);
  }
}

CognitiveMap CognitiveMapBuilder::Build() const {
  return frames_.empty() ? CognitiveMap{} : BuildFrom(frames_, origin_);
}

CognitiveMap CognitiveMapBuilder::Build(double t_begin_s, double t_end_s) const {
  if (frames_.empty()) return {};
  std::vector<Frame> window;
  for (const Frame& f : frames_)
    if (f.t >= t_begin_s - 1e-9 && f.t <= t_end_s + 1e-9) window.push_back(f);
  return window.empty() ? CognitiveMap{} : BuildFrom(window, origin_);
}

ImagePlaneMap CognitiveMapBuilder::BuildImagePlane(const std::vector<Frame>& frames,
                                                   double t_origin, double t_end) const {
  const MapConfig& c = config_;
  // A box centre moving faster than this many of its own heights per second
  // moves (a walking person: about 0.8); slower is a still object's jitter.
  constexpr double kMovingHeightsPerSecond = 0.25;
  ImagePlaneMap out;
  std::map<int64_t, ImagePlaneObject> by_id;
  const double t_begin = frames.front().t - t_origin;
  for (const Frame& f : frames)
    for (const ObjectObservation& o : f.objects) {
      if (o.has_position) continue;
      ImagePlaneObject& p = by_id[o.id];
      p.id = o.id;
      if (p.category.empty() || p.category == "object") p.category = o.category;
      p.samples.push_back({f.t - t_origin, o.box});
    }
  for (auto& [id, p] : by_id) {
    const auto& smp = p.samples;
    // Visibility: gaps longer than gone_after_s split it.
    for (size_t k = 0; k < smp.size(); ++k) {
      if (k == 0 || smp[k].t - smp[k - 1].t > c.gone_after_s)
        p.visible.push_back({smp[k].t, smp[k].t});
      else
        p.visible.back().second = smp[k].t;
    }
    p.enters_view = smp.front().t > t_begin + c.gone_after_s;
    p.leaves_view = smp.back().t < t_end - c.gone_after_s;
    // Velocity of the box centre over +-0.25 s, in box heights per second.
    std::vector<double> heights;
    for (const auto& q : smp) heights.push_back(q.box[3]);
    std::nth_element(heights.begin(), heights.begin() + heights.size() / 2, heights.end());
    const double h_med = std::max(1.0, heights[heights.size() / 2]);
    std::vector<double> ts;
    std::vector<std::array<double, 2>> vel(smp.size(), {0, 0});
    std::vector<bool> moving(smp.size(), false);
    for (size_t k = 0; k < smp.size(); ++k) {
      ts.push_back(smp[k].t);
      size_t lo = k, hi = k;
      while (lo > 0 && smp[k].t - smp[lo - 1].t <= 0.25) --lo;
      while (hi + 1 < smp.size() && smp[hi + 1].t - smp[k].t <= 0.25) ++hi;
      const double dt = smp[hi].t - smp[lo].t;
      if (dt <= 0) continue;
      auto centre = [](const std::array<float, 4>& b, int a) { return b[a] + 0.5 * b[a + 2]; };
      for (int a = 0; a < 2; ++a)
        vel[k][a] = (centre(smp[hi].box, a) - centre(smp[lo].box, a)) / dt / h_med;
      moving[k] = std::hypot(vel[k][0], vel[k][1]) > kMovingHeightsPerSecond;
    }
    for (const auto& [range, is_moving] : Runs(ts, moving, c.min_segment_s)) {
      ImagePlaneObject::Segment seg;
      seg.t0 = smp[range.first].t, seg.t1 = smp[range.second - 1].t;
      seg.moving = is_moving;
      double vx = 0, vy = 0;
      for (size_t k = range.first; k < range.second; ++k) vx += vel[k][0], vy += vel[k][1];
      const double n = static_cast<double>(range.second - range.first);
      vx /= n, vy /= n;
      seg.speed_hps = std::hypot(vx, vy);
      if (is_moving)
        seg.direction =
            std::abs(vx) >= std::abs(vy) ? (vx > 0 ? "right" : "left") : (vy > 0 ? "down" : "up");
      p.segments.push_back(seg);
    }
    // Size: median box height over the first and the last 0.5 s seen.
    auto median_height = [&](bool first) {
      std::vector<double> v;
      for (const auto& q : smp)
        if (first ? q.t <= smp.front().t + 0.5 : q.t >= smp.back().t - 0.5) v.push_back(q.box[3]);
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    p.size_ratio = median_height(false) / std::max(1.0, median_height(true));
    p.size_trend = p.size_ratio > 1.25 ? "grows" : p.size_ratio < 0.8 ? "shrinks" : "steady";
    out.objects.push_back(std::move(p));
  }
  // Relations about once a second, for every pair seen in the same frame.
  double next = t_begin;
  for (const Frame& f : frames) {
    const double t = f.t - t_origin;
    if (t + 1e-9 < next) continue;
    std::vector<const ObjectObservation*> seen;
    for (const ObjectObservation& o : f.objects)
      if (!o.has_position) seen.push_back(&o);
    std::sort(seen.begin(), seen.end(),
              [](const ObjectObservation* a, const ObjectObservation* b) { return a->id < b->id; });
    if (seen.size() < 2) continue;
    next = t + 1.0;
    for (size_t i = 0; i < seen.size(); ++i)
      for (size_t j = i + 1; j < seen.size(); ++j) {
        const auto& a = seen[i]->box;
        const auto& b = seen[j]->box;
        // "Level" within a quarter of the boxes' mean size.
        const double mx = 0.25 * (a[2] + b[2]) / 2, my = 0.25 * (a[3] + b[3]) / 2;
        const double dx = (a[0] + a[2] / 2) - (b[0] + b[2] / 2);
        const double dy = (a[1] + a[3] / 2) - (b[1] + b[3] / 2);
        ImagePlaneRelation r;
        r.t = t, r.a = seen[i]->id, r.b = seen[j]->id;
        r.horizontal = dx < -mx ? "left of" : dx > mx ? "right of" : "level with";
        r.vertical = dy < -my ? "above" : dy > my ? "below" : "level with";
        r.overlap = BoxesOverlap(a, b);
        out.relations.push_back(r);
      }
  }
  return out;
}

CognitiveMap CognitiveMapBuilder::BuildFrom(const std::vector<Frame>& all_frames,
                                            double t_origin) const {
  const MapConfig& c = config_;
  // 3D objects below; 2D ones (colour-only video) in the image-plane part.
  std::vector<Frame> frames_3d = all_frames;
  bool any_2d = false;
  for (Frame& f : frames_3d) {
    const size_t before = f.objects.size();
    f.objects.erase(std::remove_if(f.objects.begin(), f.objects.end(),
                                   [](const ObjectObservation& o) { return !o.has_position; }),
                    f.objects.end());
    any_2d |= f.objects.size() != before;
  }
  const std::vector<Frame>& frames_ = frames_3d;
  CognitiveMap map;
  map.t_begin = frames_.front().t - t_origin;
  map.t_end = frames_.back().t - t_origin;

  // Map frame from the first known camera pose and the up direction.
  // The whole stream's first pose (kept when its frame is forgotten): a
  // window, or a history that moved on, keeps the map frame.
  const CameraSample first = first_camera_ ? *first_camera_ : CameraSample{};
  const Vector3d z = V(c.up).normalized();
  Vector3d fwd = Rotation(first) * Vector3d(0, 0, 1);
  fwd -= fwd.dot(z) * z;
  if (fwd.norm() < 1e-6)
    fwd = (Rotation(first) * Vector3d(0, -1, 0)) - z;  // looking straight down/up
  const Vector3d y = fwd.normalized(), x = y.cross(z);
  Eigen::Matrix3d M;
  M.row(0) = x, M.row(1) = y, M.row(2) = z;
  const Vector3d origin = V(first.position);
  auto to_map = [&](const Vec3& p) -> Vector3d { return M * (V(p) - origin); };

  // Camera per frame (the last known pose where one is missing).
  std::vector<CameraSample> cams(frames_.size());
  CameraSample last = first;
  for (size_t i = 0; i < frames_.size(); ++i) {
    if (frames_[i].has_camera) last = frames_[i].camera;
    cams[i] = last;
  }
  auto in_camera = [&](size_t frame, const Vec3& p) -> Vector3d {
    return Rotation(cams[frame]).transpose() * (V(p) - V(cams[frame].position));
  };
  std::vector<double> ft(frames_.size());
  for (size_t i = 0; i < frames_.size(); ++i) ft[i] = frames_[i].t - t_origin;

  // --- Objects -----------------------------------------------------------
  struct Seen {
    size_t frame;
    const ObjectObservation* o;
  };
  std::map<int64_t, std::vector<Seen>> seen;
  for (size_t i = 0; i < frames_.size(); ++i)
    for (const auto& o : frames_[i].objects) seen[o.id].push_back({i, &o});

  const double window = 0.2;  // s, half-width of the velocity estimate
  for (const auto& [id, obs] : seen) {
    ObjectSummary s;
    s.id = id;
    std::map<std::string, double> votes;
    std::vector<double> sx, sy, sz;
    for (const Seen& e : obs) {
      votes[e.o->category] += e.o->confidence;
      sx.push_back(e.o->extent[0]), sy.push_back(e.o->extent[1]), sz.push_back(e.o->extent[2]);
    }
    double best = -1, total = 0;
    for (const auto& [cat, w] : votes) {
      total += w;
      if (w > best) best = w, s.category = cat;
    }
    s.confidence = total > 0 ? best / total : 0;
    auto median = [](std::vector<double> v) {
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    s.size = {median(sx), median(sy), median(sz)};
    // Extents are world-axis aligned in the input frame: rotate their
    // magnitudes into the map frame.
    const Vector3d size_map = (M.cwiseAbs() * V(s.size));
    s.size = A(size_map);
    std::vector<double> t;
    for (const Seen& e : obs) {
      ObjectSummary::Sample smp;
      smp.t = ft[e.frame];
      smp.position = A(to_map(e.o->position));
      smp.in_camera = A(in_camera(e.frame, e.o->position));
      s.samples.push_back(smp);
      t.push_back(smp.t);
    }
    // Velocity: displacement over about +-window seconds.
    for (size_t k = 0; k < s.samples.size(); ++k) {
      size_t lo = k, hi = k;
      while (lo > 0 && t[k] - t[lo - 1] <= window) --lo;
      while (hi + 1 < t.size() && t[hi + 1] - t[k] <= window) ++hi;
      if (hi > lo && t[hi] > t[lo])
        s.samples[k].velocity =
            A((V(s.samples[hi].position) - V(s.samples[lo].position)) / (t[hi] - t[lo]));
    }
    // Visibility intervals.
    for (size_t k = 0; k < t.size(); ++k) {
      if (s.visible.empty() || t[k] - s.visible.back().second > c.gone_after_s)
        s.visible.push_back({t[k], t[k]});
      else
        s.visible.back().second = t[k];
    }
    s.enters_view = t.front() > map.t_begin + c.gone_after_s;
    s.leaves_view = t.back() < map.t_end - c.gone_after_s;
    // Motion segments.
    std::vector<int> moving(t.size());
    for (size_t k = 0; k < t.size(); ++k)
      moving[k] = V(s.samples[k].velocity).norm() > c.moving_speed_mps;
    for (const auto& [range, label] : Runs(t, moving, c.min_segment_s)) {
      MotionSegment m;
      const auto& a = s.samples[range.first];
      const auto& b = s.samples[range.second - 1];
      m.t0 = a.t, m.t1 = b.t;
      m.moving = label;
      m.from = a.position, m.to = b.position;
      double speed = 0;
      for (size_t k = range.first; k < range.second; ++k) speed += V(s.samples[k].velocity).norm();
      m.speed_mps = speed / (range.second - range.first);
      if (m.moving) {
        m.heading = HeadingWord(V(m.to) - V(m.from));
        // In the camera of the segment's middle frame.
        const size_t mid_frame = obs[(range.first + range.second - 1) / 2].frame;
        const Vector3d d = in_camera(mid_frame, obs[range.second - 1].o->position) -
                           in_camera(mid_frame, obs[range.first].o->position);
        m.camera_relative = CameraWord(d);
      }
      s.segments.push_back(m);
    }
    map.objects.push_back(std::move(s));
  }

  // Occlusion: given (ground truth), or inferred when an object vanishes
  // behind a nearer one whose box covers its last box.
  std::map<int64_t, std::vector<std::pair<double, int64_t>>> hidden_by;  // id -> (t, occluder)
  for (size_t i = 0; i < frames_.size(); ++i)
    for (const auto& o : frames_[i].objects)
      if (o.occluded_by >= 0) hidden_by[o.id].push_back({ft[i], o.occluded_by});
  auto frame_at = [&](double t) {
    return static_cast<size_t>(std::lower_bound(ft.begin(), ft.end(), t - 1e-9) - ft.begin());
  };
  for (auto& s : map.objects) {
    // Given occluders: intervals of consecutive frames with the same one.
    if (hidden_by.count(s.id)) {
      int64_t cur = -1;
      for (const auto& [t, who] : hidden_by[s.id]) {
        if (who == cur && !s.occluded.empty() && t - s.occluded.back().second <= c.gone_after_s) {
          s.occluded.back().second = t;
        } else {
          s.occluded.push_back({t, t});
          cur = who;
          map.events.push_back({t, "occluded", s.id, who, ""});
        }
      }
      continue;
    }
    // Inferred: each disappearance (a gap or the last sighting before the end).
    const auto& obs = seen[s.id];
    for (size_t v = 0; v < s.visible.size(); ++v) {
      const double gone = s.visible[v].second;
      if (v + 1 == s.visible.size() && !s.leaves_view) break;
      const size_t fi = frame_at(gone);
      const ObjectObservation* mine = nullptr;
      for (const Seen& e : obs)
        if (e.frame == fi) mine = e.o;
      if (!mine || mine->box[2] <= 0) continue;
      const double my_depth = in_camera(fi, mine->position).z();
      for (const auto& other : frames_[fi].objects) {
        if (other.id == s.id || other.box[2] <= 0) continue;
        const double x0 = std::max(mine->box[0], other.box[0]);
        const double y0 = std::max(mine->box[1], other.box[1]);
        const double x1 = std::min(mine->box[0] + mine->box[2], other.box[0] + other.box[2]);
        const double y1 = std::min(mine->box[1] + mine->box[3], other.box[1] + other.box[3]);
        const double inter = std::max(0.0, x1 - x0) * std::max(0.0, y1 - y0);
        if (inter < 0.3 * mine->box[2] * mine->box[3]) continue;
        if (in_camera(fi, other.position).z() >= my_depth) continue;
        const double until = v + 1 < s.visible.size() ? s.visible[v + 1].first : gone;
        s.occluded.push_back({gone, until});
        map.events.push_back({gone, "occluded", s.id, other.id, ""});
        break;
      }
    }
  }

  // --- Pairs ---------------------------------------------------------------
  for (size_t i = 0; i < map.objects.size(); ++i)
    for (size_t j = i + 1; j < map.objects.size(); ++j) {
      const ObjectSummary &A_ = map.objects[i], &B = map.objects[j];
      PairSummary p;
      p.a = A_.id, p.b = B.id;
      std::vector<double> t;
      std::vector<Vector3d> pa, pb, va, vb;
      size_t k = 0;
      for (const auto& sa : A_.samples) {
        while (k < B.samples.size() && B.samples[k].t < sa.t - 1e-9) ++k;
        if (k == B.samples.size()) break;
        if (std::abs(B.samples[k].t - sa.t) > 1e-9) continue;
        t.push_back(sa.t);
        pa.push_back(V(sa.position)), pb.push_back(V(B.samples[k].position));
        va.push_back(V(sa.velocity)), vb.push_back(V(B.samples[k].velocity));
        p.distance.push_back({sa.t, (pa.back() - pb.back()).norm()});
      }
      // Relative positions about once a second.
      {
        size_t kb = 0;
        double next = -1;
        for (const auto& sa : A_.samples) {
          if (sa.t < next - 1e-9) continue;
          while (kb < B.samples.size() && B.samples[kb].t < sa.t - 1e-9) ++kb;
          if (kb == B.samples.size()) break;
          if (std::abs(B.samples[kb].t - sa.t) > 1e-9) continue;
          const auto& sb = B.samples[kb];
          PairSummary::Relation r;
          r.t = sa.t;
          const double ua = sa.in_camera[0] / std::max(0.1, sa.in_camera[2]);
          const double ub = sb.in_camera[0] / std::max(0.1, sb.in_camera[2]);
          r.view = ua < ub ? "left" : "right";
          const double dz = sa.in_camera[2] - sb.in_camera[2];
          r.depth = dz < -0.1 ? "nearer" : dz > 0.1 ? "farther" : "same depth";
          const double dx = sa.position[0] - sb.position[0], dy = sa.position[1] - sb.position[1];
          r.world = std::abs(dx) >= std::abs(dy) ? (dx > 0 ? "right" : "left")
                                                 : (dy > 0 ? "ahead" : "behind");
          p.relations.push_back(r);
          next = sa.t + 1.0;
        }
      }
      if (t.size() >= 2) {
        std::vector<int> trend(t.size(), 0);
        for (size_t q = 0; q < t.size(); ++q) {
          size_t lo = q, hi = q;
          while (lo > 0 && t[q] - t[lo - 1] <= window) --lo;
          while (hi + 1 < t.size() && t[hi + 1] - t[q] <= window) ++hi;
          if (hi == lo || t[hi] <= t[lo]) continue;
          const double rate =
              (p.distance[hi].distance_m - p.distance[lo].distance_m) / (t[hi] - t[lo]);
          trend[q] = rate < -c.trend_rate_mps ? -1 : rate > c.trend_rate_mps ? 1 : 0;
        }
        for (const auto& [range, label] : Runs(t, trend, c.min_segment_s)) {
          p.trends.push_back({t[range.first], t[range.second - 1],
                              label < 0   ? "approaching"
                              : label > 0 ? "receding"
                                          : "steady",
                              p.distance[range.first].distance_m,
                              p.distance[range.second - 1].distance_m});
        }
        // Contact: boxes within contact_m; overtaking: same direction of
        // travel, a moves from behind b to ahead of it, close side by side.
        const Vector3d ha = 0.5 * V(A_.size), hb = 0.5 * V(B.size);
        bool touching = false;
        int behind = 0;  // -1 a behind b, +1 ahead, 0 unknown
        for (size_t q = 0; q < t.size(); ++q) {
          const Vector3d gap = (pa[q] - pb[q]).cwiseAbs() - ha - hb;
          const bool now = gap.maxCoeff() < c.contact_m;
          if (now && !touching) {
            p.contacts.push_back(t[q]);
            map.events.push_back({t[q], "contact", p.a, p.b, ""});
          }
          touching = now;
          const Vector3d mean_v = 0.5 * (va[q] + vb[q]);
          const bool same_way = va[q].norm() > c.moving_speed_mps &&
                                vb[q].norm() > c.moving_speed_mps &&
                                va[q].normalized().dot(vb[q].normalized()) > 0.7;
          if (!same_way) {
            behind = 0;
            continue;
          }
          const Vector3d dir = mean_v.normalized();
          const double along = (pa[q] - pb[q]).dot(dir);
          const double side = ((pa[q] - pb[q]) - along * dir).norm();
          const int now_side = along > 0.05 ? 1 : along < -0.05 ? -1 : 0;
          if (behind == -1 && now_side == 1 && side < 1.5) {
            if (va[q].norm() > vb[q].norm()) {
              p.overtakes.push_back(t[q]);
              map.events.push_back({t[q], "overtakes", p.a, p.b, ""});
            }
          } else if (behind == 1 && now_side == -1 && side < 1.5 && vb[q].norm() > va[q].norm()) {
            map.events.push_back({t[q], "overtakes", p.b, p.a, ""});
          }
          if (now_side != 0) behind = now_side;
        }
      }
      for (const auto& [t0, t1] : B.occluded)
        for (const Event& e : map.events)
          if (e.type == "occluded" && e.a == B.id && e.b == A_.id && std::abs(e.t - t0) < 1e-9)
            p.a_hides_b.push_back({t0, t1});
      for (const auto& [t0, t1] : A_.occluded)
        for (const Event& e : map.events)
          if (e.type == "occluded" && e.a == A_.id && e.b == B.id && std::abs(e.t - t0) < 1e-9)
            p.b_hides_a.push_back({t0, t1});
      map.pairs.push_back(std::move(p));
    }

  // --- Camera ----------------------------------------------------------------
  std::vector<std::string> labels(frames_.size(), "static");
  for (size_t i = 0; i < frames_.size(); ++i) {
    map.camera.path.push_back({ft[i], A(to_map(cams[i].position))});
    const Eigen::Matrix3d Rm = M * Rotation(cams[i]);
    std::array<double, 9> r;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) r[a * 3 + b] = Rm(a, b);
    map.camera.rotation.push_back(r);
    if (i > 0)
      map.camera.path_length_m +=
          (V(map.camera.path[i].second) - V(map.camera.path[i - 1].second)).norm();
  }
  for (size_t i = 0; i < frames_.size(); ++i) {
    size_t lo = i, hi = i;
    while (lo > 0 && ft[i] - ft[lo - 1] <= window) --lo;
    while (hi + 1 < ft.size() && ft[hi + 1] - ft[i] <= window) ++hi;
    if (hi == lo || ft[hi] <= ft[lo]) continue;
    const double dt = ft[hi] - ft[lo];
    const Eigen::Matrix3d Rlo = Rotation(cams[lo]);
    // Translation in the camera frame at lo; rotation as yaw (about up) and
    // pitch (about the camera's x).
    const Vector3d d = Rlo.transpose() * (V(cams[hi].position) - V(cams[lo].position)) / dt;
    const Eigen::Matrix3d dR = Rlo.transpose() * Rotation(cams[hi]);
    const Vector3d up_cam = Rlo.transpose() * z;
    const Eigen::AngleAxisd aa(dR);
    const Vector3d w = aa.axis() * aa.angle() * 180 / M_PI / dt;  // deg/s, camera frame
    std::vector<std::string> parts;
    if (d.norm() > c.camera_moving_mps) {
      const Vector3d a = d.cwiseAbs();
      if (a.z() >= a.x() && a.z() >= a.y())
        parts.push_back(d.z() > 0 ? "moves forward" : "moves backward");
      else if (a.x() >= a.y())
        parts.push_back(d.x() > 0 ? "moves right" : "moves left");
      else
        parts.push_back(d.y() > 0 ? "moves down" : "moves up");
    }
    const double yaw = w.dot(up_cam);  // + = turning left (counter-clockwise seen from above)
    const double pitch = w.x();        // + = tilting down (y down, z forward)
    if (std::abs(yaw) > c.camera_turning_dps && std::abs(yaw) >= std::abs(pitch))
      parts.push_back(yaw > 0 ? "pans left" : "pans right");
    else if (std::abs(pitch) > c.camera_turning_dps)
      parts.push_back(pitch > 0 ? "tilts down" : "tilts up");
    if (!parts.empty()) {
      labels[i] = parts[0];
      for (size_t k = 1; k < parts.size(); ++k) labels[i] += " and " + parts[k];
    }
  }
  bool any_camera = false;
  for (const Frame& f : frames_) any_camera |= f.has_camera;
  if (any_camera)  // without a single pose the camera's motion is unknown, not "static"
    for (const auto& [range, label] : Runs(ft, labels, c.min_segment_s))
      map.camera.segments.push_back({ft[range.first], ft[range.second - 1], label});

  if (any_2d) map.image_plane = BuildImagePlane(all_frames, t_origin, map.t_end);
  // --- Events ------------------------------------------------------------------
  // Visibility and start/stop, alike for 3D and image-plane objects.
  auto visibility_and_motion_events = [&](const auto& o) {
    for (size_t v = 0; v < o.visible.size(); ++v) {
      map.events.push_back({o.visible[v].first, v == 0 ? "appears" : "reappears", o.id, -1, ""});
      if (v + 1 < o.visible.size() || o.leaves_view)
        map.events.push_back({o.visible[v].second, "disappears", o.id, -1, ""});
    }
    for (size_t k = 1; k < o.segments.size(); ++k) {
      if (o.segments[k].moving && !o.segments[k - 1].moving)
        map.events.push_back({o.segments[k].t0, "starts_moving", o.id, -1, ""});
      if (!o.segments[k].moving && o.segments[k - 1].moving)
        map.events.push_back({o.segments[k].t0, "stops", o.id, -1, ""});
    }
  };
  for (const auto& p : map.image_plane.objects) visibility_and_motion_events(p);
  // Hidden in the image: an object that vanishes (before the end) where
  // another one's box covers at least half of its last box is behind it.
  for (const auto& p : map.image_plane.objects)
    for (size_t v = 0; v < p.visible.size(); ++v) {
      if (v + 1 == p.visible.size() && !p.leaves_view) continue;
      const double t_gone = p.visible[v].second;
      const ImagePlaneObject::Sample* last = nullptr;
      for (const auto& smp : p.samples)
        if (smp.t <= t_gone + 1e-9) last = &smp;
      if (!last) continue;
      for (const auto& q : map.image_plane.objects) {
        if (q.id == p.id) continue;
        for (const auto& qs : q.samples) {
          if (std::abs(qs.t - last->t) > 1e-6) continue;
          const auto& a = last->box;
          const auto& b = qs.box;
          const double iw =
              std::max(0.f, std::min(a[0] + a[2], b[0] + b[2]) - std::max(a[0], b[0]));
          const double ih =
              std::max(0.f, std::min(a[1] + a[3], b[1] + b[3]) - std::max(a[1], b[1]));
          if (iw * ih >= 0.5 * a[2] * a[3])
            map.events.push_back({t_gone, "occluded", p.id, q.id, ""});
        }
      }
    }
  auto category_of = [&](int64_t id) -> std::string {
    if (const ObjectSummary* o = map.Find(id)) return o->category;
    if (const ImagePlaneObject* o = map.image_plane.Find(id)) return o->category;
    return "object";
  };
  for (const auto& s : map.objects) {
    visibility_and_motion_events(s);
    for (size_t k = 0; k < s.segments.size(); ++k) {
      const MotionSegment& m = s.segments[k];
      if (m.moving) {
        // Turns: the horizontal heading of the first and last thirds differ.
        const auto& smp = s.samples;
        std::vector<Vector3d> vel;
        for (const auto& q : smp)
          if (q.t >= m.t0 && q.t <= m.t1) vel.push_back(Vector3d(q.velocity[0], q.velocity[1], 0));
        if (vel.size() >= 6) {
          Vector3d v0 = Vector3d::Zero(), v1 = Vector3d::Zero();
          for (size_t q = 0; q < vel.size() / 3; ++q) v0 += vel[q], v1 += vel[vel.size() - 1 - q];
          if (v0.norm() > 0 && v1.norm() > 0) {
            const double ang =
                std::acos(std::clamp(v0.normalized().dot(v1.normalized()), -1.0, 1.0)) * 180 / M_PI;
            if (ang > c.turn_deg)
              map.events.push_back({0.5 * (m.t0 + m.t1), "turns", s.id, -1, ""});
          }
        }
      }
    }
  }
  std::stable_sort(map.events.begin(), map.events.end(), [](const Event& a, const Event& b) {
    if (a.t != b.t) return a.t < b.t;
    if (a.type != b.type) return a.type < b.type;
    return a.a != b.a ? a.a < b.a : a.b < b.b;
  });
  auto name = [&](int64_t id) { return category_of(id) + " #" + std::to_string(id); };
  for (Event& e : map.events) {
    if (e.type == "appears")
      e.text = name(e.a) + " appears";
    else if (e.type == "reappears")
      e.text = name(e.a) + " reappears";
    else if (e.type == "disappears")
      e.text = name(e.a) + " disappears";
    else if (e.type == "starts_moving")
      e.text = name(e.a) + " starts moving";
    else if (e.type == "stops")
      e.text = name(e.a) + " stops";
    else if (e.type == "turns")
      e.text = name(e.a) + " turns";
    else if (e.type == "occluded")
      e.text = name(e.a) + " is hidden by " + name(e.b);
    else if (e.type == "contact")
      e.text = name(e.a) + " touches " + name(e.b);
    else if (e.type == "overtakes")
      e.text = name(e.a) + " overtakes " + name(e.b);
  }
  return map;
}

// ---------------------------------------------------------------------------
// JSON

std::string ToJson(const CognitiveMap& map) {
  using nlohmann::json;
  auto r3 = [](const Vec3& v) {
    return json::array({Round(v[0], 1e-3), Round(v[1], 1e-3), Round(v[2], 1e-3)});
  };
  auto r = [](double v) { return Round(v, 1e-3); };
  json j;
  j["schema"] = "dyn4d.st_tcm/1";
  j["frame"] = "x right of the first view, y ahead (horizontal), z up; metres; seconds";
  j["t_begin_s"] = r(map.t_begin);
  j["t_end_s"] = r(map.t_end);
  json objs = json::array();
  for (const auto& o : map.objects) {
    json jo;
    jo["id"] = o.id;
    jo["category"] = o.category;
    jo["confidence"] = r(o.confidence);
    jo["size_m"] = r3(o.size);
    json samples = json::array();
    for (const auto& s : o.samples)
      samples.push_back(
          {{"t", r(s.t)}, {"p", r3(s.position)}, {"v", r3(s.velocity)}, {"cam", r3(s.in_camera)}});
    jo["track"] = std::move(samples);
    json segs = json::array();
    for (const auto& m : o.segments) {
      json js = {{"t0", r(m.t0)},      {"t1", r(m.t1)},  {"state", m.moving ? "moving" : "static"},
                 {"from", r3(m.from)}, {"to", r3(m.to)}, {"speed_mps", r(m.speed_mps)}};
      if (m.moving) js["heading"] = m.heading, js["camera_relative"] = m.camera_relative;
      segs.push_back(std::move(js));
    }
    jo["motion"] = std::move(segs);
    json vis = json::array(), occ = json::array();
    for (const auto& [a, b] : o.visible) vis.push_back({r(a), r(b)});
    for (const auto& [a, b] : o.occluded) occ.push_back({r(a), r(b)});
    jo["visible"] = std::move(vis);
    jo["occluded"] = std::move(occ);
    jo["enters_view"] = o.enters_view;
    jo["leaves_view"] = o.leaves_view;
    objs.push_back(std::move(jo));
  }
  j["objects"] = std::move(objs);
  json pairs = json::array();
  for (const auto& p : map.pairs) {
    json jp = {{"a", p.a}, {"b", p.b}};
    json trends = json::array();
    for (const auto& t : p.trends)
      trends.push_back({{"t0", r(t.t0)},
                        {"t1", r(t.t1)},
                        {"trend", t.trend},
                        {"from_m", r(t.from_m)},
                        {"to_m", r(t.to_m)}});
    jp["distance"] = std::move(trends);
    json ov = json::array(), ct = json::array(), ahb = json::array(), bha = json::array();
    for (double t : p.overtakes) ov.push_back(r(t));
    for (double t : p.contacts) ct.push_back(r(t));
    for (const auto& [a, b] : p.a_hides_b) ahb.push_back({r(a), r(b)});
    for (const auto& [a, b] : p.b_hides_a) bha.push_back({r(a), r(b)});
    json rel = json::array();
    for (const auto& q : p.relations)
      rel.push_back({{"t", r(q.t)}, {"view", q.view}, {"depth", q.depth}, {"world", q.world}});
    jp["a_relative_to_b"] = std::move(rel);
    jp["a_overtakes_b"] = std::move(ov);
    jp["contacts"] = std::move(ct);
    jp["a_hides_b"] = std::move(ahb);
    jp["b_hides_a"] = std::move(bha);
    pairs.push_back(std::move(jp));
  }
  j["pairs"] = std::move(pairs);
  json cam = json::array();
  for (const auto& s : map.camera.segments)
    cam.push_back({{"t0", r(s.t0)}, {"t1", r(s.t1)}, {"motion", s.motion}});
  j["camera"] = {{"motion", std::move(cam)}, {"path_length_m", r(map.camera.path_length_m)}};
  json ev = json::array();
  for (const auto& e : map.events) {
    json je = {{"t", r(e.t)}, {"type", e.type}, {"a", e.a}, {"text", e.text}};
    if (e.b >= 0) je["b"] = e.b;
    ev.push_back(std::move(je));
  }
  j["events"] = std::move(ev);
  if (!map.image_plane.objects.empty()) {
    json ip = json::array();
    for (const auto& o : map.image_plane.objects) {
      json vis = json::array(), seg = json::array();
      for (const auto& [a, b] : o.visible) vis.push_back({r(a), r(b)});
      for (const auto& m : o.segments) {
        json js = {{"t0", r(m.t0)}, {"t1", r(m.t1)}, {"moving", m.moving}};
        if (m.moving) js["direction"] = m.direction, js["speed_heights_per_s"] = r(m.speed_hps);
        seg.push_back(std::move(js));
      }
      ip.push_back({{"id", o.id},
                    {"category", o.category},
                    {"visible", std::move(vis)},
                    {"segments", std::move(seg)},
                    {"size_trend", o.size_trend},
                    {"size_ratio", r(o.size_ratio)},
                    {"enters_view", o.enters_view},
                    {"leaves_view", o.leaves_view}});
    }
    json rel = json::array();
    for (const auto& q : map.image_plane.relations)
      rel.push_back({{"t", r(q.t)},
                     {"a", q.a},
                     {"b", q.b},
                     {"a_horizontal", q.horizontal},
                     {"a_vertical", q.vertical},
                     {"overlap", q.overlap}});
    j["image_plane"] = {
        {"frame", "image: x right, y down; no depth; speeds in box heights per second"},
        {"objects", std::move(ip)},
        {"relations", std::move(rel)}};
  }
  return j.dump();
}

// ---------------------------------------------------------------------------
// Text

int EstimateTokens(const std::string& text) { return static_cast<int>((text.size() + 3) / 4); }

std::string ToText(const CognitiveMap& map, const MapConfig& c) {
  const double step = c.position_step_m;
  auto pos = [&](const Vec3& p) {
    const int digits = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
    return "(" + Fixed(Round(p[0], step), digits) + ", " + Fixed(Round(p[1], step), digits) + ", " +
           Fixed(Round(p[2], step), digits) + ")";
  };
  auto ts = [](double t) { return Fixed(t, 1); };
  auto name = [&](int64_t id) {
    if (const ObjectSummary* o = map.Find(id)) return o->category + " #" + std::to_string(id);
    if (const ImagePlaneObject* o = map.image_plane.Find(id))
      return o->category + " #" + std::to_string(id);
    return "object #" + std::to_string(id);
  };
  const bool image_only = map.objects.empty() && !map.image_plane.objects.empty();
  std::string head =
      image_only
          ? "Cognitive map (colour-only video, no depth: objects as seen in the image; left/right/"
            "above/below as seen; speeds in box heights per second; a box that grows is nearing "
            "the camera; t in s; video " +
                ts(map.t_begin) + "-" + ts(map.t_end) + " s)\n"
          : "Cognitive map (map frame: x = right of the first view, y = ahead, z = up; metres; t "
            "in s; video " +
                ts(map.t_begin) + "-" + ts(map.t_end) + " s)\n";
  std::string camera = "Camera: ";
  for (size_t k = 0; k < map.camera.segments.size(); ++k) {
    const auto& s = map.camera.segments[k];
    camera += (k ? "; " : "") + ts(s.t0) + "-" + ts(s.t1) + " " + s.motion;
  }
  camera += "; path " + Fixed(map.camera.path_length_m, 1) + " m.\n";
  if (map.camera.segments.empty()) camera = "Camera: motion unknown (no poses).\n";

  // Objects, most eventful first (ties: id).
  std::map<int64_t, int> n_events;
  for (const auto& e : map.events) {
    ++n_events[e.a];
    if (e.b >= 0) ++n_events[e.b];
  }
  std::vector<const ObjectSummary*> order;
  for (const auto& o : map.objects) order.push_back(&o);
  std::stable_sort(order.begin(), order.end(), [&](const ObjectSummary* a, const ObjectSummary* b) {
    return n_events[a->id] != n_events[b->id] ? n_events[a->id] > n_events[b->id] : a->id < b->id;
  });
  std::vector<const ImagePlaneObject*> image_order;
  for (const auto& o : map.image_plane.objects) image_order.push_back(&o);
  std::stable_sort(image_order.begin(), image_order.end(),
                   [&](const ImagePlaneObject* a, const ImagePlaneObject* b) {
                     return n_events[a->id] != n_events[b->id] ? n_events[a->id] > n_events[b->id]
                                                               : a->id < b->id;
                   });
  // The visible intervals (elided past `max_segments`), and the end of an
  // object's line; shared by 3D and image-plane objects.
  auto append_seen = [&](std::string& line, const std::vector<std::pair<double, double>>& visible,
                         size_t max_segments) {
    AppendElided(
        line, visible.size(), max_segments,
        [&](size_t k) { return " " + ts(visible[k].first) + "-" + ts(visible[k].second); },
        [](size_t left_out) { return " (" + std::to_string(left_out) + " more)"; });
    line += ";";
  };
  auto end_line = [&](std::string& line, bool enters, bool leaves, double last_seen,
                      std::vector<std::string>& lines) {
    if (enters) line += " enters the view;";
    if (leaves) line += " leaves the view at " + ts(last_seen) + ";";
    line.back() = '.';
    lines.push_back(line + "\n");
  };
  // One line per object; with `max_segments`, long motion histories keep
  // their first and last segments and say how many were left out.
  auto object_lines_with = [&](size_t max_segments) {
    std::vector<std::string> lines;
    for (const ObjectSummary* o : order) {
      std::string line = name(o->id) + " (conf " + Fixed(o->confidence, 2) + ", size " +
                         Fixed(o->size[0], 1) + "x" + Fixed(o->size[1], 1) + "x" +
                         Fixed(o->size[2], 1) + " m): seen";
      append_seen(line, o->visible, max_segments);
      AppendElided(
          line, o->segments.size(), max_segments,
          [&](size_t k) {
            const auto& m = o->segments[k];
            return " " + ts(m.t0) + "-" + ts(m.t1) + " " +
                   (m.moving ? "moves " + m.heading + " (camera view: " + m.camera_relative + ") " +
                                   pos(m.from) + "->" + pos(m.to) + " at " + Fixed(m.speed_mps, 1) +
                                   " m/s;"
                             : "static at " + pos(m.from) + ";");
          },
          [](size_t left_out) { return " (" + std::to_string(left_out) + " more segments);"; });
      end_line(line, o->enters_view, o->leaves_view, o->samples.back().t, lines);
    }
    for (const ImagePlaneObject* o : image_order) {
      std::string line = name(o->id) + " (image plane): seen";
      append_seen(line, o->visible, max_segments);
      AppendElided(
          line, o->segments.size(), max_segments,
          [&](size_t k) {
            const auto& m = o->segments[k];
            return " " + ts(m.t0) + "-" + ts(m.t1) +
                   (m.moving
                        ? " moves " + m.direction + " at " + Fixed(m.speed_hps, 1) + " heights/s;"
                        : " still;");
          },
          [](size_t left_out) { return " (" + std::to_string(left_out) + " more segments);"; });
      if (o->size_trend == "grows")
        line += " grows in the image x" + Fixed(o->size_ratio, 1) + " (nearing);";
      if (o->size_trend == "shrinks")
        line += " shrinks in the image x" + Fixed(o->size_ratio, 1) + " (moving away);";
      end_line(line, o->enters_view, o->leaves_view, o->samples.back().t, lines);
    }
    return lines;
  };
  size_t max_segments = 1000000;
  std::vector<std::string> object_lines = object_lines_with(max_segments);
  std::vector<std::string> pair_lines;
  for (const auto& p : map.pairs) {
    if (p.trends.empty() && p.a_hides_b.empty() && p.b_hides_a.empty()) continue;
    std::string line = name(p.a) + " / " + name(p.b) + ":";
    for (const auto& t : p.trends)
      line += " " + ts(t.t0) + "-" + ts(t.t1) + " " + t.trend + " " + Fixed(t.from_m, 1) + "->" +
              Fixed(t.to_m, 1) + " m;";
    for (const auto& [a, b] : p.a_hides_b)
      line += " #" + std::to_string(p.a) + " hides #" + std::to_string(p.b) + " " + ts(a) + "-" +
              ts(b) + ";";
    for (const auto& [a, b] : p.b_hides_a)
      line += " #" + std::to_string(p.b) + " hides #" + std::to_string(p.a) + " " + ts(a) + "-" +
              ts(b) + ";";
    for (double t : p.overtakes)
      line += " #" + std::to_string(p.a) + " overtakes at " + ts(t) + ";";
    line.back() = '.';
    pair_lines.push_back(line + "\n");
  }
  // Camera views about once a second: left-to-right and near-to-far order.
  std::vector<std::string> view_lines;
  for (double t = 0; t <= map.t_end + 1e-9; t += 1.0) {
    std::vector<std::pair<double, int64_t>> lr, nf;
    for (const auto& o : map.objects) {
      const ObjectSummary::Sample* best = nullptr;
      for (const auto& s : o.samples)
        if (std::abs(s.t - t) <= 0.05 && (!best || std::abs(s.t - t) < std::abs(best->t - t)))
          best = &s;
      if (!best) continue;
      lr.push_back({best->in_camera[0] / std::max(0.1, best->in_camera[2]), o.id});
      nf.push_back({best->in_camera[2], o.id});
    }
    if (lr.size() < 1) continue;
    std::sort(lr.begin(), lr.end());
    std::sort(nf.begin(), nf.end());
    std::string line = "View at " + ts(t) + " s: left to right";
    for (const auto& [x, id] : lr) line += " #" + std::to_string(id);
    line += "; near to far";
    for (const auto& [z, id] : nf) line += " #" + std::to_string(id) + " " + Fixed(z, 1) + " m";
    view_lines.push_back(line + ".\n");
  }
  // Image-plane views: left to right and top to bottom, overlapping boxes.
  {
    std::map<double, std::vector<const ImagePlaneRelation*>> at;
    for (const auto& r : map.image_plane.relations) at[r.t].push_back(&r);
    for (const auto& [t, rels] : at) {
      std::string line = "Image at " + ts(t) + " s:";
      for (const ImagePlaneRelation* r : rels)
        line += " #" + std::to_string(r->a) + " " + r->horizontal + ", " + r->vertical + " #" +
                std::to_string(r->b) + (r->overlap ? " (boxes overlap)" : "") + ";";
      line.back() = '.';
      view_lines.push_back(line + "\n");
    }
  }
  std::vector<std::string> event_lines;
  for (const auto& e : map.events) event_lines.push_back(ts(e.t) + " " + e.text + "\n");

  // Fit the budget: thin the views, then events beyond the first ones,
  // then pair lines, then objects from the least eventful end.
  auto assemble = [&](size_t views_keep_every, size_t events, size_t pairs, size_t objects) {
    std::string s = head + camera + "Objects:\n";
    for (size_t k = 0; k < std::min(objects, object_lines.size()); ++k) s += object_lines[k];
    if (objects < object_lines.size())
      s +=
          "(" + std::to_string(object_lines.size() - objects) + " less eventful objects omitted)\n";
    if (!pair_lines.empty()) s += "Pairs:\n";
    for (size_t k = 0; k < std::min(pairs, pair_lines.size()); ++k) s += pair_lines[k];
    if (pairs < pair_lines.size())
      s += "(" + std::to_string(pair_lines.size() - pairs) + " pairs omitted)\n";
    for (size_t k = 0; k < view_lines.size(); k += views_keep_every) s += view_lines[k];
    if (!event_lines.empty()) s += "Events:\n";
    for (size_t k = 0; k < std::min(events, event_lines.size()); ++k) s += event_lines[k];
    if (events < event_lines.size())
      s += "(" + std::to_string(event_lines.size() - events) + " later events omitted)\n";
    return s;
  };
  size_t every = 1, events = event_lines.size(), pairs = pair_lines.size(),
         objects = object_lines.size();
  std::string text = assemble(every, events, pairs, objects);
  size_t longest = 0;
  for (const auto& o : map.objects)
    longest = std::max({longest, o.segments.size(), o.visible.size()});
  for (const auto& o : map.image_plane.objects)
    longest = std::max({longest, o.segments.size(), o.visible.size()});
  while (EstimateTokens(text) > c.token_budget) {
    if (every < view_lines.size() + 1 && view_lines.size() > 1) {
      every *= 2;
    } else if (events > 10) {
      events = events * 3 / 4;
    } else if (std::min(max_segments, longest) > 4) {
      max_segments = std::min(max_segments, longest) / 2;
      object_lines = object_lines_with(std::max<size_t>(max_segments, 4));
    } else if (pairs > 0) {
      pairs = pairs * 3 / 4;
    } else if (objects > 1) {
      --objects;
    } else if (events > 0) {
      --events;
    } else {
      break;
    }
    text = assemble(every, events, pairs, objects);
  }
  return text;
}

}  // namespace dyn4d::reasoning
