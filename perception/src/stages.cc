#include "dyn4d/perception/stages.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <map>
#include <optional>

#include "dyn4d/perception/backprojection.h"
#include "dyn4d/perception/depth_conditioning.h"
#include "dyn4d/perception/pose.h"
#include "dyn4d/perception/rgbd_odometry.h"
#include "dyn4d/perception/static_map.h"
#include "dyn4d/pipeline/ordered_join.h"

namespace dyn4d::perception {
namespace {

using pipeline::Message;
using pipeline::Outputs;

// Joins frames and poses by sequence number (they come from one source on
// two topics, in any interleaving) and back-projects each pair to a world
// cloud. Frames whose pose is lost are skipped: a wrong pose would corrupt
// everything downstream.
class BackprojectStage : public pipeline::Stage {
 public:
  explicit BackprojectStage(BackprojectionConfig c) : config_(c) {}
  std::vector<std::string> InputPorts() const override { return {"frames", "poses"}; }
  std::vector<std::string> OutputPorts() const override { return {"clouds"}; }

  Outputs Process(const std::string& port, const Message& m) override {
    uint64_t seq = pipeline::Meta(m).seq;
    if (port == "frames")
      frames_[seq] = pipeline::Expect<pipeline::RgbdFrame>(m, port);
    else
      poses_[seq] = pipeline::Expect<pipeline::CameraPose>(m, port);
    Outputs out;
    auto f = frames_.find(seq);
    auto p = poses_.find(seq);
    if (f != frames_.end() && p != poses_.end()) {
      if (p->second.status != pipeline::PoseStatus::kLost)
        out.push_back({"clouds", Backproject(f->second, config_, &p->second)});
      frames_.erase(f);
      poses_.erase(p);
    }
    // A pose or frame that never gets its partner must not grow memory
    // without bound: forget entries far behind the newest.
    while (!frames_.empty() && frames_.begin()->first + kMaxPending < seq)
      frames_.erase(frames_.begin());
    while (!poses_.empty() && poses_.begin()->first + kMaxPending < seq)
      poses_.erase(poses_.begin());
    return out;
  }

 private:
  static constexpr uint64_t kMaxPending = 64;
  BackprojectionConfig config_;
  std::map<uint64_t, pipeline::RgbdFrame> frames_;
  std::map<uint64_t, pipeline::CameraPose> poses_;
};

// Camera tracking, the static map and moving objects in 4D, per frame:
//  - poses: T_world_cam (status lost when tracking failed; then nothing of
//    that frame reaches the map);
//  - clouds: the frame's static points in the world frame (voxel-downsampled,
//    with colours and normals);
//  - objects: the input tracks with world centroid, velocity and extent from
//    their masks and depth; object_clouds: each object's world points
//    (meta.source_id "track:ID").
// Pixels under track masks neither drive the pose nor enter the map.
class GeometryStage : public pipeline::Stage {
 public:
  struct Options {
    RgbdOdometry::Config odometry;
    StaticMap::Config map;
    bool integrate_all_frames = false;  ///< default: keyframes only
    bool bilateral_depth = false;       ///< edge-preserving depth filter first
    int map_every_keyframes = 0;        ///< publish the map's surface every N keyframes; 0: never
    double cloud_voxel_m = 0.05;        ///< per-frame cloud voxel; 0: no per-frame clouds
    std::string mesh_file, cloud_file;
    bool has_tracks = false;
  };
  explicit GeometryStage(Options o) : o_(std::move(o)), odometry_(o_.odometry), map_(o_.map) {}
  std::vector<std::string> InputPorts() const override { return {"frames", "tracks", "requests"}; }
  std::vector<std::string> OptionalInputPorts() const override { return {"tracks", "requests"}; }
  std::vector<std::string> OutputPorts() const override {
    return {"poses", "clouds", "objects", "object_clouds", "map", "replies"};
  }
  uint64_t SkippedCount() const override { return lost_; }

  Outputs Process(const std::string& port, const Message& m) override {
    const uint64_t seq = pipeline::Meta(m).seq;
    if (port == "requests") return HandleRequest(m);
    if (port == "frames")
      join_.AddPrimary(seq, pipeline::Expect<pipeline::RgbdFrame>(m, port));
    else
      join_.AddSecondary(seq, pipeline::Expect<pipeline::Tracks>(m, port));
    Outputs out;
    // Frames in order; with a tracks input each waits for its tracks (their
    // masks say what moves), at most kMaxWait frames.
    join_.Release(
        [&](const pipeline::RgbdFrame& f, const pipeline::Tracks* t) { Handle(f, t, out); });
    return out;
  }

