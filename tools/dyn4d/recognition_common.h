#pragma once
// Helpers shared by the recognition subcommands (torch-heavy: only for the
// cmd_*.cc files that run networks).
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/perception/recognition_model.h"
#include "dyn4d/recognition/calibration.h"
#include "dyn4d/recognition/datasets.h"
#include "dyn4d/recognition/dyn_perceiver.h"
#include "teacher_labels.h"

namespace dyn4d::cli {

/// Fashion-MNIST training images held out (the last ones) for early-exit
/// threshold calibration; training uses the rest.
constexpr int64_t kCalibrationImages = 5000;
recognition::ImageDataset CalibrationSplit(const recognition::ImageDataset& train);

/// A model file's data: what it trains on, what calibrates its thresholds
/// (never trained on) and what tests it.
struct TrainingData {
  recognition::ImageDataset train, calibration, test;
  std::string description;  ///< for the log
};
/// Where a model file's data comes from: --data (the Fashion-MNIST folder,
/// an image folder, or for `dataset: teacher` the videos/frame folders the
/// teacher labels) and the teacher.
struct DataSource {
  std::vector<std::string> paths;
  TeacherOptions teacher;
};
/// `which`: any of "train", "calibration", "test" (comma-separated); the
/// others stay empty. fashion_mnist reads `data_dir` (default: Debian's);
/// synthetic_objects renders object crops from dyn4d synth scenes (train
/// seeds 1001+, calibration 5001+, test 9001+; the benchmark scenes 1-99
/// are never used); image_folder reads one folder of class sub-folders;
/// teacher runs the teacher over the inputs and keeps the model's classes.
TrainingData LoadTrainingData(const perception::RecognitionModelSpec& spec,
                              const DataSource& source, const std::string& which);

/// A recognition crop of `box` (the recognize stage's own cropping) as a
/// (C, size, size) uint8 tensor; undefined when the box leaves no crop.
torch::Tensor CropAsUint8(const pipeline::Image& image, const pipeline::Box2D& box, int size,
                          int channels, bool keep_aspect = false);

/// Teacher-labelled crops of `classes` (in that order), (C, size, size)
/// uint8 each, with what the teacher cost and found elsewhere.
struct TeacherCrops {
  std::vector<std::vector<torch::Tensor>> per_class;
  std::map<std::string, int> other;  ///< teacher classes not in `classes`: crop counts
  std::vector<double> teacher_ms;    ///< per labelled frame
  std::vector<int> crops_per_frame;  ///< crops of `classes` per labelled frame
  int frames = 0;
};
TeacherCrops CollectTeacherCrops(const TeacherOptions& teacher,
                                 const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& classes, int size, int channels,
                                 bool keep_aspect);

using recognition::SetTorchThreads;

/// Confidence and correctness per sample and exit from (N, exits, K) logits.
recognition::ExitScores ScoresFromLogits(const torch::Tensor& logits, const torch::Tensor& labels);

/// The network of a model file with its weights, in eval mode.
std::shared_ptr<recognition::MultiExitNet> LoadTrainedNet(
    const perception::RecognitionModelSpec& spec);

/// Median batch-1 latency (ms) of computing exits 1..k, for every k.
std::vector<double> MeasureExitLatencyMs(recognition::MultiExitNet& net,
                                         const recognition::DynPerceiverConfig& config,
                                         int runs = 50, int warmup = 10);

}  // namespace dyn4d::cli
