// dyn4d bench recognition --teacher: a recognizer trained on crops a
// detector labelled in some real sequences, tested on held-out sequences
// (other rooms, other streets): agreement with the teacher per exit and for
// dynamic inference, the exit histogram, per-crop latency of the
// recognizer (the product's ObjectClassifier, as the recognize stage runs
// it) against per-frame latency of the teacher. Then as the recognize stage
// runs with `teacher_every: N`: the teacher looks at every N-th frame of a
// sequence and its crops anchor the classes to that stream
// (StreamAnchors); the other frames' crops are scored, and the teacher's
// share of time counts in the cost.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>

#include "commands.h"
#include "dyn4d/perception/object_classifier.h"
#include "dyn4d/perception/stream_anchors.h"
#include "dyn4d/recognition/training.h"
#include "recognition_common.h"
#include "teacher_labels.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;
namespace rec = dyn4d::recognition;

namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

}  // namespace

static std::vector<std::string> DefaultHeldOutSequences(const std::string& shared) {
  const fs::path d = fs::path(shared) / "data";
  std::vector<std::string> out;
  for (const fs::path& p :
       {d / "7scenes_redkitchen", d / "mot17_mini/train/MOT17-10-FRCNN/img1",
        d / "mot17_mini/train/MOT17-11-FRCNN/img1", d / "mot17_mini/train/MOT17-13-FRCNN/img1"})
    if (fs::exists(p)) out.push_back(p.string());
  return out;
}

