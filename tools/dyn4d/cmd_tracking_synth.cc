// dyn4d bench tracking --synth: the full RGB-D tracking path on synthetic
// scenes with exact ground truth.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "commands.h"
#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/motion_proposals.h"
#include "dyn4d/perception/object_classifier.h"
#include "dyn4d/perception/pose.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/config.h"
#include "dyn4d/tracking/mot_eval.h"
#include "dyn4d/tracking/tracker.h"
#include "synth_tracking.h"

namespace dyn4d::cli {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

tracking::MotBox ToMot(const pipeline::Box2D& b, int64_t id, double conf) {
  return {id, b.x, b.y, b.w, b.h, conf};
}

}  // namespace

io::SyntheticScene::Config SynthSceneConfig(uint32_t seed, int frames, int objects) {
  io::SyntheticScene::Config sc;
  sc.seed = seed;
  sc.num_frames = frames;
  sc.num_objects = objects;
  return sc;
}

perception::ObjectClassifier::Options SynthClassifierOptions(const std::string& model,
                                                             int threads) {
  perception::ObjectClassifier::Options co;
  co.spec = perception::LoadRecognitionModelSpec(
      model.empty() ? std::string(DYN4D_CONFIG_DIR) + "/models/synthetic_objects_dyn_perceiver.yaml"
                    : model);
  co.threads = threads;
  return co;
}

namespace {
perception::MotionProposalStream::Options StreamOptions(int lookahead) {
  perception::MotionProposalStream::Options po;
  po.lookahead_frames = lookahead;
  return po;
}
tracking::TrackerConfig PathTrackerConfig() {
  tracking::TrackerConfig tc;
  tc.high_score = 0;  // every recognised proposal may start a track (as configs/offline.yaml)
  tc.two_stage = false;
  return tc;
}
}  // namespace

perception::SceneTracker::Options GraphTrackerOptions(const std::string& config_path) {
  pipeline::GraphConfig config = pipeline::LoadGraphConfig(config_path, true);
  for (auto& n : config.nodes)
    if (n.type == "geometry") return perception::ReadSceneTrackerOptions(*n.params);
  throw std::runtime_error(config_path + ": no geometry node");
}

SynthTrackingPath::SynthTrackingPath(perception::ObjectClassifier& classifier, Options options)
    : classifier_(classifier), o_(options), tracker_(PathTrackerConfig()) {
  if (o_.gt_poses) {
    proposals_.emplace(StreamOptions(o_.lookahead));
  } else {
    perception::SceneTracker::Options to =
        GraphTrackerOptions(std::string(DYN4D_CONFIG_DIR) + "/offline.yaml");
    to.lookahead_frames = o_.lookahead;
    scene_tracker_.emplace(to);
  }
}

std::vector<SynthTrackingPath::Frame> SynthTrackingPath::Push(
    const io::SyntheticScene::Rendered& r) {
  return Segment(&r);
}

std::vector<SynthTrackingPath::Frame> SynthTrackingPath::Flush() { return Segment(nullptr); }

std::vector<SynthTrackingPath::Frame> SynthTrackingPath::Segment(
    const io::SyntheticScene::Rendered* r) {
  const auto t0 = Clock::now();
  std::vector<Segmented> segmented;
  if (scene_tracker_) {
    for (auto& out : r ? scene_tracker_->Push(r->frame) : scene_tracker_->Flush()) {
      const pipeline::CameraPose pose = perception::PoseMessage(out.odometry, out.frame.meta);
      segmented.push_back({std::move(out.frame), pose, std::move(out.motion.regions)});
    }
  } else {
    for (auto& out : r ? proposals_->Push(r->frame, r->pose) : proposals_->Flush())
      segmented.push_back({std::move(out.frame), out.pose, std::move(out.result.regions)});
  }
  timing_.proposals_s += Seconds(t0);
  return Finish(std::move(segmented));
}

std::vector<SynthTrackingPath::Frame> SynthTrackingPath::Finish(std::vector<Segmented>&& outs) {
  std::vector<Frame> frames;
  for (auto& out : outs) {
    Frame f;
    f.frame = std::move(out.frame);
    f.pose = out.pose;
    f.proposals = std::move(out.regions);
    std::vector<pipeline::Box2D> boxes;
    for (const auto& p : f.proposals) boxes.push_back(p.box);
    auto t0 = Clock::now();
    f.classes = classifier_.Classify(f.frame.color, boxes);
    timing_.recognition_s += Seconds(t0);
    std::vector<tracking::Observation> obs;
    for (size_t k = 0; k < f.proposals.size(); ++k) {
      const perception::MotionRegion& p = f.proposals[k];
      tracking::Observation ob;
      ob.box = {-1, p.box.x, p.box.y, p.box.w, p.box.h, p.score};
      ob.has_position = true;
      ob.position = p.centroid_world;
      ob.extent = p.extent;
      if (f.classes[k]) {
        ob.class_id = f.classes[k]->class_id;
        ob.class_name = f.classes[k]->class_name;
        ob.class_score = f.classes[k]->score;
        ob.embedding = f.classes[k]->embedding;
      }
      obs.push_back(std::move(ob));
    }
    t0 = Clock::now();
    f.tracks = tracker_.Step(obs, f.frame.meta.stamp_ns / 1e9);
    timing_.tracker_s += Seconds(t0);
    frames.push_back(std::move(f));
  }
  return frames;
}

