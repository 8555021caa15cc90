#pragma once
/// \file
/// TSDF map of the static scene (Open3D ScalableTSDFVolume; Curless & Levoy
/// 1996, hashed blocks as in Niessner et al. 2013). Pixels of moving objects
/// are never fused. Memory is bounded: beyond `max_blocks` blocks, those
/// farthest from the camera are dropped (before a frame is fused, room for
/// the blocks it will open is made among those out of its view).

#include <Eigen/Geometry>
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

class StaticMap {
 public:
  struct Config {
    double voxel_m = 0.01;      ///< voxel edge; 1 cm suits rooms at Kinect range
    double sdf_trunc_m = 0.04;  ///< truncation distance, a few voxels
    double max_depth_m = 4.0;   ///< farther depth is noisy and not fused
    int max_blocks = 1500;      ///< 16^3-voxel blocks kept (~160 KB each)
    std::vector<std::string> Validate() const;
  };

  StaticMap();
  explicit StaticMap(Config config);
  ~StaticMap();

  /// Fuses the static pixels of `frame` seen from T_world_cam; `dynamic_mask`
  /// (mono8, frame size, nonzero = moving) pixels are left out.
  void Integrate(const pipeline::RgbdFrame& frame, const Eigen::Isometry3d& T_world_cam,
                 const pipeline::Image* dynamic_mask = nullptr);

  size_t blocks() const;
  size_t frames_integrated() const;
  size_t blocks_dropped() const;

  // The const members below only read the volume: they may run at the
  // same time as each other (not as Integrate).

  /// Writes the surface as a binary PLY triangle mesh (vertex colours).
  /// Returns the number of triangles. Throws std::runtime_error on failure.
  size_t WriteMesh(const std::string& path) const;
  /// Writes the surface points as a binary PLY point cloud; returns the count.
  size_t WritePointCloud(const std::string& path) const;
  /// The surface points (world frame, with colours and normals) as a message.
  pipeline::PointCloud SurfaceCloud() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The vertices of a triangle mesh file (PLY, as WriteMesh writes it).
/// Throws std::runtime_error naming the file when it cannot be read.
std::vector<Eigen::Vector3f> ReadMeshVertices(const std::string& path);

}  // namespace dyn4d::perception
