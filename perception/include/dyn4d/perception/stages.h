#pragma once
#include "dyn4d/perception/motion_segmentation.h"
#include "dyn4d/perception/rgbd_odometry.h"
#include "dyn4d/perception/scene_tracker.h"
#include "dyn4d/pipeline/config.h"
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::perception {

/// Registers the perception stages:
///  - backproject: frames + poses -> world-frame point clouds
///  - geometry: camera tracking, static map, objects in 4D
///  - recognize: Dyn-Perceiver on frames or tracked objects (early exits)
///  - motion_proposals: moving objects from RGB-D and poses, no detector
///  - detect: ONNX detector (YOLOX) with re-id embeddings and world centroids
///  - background_proposals: moving objects in RGB-only video (2D)
void RegisterStages(pipeline::StageRegistry& registry);
/// The geometry node's tracking parameters (its YAML `params`: sigma_intensity,
/// sigma_depth_m, huber_k, max_depth_m, keyframe_translation_m,
/// keyframe_rotation_deg, keyframe_min_overlap, weight_by_surface_area,
/// finest_level, levels, iterations, previous_frame_above_deg, window_size,
/// compensate_depth_time, min_visible_fraction, max_uncertain_frames) over
/// the defaults (the scene tracker's rough pass always weighs by area); problems
/// are recorded in `p`. `dyn4d bench geometry --param` reads the same names.
RgbdOdometry::Config ReadOdometryConfig(pipeline::Params& p);
/// The geometry node's tracker parameters: ReadOdometryConfig's, and
/// detect_dynamic, the motion segmentation's (below), lookahead_frames (0:
/// live), past_frames, reference_every, motion_stride, mask_margin_px,
/// final_pass_thread, recognise_places and the place_* parameters,
/// place_correction_lag_frames (default 1 when lookahead_frames is 0, else
/// 0) (SceneTracker::Options).
SceneTracker::Options ReadSceneTrackerOptions(pipeline::Params& p);
/// The motion segmentation parameters of the geometry and motion_proposals
/// nodes (noise_sigma0_m, noise_quadratic_per_m, noise_offset_m, n_sigma,
/// pose_sigma_m, pose_sigma_deg, time_uncertainty_s, edge_rel,
/// min_evidence_area_m2, min_evidence_fraction, min_region_area_m2,
/// merge_gap_m, min_depth_m, max_depth_m, refine_poses, max_object_speed_mps,
/// persist_frames, min_evidence_frames, backward_test, support_min_dt_s)
/// over `defaults`; problems are
/// recorded in `p`.
MotionSegmentationConfig ReadMotionSegmentationConfig(pipeline::Params& p,
                                                      const MotionSegmentationConfig& defaults);
/// The recognition stages alone (called by RegisterStages).
void RegisterRecognitionStages(pipeline::StageRegistry& registry);
/// The proposal stages alone (called by RegisterStages).
void RegisterProposalStages(pipeline::StageRegistry& registry);
/// The detector stage alone (called by RegisterStages).
void RegisterDetectStages(pipeline::StageRegistry& registry);

}  // namespace dyn4d::perception
