#include "dyn4d/io/color_registration.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "opencv_image.h"

namespace dyn4d::io {

using pipeline::CameraIntrinsics;
using pipeline::Image;
using pipeline::PixelEncoding;

std::vector<std::string> ColorCameraModel::Validate() const {
  std::vector<std::string> problems;
  auto positive = [&](const char* name, double v) {
    if (!(v > 0) || !std::isfinite(v))
      problems.push_back(std::string(name) + ": must be > 0, got " + std::to_string(v));
  };
  positive("color_fx", intrinsics.fx);
  positive("color_fy", intrinsics.fy);
  positive("color_cx", intrinsics.cx);
  positive("color_cy", intrinsics.cy);
  const char* translation_names[3] = {"color_tx", "color_ty", "color_tz"};
  for (int i = 0; i < 3; ++i)
    if (!std::isfinite(t_color_depth[i]) || std::abs(t_color_depth[i]) > 1.0)
      problems.push_back(std::string(translation_names[i]) + ": must be within +-1 m, got " +
                         std::to_string(t_color_depth[i]));
  return problems;
}

namespace {

// Depth in metres as a float image (0 = invalid), whatever the encoding.
cv::Mat DepthMetres(const Image& depth, double depth_scale) {
  cv::Mat d = internal::ToMat(depth), m;
  if (depth.encoding == PixelEncoding::kMono16) {
    if (!(depth_scale > 0)) throw std::invalid_argument("depth_scale: must be positive");
    d.convertTo(m, CV_32F, 1.0 / depth_scale);
  } else if (depth.encoding == PixelEncoding::kFloat32) {
    m = d.clone();
    cv::patchNaNs(m, 0);
  } else {
    throw std::invalid_argument("depth: encoding must be mono16 or float32");
  }
  return m;
}

float MedianValid(const cv::Mat& z) {
  std::vector<float> v;
  v.reserve(z.total() / 16 + 1);
  for (int y = 0; y < z.rows; y += 4)
    for (int x = 0; x < z.cols; x += 4)
      if (z.at<float>(y, x) > 0) v.push_back(z.at<float>(y, x));
  if (v.empty()) return 2.0f;  // no depth at all: any plane; nothing is attached to 3D anyway
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// Look-up maps (colour pixel for every depth pixel) for cv::remap.
void RegistrationMaps(const cv::Mat& z, const CameraIntrinsics& kd, const ColorCameraModel& c,
                      cv::Mat& map_x, cv::Mat& map_y) {
  const float fallback = MedianValid(z);
  const CameraIntrinsics& kc = c.intrinsics;
  const Eigen::Vector3f t = c.t_color_depth.cast<float>();
  map_x.create(z.size(), CV_32F);
  map_y.create(z.size(), CV_32F);
  for (int v = 0; v < z.rows; ++v) {
    const float* zr = z.ptr<float>(v);
    float* mx = map_x.ptr<float>(v);
    float* my = map_y.ptr<float>(v);
    const float ry = static_cast<float>((v - kd.cy) / kd.fy);
    for (int u = 0; u < z.cols; ++u) {
      const float d = zr[u] > 0 ? zr[u] : fallback;
      const float X = static_cast<float>((u - kd.cx) / kd.fx) * d + t.x();
      const float Y = ry * d + t.y();
      const float Z = d + t.z();
      if (Z <= 0) {
        mx[u] = my[u] = -1;
        continue;
      }
      mx[u] = static_cast<float>(kc.fx * X / Z + kc.cx);
      my[u] = static_cast<float>(kc.fy * Y / Z + kc.cy);
    }
  }
}

}  // namespace

Image RegisterColorToDepth(const Image& color, const Image& depth, double depth_scale,
                           const CameraIntrinsics& depth_intrinsics,
                           const ColorCameraModel& color_camera) {
  if (color.empty()) throw std::invalid_argument("color: empty image");
  if (depth.empty()) throw std::invalid_argument("depth: empty image (registration needs depth)");
  if (depth_intrinsics.fx <= 0 || depth_intrinsics.fy <= 0)
    throw std::invalid_argument("intrinsics: fx and fy must be positive");
  if (const auto p = color_camera.Validate(); !p.empty()) throw std::invalid_argument(p.front());
  const cv::Mat z = DepthMetres(depth, depth_scale);
  cv::Mat map_x, map_y;
  RegistrationMaps(z, depth_intrinsics, color_camera, map_x, map_y);
  cv::Mat registered;
  cv::remap(internal::ToMat(color), registered, map_x, map_y, cv::INTER_LINEAR, cv::BORDER_CONSTANT,
            cv::Scalar::all(0));
  return internal::ToImage(registered, color.encoding);
}

// ---- calibration ----------------------------------------------------------------

namespace {

struct EdgePoint {
  float x, y, z;  // depth-camera coordinates, metres
};

struct CalibrationFrame {
  std::vector<EdgePoint> edges;
  cv::Mat strength;  // smoothed colour gradient magnitude, CV_32F, colour size
};

CalibrationFrame PrepareFrame(const pipeline::RgbdFrame& f) {
  CalibrationFrame out;
  cv::Mat gray, gx, gy;
  cv::Mat color = internal::ToMat(f.color);
  cv::cvtColor(color, gray, cv::COLOR_BGR2GRAY);  // channel order does not matter for edges
  gray.convertTo(gray, CV_32F);
  cv::Sobel(gray, gx, CV_32F, 1, 0);
  cv::Sobel(gray, gy, CV_32F, 0, 1);
  cv::magnitude(gx, gy, out.strength);
  // Smoothed so that the score varies smoothly with the parameters.
  cv::GaussianBlur(out.strength, out.strength, cv::Size(0, 0), 1.5);
  const cv::Mat z = DepthMetres(f.depth, f.depth_scale);
  const CameraIntrinsics& k = f.intrinsics;
  // A step of more than 5 cm (and 4 % of the depth) to the next pixel, where
  // the pixel on the other side continues this surface: an object's outline,
  // not a floor or wall seen at a grazing angle (steep on both sides).
  auto is_step = [&](float d, float next, float other_side) {
    const float jump = std::max(0.05f, 0.04f * d);
    return next > 0 && other_side > 0 && next - d > jump &&
           std::abs(d - other_side) < 0.25f * (next - d);
  };
  for (int v = 2; v + 2 < z.rows; ++v)
    for (int u = 2; u + 2 < z.cols; ++u) {
      const float d = z.at<float>(v, u);
      if (!(d > 0)) continue;
      // The foreground side of a step: its colour edge is where the object's outline is.
      if (is_step(d, z.at<float>(v, u + 1), z.at<float>(v, u - 1)) ||
          is_step(d, z.at<float>(v, u - 1), z.at<float>(v, u + 1)) ||
          is_step(d, z.at<float>(v + 1, u), z.at<float>(v - 1, u)) ||
          is_step(d, z.at<float>(v - 1, u), z.at<float>(v + 1, u)))
        out.edges.push_back({static_cast<float>((u - k.cx) / k.fx) * d,
                             static_cast<float>((v - k.cy) / k.fy) * d, d});
    }
  return out;
}

double Score(const std::vector<CalibrationFrame>& frames, const ColorCameraModel& c) {
  const auto& k = c.intrinsics;
  const float tx = static_cast<float>(c.t_color_depth.x()),
              ty = static_cast<float>(c.t_color_depth.y());
  double sum = 0;
  int64_t n = 0;
  for (const CalibrationFrame& f : frames) {
    const int w = f.strength.cols, h = f.strength.rows;
    for (const EdgePoint& p : f.edges) {
      const int u = static_cast<int>(std::floor(k.fx * (p.x + tx) / p.z + k.cx + 0.5));
      const int v = static_cast<int>(std::floor(k.fy * (p.y + ty) / p.z + k.cy + 0.5));
      if (u < 0 || v < 0 || u >= w || v >= h) continue;
      sum += f.strength.at<float>(v, u);
      ++n;
    }
  }
  return n ? sum / n : 0;
}

}  // namespace

ColorCalibrationResult CalibrateColorToDepth(const std::vector<pipeline::RgbdFrame>& frames) {
  ColorCalibrationResult r;
  std::vector<CalibrationFrame> prepared;
  CameraIntrinsics kd;
  for (const pipeline::RgbdFrame& f : frames) {
    if (f.color.empty() || f.depth.empty()) continue;
    if (f.color.encoding != PixelEncoding::kBgr8 && f.color.encoding != PixelEncoding::kRgb8)
      continue;
    prepared.push_back(PrepareFrame(f));
    r.edge_pixels += static_cast<int64_t>(prepared.back().edges.size());
    kd = f.intrinsics;
  }
  constexpr int64_t kMinEdges = 500;
  if (r.edge_pixels < kMinEdges) {
    r.message = "only " + std::to_string(r.edge_pixels) +
                " depth-edge pixels in frames with colour and depth (need " +
                std::to_string(kMinEdges) + "): give more frames, or frames with objects in front";
    return r;
  }
  const double aspect = kd.fy / kd.fx;
  ColorCameraModel registered;  // colour taken as registered to depth already
  registered.intrinsics = kd;
  r.edge_score_registered = Score(prepared, registered);
  // Coarse grid over focal length and translation (the principal point as the
  // depth's), then coordinate descent over all five with shrinking steps.
  ColorCameraModel best = registered;
  double best_score = -1;
  for (double f = 0.8 * kd.fx; f <= 1.2 * kd.fx; f += 0.01 * kd.fx)
    for (double tx = -0.06; tx <= 0.0601; tx += 0.01)
      for (double ty = -0.06; ty <= 0.0601; ty += 0.01) {
        ColorCameraModel c = registered;
        c.intrinsics.fx = f;
        c.intrinsics.fy = f * aspect;
        c.t_color_depth = {tx, ty, 0};
        const double s = Score(prepared, c);
        if (s > best_score) best_score = s, best = c;
      }
  double step_f = 0.005 * kd.fx, step_c = 4, step_t = 0.005;
  for (int round = 0; round < 4; ++round, step_f /= 2, step_c /= 2, step_t /= 2) {
    for (bool improved = true; improved;) {
      improved = false;
      for (int param = 0; param < 5; ++param)
        for (const double sign : {-1.0, 1.0}) {
          ColorCameraModel c = best;
          switch (param) {
            case 0:
              c.intrinsics.fx += sign * step_f;
              c.intrinsics.fy = c.intrinsics.fx * aspect;
              break;
            case 1:
              c.intrinsics.cx += sign * step_c;
              break;
            case 2:
              c.intrinsics.cy += sign * step_c;
              break;
            case 3:
              c.t_color_depth.x() += sign * step_t;
              break;
            default:
              c.t_color_depth.y() += sign * step_t;
              break;
          }
          if (std::abs(c.intrinsics.cx - kd.cx) > 16 || std::abs(c.intrinsics.cy - kd.cy) > 16 ||
              c.t_color_depth.head<2>().cwiseAbs().maxCoeff() > 0.06)
            continue;
          const double s = Score(prepared, c);
          if (s > best_score) best_score = s, best = c, improved = true;
        }
    }
  }
  r.camera = best;
  r.edge_score = best_score;
  r.status = ColorCalibrationResult::Status::kOk;
  return r;
}

}  // namespace dyn4d::io
