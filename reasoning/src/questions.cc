#include "dyn4d/reasoning/questions.h"

#include <Eigen/Geometry>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <tuple>

namespace dyn4d::reasoning {
namespace {

using Eigen::Vector3d;

Vector3d V(const Vec3& a) { return {a[0], a[1], a[2]}; }

Eigen::Matrix3d Rot(const CameraSample& c) {
  return Eigen::Quaterniond(c.q_xyzw[3], c.q_xyzw[0], c.q_xyzw[1], c.q_xyzw[2])
      .normalized()
      .toRotationMatrix();
}

std::string T1(double t) {
  char b[16];
  std::snprintf(b, sizeof b, "%.1f", t);
  return b;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Options "A. x", "B. y", ... rotated by `shift` so answers do not all sit
// under one letter; returns the answer's letter.
std::string MakeOptions(const std::vector<std::string>& texts, size_t correct, size_t shift,
                        std::vector<std::string>& options) {
  const size_t n = texts.size();
  options.clear();
  std::string letter;
  for (size_t k = 0; k < n; ++k) {
    const size_t src = (k + shift) % n;
    const std::string l(1, static_cast<char>('A' + k));
    options.push_back(l + ". " + texts[src]);
    if (src == correct) letter = l;
  }
  return letter;
}

// ---------------------------------------------------------------------------
// Ground-truth helpers.

struct Truth {
  const SceneTruth& s;
  std::map<int64_t, std::string> category;
  explicit Truth(const SceneTruth& st) : s(st) {
    for (const auto& f : s.frames)
      for (const auto& o : f.objects) category[o.id] = o.category;
  }
  size_t FrameAt(double t) const {
    size_t best = 0;
    for (size_t i = 0; i < s.frames.size(); ++i)
      if (std::abs(s.frames[i].t - t) < std::abs(s.frames[best].t - t)) best = i;
    return best;
  }
  const SceneTruth::Object* Get(size_t frame, int64_t id) const {
    for (const auto& o : s.frames[frame].objects)
      if (o.id == id) return &o;
    return nullptr;
  }
  bool InView(size_t frame, int64_t id, double min_fraction = 0) const {
    const auto* o = Get(frame, id);
    return o && o->visible_pixels >= s.min_visible_pixels &&
           o->visible_pixels >= min_fraction * std::max(1, o->silhouette_pixels);
  }
  Vector3d InCamera(size_t frame, const Vec3& p) const {
    const auto& c = s.frames[frame].camera;
    return Rot(c).transpose() * (V(p) - V(c.position));
  }
  double Speed(size_t frame, int64_t id) const {
    const auto* o = Get(frame, id);
    return o ? V(o->velocity).norm() : 0;
  }
};

}  // namespace

std::string FirstWordLetter(const std::string& reply) {
  size_t i = 0;
  while (i < reply.size() && std::isspace(static_cast<unsigned char>(reply[i]))) ++i;
  size_t j = i;
  while (j < reply.size() && !std::isspace(static_cast<unsigned char>(reply[j]))) ++j;
  std::string w = reply.substr(i, j - i);
  while (!w.empty() && std::string(".,;:!?").find(w.back()) != std::string::npos) w.pop_back();
  for (char& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return w;
}

std::vector<Question> GenerateQuestions(const SceneTruth& scene) {
  std::vector<Question> qs;
  if (scene.frames.size() < 10) return qs;
  const Truth T(scene);
  const double t_end = scene.frames.back().t;
  std::vector<int64_t> ids;
  for (const auto& [id, c] : T.category) ids.push_back(id);
  auto name = [&](int64_t id) { return "the " + T.category.at(id); };
  auto add = [&](const std::string& family, const std::string& dim, const std::string& q,
                 const std::vector<std::string>& texts, size_t correct) {
    Question x;
    x.family = family, x.dimension = dim, x.question = q;
    x.answer = MakeOptions(texts, correct, qs.size(), x.options);
    qs.push_back(std::move(x));
  };
  const size_t last = scene.frames.size() - 1;

  // 1. Approaching / moving away, 1-second windows.
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t j = 0; j < ids.size(); ++j) {
      if (i == j) continue;
      int asked = 0;
      for (double t0 = 0.0; t0 + 1.0 <= t_end + 1e-9 && asked < 1; t0 += 0.5) {
        const size_t f0 = T.FrameAt(t0), f1 = T.FrameAt(t0 + 1.0);
        if (!T.InView(f0, ids[i], 0.5) || !T.InView(f1, ids[i], 0.5) ||
            !T.InView(f0, ids[j], 0.5) || !T.InView(f1, ids[j], 0.5))
          continue;
        const double d0 = (V(T.Get(f0, ids[i])->center) - V(T.Get(f0, ids[j])->center)).norm();
        const double d1 = (V(T.Get(f1, ids[i])->center) - V(T.Get(f1, ids[j])->center)).norm();
        const double delta = d1 - d0;
        size_t correct;
        if (delta < -0.4)
          correct = 0;
        else if (delta > 0.4)
          correct = 1;
        else if (std::abs(delta) < 0.1)
          correct = 2;
        else
          continue;
        add("approaching", "inter_object",
            "Between " + T1(scene.frames[f0].t) + " s and " + T1(scene.frames[f1].t) + " s, is " +
                name(ids[i]) + " approaching " + name(ids[j]) +
                ", moving away from it, or keeping about the same distance?",
            {"approaching", "moving away", "keeping about the same distance"}, correct);
        ++asked;
      }
    }

  // 2. Occlusion: which object hides X (mostly) at some point?
  for (int64_t id : ids) {
    std::map<int64_t, int> hidden_frames;
    double min_fraction = 1;
    int on_screen = 0;
    for (size_t f = 0; f < scene.frames.size(); ++f) {
      const auto* o = T.Get(f, id);
      if (!o || o->silhouette_pixels < 200) continue;
      // Only where it is inside the image: silhouette counts pixels it covers.
      ++on_screen;
      const double frac = double(o->visible_pixels) / o->silhouette_pixels;
      min_fraction = std::min(min_fraction, frac);
      if (frac < 0.25 && o->occluded_by >= 0) ++hidden_frames[o->occluded_by];
    }
    if (on_screen < 10) continue;
    std::vector<std::string> texts;
    for (int64_t other : ids)
      if (other != id) texts.push_back(T.category.at(other));
    texts.push_back("none of them");
    int64_t occluder = -1;
    int most = 0;
    for (const auto& [who, n] : hidden_frames)
      if (n > most) most = n, occluder = who;
    size_t correct;
    if (most >= 3 && hidden_frames.size() == 1) {
      correct = std::find(texts.begin(), texts.end(), T.category.at(occluder)) - texts.begin();
    } else if (hidden_frames.empty() && min_fraction > 0.7) {
      correct = texts.size() - 1;
    } else {
      continue;
    }
    add("occlusion", "inter_object",
        "Which object hides " + name(id) + " from the camera at some point in the video?", texts,
        correct);
  }

  // 3. Relative direction in the camera's view, and 4. depth order.
  for (double t : {0.5, 1.5, 2.5}) {
    if (t > t_end) break;
    const size_t f = T.FrameAt(t);
    std::vector<std::pair<double, int64_t>> depth;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!T.InView(f, ids[i], 0.5)) continue;
      depth.push_back({T.InCamera(f, T.Get(f, ids[i])->center).z(), ids[i]});
      for (size_t j = i + 1; j < ids.size(); ++j) {
        if (!T.InView(f, ids[j], 0.5)) continue;
        const Vector3d a = T.InCamera(f, T.Get(f, ids[i])->center);
        const Vector3d b = T.InCamera(f, T.Get(f, ids[j])->center);
        const double ua = a.x() / a.z(), ub = b.x() / b.z();
        if (std::abs(ua - ub) < 0.15) continue;
        add("relative_direction", "camera_object",
            "At " + T1(scene.frames[f].t) + " s, is " + name(ids[i]) +
                " to the left or to the right of " + name(ids[j]) + " in the camera's view?",
            {"to the left", "to the right"}, ua < ub ? 0 : 1);
      }
    }
    if (depth.size() >= 2) {
      std::sort(depth.begin(), depth.end());
      if (depth[1].first - depth[0].first >= 0.5) {
        std::vector<std::string> texts;
        size_t correct = 0;
        for (int64_t id : ids)
          if (T.InView(f, id, 0.5)) {
            if (id == depth[0].second) correct = texts.size();
            texts.push_back(T.category.at(id));
          }
        add("depth_order", "camera_object",
            "At " + T1(scene.frames[f].t) + " s, which object is closest to the camera?", texts,
            correct);
      }
    }
  }

