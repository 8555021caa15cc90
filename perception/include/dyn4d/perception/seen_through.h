#pragma once
/// \file
/// What the camera later (or earlier) sees through is kept out of the map.
///
/// The motion segmentation masks what it finds moving, but a person who
/// stands still, or is half hidden behind another, can go unmasked in a
/// keyframe and be fused into the map for good: a TSDF only clears space
/// near the surfaces it sees, so the wall seen behind that person later
/// never removes them. Here a keyframe waits until the frames around it
/// (`window_frames` before and after) have been tracked; a pixel is fused
/// only if no more than `min_views - 1` of those views see through its
/// point: their depth there lies beyond it by more than `n_sigma` standard
/// deviations of the two depths' noise (the sensor model) plus the
/// tracker's pose error. A static surface is seen at its place from every
/// view (or hidden behind something nearer, which is no evidence); a person
/// who has walked on is seen through. Each view's depth is taken as the
/// nearest of the 3x3 pixels the point falls on, so a projection a pixel
/// off at an edge does not count as seeing through.
#include <Eigen/Geometry>
#include <deque>
#include <string>
#include <vector>

#include "dyn4d/perception/motion_segmentation.h"
#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

struct SeenThroughConfig {
  /// Views checked on each side of a keyframe, and every how many frames
  /// one is kept (30 and 3: ten views a second on each side at 30 Hz).
  /// 0 frames: no check, keyframes are released as they come.
  int window_frames = 30;
  int view_every_frames = 3;
  int min_views = 2;     ///< views that must see through a pixel to keep it out
  double n_sigma = 3.0;  ///< of the two depths' noise
  /// The tracker's pose error between views up to a second apart, as a
  /// depth margin: 3-6 cm 45 frames apart measured on TUM fr1/rpy and
  /// 7-Scenes (MotionSegmentationConfig).
  double pose_error_m = 0.05;
  double min_depth_m = 0.3;  ///< depth outside [min, max] is not judged
  double max_depth_m = 6.0;
  DepthNoiseModel noise;
  std::vector<std::string> Validate() const;
};

class SeenThroughFilter {
 public:
  /// A frame ready for the map: its pose and its mask of what is kept out
  /// (mono8, nonzero = not fused: the moving mask it came with plus what
  /// was seen through).
  struct Ready {
    pipeline::RgbdFrame frame;
    Eigen::Isometry3d T_world_cam = Eigen::Isometry3d::Identity();
    pipeline::Image mask;
    int seen_through_pixels = 0;
  };

  explicit SeenThroughFilter(SeenThroughConfig config = {});

  /// The next tracked frame (in order; lost frames are not given). `fuse`:
  /// the frame is meant for the map (a keyframe). `moving` (mono8, frame
  /// size) may be null. Returns the frames meant for the map whose views
  /// are all in, oldest first.
  std::vector<Ready> Add(const pipeline::RgbdFrame& frame, const Eigen::Isometry3d& T_world_cam,
                         const pipeline::Image* moving, bool fuse);
  /// The frames still waiting, judged by the views there are.
  std::vector<Ready> Flush();

 private:
  struct View {
    uint64_t index;  // frames added before it
    int width, height;
    std::vector<uint16_t> nearest;  // nearest valid depth of each pixel's 3x3, 0 = none
    double depth_scale;
    pipeline::CameraIntrinsics K;
    Eigen::Isometry3d T_cam_world;
  };
  struct Pending {
    uint64_t index;
    Ready ready;
    std::vector<uint8_t> votes;  // views seeing through each pixel (none: window 0)
  };
  void Vote(Pending& p, const View& v) const;
  Ready Finish(Pending&& p) const;

  SeenThroughConfig c_;
  uint64_t added_ = 0;
  std::deque<View> views_;  // the last window_frames frames' views
  std::deque<Pending> pending_;
};

}  // namespace dyn4d::perception
