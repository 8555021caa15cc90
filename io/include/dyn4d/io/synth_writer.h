#pragma once
/// \file
/// `dyn4d synth`: writes a synthetic sequence to disk in a TUM-compatible
/// layout (so `dyn4d run --input DIR` reads it back) plus its ground truth:
///
///   rgb/NNNNNN.png  depth/NNNNNN.png (16-bit, 1/5000 m)  masks/NNNNNN.png (instance ids)
///   rgb.txt depth.txt associations.txt groundtruth.txt (TUM)  calibration.yaml (OpenCV)
///   gt/tracks_mot.txt  gt/tracks3d.jsonl  gt/events.jsonl  gt/objects.json

#include <functional>
#include <string>
#include <vector>

#include "dyn4d/io/synthetic_scene.h"

namespace dyn4d::io {

/// A ground-truth event, e.g. {t 1.2, "starts_moving", object 2} or
/// {t 2.0, "occluded_by", object 3, other 5}.
struct SceneEvent {
  int frame = 0;
  double t_s = 0;
  std::string type;  ///< visible_at_start, enters_view, leaves_view, starts_moving, stops,
                     ///< occluded_by, no_longer_occluded
  int object = 0;    ///< object id
  int other = 0;     ///< the other object (occlusions), else 0
};

/// Events from per-frame object states. A state change counts once it has
/// held for `min_frames` frames (no flicker); the event is stamped at its start.
/// Visible: at least `min_visible_px` pixels; moving: faster than 5 cm/s;
/// occluded: >= 30 % of its silhouette hidden by another object.
std::vector<SceneEvent> DetectEvents(
    const std::vector<std::vector<SyntheticScene::ObjectState>>& frames, double fps,
    int min_visible_px, int min_frames = 3);

struct SynthWriteResult {
  int frames = 0;
  size_t events = 0;
  double render_s = 0;  ///< time spent rendering
  double write_s = 0;   ///< time spent encoding and writing files
};

/// Renders and writes every frame; `progress(done, total)` after each.
/// Throws std::runtime_error naming the file that cannot be written.
SynthWriteResult WriteSyntheticSequence(const SyntheticScene::Config& config,
                                        const std::string& out_dir,
                                        const std::function<void(int, int)>& progress = nullptr);

}  // namespace dyn4d::io
