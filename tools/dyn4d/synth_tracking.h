#pragma once
// The full RGB-D tracking path on a synthetic scene, frame by frame, for the
// benchmarks: dyn4d's odometry (or the ground-truth poses), geometric motion
// proposals, recognition of each proposal, the 3D tracker. The same stages
// as configs/offline.yaml, composed in-process.
#include <memory>
#include <optional>
#include <vector>

#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/motion_proposals.h"
#include "dyn4d/perception/object_classifier.h"
#include "dyn4d/perception/rgbd_odometry.h"
#include "dyn4d/tracking/tracker.h"

namespace dyn4d::cli {

class SynthTrackingPath {
 public:
  struct Options {
    int lookahead = 45;
    bool gt_poses = false;
  };
  struct Frame {
    pipeline::RgbdFrame frame;
    pipeline::CameraPose pose;  ///< the pose the path used (estimated or ground truth)
    std::vector<perception::MotionRegion> proposals;
    std::vector<std::optional<perception::Classification>> classes;  ///< per proposal
    std::vector<tracking::TrackEstimate> tracks;  ///< all live tracks after this frame
  };
  struct Timing {
    double proposals_s = 0, recognition_s = 0, tracker_s = 0;
  };

  SynthTrackingPath(perception::ObjectClassifier& classifier, Options options);
  /// The next rendered frame; returns the frames whose results are due
  /// (`lookahead` frames late).
  std::vector<Frame> Push(const io::SyntheticScene::Rendered& r);
  std::vector<Frame> Flush();
  const Timing& timing() const { return timing_; }

 private:
  std::vector<Frame> Finish(const std::vector<perception::MotionProposalStream::Output>& outs);

  perception::ObjectClassifier& classifier_;
  Options o_;
  perception::RgbdOdometry odometry_;
  perception::MotionProposalStream proposals_;
  tracking::MultiObjectTracker tracker_;
  Timing timing_;
};

/// A synthetic scene of the benchmarks: seed, length, number of objects.
io::SyntheticScene::Config SynthSceneConfig(uint32_t seed, int frames, int objects);

/// The classifier of a model file (default: the synthetic-objects model).
perception::ObjectClassifier::Options SynthClassifierOptions(const std::string& model, int threads);

}  // namespace dyn4d::cli
