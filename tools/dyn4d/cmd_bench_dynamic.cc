// dyn4d bench dynamic: the default graph on real RGB-D sequences, static
// ones (every moving track is a false positive) and one with people walking
// past a moving camera (Bonn RGB-D Dynamic "crowd").
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "commands.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/perception/motion_segmentation.h"
#include "dyn4d/perception/onnx_models.h"
#include "dyn4d/perception/open3d_baseline.h"
#include "dyn4d/perception/pose.h"
#include "dyn4d/perception/scene_tracker.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/perception/static_map.h"
#include "dyn4d/perception/trajectory_eval.h"
#include "dyn4d/pipeline/graph.h"
#include "dyn4d/tracking/mot_eval.h"
#include "graph_run.h"
#include "progress.h"
#include "synth_tracking.h"

namespace dyn4d::cli {

namespace fs = std::filesystem;
using perception::StampedPose;

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Sequence {
  std::string name;
  bool is_static = false;  ///< nothing moves: every moving track is a false positive
};

// One track line of tracks.jsonl.
struct TrackBox {
  int64_t id = -1;
  pipeline::Box2D box;
};

std::map<uint64_t, std::vector<TrackBox>> ReadTracks(const std::string& file) {
  std::map<uint64_t, std::vector<TrackBox>> out;
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read '" + file + "'");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) throw std::runtime_error("'" + file + "': a line is not JSON");
    if (j.value("state", std::string("confirmed")) != "confirmed") continue;
    TrackBox t;
    t.id = j.at("track_id").get<int64_t>();
    const auto b = j.at("box_xywh").get<std::vector<float>>();
    if (b.size() == 4) t.box = {b[0], b[1], b[2], b[3]};
    out[j.at("frame").get<uint64_t>()].push_back(t);
  }
  return out;
}

// IoU as the MOT devkit computes it (tracking::Iou).
double Iou(const pipeline::Box2D& a, const pipeline::Box2D& b) {
  return tracking::Iou({-1, a.x, a.y, a.w, a.h}, {-1, b.x, b.y, b.w, b.h});
}

// A person's pixels, roughly: the box's pixels at the depth of its centre
// (within 0.4 m, about a body's depth), for the map check. Empty where the
// centre has no depth.
struct PersonMask {
  pipeline::Box2D box;
  std::vector<uint8_t> on;  // box-sized
};
PersonMask PersonPixels(const pipeline::RgbdFrame& f, const pipeline::Box2D& box) {
  PersonMask m;
  m.box = box;
  const int x0 = std::max(0, int(box.x)), y0 = std::max(0, int(box.y));
  const int x1 = std::min(f.depth.width, int(box.x + box.w)),
            y1 = std::min(f.depth.height, int(box.y + box.h));
  m.box = {float(x0), float(y0), float(x1 - x0), float(y1 - y0)};
  if (x1 <= x0 || y1 <= y0 || f.depth.empty()) return m;
  const uint16_t* d = f.depth.data.as<uint16_t>();
  std::vector<float> centre;
  for (int y = y0 + (y1 - y0) / 5; y < y1 - (y1 - y0) / 5; ++y)
    for (int x = x0 + 3 * (x1 - x0) / 10; x < x1 - 3 * (x1 - x0) / 10; ++x)
      if (d[y * f.depth.width + x]) centre.push_back(d[y * f.depth.width + x] / f.depth_scale);
  if (centre.empty()) return m;
  std::nth_element(centre.begin(), centre.begin() + centre.size() / 2, centre.end());
  const double z0 = centre[centre.size() / 2];
  m.on.assign(static_cast<size_t>(x1 - x0) * (y1 - y0), 0);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const double z = d[y * f.depth.width + x] / f.depth_scale;
      if (z > 0 && std::abs(z - z0) < 0.4)
        m.on[static_cast<size_t>(y - y0) * (x1 - x0) + x - x0] = 1;
    }
  return m;
}

struct Figures {
  std::string name;
  bool is_static = false;
  size_t frames = 0;
  double graph_fps = 0, tracking_fps = 0;
  size_t moving_tracks = 0, moving_track_frames = 0;
  bool has_gt = false;
  perception::TrajectoryErrors ours, open3d;
  bool has_open3d = false;
  double open3d_fps = 0;
  int person_boxes = 0, person_covered = 0;
  size_t map_vertices = 0, map_vertices_on_people = 0;
  // The graph again with the depth distortion self-calibrated (step 3b).
  bool depth_calibrated = false;
  double depth_explained = 0;
  std::vector<std::string> depth_terms;  // as the input node takes them
  perception::TrajectoryErrors depth_calibrated_ate;
  size_t depth_calibrated_tracks = 0;
  // Camera tracking alone from later starts (--starts): ATE per start.
  std::vector<std::pair<int, double>> ate_by_start;
};

