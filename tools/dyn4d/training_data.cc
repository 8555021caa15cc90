// Training, calibration and test data of the recognition model files.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <stdexcept>

#include "dyn4d/io/sources.h"
#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/object_classifier.h"
#include "progress.h"
#include "recognition_common.h"
#include "teacher_labels.h"

namespace dyn4d::cli {
namespace rec = dyn4d::recognition;

torch::Tensor CropAsUint8(const pipeline::Image& image, const pipeline::Box2D& box, int size,
                          int channels, bool keep_aspect) {
  const std::vector<float> crop =
      perception::CropForRecognition(image, box, size, channels, keep_aspect);
  if (crop.empty()) return {};
  return torch::from_blob(const_cast<float*>(crop.data()), {channels, size, size})
      .mul(255)
      .round()
      .to(torch::kUInt8);
}

namespace {

// Object crops (N, C, size, size) uint8 from synthetic scenes with all six
// categories, every `frame_step`-th frame. Boxes are jittered (each side
// moves by up to 10 % of the box) the way proposal boxes differ from the
// true ones.
rec::ImageDataset SyntheticObjectCrops(uint32_t first_seed, int scenes, int size, int channels,
                                       const char* what) {
  constexpr int kFrames = 90, kFrameStep = 3;
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  std::mt19937 rng(first_seed);
  std::uniform_real_distribution<float> jitter(-0.1f, 0.1f);
  ProgressBar bar(what, scenes);
  for (int k = 0; k < scenes; ++k) {
    io::SyntheticScene::Config c;
    c.seed = first_seed + k;
    c.num_objects = 6;
    c.num_frames = kFrames;
    const io::SyntheticScene scene(c);
    for (int i = 0; i < kFrames; i += kFrameStep) {
      const auto r = scene.Render(i);
      for (const pipeline::Track& t : r.tracks.items) {
        if (t.box.w < 8 || t.box.h < 8 || t.class_id < 0) continue;
        pipeline::Box2D b = t.box;
        const float dx0 = jitter(rng) * b.w, dx1 = jitter(rng) * b.w;
        const float dy0 = jitter(rng) * b.h, dy1 = jitter(rng) * b.h;
        b = {b.x + dx0, b.y + dy0, b.w - dx0 + dx1, b.h - dy0 + dy1};
        torch::Tensor crop = CropAsUint8(r.frame.color, b, size, channels);
        if (!crop.defined()) continue;
        images.push_back(std::move(crop));
        labels.push_back(t.class_id);
      }
    }
    bar.Update(k + 1);
  }
  bar.Finish();
  rec::ImageDataset d;
  if (images.empty()) throw std::runtime_error("no synthetic object crops rendered");
  d.images = torch::stack(images);
  d.labels = torch::tensor(labels, torch::kInt64);
  // Shuffled once, deterministically: scenes come in order, batches should not.
  const torch::Tensor perm = torch::randperm(d.size(), torch::TensorOptions().dtype(torch::kInt64));
  d.images = d.images.index_select(0, perm);
  d.labels = d.labels.index_select(0, perm);
  return d;
}

// Labelled crops split deterministically per class: every 10th crop to
// the test set, every 10th from the 5th on to calibration, the rest to
// training (shuffled once).
struct CropSplit {
  rec::ImageDataset train, calibration, test;
  std::vector<std::string> classes;
};

CropSplit SplitPerClass(std::vector<std::string> classes,
                        const std::vector<std::vector<torch::Tensor>>& crops,
                        const std::string& what) {
  CropSplit out;
  out.classes = std::move(classes);
  std::vector<torch::Tensor> images[3];
  std::vector<int64_t> labels[3];
  for (size_t c = 0; c < crops.size(); ++c)
    for (size_t i = 0; i < crops[c].size(); ++i) {
      const int part = i % 10 == 9 ? 2 : i % 10 == 4 ? 1 : 0;
      images[part].push_back(crops[c][i]);
      labels[part].push_back(static_cast<int64_t>(c));
    }
  // Real labelled data is skewed (hundreds of people, a few dozen screens):
  // the training split repeats each class's crops up to the largest class's
  // count (augmentation makes the repeats differ), so no class is learned
  // as rare. Calibration and test keep the true frequencies.
  std::vector<size_t> per_class(crops.size(), 0);
  for (int64_t l : labels[0]) ++per_class[l];
  const size_t largest = *std::max_element(per_class.begin(), per_class.end());
  const size_t first_count = labels[0].size();
  for (size_t c = 0; c < crops.size(); ++c) {
    std::vector<size_t> mine;
    for (size_t i = 0; i < first_count; ++i)
      if (labels[0][i] == int64_t(c)) mine.push_back(i);
    for (size_t r = 0; !mine.empty() && per_class[c] + r < largest; ++r) {
      images[0].push_back(images[0][mine[r % mine.size()]]);
      labels[0].push_back(int64_t(c));
    }
  }
  rec::ImageDataset* sets[3] = {&out.train, &out.calibration, &out.test};
  for (int k = 0; k < 3; ++k) {
    if (images[k].empty())
      throw std::invalid_argument(what + ": too few images for a " +
                                  (k == 0   ? "training"
                                   : k == 1 ? "calibration"
                                            : "test") +
                                  " split (at least 10 per class)");
    sets[k]->images = torch::stack(images[k]);
    sets[k]->labels = torch::tensor(labels[k], torch::kInt64);
  }
  const torch::Tensor perm =
      torch::randperm(out.train.size(), torch::TensorOptions().dtype(torch::kInt64));
  out.train.images = out.train.images.index_select(0, perm);
  out.train.labels = out.train.labels.index_select(0, perm);
  return out;
}

// A folder of labelled crops, one sub-folder per class (the usual
// image-folder layout). Class names are the sub-folder names, sorted.
CropSplit ImageFolderCrops(const std::string& root, int size, int channels, bool keep_aspect) {
  namespace fs = std::filesystem;
  if (root.empty() || !fs::is_directory(root))
    throw std::invalid_argument(
        "image_folder: --data must be a folder with one sub-folder of "
        "images per class (got '" +
        root + "')");
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  if (classes.size() < 2)
    throw std::invalid_argument("image_folder '" + root +
                                "': needs at least 2 class sub-folders, found " +
                                std::to_string(classes.size()));
  std::vector<std::vector<torch::Tensor>> crops(classes.size());
  size_t bad = 0;
  for (size_t c = 0; c < classes.size(); ++c) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(fs::path(root) / classes[c])) {
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
      if (e.is_regular_file() &&
          (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".ppm"))
        files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty())
      throw std::invalid_argument("image_folder: class folder '" +
                                  (fs::path(root) / classes[c]).string() + "' has no images");
    for (const std::string& file : files) {
      pipeline::Image img;
      try {
        img = io::ReadColorImage(file);
      } catch (const std::exception& e) {
        if (bad++ < 10)
          std::fprintf(stderr, "image_folder: skipped %s: %s\n", file.c_str(), e.what());
        continue;
      }
      torch::Tensor crop = CropAsUint8(img, {0, 0, float(img.width), float(img.height)}, size,
                                       channels, keep_aspect);
      if (crop.defined()) crops[c].push_back(std::move(crop));
    }
  }
  return SplitPerClass(std::move(classes), crops, "image_folder '" + root + "'");
}

}  // namespace

