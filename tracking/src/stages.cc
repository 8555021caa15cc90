#include "dyn4d/tracking/stages.h"

#include <algorithm>
#include <set>

#include "dyn4d/tracking/tracker.h"

namespace dyn4d::tracking {
namespace {

using pipeline::Message;
using pipeline::Outputs;

struct TrackStageOptions {
  TrackerConfig tracker;
  bool report_tentative = false, report_lost = false;
};

// Detections of a frame -> that frame's tracks. A matched track carries its
// detection's box and mask (the grounding output: a track id's masks over
// time), the class voted over its life, and its Kalman-filtered world
// position and velocity; a lost one (when reported) its predicted box and
// no mask.
class TrackStage : public pipeline::Stage {
 public:
  explicit TrackStage(TrackStageOptions o) : o_(std::move(o)), tracker_(o_.tracker) {}
  std::vector<std::string> InputPorts() const override { return {"detections"}; }
  std::vector<std::string> OutputPorts() const override { return {"tracks"}; }
  uint64_t SkippedCount() const override { return tracker_.skipped_detections(); }
  std::map<std::string, double> Counters() const override {
    return {{"tentative", counts_[0]},
            {"confirmed", counts_[1]},
            {"lost", counts_[2]},
            {"tracks_started", double(ids_.size())}};
  }

  Outputs Process(const std::string& port, const Message& m) override {
    const auto& d = pipeline::Expect<pipeline::Detections>(m, port);
    std::vector<Observation> obs(d.items.size());
    for (size_t i = 0; i < d.items.size(); ++i) {
      const pipeline::Detection& det = d.items[i];
      Observation& o = obs[i];
      o.box = {-1, det.box.x, det.box.y, det.box.w, det.box.h, det.score};
      o.has_position = det.has_position;
      for (int a = 0; a < 3; ++a)
        o.position[a] = det.position_world[a], o.extent[a] = det.extent[a];
      o.embedding = det.embedding;
      o.class_id = det.class_id;
      o.class_name = det.class_name;
      o.class_score = det.score;
    }
    const std::vector<TrackEstimate> estimates = tracker_.Step(obs, d.meta.stamp_ns / 1e9);
    pipeline::Tracks out;
    out.meta = d.meta;
    out.meta.source_id = "tracker";
    counts_[0] = counts_[1] = counts_[2] = 0;
    for (const TrackEstimate& e : estimates) {
      ++counts_[static_cast<int>(e.state)];
      if (e.state == TrackState::kTentative && !o_.report_tentative) continue;
      if (e.state == TrackState::kLost && !o_.report_lost) continue;
      ids_.insert(e.id);
      pipeline::Track t;
      t.track_id = e.id;
      t.state = TrackStateName(e.state);
      t.score = static_cast<float>(e.score);
      if (e.observation >= 0) {
        const pipeline::Detection& det = d.items[e.observation];
        t.box = det.box;
        t.mask = det.mask;
        t.exit_index = det.exit_index;
        t.motion = det.motion;
      } else {
        t.box = {float(e.box.x), float(e.box.y), float(e.box.w), float(e.box.h)};
      }
      t.class_id = e.class_id;
      t.class_name = e.class_name;
      t.has_position = e.has_position;
      for (int a = 0; a < 3; ++a) {
        t.position_world[a] = static_cast<float>(e.position[a]);
        t.velocity_world[a] = static_cast<float>(e.velocity[a]);
        t.extent[a] = static_cast<float>(e.extent[a]);
      }
      out.items.push_back(std::move(t));
    }
    return {{"tracks", std::move(out)}};
  }

 private:
  TrackStageOptions o_;
  MultiObjectTracker tracker_;
  double counts_[3] = {0, 0, 0};
  std::set<int64_t> ids_;
};

}  // namespace

void RegisterStages(pipeline::StageRegistry& r) {
  r.Register(
      "track",
      "multi-object tracker: detections/proposals (input detections) -> tracks with ids, masks, "
      "voted classes, world position and velocity, state (output tracks)",
      [](pipeline::Params& p, const pipeline::StageContext&) -> std::unique_ptr<pipeline::Stage> {
        TrackStageOptions o;
        TrackerConfig& c = o.tracker;
        c.high_score = p.GetDouble("high_score", 0.5, -1e9, 1e9);
        c.low_score = p.GetDouble("low_score", std::min(0.1, c.high_score), -1e9, 1e9);
        c.two_stage = p.GetBool("two_stage", c.two_stage);
        c.match_iou = p.GetDouble("match_iou", c.match_iou, 0, 1);
        c.low_match_iou = p.GetDouble("low_match_iou", c.low_match_iou, 0, 1);
        c.min_hits = p.GetInt("min_hits", c.min_hits, 1, 1000);
        c.max_age = p.GetInt("max_age", c.max_age, 1, 100000);
        c.max_jump_m = p.GetDouble("max_jump_m", c.max_jump_m, 1e-3, 100);
        c.accel_sigma = p.GetDouble("accel_sigma", c.accel_sigma, 1e-3, 1000);
        c.position_sigma_m = p.GetDouble("position_sigma_m", c.position_sigma_m, 1e-4, 10);
        c.position_sigma_extent =
            p.GetDouble("position_sigma_extent", c.position_sigma_extent, 0, 10);
        c.min_travel_m = p.GetDouble("min_travel_m", c.min_travel_m, 0, 100);
        c.max_speed_mps = p.GetDouble("max_speed_mps", c.max_speed_mps, 0, 100);
        c.velocity_decay_s = p.GetDouble("velocity_decay_s", c.velocity_decay_s, 0, 1000);
        c.class_gate = p.GetBool("class_gate", c.class_gate);
        c.appearance_weight = p.GetDouble("appearance_weight", c.appearance_weight, 0, 1);
        c.use_appearance = p.GetBool("use_appearance", c.use_appearance);
        for (const std::string& s : p.GetList("states", {"confirmed"})) {
          if (s == "tentative")
            o.report_tentative = true;
          else if (s == "lost")
            o.report_lost = true;
          else if (s != "confirmed")
            p.AddProblem("states", "'" + s + "' is not confirmed, tentative or lost");
        }
        for (const std::string& problem : c.Validate()) p.AddProblem("", problem);
        p.Finish();
        return std::make_unique<TrackStage>(std::move(o));
      });
}

}  // namespace dyn4d::tracking