constexpr int kStartStep = 5;  // frames between the starts of --starts

// The default graph's camera tracking over frames[first...]: the poses of
// usable frames (lost ones left out, as the trajectory writer does). From a
// later start the frames are numbered from 0, as a recording that starts
// there would be (which frames serve as references follows the numbering).
std::vector<StampedPose> TrackPoses(const std::vector<pipeline::RgbdFrame>& frames, size_t first,
                                    const perception::SceneTracker::Options& options,
                                    ProgressBar* bar = nullptr) {
  perception::SceneTracker tracker(options);
  std::vector<StampedPose> est;
  size_t done = 0;
  auto take = [&](std::vector<perception::SceneTracker::Output>&& outs) {
    for (const auto& o : outs) {
      ++done;
      if (o.odometry.usable()) est.push_back({o.frame.meta.stamp_ns / 1e9, o.odometry.T_world_cam});
    }
    if (bar) bar->Update(static_cast<int64_t>(done));
  };
  for (size_t i = first; i < frames.size(); ++i) {
    if (first == 0) {
      take(tracker.Push(frames[i]));
      continue;
    }
    pipeline::RgbdFrame f = frames[i];
    f.meta.seq = i - first;
    take(tracker.Push(f));
  }
  take(tracker.Flush());
  return est;
}

// The ground-truth poses of frames[first...], at frame times.
std::vector<StampedPose> TruthFrom(const std::vector<pipeline::RgbdFrame>& frames,
                                   const std::vector<std::optional<pipeline::CameraPose>>& gt,
                                   size_t first) {
  std::vector<StampedPose> truth;
  for (size_t i = first; i < frames.size(); ++i)
    if (gt[i]) truth.push_back({frames[i].meta.stamp_ns / 1e9, perception::ToIsometry(*gt[i])});
  return truth;
}

double Ate(const std::vector<StampedPose>& est, const std::vector<StampedPose>& truth) {
  if (est.size() < 3 || truth.size() < 3) return std::numeric_limits<double>::quiet_NaN();
  return perception::EvaluateTrajectory(perception::Associate(est, truth, 0.02)).ate_rmse_m;
}

