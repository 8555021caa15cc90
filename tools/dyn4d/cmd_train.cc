// dyn4d train | recognize calibrate: Dyn-Perceiver (and baselines) on
// Fashion-MNIST, and early-exit thresholds for a budget.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "dyn4d/recognition/training.h"
#include "progress.h"
#include "recognition_common.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;
namespace rec = dyn4d::recognition;

namespace {

void PrintExitAccuracy(const torch::Tensor& logits, const torch::Tensor& labels, const char* what) {
  const rec::ExitScores scores = ScoresFromLogits(logits, labels);
  for (int k = 0; k < scores.exits; ++k)
    std::printf("%s exit %d accuracy %.2f %%\n", what, k + 1, 100 * rec::ExitAccuracy(scores, k));
}

template <typename Options>
DataSource SourceOf(const Options& o) {
  DataSource d;
  d.paths = o.data;
  d.teacher.model = o.teacher;
  d.teacher.score = o.teacher_score;
  d.teacher.every = o.teacher_every;
  return d;
}

}  // namespace

rec::ImageDataset CalibrationSplit(const rec::ImageDataset& train) {
  return train.Slice(train.size() - kCalibrationImages, train.size());
}

rec::ExitScores ScoresFromLogits(const torch::Tensor& logits, const torch::Tensor& labels) {
  rec::ExitScores s;
  s.samples = logits.size(0);
  s.exits = static_cast<int>(logits.size(1));
  const auto [conf, pred] = torch::softmax(logits, 2).max(2);
  const torch::Tensor correct = pred.eq(labels.unsqueeze(1)).to(torch::kUInt8).contiguous();
  const torch::Tensor c = conf.to(torch::kFloat).contiguous();
  s.confidence.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  s.correct.assign(correct.data_ptr<uint8_t>(), correct.data_ptr<uint8_t>() + correct.numel());
  return s;
}

std::shared_ptr<rec::MultiExitNet> LoadTrainedNet(const perception::RecognitionModelSpec& spec) {
  auto net = rec::MakeNet(spec.kind, spec.net);
  rec::LoadStateDict(*net, spec.weights);
  net->eval();
  return net;
}

int RunTrain(const TrainOptions& o) {
  try {
    SetTorchThreads(o.threads);
    const auto spec = perception::LoadRecognitionModelSpec(o.model_file);
    rec::TrainConfig c = spec.training;
    c.out_dir =
        o.out_dir.empty() ? "out/train/" + fs::path(o.model_file).stem().string() : o.out_dir;
    if (o.epochs > 0) c.epochs = o.epochs;
    if (o.max_steps > 0) c.max_steps = o.max_steps;
    // Calibration images are held out: never trained on.
    const TrainingData data = LoadTrainingData(spec, SourceOf(o), "train,calibration");
    const rec::ImageDataset& train = data.train;
    std::printf(
        "training %s (%s) on %lld %s images, %d epochs, batch %d, %d threads; "
        "checkpoints in %s\n",
        o.model_file.c_str(), rec::ModelKindName(c.kind), static_cast<long long>(train.size()),
        data.description.c_str(), c.epochs, c.batch_size, torch::get_num_threads(),
        c.out_dir.c_str());
    std::fflush(stdout);
    const int64_t per_epoch = train.size() / c.batch_size;
    ProgressBar bar("train", c.max_steps > 0 ? std::min<int64_t>(c.max_steps, per_epoch * c.epochs)
                                             : per_epoch * c.epochs);
    int last_epoch = -1;
    const auto result = rec::Train(c, train, [&](const rec::TrainProgress& p) {
      bar.Update(p.step);
      if (p.step % per_epoch == 0 && p.epoch != last_epoch) {
        last_epoch = p.epoch;
        std::fprintf(stderr, "\nepoch %d done: loss %.4f lr %.2e %.0f images/s\n", p.epoch + 1,
                     p.loss, p.lr, p.images_per_s);
      }
    });
    bar.Finish();
    if (result.status != rec::TrainResult::Status::kOk) {
      std::fprintf(stderr, "dyn4d train: %s\n", result.message.c_str());
      return 1;
    }
    if (result.resumed_from_step >= 0)
      std::printf("resumed from step %lld\n", static_cast<long long>(result.resumed_from_step));
    std::printf("%lld steps, %.0f s in this run\n", static_cast<long long>(result.steps),
                result.seconds);
    auto net = rec::MakeNet(c.kind, c.net);
    rec::LoadStateDict(*net, result.weights_path);
    const std::string target = o.no_install ? result.weights_path : spec.weights;
    if (!o.no_install) {  // shipped as float16: half the size, same accuracy (bench)
      fs::create_directories(fs::path(target).parent_path());
      rec::SaveStateDict(*net, target, /*half=*/true);
      rec::LoadStateDict(*net, target);  // report what was installed
    }
    std::printf("weights: %s\n", target.c_str());
    const auto& cal = data.calibration;
    PrintExitAccuracy(rec::ExitLogits(*net, cal, c.net.image_size), cal.labels, "held-out");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d train: %s\n", e.what());
    return 2;
  }
}

int RunRecognizeCalibrate(const CalibrateOptions& o) {
  try {
    SetTorchThreads(o.threads);
    torch::InferenceMode inference;
    const auto spec = perception::LoadRecognitionModelSpec(o.model_file);
    if (spec.kind == rec::ModelKind::kStatic)
      throw std::runtime_error(o.model_file + ": a static model has no exits to calibrate");
    auto net = LoadTrainedNet(spec);
    const TrainingData data = LoadTrainingData(spec, SourceOf(o), "calibration");
    const auto& cal = data.calibration;
    const torch::Tensor logits = rec::ExitLogits(*net, cal, spec.net.image_size);
    const auto scores = ScoresFromLogits(logits, cal.labels);
    std::vector<double> cost = net->ExitGflops();
    std::string unit = "GFLOPs";
    if (o.budget_ms > 0) {
      cost = MeasureExitLatencyMs(*net, spec.net);
      unit = "ms";
    }
    const double budget = o.budget_ms > 0 ? o.budget_ms : o.budget_gflops;
    const auto c = rec::CalibrateForBudget(scores, cost, budget);
    std::printf("calibration set: %lld %s images (not trained on)\n",
                static_cast<long long>(cal.size()), data.description.c_str());
    for (size_t k = 0; k < cost.size(); ++k)
      std::printf("exit %zu cumulative cost %.4f %s, fraction leaving %.3f\n", k + 1, cost[k],
                  unit.c_str(), c.on_calibration_set.exit_fraction[k]);
    char note[160];
    std::snprintf(note, sizeof(note),
                  "calibrated for %.4g %s/image: %.4g expected, %.2f %% on "
                  "the calibration set",
                  budget, unit.c_str(), c.on_calibration_set.expected_cost,
                  100 * c.on_calibration_set.accuracy);
    if (!c.budget_met)
      std::printf("budget %.4g %s cannot be met; cheapest thresholds written\n", budget,
                  unit.c_str());
    std::printf("thresholds:");
    for (float t : c.thresholds) std::printf(" %.6g", t);
    std::printf("\n%s\n", note);
    if (!o.dry_run) {
      perception::WriteThresholds(o.model_file, c.thresholds, note);
      std::printf("written to %s\n", o.model_file.c_str());
    }
    return c.budget_met ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d recognize calibrate: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
