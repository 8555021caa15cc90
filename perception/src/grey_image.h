#pragma once
// A colour image's grey, for the OpenCV feature and flow code.

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception::internal {

/// The grey of a bgr8, rgb8 or mono8 image (mono8: a view of its pixels, no
/// copy); empty for an empty image or any other encoding.
inline cv::Mat GreyOf(const pipeline::Image& color) {
  const bool mono = color.encoding == pipeline::PixelEncoding::kMono8;
  if (color.empty() || !(mono || color.encoding == pipeline::PixelEncoding::kBgr8 ||
                         color.encoding == pipeline::PixelEncoding::kRgb8))
    return {};
  const cv::Mat view(color.height, color.width, mono ? CV_8UC1 : CV_8UC3,
                     const_cast<uint8_t*>(color.data.data()));
  if (mono) return view;
  cv::Mat grey;
  cv::cvtColor(view, grey, cv::COLOR_BGR2GRAY);  // channel order barely matters for grey
  return grey;
}

}  // namespace dyn4d::perception::internal