TeacherCrops CollectTeacherCrops(const TeacherOptions& teacher,
                                 const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& classes, int size, int channels,
                                 bool keep_aspect) {
  TeacherCrops out;
  out.per_class.resize(classes.size());
  out.frames = RunTeacher(teacher, inputs, [&](const TeacherFrame& f) {
    out.teacher_ms.push_back(f.teacher_ms);
    int crops = 0;
    for (const pipeline::Detection& d : f.detections) {
      const auto it = std::find(classes.begin(), classes.end(), d.class_name);
      if (it == classes.end()) {
        ++out.other[d.class_name];
        continue;
      }
      torch::Tensor crop = CropAsUint8(*f.color, d.box, size, channels, keep_aspect);
      if (!crop.defined()) continue;
      out.per_class[it - classes.begin()].push_back(std::move(crop));
      ++crops;
    }
    out.crops_per_frame.push_back(crops);
  });
  return out;
}

namespace {

bool Wants(const std::string& which, const char* part) {
  return ("," + which + ",").find("," + std::string(part) + ",") != std::string::npos;
}

}  // namespace

TrainingData LoadTrainingData(const perception::RecognitionModelSpec& spec,
                              const DataSource& source, const std::string& which) {
  TrainingData d;
  if (spec.dataset == "teacher") {
    if (source.teacher.model.empty() || source.paths.empty())
      throw std::invalid_argument(spec.file +
                                  ": dataset teacher needs --teacher MODEL.onnx and the frames "
                                  "it labels (--data VIDEO_OR_FOLDER, repeatable)");
    if (spec.classes.empty())
      throw std::invalid_argument(spec.file + ": classes: the teacher classes to learn");
    const int size = spec.net.image_size == 32 ? 28 : spec.net.image_size;
    torch::manual_seed(1);
    const TeacherCrops crops = CollectTeacherCrops(source.teacher, source.paths, spec.classes, size,
                                                   spec.net.in_channels, spec.crop_keep_aspect);
    for (size_t c = 0; c < spec.classes.size(); ++c)
      if (crops.per_class[c].size() < 10)
        throw std::invalid_argument(
            spec.file + ": the teacher found " + std::to_string(crops.per_class[c].size()) + " '" +
            spec.classes[c] + "' crops in --data (at least 10 per class are needed)");
    CropSplit split = SplitPerClass(spec.classes, crops.per_class, "teacher crops");
    d.train = std::move(split.train);
    d.calibration = std::move(split.calibration);
    d.test = std::move(split.test);
    d.description = "teacher-labelled (" + std::to_string(crops.frames) + " frames)";
    return d;
  }
  if (source.paths.size() > 1)
    throw std::invalid_argument(spec.file + ": dataset " + spec.dataset +
                                " reads one --data folder, got " +
                                std::to_string(source.paths.size()));
  const std::string data_dir = source.paths.empty() ? "" : source.paths[0];
  if (spec.dataset == "fashion_mnist") {
    if (Wants(which, "train") || Wants(which, "calibration")) {
      const rec::ImageDataset all = rec::LoadFashionMnist("train", data_dir);
      d.train = all.Slice(0, all.size() - kCalibrationImages);
      d.calibration = all.Slice(all.size() - kCalibrationImages, all.size());
    }
    if (Wants(which, "test")) d.test = rec::LoadFashionMnist("test", data_dir);
    d.description = "Fashion-MNIST";
    return d;
  }
  if (spec.dataset == "image_folder") {
    const int size = spec.net.image_size == 32 ? 28 : spec.net.image_size;
    torch::manual_seed(1);
    CropSplit split = ImageFolderCrops(data_dir, size, spec.net.in_channels, spec.crop_keep_aspect);
    if (static_cast<int>(split.classes.size()) != spec.net.num_classes)
      throw std::invalid_argument(
          spec.file + ": '" + data_dir + "' has " + std::to_string(split.classes.size()) +
          " class folders, net.num_classes is " + std::to_string(spec.net.num_classes));
    if (!spec.classes.empty() && spec.classes != split.classes) {
      std::string got;
      for (const auto& c : split.classes) got += (got.empty() ? "" : ", ") + c;
      throw std::invalid_argument(spec.file + ": classes must be the class folders of '" +
                                  data_dir + "' in sorted order: " + got);
    }
    d.train = std::move(split.train);
    d.calibration = std::move(split.calibration);
    d.test = std::move(split.test);
    d.description = "image-folder (" + data_dir + ")";
    return d;
  }
  if (spec.dataset != "synthetic_objects")
    throw std::invalid_argument(spec.file + ": unknown dataset '" + spec.dataset + "'");
  const auto categories = io::SyntheticScene::Categories();
  if (spec.net.num_classes != static_cast<int>(categories.size()))
    throw std::invalid_argument(
        spec.file + ": synthetic_objects has " + std::to_string(categories.size()) +
        " classes, net.num_classes is " + std::to_string(spec.net.num_classes));
  // Crops at the size the recognize stage uses (content padded to the input).
  const int size = spec.net.image_size == 32 ? 28 : spec.net.image_size;
  torch::manual_seed(1);
  if (Wants(which, "train"))
    d.train = SyntheticObjectCrops(1001, 150, size, spec.net.in_channels, "render train");
  if (Wants(which, "calibration"))
    d.calibration = SyntheticObjectCrops(5001, 30, size, spec.net.in_channels, "render cal");
  if (Wants(which, "test"))
    d.test = SyntheticObjectCrops(9001, 30, size, spec.net.in_channels, "render test");
  d.description = "synthetic object-crop";
  return d;
}

}  // namespace dyn4d::cli
