#include "dyn4d/perception/static_map.h"

#include <open3d/geometry/RGBDImage.h>
#include <open3d/geometry/TriangleMesh.h>
#include <open3d/io/PointCloudIO.h>
#include <open3d/io/TriangleMeshIO.h>
#include <open3d/pipelines/integration/ScalableTSDFVolume.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "open3d_convert.h"

namespace dyn4d::perception {

std::vector<std::string> StaticMap::Config::Validate() const {
  std::vector<std::string> p;
  if (!(voxel_m > 0)) p.push_back("voxel_m: must be positive");
  if (!(sdf_trunc_m > voxel_m)) p.push_back("sdf_trunc_m: must exceed voxel_m");
  if (!(max_depth_m > 0)) p.push_back("max_depth_m: must be positive");
  if (max_blocks < 16) p.push_back("max_blocks: must be >= 16");
  return p;
}

struct StaticMap::Impl {
  Config c;
  open3d::pipelines::integration::ScalableTSDFVolume volume;
  size_t integrated = 0, dropped = 0;
  size_t last_opened = 0;  // blocks the last frame opened
  explicit Impl(Config config)
      : c(config),
        volume(config.voxel_m, config.sdf_trunc_m,
               open3d::pipelines::integration::TSDFVolumeColorType::RGB8) {}

