#include "dyn4d/perception/static_map.h"

#include <open3d/geometry/TriangleMesh.h>
#include <open3d/io/TriangleMeshIO.h>

#include <catch2/catch.hpp>

#include "../common/test_stages.h"
#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/pose.h"

using namespace dyn4d;

TEST_CASE("TSDF map of the static scene exports a mesh Open3D reads back", "[perception][map]") {
  io::SyntheticScene::Config c;
  c.width = 320, c.height = 240, c.fx = c.fy = 262.5, c.num_frames = 10, c.num_objects = 3;
  io::SyntheticScene scene(c);
  perception::StaticMap::Config mc;
  mc.voxel_m = 0.04, mc.sdf_trunc_m = 0.12, mc.max_depth_m = 6;
  perception::StaticMap map(mc);
  for (int i = 0; i < 10; i += 3) {
    auto r = scene.Render(i);
    pipeline::Image mask = pipeline::Image::Allocate(320, 240, pipeline::PixelEncoding::kMono8);
    for (size_t k = 0; k < mask.data.size(); ++k)
      mask.data.mutable_data()[k] = r.instances.data.data()[k] ? 255 : 0;
    map.Integrate(r.frame, perception::ToIsometry(r.pose), &mask);
  }
  CHECK(map.frames_integrated() == 4);
  const std::string path = test::TempDir("tsdf") + "/mesh.ply";
  const size_t triangles = map.WriteMesh(path);
  CHECK(triangles > 1000);
  open3d::geometry::TriangleMesh mesh;
  REQUIRE(open3d::io::ReadTriangleMesh(path, mesh));
  CHECK(mesh.triangles_.size() == triangles);
  // Static scene only: every vertex lies on the room's walls, floor or ceiling
  // (objects were masked), within a couple of voxels.
  size_t off_surface = 0;
  for (const Eigen::Vector3d& v : mesh.vertices_) {
    const double d = std::min({std::abs(v.x() + 4), std::abs(v.x() - 4), std::abs(v.y() + 3),
                               std::abs(v.y() - 3), std::abs(v.z()), std::abs(v.z() - 2.8)});
    off_surface += d > 0.1;
  }
  INFO(off_surface << " of " << mesh.vertices_.size() << " vertices off the room's surfaces");
  CHECK(off_surface < mesh.vertices_.size() / 100);
}

TEST_CASE("TSDF memory is bounded by dropping the farthest blocks", "[perception][map]") {
  io::SyntheticScene::Config c;
  c.width = 160, c.height = 120, c.fx = c.fy = 131.25, c.num_frames = 30, c.num_objects = 0;
  io::SyntheticScene scene(c);
  perception::StaticMap::Config mc;
  mc.voxel_m = 0.02, mc.sdf_trunc_m = 0.06, mc.max_blocks = 64;
  perception::StaticMap map(mc);
  for (int i = 0; i < 30; i += 5) {
    auto r = scene.Render(i);
    map.Integrate(r.frame, perception::ToIsometry(r.pose));
    CHECK(map.blocks() <= 64);
  }
  CHECK(map.blocks_dropped() > 0);
}
