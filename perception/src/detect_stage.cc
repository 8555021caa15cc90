// The detect stage: an ONNX detector (YOLOX) on frames, with optional
// re-identification embeddings and, given poses and depth, world centroids.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "dyn4d/perception/onnx_models.h"
#include "dyn4d/perception/pose.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/frame_join_stage.h"

namespace dyn4d::perception {
namespace {

using pipeline::Message;
using pipeline::Outputs;

struct DetectOptions {
  YoloxConfig detector;
  std::string reid_model;  ///< empty: no embeddings
  bool has_poses = false;
};

// Frames (and optionally their poses) -> Detections on `detections`: box,
// class, score; an appearance embedding with a re-id model; with a pose and
// depth, the world centroid (median depth of the box's central half) and an
// extent from the box size at that depth.
class DetectStage : public pipeline::FrameJoinStage<pipeline::CameraPose> {
 public:
  explicit DetectStage(DetectOptions o)
      : FrameJoinStage(o.has_poses, 128), o_(std::move(o)), detector_(o_.detector) {
    if (!o_.reid_model.empty()) reid_ = std::make_unique<ReidEmbedder>(o_.reid_model);
  }
  std::vector<std::string> InputPorts() const override { return {"frames", "poses"}; }
  std::vector<std::string> OptionalInputPorts() const override { return {"poses"}; }
  std::vector<std::string> OutputPorts() const override { return {"detections"}; }
  uint64_t SkippedCount() const override { return skipped_; }
  std::map<std::string, double> Counters() const override { return {{"detections", count_}}; }

  void HandleJoined(const pipeline::RgbdFrame& f, const pipeline::CameraPose* p,
                    Outputs& out) override {
    out.push_back({"detections", Detect(f, p)});
  }

 private:
  pipeline::Detections Detect(const pipeline::RgbdFrame& f, const pipeline::CameraPose* pose) {
    pipeline::Detections d;
    d.meta = f.meta;
    d.meta.source_id = "detector";
    try {
      d.items = detector_.Detect(f.color);
      if (reid_) {
        std::vector<pipeline::Box2D> boxes;
        for (const auto& det : d.items) boxes.push_back(det.box);
        const auto emb = reid_->Embed(f.color, boxes);
        for (size_t i = 0; i < d.items.size(); ++i) d.items[i].embedding = emb[i];
      }
    } catch (const std::exception& e) {
      if (skipped_++ < 10) spdlog::warn("detect: frame {}: {}; skipped", f.meta.seq, e.what());
      d.items.clear();
      return d;
    }
    if (pose && pose->status != pipeline::PoseStatus::kLost) AddPositions(f, *pose, d);
    count_ += d.items.size();
    return d;
  }

  static void AddPositions(const pipeline::RgbdFrame& f, const pipeline::CameraPose& pose,
                           pipeline::Detections& d) {
    if (f.depth.empty() || f.depth.encoding != pipeline::PixelEncoding::kMono16 ||
        f.depth.width != f.color.width || !(f.intrinsics.fx > 0) || !(f.depth_scale > 0))
      return;
    const Eigen::Isometry3d T = ToIsometry(pose);
    const uint16_t* z = f.depth.data.as<uint16_t>();
    const auto& K = f.intrinsics;
    for (auto& det : d.items) {
      // Median depth of the box's central half: the object, mostly, not
      // what shows around it.
      const int x0 = std::max(0, int(det.box.x + det.box.w / 4));
      const int x1 = std::min(f.depth.width, int(det.box.x + 3 * det.box.w / 4));
      const int y0 = std::max(0, int(det.box.y + det.box.h / 4));
      const int y1 = std::min(f.depth.height, int(det.box.y + 3 * det.box.h / 4));
      std::vector<uint16_t> v;
      for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x)
          if (const uint16_t q = z[static_cast<size_t>(y) * f.depth.width + x]) v.push_back(q);
      if (v.size() < 10) continue;
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      const double depth = v[v.size() / 2] / f.depth_scale;
      const double u = det.box.x + det.box.w / 2, w = det.box.y + det.box.h / 2;
      const Eigen::Vector3d c =
          T * Eigen::Vector3d((u - K.cx) / K.fx * depth, (w - K.cy) / K.fy * depth, depth);
      det.has_position = true;
      const float sx = static_cast<float>(det.box.w / K.fx * depth);
      const float sy = static_cast<float>(det.box.h / K.fy * depth);
      for (int a = 0; a < 3; ++a) det.position_world[a] = static_cast<float>(c[a]);
      det.extent = {sx, sy, std::min(sx, sy)};  // camera-aligned guess: depth unseen
    }
  }

  DetectOptions o_;
  YoloxDetector detector_;
  std::unique_ptr<ReidEmbedder> reid_;
  double count_ = 0;
  uint64_t skipped_ = 0;
};

}  // namespace

void RegisterDetectStages(pipeline::StageRegistry& r) {
  r.Register(
      "detect",
      "ONNX object detector (YOLOX, OpenCV DNN) with optional re-id embeddings (OSNet) and, given "
      "poses, world centroids from depth (inputs frames, poses; output detections)",
      [](pipeline::Params& p,
         const pipeline::StageContext& ctx) -> std::unique_ptr<pipeline::Stage> {
        DetectOptions o;
        YoloxConfig& c = o.detector;
        c.model = p.GetPath("model", "");
        c.input_size = p.GetInt("input_size", c.input_size, 32, 4096);
        c.score_threshold = p.GetDouble("score_threshold", c.score_threshold, 0, 1);
        c.nms_iou = p.GetDouble("nms_iou", c.nms_iou, 0.01, 1);
        c.keep = p.GetList("keep", {});
        o.reid_model = p.GetPath("reid_model", "");
        o.has_poses = ctx.inputs.count("poses") > 0;
        for (const std::string& problem : c.Validate()) p.AddProblem("", problem);
        if (!c.model.empty() && !std::filesystem::exists(c.model))
          p.AddProblem("model", "no such file: " + c.model);
        if (!o.reid_model.empty() && !std::filesystem::exists(o.reid_model))
          p.AddProblem("reid_model", "no such file: " + o.reid_model);
        p.Finish();
        return std::make_unique<DetectStage>(std::move(o));
      });
}

}  // namespace dyn4d::perception
