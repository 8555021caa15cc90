#pragma once
// The full RGB-D tracking path on a synthetic scene, frame by frame, for the
// benchmarks: the geometry node's tracker as configs/offline.yaml configures
// it (camera poses and moving objects; or the ground-truth poses and the
// motion proposals on them), recognition of each proposal, the 3D tracker.
// The same stages as configs/offline.yaml, composed in-process.
#include <memory>
#include <optional>
#include <vector>

#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/motion_proposals.h"
#include "dyn4d/perception/object_classifier.h"
#include "dyn4d/perception/scene_tracker.h"
#include "dyn4d/tracking/tracker.h"

namespace dyn4d::cli {

class SynthTrackingPath {
 public:
  struct Options {
    int lookahead = 45;
    bool gt_poses = false;
  };
  /// A segmented frame: its pose and its moving objects.
  struct Segmented {
    pipeline::RgbdFrame frame;
    pipeline::CameraPose pose;
    std::vector<perception::MotionRegion> regions;
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
  /// The frames the tracker (or the proposals) give for `r`, or at the
  /// end of the stream (nullptr), recognised and tracked.
  std::vector<Frame> Segment(const io::SyntheticScene::Rendered* r);
  std::vector<Frame> Finish(std::vector<Segmented>&& segmented);

  perception::ObjectClassifier& classifier_;
  Options o_;
  std::optional<perception::SceneTracker> scene_tracker_;      // own poses
  std::optional<perception::MotionProposalStream> proposals_;  // ground-truth poses
  tracking::MultiObjectTracker tracker_;
  Timing timing_;
};

/// The geometry node's tracker as the graph file `config_path` configures it.
perception::SceneTracker::Options GraphTrackerOptions(const std::string& config_path);

/// A synthetic scene of the benchmarks: seed, length, number of objects.
io::SyntheticScene::Config SynthSceneConfig(uint32_t seed, int frames, int objects);

/// The classifier of a model file (default: the synthetic-objects model).
perception::ObjectClassifier::Options SynthClassifierOptions(const std::string& model, int threads);

}  // namespace dyn4d::cli
