#pragma once
/// \file
/// ONNX models through OpenCV DNN (no other runtime needed): a YOLOX object
/// detector for detector proposals, and a person re-identification network
/// (OSNet) for appearance embeddings. OpenCV stays inside the .cc file.
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

struct YoloxConfig {
  std::string model;             ///< .onnx file (YOLOX export: 1 x N x (5 + classes))
  int input_size = 416;          ///< square network input (416 for nano/tiny, 640 for s+)
  double score_threshold = 0.3;  ///< objectness x class probability
  double nms_iou = 0.45;         ///< per-class non-maximum suppression
  /// Class names (default: the 80 COCO classes YOLOX is trained on).
  std::vector<std::string> classes;
  /// Keep only these class names (empty: all).
  std::vector<std::string> keep;
  std::vector<std::string> Validate() const;
};

/// YOLOX (Ge et al., 2021) detector: letterbox to the input size (top-left,
/// pad value 114, BGR 0-255), decode the grid outputs with strides 8, 16 and
/// 32, score = objectness x class probability, per-class NMS.
class YoloxDetector {
 public:
  /// Throws std::runtime_error naming the file when it cannot be loaded or
  /// its output does not have the YOLOX layout.
  explicit YoloxDetector(YoloxConfig config);
  ~YoloxDetector();
  /// Detections in image pixels (clipped to the image): box, class, score.
  /// bgr8, rgb8 or mono8 images; throws std::invalid_argument otherwise.
  std::vector<pipeline::Detection> Detect(const pipeline::Image& image);
  const YoloxConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Appearance embeddings of image regions from a re-identification network
/// (OSNet layout: 256 x 128 RGB input, ImageNet normalisation, one feature
/// vector per crop), L2-normalised.
class ReidEmbedder {
 public:
  explicit ReidEmbedder(const std::string& model, int width = 128, int height = 256);
  ~ReidEmbedder();
  /// One embedding per box; empty for boxes with fewer than 2x2 pixels.
  std::vector<std::vector<float>> Embed(const pipeline::Image& image,
                                        const std::vector<pipeline::Box2D>& boxes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The 80 COCO class names in YOLOX's order.
const std::vector<std::string>& CocoClasses();

}  // namespace dyn4d::perception
