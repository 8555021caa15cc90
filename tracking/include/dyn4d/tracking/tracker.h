#pragma once
/// \file
/// 2D multi-object tracking by detection: a Kalman filter per track
/// (constant velocity on centre, aspect ratio and height) and association
/// in the spirit of ByteTrack: confident detections first, then the
/// low-score ones for tracks still unmatched, optimal assignment on IoU.
/// The SORT configuration (one stage, confident detections only, short
/// memory) is the baseline it is measured against.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/tracking/mot_eval.h"

namespace dyn4d::tracking {

struct TrackerConfig {
  bool two_stage = true;       ///< false: SORT (no low-score stage)
  double high_score = 30;      ///< detections at or above: first stage, may start tracks
  double low_score = 0;        ///< detections in [low, high): second stage only
  double match_iou = 0.2;      ///< first stage: IoU needed to match
  double low_match_iou = 0.5;  ///< second stage
  int min_hits = 2;            ///< matches before a track is reported (confirmed)
  int max_age = 30;            ///< frames a lost track is kept for re-identification
  std::vector<std::string> Validate() const;
  static TrackerConfig Sort();  ///< SORT's settings: one stage, min_hits 3, max_age 1, IoU 0.3
};

struct TrackedBox {
  int64_t id = -1;
  MotBox box;  ///< Kalman-filtered, top-left + size
  double score = 0;
};

class MultiObjectTracker {
 public:
  explicit MultiObjectTracker(TrackerConfig config = {});
  ~MultiObjectTracker();
  /// One frame's detections (id ignored, conf = score) -> the confirmed
  /// tracks matched in this frame. Detections with non-finite or
  /// non-positive sizes are skipped and counted.
  std::vector<TrackedBox> Update(const std::vector<MotBox>& detections);
  uint64_t skipped_detections() const;
  size_t live_tracks() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::tracking
