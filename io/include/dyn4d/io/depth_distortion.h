#pragma once
/// \file
/// A depth sensor's low-order distortion, and its self-calibration from
/// overlapping views of a static scene.
///
/// Structured-light sensors (Kinect v1, Asus Xtion) report depth with an
/// error that varies smoothly over the image and no rigid motion explains
/// (Herrera, Kannala and Heikkila 2012; Teichman, Miller and Thrun, "CLAMS",
/// RSS 2013). Bonn RGB-D Dynamic's Xtion reads the left edge of the image
/// about 5 % short: panning the camera, the depth term of the odometry
/// trades rotation for sideways slide to fit it. The model:
///
///   true depth = measured depth * m(x, y),
///   m = 1 + kx x + ky y + kxx x^2 + kxy x y + kyy y^2,
///
/// with x = (u - cx) / fx, y = (v - cy) / fy the pixel's normalised
/// coordinates. There is no constant term: a common scale of every depth is a
/// scale of the whole scene, which overlapping views cannot see (that is the
/// depth scale's business), and a smooth error of the whole image is what
/// these sensors have; a per-pixel (CLAMS) or depth-dependent model needs far
/// more views than a few seconds of video give.
///
/// CalibrateDepthDistortion finds the terms from frames of a static scene and
/// starting camera poses (dyn4d's own tracking: `dyn4d calibrate depth`): each
/// pair of frames some way apart gets its own relative pose, and the terms and
/// those poses are fitted together so that each frame's depth, moved into the
/// other frame, meets that frame's depth. Fitting the poses with the model is
/// what keeps the ground truth out of it: an error a rigid motion can explain
/// is left to the poses.
#include <Eigen/Geometry>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::io {

struct DepthDistortionModel {
  /// kx, ky, kxx, kxy, kyy (see the file comment); all 0: no distortion.
  std::array<double, 5> k{0, 0, 0, 0, 0};
  /// The input node's parameter for each term, in the order of `k`.
  static constexpr std::array<const char*, 5> kParamNames{"depth_kx", "depth_ky", "depth_kxx",
                                                          "depth_kxy", "depth_kyy"};
  /// The factor for a pixel at normalised coordinates (x, y).
  double Multiplier(double x, double y) const {
    return 1 + k[0] * x + k[1] * y + k[2] * x * x + k[3] * x * y + k[4] * y * y;
  }
  bool IsIdentity() const { return k == std::array<double, 5>{0, 0, 0, 0, 0}; }
  /// The input node's params for this model, "depth_kx=-0.02300" ... (the
  /// precision `dyn4d calibrate depth` prints).
  std::vector<std::string> ParamAssignments() const;
  /// Problems for images of these intrinsics, each naming the parameter: a
  /// non-finite term, or a factor outside [0.8, 1.25] at a corner of the
  /// image (no real sensor is 20 % off; a typo is).
  std::vector<std::string> Validate(const pipeline::CameraIntrinsics& intrinsics) const;
};

/// The depth image corrected by the model: each valid pixel (mono16 in depth
/// units, or float32 metres) times its factor; 0 (invalid) stays 0, mono16
/// saturates at 65535. Throws std::invalid_argument for another encoding or
/// intrinsics that do not match the image.
pipeline::Image CorrectDepth(const pipeline::Image& depth,
                             const pipeline::CameraIntrinsics& intrinsics,
                             const DepthDistortionModel& model);

struct DepthSelfCalibrationConfig {
  /// Frame pairs (i, i + d) for each d: wide pairs see the same surfaces at
  /// other places in the image, which is what tells distortion from motion.
  std::vector<int> pair_separations{10, 25, 40};
  int pair_stride = 5;  ///< first frames of pairs every this many frames
  int pixel_step = 8;   ///< samples on a grid of this spacing (pixels) in the pair's first frame
  /// Depth noise sigma(z) = base + quadratic * z^2 (metres; the structured-
  /// light error model of Khoshelham and Elberink 2012, with a floor for
  /// quantisation): residuals are in units of it.
  double sigma_base_m = 0.003;
  double sigma_quadratic = 0.0015;
  double huber_sigmas = 2;     ///< robust (Huber) loss beyond this many sigmas
  double outlier_sigmas = 10;  ///< beyond this: not the same surface (occlusion, motion), dropped
  double min_depth_m = 0.3, max_depth_m = 6;
  /// Bilinear depth look-ups only where the four neighbours are valid and
  /// within this fraction of each other (not across a depth edge).
  double max_neighbour_spread = 0.05;
  int max_iterations = 50;
  int min_pairs = 3;  ///< fewer usable pairs: no calibration (kFailed)
  std::vector<std::string> Validate() const;
};

/// One frame for the calibration: its depth and where the camera was
/// (T_world_cam; a starting guess, e.g. from tracking). Frames that tracking
/// lost are left out by the caller.
struct DepthCalibrationView {
  const pipeline::RgbdFrame* frame = nullptr;
  Eigen::Isometry3d T_world_cam = Eigen::Isometry3d::Identity();
};

struct DepthSelfCalibrationResult {
  enum class Status { kOk, kFailed };
  Status status = Status::kFailed;
  std::string message;  ///< why it failed
  DepthDistortionModel model;
  int pairs = 0;                ///< frame pairs used
  int64_t comparisons = 0;      ///< depth samples compared (after the fit, within outlier_sigmas)
  double rms_rigid_sigmas = 0;  ///< residual RMS with only the pairs' poses fitted
  double rms_model_sigmas = 0;  ///< ... with the poses and the model fitted together
  double seconds = 0;
  /// The share of the rigid-only disagreement the model takes away.
  double ExplainedShare() const {
    return rms_rigid_sigmas > 0 ? 1 - rms_model_sigmas / rms_rigid_sigmas : 0;
  }
};

/// Fits the model to `views` (in time order, one static scene, all with the
/// same intrinsics and depth size). Pairs are (i, i + d) by position in
/// `views`.
DepthSelfCalibrationResult CalibrateDepthDistortion(const std::vector<DepthCalibrationView>& views,
                                                    const DepthSelfCalibrationConfig& config = {});

}  // namespace dyn4d::io