  Outputs Finish() override {
    Outputs out;
    join_.Flush(
        [&](const pipeline::RgbdFrame& f, const pipeline::Tracks* t) { Handle(f, t, out); });
    if (!o_.mesh_file.empty() && map_.frames_integrated() > 0) {
      const size_t tris = map_.WriteMesh(o_.mesh_file);
      spdlog::info("geometry: map of {} frames, {} blocks ({} dropped), {} triangles -> {}",
                   map_.frames_integrated(), map_.blocks(), map_.blocks_dropped(), tris,
                   o_.mesh_file);
    }
    if (!o_.cloud_file.empty() && map_.frames_integrated() > 0) map_.WritePointCloud(o_.cloud_file);
    if (lost_) spdlog::warn("geometry: tracking lost on {} frame(s)", lost_);
    return out;
  }

 private:
  static constexpr uint64_t kMaxWait = 32;

  // A Query "export_map" writes the mesh and surface cloud now (atomically)
  // and answers with what was written.
  Outputs HandleRequest(const Message& m) {
    const pipeline::Query* q = &pipeline::Expect<pipeline::Query>(m, "requests");
    pipeline::Answer a;
    a.meta = q->meta;
    a.request_id = q->request_id;
    if (q->question != "export_map") {
      a.answer = "error";
      a.justification = "unknown request '" + q->question + "' (known: export_map)";
    } else if (map_.frames_integrated() == 0) {
      a.answer = "empty";
      a.justification = "no frame fused yet";
    } else {
      const size_t tris = o_.mesh_file.empty() ? 0 : map_.WriteMesh(o_.mesh_file);
      const size_t pts = o_.cloud_file.empty() ? 0 : map_.WritePointCloud(o_.cloud_file);
      a.answer = "ok";
      a.justification = std::to_string(tris) + " triangles to " + o_.mesh_file + ", " +
                        std::to_string(pts) + " points to " + o_.cloud_file + " (" +
                        std::to_string(map_.frames_integrated()) + " frames fused)";
    }
    return {{"replies", a}};
  }

  // Full-frame mask of every track (mono8, 255 = moving object).
  static pipeline::Image DynamicMask(const pipeline::RgbdFrame& f, const pipeline::Tracks& tracks) {
    pipeline::Image mask =
        pipeline::Image::Allocate(f.depth.width, f.depth.height, pipeline::PixelEncoding::kMono8);
    uint8_t* m = mask.data.mutable_data();
    for (const pipeline::Track& t : tracks.items) {
      const int x0 = int(t.box.x), y0 = int(t.box.y);
      for (int y = 0; y < int(t.box.h); ++y)
        for (int x = 0; x < int(t.box.w); ++x) {
          const int u = x0 + x, v = y0 + y;
          if (u < 0 || v < 0 || u >= mask.width || v >= mask.height) continue;
          const bool on = t.mask.empty() || t.mask.data.data()[y * t.mask.width + x];
          if (on) m[v * mask.width + u] = 255;
        }
    }
    return mask;
  }

  void Handle(const pipeline::RgbdFrame& input, const pipeline::Tracks* tracks, Outputs& out) {
    pipeline::RgbdFrame f = input;
    if (o_.bilateral_depth && !f.depth.empty() &&
        f.depth.encoding == pipeline::PixelEncoding::kMono16)
      f.depth = BilateralFilterDepth(f.depth);
    std::optional<pipeline::Image> mask;
    if (tracks && !tracks->items.empty() && !f.depth.empty()) mask = DynamicMask(f, *tracks);
    RgbdOdometry::Result r = odometry_.Track(f, mask ? &*mask : nullptr);
    const bool lost = !r.usable();
    if (lost) {
      if (lost_++ < 20) spdlog::warn("geometry: frame {} lost: {}", f.meta.seq, r.message);
    }
    out.push_back(
        {"poses", ToCameraPose(r.T_world_cam, f.meta,
                               lost ? pipeline::PoseStatus::kLost : pipeline::PoseStatus::kOk)});
    if (lost) return;  // a lost frame never touches the map or the objects
    if (r.is_keyframe || o_.integrate_all_frames)
      map_.Integrate(f, r.T_world_cam, mask ? &*mask : nullptr);
    if (r.is_keyframe && o_.map_every_keyframes > 0 && ++keyframes_ % o_.map_every_keyframes == 0) {
      pipeline::PointCloud surface = map_.SurfaceCloud();
      surface.meta = f.meta;
      surface.meta.source_id = "map";
      out.push_back({"map", std::move(surface)});
    }
    const pipeline::CameraPose pose =
        ToCameraPose(r.T_world_cam, f.meta, pipeline::PoseStatus::kOk);
    if (o_.cloud_voxel_m > 0)
      out.push_back({"clouds", MakeFrameCloud(f, pose, mask ? &*mask : nullptr, o_.cloud_voxel_m,
                                              o_.odometry.max_depth_m)});
    if (tracks) EmitObjects(f, *tracks, pose, out);
  }

