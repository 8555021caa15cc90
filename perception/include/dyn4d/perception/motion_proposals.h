#pragma once
/// \file
/// Geometric proposals of moving objects from RGB-D and camera poses, with no
/// trained detector.
///
/// A pixel is dynamic when its 3D point lies in space that another view of
/// the static scene saw through: projected into a reference frame (with
/// both poses, so camera motion is compensated), the reference's depth there
/// is clearly farther than the point. Space a reference saw as free cannot
/// hold a static surface, so this flags what moved in, and nothing that was
/// merely hidden before (newly seen background is farther, never nearer).
/// Dynamic pixels are grouped into connected regions that do not cross
/// depth discontinuities; each region of enough pixels becomes a proposal
/// with an image box, a mask, and a world centroid and extent.
///
/// References are other frames of the same sequence: past ones in a live
/// stream, past and future ones when the stage may look ahead (offline), so
/// an object that stands still before it first moves is found as well.
#include <array>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

struct MotionProposalConfig {
  int stride = 2;                  ///< test every stride-th pixel (masks at that resolution)
  double min_depth_m = 0.3;        ///< depth outside [min, max] is not used
  double max_depth_m = 6.0;
  double free_margin_m = 0.06;     ///< reference must be this much farther (plus ...)
  double free_margin_rel = 0.03;   ///< ... this fraction of the depth) to count as free
  int min_votes = 1;               ///< references that must see through a point
  double neighbour_gap_m = 0.03;   ///< region growing: max depth step (plus ...)
  double neighbour_gap_rel = 0.01; ///< ... this fraction of the depth) between neighbours
  /// Region growing: max chromaticity step (L1 of r, g, b over their sum;
  /// invariant to shading and texture brightness) between neighbours, so
  /// objects that touch at the same depth but differ in colour split; 0: off.
  double neighbour_chroma_gap = 0.06;
  int min_pixels = 100;            ///< full-resolution pixels a proposal needs
  std::vector<std::string> Validate() const;
};

/// One reference view: its depth (metres, at the proposer's stride, 3x3
/// minimum-filtered so depth edges never count as free space) and pose.
struct ProposalReference {
  int64_t stamp_ns = 0;
  int width = 0, height = 0;      ///< of the reduced depth
  double fx = 0, fy = 0, cx = 0, cy = 0;  ///< of the reduced depth
  std::vector<float> depth_m;     ///< 0 = unknown
  pipeline::CameraPose pose;      ///< T_world_cam
};

struct MotionProposal {
  pipeline::Box2D box;     ///< full-resolution pixels
  pipeline::Image mask;    ///< mono8 of the box's size, 255 = object
  int pixels = 0;          ///< full-resolution pixels of the mask
  std::array<double, 3> centroid_world{0, 0, 0};
  std::array<double, 3> extent{0, 0, 0};  ///< world axis-aligned size (5th-95th percentile)
  double median_depth_m = 0;
  double score = 0;  ///< fraction of the region's points that references saw through
};

class MotionProposer {
 public:
  struct Result {
    std::vector<MotionProposal> proposals;
    int dynamic_pixels = 0;  ///< tested pixels found dynamic (at the stride)
    int tested_pixels = 0;   ///< pixels with valid depth that were tested
    std::string message;     ///< why nothing could be tested, else empty
  };

  explicit MotionProposer(MotionProposalConfig config = {});
  const MotionProposalConfig& config() const { return config_; }

  /// Builds a reference from a frame and its pose (depth must be mono16).
  ProposalReference MakeReference(const pipeline::RgbdFrame& frame,
                                  const pipeline::CameraPose& pose) const;

  /// Proposals in `frame` (pose `pose`) against `references`; references at
  /// the frame's own stamp are ignored.
  Result Propose(const pipeline::RgbdFrame& frame, const pipeline::CameraPose& pose,
                 const std::vector<const ProposalReference*>& references) const;

 private:
  MotionProposalConfig config_;
};

}  // namespace dyn4d::perception

namespace dyn4d::perception {

/// Runs a MotionProposer over a stream of frames with their poses (in
/// order), choosing the references: every `reference_every`-th frame with a
/// usable pose, from `past_frames` back to `lookahead_frames` ahead. With a
/// lookahead, each frame's proposals come that many frames late (offline
/// processing may afford it; a live graph uses 0).
class MotionProposalStream {
 public:
  struct Options {
    MotionProposalConfig proposer;
    int lookahead_frames = 0;
    int reference_every = 6;
    int past_frames = 60;
  };
  struct Output {
    pipeline::RgbdFrame frame;
    pipeline::CameraPose pose;
    MotionProposer::Result result;
  };

  explicit MotionProposalStream(Options options);
  /// Adds the next frame; returns the frames whose proposals are now due.
  std::vector<Output> Push(const pipeline::RgbdFrame& frame, const pipeline::CameraPose& pose);
  /// End of stream: the frames still waiting for their lookahead.
  std::vector<Output> Flush();
  size_t references() const { return refs_.size(); }

 private:
  Output Process(const pipeline::RgbdFrame& frame, const pipeline::CameraPose& pose);

  Options o_;
  MotionProposer proposer_;
  std::vector<std::pair<pipeline::RgbdFrame, pipeline::CameraPose>> pending_;
  std::vector<std::pair<uint64_t, ProposalReference>> refs_;  // by frame seq, ascending
  uint64_t pushed_ = 0;
};

}  // namespace dyn4d::perception
