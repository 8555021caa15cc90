#pragma once
/// \file
/// Depth conditioning and per-frame point clouds.

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

/// Edge-preserving smoothing of a mono16 depth image: a 5x5 bilateral filter
/// whose range kernel follows the sensor noise (sigma = `relative_sigma` x
/// depth), so neighbours across a depth edge do not mix. Invalid (0) pixels
/// stay invalid and do not contribute.
pipeline::Image BilateralFilterDepth(const pipeline::Image& depth, double relative_sigma = 0.01,
                                     double spatial_sigma_px = 1.5);

/// The frame's points in the world frame: every second pixel, voxel-averaged
/// to `voxel_m` (0: none), with colours and normals (from the image grid:
/// the cross product of the neighbours' offsets; oriented towards the
/// camera). Pixels under `exclude_mask` (mono8, nonzero), depth beyond
/// `max_depth_m`, and pixels with no neighbour on the same surface (depth
/// edges, flying pixels) are left out. Throws as Backproject does on an
/// inconsistent frame.
pipeline::PointCloud MakeFrameCloud(const pipeline::RgbdFrame& frame,
                                    const pipeline::CameraPose& T_world_cam,
                                    const pipeline::Image* exclude_mask, double voxel_m,
                                    double max_depth_m);

}  // namespace dyn4d::perception