  // World points, centroid, extent and velocity of each tracked object.
  void EmitObjects(const pipeline::RgbdFrame& f, const pipeline::Tracks& tracks,
                   const pipeline::CameraPose& pose, Outputs& out) {
    pipeline::Tracks objects = tracks;
    const double t_s = f.meta.stamp_ns / 1e9;
    for (pipeline::Track& t : objects.items) {
      pipeline::RgbdFrame crop = f;  // only this object's pixels keep their depth
      pipeline::Image d =
          pipeline::Image::Allocate(f.depth.width, f.depth.height, f.depth.encoding);
      const size_t bpp = pipeline::BytesPerChannel(d.encoding);
      const int x0 = int(t.box.x), y0 = int(t.box.y);
      for (int y = 0; y < int(t.box.h); ++y)
        for (int x = 0; x < int(t.box.w); ++x) {
          const int u = x0 + x, v = y0 + y;
          if (u < 0 || v < 0 || u >= d.width || v >= d.height) continue;
          if (!t.mask.empty() && !t.mask.data.data()[y * t.mask.width + x]) continue;
          const size_t i = static_cast<size_t>(v) * d.width + u;
          std::memcpy(d.data.mutable_data() + i * bpp, f.depth.data.data() + i * bpp, bpp);
        }
      crop.depth = d;
      BackprojectionConfig bc;
      bc.stride = 1;
      pipeline::PointCloud cloud = Backproject(crop, bc, &pose);
      if (cloud.num_points < 10) continue;
      Eigen::Vector3d lo = Eigen::Vector3d::Constant(1e9), hi = -lo, sum = Eigen::Vector3d::Zero();
      const float* p = cloud.points.as<float>();
      for (uint32_t k = 0; k < cloud.num_points; ++k) {
        const Eigen::Vector3d q(p[3 * k], p[3 * k + 1], p[3 * k + 2]);
        sum += q, lo = lo.cwiseMin(q), hi = hi.cwiseMax(q);
      }
      const Eigen::Vector3d centroid = sum / cloud.num_points;
      t.has_position = true;
      for (int a = 0; a < 3; ++a)
        t.position_world[a] = static_cast<float>(centroid[a]),
        t.extent[a] = static_cast<float>(hi[a] - lo[a]);
      auto prev = last_centroid_.find(t.track_id);
      if (prev != last_centroid_.end() && t_s > prev->second.first) {
        const Eigen::Vector3d v = (centroid - prev->second.second) / (t_s - prev->second.first);
        for (int a = 0; a < 3; ++a) t.velocity_world[a] = static_cast<float>(v[a]);
      }
      last_centroid_[t.track_id] = {t_s, centroid};
      cloud.meta.source_id = "track:" + std::to_string(t.track_id);
      out.push_back({"object_clouds", std::move(cloud)});
    }
    out.push_back({"objects", std::move(objects)});
  }

