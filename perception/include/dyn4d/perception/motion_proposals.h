#pragma once
/// \file
/// Proposals of moving objects from RGB-D and camera poses, with no trained
/// detector: each frame is segmented (MotionSegmenter: free-space
/// violations under a depth noise model, grown into whole objects) against
/// other frames of the same sequence, past ones in a live stream and past
/// and future ones when the stage may look ahead (offline), so an object
/// that stands still before it first moves is found as well.
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "dyn4d/perception/motion_segmentation.h"
#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

/// Runs a MotionSegmenter over a stream of frames with their poses (in
/// order), choosing the references: every `reference_every`-th frame with a
/// usable pose, from `past_frames` back to `lookahead_frames` ahead. With a
/// lookahead, each frame's proposals come that many frames late (offline
/// processing may afford it; a live graph uses 0).
///
/// Frames are segmented in order, each seeded with the previous one's
/// objects (MotionSegmenter::Carry). Depth taken at another instant than
/// colour (RgbdFrame::depth_offset_ns)
/// is placed with the pose interpolated to the depth's time, and each
/// view's rotation rate (from the neighbouring poses) widens the test's
/// window where the capture time is uncertain.
class MotionProposalStream {
 public:
  struct Options {
    MotionSegmentationConfig segmentation;
    int stride = 2;  ///< working resolution: every stride-th pixel (masks at that resolution)
    int lookahead_frames = 0;
    int reference_every = 6;
    int past_frames = 60;
    std::vector<std::string> Validate() const;
  };
  struct Output {
    pipeline::RgbdFrame frame;
    pipeline::CameraPose pose;
    MotionSegmentation result;  ///< regions = the proposals
    std::string message;        ///< why nothing could be tested, else empty
  };

  explicit MotionProposalStream(Options options);
  /// Adds the next frame; returns the frames whose proposals are now due.
  std::vector<Output> Push(const pipeline::RgbdFrame& frame, const pipeline::CameraPose& pose);
  /// End of stream: the frames still waiting for their lookahead.
  std::vector<Output> Flush();
  size_t references() const { return refs_.size(); }

 private:
  struct Pending {
    pipeline::RgbdFrame frame;
    pipeline::CameraPose pose;
  };
  Output Process(const Pending& p);
  // The pose at `stamp_ns` interpolated (or extrapolated) between the
  // nearest usable poses known, and the rotation rate there.
  Eigen::Isometry3d PoseAt(int64_t stamp_ns, const Eigen::Isometry3d& fallback,
                           double* angular_speed) const;
  DepthView View(const Pending& p) const;

  Options o_;
  MotionSegmenter segmenter_;
  std::deque<Pending> pending_;
  std::deque<std::pair<uint64_t, ReferenceView>> refs_;      // by frame seq, ascending
  std::deque<std::pair<int64_t, Eigen::Isometry3d>> poses_;  // usable poses by stamp, recent
  std::vector<MovingObjectPrior> priors_;                    // the last processed frame's objects
  uint64_t pushed_ = 0;
};

}  // namespace dyn4d::perception
