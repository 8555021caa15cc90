#pragma once
/// \file
/// Dense RGB-D camera tracking, frame to keyframe: coarse-to-fine
/// Gauss-Newton on a photometric term (intensity difference, as DVO, Kerl et
/// al. 2013) and a geometric term (point-to-plane distance to the current
/// depth, as KinectFusion's ICP), robustly weighted (Huber, redescending beyond 3k) so that moving
/// objects and depth noise do not drive the pose; pixels of a moving-object
/// mask (SceneTracker finds the moving objects) are left out entirely, of
/// the frame and of a keyframe made of it. A constant-velocity prior seeds
/// each frame, so fast rotations (TUM fr1/rpy: 3-4 degrees a frame) converge.

#include <Eigen/Geometry>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

class RgbdOdometry {
 public:
  struct Config {
    /// Pyramid levels used, finest is `finest_level`. Measured trade-off: 4
    /// (down to 40x30) helps 3-4 degree/frame rotations (TUM fr1/rpy RPE
    /// 0.45 -> 0.41 deg) but lets moving objects capture the coarsest level
    /// (synthetic, 16 % moving pixels, unmasked: ATE 3 mm -> 13 cm).
    int levels = 3;
    int finest_level = 1;  ///< 0 = full resolution, 1 = half (4x faster, same accuracy here)
    std::vector<int> iterations = {6, 8, 10};  ///< per level, finest first
    double min_depth_m = 0.2;                  ///< depth outside [min, max] is ignored
    double max_depth_m = 5.0;
    /// Photometric noise, intensity in [0, 1] (the starting scale and, times
    /// adaptive_floor, the smallest one). Larger trusts depth more.
    double sigma_intensity = 0.1;
    double sigma_depth_m = 0.01;  ///< point-to-plane noise at 1 m (grows with z^2)
    /// Robust threshold in sigmas. 0.7 rather than the textbook 1.345: with
    /// 16 % of the pixels on moving objects (synthetic test) it cuts the
    /// error from 62 mm to 3 mm, and it is best of 0.7/1.0/1.345 on 7-Scenes.
    double huber_k = 0.7;
    /// Re-estimate the residual scales from the data (1.4826 * MAD) each
    /// iteration, down to adaptive_floor * the sigmas above.
    bool adaptive_scale = true;
    double adaptive_floor = 0.2;
    double max_depth_diff_m =
        0.03;  ///< association gate for the geometric term (finest level, x2 per level)
    double keyframe_translation_m = 0.12;  ///< new keyframe beyond this motion ...
    double keyframe_rotation_deg = 10.0;   ///< ... or this rotation from the current keyframe
    double keyframe_min_overlap = 0.6;     ///< ... or when fewer keyframe pixels stay in view
    /// Weight each keyframe pixel's residuals by the scene surface it
    /// covers (its footprint grows with depth squared) instead of alike, so
    /// the pose follows what most of the scene does rather than what fills
    /// most of the image: a person 1.5 m away covers as many pixels as
    /// seven times their area of wall 4 m away. Off by default: where
    /// moving objects are masked, near surfaces are the precise ones; the
    /// scene tracker's rough pass, which has no masks yet, turns it on.
    bool weight_by_surface_area = false;
    /// Sliding-window refinement: the last `window_size` keyframe poses are
    /// optimised together in Ceres (point-to-plane between keyframe pairs,
    /// Huber loss, a prior to the tracked poses) at every new keyframe; 0 or
    /// 1 turns it off. Off by default: measured, it helps on synthetic data
    /// (1.5 -> 1.4 mm ATE) but not on 7-Scenes (2.20 -> 2.62 cm) or TUM
    /// fr1/rpy (0.453 -> 0.485 deg/frame RPE); see README.
    int window_size = 0;
    int window_samples = 400;  ///< residual sources per keyframe
    /// When the last frame-to-frame rotation exceeds this, the previous frame
    /// is aligned too (every level, every second pixel), on the same
    /// unknown; >= 180 turns it off. Measured on TUM fr1/rpy: off 0.449,
    /// 1.5 deg 0.398, 1.0 deg 0.390 deg/frame RPE; 7-Scenes unchanged.
    double previous_frame_above_deg = 1.0;
    /// Re-project depth taken at another instant than colour
    /// (RgbdFrame::depth_offset_ns) to the colour's time, using the
    /// constant-velocity motion, so that the photometric and the geometric
    /// term measure the same pose. Measured on TUM fr1/rpy (depth 0-11 ms
    /// after colour, mean 3.8 ms): rotational RPE 0.390 -> 0.360 deg/frame,
    /// ATE 0.031 -> 0.029 m, translational RPE 4.2 -> 5.4 mm/frame.
    /// The first keyframe, built before any velocity is known, is rebuilt
    /// once the second frame gives one.
    bool compensate_depth_time = true;
    /// Uncertain (reported lost: the prediction stands in, nothing reaches
    /// the map, the keyframe stays) when less than this share of the
    /// keyframe is visible in the frame (not out of view, not hidden by a
    /// moving object or missing depth).
    double min_visible_fraction = 0.15;
    /// A frame that fails the checks below is reported lost with the
    /// prediction as its pose, but tracking only restarts (a new keyframe
    /// at the prediction) after this many such frames in a row: a person
    /// passing right in front of the camera should not cut the chain.
    int max_uncertain_frames = 0;
    double lost_min_inliers = 0.25;  ///< lost below this fraction of keyframe pixels agreeing
    /// Lost if a frame lands farther than this from the constant-velocity
    /// prediction (0.1 m in one frame at 30 fps is a 3 m/s velocity change;
    /// n uncertain frames before allow n + 1 times as much) ...
    double lost_max_jump_m = 0.1;
    double lost_max_jump_deg = 20;  ///< ... or rotates more than this from the prediction
    std::vector<std::string> Validate() const;
  };

  /// What Track returns for each frame.
  struct Result {
    enum class Status {
      kOk,           ///< pose valid
      kInitialised,  ///< first frame or re-initialisation: pose is the last good one
      kLost,         ///< tracking failed; pose is the prediction, do not integrate
    };
    Status status = Status::kLost;
    std::string message;  ///< why, for kLost
    Eigen::Isometry3d T_world_cam = Eigen::Isometry3d::Identity();
    bool is_keyframe = false;
    /// Keyframe pixels agreeing at the finest level, of those not hidden by
    /// a moving object in this frame.
    double inlier_fraction = 0;
    double overlap = 0;  ///< keyframe pixels that project into this frame
    int iterations = 0;
    double time_ms = 0;
    bool usable() const { return status != Status::kLost; }
  };

  RgbdOdometry();
  explicit RgbdOdometry(Config config);
  ~RgbdOdometry();
  RgbdOdometry(RgbdOdometry&&) noexcept;

  /// Tracks one frame. `dynamic_mask` (mono8, frame size, nonzero = moving
  /// object) removes pixels from both terms. Frames without depth, with
  /// inconsistent sizes or intrinsics are reported kLost, not thrown.
  Result Track(const pipeline::RgbdFrame& frame, const pipeline::Image* dynamic_mask = nullptr);

  /// Forgets the keyframe; the next frame re-initialises at the last pose.
  void Reset();
  const Config& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string ToString(RgbdOdometry::Result::Status s);

/// The pose message of a tracked frame: kLost unless the result is usable.
pipeline::CameraPose PoseMessage(const RgbdOdometry::Result& r, const pipeline::MessageMeta& meta);

}  // namespace dyn4d::perception
