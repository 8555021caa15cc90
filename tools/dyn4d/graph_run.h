#pragma once
// What `dyn4d run` and the benchmarks that run whole graphs share: the stage
// registry, the `--input` override of a graph's input node, and the default
// offline graph.
#include <string>
#include <vector>

#include "dyn4d/pipeline/config.h"
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::cli {

/// Every stage type of every module.
pipeline::StageRegistry MakeRegistry();

/// What `--input` changes in a graph: the params of its one `input` node.
struct InputOverride {
  std::string path, kind, calibration;
  std::vector<std::string> params;  ///< KEY=VALUE for the input node (--input-param)
  /// Questions for every `reason` node (--questions FILE), ";"-separated as
  /// that node's `questions` param; empty leaves the config's.
  std::string questions;
  /// --view [ADDR:]PORT: add a `viewer` node (Foxglove WebSocket server)
  /// reading the graph's frames, poses, clouds, tracks and cognitive maps.
  std::string view;
  bool view_default = false;  ///< --view without a value: 127.0.0.1:8765
  bool report = true;         ///< write OUT/report.html after each run
};

/// Adds the viewer node --view asks for; throws pipeline::ConfigError for
/// a bad [ADDR:]PORT or a graph with nothing to show.
void AddViewer(pipeline::GraphConfig& config, const std::string& spec);

/// Reads a questions file: one question per line (options after " | "),
/// blank lines and lines starting with # skipped; joined with "; ".
/// Throws std::runtime_error naming the file when it cannot be read.
std::string ReadQuestionsFile(const std::string& path);
/// Applies `in` to the graph's one `input` node; throws pipeline::ConfigError
/// when the graph has not exactly one.
void ApplyInput(pipeline::GraphConfig& config, const InputOverride& in);

/// The graph `--input` runs when no --config is given (configs/offline.yaml).
std::string DefaultOfflineConfig();

/// True for input without depth: a video (file, folder of videos, webcam,
/// GStreamer) or a folder of images with no depth_path. `detected_kind` is
/// io::DetectSourceKind(in.path), used unless in.kind names one.
bool IsColourOnly(const InputOverride& in, const std::string& detected_kind);

/// The graph that fits input when no --config is given: configs/video.yaml
/// (2D) for colour-only input, configs/offline.yaml (RGB-D) otherwise.
std::string DefaultConfigFor(bool colour_only);

}  // namespace dyn4d::cli