  // 5. Direction of an object's own motion relative to the camera's view.
  for (int64_t id : ids) {
    int asked = 0;
    for (double t0 = 0.0; t0 + 1.0 <= t_end + 1e-9 && asked < 1; t0 += 0.5) {
      const size_t f0 = T.FrameAt(t0), f1 = T.FrameAt(t0 + 1.0), fm = T.FrameAt(t0 + 0.5);
      if (!T.InView(f0, id, 0.5) || !T.InView(f1, id, 0.5)) continue;
      const Vector3d d = Rot(scene.frames[fm].camera).transpose() *
                         (V(T.Get(f1, id)->center) - V(T.Get(f0, id)->center));
      const double ax = std::abs(d.x()), az = std::abs(d.z());
      if (std::max(ax, az) < 0.4 || std::max(ax, az) < 2 * std::min(ax, az)) continue;
      const size_t correct = ax > az ? (d.x() < 0 ? 0 : 1) : (d.z() < 0 ? 2 : 3);
      add("camera_motion_of_object", "camera_object",
          "Between " + T1(scene.frames[f0].t) + " s and " + T1(scene.frames[f1].t) +
              " s, ignoring the camera's own motion, which way does " + name(id) +
              " move relative to the camera's viewing direction?",
          {"to the left", "to the right", "toward the camera", "away from the camera"}, correct);
      ++asked;
    }
  }