  // Keeps at most `limit` blocks: the farthest from the camera go. With
  // `in_view` (the frame about to be integrated), only blocks it cannot
  // touch are candidates.
  template <typename InView>
  void Bound(const Eigen::Vector3d& camera, size_t limit, InView in_view) {
    auto& units = volume.volume_units_;
    if (units.size() <= limit) return;
    std::vector<std::pair<double, Eigen::Vector3i>> by_distance;
    for (const auto& kv : units) {
      const Eigen::Vector3d centre =
          (kv.first.cast<double>() + Eigen::Vector3d::Constant(0.5)) * volume.volume_unit_length_;
      if (!in_view(centre)) by_distance.emplace_back((centre - camera).squaredNorm(), kv.first);
    }
    if (units.size() - by_distance.size() > limit) limit = units.size() - by_distance.size();
    std::sort(by_distance.begin(), by_distance.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    const size_t excess = units.size() - limit;
    for (size_t i = 0; i < excess; ++i) units.erase(by_distance[i].second);
    dropped += excess;
  }
};

StaticMap::StaticMap() : StaticMap(Config()) {}
StaticMap::StaticMap(Config config) {
  const auto problems = config.Validate();
  if (!problems.empty()) throw std::invalid_argument("StaticMap::Config: " + problems.front());
  impl_ = std::make_unique<Impl>(config);
}
StaticMap::~StaticMap() = default;

void StaticMap::Integrate(const pipeline::RgbdFrame& f, const Eigen::Isometry3d& T_world_cam,
                          const pipeline::Image* mask) {
  using pipeline::PixelEncoding;
  if (f.color.empty() || f.depth.empty() || f.depth.encoding != PixelEncoding::kMono16) return;
  auto rgbd =
      internal::ToOpen3dRgbd(f, mask, impl_->c.max_depth_m, false);  // moving objects never enter
  const auto K = internal::ToOpen3dIntrinsics(f.intrinsics);
  // Room is made before the frame opens its blocks (as many as the last
  // frame opened), among blocks out of its view (so none is dropped and
  // re-opened with one frame's data), not only after: otherwise each frame
  // that turns to new space holds the cap plus its new blocks for a moment
  // (40-50 MB on the default graph), and glibc keeps such peaks resident.
  const size_t cap = static_cast<size_t>(impl_->c.max_blocks);
  const Eigen::Vector3d camera = T_world_cam.translation();
  const Eigen::Isometry3d T_cam_world = T_world_cam.inverse();
  const auto& k = f.intrinsics;
  const double radius = impl_->volume.volume_unit_length_ * std::sqrt(3.0) / 2;
  const double reach = impl_->c.max_depth_m + impl_->c.sdf_trunc_m + radius;
  auto in_view = [&](const Eigen::Vector3d& centre) {
    const Eigen::Vector3d p = T_cam_world * centre;
    if (p.z() < -radius || p.norm() > reach) return false;
    if (p.z() <= radius) return true;  // around the camera: keep
    const double margin_u = k.fx * radius / p.z(), margin_v = k.fy * radius / p.z();
    const double u = k.fx * p.x() / p.z() + k.cx, v = k.fy * p.y() / p.z() + k.cy;
    return u > -margin_u && u < f.depth.width + margin_u && v > -margin_v &&
           v < f.depth.height + margin_v;
  };
  impl_->Bound(camera, cap - std::min(cap / 2, impl_->last_opened), in_view);
  const size_t before = impl_->volume.volume_units_.size();
  impl_->volume.Integrate(*rgbd, K, T_cam_world.matrix());
  impl_->last_opened = impl_->volume.volume_units_.size() - before;
  ++impl_->integrated;
  impl_->Bound(camera, cap, [](const Eigen::Vector3d&) { return false; });
}

size_t StaticMap::blocks() const { return impl_->volume.volume_units_.size(); }
size_t StaticMap::frames_integrated() const { return impl_->integrated; }
size_t StaticMap::blocks_dropped() const { return impl_->dropped; }

namespace {

// Open3D's PLY writer (RPly) reports a full disk once per element on stderr
// and may still return success, leaving a short file. So: refuse before
// writing when the disk cannot hold the file, check the size after, and
// only then move it under its name. `min_bytes` is a lower bound of the
// binary PLY's size.
template <class WriteFn>
void WriteComplete(const std::string& path, uintmax_t min_bytes, const char* what, WriteFn write) {
  namespace fs = std::filesystem;
  const std::string partial = path + ".partial.ply";
  std::error_code ec;
  const fs::path dir = fs::absolute(path).parent_path();
  const fs::space_info space = fs::space(dir, ec);
  if (!ec && space.available < min_bytes)
    throw std::runtime_error("cannot write " + std::string(what) + " '" + path + "': it needs " +
                             std::to_string(min_bytes >> 10) + " KiB or more, " +
                             std::to_string(space.available >> 10) + " KiB free (disk full)");
  const bool ok = write(partial);
  const uintmax_t size = fs::exists(partial, ec) ? fs::file_size(partial, ec) : 0;
  if (!ok || size < min_bytes) {
    fs::remove(partial, ec);
    throw std::runtime_error("cannot write " + std::string(what) + " '" + path + "' (" +
                             std::to_string(size) + " of at least " + std::to_string(min_bytes) +
                             " bytes written: disk full?)");
  }
  fs::rename(partial, path);
}

}  // namespace

size_t StaticMap::WriteMesh(const std::string& path) const {
  auto mesh = impl_->volume.ExtractTriangleMesh();
  // xyz + normal as floats and rgb per vertex, count + 3 indices per face.
  const uintmax_t min_bytes = mesh->vertices_.size() * 27 + mesh->triangles_.size() * 13;
  WriteComplete(path, min_bytes, "mesh", [&](const std::string& partial) {
    return open3d::io::WriteTriangleMesh(partial, *mesh, /*write_ascii=*/false,
                                         /*compressed=*/false, /*write_vertex_normals=*/true,
                                         /*write_vertex_colors=*/true,
                                         /*write_triangle_uvs=*/false, /*print_progress=*/false);
  });
  return mesh->triangles_.size();
}

std::vector<Eigen::Vector3f> ReadMeshVertices(const std::string& path) {
  open3d::geometry::TriangleMesh mesh;
  if (!std::filesystem::exists(path) || !open3d::io::ReadTriangleMesh(path, mesh))
    throw std::runtime_error("cannot read mesh '" + path + "'");
  std::vector<Eigen::Vector3f> out;
  out.reserve(mesh.vertices_.size());
  for (const Eigen::Vector3d& v : mesh.vertices_) out.push_back(v.cast<float>());
  return out;
}

size_t StaticMap::WritePointCloud(const std::string& path) const {
  auto cloud = impl_->volume.ExtractPointCloud();
  WriteComplete(path, cloud->points_.size() * 12, "point cloud", [&](const std::string& partial) {
    return open3d::io::WritePointCloud(partial, *cloud);
  });
  return cloud->points_.size();
}

}  // namespace dyn4d::perception

namespace dyn4d::perception {

pipeline::PointCloud StaticMap::SurfaceCloud() const {
  auto cloud = impl_->volume.ExtractPointCloud();
  pipeline::PointCloud out;
  out.frame_id = "world";
  const size_t n = cloud->points_.size();
  out.num_points = static_cast<uint32_t>(n);
  out.points = pipeline::Buffer::Allocate(n * 12);
  float* p = out.points.mutable_as<float>();
  const bool colors = cloud->HasColors(), normals = cloud->HasNormals();
  if (colors) out.colors = pipeline::Buffer::Allocate(n * 3);
  if (normals) out.normals = pipeline::Buffer::Allocate(n * 12);
  for (size_t i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a) {
      p[3 * i + a] = static_cast<float>(cloud->points_[i][a]);
      if (colors)
        out.colors.mutable_data()[3 * i + a] =
            static_cast<uint8_t>(std::lround(std::clamp(cloud->colors_[i][a], 0.0, 1.0) * 255));
      if (normals)
        out.normals.mutable_as<float>()[3 * i + a] = static_cast<float>(cloud->normals_[i][a]);
    }
  return out;
}

}  // namespace dyn4d::perception
