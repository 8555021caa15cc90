#pragma once
/// \file
/// A recognition model file (configs/models/*.yaml): which network, its
/// architecture, where its weights are, its class names, its early-exit
/// thresholds and the recipe that trained it. Torch-free.
#include <string>
#include <vector>

#include "dyn4d/recognition/config.h"

namespace dyn4d::perception {

struct RecognitionModelSpec {
  std::string file;  ///< the YAML it came from
  recognition::ModelKind kind = recognition::ModelKind::kDynPerceiver;
  recognition::DynPerceiverConfig net;  ///< `base` configuration + `net` overrides
  std::string weights;                  ///< resolved against the YAML's folder
  std::vector<std::string> classes;     ///< num_classes names (may be empty)
  /// Early-exit thresholds (num_exits - 1 of them); empty: never exit early.
  std::vector<float> thresholds;
  recognition::TrainConfig training;  ///< `training` section (out_dir not set)
  /// What `dyn4d train` and `dyn4d recognize calibrate` use: fashion_mnist
  /// (Debian's dataset-fashion-mnist), synthetic_objects (object crops
  /// rendered from `dyn4d synth` scenes, classes = the scene categories) or
  /// image_folder (`--data DIR`: one sub-folder of crops per class, classes
  /// = the sub-folder names sorted; its `domains:` say which sources the
  /// crops came from) or teacher (`--teacher MODEL.onnx --data INPUT...`: a
  /// detector labels crops of `classes` in the user's own frames).
  std::string dataset = "fashion_mnist";
  /// The frames the model may label: those whose source id
  /// (MessageMeta::source_id) starts with one of these ("synthetic" for
  /// `synthetic_objects`: the synthetic scene and folders `dyn4d synth`
  /// wrote). Empty: no video source is in its domain (Fashion-MNIST's
  /// 28x28 clothing images). A model file may list its own (`domains:`).
  std::vector<std::string> domains;
  /// `crop:` stretch (default: the box is resized to a square) or letterbox
  /// (its aspect ratio kept, the shorter side zero-padded).
  bool crop_keep_aspect = false;
  /// Whether frames from `source_id` are in the model's domain.
  bool Covers(const std::string& source_id) const;
};

/// Loads and validates a model file; throws std::runtime_error listing
/// every problem as "FILE: FIELD: reason (value)".
RecognitionModelSpec LoadRecognitionModelSpec(const std::string& path);

/// Rewrites the `thresholds:` line of a model file in place (comments and
/// everything else kept), with `note` as its trailing comment.
void WriteThresholds(const std::string& path, const std::vector<float>& thresholds,
                     const std::string& note);

}  // namespace dyn4d::perception