  // Per-object event times from the truth.
  struct Times {
    double first_seen = -1, last_seen = -1;
    std::optional<double> starts, stops;
    bool left_view = false, in_view_at_end = false, stop_and_go = false, moving_at_start = false;
    std::optional<bool> moving_at_end;
  };
  std::map<int64_t, Times> times;
  for (int64_t id : ids) {
    Times tm;
    std::string pattern;  // per visible frame: m (moving), s (static), - (between)
    std::vector<double> pt;
    for (size_t f = 0; f < scene.frames.size(); ++f) {
      if (!T.InView(f, id)) continue;
      if (tm.first_seen < 0) tm.first_seen = scene.frames[f].t;
      tm.last_seen = scene.frames[f].t;
      const double v = T.Speed(f, id);
      pattern += v > 0.3 ? 'm' : v < 0.05 ? 's' : '-';
      pt.push_back(scene.frames[f].t);
    }
    if (pt.empty()) continue;
    tm.in_view_at_end = T.InView(last, id);
    const auto* end_state = T.Get(last, id);
    tm.left_view = !tm.in_view_at_end && tm.last_seen < t_end - 0.3 && end_state &&
                   end_state->silhouette_pixels == 0;
    tm.moving_at_start = pattern[0] == 'm';
    for (size_t k = 1; k < pattern.size(); ++k) {
      if (!tm.starts && pattern[k] == 'm' && pattern.substr(0, k).find('s') != std::string::npos)
        tm.starts = pt[k];
      if (!tm.stops && pattern[k] == 's' && pattern.substr(0, k).find('m') != std::string::npos)
        tm.stops = pt[k];
    }
    // Stop-and-go: moving, then still for >= 0.4 s, then moving again.
    const std::regex sg("m+[-]*s{12,}[-]*m+");
    tm.stop_and_go = std::regex_search(pattern, sg);
    const bool moves_ever = pattern.find('m') != std::string::npos;
    if (tm.in_view_at_end) {
      const double v = T.Speed(last, id);
      if (v > 0.3) tm.moving_at_end = true;
      if (v < 0.05) tm.moving_at_end = false;
    }
    // 6. Leaves the view (yes: exits through the border; no: in view at the end).
    if (tm.left_view || (tm.in_view_at_end && tm.first_seen < t_end - 1.0))
      add("leaves_view", "object_scene",
          "Does " + name(id) + " leave the camera's view before the video ends?", {"yes", "no"},
          tm.left_view ? 0 : 1);
    // 7. Stops and moves again (yes: the pattern; no: moves without stopping).
    const bool never_stops = moves_ever && pattern.find('s') == std::string::npos;
    if (tm.stop_and_go || (never_stops && pattern.size() >= 30))
      add("stops_and_moves", "object_scene",
          "Does " + name(id) + " stop for a while and then move again?", {"yes", "no"},
          tm.stop_and_go ? 0 : 1);
    // 8. Moving at the end.
    if (tm.moving_at_end && pattern.size() >= 15)
      add("moving_at_end", "object_scene", "Is " + name(id) + " moving at the end of the video?",
          {"yes", "no"}, *tm.moving_at_end ? 0 : 1);
    times[id] = tm;
  }

