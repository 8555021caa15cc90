#pragma once
/// \file
/// Depth from a rectified stereo pair: OpenCV semi-global block matching
/// (Hirschmüller 2008) with optional weighted-least-squares disparity
/// filtering (opencv_contrib ximgproc; Min et al. 2014), and the Middlebury
/// bad-pixel metric used to measure it.

#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::io {

struct StereoConfig {
  int num_disparities = 128;  ///< search range in pixels, multiple of 16
  int block_size = 5;         ///< odd, 3..11; larger is smoother, less detailed
  /// WLS filtering of the left disparity with the right-view consistency
  /// check: fills weak-texture areas and snaps edges to the colour image.
  bool wls = true;
  double wls_lambda = 8000;  ///< smoothness strength
  double wls_sigma = 1.5;    ///< edge sensitivity to the colour image
  std::vector<std::string> Validate() const;
};

/// Disparity of `left` against `right` (both bgr8 or mono8, same size,
/// rectified), 32FC1 in pixels, 0 where unknown. Throws std::invalid_argument
/// on mismatched inputs.
pipeline::Image ComputeDisparity(const pipeline::Image& left, const pipeline::Image& right,
                                 const StereoConfig& config);

/// Depth (mono16, units of 1/depth_scale m) from disparity: z = fx * B / d.
pipeline::Image DisparityToDepth(const pipeline::Image& disparity, double fx, double baseline_m,
                                 double depth_scale);

/// Ground-truth disparity from a Middlebury file: PFM (float, inf = unknown,
/// rows bottom-up) or 8-bit PNG (0 = unknown, value = disparity * `png_scale`).
/// Returns 32FC1 with 0 for unknown. Throws std::runtime_error naming the file.
pipeline::Image ReadGroundTruthDisparity(const std::string& path, double png_scale = 1.0);

struct BadPixelResult {
  double bad_percent =
      0;  ///< % of valid-GT pixels with |d - gt| > threshold (no estimate counts as bad)
  double invalid_percent = 0;  ///< % of valid-GT pixels with no estimate
  size_t evaluated = 0;        ///< valid-GT pixels
};
/// Middlebury "bad N" over pixels with valid ground truth, ignoring the
/// leftmost `ignore_left_px` columns (no match possible there).
BadPixelResult BadPixelRate(const pipeline::Image& disparity, const pipeline::Image& ground_truth,
                            double threshold_px, int ignore_left_px);

}  // namespace dyn4d::io
