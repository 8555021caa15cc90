#pragma once
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::reasoning {

/// Registers the reasoning stages:
///  - reason: tracks (+ poses) -> the cognitive map (JSON + budgeted text) on
///    `maps`; questions on `requests` (and `questions` at end of stream) ->
///    answers on `replies`, by the built-in reasoner or an OpenAI-compatible
///    endpoint
void RegisterStages(pipeline::StageRegistry& registry);

}  // namespace dyn4d::reasoning