  // 9. Event order between two objects' events.
  struct Ev {
    double t;
    int64_t id;
    std::string what;
  };
  std::vector<Ev> evs;
  for (const auto& [id, tm] : times) {
    if (tm.starts) evs.push_back({*tm.starts, id, "starts moving"});
    if (tm.stops) evs.push_back({*tm.stops, id, "stops"});
    if (tm.left_view) evs.push_back({tm.last_seen, id, "leaves the camera's view"});
  }
  // At most three pairs a scene, the most clearly separated first.
  std::vector<std::tuple<double, size_t, size_t>> pairs;
  for (size_t i = 0; i < evs.size(); ++i)
    for (size_t j = i + 1; j < evs.size(); ++j)
      if (evs[i].id != evs[j].id && std::abs(evs[i].t - evs[j].t) >= 0.6)
        pairs.push_back({-std::abs(evs[i].t - evs[j].t), i, j});
  std::sort(pairs.begin(), pairs.end());
  for (size_t k = 0; k < std::min<size_t>(3, pairs.size()); ++k) {
    const auto [gap, i, j] = pairs[k];
    const std::string a = name(evs[i].id) + " " + evs[i].what,
                      b = name(evs[j].id) + " " + evs[j].what;
    add("event_order", "camera_object", "Which happens first: " + a + ", or " + b + "?", {a, b},
        evs[i].t < evs[j].t ? 0 : 1);
  }

  // 10. Counting the objects that move at some point.
  {
    int seen = 0, moving = 0;
    bool clear = true;
    for (int64_t id : ids) {
      if (!times.count(id)) continue;
      const Times& tm = times.at(id);
      if (tm.last_seen - tm.first_seen < 0.5) {
        clear = false;  // glimpsed objects make the count ambiguous
        continue;
      }
      ++seen;
      double vmax = 0;
      for (size_t f = 0; f < scene.frames.size(); ++f)
        if (T.InView(f, id)) vmax = std::max(vmax, T.Speed(f, id));
      if (vmax > 0.3)
        ++moving;
      else if (vmax > 0.05)
        clear = false;
    }
    if (clear && seen >= 1) {
      std::vector<std::string> texts;
      const int lo = std::max(0, moving - 1);
      for (int n = lo; n < lo + 4; ++n) texts.push_back(std::to_string(n));
      add("count_moving", "object_scene",
          "How many of the objects seen in the video move at some point?", texts, moving - lo);
    }
  }

  // 11. Of the objects still at the start, which starts moving first?
  {
    std::vector<std::pair<double, int64_t>> starts;
    for (const auto& [id, tm] : times)
      if (!tm.moving_at_start && tm.first_seen <= 0.05 && tm.starts)
        starts.push_back({*tm.starts, id});
    std::sort(starts.begin(), starts.end());
    if (starts.size() >= 2 && starts[1].first - starts[0].first >= 0.3) {
      std::vector<std::string> texts;
      for (const auto& [t, id] : starts) texts.push_back(T.category.at(id));
      std::sort(texts.begin(), texts.end());
      const size_t correct =
          std::find(texts.begin(), texts.end(), T.category.at(starts[0].second)) - texts.begin();
      add("first_to_move", "object_scene",
          "Of the objects standing still at the start, which one starts moving first?", texts,
          correct);
    }
  }
  return qs;
}

// ---------------------------------------------------------------------------
// The built-in reasoner.

