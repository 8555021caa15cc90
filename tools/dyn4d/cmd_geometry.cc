// dyn4d bench geometry, dyn4d eval traj.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "commands.h"
#include "dyn4d/io/depth_distortion.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/io/writers.h"
#include "dyn4d/perception/open3d_baseline.h"
#include "dyn4d/perception/pose.h"
#include "dyn4d/perception/rgbd_odometry.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/perception/trajectory_eval.h"
#include "graph_run.h"
#include "progress.h"
#include "synth_tracking.h"

namespace dyn4d::cli {

namespace fs = std::filesystem;
using perception::StampedPose;

namespace {
struct MethodRun {
  std::string name;
  std::vector<Eigen::Isometry3d> poses;
  double seconds = 0;
  int failures = 0;
};

void PrintErrors(const MethodRun& m, const perception::TrajectoryErrors& e, size_t frames) {
  std::printf("%-22s %9.1f %12.4f %14.4f %14.3f %8d\n", m.name.c_str(), frames / m.seconds,
              e.ate_rmse_m, e.rpe_trans_rmse_m, e.rpe_rot_rmse_deg, m.failures);
}
}  // namespace

int RunGeometryBench(const GeometryBenchOptions& o) {
  const std::string shared = FindSharedDir(o.shared_dir);
  if (shared.empty()) {
    std::fprintf(stderr,
                 "dyn4d bench geometry: ../shared not found (set DYN4D_SHARED or --shared)\n");
    return 4;
  }
  // --param KEY=VALUE: the geometry node's parameter names, checked as in a graph file.
  perception::SceneTracker::Options tracker_options;
  std::optional<io::ColorCameraModel> color_camera;
  std::optional<io::DepthDistortionModel> depth_distortion;
  try {
    // Named so that a problem reads "command line: --param.KEY: ...".
    auto read = [](const std::string& flag, const std::vector<std::string>& key_values) {
      pipeline::Params params = pipeline::Params::FromYaml("{}", "command line", flag);
      OverrideParams(params, flag, key_values);
      return params;
    };
    pipeline::Params params = read("--param", o.params);
    tracker_options = perception::ReadSceneTrackerOptions(params);
    params.Finish();
    pipeline::Params source_params = read("--source-param", o.source_params);
    color_camera = io::ReadColorCameraParams(source_params);
    depth_distortion = io::ReadDepthDistortionParams(source_params);
    source_params.Finish();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench geometry: %s\n", e.what());
    return 2;
  }
  if (!o.save_dir.empty()) {
    // Created (and checked) before the run, so a bad --save does not cost a whole bench.
    std::error_code ec;
    fs::create_directories(o.save_dir, ec);
    if (ec || !fs::is_directory(o.save_dir)) {
      std::fprintf(stderr, "dyn4d bench geometry: --save '%s': cannot create the folder (%s)\n",
                   o.save_dir.c_str(), ec ? ec.message().c_str() : "not a folder");
      return 2;
    }
  }
  const std::string path = (fs::path(shared) / "data" / o.dataset).string();
  std::vector<pipeline::RgbdFrame> frames;
  std::vector<StampedPose> gt;
  try {
    io::SourceConfig c;
    c.path = path;
    c.max_frames = o.max_frames;
    c.color_camera = color_camera;
    c.depth_distortion = depth_distortion;
    auto source = io::OpenSource(c);
    std::printf("%s\n", source->Describe().c_str());
    while (true) {
      io::SourceRead r = source->Next();
      if (r.status == io::SourceRead::Status::kEnd) break;
      if (r.status != io::SourceRead::Status::kFrame || !r.ground_truth) continue;
      frames.push_back(r.frame);
      gt.push_back({r.frame.meta.stamp_ns / 1e9, perception::ToIsometry(*r.ground_truth)});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench geometry: %s\n", e.what());
    return 2;
  }
  std::printf("%zu frames with ground truth, loaded before timing (decode not counted)\n\n",
              frames.size());

  MethodRun ours, o3d;
  ours.name = "dyn4d (frame-to-kf)";
  o3d.name = "open3d (frame-to-frame)";
  {
    perception::SceneTracker tracker(tracker_options);
    ProgressBar bar("dyn4d", static_cast<int64_t>(frames.size()));
    const auto t0 = std::chrono::steady_clock::now();
    const bool o_verbose = o.verbose;
    auto take = [&](const std::vector<perception::SceneTracker::Output>& outs) {
      for (const auto& o : outs) {
        const bool lost = o.odometry.status == perception::RgbdOdometry::Result::Status::kLost;
        if (lost && o_verbose)
          std::printf("\rframe %zu lost: %s\n", ours.poses.size(), o.odometry.message.c_str());
        ours.failures += lost;
        ours.poses.push_back(o.odometry.T_world_cam);
      }
      bar.Update(static_cast<int64_t>(ours.poses.size()));
    };
    for (const pipeline::RgbdFrame& f : frames) take(tracker.Push(f));
    take(tracker.Flush());
    ours.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.Finish();
  }
  if (!o.skip_open3d) {
    perception::Open3dOdometryBaseline baseline;
    ProgressBar bar("open3d", static_cast<int64_t>(frames.size()));
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < frames.size(); ++i) {
      auto r = baseline.Track(frames[i]);
      o3d.failures += !r.ok;
      o3d.poses.push_back(r.T_world_cam);
      bar.Update(static_cast<int64_t>(i + 1));
    }
    o3d.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.Finish();
  }
  auto evaluate = [&](const MethodRun& m) {
    std::vector<std::pair<StampedPose, StampedPose>> pairs;
    for (size_t i = 0; i < m.poses.size(); ++i) pairs.push_back({{gt[i].t_s, m.poses[i]}, gt[i]});
    return perception::EvaluateTrajectory(pairs);
  };
  std::printf("%-22s %9s %12s %14s %14s %8s\n", "method", "frames/s", "ATE RMSE m", "RPE m/frame",
              "RPE deg/frame", "lost");
  const auto e_ours = evaluate(ours);
  if (!o.save_dir.empty()) {
    // TUM files (stamps of the colour images) for `dyn4d eval traj` and plots.
    auto save = [&](const std::string& name, const std::vector<Eigen::Isometry3d>& poses) {
      io::TumTrajectoryWriter writer((fs::path(o.save_dir) / name).string());
      for (size_t i = 0; i < poses.size(); ++i)
        writer.Write(perception::ToCameraPose(poses[i], frames[i].meta, pipeline::PoseStatus::kOk));
      writer.Close();
    };
    try {
      std::vector<Eigen::Isometry3d> g;
      for (const StampedPose& p : gt) g.push_back(p.T_world_cam);
      save("groundtruth.txt", g);
      save("dyn4d.txt", ours.poses);
      if (!o.skip_open3d) save("open3d.txt", o3d.poses);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dyn4d bench geometry: --save: %s\n", e.what());
      return 2;
    }
  }
  PrintErrors(ours, e_ours, frames.size());
  if (o.skip_open3d) return 0;
  const auto e_o3d = evaluate(o3d);
  PrintErrors(o3d, e_o3d, frames.size());
  const double ate_ratio = e_ours.ate_rmse_m / e_o3d.ate_rmse_m;
  const double rot_ratio = e_ours.rpe_rot_rmse_deg / e_o3d.rpe_rot_rmse_deg;
  // The headline figure last: ATE where the camera travels, rotational RPE
  // on the rotation-only TUM excerpt (where ATE says little).
  if (o.dataset.find("tum") != std::string::npos) {
    std::printf("ate_ratio_vs_open3d %.3f\n", ate_ratio);
    std::printf("rpe_rot_ratio_vs_open3d %.3f\n", rot_ratio);
  } else {
    std::printf("rpe_rot_ratio_vs_open3d %.3f\n", rot_ratio);
    std::printf("ate_ratio_vs_open3d %.3f\n", ate_ratio);
  }
  return 0;
}

int RunTrajectoryEval(const TrajectoryEvalOptions& o) {
  try {
    auto gt = perception::ReadTumTrajectory(o.gt);
    auto est = perception::ReadTumTrajectory(o.est);
    auto pairs = perception::Associate(est, gt, o.max_dt_s);
    auto e = perception::EvaluateTrajectory(pairs, o.delta);
    std::printf("associated %zu of %zu estimated poses (ground truth %zu, max dt %.3f s)\n",
                e.pairs, est.size(), gt.size(), o.max_dt_s);
    std::printf("ate_mean_m %.6f\nate_max_m %.6f\nrpe_trans_rmse_m %.6f\nrpe_rot_rmse_deg %.6f\n",
                e.ate_mean_m, e.ate_max_m, e.rpe_trans_rmse_m, e.rpe_rot_rmse_deg);
    std::printf("ate_rmse_m %.6f\n", e.ate_rmse_m);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d eval traj: %s\n", e.what());
    return 2;
  }
  return 0;
}

std::vector<io::DepthCalibrationView> TrackedCalibrationViews(
    const std::vector<pipeline::RgbdFrame>& frames, size_t count, int* lost) {
  count = std::min(count, frames.size());
  std::vector<io::DepthCalibrationView> views;
  perception::SceneTracker tracker(GraphTrackerOptions(DefaultOfflineConfig()));
  ProgressBar bar("tracking", static_cast<int64_t>(count));
  size_t next = 0;  // outputs come in frame order, after the look-ahead
  auto take = [&](const std::vector<perception::SceneTracker::Output>& outs) {
    for (const auto& out : outs) {
      const pipeline::RgbdFrame& f = frames[next++];
      if (out.odometry.usable())
        views.push_back({&f, out.odometry.T_world_cam});
      else
        ++*lost;
    }
    bar.Update(static_cast<int64_t>(next));
  };
  for (size_t i = 0; i < count; ++i) take(tracker.Push(frames[i]));
  take(tracker.Flush());
  bar.Finish();
  return views;
}

int RunDepthCalibration(const DepthCalibrationOptions& o) {
  std::vector<pipeline::RgbdFrame> frames;
  std::string described;
  if (const int rc = ReadCalibrationFrames("calibrate depth", o.path, o.kind, o.start, 1, o.frames,
                                           &frames, &described))
    return rc;
  std::printf("%s\n%zu frames from frame %d\n", described.c_str(), frames.size(), o.start);
  int lost = 0;
  const std::vector<io::DepthCalibrationView> views =
      TrackedCalibrationViews(frames, frames.size(), &lost);
  std::printf("tracked %zu frames (%d lost, left out); fitting ...\n", views.size(), lost);
  std::fflush(stdout);
  const io::DepthSelfCalibrationResult r = io::CalibrateDepthDistortion(views);
  if (r.status != io::DepthSelfCalibrationResult::Status::kOk) {
    std::fprintf(stderr, "dyn4d calibrate depth: %s\n", r.message.c_str());
    return 1;
  }
  std::printf(
      "%d frame pairs, %lld depth comparisons, %.1f s\n"
      "disagreement of overlapping depth (rms, in sensor-noise sigmas): %.3f with the pairs' "
      "poses fitted alone, %.3f with the distortion too: it explains %.1f %%\n",
      r.pairs, static_cast<long long>(r.comparisons), r.seconds, r.rms_rigid_sigmas,
      r.rms_model_sigmas, 100 * r.ExplainedShare());
  const pipeline::CameraIntrinsics& k = frames.front().intrinsics;
  auto at = [&](double u, double v) {
    return r.model.Multiplier((u - k.cx) / k.fx, (v - k.cy) / k.fy);
  };
  double lo = 1e9, hi = -1e9;
  for (int v = 0; v < k.height; v += 4)
    for (int u = 0; u < k.width; u += 4) lo = std::min(lo, at(u, v)), hi = std::max(hi, at(u, v));
  std::printf(
      "depth factor (true / measured): top-left %.3f, top-right %.3f, centre %.3f, bottom-left "
      "%.3f, bottom-right %.3f\n\ninput node params (graph YAML):\n",
      at(0, 0), at(k.width - 1, 0), at(k.cx, k.cy), at(0, k.height - 1),
      at(k.width - 1, k.height - 1));
  std::string flags;
  for (std::string term : r.model.ParamAssignments()) {
    flags += " --input-param " + term;
    std::printf("  %s\n", term.replace(term.find('='), 1, ": ").c_str());
  }
  std::printf("or: dyn4d run --input %s%s\n\n", o.path.c_str(), flags.c_str());
  std::printf("depth_factor_range %.4f %.4f\n", lo, hi);
  return 0;
}

}  // namespace dyn4d::cli
