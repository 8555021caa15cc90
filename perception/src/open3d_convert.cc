#include "open3d_convert.h"

#include <cstring>

namespace dyn4d::perception::internal {

open3d::geometry::Image ToOpen3dImage(const pipeline::Image& img) {
  open3d::geometry::Image out;
  const int channels = pipeline::Channels(img.encoding),
            bytes = pipeline::BytesPerChannel(img.encoding);
  out.Prepare(img.width, img.height, channels, bytes);
  std::memcpy(out.data_.data(), img.data.data(), img.data.size());
  if (img.encoding == pipeline::PixelEncoding::kBgr8)
    for (size_t i = 0; i < out.data_.size(); i += 3) std::swap(out.data_[i], out.data_[i + 2]);
  return out;
}

std::shared_ptr<open3d::geometry::RGBDImage> ToOpen3dRgbd(const pipeline::RgbdFrame& f,
                                                          const pipeline::Image* mask,
                                                          double max_depth_m, bool to_intensity) {
  open3d::geometry::Image depth = ToOpen3dImage(f.depth);
  if (mask && mask->width == f.depth.width && mask->height == f.depth.height &&
      f.depth.encoding == pipeline::PixelEncoding::kMono16) {
    auto* d = reinterpret_cast<uint16_t*>(depth.data_.data());
    for (size_t i = 0; i < mask->data.size(); ++i)
      if (mask->data.data()[i]) d[i] = 0;
  }
  return open3d::geometry::RGBDImage::CreateFromColorAndDepth(
      ToOpen3dImage(f.color), depth, f.depth_scale, max_depth_m, to_intensity);
}

open3d::camera::PinholeCameraIntrinsic ToOpen3dIntrinsics(const pipeline::CameraIntrinsics& k) {
  return open3d::camera::PinholeCameraIntrinsic(k.width, k.height, k.fx, k.fy, k.cx, k.cy);
}

}  // namespace dyn4d::perception::internal