Figures RunSequence(const Sequence& seq, const std::string& shared, const std::string& out_dir,
                    const DynamicBenchOptions& o) {
  Figures fig;
  fig.name = seq.name;
  fig.is_static = seq.is_static;
  const std::string path = (fs::path(shared) / "data" / seq.name).string();
  // Frames and ground truth, preloaded (decode not counted in tracking fps).
  std::vector<pipeline::RgbdFrame> frames;
  std::vector<std::optional<pipeline::CameraPose>> gt;
  {
    io::SourceConfig c;
    c.path = path;
    auto source = io::OpenSource(c);
    std::printf("%s\n", source->Describe().c_str());
    std::fflush(stdout);
    for (;;) {
      io::SourceRead r = source->Next();
      if (r.status == io::SourceRead::Status::kEnd) break;
      if (r.status != io::SourceRead::Status::kFrame) continue;
      frames.push_back(r.frame);
      gt.push_back(r.ground_truth);
    }
  }
  fig.frames = frames.size();
  const std::string config = o.config.empty() ? DefaultOfflineConfig() : o.config;
  // 1. Camera tracking alone (the geometry node's tracker with the default
  // graph's settings): frames per second.
  // Its poses are the first start of --starts (3a).
  const perception::SceneTracker::Options tracker_options = GraphTrackerOptions(config);
  std::vector<StampedPose> tracked;
  {
    ProgressBar bar("tracking", static_cast<int64_t>(frames.size()));
    const auto t0 = Clock::now();
    tracked = TrackPoses(frames, 0, tracker_options, &bar);
    fig.tracking_fps = frames.size() / Seconds(t0);
    bar.Finish();
  }
  // 2. The whole default graph, as `dyn4d run --input` runs it (input
  // params as --input-param gives them).
  auto run_graph = [&](const std::string& dir, const std::vector<std::string>& input_params) {
    pipeline::GraphConfig g = pipeline::LoadGraphConfig(config, true);
    InputOverride in;
    in.path = path;
    in.params = input_params;
    ApplyInput(g, in);
    pipeline::StageRegistry registry = MakeRegistry();
    pipeline::RunOptions ro;
    ro.output_dir = dir;
    ro.status_line = false;
    pipeline::Graph graph(std::move(g), registry, ro);
    pipeline::RunControl control;
    std::printf("  %s graph -> %s ...\n", o.config.empty() ? "default" : "given", dir.c_str());
    std::fflush(stdout);
    const pipeline::RunResult r = graph.Run(control);
    if (r.status != pipeline::RunResult::Status::kOk)
      throw std::runtime_error("the graph failed on " + seq.name + ": " + r.message);
    return r.elapsed_s;
  };
  fig.graph_fps = frames.size() / run_graph(out_dir, {});
  const auto tracks = ReadTracks(out_dir + "/tracks.jsonl");
  std::set<int64_t> ids;
  for (const auto& [frame, items] : tracks) {
    fig.moving_track_frames += items.size();
    for (const auto& t : items) ids.insert(t.id);
  }
  fig.moving_tracks = ids.size();
  // 3. The camera against the ground truth (interpolated at frame times; for
  // Bonn, of the camera, not the marker body), and Open3D on the same frames.
  std::vector<StampedPose> est;
  if (fs::exists(out_dir + "/trajectory.tum"))
    est = perception::ReadTumTrajectory(out_dir + "/trajectory.tum");
  const std::vector<StampedPose> truth = TruthFrom(frames, gt, 0);
  if (truth.size() >= 3 && est.size() >= 3) {
    fig.has_gt = true;
    fig.ours = perception::EvaluateTrajectory(perception::Associate(est, truth, 0.02));
    if (!o.skip_open3d && !seq.is_static) {
      perception::Open3dOdometryBaseline baseline;
      std::vector<StampedPose> o3d;
      ProgressBar bar("open3d", static_cast<int64_t>(frames.size()));
      const auto t0 = Clock::now();
      for (size_t i = 0; i < frames.size(); ++i) {
        o3d.push_back({frames[i].meta.stamp_ns / 1e9, baseline.Track(frames[i]).T_world_cam});
        bar.Update(static_cast<int64_t>(i + 1));
      }
      fig.open3d_fps = frames.size() / Seconds(t0);
      bar.Finish();
      fig.open3d = perception::EvaluateTrajectory(perception::Associate(o3d, truth, 0.02));
      fig.has_open3d = true;
    }
  }
  // 3a. Camera tracking alone from later starts: one start's ATE is one
  // sample of a chaotic process (the crowd's frames decide between nearby
  // keyframes and lost frames; a rounding-level change in the odometry moved
  // Bonn's start 5 from 0.082 to 0.105 m).
  if (fig.has_gt && o.starts > 1) {
    ProgressBar bar("starts", o.starts);
    fig.ate_by_start.emplace_back(0, Ate(tracked, truth));
    for (int k = 1; k < o.starts; ++k) {
      const size_t first = static_cast<size_t>(k) * kStartStep;
      if (first + 30 > frames.size()) break;
      fig.ate_by_start.emplace_back(
          static_cast<int>(first),
          Ate(TrackPoses(frames, first, tracker_options), TruthFrom(frames, gt, first)));
      bar.Update(k + 1);
    }
    bar.Finish();
  }
  // 3b. The same graph with the depth sensor's distortion calibrated from
  // the sequence's own first 60 frames (`dyn4d calibrate depth`, no ground
  // truth): what the opt-in sensor model is worth on this sequence.
  if (!seq.is_static && fig.has_gt && frames.size() >= 60) {
    int lost = 0;
    const std::vector<io::DepthCalibrationView> views = TrackedCalibrationViews(frames, 60, &lost);
    const io::DepthSelfCalibrationResult cal = io::CalibrateDepthDistortion(views);
    if (cal.status == io::DepthSelfCalibrationResult::Status::kOk) {
      const std::string dir = out_dir + "_depth_calibrated";
      fig.depth_terms = cal.model.ParamAssignments();  // as `dyn4d calibrate depth` prints them
      run_graph(dir, fig.depth_terms);
      fig.depth_calibrated = true;
      fig.depth_explained = cal.ExplainedShare();
      fig.depth_calibrated_ate = perception::EvaluateTrajectory(perception::Associate(
          perception::ReadTumTrajectory(dir + "/trajectory.tum"), truth, 0.02));
      std::set<int64_t> calibrated_ids;
      for (const auto& [frame, items] : ReadTracks(dir + "/tracks.jsonl"))
        for (const auto& t : items) calibrated_ids.insert(t.id);
      fig.depth_calibrated_tracks = calibrated_ids.size();
    } else {
      std::printf("  depth calibration: %s\n", cal.message.c_str());
    }
  }
  // 4. People: YOLOX person boxes (score >= 0.5) as pseudo ground truth for
  // this bench only. Coverage: the share matched by a moving track's box at
  // IoU >= 0.5. Map: mesh vertices lying on a person's pixels in some frame
  // (re-projected with the estimated poses, at the person's depth).
  if (!seq.is_static && !o.yolox.empty()) {
    perception::YoloxConfig yc;
    yc.model = o.yolox;
    yc.score_threshold = 0.5;
    yc.keep = {"person"};
    perception::YoloxDetector yolox(yc);
    std::vector<Eigen::Vector3f> vertices;
    if (fs::exists(out_dir + "/map_mesh.ply"))
      vertices = perception::ReadMeshVertices(out_dir + "/map_mesh.ply");
    fig.map_vertices = vertices.size();
    // A vertex belongs to a person when most of the frames that see it (the
    // depth there agrees with it) see it inside a person: a person fused
    // into the map is only seen where the person was, while the floor at
    // their feet or a wall right behind them is seen without them too.
    std::vector<uint16_t> seen(vertices.size(), 0), seen_on_person(vertices.size(), 0);
    std::map<int64_t, Eigen::Isometry3d> pose_at;  // by stamp (ns)
    for (const StampedPose& p : est) pose_at[std::llround(p.t_s * 1e9)] = p.T_world_cam;
    const perception::DepthNoiseModel noise;
    ProgressBar bar("people", static_cast<int64_t>(frames.size()));
    // Each person box and its best moving track, for a look at what is
    // not covered (one JSON object per line).
    std::ofstream boxes_file(out_dir + "/person_boxes.jsonl");
    for (size_t i = 0; i < frames.size(); ++i) {
      const pipeline::RgbdFrame& f = frames[i];
      const auto people = yolox.Detect(f.color);
      const auto tr = tracks.find(f.meta.seq);
      for (const auto& p : people) {
        ++fig.person_boxes;
        double best_iou = 0;
        int64_t best_track = -1;
        if (tr != tracks.end())
          for (const auto& t : tr->second)
            if (const double iou = Iou(t.box, p.box); iou > best_iou)
              best_iou = iou, best_track = t.id;
        fig.person_covered += best_iou >= 0.5;
        boxes_file << nlohmann::json{{"frame", f.meta.seq},
                                     {"box_xywh", {p.box.x, p.box.y, p.box.w, p.box.h}},
                                     {"score", p.score},
                                     {"best_track", best_track},
                                     {"best_iou", best_iou}}
                          .dump()
                   << "\n";
      }
      bar.Update(static_cast<int64_t>(i + 1));
      auto pose = pose_at.lower_bound(f.meta.stamp_ns - 1000);
      if (vertices.empty() || pose == pose_at.end() ||
          std::abs(pose->first - f.meta.stamp_ns) > 1000000)
        continue;
      std::vector<PersonMask> masks;
      for (const auto& p : people) masks.push_back(PersonPixels(f, p.box));
      const Eigen::Isometry3f T_cw = pose->second.inverse().cast<float>();
      const auto& K = f.intrinsics;
      const uint16_t* d = f.depth.data.as<uint16_t>();
      for (size_t v = 0; v < vertices.size(); ++v) {
        const Eigen::Vector3f q = T_cw * vertices[v];
        if (q.z() <= 0.1f) continue;
        const int u = static_cast<int>(K.fx * q.x() / q.z() + K.cx);
        const int w = static_cast<int>(K.fy * q.y() / q.z() + K.cy);
        if (u < 0 || w < 0 || u >= f.depth.width || w >= f.depth.height) continue;
        const double z = d[w * f.depth.width + u] / f.depth_scale;
        if (!(z > 0) || std::abs(z - q.z()) > std::max(0.05, 3 * noise.Sigma(z))) continue;
        ++seen[v];
        for (const PersonMask& m : masks) {
          const int mx = u - int(m.box.x), my = w - int(m.box.y);
          if (m.on.empty() || mx < 0 || my < 0 || mx >= int(m.box.w) || my >= int(m.box.h))
            continue;
          if (m.on[static_cast<size_t>(my) * int(m.box.w) + mx]) {
            ++seen_on_person[v];
            break;
          }
        }
      }
    }
    bar.Finish();
    for (size_t v = 0; v < vertices.size(); ++v)
      fig.map_vertices_on_people += seen_on_person[v] > 0 && 2 * seen_on_person[v] > seen[v];
  }
  return fig;
}

}  // namespace

