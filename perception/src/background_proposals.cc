#include "dyn4d/perception/background_proposals.h"

#include <algorithm>
#include <cmath>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/video.hpp>
#include <stdexcept>

#include "grey_image.h"

namespace dyn4d::perception {

std::vector<std::string> BackgroundProposalConfig::Validate() const {
  std::vector<std::string> p;
  if (work_width < 32 || work_width > 4096) p.push_back("work_width: must be in [32, 4096]");
  if (!(min_residual_flow_px > 0)) p.push_back("min_residual_flow_px: must be positive");
  if (!(static_camera_px >= 0)) p.push_back("static_camera_px: must be >= 0");
  if (min_pixels < 1) p.push_back("min_pixels: must be >= 1");
  return p;
}

struct BackgroundProposer::Impl {
  BackgroundProposalConfig c;
  cv::Mat prev;  // grey, work resolution
  cv::Ptr<cv::BackgroundSubtractorMOG2> mog;
  int still_frames = 0;
};

BackgroundProposer::BackgroundProposer(BackgroundProposalConfig config)
    : impl_(std::make_unique<Impl>()) {
  const auto problems = config.Validate();
  if (!problems.empty())
    throw std::invalid_argument("BackgroundProposalConfig: " + problems.front());
  impl_->c = std::move(config);
}
BackgroundProposer::~BackgroundProposer() = default;

BackgroundProposer::Result BackgroundProposer::Process(const pipeline::Image& color) {
  Impl& s = *impl_;
  Result r;
  switch (color.encoding) {
    case pipeline::PixelEncoding::kBgr8:
    case pipeline::PixelEncoding::kRgb8:
    case pipeline::PixelEncoding::kMono8:
      break;
    default:
      r.message = std::string("color is ") + pipeline::ToString(color.encoding) +
                  " (needs bgr8, rgb8 or mono8)";
      return r;
  }
  if (color.empty()) {
    r.message = "empty image";
    return r;
  }
  const cv::Mat grey = internal::GreyOf(color);
  cv::Mat small;
  const double scale = std::min(1.0, double(s.c.work_width) / color.width);
  cv::resize(grey, small, cv::Size(), scale, scale, cv::INTER_AREA);
  if (s.prev.empty() || s.prev.size() != small.size()) {
    s.prev = small;
    s.mog.release();
    r.message = "first frame";
    return r;
  }
  // Camera motion: a homography from tracked corners (RANSAC drops the
  // corners on moving objects).
  std::vector<cv::Point2f> p0, p1;
  cv::goodFeaturesToTrack(s.prev, p0, 400, 0.01, 6);
  cv::Mat H = cv::Mat::eye(3, 3, CV_64F);
  if (p0.size() >= 8) {
    std::vector<uchar> ok;
    std::vector<float> err;
    cv::calcOpticalFlowPyrLK(s.prev, small, p0, p1, ok, err);
    std::vector<cv::Point2f> a, b;
    for (size_t i = 0; i < ok.size(); ++i)
      if (ok[i]) a.push_back(p0[i]), b.push_back(p1[i]);
    if (a.size() >= 8) {
      const cv::Mat h = cv::findHomography(a, b, cv::RANSAC, 1.0);
      if (!h.empty()) H = h;
    }
  }
  // Mean displacement the homography causes at the corners of the image.
  std::vector<cv::Point2f> corners = {{0, 0},
                                      {float(small.cols), 0},
                                      {0, float(small.rows)},
                                      {float(small.cols), float(small.rows)}},
                           moved;
  cv::perspectiveTransform(corners, moved, H);
  for (size_t i = 0; i < 4; ++i) r.camera_motion_px += cv::norm(moved[i] - corners[i]) / 4;
  r.camera_still = r.camera_motion_px < s.c.static_camera_px;
  // Residual motion: dense flow from the motion-compensated previous frame.
  cv::Mat warped, flow;
  cv::warpPerspective(s.prev, warped, H, small.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  // Auto exposure changes brightness between frames; the flow assumes it
  // constant. One gain and offset (the means and deviations of the two
  // views) take most of it out.
  {
    cv::Scalar m0, s0, m1, s1;
    cv::meanStdDev(warped, m0, s0);
    cv::meanStdDev(small, m1, s1);
    if (s0[0] > 1 && s1[0] > 1)
      warped.convertTo(warped, -1, s1[0] / s0[0], m1[0] - m0[0] * s1[0] / s0[0]);
  }
  cv::calcOpticalFlowFarneback(warped, small, flow, 0.5, 3, 9, 3, 5, 1.1, 0);
  cv::Mat fxy[2], magnitude;
  cv::split(flow, fxy);
  cv::magnitude(fxy[0], fxy[1], magnitude);
  // Not the epipolar distance: a camera panning after people who walk
  // across moves them along its epipolar lines, where that test is blind.
  // Parallax stays residual flow (the noise scale below absorbs some).
  // What the flow's own noise allows, measured on this frame: most of the
  // image is static, so the median residual is noise (its robust sigma,
  // 1.4826 x median, for a half-normal scaled by 1/0.6745 ~ 1.48). Blur,
  // low texture and compression raise it; the configured floor stays.
  std::vector<float> all(magnitude.begin<float>(), magnitude.end<float>());
  std::nth_element(all.begin(), all.begin() + all.size() / 2, all.end());
  const double noise_sigma = 1.4826 * all[all.size() / 2];
  const double threshold = std::max(s.c.min_residual_flow_px, 4.0 * noise_sigma);
  cv::Mat moving = magnitude > threshold;
  // Where the previous frame did not see (the view moved in from outside
  // its borders) the warp invents content: no evidence there, nor within
  // the reach of the flow's window at its coarsest level (9 px at 1/4
  // resolution: 18 px either side).
  cv::Mat seen_before;
  cv::warpPerspective(cv::Mat(s.prev.size(), CV_8U, cv::Scalar(255)), seen_before, H, small.size(),
                      cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::erode(seen_before, seen_before, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(37, 37)),
            cv::Point(-1, -1), 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  moving &= seen_before;
  // Saturated or black pixels carry no motion: the flow there is whatever
  // the smoothing brings in from around.
  moving &= (small < 250) & (small > 5);
  // While the camera stands still, the background model adds what stopped
  // flowing for a moment but is not background.
  if (s.c.use_background_model) {
    if (!r.camera_still) {
      s.mog.release();
      s.still_frames = 0;
    } else {
      if (!s.mog) s.mog = cv::createBackgroundSubtractorMOG2(300, 25, false);
      cv::Mat fg;
      s.mog->apply(small, fg);
      if (++s.still_frames > 10) moving |= fg > 0;  // model warmed up
    }
  }
  s.prev = small;
  cv::morphologyEx(moving, moving, cv::MORPH_OPEN,
                   cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(3, 3)));
  cv::morphologyEx(moving, moving, cv::MORPH_CLOSE,
                   cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(7, 7)));
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(moving, labels, stats, centroids, 8, CV_32S);
  for (int k = 1; k < n; ++k) {
    const int area = stats.at<int>(k, cv::CC_STAT_AREA);
    if (area / (scale * scale) < s.c.min_pixels) continue;
    const int x = stats.at<int>(k, cv::CC_STAT_LEFT), y = stats.at<int>(k, cv::CC_STAT_TOP);
    const int w = stats.at<int>(k, cv::CC_STAT_WIDTH), h = stats.at<int>(k, cv::CC_STAT_HEIGHT);
    pipeline::Detection d;
    const int X0 = std::clamp(int(x / scale), 0, color.width - 1);
    const int Y0 = std::clamp(int(y / scale), 0, color.height - 1);
    const int X1 = std::clamp(int((x + w) / scale), X0 + 1, color.width);
    const int Y1 = std::clamp(int((y + h) / scale), Y0 + 1, color.height);
    d.box = {float(X0), float(Y0), float(X1 - X0), float(Y1 - Y0)};
    // Mask at full resolution: the component, scaled up (nearest).
    cv::Mat comp = labels(cv::Rect(x, y, w, h)) == k, full;
    cv::resize(comp, full, cv::Size(X1 - X0, Y1 - Y0), 0, 0, cv::INTER_NEAREST);
    d.mask = pipeline::Image::Allocate(full.cols, full.rows, pipeline::PixelEncoding::kMono8);
    for (int row = 0; row < full.rows; ++row)
      std::memcpy(d.mask.data.mutable_data() + static_cast<size_t>(row) * full.cols,
                  full.ptr<uint8_t>(row), full.cols);
    d.score = static_cast<float>(cv::mean(magnitude(cv::Rect(x, y, w, h)), comp)[0]);
    r.proposals.push_back(std::move(d));
  }
  return r;
}

}  // namespace dyn4d::perception
