#pragma once
// OpenCV <-> pipeline::Image without copies (internal to io/).
#include <opencv2/core.hpp>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::io::internal {

/// Wraps a continuous cv::Mat (CV_8UC3 as `encoding`, CV_8UC1, CV_16UC1,
/// CV_32FC1) as an Image that keeps the Mat's buffer alive. Copies only if the
/// Mat is not continuous.
inline pipeline::Image ToImage(const cv::Mat& mat_in, pipeline::PixelEncoding encoding) {
  cv::Mat mat = mat_in.isContinuous() ? mat_in : mat_in.clone();
  auto holder = std::make_shared<cv::Mat>(mat);
  pipeline::Image img;
  img.width = mat.cols;
  img.height = mat.rows;
  img.encoding = encoding;
  img.data = pipeline::Buffer(std::shared_ptr<const void>(holder, holder->data), holder->data,
                              mat.total() * mat.elemSize());
  return img;
}

/// A cv::Mat header on an Image's bytes (no copy; do not write through it).
inline cv::Mat ToMat(const pipeline::Image& img) {
  using pipeline::PixelEncoding;
  int type = CV_8UC3;
  switch (img.encoding) {
    case PixelEncoding::kBgr8:
    case PixelEncoding::kRgb8:
      type = CV_8UC3;
      break;
    case PixelEncoding::kMono8:
      type = CV_8UC1;
      break;
    case PixelEncoding::kMono16:
      type = CV_16UC1;
      break;
    case PixelEncoding::kFloat32:
      type = CV_32FC1;
      break;
  }
  return cv::Mat(img.height, img.width, type, const_cast<uint8_t*>(img.data.data()));
}

}  // namespace dyn4d::io::internal
