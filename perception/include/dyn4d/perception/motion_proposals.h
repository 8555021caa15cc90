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
/// processing may afford it); with 0 (live) they come with the frame.
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
  /// A better pose of frame `seq` (pushed earlier with a rougher one), such
  /// as the camera tracker's final pose once that frame's objects were left
  /// out. The frames segmented from now on are placed by the latest such
  /// pose: references at or before a frame with a better pose take it, the
  /// others (and the frame itself) are moved with the latest correction,
  /// keeping their motion relative to it. The pushed poses only have to be
  /// right over the few frames since. Give them in order of `seq`.
  void SetBetterPose(uint64_t seq, const Eigen::Isometry3d& T_world_cam);
  size_t references() const { return refs_.size(); }

 private:
  struct Pending {
    pipeline::RgbdFrame frame;
    pipeline::CameraPose pose;
  };
  Output Process(const Pending& p);
  // The pose at `stamp_ns` interpolated (or extrapolated) between the
  // nearest usable poses known, and the rotation rate there; `fallback`
  // where they cannot place it (`placed`, when given, says which).
  Eigen::Isometry3d PoseAt(int64_t stamp_ns, const Eigen::Isometry3d& fallback,
                           double* angular_speed, bool* placed = nullptr) const;
  // The view of `frame` placed at `pose` (its colour's), its depth's time
  // placed by the poses around it.
  DepthView View(const pipeline::RgbdFrame& frame, const pipeline::CameraPose& pose) const;
  void MaybeAddReference(const Pending& p);  ///< if it is a reference frame with depth
  void AddReference(const Pending& p);       // throws std::invalid_argument without usable depth
  // The correction (better pose * pushed pose^-1, world frame) that places
  // a view of frame `seq` pushed with `T` at `correction * T`.
  Eigen::Isometry3d Correction(uint64_t seq) const;

  Options o_;
  MotionSegmenter segmenter_;
  std::deque<Pending> pending_;
  struct Reference {
    uint64_t seq;
    ReferenceView view;
    Eigen::Isometry3d pushed_T_world_depth;  // as placed by the pushed poses
  };
  std::deque<Reference> refs_;  // by frame seq, ascending
  struct PushedPose {
    uint64_t seq;
    int64_t stamp_ns;
    Eigen::Isometry3d T_world_cam;
  };
  std::deque<PushedPose> poses_;  // usable ones as pushed, by seq (and stamp), recent
  // Frames given a better pose (recent ones, by seq): the correction that
  // moves a view placed by the pushed poses.
  struct Corrected {
    uint64_t seq;
    Eigen::Isometry3d correction;
  };
  std::deque<Corrected> corrections_;
  std::vector<MovingObjectPrior> priors_;  // the last processed frame's objects
  uint64_t pushed_ = 0;
};

}  // namespace dyn4d::perception
