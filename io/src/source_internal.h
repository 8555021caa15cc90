#pragma once
// Factories implemented in their own files (they pull in OpenNI2, MCAP).
#include <memory>

#include "dyn4d/io/sources.h"

namespace dyn4d::io::internal {
std::unique_ptr<FrameSource> OpenOpenNiSource(const SourceConfig& config);
std::unique_ptr<FrameSource> OpenRecordingSource(const SourceConfig& config);
}  // namespace dyn4d::io::internal
