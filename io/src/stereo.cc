#include "dyn4d/io/stereo.h"

#include <cmath>
#include <fstream>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/ximgproc/disparity_filter.hpp>
#include <stdexcept>

#include "opencv_image.h"

namespace dyn4d::io {

using internal::ToImage;
using internal::ToMat;
using pipeline::Image;
using pipeline::PixelEncoding;

std::vector<std::string> StereoConfig::Validate() const {
  std::vector<std::string> p;
  if (num_disparities < 16 || num_disparities % 16 != 0)
    p.push_back("num_disparities: must be a positive multiple of 16");
  if (block_size < 3 || block_size > 11 || block_size % 2 == 0)
    p.push_back("block_size: must be odd, 3..11");
  if (!(wls_lambda > 0) || !(wls_sigma > 0)) p.push_back("wls_lambda, wls_sigma: must be positive");
  return p;
}

Image ComputeDisparity(const Image& left, const Image& right, const StereoConfig& c) {
  if (left.width != right.width || left.height != right.height)
    throw std::invalid_argument("stereo: left " + std::to_string(left.width) + "x" +
                                std::to_string(left.height) + " and right " +
                                std::to_string(right.width) + "x" + std::to_string(right.height) +
                                " differ in size");
  cv::Mat l = ToMat(left), r = ToMat(right);
  // SGBM in its usual setting: P1/P2 scaled by the block area (OpenCV sample).
  const int channels = l.channels();
  auto sgbm = cv::StereoSGBM::create(0, c.num_disparities, c.block_size,
                                     8 * channels * c.block_size * c.block_size,
                                     32 * channels * c.block_size * c.block_size, 1, 63, 10, 100,
                                     32, cv::StereoSGBM::MODE_SGBM_3WAY);
  cv::Mat disp16;  // fixed point, 1/16 px
  sgbm->compute(l, r, disp16);
  cv::Mat out;
  if (c.wls) {
    auto wls = cv::ximgproc::createDisparityWLSFilter(sgbm);
    auto right_matcher = cv::ximgproc::createRightMatcher(sgbm);
    cv::Mat right_disp16, filtered;
    right_matcher->compute(r, l, right_disp16);
    wls->setLambda(c.wls_lambda);
    wls->setSigmaColor(c.wls_sigma);
    wls->filter(disp16, l, filtered, right_disp16);
    filtered.convertTo(out, CV_32F, 1.0 / 16);
  } else {
    disp16.convertTo(out, CV_32F, 1.0 / 16);
  }
  cv::threshold(out, out, 0, 0, cv::THRESH_TOZERO);  // negative = no match
  return ToImage(out, PixelEncoding::kFloat32);
}

Image DisparityToDepth(const Image& disparity, double fx, double baseline_m, double depth_scale) {
  cv::Mat d = ToMat(disparity);
  cv::Mat depth(d.size(), CV_16UC1, cv::Scalar(0));
  for (int v = 0; v < d.rows; ++v)
    for (int u = 0; u < d.cols; ++u) {
      const float disp = d.at<float>(v, u);
      if (disp <= 0.5f) continue;  // too far to be meaningful
      const double z = fx * baseline_m / disp * depth_scale;
      if (z < 65535) depth.at<uint16_t>(v, u) = static_cast<uint16_t>(std::lround(z));
    }
  return ToImage(depth, PixelEncoding::kMono16);
}

namespace {
Image ReadPfm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  std::string magic;
  int w = 0, h = 0;
  double scale = 0;
  in >> magic >> w >> h >> scale;
  in.get();  // the single whitespace before the data
  if ((magic != "Pf" && magic != "PF") || w <= 0 || h <= 0 || w > 100000 || h > 100000)
    throw std::runtime_error("'" + path + "': not a PFM file (header '" + magic + "')");
  if (magic == "PF") throw std::runtime_error("'" + path + "': colour PFM, expected one channel");
  if (scale > 0) throw std::runtime_error("'" + path + "': big-endian PFM is not supported");
  cv::Mat m(h, w, CV_32FC1);
  for (int row = h - 1; row >= 0; --row)  // PFM stores the bottom row first
    in.read(reinterpret_cast<char*>(m.ptr<float>(row)), static_cast<std::streamsize>(w) * 4);
  if (!in) throw std::runtime_error("'" + path + "': truncated PFM data");
  for (int v = 0; v < h; ++v)
    for (int u = 0; u < w; ++u)
      if (!std::isfinite(m.at<float>(v, u))) m.at<float>(v, u) = 0;
  return ToImage(m, PixelEncoding::kFloat32);
}
}  // namespace

Image ReadGroundTruthDisparity(const std::string& path, double png_scale) {
  if (path.size() > 4 && path.substr(path.size() - 4) == ".pfm") return ReadPfm(path);
  cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (m.empty()) throw std::runtime_error("cannot read ground truth '" + path + "'");
  if (m.type() != CV_8UC1 && m.type() != CV_16UC1)
    throw std::runtime_error("'" + path + "': expected an 8- or 16-bit one-channel disparity PNG");
  cv::Mat f;
  m.convertTo(f, CV_32F, 1.0 / png_scale);
  return ToImage(f, PixelEncoding::kFloat32);
}

BadPixelResult BadPixelRate(const Image& disparity, const Image& ground_truth, double threshold_px,
                            int ignore_left_px) {
  if (disparity.width != ground_truth.width || disparity.height != ground_truth.height)
    throw std::invalid_argument("disparity and ground truth differ in size");
  cv::Mat d = ToMat(disparity), g = ToMat(ground_truth);
  size_t valid = 0, bad = 0, missing = 0;
  for (int v = 0; v < g.rows; ++v)
    for (int u = ignore_left_px; u < g.cols; ++u) {
      const float gt = g.at<float>(v, u);
      if (!(gt > 0)) continue;
      ++valid;
      const float est = d.at<float>(v, u);
      if (!(est > 0)) {
        ++missing;
        ++bad;
      } else if (std::abs(est - gt) > threshold_px) {
        ++bad;
      }
    }
  BadPixelResult r;
  r.evaluated = valid;
  r.bad_percent = valid ? 100.0 * bad / valid : 0;
  r.invalid_percent = valid ? 100.0 * missing / valid : 0;
  return r;
}

}  // namespace dyn4d::io
