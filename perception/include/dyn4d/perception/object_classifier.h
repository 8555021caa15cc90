#pragma once
/// \file
/// Classifies image regions (object boxes, whole frames) with a recognition
/// model file's network and its early exits. Torch-free interface: the
/// network lives in the .cc file.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dyn4d/perception/recognition_model.h"
#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

struct Classification {
  int class_id = -1;
  std::string class_name;
  float score = 0;               ///< softmax confidence of the exit that decided
  int exit_index = -1;           ///< 0-based early exit that decided
  std::vector<float> embedding;  ///< appearance (the network's mean latent)
  /// The softmax of the deciding exit over the model's classes.
  std::vector<float> probabilities;
};

class ObjectClassifier {
 public:
  struct Options {
    RecognitionModelSpec spec;
    std::vector<float> thresholds;  ///< empty: the model file's
    int content_size = 0;           ///< crops resized to this, padded to the input; 0: model's
    int threads = 0;                ///< torch threads; 0: all cores
  };
  explicit ObjectClassifier(Options options);
  ~ObjectClassifier();

  /// One entry per box: nullopt where the box holds fewer than 2x2 pixels
  /// of the image. Accepts bgr8, rgb8 and mono8 images; throws
  /// std::invalid_argument for other encodings.
  std::vector<std::optional<Classification>> Classify(const pipeline::Image& color,
                                                      const std::vector<pipeline::Box2D>& boxes);
  int num_exits() const;
  int content_size() const;
  const RecognitionModelSpec& spec() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The crop a classifier sees: channels x size x size floats in [0, 1]
/// (RGB order; grey when channels is 1), area-averaged when shrinking and
/// bilinear when growing. Empty when the box holds fewer than 2x2 pixels.
/// keep_aspect: letterboxed (longer side = size, the rest zero) instead of
/// stretched to a square. Training data is made with it, so training and
/// inference crop alike.
std::vector<float> CropForRecognition(const pipeline::Image& color, const pipeline::Box2D& box,
                                      int size, int channels, bool keep_aspect = false);

}  // namespace dyn4d::perception
