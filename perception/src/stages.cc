#include "dyn4d/perception/stages.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <optional>

#include "dyn4d/perception/backprojection.h"
#include "dyn4d/perception/depth_conditioning.h"
#include "dyn4d/perception/pose.h"
#include "dyn4d/perception/rgbd_odometry.h"
#include "dyn4d/perception/seen_through.h"
#include "dyn4d/perception/static_map.h"
#include "dyn4d/pipeline/ordered_join.h"
#include "in_order_worker.h"

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

// The geometry node's map side: what the views around a keyframe see
// through is voted out (SeenThroughFilter), the rest fused into the TSDF
// (StaticMap), and every `every_keyframes` keyframes fused the map's
// surface goes out. Frames come in order; its results depend only on them.
class MapFusion {
 public:
  struct Frame {
    pipeline::RgbdFrame frame;
    Eigen::Isometry3d T_world_cam = Eigen::Isometry3d::Identity();
    pipeline::Image mask;  // moving objects (mono8); empty: none
    bool keyframe = false;
    bool fuse = false;  // meant for the map (keyframes, or every frame)
  };
  struct Result {
    std::vector<pipeline::PointCloud> surfaces;  // for the "map" output
    size_t blocks = 0;                           // the map's after this frame
    uint64_t seen_through_pixels = 0;            // kept out so far
  };

  MapFusion(const StaticMap::Config& map, const SeenThroughConfig& seen_through,
            int every_keyframes)
      : map_(map), seen_through_(seen_through), every_keyframes_(every_keyframes) {}

  Result Add(const Frame& f) {
    if (f.keyframe) keyframes_waiting_.push_back(f.frame.meta.seq);
    Result r;
    for (SeenThroughFilter::Ready& ready :
         seen_through_.Add(f.frame, f.T_world_cam, f.mask.empty() ? nullptr : &f.mask, f.fuse))
      Fuse(ready, r);
    return Finished(std::move(r));
  }
  /// The frames still waiting for their views, judged by those there are.
  Result Flush() {
    Result r;
    for (SeenThroughFilter::Ready& ready : seen_through_.Flush()) Fuse(ready, r);
    return Finished(std::move(r));
  }
  const StaticMap& map() const { return map_; }

 private:
  void Fuse(const SeenThroughFilter::Ready& ready, Result& r) {
    map_.Integrate(ready.frame, ready.T_world_cam, &ready.mask);
    seen_through_pixels_ += ready.seen_through_pixels;
    const bool keyframe =
        !keyframes_waiting_.empty() && keyframes_waiting_.front() == ready.frame.meta.seq;
    if (!keyframe) return;  // integrate_all_frames: a frame between keyframes
    keyframes_waiting_.pop_front();
    ++keyframes_fused_;
    if (every_keyframes_ > 0 && keyframes_fused_ % every_keyframes_ == 0) {
      pipeline::PointCloud surface = map_.SurfaceCloud();
      surface.meta = ready.frame.meta;
      surface.meta.source_id = "map";
      r.surfaces.push_back(std::move(surface));
    }
  }
  Result Finished(Result r) const {
    r.blocks = map_.blocks();
    r.seen_through_pixels = seen_through_pixels_;
    return r;
  }

  StaticMap map_;
  SeenThroughFilter seen_through_;
  int every_keyframes_;
  std::deque<uint64_t> keyframes_waiting_;  // seqs of keyframes not yet fused, in order
  uint64_t keyframes_fused_ = 0, seen_through_pixels_ = 0;
};

