// dyn4d bench reasoning: multiple-choice questions with known answers from
// synthetic scenes' ground truth, answered by the built-in reasoner from
// cognitive maps built (a) from ground-truth tracks and (b) from the
// pipeline's own tracks.
#include <cstdio>
#include <map>
#include <stdexcept>

#include "commands.h"
#include "dyn4d/reasoning/cognitive_map.h"
#include "dyn4d/reasoning/questions.h"
#include "progress.h"
#include "synth_tracking.h"

namespace dyn4d::cli {
namespace {

struct Score {
  int right = 0, total = 0;
  void Add(bool ok) { right += ok, ++total; }
  double Accuracy() const { return total ? double(right) / total : 0; }
};

}  // namespace

// One frame of a scene's exact ground truth (all objects, seen or not).
static reasoning::SceneTruth::Frame TruthOf(const io::SyntheticScene::Rendered& r) {
  reasoning::SceneTruth::Frame f;
  f.t = r.frame.meta.stamp_ns / 1e9;
  f.camera = reasoning::CameraSample::Of(r.pose);
  for (const auto& s : r.objects)
    f.objects.push_back({s.id, s.category, s.center, s.velocity, s.visible_pixels,
                         s.silhouette_pixels, s.occluded_by > 0 ? s.occluded_by : -1});
  return f;
}

int RunReasoningBench(const ReasoningBenchOptions& o) {
  try {
    perception::ObjectClassifier classifier(SynthClassifierOptions(o.model, o.threads));
    std::map<std::string, Score> gt_score, pipe_score;
    Score gt_all, pipe_all;
    std::map<std::string, std::string> dimension;
    ProgressBar bar("scenes", static_cast<int64_t>(o.seeds.size()));
    int done = 0;
    for (uint32_t seed : o.seeds) {
      const io::SyntheticScene scene(SynthSceneConfig(seed, o.frames, o.objects));
      reasoning::SceneTruth truth;  // filled frame by frame: each frame is rendered once
      // (a) Ground-truth tracks: the visible objects' boxes, positions and,
      // as ground truth knows them, their occluders (when mostly hidden).
      reasoning::MapConfig gt_config;
      gt_config.up = {0, 0, 1};  // the synthetic world is z-up
      reasoning::CognitiveMapBuilder gt_builder(gt_config);
      // (b) The pipeline: odometry, proposals, recognition, tracker; its
      // world is the first camera's, up unknown (the first camera's -y).
      reasoning::CognitiveMapBuilder pipe_builder;
      SynthTrackingPath path(classifier, {o.lookahead, false});
      auto consume = [&](const std::vector<SynthTrackingPath::Frame>& frames) {
        for (const auto& f : frames) {
          std::vector<reasoning::ObjectObservation> obs;
          for (const auto& t : f.tracks) {
            if (t.state != tracking::TrackState::kConfirmed || t.observation < 0) continue;
            const auto& p = f.proposals[t.observation];
            reasoning::ObjectObservation ob;
            ob.id = t.id;
            ob.category = t.class_name.empty() ? "object" : t.class_name;
            ob.confidence = t.class_confidence;
            ob.position = p.centroid_world;  // the measurement: the filter lags at stops
            ob.extent = p.extent;
            ob.box = {p.box.x, p.box.y, p.box.w, p.box.h};
            obs.push_back(ob);
          }
          const auto cam = reasoning::CameraSample::Of(f.pose);
          pipe_builder.AddFrame(f.frame.meta.stamp_ns / 1e9,
                                f.pose.status == pipeline::PoseStatus::kLost ? nullptr : &cam, obs);
        }
      };
      for (int i = 0; i < o.frames; ++i) {
        const auto r = scene.Render(i);
        std::vector<reasoning::ObjectObservation> obs;
        for (const auto& t : r.tracks.items) {
          reasoning::ObjectObservation ob;
          ob.id = t.track_id;
          ob.category = t.class_name;
          for (int a = 0; a < 3; ++a)
            ob.position[a] = t.position_world[a], ob.extent[a] = t.extent[a];
          ob.box = {t.box.x, t.box.y, t.box.w, t.box.h};
          for (const auto& s : r.objects)
            if (s.id == t.track_id && s.occluded_by > 0 &&
                s.visible_pixels < 0.25 * s.silhouette_pixels)
              ob.occluded_by = s.occluded_by;
          obs.push_back(ob);
        }
        truth.frames.push_back(TruthOf(r));
        const auto cam = reasoning::CameraSample::Of(r.pose);
        gt_builder.AddFrame(r.frame.meta.stamp_ns / 1e9, &cam, obs);
        consume(path.Push(r));
      }
      consume(path.Flush());
      const reasoning::CognitiveMap gt_map = gt_builder.Build(), pipe_map = pipe_builder.Build();
      const auto questions = reasoning::GenerateQuestions(truth);
      for (const auto& q : questions) {
        dimension[q.family] = q.dimension;
        const auto a = reasoning::AnswerFromMap(gt_map, q.question, q.options);
        const auto b = reasoning::AnswerFromMap(pipe_map, q.question, q.options);
        gt_score[q.family].Add(a.letter == q.answer);
        pipe_score[q.family].Add(b.letter == q.answer);
        gt_all.Add(a.letter == q.answer);
        pipe_all.Add(b.letter == q.answer);
        if (o.verbose && (a.letter != q.answer || b.letter != q.answer)) {
          std::fprintf(stderr, "seed %u: %s\n", seed, q.question.c_str());
          for (const auto& opt : q.options) std::fprintf(stderr, "    %s\n", opt.c_str());
          std::fprintf(stderr, "  truth %s | gt-tracks %s (%s) | pipeline %s (%s)\n",
                       q.answer.c_str(), a.letter.c_str(), a.justification.c_str(),
                       b.letter.c_str(), b.justification.c_str());
        }
      }
      bar.Update(++done);
    }
    bar.Finish();
    std::printf("%zu synthetic scenes (%d frames, %d objects each), %d questions\n", o.seeds.size(),
                o.frames, o.objects, gt_all.total);
    std::printf("%-26s %-14s %6s %14s %14s\n", "family", "dimension", "count", "gt tracks %",
                "pipeline %");
    std::map<std::string, std::pair<Score, Score>> by_dim;
    for (const auto& [family, s] : gt_score) {
      const Score& p = pipe_score[family];
      std::printf("%-26s %-14s %6d %14.1f %14.1f\n", family.c_str(), dimension[family].c_str(),
                  s.total, 100 * s.Accuracy(), 100 * p.Accuracy());
      auto& d = by_dim[dimension[family]];
      d.first.right += s.right, d.first.total += s.total;
      d.second.right += p.right, d.second.total += p.total;
    }
    for (const auto& [dim, d] : by_dim)
      std::printf("%-26s %-14s %6d %14.1f %14.1f\n", "(dimension)", dim.c_str(), d.first.total,
                  100 * d.first.Accuracy(), 100 * d.second.Accuracy());
    std::printf("%-26s %-14s %6d %14.1f %14.1f\n", "overall", "", gt_all.total,
                100 * gt_all.Accuracy(), 100 * pipe_all.Accuracy());
    std::printf("qa_accuracy_gt_tracks %.4f\n", gt_all.Accuracy());
    std::printf("qa_accuracy_pipeline %.4f\n", pipe_all.Accuracy());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench reasoning: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
