// The recognition node: Dyn-Perceiver (or any model file's network) on whole
// frames or on the boxes of tracked objects, with early exits. Torch stays
// in this file; the rest of perception never sees its headers.
#include <torch/torch.h>
#undef CHECK  // glog's, pulled in by torch

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "dyn4d/perception/recognition_model.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/ordered_join.h"
#include "dyn4d/recognition/dyn_perceiver.h"
#include "dyn4d/recognition/training.h"

namespace dyn4d::perception {
namespace {

using pipeline::Message;
using pipeline::Outputs;
namespace rec = dyn4d::recognition;

struct RecognitionOptions {
  RecognitionModelSpec spec;
  std::vector<float> thresholds;  ///< model file's, or the node's override
  int content_size = 0;           ///< crops are resized to this, then padded to image_size
  bool has_objects = false;
  int threads = 0;
};

class RecognitionStage : public pipeline::Stage {
 public:
  explicit RecognitionStage(RecognitionOptions o) : o_(std::move(o)) {
    rec::SetTorchThreads(o_.threads);
    net_ = rec::MakeNet(o_.spec.kind, o_.spec.net);
    rec::LoadStateDict(*net_, o_.spec.weights);
    net_->eval();
    net_->PrepareInference();
    exits_.assign(net_->num_exits(), 0);
    if (o_.thresholds.empty()) o_.thresholds.assign(net_->num_exits() - 1, 2.f);  // no early exit
  }
  std::vector<std::string> InputPorts() const override { return {"frames", "objects"}; }
  std::vector<std::string> OptionalInputPorts() const override { return {"objects"}; }
  std::vector<std::string> OutputPorts() const override { return {"recognitions"}; }
  uint64_t SkippedCount() const override { return skipped_; }

  std::map<std::string, double> Counters() const override {
    std::map<std::string, double> c;
    for (size_t k = 0; k < exits_.size(); ++k) c["exit_" + std::to_string(k + 1)] = exits_[k];
    c["classified"] = classified_;
    return c;
  }

  Outputs Process(const std::string& port, const Message& m) override {
    const uint64_t seq = pipeline::Meta(m).seq;
    if (port == "frames") {
      join_.AddPrimary(seq, pipeline::Expect<pipeline::RgbdFrame>(m, port));
    } else if (const auto* d = std::get_if<pipeline::Detections>(&m)) {
      pipeline::Tracks t;  // detections: boxes without identities
      t.meta = d->meta;
      for (const auto& det : d->items) {
        pipeline::Track tr;
        tr.box = det.box;
        t.items.push_back(tr);
      }
      join_.AddSecondary(seq, t);
    } else {
      join_.AddSecondary(seq, pipeline::Expect<pipeline::Tracks>(m, port));
    }
    Outputs out;
    join_.Release([&](const pipeline::RgbdFrame& f, const pipeline::Tracks* t) {
      out.push_back({"recognitions", Classify(f, t)});
    });
    return out;
  }

  Outputs Finish() override {
    Outputs out;
    join_.Flush([&](const pipeline::RgbdFrame& f, const pipeline::Tracks* t) {
      out.push_back({"recognitions", Classify(f, t)});
    });
    return out;
  }

 private:
  // The crop as (C, content, content) floats in [0, 1].
  torch::Tensor Crop(const pipeline::Image& img, const pipeline::Box2D& box) const {
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
    if (o_.spec.net.in_channels == 1 && ch == 3)
      t = (t[0] * 0.299 + t[1] * 0.587 + t[2] * 0.114).unsqueeze(0);
    else if (o_.spec.net.in_channels == 3 && ch == 1)
      t = t.expand({3, -1, -1});
    const int s = o_.content_size;
    t = t.unsqueeze(0);
    // Area averaging when shrinking (no aliasing), bilinear when growing.
    t = (t.size(2) >= s && t.size(3) >= s)
            ? torch::adaptive_avg_pool2d(t, {s, s})
            : torch::upsample_bilinear2d(t, {s, s}, /*align_corners=*/false);
    return t.squeeze(0);
  }