// Camera tracking, the static map and moving objects in 4D, per frame:
//  - poses: T_world_cam (status lost when tracking failed; then nothing of
//    that frame reaches the map);
//  - moving: the moving objects the tracker segmented (box, mask, world
//    centroid and extent, score = share of their surface seen moving, and a
//    colour signature as embedding), as proposals for recognition and
//    tracking;
//  - clouds: the frame's static points in the world frame (voxel-downsampled,
//    with colours and normals);
//  - objects: the input tracks with world centroid, velocity and extent from
//    their masks and depth; object_clouds: each object's world points
//    (meta.source_id "track:ID").
// Moving objects (segmented, and tracked ones' masks when tracks come in)
// neither drive the pose nor enter the map, nor does what the views around
// a keyframe see through (SeenThroughFilter: a keyframe reaches the map
// map_seen_through_frames after its frame). With lookahead_frames, every
// output comes that many frames after its frame. The map side (MapFusion)
// works on its own thread (map_thread): the votes and the fusion of a
// keyframe take about as long as tracking two frames, and tracking never
// waits for them; the map is the same either way.
class GeometryStage : public pipeline::Stage {
 public:
  struct Options {
    SceneTracker::Options tracker;
    StaticMap::Config map;
    bool integrate_all_frames = false;  ///< default: keyframes only
    SeenThroughConfig seen_through;     ///< what other views see through stays out of the map
    bool bilateral_depth = false;       ///< edge-preserving depth filter first
    int map_every_keyframes = 0;        ///< publish the map's surface every N keyframes; 0: never
    double cloud_voxel_m = 0.05;        ///< per-frame cloud voxel; 0: no per-frame clouds
    bool map_thread = true;             ///< the map side on its own thread
    std::string mesh_file, cloud_file;
    bool has_tracks = false;
  };
  explicit GeometryStage(Options o)
      : o_(std::move(o)),
        tracker_(o_.tracker),
        fusion_(o_.map, o_.seen_through, o_.map_every_keyframes) {
    if (o_.map_thread)
      map_worker_.emplace([this](const MapFusion::Frame& f) { return fusion_.Add(f); });
  }
  std::vector<std::string> InputPorts() const override { return {"frames", "tracks", "requests"}; }
  std::vector<std::string> OptionalInputPorts() const override { return {"tracks", "requests"}; }
  std::vector<std::string> OutputPorts() const override {
    return {"poses", "clouds", "objects", "object_clouds", "map", "replies", "moving"};
  }
  uint64_t SkippedCount() const override { return lost_; }
  std::map<std::string, double> Counters() const override {
    // A bounded structure reports its size and its cap (NAME, NAME_max):
    // `bench pipeline --long` ends the warm-up when they stop growing.
    return {{"lost", double(lost_)},
            {"moving_objects", moving_},
            {"keyframes", double(keyframes_)},
            {"tsdf_blocks", double(blocks_)},
            {"tsdf_blocks_max", double(o_.map.max_blocks)},
            {"seen_through_pixels", double(seen_through_pixels_)}};
  }

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
        [&](const pipeline::RgbdFrame& f, const pipeline::Tracks* t) { Push(f, t, out); });
    return out;
  }

  Outputs Finish() override {
    Outputs out;
    join_.Flush([&](const pipeline::RgbdFrame& f, const pipeline::Tracks* t) { Push(f, t, out); });
    tracker_.Flush([&](SceneTracker::Output& o) { Handle(o, out); });
    const StaticMap& map = DrainMap(out);
    Emit(fusion_.Flush(), out);
    if (map.frames_integrated() > 0) {
      const auto [tris, points] = WriteMap(map);
      if (!o_.mesh_file.empty())
        spdlog::info("geometry: map of {} frames, {} blocks ({} dropped), {} triangles -> {}",
                     map.frames_integrated(), map.blocks(), map.blocks_dropped(), tris,
                     o_.mesh_file);
    }
    if (lost_) spdlog::warn("geometry: tracking lost on {} frame(s)", lost_);
    // Poses and clouds of the frames before went out (lost); a run that
    // tracked nothing must not end as if it had worked.
    if (handled_ > 0 && lost_ == handled_)
      throw std::runtime_error(
          "tracking lost on every one of the " + std::to_string(handled_) +
          " frames: wrong intrinsics or depth scale, no depth, or nothing static in view (see "
          "the first frames' reasons above)");
    return out;
  }

 private:
  static constexpr uint64_t kMaxWait = 32;

  // A Query "export_map" writes the mesh and surface cloud now (atomically)
  // and answers with what was written.
  Outputs HandleRequest(const Message& m) {
    const pipeline::Query* q = &pipeline::Expect<pipeline::Query>(m, "requests");
    Outputs out;
    const StaticMap& map = DrainMap(out);
    pipeline::Answer a;
    a.meta = q->meta;
    a.request_id = q->request_id;
    if (q->question != "export_map") {
      a.answer = "error";
      a.justification = "unknown request '" + q->question + "' (known: export_map)";
    } else if (map.frames_integrated() == 0) {
      a.answer = "empty";
      a.justification = "no frame fused yet";
    } else {
      const auto [tris, pts] = WriteMap(map);
      a.answer = "ok";
      a.justification = std::to_string(tris) + " triangles to " + o_.mesh_file + ", " +
                        std::to_string(pts) + " points to " + o_.cloud_file + " (" +
                        std::to_string(map.frames_integrated()) + " frames fused)";
    }
    out.push_back({"replies", a});
    return out;
  }

  // Writes the mesh and the surface cloud (each extracted from the TSDF on
  // its own: the two at once); returns triangles and points written.
  std::pair<size_t, size_t> WriteMap(const StaticMap& map) const {
    std::future<size_t> points = std::async(std::launch::async, [&] {
      return o_.cloud_file.empty() ? 0 : map.WritePointCloud(o_.cloud_file);
    });
    const size_t triangles = o_.mesh_file.empty() ? 0 : map.WriteMesh(o_.mesh_file);
    return {triangles, points.get()};
  }

  // Hands a frame to the map side; what it has finished goes out.
  void ToMap(const MapFusion::Frame& f, Outputs& out) {
    if (!map_worker_) return Emit(fusion_.Add(f), out);
    map_worker_->Push(f, kMapWaiting);
    for (MapFusion::Result& r : map_worker_->Take(std::numeric_limits<size_t>::max()))
      Emit(std::move(r), out);
  }
  // Waits for the map side to finish every frame given (its results go
  // out); the map is then this thread's to read until the next ToMap.
  const StaticMap& DrainMap(Outputs& out) {
    if (map_worker_)
      for (MapFusion::Result& r : map_worker_->Take(0)) Emit(std::move(r), out);
    return fusion_.map();
  }
  void Emit(MapFusion::Result&& r, Outputs& out) {
    for (pipeline::PointCloud& s : r.surfaces) out.push_back({"map", std::move(s)});
    blocks_ = r.blocks;
    seen_through_pixels_ = r.seen_through_pixels;
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

  void Push(const pipeline::RgbdFrame& input, const pipeline::Tracks* tracks, Outputs& out) {
    pipeline::RgbdFrame f = input;
    if (o_.bilateral_depth && !f.depth.empty() &&
        f.depth.encoding == pipeline::PixelEncoding::kMono16)
      f.depth = BilateralFilterDepth(f.depth);
    std::optional<pipeline::Image> mask;
    if (tracks && !tracks->items.empty() && !f.depth.empty()) mask = DynamicMask(f, *tracks);
    if (tracks) tracks_[f.meta.seq] = *tracks;
    for (SceneTracker::Output& o : tracker_.Push(f, mask ? &*mask : nullptr)) Handle(o, out);
  }

  void Handle(SceneTracker::Output& o, Outputs& out) {
    const pipeline::RgbdFrame& f = o.frame;
    const RgbdOdometry::Result& r = o.odometry;
    const bool lost = !r.usable();
    ++handled_;
    if (lost) {
      if (lost_++ < 20) spdlog::warn("geometry: frame {} lost: {}", f.meta.seq, r.message);
    }
    out.push_back({"poses", PoseMessage(r, f.meta)});
    pipeline::Detections moving = MovingObjectDetections(o);
    moving_ += moving.items.size();
    out.push_back({"moving", std::move(moving)});
    auto t = tracks_.find(f.meta.seq);
    std::optional<pipeline::Tracks> tracks;
    if (t != tracks_.end()) tracks = std::move(t->second);
    tracks_.erase(tracks_.begin(),
                  t == tracks_.end() ? tracks_.lower_bound(f.meta.seq) : std::next(t));
    if (lost) return;  // a lost frame never touches the map or the objects
    const pipeline::Image* mask = o.mask.empty() ? nullptr : &o.mask;
    // Keyframes reach the map once the views around them are in
    // (seen_through: up to its window_frames later).
    ToMap({f, r.T_world_cam, o.mask, r.is_keyframe, r.is_keyframe || o_.integrate_all_frames}, out);
    if (r.is_keyframe) ++keyframes_;
    const pipeline::CameraPose pose =
        ToCameraPose(r.T_world_cam, f.meta, pipeline::PoseStatus::kOk);
    if (o_.cloud_voxel_m > 0)
      out.push_back({"clouds", MakeFrameCloud(f, pose, mask, o_.cloud_voxel_m,
                                              o_.tracker.odometry.max_depth_m)});
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

  // Frames that may wait for the map side before the tracking side waits
  // for it: a second of 30 Hz video, so that a keyframe whose fusion opens
  // many blocks at once (0.6 s of Open3D block allocation and page faults
  // on Bonn's frame 35) does not hold the tracking back. With 4, the live
  // graph's frames 35-43 took 300-570 ms there (p99 418-461 ms; 88-128 with
  // 30). Each waiting frame keeps its images (1.5 MB at 640x480).
  static constexpr size_t kMapWaiting = 30;
  Options o_;
  SceneTracker tracker_;
  MapFusion fusion_;
  pipeline::OrderedJoin<pipeline::RgbdFrame, pipeline::Tracks> join_{o_.has_tracks, kMaxWait};
  std::map<uint64_t, pipeline::Tracks> tracks_;  // of frames still in the tracker
  std::map<int64_t, std::pair<double, Eigen::Vector3d>> last_centroid_;
  uint64_t lost_ = 0, keyframes_ = 0, handled_ = 0, seen_through_pixels_ = 0;
  size_t blocks_ = 0;
  double moving_ = 0;
  // Last: its thread works on fusion_ and stops before the members go.
  std::optional<internal::InOrderWorker<MapFusion::Frame, MapFusion::Result>> map_worker_;
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
  c.weight_by_surface_area = p.GetBool("weight_by_surface_area", c.weight_by_surface_area);
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
  c.min_visible_fraction = p.GetDouble("min_visible_fraction", c.min_visible_fraction, 0, 0.99);
  c.max_uncertain_frames = p.GetInt("max_uncertain_frames", c.max_uncertain_frames, 0, 10000);
  for (const std::string& problem : c.Validate()) p.AddProblem("", problem);
  return c;
}

SceneTracker::Options ReadSceneTrackerOptions(pipeline::Params& p) {
  SceneTracker::Options o;
  o.odometry = ReadOdometryConfig(p);
  o.detect_moving_objects = p.GetBool("detect_dynamic", o.detect_moving_objects);
  o.segmentation = ReadMotionSegmentationConfig(p, o.segmentation);
  o.lookahead_frames = p.GetInt("lookahead_frames", o.lookahead_frames, 0, 1000);
  o.past_frames = p.GetInt("past_frames", o.past_frames, 0, 100000);
  o.reference_every = p.GetInt("reference_every", o.reference_every, 1, 1000);
  o.motion_stride = p.GetInt("motion_stride", o.motion_stride, 1, 16);
  o.mask_margin_px = p.GetInt("mask_margin_px", o.mask_margin_px, 0, 256);
  o.final_pass_thread = p.GetBool("final_pass_thread", o.final_pass_thread);
  o.recognise_places = p.GetBool("recognise_places", o.recognise_places);
  PlaceRecognitionConfig& pr = o.places;
  pr.node_every_frames = p.GetInt("place_node_every_frames", pr.node_every_frames, 1, 1000);
  pr.features = p.GetInt("place_features", pr.features, 50, 100000);
  pr.min_gap_frames = p.GetInt("place_min_gap_frames", pr.min_gap_frames, 1, 1000000);
  pr.max_view_angle_deg = p.GetDouble("place_max_view_angle_deg", pr.max_view_angle_deg, 0, 90);
  pr.max_candidates = p.GetInt("place_max_candidates", pr.max_candidates, 1, 10000);
  pr.min_inliers = p.GetInt("place_min_inliers", pr.min_inliers, 6, 100000);
  pr.max_image_motion_px = p.GetDouble("place_max_image_motion_px", pr.max_image_motion_px, 0, 1e6);
  pr.max_forward_backward_deg =
      p.GetDouble("place_max_forward_backward_deg", pr.max_forward_backward_deg, 0, 180);
  pr.odometry_sigma_m = p.GetDouble("place_odometry_sigma_m", pr.odometry_sigma_m, 0, 10);
  pr.odometry_sigma_deg = p.GetDouble("place_odometry_sigma_deg", pr.odometry_sigma_deg, 0, 180);
  pr.place_sigma_m = p.GetDouble("place_sigma_m", pr.place_sigma_m, 0, 10);
  pr.place_sigma_deg = p.GetDouble("place_sigma_deg", pr.place_sigma_deg, 0, 180);
  pr.max_frames_in_work = p.GetInt("place_max_frames_in_work", pr.max_frames_in_work, 0, 1000);
  // Live (no look-ahead) a frame goes out without waiting for its own
  // place features and solve; offline each frame takes its own correction.
  o.place_correction_lag_frames =
      p.GetInt("place_correction_lag_frames", o.lookahead_frames == 0 ? 1 : 0, 0, 1000);
  for (const std::string& problem : o.Validate()) p.AddProblem("", problem);
  return o;
}

MotionSegmentationConfig ReadMotionSegmentationConfig(pipeline::Params& p,
                                                      const MotionSegmentationConfig& defaults) {
  MotionSegmentationConfig c = defaults;
  c.noise.sigma0_m = p.GetDouble("noise_sigma0_m", c.noise.sigma0_m, 1e-5, 1);
  c.noise.quadratic_per_m = p.GetDouble("noise_quadratic_per_m", c.noise.quadratic_per_m, 0, 1);
  c.noise.offset_m = p.GetDouble("noise_offset_m", c.noise.offset_m, 0, 10);
  c.noise.peripheral_per_m = p.GetDouble("noise_peripheral_per_m", c.noise.peripheral_per_m, 0, 1);
  c.min_depth_m = p.GetDouble("min_depth_m", c.min_depth_m, 0.01, 100);
  c.max_depth_m = p.GetDouble("max_depth_m", c.max_depth_m, 0.02, 100);
  c.n_sigma = p.GetDouble("n_sigma", c.n_sigma, 0.1, 100);
  c.pose_sigma_m = p.GetDouble("pose_sigma_m", c.pose_sigma_m, 0, 10);
  c.pose_sigma_deg = p.GetDouble("pose_sigma_deg", c.pose_sigma_deg, 0, 90);
  c.time_uncertainty_s = p.GetDouble("time_uncertainty_s", c.time_uncertainty_s, 0, 10);
  c.edge_rel = p.GetDouble("edge_rel", c.edge_rel, 0, 10);
  c.min_evidence_area_m2 = p.GetDouble("min_evidence_area_m2", c.min_evidence_area_m2, 0, 100);
  c.min_evidence_fraction = p.GetDouble("min_evidence_fraction", c.min_evidence_fraction, 0, 1);
  c.min_region_area_m2 = p.GetDouble("min_region_area_m2", c.min_region_area_m2, 0, 100);
  c.merge_gap_m = p.GetDouble("merge_gap_m", c.merge_gap_m, 0, 100);
  c.refine_poses = p.GetBool("refine_poses", c.refine_poses);
  c.max_object_speed_mps = p.GetDouble("max_object_speed_mps", c.max_object_speed_mps, 0.01, 100);
  c.persist_frames = p.GetInt("persist_frames", c.persist_frames, 0, 100000);
  c.min_evidence_frames = p.GetInt("min_evidence_frames", c.min_evidence_frames, 1, 100000);
  c.backward_test = p.GetBool("backward_test", c.backward_test);
  c.support_min_dt_s = p.GetDouble("support_min_dt_s", c.support_min_dt_s, 0, 100);
  for (const std::string& problem : c.Validate()) p.AddProblem("", problem);
  return c;
}

void RegisterStages(pipeline::StageRegistry& r) {
  RegisterRecognitionStages(r);
  RegisterProposalStages(r);
  RegisterDetectStages(r);
  r.Register(
      "geometry",
      "camera tracking among moving objects, static TSDF map, moving objects segmented and "
      "in world coordinates (inputs frames, tracks, requests; outputs poses, moving, "
      "clouds, objects, object_clouds, map, replies)",
      [](pipeline::Params& p, const pipeline::StageContext& ctx) {
        GeometryStage::Options o;
        o.tracker = ReadSceneTrackerOptions(p);
        auto& m = o.map;
        m.voxel_m = p.GetDouble("voxel_m", m.voxel_m, 0.002, 1);
        m.sdf_trunc_m = p.GetDouble("sdf_trunc_m", m.sdf_trunc_m, 0.005, 2);
        m.max_blocks = p.GetInt("max_blocks", m.max_blocks, 16, 1000000);
        for (const std::string& problem : m.Validate()) p.AddProblem("", problem);
        o.integrate_all_frames = p.GetBool("integrate_all_frames", false);
        SeenThroughConfig& st = o.seen_through;
        st.window_frames = p.GetInt("map_seen_through_frames", st.window_frames, 0, 100000);
        st.min_views = p.GetInt("map_seen_through_views", st.min_views, 1, 255);
        st.pose_error_m = p.GetDouble("map_seen_through_pose_error_m", st.pose_error_m, 0, 10);
        for (const std::string& problem : st.Validate()) p.AddProblem("", problem);
        o.cloud_voxel_m = p.GetDouble("cloud_voxel_m", o.cloud_voxel_m, 0, 1);
        o.bilateral_depth = p.GetBool("bilateral_depth", o.bilateral_depth);
        o.map_every_keyframes = p.GetInt("map_every_keyframes", 0, 0, 100000);
        o.map_thread = p.GetBool("map_thread", o.map_thread);
        const std::string mesh = p.GetString("mesh_file", "map_mesh.ply");
        const std::string cloud = p.GetString("map_cloud_file", "map_tsdf.ply");
        o.mesh_file = mesh.empty() || mesh[0] == '/' ? mesh : ctx.output_dir + "/" + mesh;
        o.cloud_file = cloud.empty() || cloud[0] == '/' ? cloud : ctx.output_dir + "/" + cloud;
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