int RunDynamicBench(const DynamicBenchOptions& o) {
  const std::string shared = FindSharedDir(o.shared_dir);
  if (shared.empty()) {
    std::fprintf(stderr,
                 "dyn4d bench dynamic: ../shared not found (set DYN4D_SHARED or --shared)\n");
    return 4;
  }
  DynamicBenchOptions opt = o;
  if (!opt.config.empty()) opt.config = fs::absolute(opt.config).string();
  const std::string config = opt.config.empty() ? DefaultOfflineConfig() : opt.config;
  if (opt.yolox.empty()) {
    const fs::path y = fs::path(shared) / "models" / "yolox_nano.onnx";
    if (fs::exists(y)) opt.yolox = y.string();
  }
  const std::vector<Sequence> all = {
      {"tum_fr1_rpy", true}, {"7scenes_redkitchen", true}, {"bonn_crowd", false}};
  std::string save = o.save_dir;
  std::error_code ec;
  if (save.empty()) save = (fs::temp_directory_path() / "dyn4d-bench-dynamic").string();
  fs::create_directories(save, ec);
  if (ec || !fs::is_directory(save)) {
    std::fprintf(stderr, "dyn4d bench dynamic: --save '%s': cannot create the folder\n",
                 save.c_str());
    return 2;
  }
  std::printf("dyn4d bench dynamic: the %s graph (%s) on real RGB-D sequences; outputs in %s/\n\n",
              opt.config.empty() ? "default" : "given", config.c_str(), save.c_str());
  std::fflush(stdout);  // before the progress bars on stderr
  std::vector<Figures> figs;
  try {
    for (const Sequence& s : all) {
      if (!o.sequences.empty() &&
          std::find(o.sequences.begin(), o.sequences.end(), s.name) == o.sequences.end())
        continue;
      if (!fs::exists(fs::path(shared) / "data" / s.name)) {
        std::printf("%s: not in %s/data, skipped\n", s.name.c_str(), shared.c_str());
        continue;
      }
      figs.push_back(RunSequence(s, shared, (fs::path(save) / s.name).string(), opt));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench dynamic: %s\n", e.what());
    return 2;
  }
  // 80 columns: static sequences are starred.
  std::printf("\n%-20s %6s %9s %9s %7s %9s %8s\n", "sequence", "frames", "graph", "tracking",
              "moving", "moving", "ATE m");
  std::printf("%-20s %6s %9s %9s %7s %9s %8s\n", "", "", "fps", "fps", "tracks", "track-frm", "");
  size_t phantom_tracks = 0, phantom_frames = 0, frames = 0;
  double graph_s = 0, tracking_s = 0;
  for (const Figures& f : figs) {
    std::printf("%-20s %6zu %9.1f %9.1f %7zu %9zu %8s\n",
                (f.name + (f.is_static ? "*" : "")).c_str(), f.frames, f.graph_fps, f.tracking_fps,
                f.moving_tracks, f.moving_track_frames,
                f.has_gt ? std::to_string(f.ours.ate_rmse_m).substr(0, 6).c_str() : "-");
    if (f.is_static) phantom_tracks += f.moving_tracks, phantom_frames += f.moving_track_frames;
    frames += f.frames;
    graph_s += f.frames / f.graph_fps, tracking_s += f.frames / f.tracking_fps;
  }
  std::printf("%-20s %6zu %9.1f %9.1f\n", "overall", frames, frames / graph_s, frames / tracking_s);
  std::printf("* a static scene: every moving track there is a false positive\n");
  for (const Figures& f : figs) {
    if (f.ate_by_start.empty()) continue;
    std::vector<double> ates;
    std::printf("\n%s, camera tracking from %zu starts (ATE m at frame):", f.name.c_str(),
                f.ate_by_start.size());
    for (size_t k = 0; k < f.ate_by_start.size(); ++k) {
      if (k % 6 == 0) std::printf("\n ");
      std::printf(" %3d: %.4f", f.ate_by_start[k].first, f.ate_by_start[k].second);
      if (std::isfinite(f.ate_by_start[k].second)) ates.push_back(f.ate_by_start[k].second);
    }
    if (ates.empty()) continue;
    std::sort(ates.begin(), ates.end());
    const double median = ates[ates.size() / 2];
    std::printf("\n  median %.4f, min %.4f, max %.4f\n", median, ates.front(), ates.back());
    std::printf("%s_ate_m_median_of_starts %.4f\n", f.name.c_str(), median);
  }
  const Figures* bonn = nullptr;
  for (const Figures& f : figs)
    if (f.name == "bonn_crowd") bonn = &f;
  if (bonn) {
    std::printf(
        "\nBonn crowd, camera against the ground truth (the camera's pose, from the marker "
        "body):\n");
    std::printf("%-26s %9s %10s %14s %14s\n", "method", "frames/s", "ATE m", "RPE m/frame",
                "RPE deg/frame");
    std::printf("%-26s %9.1f %10.4f %14.4f %14.3f\n",
                o.config.empty() ? "dyn4d (default graph)" : "dyn4d (given graph)",
                bonn->tracking_fps, bonn->ours.ate_rmse_m, bonn->ours.rpe_trans_rmse_m,
                bonn->ours.rpe_rot_rmse_deg);
    if (bonn->has_open3d)
      std::printf("%-26s %9.1f %10.4f %14.4f %14.3f\n", "open3d (frame-to-frame)", bonn->open3d_fps,
                  bonn->open3d.ate_rmse_m, bonn->open3d.rpe_trans_rmse_m,
                  bonn->open3d.rpe_rot_rmse_deg);
    if (bonn->depth_calibrated)
      std::printf("%-26s %9s %10.4f %14.4f %14.3f\n", "dyn4d, depth calibrated", "",
                  bonn->depth_calibrated_ate.ate_rmse_m,
                  bonn->depth_calibrated_ate.rpe_trans_rmse_m,
                  bonn->depth_calibrated_ate.rpe_rot_rmse_deg);
    if (bonn->depth_calibrated)
      std::printf(
          "  depth distortion fitted to frames 0-59, no ground truth (dyn4d calibrate\n"
          "  depth): it explains %.1f %% of their overlap disagreement; moving tracks %zu\n",
          100 * bonn->depth_explained, bonn->depth_calibrated_tracks);
    if (bonn->depth_calibrated) {
      std::printf("  input params:");
      for (const std::string& t : bonn->depth_terms) std::printf(" %s", t.c_str());
      std::printf("\n");
    }
    std::printf(
        "moving tracks %zu (3 people walk through); YOLOX person boxes %d, covered by a "
        "moving track (IoU >= 0.5) %d\n",
        bonn->moving_tracks, bonn->person_boxes, bonn->person_covered);
    std::printf(
        "map: %zu mesh vertices, %zu of them on people (%.4f)\n", bonn->map_vertices,
        bonn->map_vertices_on_people,
        bonn->map_vertices ? double(bonn->map_vertices_on_people) / bonn->map_vertices : 0.0);
  }
  std::printf("\nphantom_track_frames_static %zu\n", phantom_frames);
  std::printf("phantom_tracks_static %zu\n", phantom_tracks);
  if (bonn) {
    std::printf(
        "bonn_map_on_people %.4f\n",
        bonn->map_vertices ? double(bonn->map_vertices_on_people) / bonn->map_vertices : 0.0);
    std::printf("bonn_ate_m %.4f\n", bonn->ours.ate_rmse_m);
    if (bonn->has_open3d)
      std::printf("bonn_ate_ratio_vs_open3d %.3f\n",
                  bonn->ours.ate_rmse_m / bonn->open3d.ate_rmse_m);
    std::printf("bonn_moving_tracks %zu\n", bonn->moving_tracks);
    std::printf("bonn_person_coverage %.3f\n",
                bonn->person_boxes ? double(bonn->person_covered) / bonn->person_boxes : 0.0);
  }
  return 0;
}

}  // namespace dyn4d::cli
