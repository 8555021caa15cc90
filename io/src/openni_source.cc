// Live RGB-D through OpenNI2 (PrimeSense, Asus Xtion, Orbbec, Kinect via
// their OpenNI2 drivers).
#include <OpenNI.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "dyn4d/pipeline/clock.h"
#include "opencv_image.h"
#include "source_internal.h"

namespace dyn4d::io::internal {
namespace {

using pipeline::PixelEncoding;

class OpenNiSource : public FrameSource {
 public:
  explicit OpenNiSource(const SourceConfig& c) : max_frames_(c.max_frames) {
    if (openni::OpenNI::initialize() != openni::STATUS_OK)
      throw SourceError(std::string("OpenNI2 could not initialise: ") +
                        openni::OpenNI::getExtendedError());
    openni::Array<openni::DeviceInfo> devices;
    openni::OpenNI::enumerateDevices(&devices);
    if (c.path.empty() && devices.getSize() == 0)
      throw SourceError(
          "no OpenNI2 RGB-D camera found: plug in a PrimeSense / Asus Xtion / Orbbec / Kinect "
          "camera, check that its OpenNI2 driver is installed (/usr/lib/x86_64-linux-gnu/OpenNI2/"
          "Drivers) and that you may access its USB device");
    const char* uri = c.path.empty() ? openni::ANY_DEVICE : c.path.c_str();
    if (device_.open(uri) != openni::STATUS_OK)
      throw SourceError("OpenNI2 device '" + (c.path.empty() ? std::string("any") : c.path) +
                        "' cannot be opened: " + openni::OpenNI::getExtendedError());
    if (depth_.create(device_, openni::SENSOR_DEPTH) != openni::STATUS_OK ||
        color_.create(device_, openni::SENSOR_COLOR) != openni::STATUS_OK)
      throw SourceError(std::string("OpenNI2 device has no depth or colour stream: ") +
                        openni::OpenNI::getExtendedError());
    // Depth registered to colour, frames paired by the device.
    if (device_.isImageRegistrationModeSupported(openni::IMAGE_REGISTRATION_DEPTH_TO_COLOR))
      device_.setImageRegistrationMode(openni::IMAGE_REGISTRATION_DEPTH_TO_COLOR);
    device_.setDepthColorSyncEnabled(true);
    openni::VideoMode dm = depth_.getVideoMode();
    dm.setPixelFormat(openni::PIXEL_FORMAT_DEPTH_1_MM);
    depth_.setVideoMode(dm);
    if (depth_.start() != openni::STATUS_OK || color_.start() != openni::STATUS_OK)
      throw SourceError(std::string("OpenNI2 streams do not start: ") +
                        openni::OpenNI::getExtendedError());
    const openni::VideoMode cm = color_.getVideoMode();
    const int w = cm.getResolutionX(), h = cm.getResolutionY();
    if (c.fx > 0 && c.fy > 0 && c.cx > 0 && c.cy > 0) {
      intrinsics_ = {c.fx, c.fy, c.cx, c.cy, w, h};
    } else if (!c.calibration.empty()) {
      intrinsics_ = ReadCalibrationYaml(c.calibration);
    } else {
      // The device reports its field of view; a pinhole with that FOV is its
      // factory calibration as far as OpenNI2 exposes it.
      const double hfov = color_.getHorizontalFieldOfView(), vfov = color_.getVerticalFieldOfView();
      if (!(hfov > 0.1 && vfov > 0.1))
        throw SourceError("OpenNI2 device reports no field of view: give a calibration YAML");
      intrinsics_ = {w / 2.0 / std::tan(hfov / 2),
                     h / 2.0 / std::tan(vfov / 2),
                     (w - 1) / 2.0,
                     (h - 1) / 2.0,
                     w,
                     h};
      spdlog::info("OpenNI2: intrinsics from the device's field of view: fx {:.1f} fy {:.1f}",
                   intrinsics_.fx, intrinsics_.fy);
    }
    ValidateIntrinsics(intrinsics_, w, h, "the OpenNI2 device");
  }
  ~OpenNiSource() override {
    depth_.stop();
    color_.stop();
    depth_.destroy();
    color_.destroy();
    device_.close();
    openni::OpenNI::shutdown();
  }

  SourceRead Next() override {
    if (max_frames_ > 0 && next_ >= static_cast<uint64_t>(max_frames_)) return {};
    openni::VideoFrameRef d, c;
    if (depth_.readFrame(&d) != openni::STATUS_OK || color_.readFrame(&c) != openni::STATUS_OK) {
      SourceRead r;
      r.status = SourceRead::Status::kSkipped;
      r.message = std::string("OpenNI2 frame read failed: ") + openni::OpenNI::getExtendedError();
      return r;
    }
    cv::Mat rgb(c.getHeight(), c.getWidth(), CV_8UC3, const_cast<void*>(c.getData()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    cv::Mat depth(d.getHeight(), d.getWidth(), CV_16UC1, const_cast<void*>(d.getData()));
    if (depth.size() != bgr.size()) cv::resize(depth, depth, bgr.size(), 0, 0, cv::INTER_NEAREST);
    SourceRead r;
    r.status = SourceRead::Status::kFrame;
    r.frame.meta = {next_++, pipeline::WallNowNs(), "openni"};  // live: stamped on arrival
    r.frame.color = ToImage(bgr, PixelEncoding::kBgr8);
    r.frame.depth = ToImage(depth.clone(), PixelEncoding::kMono16);
    r.frame.intrinsics = intrinsics_;
    r.frame.depth_scale = 1000;
    // Both streams are stamped by the device clock (microseconds); the
    // geometry node brings the depth to the colour's time with this.
    r.frame.depth_offset_ns =
        (static_cast<int64_t>(d.getTimestamp()) - static_cast<int64_t>(c.getTimestamp())) * 1000;
    return r;
  }
  std::string Describe() const override { return "OpenNI2 RGB-D camera (live)"; }
  bool IsLive() const override { return true; }

 private:
  int max_frames_;
  openni::Device device_;
  openni::VideoStream depth_, color_;
  pipeline::CameraIntrinsics intrinsics_;
  uint64_t next_ = 0;
};

}  // namespace

std::unique_ptr<FrameSource> OpenOpenNiSource(const SourceConfig& config) {
  return std::make_unique<OpenNiSource>(config);
}

}  // namespace dyn4d::io::internal