int RunTeacherBench(const TeacherBenchOptions& o) {
  try {
    SetTorchThreads(o.threads);
    std::vector<std::string> inputs = o.sequences;
    if (inputs.empty()) {
      const std::string shared = FindSharedDir(o.shared_dir);
      if (shared.empty()) {
        std::fprintf(stderr,
                     "dyn4d bench recognition --teacher: no ../shared (give --shared DIR or "
                     "--sequence)\n");
        return 2;
      }
      inputs = DefaultHeldOutSequences(shared);
    }
    const auto spec = perception::LoadRecognitionModelSpec(o.model_file);
    if (spec.classes.empty()) throw std::runtime_error(o.model_file + ": no class names");
    perception::ObjectClassifier::Options co;
    co.spec = spec;
    co.threads = o.threads;
    perception::ObjectClassifier classifier(co);
    auto net = LoadTrainedNet(spec);
    net->PrepareInference();
    const int K = static_cast<int>(spec.classes.size());
    const int exits = classifier.num_exits();
    const int size = classifier.content_size();

    std::printf("recognizer %s (%s, %d classes, thresholds%s), teacher %s (score >= %.2f)\n",
                o.model_file.c_str(), rec::ModelKindName(spec.kind), K,
                spec.thresholds.empty() ? " none: last exit" : " from the model file",
                o.teacher.c_str(), o.score);
    std::printf("held-out sequences (never trained on):\n");
    for (const auto& s : inputs) std::printf("  %s\n", s.c_str());

    {  // warm-up: the first call pays for allocations and thread start-up
      pipeline::Image warm = pipeline::Image::Allocate(64, 64, pipeline::PixelEncoding::kBgr8);
      for (int i = 0; i < 3; ++i) classifier.Classify(warm, {{0, 0, 32, 48}, {8, 8, 40, 20}});
    }
    TeacherOptions t;
    t.model = o.teacher;
    t.score = o.score;
    t.every = o.every;
    t.max_frames = o.max_frames;
    std::vector<torch::Tensor> crops;
    std::vector<int64_t> labels;
    std::vector<int> dynamic_pred, dynamic_exit;
    std::vector<double> teacher_ms, recognizer_frame_ms;
    std::map<std::string, int> other;
    std::map<std::string, std::pair<int, int>> per_sequence;  // agreed, crops
    int crops_timed = 0;
    // With the teacher's looks: each sequence a stream of its own, its
    // crops' classes after anchoring (-1: a crop of a frame it looked at).
    std::map<std::string, perception::StreamAnchors> anchors;
    std::map<std::string, int> frame_of_sequence;
    std::vector<int> anchored_pred;
    double recognizer_ms_total = 0;
    RunTeacher(t, inputs, [&](const TeacherFrame& f) {
      teacher_ms.push_back(f.teacher_ms);
      std::vector<pipeline::Box2D> boxes;
      std::vector<int64_t> box_labels;
      for (const pipeline::Detection& d : f.detections) {
        const auto it = std::find(spec.classes.begin(), spec.classes.end(), d.class_name);
        if (it == spec.classes.end()) {
          ++other[d.class_name];
          continue;
        }
        boxes.push_back(d.box);
        box_labels.push_back(it - spec.classes.begin());
      }
      // The recognizer as the recognize stage runs it: every box of the
      // frame at once, early exits by the model file's thresholds.
      const auto t0 = std::chrono::steady_clock::now();
      const auto results = boxes.empty() ? std::vector<std::optional<perception::Classification>>{}
                                         : classifier.Classify(*f.color, boxes);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      recognizer_frame_ms.push_back(ms);
      for (size_t i = 0; i < boxes.size(); ++i) {
        if (!results[i]) continue;
        crops.push_back(
            CropAsUint8(*f.color, boxes[i], size, spec.net.in_channels, spec.crop_keep_aspect));
        labels.push_back(box_labels[i]);
        dynamic_pred.push_back(results[i]->class_id);
        dynamic_exit.push_back(results[i]->exit_index);
        auto& seq = per_sequence[f.stem];
        seq.first += results[i]->class_id == box_labels[i];
        ++seq.second;
        ++crops_timed;
      }
      recognizer_ms_total += ms;
      if (o.teacher_every > 0) {
        perception::StreamAnchors& a = anchors[f.input];
        const bool look = frame_of_sequence[f.input]++ % o.teacher_every == 0;
        if (look) a.BeginLook();
        for (size_t i = 0; i < boxes.size(); ++i) {
          if (!results[i]) continue;
          if (look) {
            a.Add(static_cast<int>(box_labels[i]), results[i]->probabilities);
            anchored_pred.push_back(-1);
          } else {
            const auto m = a.Nearest(results[i]->probabilities);
            anchored_pred.push_back(m ? m->class_id : results[i]->class_id);
          }
        }
      }
    });
    if (crops.empty())
      throw std::runtime_error(
          "the teacher found none of the model's classes in the held-out "
          "sequences");
    rec::ImageDataset data;
    data.images = torch::stack(crops);
    data.labels = torch::tensor(labels, torch::kInt64);
    const torch::Tensor pred =
        rec::ExitLogits(*net, data, spec.net.image_size).argmax(2);  // (N, exits)
    const int64_t n = data.size();

    std::printf("\n%lld crops of the model's classes in %zu frames", static_cast<long long>(n),
                teacher_ms.size());
    int others = 0;
    for (const auto& [cls, count] : other) others += count;
    std::printf("; %d teacher boxes of other classes not counted (", others);
    bool first = true;
    for (const auto& [cls, count] : other)
      std::printf("%s%s %d", first ? "" : ", ", cls.c_str(), count), first = false;
    std::printf(")\n");
    std::printf("\n%-12s %7s", "class", "crops");
    for (int k = 0; k < exits; ++k) std::printf("   exit %d", k + 1);
    std::printf("  dynamic\n");
    const torch::Tensor dyn =
        torch::tensor(std::vector<int64_t>(dynamic_pred.begin(), dynamic_pred.end()));
    auto row = [&](const std::string& name, const torch::Tensor& mask) {
      const int64_t m = mask.sum().item<int64_t>();
      if (m == 0) return;
      std::printf("%-12s %7lld", name.c_str(), static_cast<long long>(m));
      for (int k = 0; k < exits; ++k)
        std::printf(" %8.3f",
                    pred.select(1, k).eq(data.labels).logical_and(mask).sum().item<double>() / m);
      std::printf(" %8.3f\n", dyn.eq(data.labels).logical_and(mask).sum().item<double>() / m);
    };
    for (int c = 0; c < K; ++c) row(spec.classes[c], data.labels.eq(c));
    row("all", torch::ones({n}, torch::kBool));
    const double agreement = dyn.eq(data.labels).to(torch::kDouble).mean().item<double>();
    std::printf("\nconfusion (dynamic): rows the teacher's class, columns the recognizer's\n%-12s",
                "");
    for (int c = 0; c < K; ++c) std::printf(" %9.9s", spec.classes[c].c_str());
    std::printf("\n");
    for (int c = 0; c < K; ++c) {
      std::vector<int> counts(K, 0);
      int total = 0;
      for (int64_t i = 0; i < n; ++i)
        if (labels[i] == c) ++counts[dynamic_pred[i]], ++total;
      if (total == 0) continue;
      std::printf("%-12s", spec.classes[c].c_str());
      for (int k = 0; k < K; ++k) std::printf(" %9d", counts[k]);
      std::printf("\n");
    }
    std::printf("\nper held-out sequence (dynamic):");
    for (const auto& [seq, a] : per_sequence)
      std::printf(" %s %.3f (%d)", seq.c_str(), double(a.first) / a.second, a.second);
    std::printf("\n");

    std::vector<int> histogram(exits, 0);
    for (int e : dynamic_exit)
      if (e >= 0 && e < exits) ++histogram[e];
    std::printf("exit histogram:");
    for (int k = 0; k < exits; ++k)
      std::printf(" exit %d %d (%.0f %%)", k + 1, histogram[k], 100.0 * histogram[k] / n);
    std::printf("\n");

    const std::vector<double> exit_ms = MeasureExitLatencyMs(*net, spec.net);
    std::printf("\nlatency, %d torch threads:\n", torch::get_num_threads());
    std::printf("  recognizer batch 1 per crop, stopping after exit 1..%d:", exits);
    for (double ms : exit_ms) std::printf(" %.2f", ms);
    std::printf(" ms\n");
    const double per_crop = recognizer_ms_total / crops_timed;
    const double teacher_frame = Mean(teacher_ms), recognizer_frame = Mean(recognizer_frame_ms);
    std::printf(
        "  recognizer as the recognize stage runs it: %.2f ms per crop, %.2f ms per frame "
        "(%.2f crops per frame)\n",
        per_crop, recognizer_frame, double(crops_timed) / teacher_ms.size());
    std::printf("  teacher per frame: %.1f ms mean, %.1f ms median\n", teacher_frame,
                Median(teacher_ms));
    std::printf("  recognizer / teacher time per frame: %.3f\n", recognizer_frame / teacher_frame);
    if (o.teacher_every == 0) {
      std::printf("cost_ratio_vs_teacher %.3f\n", recognizer_frame / teacher_frame);
      std::printf("teacher_agreement %.3f\n", agreement);
      return 0;
    }
    // Anchored: the crops of the frames the teacher did not look at.
    std::printf(
        "\nanchored to each sequence by the teacher's look at every %d-th frame (the recognize "
        "stage's teacher_every), scored on the other frames:\n",
        o.teacher_every);
    std::vector<int> scored(K, 0), alone(K, 0), agreed(K, 0);
    for (int64_t i = 0; i < n; ++i) {
      if (anchored_pred[i] < 0) continue;
      ++scored[labels[i]];
      alone[labels[i]] += dynamic_pred[i] == labels[i];
      agreed[labels[i]] += anchored_pred[i] == labels[i];
    }
    int all_scored = 0, all_alone = 0, all_agreed = 0;
    std::printf("%-12s %7s %10s %10s\n", "class", "crops", "alone", "anchored");
    for (int c = 0; c < K; ++c) {
      if (!scored[c]) continue;
      std::printf("%-12s %7d %10.3f %10.3f\n", spec.classes[c].c_str(), scored[c],
                  double(alone[c]) / scored[c], double(agreed[c]) / scored[c]);
      all_scored += scored[c], all_alone += alone[c], all_agreed += agreed[c];
    }
    if (all_scored == 0) throw std::runtime_error("no crop outside the teacher's looks");
    std::printf("%-12s %7d %10.3f %10.3f\n", "all", all_scored, double(all_alone) / all_scored,
                double(all_agreed) / all_scored);
    const double cost = (recognizer_frame + teacher_frame / o.teacher_every) / teacher_frame;
    std::printf(
        "  cost per frame: recognizer %.2f ms + teacher %.1f ms / %d = %.2f ms (%.3f of the "
        "teacher's)\n",
        recognizer_frame, teacher_frame, o.teacher_every,
        recognizer_frame + teacher_frame / o.teacher_every, cost);
    std::printf("recognizer_alone_agreement %.3f\n", agreement);
    std::printf("cost_ratio_vs_teacher %.3f\n", cost);
    std::printf("teacher_agreement %.3f\n", double(all_agreed) / all_scored);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench recognition --teacher: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
