#pragma once
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::perception {

/// Registers the perception stages:
///  - backproject: frames + poses -> world-frame point clouds
void RegisterStages(pipeline::StageRegistry& registry);

}  // namespace dyn4d::perception
