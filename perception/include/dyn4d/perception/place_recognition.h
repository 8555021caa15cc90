#pragma once
/// \file
/// Places recognised again: a tracker's drift taken out where the camera
/// comes back to what it has seen before.
///
/// Every `node_every_frames` frames a node: the tracker's pose and, where
/// the image holds still enough, ORB features outside the moving objects'
/// mask with their depth. A new node is matched against older nodes (at
/// least `min_gap_frames` earlier, optical axes within
/// `max_view_angle_deg`); a match that PnP confirms from both sides (the
/// older node's depth against the new node's features and the other way
/// round, within `max_forward_backward_deg`) becomes a place edge. Nodes,
/// the tracker's motion between consecutive nodes and the place edges form
/// a pose graph (Ceres, Huber), solved each time a place edge comes in;
/// the newest node's correction applies to every frame after it. Causal:
/// nothing from the future, so it serves live and offline alike.
///
/// Why the gates: a place edge spans many frames, so what the tracker
/// cancels between neighbouring frames does not cancel in it. A rolling
/// shutter skews each frame by about its image motion (TUM fr1/rpy: 19 px a
/// frame, edges 3.6 deg off its ground truth where the tracker's motion is
/// 1.5 deg off), and colour and depth from two unregistered cameras
/// (7-Scenes) disagree by a viewpoint-dependent amount that the two PnP
/// directions see differently. Measured on Bonn crowd (registered Xtion,
/// 4 px a frame): edges 0.036 m / 0.70 deg off the ground truth where the
/// tracker's motion between the same nodes is 0.166 m / 4.5 deg off.
#include <Eigen/Geometry>
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

struct PlaceRecognitionConfig {
  int node_every_frames = 3;  ///< a node every this many frames
  /// ORB features per node, and older nodes tried per node (nearest view
  /// direction first). Measured on Bonn crowd (13 starts, median ATE;
  /// whole graph frames/s): 1,500 and 12: 0.0367 m, 11-12 frames/s; 1,000
  /// and 6: 0.0409 m, 16-17 frames/s, as fast as without places.
  int features = 1000;
  int min_gap_frames = 30;         ///< place edges only to nodes at least this much older
  double max_view_angle_deg = 35;  ///< ... whose optical axis is within this angle
  int max_candidates = 6;
  double match_ratio = 0.75;     ///< Lowe's ratio test
  int min_inliers = 30;          ///< PnP inliers for a place edge
  double reprojection_px = 2.0;  ///< PnP RANSAC inlier bound
  /// Nodes whose image moves more than this a frame (rotation times the
  /// focal length plus translation at 2 m) get no features: rolling shutter
  /// and motion blur bend them.
  double max_image_motion_px = 8;
  double max_forward_backward_deg = 0.5;  ///< PnP from either side must agree within
  /// Gross errors (a wrong place): an edge this far from the graph's
  /// current estimate is dropped.
  double max_disagreement_m = 0.3;
  double max_disagreement_deg = 10;
  /// Noise of the tracker's motion between consecutive nodes, and of a
  /// place edge (the graph's weights).
  double odometry_sigma_m = 0.003;
  double odometry_sigma_deg = 0.15;
  double place_sigma_m = 0.01;
  double place_sigma_deg = 0.3;
  double min_depth_m = 0.3;  ///< feature depth used within [min, max]
  double max_depth_m = 5.0;
  /// Nodes kept with their features (older ones keep only their pose):
  /// about 70 kB a node, so at most about 40 MB.
  int max_nodes_with_features = 600;
  /// The graph solved over the newest this many nodes (older ones held
  /// where they are, their edges dropped): bounds the solve's time and the
  /// edges' memory on long runs (300 nodes: 30 s of video).
  int solve_window_nodes = 300;
  /// 0: the graph's work runs in Submit, on the caller's thread. N > 0:
  /// on a thread of its own, with up to N frames submitted and not yet
  /// through (Take waits while there are more). Either way each frame's
  /// correction is the same: only when it is known changes.
  int max_frames_in_work = 6;
  std::vector<std::string> Validate() const;
};

class PlaceRecognition {
 public:
  struct Stats {
    int nodes = 0;
    /// Nodes still held: older ones go once no edge and no place match
    /// can use them (at most about solve_window_nodes +
    /// max_nodes_with_features, however long the run).
    int nodes_kept = 0;
    int nodes_with_features = 0;
    int pairs_tried = 0;
    int place_edges = 0;
    int solves = 0;
  };

  explicit PlaceRecognition(PlaceRecognitionConfig config);
  ~PlaceRecognition();
  PlaceRecognition(PlaceRecognition&&) noexcept;

  /// Adds the next frame, tracked at `T_world_cam` (`usable` false for a
  /// lost frame: no node, the current correction). `moving` (mono8, frame
  /// size, nonzero = moving object) keeps features off moving things; may
  /// be null. What the graph needs is copied: the frame is not used after
  /// Submit returns.
  void Submit(const pipeline::RgbdFrame& frame, const pipeline::Image* moving,
              const Eigen::Isometry3d& T_world_cam, bool usable);
  /// The corrections of the submitted frames that are through the graph and
  /// not yet taken, oldest first, once at most `max_in_work` submitted
  /// frames are left in work (waits for that). A frame's pose is its
  /// correction * T_world_cam.
  std::vector<Eigen::Isometry3d> Take(int max_in_work);
  /// Submit and wait for this frame's correction (for callers that use
  /// only Add).
  Eigen::Isometry3d Add(const pipeline::RgbdFrame& frame, const pipeline::Image* moving,
                        const Eigen::Isometry3d& T_world_cam, bool usable);
  /// Once the frames given so far are through the graph.
  const Stats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::perception
