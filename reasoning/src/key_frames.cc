#include "dyn4d/reasoning/key_frames.h"

#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "dyn4d/pipeline/codec.h"

namespace dyn4d::reasoning {

KeyFrames::KeyFrames(int max_frames, double every_s)
    : max_frames_(std::max(1, max_frames)), every_s_(every_s) {}

void KeyFrames::Add(const pipeline::RgbdFrame& frame, const pipeline::Tracks& tracks) {
  const double t = frame.meta.stamp_ns / 1e9;
  if (t - last_t_ < every_s_ || frame.color.empty()) return;
  if (frame.color.encoding != pipeline::PixelEncoding::kBgr8 &&
      frame.color.encoding != pipeline::PixelEncoding::kRgb8)
    return;
  last_t_ = t;
  Kept k{t, frame.color, {}};
  for (const auto& tr : tracks.items) k.objects[tr.track_id] = {tr.box, tr.mask};
  frames_.push_back(std::move(k));
  // Full: drop every other frame (the stream stays covered evenly) and keep
  // frames twice as far apart from now on.
  if (static_cast<int>(frames_.size()) > max_frames_) {
    std::vector<Kept> thinned;
    for (size_t i = 0; i < frames_.size(); i += 2) thinned.push_back(std::move(frames_[i]));
    frames_ = std::move(thinned);
    every_s_ *= 2;
  }
}

std::vector<std::string> KeyFrames::DataUrls(int64_t track_id) const {
  bool seen = false;
  for (const Kept& k : frames_) seen |= k.objects.count(track_id) > 0;
  std::vector<std::string> urls;
  for (const Kept& k : frames_) {
    if (seen && !k.objects.count(track_id)) continue;
    cv::Mat img(k.color.height, k.color.width, CV_8UC3, const_cast<uint8_t*>(k.color.data.data()));
    cv::Mat bgr;
    if (k.color.encoding == pipeline::PixelEncoding::kRgb8)
      cv::cvtColor(img, bgr, cv::COLOR_RGB2BGR);
    else
      bgr = img.clone();
    if (seen) {
      const auto& [box, mask] = k.objects.at(track_id);
      const cv::Rect r = cv::Rect(int(box.x), int(box.y), int(box.w), int(box.h)) &
                         cv::Rect(0, 0, bgr.cols, bgr.rows);
      cv::Mat m(bgr.rows, bgr.cols, CV_8U, cv::Scalar(0));
      if (!mask.empty() && mask.width == int(box.w) && mask.height == int(box.h)) {
        const cv::Mat mm(mask.height, mask.width, CV_8U, const_cast<uint8_t*>(mask.data.data()));
        const cv::Rect src(r.x - int(box.x), r.y - int(box.y), r.width, r.height);
        mm(src).copyTo(m(r));
      } else {
        m(r).setTo(255);
      }
      // Tint the object, outline it: appearance kept, the object stands out.
      cv::Mat tinted = bgr.clone();
      tinted.setTo(cv::Scalar(0, 0, 255), m);
      cv::addWeighted(bgr, 0.55, tinted, 0.45, 0, tinted);
      tinted.copyTo(bgr, m);
      std::vector<std::vector<cv::Point>> contours;
      cv::findContours(m, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
      cv::drawContours(bgr, contours, -1, cv::Scalar(0, 0, 255), 2);
    }
    std::vector<uint8_t> jpeg;
    cv::imencode(".jpg", bgr, jpeg, {cv::IMWRITE_JPEG_QUALITY, 85});
    urls.push_back("data:image/jpeg;base64," + pipeline::Base64(jpeg.data(), jpeg.size()));
  }
  return urls;
}

}  // namespace dyn4d::reasoning