namespace {

// The longest-seen object of a category.
const ObjectSummary* ByCategory(const CognitiveMap& map, const std::string& category) {
  const ObjectSummary* best = nullptr;
  for (const auto& o : map.objects)
    if (Lower(o.category) == Lower(category) && (!best || o.samples.size() > best->samples.size()))
      best = &o;
  return best;
}

// All tracks of a category: a tracker may split one object into several
// tracks over time (after an occlusion), and the question names the object,
// not a track.
std::vector<const ObjectSummary*> Tracks(const CognitiveMap& map, const ObjectSummary* o) {
  std::vector<const ObjectSummary*> v;
  if (!o) return v;
  for (const auto& x : map.objects)
    if (x.category == o->category) v.push_back(&x);
  std::sort(v.begin(), v.end(), [&](const ObjectSummary* a, const ObjectSummary* b) {
    return a->samples.size() != b->samples.size() ? a->samples.size() > b->samples.size()
                                                  : a->id < b->id;
  });
  return v;
}

const ObjectSummary::Sample* SampleNear(const ObjectSummary& o, double t, double tol = 0.2) {
  const ObjectSummary::Sample* best = nullptr;
  for (const auto& s : o.samples)
    if (std::abs(s.t - t) <= tol && (!best || std::abs(s.t - t) < std::abs(best->t - t))) best = &s;
  return best;
}

// The sample nearest t of any track of the object's category (the longest
// track first), within tol.
const ObjectSummary::Sample* SampleNear(const CognitiveMap& map, const ObjectSummary* o, double t,
                                        double tol = 0.25) {
  const ObjectSummary::Sample* best = nullptr;
  for (const ObjectSummary* x : Tracks(map, o))
    if (const auto* s = SampleNear(*x, t, tol))
      if (!best || std::abs(s->t - t) < std::abs(best->t - t) - 1e-9) best = s;
  return best;
}

// Mean position over the samples within +-half of t (noise of single
// centroids averages out).
std::optional<Vector3d> MeanPosition(const CognitiveMap& map, const ObjectSummary* o, double t,
                                     double half = 0.15) {
  Vector3d sum = Vector3d::Zero();
  int n = 0;
  for (const ObjectSummary* x : Tracks(map, o))
    for (const auto& s : x->samples)
      if (std::abs(s.t - t) <= half) sum += V(s.position), ++n;
  if (n == 0) {
    if (const auto* s = SampleNear(map, o, t, 0.35)) return V(s->position);
    return std::nullopt;
  }
  return sum / n;
}

// The category's motion segments in time order, across its tracks.
std::vector<MotionSegment> Segments(const CognitiveMap& map, const ObjectSummary* o) {
  std::vector<MotionSegment> v;
  for (const ObjectSummary* x : Tracks(map, o))
    if (x->samples.back().t - x->samples.front().t >= 0.3)
      v.insert(v.end(), x->segments.begin(), x->segments.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.t0 < b.t0; });
  return v;
}

double LastSeen(const CognitiveMap& map, const ObjectSummary* o) {
  double t = -1;
  for (const ObjectSummary* x : Tracks(map, o)) t = std::max(t, x->samples.back().t);
  return t;
}

// The option whose text (after "X. ") equals `text`, case-insensitive.
std::string Pick(const std::vector<std::string>& options, const std::string& text) {
  for (const auto& o : options) {
    const size_t dot = o.find(". ");
    const std::string body = dot == std::string::npos ? o : o.substr(dot + 2);
    if (Lower(body) == Lower(text)) return o.substr(0, dot == std::string::npos ? 1 : dot);
  }
  return "";
}

}  // namespace

