#pragma once
#include <optional>

#include "dyn4d/io/color_registration.h"
#include "dyn4d/io/depth_distortion.h"
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::io {

/// Registers the io stages:
///  - synthetic_rgbd: source of the synthetic scene (frames, poses, tracks)
///  - trajectory_writer: poses -> TUM file
///  - tracks_writer: tracks -> MOTChallenge + JSONL
///  - cloud_map_writer: world-frame clouds -> voxel map -> binary PLY or PCD
///  - input: any FrameSource (datasets, videos, stereo, recordings, live)
///  - recorder / replay: MCAP recording of any topics, and its replay
///  - overlay_video: annotated MP4 of frames and tracks
///  - reasoning_writer: cognitive maps and answers as JSONL and text
void RegisterStages(pipeline::StageRegistry& registry);

/// The input node's colour-registration parameters (color_fx, color_fy,
/// color_cx, color_cy, color_tx, color_ty, color_tz; see SourceConfig::
/// color_camera), shared with `dyn4d bench geometry --source-param`. None
/// given: nullopt. Problems go to `p` (reported by p.Finish()).
std::optional<ColorCameraModel> ReadColorCameraParams(pipeline::Params& p);

/// The input node's depth-distortion parameters (depth_kx, depth_ky,
/// depth_kxx, depth_kxy, depth_kyy; see SourceConfig::depth_distortion, from
/// `dyn4d calibrate depth`), shared with `dyn4d bench geometry
/// --source-param`. None given: nullopt.
std::optional<DepthDistortionModel> ReadDepthDistortionParams(pipeline::Params& p);

}  // namespace dyn4d::io
