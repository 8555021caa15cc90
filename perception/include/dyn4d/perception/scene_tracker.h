#pragma once
/// \file
/// Camera tracking among moving objects: the geometry node's tracker.
///
/// Each frame goes through three steps:
///  1. rough poses: a fast causal pass at a coarser resolution;
///  2. moving objects of frame t: MotionSegmenter against views from up to
///     `past_frames` before to L = `lookahead_frames` after t (each view's
///     pose relative to t refined by depth alignment first, so the rough
///     pass only has to be close), seeded with frame t-1's objects. Views of
///     frames whose final pose (step 3) is known are placed by it, the
///     others by the rough motion since: the rough pass follows a person who
///     fills the view (Bonn crowd: 0.4-0.6 m off over half a second), the
///     final pass does not;
///  3. the final pose of t: the odometry again, at full tracking resolution,
///     with those objects masked out of both frame and keyframe.
/// The objects come out with the pose, as proposals for recognition and
/// tracking.
///
/// Offline (L > 0, frames come out L frames late) each frame is judged
/// against views before and after it, as a person looking at a recording
/// would, so people who stand before they walk are found. Live (L = 0) only
/// earlier views can judge a frame: an object that stood still in every
/// earlier view, or one that turns up in the view already moving, is seen
/// late. The same three steps serve both: on Bonn crowd the live camera
/// error was 0.56-0.67 m (seven starts of the excerpt) when the live tracker
/// was one odometry pass segmenting against its own keyframes, 0.14-0.23 m
/// this way. With `detect_moving_objects` false there is one plain pass
/// and no moving objects (masks only from outside).
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dyn4d/perception/motion_proposals.h"
#include "dyn4d/perception/motion_segmentation.h"
#include "dyn4d/perception/place_recognition.h"
#include "dyn4d/perception/rgbd_odometry.h"
#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

class SceneTracker {
 public:
  struct Options {
    RgbdOdometry::Config odometry;  ///< the final pass (the rough one is derived from it)
    /// Steps 2-3 (the geometry node's `detect_dynamic`); off: one plain
    /// odometry pass whose only masks come from outside.
    bool detect_moving_objects = true;
    MotionSegmentationConfig segmentation;  ///< step 2
    int lookahead_frames = 0;               ///< 0: live, causal
    int past_frames = 60;                   ///< the segmentation's references back ...
    int reference_every = 6;                ///< ... every this many frames
    /// The segmentation's resolution: every stride-th pixel (4: 160x120
    /// for 640x480).
    int motion_stride = 4;
    /// The objects' mask is grown by this many pixels before it leaves the
    /// frame: colour and depth edges of a moving object do not coincide
    /// (motion blur over the exposure, colour/depth misregistration, the
    /// segmentation's resolution), and the photometric term would follow a
    /// moving silhouette's edges. Measured on Bonn crowd (ATE, m): 0 0.44,
    /// 4 px 0.33, 8 px 0.22, 16 px 0.58 (too little static scene left).
    int mask_margin_px = 8;
    /// Step 3 (the final pass) runs on a thread of its own, a frame
    /// or two behind steps 1-2 (bounded hand-over): the same results, in the
    /// same order, from up to two cores. Push then returns the frames done
    /// so far (possibly none), Flush all that remain. The two halves cost
    /// about the same: tracking alone on 7-Scenes 19.5 -> 33.2 frames/s.
    /// When frames arrive slower than they are processed (the caller left
    /// the tracker idle for over a quarter of a frame's time), Push waits
    /// for the frame's final pass instead, so it is not held back until
    /// the next frame arrives.
    bool final_pass_thread = true;
    /// Step 4 (off here, on in configs/offline.yaml): places recognised
    /// again (PlaceRecognition) correct the final poses; the segmentation
    /// keeps the tracker's own poses (a correction is a step between two
    /// frames, which it would take for motion). Frames wait for their
    /// correction (places.max_frames_in_work), or their predecessor's
    /// (place_correction_lag_frames). Measured (first start /
    /// median of 13 starts): Bonn crowd ATE 0.0775 / 0.0888 -> 0.0412 /
    /// 0.0409 m; TUM fr1/rpy unchanged (fast rotation: no node still enough
    /// for features); 7-Scenes unchanged (colour not registered to depth:
    /// no features). Camera tracking alone on Bonn 32-39 -> 24-33 frames/s.
    bool recognise_places = false;
    PlaceRecognitionConfig places;
    /// Step 4's latency: frame t takes the correction the place graph gave
    /// frame t - lag (0: its own). Its own needs the frame's features
    /// matched and the graph solved, which a frame that is waited for (a
    /// live or paced source) then waits for; the previous frame's is known
    /// by the time the next one is done. Either way every frame's pose is
    /// the same whatever the threads' timing. Measured on Bonn crowd, live
    /// graph (no look-ahead) replayed at 10 frames/s, capture -> cognitive
    /// map p95: 150-164 ms with 0, 86-179 (median of four 100) with 1, 80-89
    /// without places; ATE first start / median of 7 starts 0.0442 / 0.0789
    /// -> 0.0476 / 0.0826 m (offline graph 0.0413 -> 0.0434).
    int place_correction_lag_frames = 0;
    std::vector<std::string> Validate() const;
  };

  /// One frame's outcome.
  struct Output {
    pipeline::RgbdFrame frame;
    RgbdOdometry::Result odometry;  ///< the final pose and its status
    MotionSegmentation motion;      ///< moving objects (regions in world coordinates)
    /// The moving objects as a full-resolution mask (mono8, 255 = moving),
    /// empty when there are none: what the map leaves out.
    pipeline::Image mask;
  };

  explicit SceneTracker(Options options);
  ~SceneTracker();
  SceneTracker(SceneTracker&&) noexcept;

  /// Adds a frame (optionally with a mask of known moving objects, e.g.
  /// tracked ones); returns the frames that are now done, in order.
  /// Rethrows what the final pass's thread threw.
  std::vector<Output> Push(const pipeline::RgbdFrame& frame,
                           const pipeline::Image* known_moving = nullptr);
  /// End of stream: the frames still waiting for their lookahead.
  std::vector<Output> Flush();
  /// The same frames, each given to `done` as soon as it is done (the
  /// caller's work on one overlaps the final pass of the next).
  void Flush(const std::function<void(Output&)>& done);
  const Options& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A tracked frame's moving objects as detections (box, mask, score, colour
/// signature, "moving" or "stopped"), world centroid and extent only where
/// the frame's pose is usable: on a lost frame the regions, segmented
/// against the views around it, still hold in the image (a tracker matches
/// them there), while what goes through the pose is withheld.
pipeline::Detections MovingObjectDetections(const SceneTracker::Output& frame);

}  // namespace dyn4d::perception
