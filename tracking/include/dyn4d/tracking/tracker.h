#pragma once
/// \file
/// Multi-object tracking by detection, in 3D when depth exists and in 2D
/// otherwise.
///
/// Per track: a Kalman filter on the image box (centre, aspect ratio, height
/// and their velocities, ByteTrack's model) and, for observations with a
/// world-frame centroid, a constant-velocity Kalman filter on that centroid,
/// so camera motion does not look like object motion. Association in the
/// spirit of ByteTrack: confident observations first, then the low-score
/// ones for tracks still unmatched; optimal assignment on a cost that mixes
/// geometry (Mahalanobis distance of the centroid in 3D, 1 - IoU in 2D) with
/// appearance (embedding cosine). Candidate pairs come from a spatial grid
/// and each group of nearby objects is solved alone, so the cost per frame
/// stays near-linear in the number of objects. Tracks are born tentative,
/// confirmed after `min_hits` matches, kept `max_age` frames while lost
/// (re-identification window), and vote on their class over their life.
/// The SORT configuration (one stage, confident detections only, IoU only,
/// short memory) is the baseline it is measured against.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/tracking/mot_eval.h"

namespace dyn4d::tracking {

struct TrackerConfig {
  bool two_stage = true;       ///< false: SORT (no low-score stage)
  double high_score = 30;      ///< observations at or above: first stage, may start tracks
  double low_score = 0;        ///< observations in [low, high): second stage only
  double match_iou = 0.2;      ///< 2D, first stage: IoU needed to match
  double low_match_iou = 0.5;  ///< 2D, second stage
  int min_hits = 2;            ///< matches before a track is reported (confirmed)
  int max_age = 30;            ///< frames a lost track is kept for re-identification
  // 3D (observations with a world centroid).
  double max_jump_m = 1.5;         ///< never match a centroid farther than this from the prediction
  double gate_chi2 = 16.27;        ///< Mahalanobis gate (3 degrees of freedom, 99.9 %)
  double accel_sigma = 3.0;        ///< process noise: m/s^2 of unmodelled acceleration
  double position_sigma_m = 0.08;  ///< centroid measurement noise (partial views shift it) ...
  /// ... per axis at least this fraction of the object's size along it
  /// (the centroid of the visible part of a person shifts by a quarter of
  /// their width as an arm is hidden or shown), and at least half of what a
  /// partial view leaves unseen of the object (legs alone: half the rest of
  /// the body's height).
  double position_sigma_extent = 0.25;
  /// A track is confirmed only once its world position has moved this far
  /// (m) from where it started, besides min_hits: proposals of moving
  /// objects come from motion evidence, and an object that never goes
  /// anywhere is more likely a sensor artefact. 0: off (2D, detectors).
  double min_travel_m = 0;
  /// A track unseen for t seconds may match an object up to max_jump_m +
  /// max_speed_mps * t from its prediction (re-identification after an
  /// object left the view or was hidden).
  double max_speed_mps = 2.0;
  /// An unseen track's velocity fades with this time constant (s); 0: keeps
  /// it (pure constant velocity).
  double velocity_decay_s = 1.0;
  // Appearance (observations with embeddings).
  double appearance_weight = 0.3;   ///< share of (1 - cosine) / 2 in the cost
  double embedding_momentum = 0.9;  ///< track embedding = m * old + (1 - m) * new
  bool use_appearance = true;       ///< false: geometry only (SORT)
  /// Never match an observation whose class differs from the track's voted
  /// class (both known): a "cup" detection does not continue a "tv" track.
  bool class_gate = true;
  std::vector<std::string> Validate() const;
  static TrackerConfig Sort();  ///< SORT's settings: one stage, min_hits 3, max_age 1, IoU 0.3
};

/// One detection or proposal in one frame.
struct Observation {
  MotBox box;  ///< image box; box.conf is the detection score
  bool has_position = false;
  std::array<double, 3> position{0, 0, 0};  ///< world centroid, metres
  std::array<double, 3> extent{0, 0, 0};    ///< world size, metres
  std::vector<float> embedding;             ///< appearance, any length (normalised inside)
  int class_id = -1;                        ///< -1: unknown
  std::string class_name;
  double class_score = 0;  ///< confidence of class_id, its weight in the vote
};

enum class TrackState { kTentative, kConfirmed, kLost };
const char* TrackStateName(TrackState s);

/// One live track after a frame.
struct TrackEstimate {
  int64_t id = -1;
  TrackState state = TrackState::kTentative;
  int observation = -1;  ///< index of the observation it matched this frame, -1 none
  MotBox box;            ///< Kalman-filtered image box (predicted when unmatched)
  double score = 0;      ///< score of its latest observation
  bool has_position = false;
  std::array<double, 3> position{0, 0, 0}, velocity{0, 0, 0}, extent{0, 0, 0};
  int class_id = -1;  ///< the class voted over the track's life
  std::string class_name;
  double class_confidence = 0;  ///< share of the vote the winner holds
  int hits = 0;                 ///< observations matched so far
  int frames_since_update = 0;
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
  MultiObjectTracker(MultiObjectTracker&&) noexcept;
  MultiObjectTracker& operator=(MultiObjectTracker&&) noexcept;

  /// One frame at time `t_s` (seconds; drives the 3D motion model) -> every
  /// live track, tentative, confirmed or lost. Observations with non-finite
  /// or non-positive sizes or non-finite centroids are skipped and counted.
  std::vector<TrackEstimate> Step(const std::vector<Observation>& observations, double t_s);

  /// 2D tracking of MOTChallenge boxes (id ignored, conf = score): the
  /// confirmed tracks matched in this frame, at one frame per call.
  std::vector<TrackedBox> Update(const std::vector<MotBox>& detections);

  uint64_t skipped_detections() const;
  size_t live_tracks() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::tracking