ReasonerAnswer AnswerFromMap(const CognitiveMap& map, const std::string& question,
                             const std::vector<std::string>& options) {
  ReasonerAnswer r;
  const std::string q = Lower(question);
  // Objects named "the <category>" in order of appearance in the question.
  std::vector<std::pair<size_t, const ObjectSummary*>> mentions;
  std::set<std::string> categories;
  for (const auto& o : map.objects) categories.insert(Lower(o.category));
  for (const std::string& c : categories) {
    const std::string key = "the " + c;
    for (size_t pos = q.find(key); pos != std::string::npos; pos = q.find(key, pos + 1)) {
      const size_t end = pos + key.size();
      if (end < q.size() && std::isalpha(static_cast<unsigned char>(q[end]))) continue;
      mentions.push_back({pos, ByCategory(map, c)});
    }
  }
  std::sort(mentions.begin(), mentions.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const ObjectSummary*> named;
  for (const auto& [pos, o] : mentions) named.push_back(o);
  std::vector<double> times;
  // Times as people write them: "1.5 s", "5 s", "5s", "at 5 seconds", "2 sec".
  const std::regex num("([0-9]+(\\.[0-9]+)?) ?(s|sec|secs|second|seconds)\\b");
  for (std::sregex_iterator it(q.begin(), q.end(), num), e; it != e; ++it)
    times.push_back(std::stod((*it)[1]));
  auto cite = [&](const ObjectSummary* o) { return o->category + " #" + std::to_string(o->id); };
  auto answer = [&](const std::string& text, const std::string& why) {
    r.letter = options.empty() ? text : Pick(options, text);
    r.justification = why;
    return r;
  };
  const ObjectSummary* A = named.size() > 0 ? named[0] : nullptr;
  const ObjectSummary* B = named.size() > 1 ? named[1] : nullptr;
  if (A) r.track_id = A->id;

  if (q.find("approaching") != std::string::npos && A && B && times.size() >= 2) {
    const auto a0 = MeanPosition(map, A, times[0]), b0 = MeanPosition(map, B, times[0]);
    const auto a1 = MeanPosition(map, A, times[1]), b1 = MeanPosition(map, B, times[1]);
    if (!a0 || !b0 || !a1 || !b1) return answer("", "not both seen at those times");
    const double d0 = (*a0 - *b0).norm();
    const double d1 = (*a1 - *b1).norm();
    const std::string why = "distance " + cite(A) + " - " + cite(B) + ": " + T1(d0) + " m at " +
                            T1(times[0]) + " s, " + T1(d1) + " m at " + T1(times[1]) + " s";
    if (d1 - d0 < -0.17) return answer("approaching", why);
    if (d1 - d0 > 0.17) return answer("moving away", why);
    return answer("keeping about the same distance", why);
  }
  if (q.find("overtake") != std::string::npos && A && B) {
    // Any of A's tracks passing any of B's (same direction, from behind).
    for (const ObjectSummary* x : Tracks(map, A))
      for (const ObjectSummary* y : Tracks(map, B))
        for (const auto& e : map.events)
          if (e.type == "overtakes" && e.a == x->id && e.b == y->id)
            return answer("yes", "event at " + T1(e.t) + " s: " + e.text);
    return answer("no", "no overtaking of " + cite(B) + " by " + cite(A) + " in the map");
  }
  if (q.find("which object hides") != std::string::npos && A) {
    for (const auto& e : map.events)
      if (e.type == "occluded" && e.a == A->id) {
        const ObjectSummary* by = map.Find(e.b);
        if (by) {
          r.track_id = A->id;
          return answer(by->category, "event at " + T1(e.t) + " s: " + e.text);
        }
      }
    return answer("none of them", "no occlusion of " + cite(A) + " in the map");
  }
  if (q.find("to the left or to the right") != std::string::npos && A && B && !times.empty()) {
    const auto* a = SampleNear(map, A, times[0]);
    const auto* b = SampleNear(map, B, times[0]);
    if (!a || !b) return answer("", "not both seen then");
    const double ua = a->in_camera[0] / std::max(0.1, a->in_camera[2]);
    const double ub = b->in_camera[0] / std::max(0.1, b->in_camera[2]);
    return answer(ua < ub ? "to the left" : "to the right",
                  "camera-frame bearing at " + T1(times[0]) + " s: " + cite(A) + " " + T1(ua) +
                      ", " + cite(B) + " " + T1(ub));
  }
  if (q.find("closest to the camera") != std::string::npos && !times.empty()) {
    const ObjectSummary* best = nullptr;
    double z = 1e9;
    for (const auto& o : map.objects) {
      if (o.samples.size() < 5) continue;  // glimpses
      const auto* s = SampleNear(o, times[0], 0.1);
      if (s && s->in_camera[2] < z) z = s->in_camera[2], best = &o;
    }
    if (!best) return answer("", "nothing seen then");
    r.track_id = best->id;
    return answer(best->category,
                  cite(best) + " at " + T1(z) + " m depth at " + T1(times[0]) + " s");
  }
  if (q.find("ignoring the camera's own motion") != std::string::npos && A && times.size() >= 2) {
    const auto a0 = MeanPosition(map, A, times[0]);
    const auto a1 = MeanPosition(map, A, times[1]);
    if (!a0 || !a1 || map.camera.rotation.empty()) return answer("", "not seen at both times");
    // The camera at the middle of the window.
    const double tm = 0.5 * (times[0] + times[1]);
    size_t k = 0;
    for (size_t i = 0; i < map.camera.path.size(); ++i)
      if (std::abs(map.camera.path[i].first - tm) < std::abs(map.camera.path[k].first - tm)) k = i;
    Eigen::Matrix3d R;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) R(a, b) = map.camera.rotation[k][a * 3 + b];
    const Vector3d d = R.transpose() * (*a1 - *a0);
    const std::string dir = std::abs(d.x()) > std::abs(d.z())
                                ? (d.x() < 0 ? "to the left" : "to the right")
                                : (d.z() < 0 ? "toward the camera" : "away from the camera");
    return answer(dir, cite(A) + " displacement in the camera frame at " + T1(tm) + " s: (" +
                           T1(d.x()) + ", " + T1(d.y()) + ", " + T1(d.z()) + ") m");
  }
  if (q.find("leave the camera's view") != std::string::npos && A) {
    const double last = LastSeen(map, A);
    bool hidden_at_end = false;
    for (const ObjectSummary* x : Tracks(map, A))
      for (const auto& [t0, t1] : x->occluded)
        if (std::abs(t0 - last) < 0.2) hidden_at_end = true;
    const bool left = last < map.t_end - 0.3 && !hidden_at_end;
    return answer(left ? "yes" : "no",
                  cite(A) + (left ? " last seen at " + T1(last) + " s" : " in view at the end"));
  }
  if (q.find("stop for a while and then move again") != std::string::npos && A) {
    const auto seg = Segments(map, A);
    bool yes = false;
    for (size_t k = 1; k + 1 < seg.size(); ++k)
      if (!seg[k].moving && seg[k - 1].moving && seg[k + 1].moving && seg[k].t1 - seg[k].t0 >= 0.2)
        yes = true;
    return answer(yes ? "yes" : "no",
                  cite(A) + ": " + std::to_string(seg.size()) + " motion segments");
  }
  if (q.find("moving at the end") != std::string::npos && A) {
    const auto seg = Segments(map, A);
    const bool moving = !seg.empty() && seg.back().moving;
    return answer(moving ? "yes" : "no",
                  cite(A) + " last segment " + (moving ? "moving" : "static"));
  }
  if (q.find("which happens first") != std::string::npos && named.size() >= 2) {
    // The two clauses: "<object> <event>" split at ", or ".
    const size_t orpos = q.find(", or ");
    auto event_time = [&](const ObjectSummary* o,
                          const std::string& clause) -> std::optional<double> {
      std::string type = clause.find("starts moving") != std::string::npos ? "starts_moving"
                         : clause.find("stops") != std::string::npos       ? "stops"
                                                                           : "leaves";
      if (type == "leaves") {
        const double last = LastSeen(map, o);
        if (last >= map.t_end - 0.3) return std::nullopt;
        return last;
      }
      // The first start (stop) across the object's tracks: a moving segment
      // after a static one (a static one after a moving one).
      const auto seg = Segments(map, o);
      for (size_t k = 1; k < seg.size(); ++k)
        if (seg[k].moving == (type == "starts_moving") && seg[k - 1].moving != seg[k].moving)
          return seg[k].t0;
      return std::nullopt;
    };
    if (orpos == std::string::npos) return answer("", "cannot split the two events");
    const auto ta = event_time(A, q.substr(0, orpos));
    const auto tb = event_time(B, q.substr(orpos));
    if (!ta || !tb) return answer("", "an event is not in the map");
    // Options repeat the clauses: pick by which object comes first.
    const ObjectSummary* winner = *ta <= *tb ? A : B;
    if (options.empty()) {
      r.letter = "the " + winner->category;
      r.justification = cite(A) + " at " + T1(*ta) + " s, " + cite(B) + " at " + T1(*tb) + " s";
      r.track_id = winner->id;
      return r;
    }
    for (const auto& o : options)
      if (Lower(o).find("the " + Lower(winner->category) + " ") != std::string::npos) {
        r.letter = o.substr(0, o.find(". "));
        r.justification = cite(A) + " at " + T1(*ta) + " s, " + cite(B) + " at " + T1(*tb) + " s";
        r.track_id = winner->id;
        return r;
      }
    return answer("", "no option names the earlier object");
  }
  if (q.find("how many") != std::string::npos && q.find("move") != std::string::npos) {
    // Tracks split one object into pieces (after occlusions, or a head and a
    // body): per category, longest first, a track counts as another object
    // only if it is seen beside every object counted so far (>= 0.3 s
    // together) and at least 1 m from it meanwhile.
    std::map<std::string, std::vector<const ObjectSummary*>> counted;
    for (const ObjectSummary* o : [&] {
           std::vector<const ObjectSummary*> v;
           for (const auto& x : map.objects) v.push_back(&x);
           std::stable_sort(v.begin(), v.end(), [](const ObjectSummary* a, const ObjectSummary* b) {
             return a->samples.size() > b->samples.size();
           });
           return v;
         }()) {
      if (o->samples.size() < 15 || o->samples.back().t - o->samples.front().t < 0.5) continue;
      bool moves = false;
      for (const auto& m : o->segments) moves |= m.moving;
      if (!moves) continue;
      bool distinct = true;
      for (const ObjectSummary* c : counted[o->category]) {
        double together = 0, dmin = 1e9, last_t = -1;
        for (const auto& s : o->samples)
          if (const auto* q = SampleNear(*c, s.t, 0.02)) {
            if (last_t >= 0) together += s.t - last_t;
            last_t = s.t;
            dmin = std::min(dmin, (V(s.position) - V(q->position)).norm());
          }
        if (together < 0.3 || dmin < 1.0) distinct = false;
      }
      if (distinct) counted[o->category].push_back(o);
    }
    int n = 0;
    for (const auto& [cat, v] : counted) n += static_cast<int>(v.size());
    // Colour-only video: objects tracked in the image, counted alike (a
    // piece counts when seen beside every counted one for 0.3 s with their
    // boxes apart meanwhile).
    std::vector<const ImagePlaneObject*> counted_2d;
    std::vector<const ImagePlaneObject*> by_length;
    for (const auto& x : map.image_plane.objects) by_length.push_back(&x);
    std::stable_sort(by_length.begin(), by_length.end(),
                     [](const ImagePlaneObject* a, const ImagePlaneObject* b) {
                       return a->samples.size() > b->samples.size();
                     });
    for (const ImagePlaneObject* o : by_length) {
      if (o->samples.size() < 15 || o->samples.back().t - o->samples.front().t < 0.5) continue;
      bool moves = false;
      for (const auto& m : o->segments) moves |= m.moving;
      if (!moves) continue;
      bool distinct = true;
      for (const ImagePlaneObject* c : counted_2d) {
        double together = 0, last_t = -1;
        bool ever_overlap = false;
        for (const auto& a : o->samples)
          for (const auto& b : c->samples) {
            if (std::abs(a.t - b.t) > 0.02) continue;
            if (last_t >= 0) together += a.t - last_t;
            last_t = a.t;
            ever_overlap |= BoxesOverlap(a.box, b.box);
          }
        if (together < 0.3 || ever_overlap) distinct = false;
      }
      if (distinct) counted_2d.push_back(o);
    }
    n += static_cast<int>(counted_2d.size());
    return answer(std::to_string(n), std::to_string(n) +
                                         " moving objects (track pieces of one "
                                         "object counted once)");
  }
  if (q.find("starts moving first") != std::string::npos) {
    const ObjectSummary* best = nullptr;
    double t = 1e9;
    std::set<std::string> done;
    for (const auto& o : map.objects) {
      if (!done.insert(o.category).second) continue;
      const auto seg = Segments(map, &o);
      if (seg.size() < 2 || seg.front().moving || seg.front().t0 > 0.2) continue;
      for (const auto& m : seg)
        if (m.moving) {
          if (m.t0 < t) t = m.t0, best = &o;
          break;
        }
    }
    if (!best) return answer("", "no object starts moving from rest");
    r.track_id = best->id;
    return answer(best->category, cite(best) + " starts moving at " + T1(t) + " s");
  }
  r.justification =
      "question not recognised. The built-in reasoner answers these forms (objects named by "
      "their class, e.g. \"the person\"; times like \"5 s\"): how many objects move; which object "
      "starts moving first; does the X leave the camera's view; is the X moving at the end; does "
      "the X stop for a while and then move again; which happens first, the X starts moving / "
      "stops / leaves, or the Y ...; at T s, is the X to the left or to the right of the Y; at T "
      "s, which object is closest to the camera; between T1 s and T2 s, are the X and the Y "
      "approaching; which object hides the X. Other questions: the openai backend (any "
      "OpenAI-compatible endpoint) takes free questions";
  return r;
}

}  // namespace dyn4d::reasoning
