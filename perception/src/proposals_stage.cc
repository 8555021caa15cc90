// The motion_proposals stage: frames + poses -> geometric proposals.
#include <spdlog/spdlog.h>

#include "dyn4d/perception/background_proposals.h"
#include "dyn4d/perception/motion_proposals.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/frame_join_stage.h"

namespace dyn4d::perception {
namespace {

using pipeline::Message;
using pipeline::Outputs;

// Frames and their poses (joined by seq) -> Detections on `proposals`: per
// moving object a box, a mask, a world centroid and extent, and a score (the
// share of its surface that references saw through). Frames without
// a pose (none within kMaxWait frames) or with a lost one give no
// proposals and are counted.
class MotionProposalStage : public pipeline::FrameJoinStage<pipeline::CameraPose> {
 public:
  explicit MotionProposalStage(MotionProposalStream::Options o)
      : FrameJoinStage(true, kMaxWait), stream_(std::move(o)) {}
  std::vector<std::string> InputPorts() const override { return {"frames", "poses"}; }
  std::vector<std::string> OutputPorts() const override { return {"proposals"}; }
  uint64_t SkippedCount() const override { return skipped_; }
  std::map<std::string, double> Counters() const override {
    return {{"proposals", proposals_}, {"frames_without_proposals_input", double(skipped_)}};
  }

  void HandleJoined(const pipeline::RgbdFrame& f, const pipeline::CameraPose* p,
                    Outputs& out) override {
    Emit(Push(f, p), out);
  }
  void FinishJoined(Outputs& out) override { Emit(stream_.Flush(), out); }

 private:
  // Poses come from the (slower) geometry node, so frames arrive well ahead
  // of them: a frame waits for its pose while fewer than kMaxWait newer
  // frames are held (bounded memory), then counts as lost.
  static constexpr uint64_t kMaxWait = 128;

  std::vector<MotionProposalStream::Output> Push(const pipeline::RgbdFrame& f,
                                                 const pipeline::CameraPose* p) {
    pipeline::CameraPose pose;
    if (p) {
      pose = *p;
    } else {
      pose.meta = f.meta;
      pose.status = pipeline::PoseStatus::kLost;  // no pose: no proposals, no reference
    }
    try {
      return stream_.Push(f, pose);
    } catch (const std::exception& e) {
      ++skipped_;
      spdlog::warn("motion_proposals: frame {}: {}", f.meta.seq, e.what());
      return {};
    }
  }

  void Emit(const std::vector<MotionProposalStream::Output>& outs, Outputs& out) {
    for (const auto& o : outs) {
      pipeline::Detections d;
      d.meta = o.frame.meta;
      d.meta.source_id = "motion_proposals";
      if (!o.message.empty() && o.message != "no reference view") {
        if (skipped_++ < 10)
          spdlog::warn("motion_proposals: frame {}: {}", o.frame.meta.seq, o.message);
      }
      for (const MotionRegion& p : o.result.regions) {
        pipeline::Detection det;
        det.box = p.box;
        det.mask = p.mask;
        det.score = static_cast<float>(p.score);
        det.has_position = true;
        for (int a = 0; a < 3; ++a)
          det.position_world[a] = static_cast<float>(p.centroid_world[a]),
          det.extent[a] = static_cast<float>(p.extent[a]);
        d.items.push_back(std::move(det));
      }
      proposals_ += d.items.size();
      out.push_back({"proposals", std::move(d)});
    }
  }

  MotionProposalStream stream_;
  double proposals_ = 0;
  uint64_t skipped_ = 0;
};

// RGB-only video: frames -> 2D proposals (box, mask, score = mean residual
// flow in pixels per frame at the work resolution).
class BackgroundProposalStage : public pipeline::Stage {
 public:
  explicit BackgroundProposalStage(BackgroundProposalConfig c) : proposer_(std::move(c)) {}
  std::vector<std::string> InputPorts() const override { return {"frames"}; }
  std::vector<std::string> OutputPorts() const override { return {"proposals"}; }
  uint64_t SkippedCount() const override { return skipped_; }
  std::map<std::string, double> Counters() const override {
    return {{"proposals", proposals_}, {"frames_camera_still", still_}};
  }
  Outputs Process(const std::string& port, const Message& m) override {
    const auto& f = pipeline::Expect<pipeline::RgbdFrame>(m, port);
    const BackgroundProposer::Result r = proposer_.Process(f.color);
    if (!r.message.empty() && r.message != "first frame" && skipped_++ < 10)
      spdlog::warn("background_proposals: frame {}: {}", f.meta.seq, r.message);
    still_ += r.camera_still;
    pipeline::Detections d;
    d.meta = f.meta;
    d.meta.source_id = "background_proposals";
    d.items = r.proposals;
    proposals_ += d.items.size();
    return {{"proposals", std::move(d)}};
  }

 private:
  BackgroundProposer proposer_;
  double proposals_ = 0, still_ = 0;
  uint64_t skipped_ = 0;
};

}  // namespace

void RegisterProposalStages(pipeline::StageRegistry& r) {
  r.Register(
      "background_proposals",
      "moving objects in RGB-only video: camera motion removed by a homography, then residual "
      "optical flow and (camera still) background subtraction, 2D (input frames; output "
      "proposals)",
      [](pipeline::Params& p, const pipeline::StageContext&) -> std::unique_ptr<pipeline::Stage> {
        BackgroundProposalConfig c;
        c.work_width = p.GetInt("work_width", c.work_width, 32, 4096);
        c.min_residual_flow_px =
            p.GetDouble("min_residual_flow_px", c.min_residual_flow_px, 1e-3, 100);
        c.static_camera_px = p.GetDouble("static_camera_px", c.static_camera_px, 0, 100);
        c.min_pixels = p.GetInt("min_pixels", c.min_pixels, 1, 1 << 24);
        c.use_background_model = p.GetBool("use_background_model", c.use_background_model);
        for (const std::string& problem : c.Validate()) p.AddProblem("", problem);
        p.Finish();
        return std::make_unique<BackgroundProposalStage>(std::move(c));
      });
  r.Register(
      "motion_proposals",
      "moving objects from RGB-D and camera poses, no detector: points in space another view saw "
      "as free (depth noise model), grown into whole objects (inputs frames, poses; output "
      "proposals: box, mask, world centroid and extent)",
      [](pipeline::Params& p, const pipeline::StageContext&) -> std::unique_ptr<pipeline::Stage> {
        MotionProposalStream::Options o;
        o.lookahead_frames = p.GetInt("lookahead_frames", o.lookahead_frames, 0, 1000);
        o.reference_every = p.GetInt("reference_every", o.reference_every, 1, 1000);
        o.past_frames = p.GetInt("past_frames", o.past_frames, 0, 100000);
        o.stride = p.GetInt("stride", o.stride, 1, 16);
        o.segmentation = ReadMotionSegmentationConfig(p, o.segmentation);
        for (const std::string& problem : o.Validate()) p.AddProblem("", problem);
        p.Finish();
        return std::make_unique<MotionProposalStage>(std::move(o));
      });
}

}  // namespace dyn4d::perception
