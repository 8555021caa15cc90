#pragma once
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::io {

/// Registers the io stages:
///  - synthetic_rgbd: source of the synthetic scene (frames, poses, tracks)
///  - trajectory_writer: poses -> TUM file
///  - tracks_writer: tracks -> MOTChallenge + JSONL
///  - cloud_map_writer: world-frame clouds -> voxel map -> binary PLY
void RegisterStages(pipeline::StageRegistry& registry);

}  // namespace dyn4d::io
