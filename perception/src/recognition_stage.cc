// The recognition node: Dyn-Perceiver (or any model file's network) on whole
// frames or on the boxes of tracked objects, with early exits. Torch stays
// in this file; the rest of perception never sees its headers.
#include <torch/torch.h>
#undef CHECK  // glog's, pulled in by torch

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "dyn4d/perception/object_classifier.h"
#include "dyn4d/perception/onnx_models.h"
#include "dyn4d/perception/recognition_model.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/perception/stream_anchors.h"
#include "dyn4d/pipeline/frame_join_stage.h"
#include "dyn4d/recognition/dyn_perceiver.h"
#include "dyn4d/recognition/training.h"

namespace dyn4d::perception {
namespace {

using pipeline::Message;
using pipeline::Outputs;
namespace rec = dyn4d::recognition;

}  // namespace

// ---------------------------------------------------------------------------
// ObjectClassifier

namespace {

torch::Tensor CropTensor(const pipeline::Image& img, const pipeline::Box2D& box, int size,
                         int channels, bool keep_aspect) {
  const int ch = pipeline::Channels(img.encoding);
  const int x0 = std::clamp(int(box.x), 0, img.width), y0 = std::clamp(int(box.y), 0, img.height);
  const int x1 = std::clamp(int(box.x + box.w), 0, img.width);
  const int y1 = std::clamp(int(box.y + box.h), 0, img.height);
  if (x1 - x0 < 2 || y1 - y0 < 2) return {};
  torch::Tensor t = torch::from_blob(const_cast<uint8_t*>(img.data.data()),
                                     {img.height, img.width, ch}, torch::kUInt8)
                        .slice(0, y0, y1)
                        .slice(1, x0, x1)
                        .permute({2, 0, 1})
                        .to(torch::kFloat)
                        .div_(255.0);
  if (ch == 3 && img.encoding == pipeline::PixelEncoding::kBgr8) t = t.flip({0});  // -> RGB
  if (channels == 1 && ch == 3)
    t = (t[0] * 0.299 + t[1] * 0.587 + t[2] * 0.114).unsqueeze(0);
  else if (channels == 3 && ch == 1)
    t = t.expand({3, -1, -1});
  t = t.unsqueeze(0);
  // Letterbox: the longer side becomes `size`, the shorter keeps the box's
  // aspect ratio (a person stays tall, a screen wide) and is zero-padded.
  const int64_t h = t.size(2), w = t.size(3);
  const int64_t out_h =
      keep_aspect ? std::max<int64_t>(1, std::lround(double(size) * h / std::max(h, w))) : size;
  const int64_t out_w =
      keep_aspect ? std::max<int64_t>(1, std::lround(double(size) * w / std::max(h, w))) : size;
  // Area averaging when shrinking (no aliasing), bilinear when growing.
  t = (h >= out_h && w >= out_w)
          ? torch::adaptive_avg_pool2d(t, {out_h, out_w})
          : torch::upsample_bilinear2d(t, {out_h, out_w}, /*align_corners=*/false);
  if (out_h != size || out_w != size) {
    const int64_t top = (size - out_h) / 2, left = (size - out_w) / 2;
    t = torch::constant_pad_nd(t, {left, size - out_w - left, top, size - out_h - top}, 0);
  }
  return t.squeeze(0);
}

void CheckEncoding(const pipeline::Image& img) {
  if (img.encoding != pipeline::PixelEncoding::kBgr8 &&
      img.encoding != pipeline::PixelEncoding::kRgb8 &&
      img.encoding != pipeline::PixelEncoding::kMono8)
    throw std::invalid_argument(std::string("recognition: image is ") +
                                pipeline::ToString(img.encoding) + " (needs bgr8, rgb8 or mono8)");
}

}  // namespace

std::vector<float> CropForRecognition(const pipeline::Image& color, const pipeline::Box2D& box,
                                      int size, int channels, bool keep_aspect) {
  CheckEncoding(color);
  torch::NoGradGuard no_grad;
  const torch::Tensor t = CropTensor(color, box, size, channels, keep_aspect);
  if (!t.defined()) return {};
  const torch::Tensor c = t.contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

struct ObjectClassifier::Impl {
  Options o;
  std::shared_ptr<rec::MultiExitNet> net;
};

ObjectClassifier::ObjectClassifier(Options options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.o = std::move(options);
  rec::SetTorchThreads(s.o.threads);
  s.net = rec::MakeNet(s.o.spec.kind, s.o.spec.net);
  rec::LoadStateDict(*s.net, s.o.spec.weights);
  s.net->eval();
  s.net->PrepareInference();
  if (s.o.thresholds.empty()) s.o.thresholds = s.o.spec.thresholds;
  if (s.o.thresholds.empty()) s.o.thresholds.assign(s.net->num_exits() - 1, 2.f);  // no early exit
  if (int(s.o.thresholds.size()) != s.net->num_exits() - 1)
    throw std::invalid_argument("recognition: " + std::to_string(s.net->num_exits() - 1) +
                                " thresholds needed, got " + std::to_string(s.o.thresholds.size()));
  // Fashion-MNIST models see 28x28 content padded to 32: same here.
  if (s.o.content_size == 0)
    s.o.content_size = s.o.spec.net.image_size == 32 ? 28 : s.o.spec.net.image_size;
}
ObjectClassifier::~ObjectClassifier() = default;
int ObjectClassifier::num_exits() const { return impl_->net->num_exits(); }
int ObjectClassifier::content_size() const { return impl_->o.content_size; }
const RecognitionModelSpec& ObjectClassifier::spec() const { return impl_->o.spec; }

std::vector<std::optional<Classification>> ObjectClassifier::Classify(
    const pipeline::Image& img, const std::vector<pipeline::Box2D>& boxes) {
  CheckEncoding(img);
  Impl& s = *impl_;
  std::vector<std::optional<Classification>> out(boxes.size());
  std::vector<torch::Tensor> crops;
  std::vector<size_t> index;
  torch::InferenceMode inference;
  for (size_t i = 0; i < boxes.size(); ++i) {
    torch::Tensor c = CropTensor(img, boxes[i], s.o.content_size, s.o.spec.net.in_channels,
                                 s.o.spec.crop_keep_aspect);
    if (!c.defined()) continue;
    crops.push_back(c);
    index.push_back(i);
  }
  if (crops.empty()) return out;
  const torch::Tensor batch = rec::NormalizeAndPad(torch::stack(crops), s.o.spec.net.image_size);
  const rec::DynamicOutput r = s.net->ForwardDynamic(batch, s.o.thresholds);
  const auto pred = r.logits.argmax(1);
  const torch::Tensor probabilities = torch::softmax(r.logits.to(torch::kFloat), 1);
  for (size_t k = 0; k < index.size(); ++k) {
    Classification c;
    c.class_id = static_cast<int>(pred[k].item<int64_t>());
    c.class_name = c.class_id < int(s.o.spec.classes.size()) ? s.o.spec.classes[c.class_id]
                                                             : std::to_string(c.class_id);
    c.score = r.confidence[k].item<float>();
    c.exit_index = static_cast<int>(r.exit_index[k].item<int64_t>());
    const torch::Tensor e = r.embedding[k].contiguous();
    c.embedding.assign(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
    const torch::Tensor p = probabilities[k].contiguous();
    c.probabilities.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    out[index[k]] = std::move(c);
  }
  return out;
}

// ---------------------------------------------------------------------------
// The recognize stage

namespace {

struct RecognitionOptions {
  /// One per model file, in the order given: a frame is classified by the
  /// first whose domains cover its source (synthetic scenes by the model
  /// trained on them, camera frames by one trained on real crops).
  std::vector<ObjectClassifier::Options> classifiers;
  bool has_objects = false;
  /// With an objects input, a frame waits for its objects while fewer than
  /// this many newer frames are held (proposals that look ahead come late);
  /// then it is skipped and counted, never classified as a whole frame.
  int max_wait_frames = 128;
  /// A teacher detector (YOLOX ONNX; empty: none) that looks at every
  /// `teacher_every`-th frame: its boxes of a model's classes anchor those
  /// classes to this stream (StreamAnchors over the recognizer's class
  /// probabilities), and every object then takes the anchored class whose
  /// crops the recognizer saw most alike.
  YoloxConfig teacher;
  int teacher_every = 30;
  int teacher_min_px = 16;  ///< smaller teacher boxes are no usable crop
  StreamAnchors::Config anchors;
};

// Frames, and optionally the objects in them (Tracks or Detections, joined
// by seq) -> one Detection per object (or per frame) with class, confidence,
// exit and embedding; the input's box, mask, track id and 3D fields are kept.
class RecognitionStage : public pipeline::FrameJoinStage<pipeline::Detections> {
 public:
  explicit RecognitionStage(RecognitionOptions o)
      : FrameJoinStage(o.has_objects, static_cast<uint64_t>(o.max_wait_frames)), o_(std::move(o)) {
    int exits = 0;
    for (const ObjectClassifier::Options& c : o_.classifiers) {
      classifiers_.push_back(std::make_unique<ObjectClassifier>(c));
      exits = std::max(exits, classifiers_.back()->num_exits());
    }
    exits_.assign(exits, 0);
    if (!o_.teacher.model.empty()) {
      teacher_ = std::make_unique<YoloxDetector>(o_.teacher);
      for (size_t i = 0; i < classifiers_.size(); ++i) anchors_.emplace_back(o_.anchors);
    }
  }
  std::vector<std::string> InputPorts() const override { return {"frames", "objects"}; }
  std::vector<std::string> OptionalInputPorts() const override { return {"objects"}; }
  std::vector<std::string> OutputPorts() const override { return {"recognitions"}; }
  uint64_t SkippedCount() const override { return skipped_; }

  std::map<std::string, double> Counters() const override {
    std::map<std::string, double> c;
    for (size_t k = 0; k < exits_.size(); ++k) c["exit_" + std::to_string(k + 1)] = exits_[k];
    c["classified"] = classified_;
    c["out_of_domain"] = out_of_domain_;
    if (teacher_) {
      c["teacher_looks"] = teacher_looks_;
      c["teacher_boxes"] = teacher_boxes_;
      c["anchored"] = anchored_;
    }
    return c;
  }

  void HandleJoined(const pipeline::RgbdFrame& f, const pipeline::Detections* d,
                    Outputs& out) override {
    out.push_back({"recognitions", Classify(f, d)});
  }

  // Tracks become Detections with the tracks' boxes, masks and identities.
  pipeline::Detections ToSecondary(const std::string& port, const Message& m) override {
    if (const auto* d = std::get_if<pipeline::Detections>(&m)) return *d;
    const auto& tracks = pipeline::Expect<pipeline::Tracks>(m, port);
    pipeline::Detections objects;
    objects.meta = tracks.meta;
    for (const pipeline::Track& t : tracks.items) {
      pipeline::Detection det;
      det.box = t.box;
      det.mask = t.mask;
      det.track_id = t.track_id;
      det.has_position = t.has_position;
      det.position_world = t.position_world;
      det.extent = t.extent;
      objects.items.push_back(std::move(det));
    }
    return objects;
  }

 private:
  pipeline::Detections Classify(const pipeline::RgbdFrame& f, const pipeline::Detections* objects) {
    pipeline::Detections out;
    out.meta = f.meta;
    out.meta.source_id = "recognition";
    if (o_.has_objects && !objects) {
      if (skipped_++ < 10)
        spdlog::warn("recognition: frame {}: its objects did not come within {} frames; skipped",
                     f.meta.seq, o_.max_wait_frames);
      return out;
    }
    std::vector<pipeline::Detection> items;
    ObjectClassifier* classifier = nullptr;
    StreamAnchors* anchors = nullptr;
    for (size_t i = 0; i < classifiers_.size(); ++i)
      if (classifiers_[i]->spec().Covers(f.meta.source_id)) {
        classifier = classifiers_[i].get();
        if (teacher_) anchors = &anchors_[i];
        break;
      }
    const bool look = teacher_ && frames_++ % o_.teacher_every == 0;
    if (objects) {
      items = objects->items;
      if (!classifier) {
        // No model was trained on this kind of data: its labels would be
        // guesses. The objects go on as what they are known to be.
        if (out_of_domain_++ == 0) {
          std::string models;
          for (const auto& c : classifiers_)
            models +=
                (models.empty() ? "" : "; ") + c->spec().file + " (" + c->spec().dataset +
                ", domains: " +
                (c->spec().domains.empty() ? std::string("none") : JoinNames(c->spec().domains)) +
                ")";
          spdlog::warn(
              "recognition: no model was trained on frames like '{}' ({}), so objects are "
              "labelled 'object'. Train a model on your own classes: dyn4d train "
              "(docs/RECOGNITION.md)",
              f.meta.source_id, models);
        }
        for (pipeline::Detection& d : items) {
          d.class_id = -1;
          d.class_name = "object";
          out.items.push_back(std::move(d));
        }
        return out;
      }
    } else {
      if (!classifier) classifier = classifiers_.front().get();  // whole frames: as asked
      pipeline::Detection whole;
      whole.box = {0, 0, float(f.color.width), float(f.color.height)};
      items.push_back(whole);
    }
    std::vector<pipeline::Box2D> boxes;
    for (const auto& d : items) boxes.push_back(d.box);
    std::vector<std::optional<Classification>> cls;
    try {
      if (look && anchors) Look(f, *classifier, *anchors);
      cls = classifier->Classify(f.color, boxes);
    } catch (const std::invalid_argument& e) {
      skipped_ += items.size();
      spdlog::warn("recognition: frame {}: {}; skipped", f.meta.seq, e.what());
      return out;
    }
    for (size_t i = 0; i < items.size(); ++i) {
      if (!cls[i]) {
        ++skipped_;
        continue;
      }
      pipeline::Detection d = std::move(items[i]);
      d.class_id = cls[i]->class_id;
      d.class_name = cls[i]->class_name;
      d.score = cls[i]->score;
      d.exit_index = cls[i]->exit_index;
      if (anchors)
        if (const std::optional<StreamAnchors::Match> m = anchors->Nearest(cls[i]->probabilities)) {
          d.class_id = m->class_id;
          d.class_name = classifier->spec().classes[m->class_id];
          d.score = m->similarity;
          ++anchored_;
        }
      d.embedding = std::move(cls[i]->embedding);
      ++exits_[d.exit_index];
      ++classified_;
      out.items.push_back(std::move(d));
    }
    return out;
  }

  // The teacher looks at the frame: what the recognizer makes of its boxes
  // of the model's classes (class probabilities) anchors those classes.
  void Look(const pipeline::RgbdFrame& f, ObjectClassifier& classifier, StreamAnchors& anchors) {
    const std::vector<std::string>& classes = classifier.spec().classes;
    std::vector<pipeline::Box2D> boxes;
    std::vector<int> ids;
    for (const pipeline::Detection& d : teacher_->Detect(f.color)) {
      const auto it = std::find(classes.begin(), classes.end(), d.class_name);
      if (it == classes.end() || d.box.w < o_.teacher_min_px || d.box.h < o_.teacher_min_px)
        continue;
      boxes.push_back(d.box);
      ids.push_back(static_cast<int>(it - classes.begin()));
    }
    ++teacher_looks_;
    anchors.BeginLook();
    if (boxes.empty()) return;
    const std::vector<std::optional<Classification>> labelled = classifier.Classify(f.color, boxes);
    for (size_t i = 0; i < boxes.size(); ++i)
      if (labelled[i]) anchors.Add(ids[i], labelled[i]->probabilities), ++teacher_boxes_;
  }

  RecognitionOptions o_;
  std::vector<std::unique_ptr<ObjectClassifier>> classifiers_;
  std::unique_ptr<YoloxDetector> teacher_;
  std::vector<StreamAnchors> anchors_;  // one per classifier (each its own classes)
  uint64_t frames_ = 0;
  double teacher_looks_ = 0, teacher_boxes_ = 0, anchored_ = 0;
  std::vector<double> exits_;
  double classified_ = 0, out_of_domain_ = 0;
  uint64_t skipped_ = 0;
  static std::string JoinNames(const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  }
};

}  // namespace

void RegisterRecognitionStages(pipeline::StageRegistry& r) {
  r.Register(
      "recognize",
      "classifies whole frames or tracked objects' boxes with early exits (inputs frames, "
      "objects; output recognitions: class, confidence, exit, embedding)",
      [](pipeline::Params& p,
         const pipeline::StageContext& ctx) -> std::unique_ptr<pipeline::Stage> {
        RecognitionOptions o;
        // `model`: one model file or a list (the first whose domains cover
        // a frame's source classifies it). Relative paths as GetPath.
        std::vector<std::string> models = p.GetList(
            "model", {std::string(DYN4D_CONFIG_DIR) + "/models/fashion_mnist_dyn_perceiver.yaml"});
        const std::vector<double> thresholds = p.GetNumbers("thresholds", {});
        const int content_size = p.GetInt("content_size", 0, 0, 4096);
        const int threads = p.GetInt("threads", 0, 0, 256);
        o.has_objects = ctx.inputs.count("objects") > 0;
        o.max_wait_frames = p.GetInt("max_wait_frames", o.max_wait_frames, 1, 100000);
        o.teacher.model = p.GetPath("teacher", "");
        o.teacher.score_threshold =
            p.GetDouble("teacher_score", 0.5, 0, 1);  // as `dyn4d train --teacher`
        o.teacher.input_size = p.GetInt("teacher_input_size", o.teacher.input_size, 32, 4096);
        o.teacher_every = p.GetInt("teacher_every", o.teacher_every, 1, 1000000);
        o.teacher_min_px = p.GetInt("teacher_min_px", o.teacher_min_px, 1, 4096);
        o.anchors.max_per_class = p.GetInt("anchors_per_class", o.anchors.max_per_class, 1, 100000);
        o.anchors.forget_after_looks =
            p.GetInt("anchors_forget_after_looks", o.anchors.forget_after_looks, 1, 1000000);
        if (!o.teacher.model.empty() && !std::filesystem::exists(o.teacher.model))
          p.AddProblem("teacher", "no such file: " + o.teacher.model);
        if (models.empty()) p.AddProblem("model", "no model file given");
        if (!thresholds.empty() && models.size() > 1)
          p.AddProblem("thresholds", "with several models, each model file's own are used");
        for (std::string& model : models) {
          namespace fs = std::filesystem;
          const fs::path beside = fs::path(p.file()).parent_path() / model;
          if (fs::path(model).is_relative() && !p.file().empty() && fs::exists(beside))
            model = beside.lexically_normal().string();
          ObjectClassifier::Options c;
          c.content_size = content_size;
          c.threads = threads;
          try {
            c.spec = LoadRecognitionModelSpec(model);
          } catch (const std::exception& e) {
            p.AddProblem("model", e.what());
            continue;
          }
          c.thresholds = c.spec.thresholds;
          if (!thresholds.empty()) c.thresholds.assign(thresholds.begin(), thresholds.end());
          const int exits = c.spec.kind == rec::ModelKind::kLinearExits ? 3 : rec::kNumExits;
          if (!c.thresholds.empty() && int(c.thresholds.size()) != exits - 1)
            p.AddProblem("thresholds", "needs " + std::to_string(exits - 1) + " values, got " +
                                           std::to_string(c.thresholds.size()));
          if (c.content_size > c.spec.net.image_size)
            p.AddProblem("content_size",
                         "must be <= the network input " + std::to_string(c.spec.net.image_size));
          o.classifiers.push_back(std::move(c));
        }
        p.Finish();
        return std::make_unique<RecognitionStage>(std::move(o));
      });
}

}  // namespace dyn4d::perception
