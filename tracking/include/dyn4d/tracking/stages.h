#pragma once
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::tracking {

/// Registers the tracking stages:
///  - track: detections or proposals (with masks, 3D centroids, classes and
///    embeddings when present) -> tracks with stable ids, grounding masks,
///    voted classes, world position and velocity, state
void RegisterStages(pipeline::StageRegistry& registry);

}  // namespace dyn4d::tracking
