// Large planar surfaces that are static where they were seen for long: the
// floor, walls and table tops that moving objects stand on or pass in front
// of. Internal to the motion segmentation.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "dyn4d/perception/motion_segmentation.h"

namespace dyn4d::perception {

/// The large static planes of a view (FindStaticPlanes).
struct StaticPlanes {
  std::vector<uint8_t> on_plane;  ///< per pixel of the view: 1 = on one
  int planes = 0;                 ///< planes with such a part
};

/// The pixels of `view` on a plane (within the depth noise) that is
/// connected, over depth-continuous pixels of the same plane, to pixels with
/// firm static support (`firm_static`), the connected part covering at least
/// `config.static_plane_min_area_m2` of surface, less than
/// `config.min_evidence_fraction` of it found moving (more is a moving
/// object's face). Pixels found moving, flying or without depth are never on
/// one. `depth_step(z)` is the largest depth difference between neighbours
/// of one surface. Deterministic (fixed random seed). None when the area is
/// 0.
StaticPlanes FindStaticPlanes(const DepthView& view, const std::vector<MotionEvidence>& evidence,
                              const std::vector<uint8_t>& firm_static,
                              const MotionSegmentationConfig& config,
                              const std::function<float(float)>& depth_step);

}  // namespace dyn4d::perception