  pipeline::Detections Classify(const pipeline::RgbdFrame& f, const pipeline::Tracks* objects) {
    pipeline::Detections out;
    out.meta = f.meta;
    out.meta.source_id = "recognition";
    const pipeline::Image& img = f.color;
    if (img.empty() || (img.encoding != pipeline::PixelEncoding::kBgr8 &&
                        img.encoding != pipeline::PixelEncoding::kRgb8 &&
                        img.encoding != pipeline::PixelEncoding::kMono8)) {
      ++skipped_;
      spdlog::warn(
          "recognition: frame {}: color image empty or {} (needs bgr8/rgb8/mono8); "
          "skipped",
          f.meta.seq, pipeline::ToString(img.encoding));
      return out;
    }
    std::vector<pipeline::Detection> items;
    std::vector<torch::Tensor> crops;
    auto add = [&](const pipeline::Box2D& box, int64_t track_id) {
      torch::Tensor c = Crop(img, box);
      if (!c.defined()) {
        ++skipped_;
        return;
      }
      pipeline::Detection d;
      d.box = box;
      d.track_id = track_id;
      items.push_back(d);
      crops.push_back(c);
    };
    if (objects) {
      for (const auto& t : objects->items) add(t.box, t.track_id);
    } else {
      add({0, 0, float(img.width), float(img.height)}, -1);
    }
    if (crops.empty()) return out;
    torch::InferenceMode inference;
    const torch::Tensor batch = rec::NormalizeAndPad(torch::stack(crops), o_.spec.net.image_size);
    const rec::DynamicOutput r = net_->ForwardDynamic(batch, o_.thresholds);
    const auto pred = r.logits.argmax(1);
    for (size_t i = 0; i < items.size(); ++i) {
      auto& d = items[i];
      d.class_id = static_cast<int>(pred[i].item<int64_t>());
      d.class_name = d.class_id < int(o_.spec.classes.size()) ? o_.spec.classes[d.class_id]
                                                              : std::to_string(d.class_id);
      d.score = r.confidence[i].item<float>();
      d.exit_index = static_cast<int>(r.exit_index[i].item<int64_t>());
      const torch::Tensor e = r.embedding[i].contiguous();
      d.embedding.assign(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
      ++exits_[d.exit_index];
      ++classified_;
      out.items.push_back(std::move(d));
    }
    return out;
  }

  RecognitionOptions o_;
  std::shared_ptr<rec::MultiExitNet> net_;
  pipeline::OrderedJoin<pipeline::RgbdFrame, pipeline::Tracks> join_{o_.has_objects, 8};
  std::vector<double> exits_;
  double classified_ = 0;
  uint64_t skipped_ = 0;
};

std::vector<float> ParseFloats(const std::string& text) {
  std::vector<float> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stof(item));
  return v;
}

}  // namespace

void RegisterRecognitionStages(pipeline::StageRegistry& r) {
  r.Register(
      "recognize",
      "classifies whole frames or tracked objects' boxes with early exits (inputs frames, "
      "objects; output recognitions: class, confidence, exit, embedding)",
      [](pipeline::Params& p,
         const pipeline::StageContext& ctx) -> std::unique_ptr<pipeline::Stage> {
        RecognitionOptions o;
        std::string model = p.GetString(
            "model", std::string(DYN4D_CONFIG_DIR) + "/models/fashion_mnist_dyn_perceiver.yaml");
        // A relative model path is looked up beside the graph file first.
        if (!model.empty() && model[0] != '/') {
          const auto beside = std::filesystem::path(p.file()).parent_path() / model;
          if (std::filesystem::exists(beside)) model = beside.lexically_normal().string();
        }
        const std::string thresholds = p.GetString("thresholds", "");
        o.content_size = p.GetInt("content_size", 0, 0, 4096);
        o.threads = p.GetInt("threads", 0, 0, 256);
        o.has_objects = ctx.inputs.count("objects") > 0;
        try {
          o.spec = LoadRecognitionModelSpec(model);
        } catch (const std::exception& e) {
          p.AddProblem("model", e.what());
        }
        o.thresholds = o.spec.thresholds;
        if (!thresholds.empty()) {
          try {
            o.thresholds = ParseFloats(thresholds);
          } catch (const std::exception&) {
            p.AddProblem("thresholds",
                         "expected comma-separated numbers, got '" + thresholds + "'");
          }
        }
        const int exits = o.spec.kind == rec::ModelKind::kLinearExits ? 3 : rec::kNumExits;
        if (!o.thresholds.empty() && int(o.thresholds.size()) != exits - 1)
          p.AddProblem("thresholds", "needs " + std::to_string(exits - 1) + " values, got " +
                                         std::to_string(o.thresholds.size()));
        // Fashion-MNIST models see 28x28 content padded to 32: same here.
        if (o.content_size == 0)
          o.content_size = o.spec.net.image_size == 32 ? 28 : o.spec.net.image_size;
        if (o.content_size > o.spec.net.image_size)
          p.AddProblem("content_size",
                       "must be <= the network input " + std::to_string(o.spec.net.image_size));
        p.Finish();
        return std::make_unique<RecognitionStage>(std::move(o));
      });
}

}  // namespace dyn4d::perception
