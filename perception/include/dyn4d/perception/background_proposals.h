#pragma once
/// \file
/// Moving-object proposals for RGB-only video (no depth, no poses): 2D only.
/// Camera motion is estimated as a homography between consecutive frames
/// (sparse optical flow + RANSAC) and removed; what still moves - dense
/// optical flow left over after the homography, and, while the camera
/// stands still, what a Gaussian-mixture background model (MOG2) calls
/// foreground - is grouped into connected regions with a box and a mask.
/// Where the scene is far from planar and the camera translates, parallax
/// leaves residual flow too: raise `min_residual_flow_px` there. What moved
/// between two frames spans both places, so boxes run a few pixels past the
/// object on its trailing side (a 40 px square moving 5-8 px a frame gets
/// boxes with IoU 0.46-0.55 against it).
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

struct BackgroundProposalConfig {
  int work_width = 320;               ///< frames are shrunk to this width first
  double min_residual_flow_px = 1.0;  ///< at work resolution, per frame
  double static_camera_px = 0.3;      ///< below this mean motion the camera counts as still
  int min_pixels = 150;               ///< full-resolution pixels a proposal needs
  bool use_background_model = true;   ///< MOG2 while the camera is still
  std::vector<std::string> Validate() const;
};

class BackgroundProposer {
 public:
  struct Result {
    std::vector<pipeline::Detection> proposals;  ///< box, mask, score (mean residual flow, px)
    bool camera_still = false;
    double camera_motion_px = 0;  ///< mean homography displacement at work resolution
    std::string message;          ///< why nothing was proposed (first frame, bad image), else empty
  };
  explicit BackgroundProposer(BackgroundProposalConfig config = {});
  ~BackgroundProposer();
  /// The next frame of the video (bgr8, rgb8 or mono8 color).
  Result Process(const pipeline::Image& color);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::perception