  Options o_;
  RgbdOdometry odometry_;
  StaticMap map_;
  pipeline::OrderedJoin<pipeline::RgbdFrame, pipeline::Tracks> join_{o_.has_tracks, kMaxWait};
  std::map<int64_t, std::pair<double, Eigen::Vector3d>> last_centroid_;
  uint64_t lost_ = 0, keyframes_ = 0;
};

}  // namespace

RgbdOdometry::Config ReadOdometryConfig(pipeline::Params& p) {
  RgbdOdometry::Config c;
  c.sigma_intensity = p.GetDouble("sigma_intensity", c.sigma_intensity, 1e-4, 1e6);
  c.sigma_depth_m = p.GetDouble("sigma_depth_m", c.sigma_depth_m, 1e-5, 1);
  c.huber_k = p.GetDouble("huber_k", c.huber_k, 0.1, 10);
  c.max_depth_m = p.GetDouble("max_depth_m", c.max_depth_m, 0.5, 50);
  c.keyframe_translation_m =
      p.GetDouble("keyframe_translation_m", c.keyframe_translation_m, 0.01, 10);
  c.keyframe_rotation_deg = p.GetDouble("keyframe_rotation_deg", c.keyframe_rotation_deg, 1, 90);
  c.keyframe_min_overlap = p.GetDouble("keyframe_min_overlap", c.keyframe_min_overlap, 0, 1);
  c.finest_level = p.GetInt("finest_level", c.finest_level, 0, 3);
  const int levels = p.GetInt("levels", c.levels, 1, 6);
  if (levels != c.levels) {
    // One more iteration per coarser level, as the defaults (6, 8, 10).
    c.iterations.clear();
    for (int l = 0; l < levels; ++l) c.iterations.push_back(6 + 2 * l);
    c.levels = levels;
  }
  // Per level, finest first (measured on fr1/rpy: 6,8,10 0.359 deg/frame;
  // 10,8,10 0.368; 6,8,14 0.369; 12,12,12 0.368 at 25 frames/s).
  const std::vector<double> iterations =
      p.GetNumbers("iterations", std::vector<double>(c.iterations.begin(), c.iterations.end()));
  c.iterations.assign(iterations.begin(), iterations.end());
  c.previous_frame_above_deg =
      p.GetDouble("previous_frame_above_deg", c.previous_frame_above_deg, 0, 180);
  c.window_size = p.GetInt("window_size", c.window_size, 0, 20);
  c.compensate_depth_time = p.GetBool("compensate_depth_time", c.compensate_depth_time);
  c.detect_dynamic = p.GetBool("detect_dynamic", c.detect_dynamic);
  c.dynamic_margin_m = p.GetDouble("dynamic_margin_m", c.dynamic_margin_m, 0.005, 2);
  for (const std::string& problem : c.Validate()) p.AddProblem("", problem);
  return c;
}

void RegisterStages(pipeline::StageRegistry& r) {
  RegisterRecognitionStages(r);
  RegisterProposalStages(r);
  RegisterDetectStages(r);
  r.Register("geometry",
             "camera tracking, static TSDF map, moving objects in world coordinates "
             "(inputs frames, tracks, requests; outputs poses, clouds, objects, object_clouds, "
             "map, replies)",
             [](pipeline::Params& p, const pipeline::StageContext& ctx) {
               GeometryStage::Options o;
               o.odometry = ReadOdometryConfig(p);
               auto& m = o.map;
               m.voxel_m = p.GetDouble("voxel_m", m.voxel_m, 0.002, 1);
               m.sdf_trunc_m = p.GetDouble("sdf_trunc_m", m.sdf_trunc_m, 0.005, 2);
               m.max_blocks = p.GetInt("max_blocks", m.max_blocks, 16, 1000000);
               for (const std::string& problem : m.Validate()) p.AddProblem("", problem);
               o.integrate_all_frames = p.GetBool("integrate_all_frames", false);
               o.cloud_voxel_m = p.GetDouble("cloud_voxel_m", o.cloud_voxel_m, 0, 1);
               o.bilateral_depth = p.GetBool("bilateral_depth", o.bilateral_depth);
               o.map_every_keyframes = p.GetInt("map_every_keyframes", 0, 0, 100000);
               const std::string mesh = p.GetString("mesh_file", "map_mesh.ply");
               const std::string cloud = p.GetString("map_cloud_file", "map_tsdf.ply");
               o.mesh_file = mesh.empty() || mesh[0] == '/' ? mesh : ctx.output_dir + "/" + mesh;
               o.cloud_file =
                   cloud.empty() || cloud[0] == '/' ? cloud : ctx.output_dir + "/" + cloud;
               o.has_tracks = ctx.inputs.count("tracks") > 0;
               return std::make_unique<GeometryStage>(std::move(o));
             });
  r.Register("backproject", "joins frames and poses by seq, back-projects depth to world clouds",
             [](pipeline::Params& p, const pipeline::StageContext&) {
               BackprojectionConfig c;
               c.stride = p.GetInt("stride", c.stride, 1, 64);
               c.min_depth_m = p.GetDouble("min_depth_m", c.min_depth_m, 0, 100);
               c.max_depth_m = p.GetDouble("max_depth_m", c.max_depth_m, 0, 100);
               for (const std::string& problem : c.Validate()) p.AddProblem("", problem);
               return std::make_unique<BackprojectStage>(c);
             });
}

}  // namespace dyn4d::perception
