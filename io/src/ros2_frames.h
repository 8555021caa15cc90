#pragma once
// ROS 2 camera messages -> dyn4d frames: colour and depth images paired by
// header stamp (within 20 ms), intrinsics from CameraInfo. Shared by the
// rosbag2 source and the live ROS 2 source.
#include <map>
#include <optional>
#include <string>

#include "dyn4d/io/sources.h"
#include "dyn4d/ros2/convert.h"

namespace dyn4d::io::internal {

class Ros2FramePairer {
 public:
  /// `what` names the source in messages; `source_id` goes into frames.
  Ros2FramePairer(std::string what, std::string source_id, bool expect_depth,
                  std::optional<pipeline::CameraIntrinsics> given)
      : what_(std::move(what)),
        source_id_(std::move(source_id)),
        expect_depth_(expect_depth),
        given_(given) {}

  void AddColor(ros2::Image img) { colors_[ros2::ToNs(img.header.stamp)] = std::move(img); }
  void AddDepth(ros2::Image img) { depths_[ros2::ToNs(img.header.stamp)] = std::move(img); }
  void SetInfo(ros2::CameraInfo info) { info_ = std::move(info); }
  bool has_intrinsics() const { return info_ || given_; }

  /// A frame (or a skipped colour image with the reason) when one is ready.
  std::optional<SourceRead> Next() {
    constexpr int64_t kTolerance = 20'000'000;
    if (colors_.empty()) return std::nullopt;
    auto c = colors_.begin();
    const int64_t t = c->first;
    auto d = depths_.end();
    if (expect_depth_) {
      d = depths_.lower_bound(t - kTolerance);
      if (d == depths_.end() || d->first > t + kTolerance) {
        // Wait while depth may still come; give up on this colour image
        // once newer depth has arrived or too many colour images wait.
        if (colors_.size() < 30 && (depths_.empty() || depths_.rbegin()->first < t))
          return std::nullopt;
        colors_.erase(c);
        return Skip("colour image at " + std::to_string(t) + " ns has no depth image within 20 ms");
      }
    }
    if (!has_intrinsics()) {
      if (colors_.size() > 30) colors_.erase(c);  // bounded while CameraInfo is missing
      return std::nullopt;
    }
    std::string why;
    auto color = ros2::FromImage(c->second, &why);
    std::optional<pipeline::Image> depth;
    if (color && d != depths_.end()) depth = ros2::FromImage(d->second, &why);
    if (!color || (d != depths_.end() && !depth)) {
      colors_.erase(c);
      return Skip(why);
    }
    SourceRead r;
    r.status = SourceRead::Status::kFrame;
    r.frame.meta = {emitted_++, t, source_id_};
    r.frame.color = std::move(*color);
    if (depth) {
      if (depth->width != r.frame.color.width || depth->height != r.frame.color.height) {
        colors_.erase(c);
        return Skip("depth is " + std::to_string(depth->width) + "x" +
                    std::to_string(depth->height) + ", colour " +
                    std::to_string(r.frame.color.width) + "x" +
                    std::to_string(r.frame.color.height) +
                    " (subscribe to depth registered to colour, e.g. aligned_depth_to_color)");
      }
      r.frame.depth = std::move(*depth);
      r.frame.depth_scale = 1000;              // FromImage gives millimetres
      r.frame.depth_offset_ns = d->first - t;  // depth's own time, relative to the colour's
      depths_.erase(depths_.begin(), std::next(d));
    }
    r.frame.intrinsics = info_ ? ros2::FromCameraInfo(*info_) : *given_;
    r.frame.intrinsics.width = r.frame.color.width;
    r.frame.intrinsics.height = r.frame.color.height;
    colors_.erase(colors_.begin());
    return r;
  }

 private:
  SourceRead Skip(const std::string& why) {
    SourceRead r;
    r.status = SourceRead::Status::kSkipped;
    r.message = what_ + ": " + why;
    return r;
  }
  std::string what_, source_id_;
  bool expect_depth_;
  std::optional<pipeline::CameraIntrinsics> given_;
  std::optional<ros2::CameraInfo> info_;
  std::map<int64_t, ros2::Image> colors_, depths_;
  uint64_t emitted_ = 0;
};

}  // namespace dyn4d::io::internal