int RunSynthTrackingBench(const SynthTrackingBenchOptions& o) {
  try {
    const perception::ObjectClassifier::Options co = SynthClassifierOptions(o.model, o.threads);
    perception::ObjectClassifier classifier(co);
    std::vector<int64_t> exits(classifier.num_exits(), 0);
    int64_t crops = 0, crops_right = 0, tracked = 0, tracked_right = 0;
    double recog_s = 0;
    std::printf("synthetic RGB-D scenes: %s (lookahead %d frames), recognition, 3D tracker\n",
                o.gt_poses ? "ground-truth poses, motion proposals on them"
                           : "the geometry node's tracker as configs/offline.yaml sets it "
                             "(poses, moving objects)",
                o.lookahead);
    std::printf("%-6s %7s %7s %7s %7s %7s %6s %6s %6s %9s %9s\n", "seed", "HOTA", "DetA", "AssA",
                "MOTA", "IDF1", "IDSW", "FP", "FN", "prop ms", "track ms");
    tracking::MotMetrics all_m;
    tracking::HotaMetrics all_h;
    for (uint32_t seed : o.seeds) {
      const io::SyntheticScene scene(SynthSceneConfig(seed, o.frames, o.objects));
      SynthTrackingPath path(classifier, {o.lookahead, o.gt_poses});
      tracking::MotSequence gt, res;
      std::map<int, std::vector<std::pair<tracking::MotBox, int>>>
          gt_class;  // frame -> (box, class)
      auto consume = [&](const std::vector<SynthTrackingPath::Frame>& frames) {
        for (const auto& out : frames) {
          const int f = static_cast<int>(out.frame.meta.seq) + 1;
          // The ground-truth object a box shows: the one it overlaps most (IoU >= 0.5).
          auto truth = [&](const pipeline::Box2D& b) {
            int cls = -1;
            double best = 0.5;
            for (const auto& [g, c] : gt_class[f]) {
              const double iou = tracking::Iou(ToMot(b, -1, 1), g);
              if (iou >= best) best = iou, cls = c;
            }
            return cls;
          };
          for (size_t k = 0; k < out.proposals.size(); ++k) {
            if (!out.classes[k]) continue;
            ++exits[out.classes[k]->exit_index];
            const int t = truth(out.proposals[k].box);
            if (t >= 0) ++crops, crops_right += t == out.classes[k]->class_id;
          }
          for (const auto& t : out.tracks)
            if (t.state == tracking::TrackState::kConfirmed && t.observation >= 0) {
              const pipeline::Box2D& b = out.proposals[t.observation].box;
              res[f].push_back(ToMot(b, t.id, 1));
              const int truth_class = truth(b);
              if (truth_class >= 0) ++tracked, tracked_right += truth_class == t.class_id;
            }
        }
      };
      for (int i = 0; i < o.frames; ++i) {
        const io::SyntheticScene::Rendered r = scene.Render(i);
        for (const auto& t : r.tracks.items) {
          gt[i + 1].push_back(ToMot(t.box, t.track_id, 1));
          gt_class[i + 1].push_back({ToMot(t.box, t.track_id, 1), t.class_id});
        }
        consume(path.Push(r));
      }
      consume(path.Flush());
      const double prop_s = path.timing().proposals_s, track_s = path.timing().tracker_s;
      recog_s += path.timing().recognition_s;
      const auto m = tracking::EvaluateMot(gt, res);
      const auto h = tracking::EvaluateHota(gt, res);
      all_m += m, all_h += h;
      std::printf("%-6u %7.2f %7.2f %7.2f %7.2f %7.2f %6lld %6lld %6lld %9.2f %9.3f\n", seed,
                  100 * h.Hota(), 100 * h.DetA(), 100 * h.AssA(), 100 * m.Mota(), 100 * m.Idf1(),
                  static_cast<long long>(m.idsw), static_cast<long long>(m.fp),
                  static_cast<long long>(m.fn), 1e3 * prop_s / o.frames, 1e3 * track_s / o.frames);
    }
    if (o.seeds.size() > 1)
      std::printf("%-6s %7.2f %7.2f %7.2f %7.2f %7.2f %6lld %6lld %6lld\n", "all",
                  100 * all_h.Hota(), 100 * all_h.DetA(), 100 * all_h.AssA(), 100 * all_m.Mota(),
                  100 * all_m.Idf1(), static_cast<long long>(all_m.idsw),
                  static_cast<long long>(all_m.fp), static_cast<long long>(all_m.fn));
    std::printf(
        "\nrecognition (%s): %lld proposal crops, %.2f %% right; tracked objects' voted "
        "class %.2f %% right (%lld track-frames); %.2f ms per frame\n",
        co.spec.file.c_str(), static_cast<long long>(crops),
        100.0 * crops_right / std::max<int64_t>(1, crops),
        100.0 * tracked_right / std::max<int64_t>(1, tracked), static_cast<long long>(tracked),
        1e3 * recog_s / (o.frames * o.seeds.size()));
    std::printf("exit histogram:");
    int64_t all_exits = 0;
    for (int64_t n : exits) all_exits += n;
    for (size_t k = 0; k < exits.size(); ++k)
      std::printf(" exit %zu %lld (%.1f %%)", k + 1, static_cast<long long>(exits[k]),
                  100.0 * exits[k] / std::max<int64_t>(1, all_exits));
    std::printf("\n");
    std::printf("recognition_accuracy_tracked %.4f\n",
                static_cast<double>(tracked_right) / std::max<int64_t>(1, tracked));
    std::printf("idsw_synth %lld\n", static_cast<long long>(all_m.idsw));
    std::printf("hota_synth %.2f\n", 100 * all_h.Hota());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench tracking --synth: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
