// dyn4d: one binary, every job. See `dyn4d --help` and README.md.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include "batch.h"
#include "commands.h"
#include "dyn4d/io/report.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/graph.h"
#include "dyn4d/pipeline/service.h"
#include "dyn4d/reasoning/stages.h"
#include "dyn4d/tracking/stages.h"
#include "graph_run.h"

namespace {

using dyn4d::cli::ApplyInput;
using dyn4d::cli::DefaultOfflineConfig;
using dyn4d::cli::InputOverride;
using dyn4d::cli::MakeRegistry;

using namespace dyn4d;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitConfig = 2;

pipeline::RunControl* g_control = nullptr;

// First SIGINT/SIGTERM: stop the sources and let the graph flush. Second:
// abort. Only lock-free atomics are touched here.
void OnSignal(int) {
  if (!g_control) return;
  if (g_control->stop_sources.exchange(true)) g_control->abort = true;
}

void InstallSignalHandlers(pipeline::RunControl* control) {
  g_control = control;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void PrintSummary(const pipeline::RunResult& r) {
  // fps: what the node processed over the whole run; p50/p95: its
  // processing latency over the whole run (log-binned, within 6 %).
  std::printf("\n%-20s %10s %10s %8s %7s %6s %8s %14s\n", "node", "processed", "emitted", "dropped",
              "errors", "max_q", "fps", "p50/p95 ms");
  for (const auto& [name, s] : r.final_stats) {
    char latency[32];
    std::snprintf(latency, sizeof latency, "%.1f/%.1f", s.run_latency_p50_ms, s.run_latency_p95_ms);
    std::printf(
        "%-20s %10llu %10llu %8llu %7llu %6zu %8.1f %14s\n", name.c_str(),
        static_cast<unsigned long long>(s.processed), static_cast<unsigned long long>(s.emitted),
        static_cast<unsigned long long>(s.dropped), static_cast<unsigned long long>(s.errors),
        r.max_queue_depth.at(name), r.elapsed_s > 0 ? s.processed / r.elapsed_s : 0.0, latency);
  }
  uint64_t frames = 0;
  for (const std::string& source : r.sources)
    if (auto it = r.final_stats.find(source); it != r.final_stats.end())
      frames += it->second.processed;
  if (!r.sources.empty() && r.elapsed_s > 0)
    std::printf("overall: %llu frames in %.2f s, %.1f frames/s\n",
                static_cast<unsigned long long>(frames), r.elapsed_s, frames / r.elapsed_s);
  std::printf("\noutputs in %s/:\n", r.output_dir.c_str());
  std::error_code ec;
  std::vector<std::filesystem::directory_entry> files;
  // Files being written (.partial) are not outputs; another process of a
  // split graph may rename or remove one while this lists the folder.
  for (const auto& e : std::filesystem::directory_iterator(r.output_dir, ec))
    if (e.is_regular_file(ec) && e.path().string().find(".partial") == std::string::npos)
      files.push_back(e);
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  for (const auto& e : files) {
    const uintmax_t size = e.file_size(ec);
    if (!ec)
      std::printf("  %-24s %10llu bytes\n", e.path().filename().c_str(),
                  static_cast<unsigned long long>(size));
  }
  std::printf("\n%s (%.2f s): %s\n",
              r.status == pipeline::RunResult::Status::kOk        ? "done"
              : r.status == pipeline::RunResult::Status::kStopped ? "stopped"
              : r.status == pipeline::RunResult::Status::kAborted ? "ABORTED"
                                                                  : "FAILED",
              r.elapsed_s, r.message.c_str());
}

// OUT/report.html of a finished run (whatever its status: what was written
// is worth seeing); a report that cannot be written is a warning, not a
// failed run.
void WriteRunReport(const pipeline::RunResult& r) {
  try {
    io::ReportOptions o;
    o.output_dir = r.output_dir;
    o.elapsed_s = r.elapsed_s;
    io::WriteReport(o);
  } catch (const std::exception& e) {
    spdlog::warn("report: {}", e.what());
  }
}

int RunGraph(const std::string& config_path, pipeline::RunOptions options, bool quiet,
             const InputOverride& input = {}, bool report = false) {
  pipeline::RunControl control;
  // Before anything slow: a Ctrl-C during start-up must stop the run, not be
  // lost (a background job of a script starts with SIGINT ignored).
  InstallSignalHandlers(&control);
  struct Uninstall {
    ~Uninstall() { InstallSignalHandlers(nullptr); }
  } uninstall;
  try {
    pipeline::GraphConfig config =
        pipeline::LoadGraphConfig(config_path, /*throw_on_problems=*/false);
    ApplyInput(config, input);
    pipeline::StageRegistry registry = MakeRegistry();
    pipeline::Graph graph(std::move(config), registry, options);
    if (!quiet) std::printf("%s", graph.config().Describe().c_str());
    pipeline::RunResult result = graph.Run(control);
    if (report) WriteRunReport(result);
    if (!quiet || result.status != pipeline::RunResult::Status::kOk) PrintSummary(result);
    if (result.status == pipeline::RunResult::Status::kFailed)
      std::fprintf(stderr, "dyn4d: run failed:\n%s\n", result.message.c_str());
    return result.ExitCode();
  } catch (const pipeline::ConfigError& e) {
    std::fprintf(stderr, "dyn4d: invalid configuration:\n%s\n", e.what());
    return kExitConfig;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d: error: %s\n", e.what());
    return kExitFailed;
  }
}

// A folder of videos: one run per video, each into OUT/<video name>/; a bad
// video is reported and skipped, the others go on. Exit 1 if any failed.
// With a shard, only the videos of that shard (an array job's task). Videos
// whose OUT/<video>/done.json says they are complete are skipped, so a batch
// (or a shard) run again resumes where it stopped.
int RunVideoBatch(const std::string& config_path, const std::string& folder, const std::string& out,
                  const InputOverride& in, const cli::Shard& shard) {
  std::vector<std::string> videos;
  const std::vector<std::string> all = io::ListVideos(folder);
  for (const std::string& v : all)
    if (io::ShardOf(v, shard.count) == shard.index) videos.push_back(v);
  if (shard.given)
    std::printf("batch: shard %d/%d takes %zu of %zu video(s) in %s\n", shard.index, shard.count,
                videos.size(), all.size(), folder.c_str());
  else
    std::printf("batch: %zu video(s) in %s\n", videos.size(), folder.c_str());
  std::vector<cli::BatchRow> rows;
  int failed = 0;
  // One control for the whole batch: Ctrl-C at any moment (between videos
  // too) stops the current run and the batch, and the table still prints.
  pipeline::RunControl control;
  InstallSignalHandlers(&control);
  for (size_t i = 0; i < videos.size(); ++i) {
    const std::filesystem::path video(videos[i]);
    const std::string video_out = (std::filesystem::path(out) / video.stem()).string();
    cli::BatchRow row{video.filename().string(), "ok"};
    if (cli::AlreadyDone(video_out, video.string(), &row)) {
      std::printf("[%zu/%zu] %s: complete before, skipped\n", i + 1, videos.size(),
                  row.video.c_str());
      rows.push_back(row);
      continue;
    }
    std::printf("[%zu/%zu] %s\n", i + 1, videos.size(), row.video.c_str());
    std::fflush(stdout);
    try {
      // What an interrupted run left is not kept: the video starts afresh.
      std::filesystem::remove_all(video_out);
      pipeline::GraphConfig config = pipeline::LoadGraphConfig(config_path, false);
      InputOverride one = in;
      one.path = video.string();
      one.kind = "video";
      ApplyInput(config, one);
      pipeline::StageRegistry registry = MakeRegistry();
      pipeline::RunOptions o;
      o.output_dir = video_out;
      o.status_line = true;
      pipeline::Graph graph(std::move(config), registry, o);
      pipeline::RunResult r = graph.Run(control);
      if (in.report) WriteRunReport(r);
      row.seconds = r.elapsed_s;
      for (const auto& [node, st] : r.final_stats)
        if (graph.config().FindNode(node)->type == "input") row.frames = st.processed;
      if (r.status == pipeline::RunResult::Status::kFailed)
        row.status = "FAILED: " + r.message;
      else if (r.status != pipeline::RunResult::Status::kOk)
        row.status = "stopped";
      else
        cli::MarkDone(video_out, video.string(), row);
    } catch (const std::exception& e) {
      // The source's own reason, without the config location it was wrapped in.
      std::string why = e.what();
      if (const size_t at = why.find(".params: "); at != std::string::npos)
        why = why.substr(at + 9);
      row.status = "skipped: " + why;
    }
    if (row.status != "ok") {
      ++failed;
      std::fprintf(stderr, "  %s: %s\n", row.video.c_str(), row.status.c_str());
    }
    rows.push_back(row);
    if (control.stop_sources.load()) break;  // Ctrl-C stops the batch too
  }
  InstallSignalHandlers(nullptr);
  std::printf("\n");
  cli::PrintBatchRows(rows);
  std::printf("\n%zu of %zu video(s) processed, %d failed; outputs in %s/<video>/\n",
              rows.size() - failed, videos.size(), failed, out.c_str());
  try {
    std::printf("summary: %s\n", cli::WriteBatchSummary(out, folder, shard, rows).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d: %s\n", e.what());
    return kExitFailed;
  }
  return failed ? kExitFailed : kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  CLI::App app{
      "dyn4d: a video-stream 4D perception pipeline.\n"
      "Nodes (sources, perception, tracking, reasoning, sinks) exchange typed messages over\n"
      "ZeroMQ; a YAML graph says which nodes run and how they connect. All nodes in one\n"
      "process (inproc, the default) or each node as its own process (ipc/tcp).\n\n"
      "Start here:\n"
      "  dyn4d run --config configs/demo.yaml        run a whole graph (outputs in out/demo)\n"
      "  dyn4d node NAME --config C                  run one node of a graph in this process\n"
      "  dyn4d config check C                        validate a config, print the graph\n"
      "  dyn4d stages                                list the stage types a config may use\n"
      "  dyn4d synth --out D && dyn4d run --input D  synthetic data with ground truth, read back\n"
      "  dyn4d run --input PATH                      any dataset, video (or folder of videos), "
      "camera\n"
      "  dyn4d eval stereo --dataset aloe            stereo depth against Middlebury ground truth\n"
      "  dyn4d bench transport | io | geometry       measure edge throughput, input, tracking\n"
      "  dyn4d recognize parity --ref DIR            Dyn-Perceiver against the official outputs\n"
      "  dyn4d eval mot --gt GT --res RES            CLEAR-MOT, IDF1, HOTA of tracker results\n"
      "  dyn4d bench tracking --synth | --mot15 DIR  the tracker on synthetic RGB-D / MOT15\n"
      "  dyn4d bench reasoning                       questions answered from cognitive maps\n"
      "  dyn4d ask \"QUESTION\" [--option \"A. x\"]      ask a running reason node (service:)\n",
      "dyn4d"};
  app.require_subcommand(1);
  app.set_version_flag(
      "--version", "dyn4d 0.1.0 (protocol v" + std::to_string(pipeline::kProtocolVersion) + ")");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  // run
  auto* run = app.add_subcommand("run", "Run every node of a graph in this process.");
  std::string run_config, run_out;
  bool run_quiet = false;
  InputOverride input;
  run->add_option("-c,--config", run_config,
                  "graph YAML, e.g. configs/demo.yaml (default with --input: configs/offline.yaml "
                  "for RGB-D, configs/video.yaml for colour-only video and images)")
      ->check(CLI::ExistingFile);
  run->add_option(
      "-i,--input", input.path,
      "data to read, kind auto-detected: TUM or 7-Scenes folder, image folder, video file,\n"
      "folder of videos (batch), stereo folder (left/, right/), .mcap recording,\n"
      "/dev/videoN, or a GStreamer pipeline ending in appsink");
  run->add_option("--kind", input.kind,
                  "force the input kind (tum, 7scenes, images, video, stereo, ...)");
  run->add_option("--calib", input.calibration,
                  "camera calibration YAML (OpenCV: camera_matrix, ...)")
      ->check(CLI::ExistingFile);
  run->add_option("--input-param", input.params,
                  "KEY=VALUE for the input node, e.g. max_frames=100 or the colour camera\n"
                  "from `dyn4d calibrate color` (color_fx=527.6 ...); repeatable");
  std::string questions_file;
  run->add_option("--questions", questions_file,
                  "questions for the reason node, answered at the end of the stream: one per\n"
                  "line, options after \" | \" (e.g. configs/demo_questions.txt); none by default")
      ->check(CLI::ExistingFile);
  run->add_option("-o,--out", run_out, "output directory (overrides output_dir in the config)");
  run->add_option("--view", input.view,
                  "serve the run live to Foxglove/Lichtblick: ws://ADDR:PORT (Foxglove WebSocket "
                  "protocol, ROS 2 channels); [ADDR:]PORT, default 127.0.0.1:8765")
      ->expected(0, 1);
  run->add_flag("-q,--quiet", run_quiet, "no graph description, status line or summary");
  std::string shard_text;
  run->add_option("--shard", shard_text,
                  "I/N: with a folder of videos, take only shard I of N (one array task of a\n"
                  "cluster job: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT); videos already\n"
                  "complete in OUT are skipped; `dyn4d summarize OUT` merges the shards");
  bool no_report = false;
  run->add_flag("--no-report", no_report,
                "do not write OUT/report.html (the run as one page that opens from disk)");
  bool run_trace = false;
  run->add_flag("--trace", run_trace,
                "write OUT/trace.csv: when each node finished each message (node, port, seq,\n"
                "monotonic ns), for end-to-end latency (dyn4d bench pipeline reads it)");
  bool status_nodes = false;
  run->add_flag("--status-nodes", status_nodes,
                "the live line lists every node (fps, p50/p95 ms, queue) instead of the summary");
  run->footer(
      "\nPrints a live status line (fps, p50/p95 latency, queue depth, drops, errors per node),\n"
      "writes OUT/stats.jsonl (one line per node per second), a summary at the end and\n"
      "OUT/report.html: the run as one page that opens from disk (no network).\n"
      "Ctrl-C once: sources stop, every node flushes, exit 0. Twice: abort.\n"
      "Exit codes: 0 done, 1 a node failed (named on stderr), 2 invalid configuration.");

  // summarize
  auto* summarize = app.add_subcommand(
      "summarize", "Merge the shard summaries of a batch split over jobs (--shard I/N).");
  cli::SummarizeOptions summarize_options;
  summarize->add_option("out", summarize_options.out_dir, "the batch's OUT folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  summarize
      ->add_option("--input", summarize_options.input,
                   "the batch's folder of videos: name the ones no shard processed")
      ->check(CLI::ExistingDirectory);
  summarize->footer(
      "\nReads OUT/summary.shard-I-of-N.json of every shard, writes OUT/summary.json and\n"
      "prints one row per video. Exit 0 when every shard reported and every video is ok;\n"
      "else 1, naming the missing shards and the failed or unprocessed videos.");

  // report
  auto* report = app.add_subcommand(
      "report", "Write OUT/report.html for a run's output folder (dyn4d run writes it itself).");
  io::ReportOptions report_options;
  report->add_option("out", report_options.output_dir, "the run's output folder, e.g. out/demo")
      ->required()
      ->check(CLI::ExistingDirectory);
  report->add_option("--thumbnails", report_options.thumbnails, "frames taken from overlay.mp4")
      ->capture_default_str();
  report
      ->add_option("--map-points", report_options.max_map_points,
                   "at most this many points of map_points.ply")
      ->capture_default_str();
  report->footer(
      "\nOne self-contained HTML file (no network, opens from disk): summary figures, 3D and\n"
      "top-down trajectories with the map, objects over time with their events, early-exit\n"
      "histogram, per-node latency, thumbnails with overlays, cognitive map and answers.");

  // node
  auto* node = app.add_subcommand("node", "Run one node of a graph (for multi-process graphs).");
  std::string node_name, node_config, node_out;
  node->add_option("name", node_name, "node name as in the config's nodes: map")->required();
  node->add_option("-c,--config", node_config, "graph YAML")->required()->check(CLI::ExistingFile);
  node->add_option("-o,--out", node_out, "output directory (overrides output_dir)");
  bool node_trace = false;
  node->add_flag("--trace", node_trace,
                 "write OUT/trace.NAME.csv (as dyn4d run --trace; one clock for the machine, so\n"
                 "the files of a graph's processes line up)");
  node->footer(
      "\nEvery topic the node touches needs an ipc:// or tcp:// endpoint in the config.\n"
      "Start the nodes in any order: producers wait for their subscribers (handshake).\n"
      "Writes OUT/stats.NAME.jsonl.");

  // config check
  auto* config_cmd = app.add_subcommand("config", "Work with graph configs.");
  config_cmd->require_subcommand(1);
  auto* check = config_cmd->add_subcommand("check", "Validate a config and print the graph.");
  std::string check_path;
  check->add_option("file", check_path, "graph YAML")->required()->check(CLI::ExistingFile);

  auto* stages = app.add_subcommand("stages", "List the stage types a config may use.");

  auto* synth = app.add_subcommand(
      "synth", "Write a synthetic RGB-D sequence with exact ground truth (TUM layout + gt/).");
  cli::SynthOptions so;
  synth->add_option("-o,--out", so.out_dir, "output folder");
  synth->add_option("--frames", so.frames, "number of frames (30 fps)")
      ->check(CLI::Range(1, 1000000));
  synth->add_option("--width", so.width, "image width")->check(CLI::Range(16, 4096));
  synth->add_option("--height", so.height, "image height")->check(CLI::Range(16, 4096));
  synth->add_option("--objects", so.objects, "moving objects (0..50; beyond 6 they wander)")
      ->check(CLI::Range(0, io::SyntheticScene::kMaxObjects));
  synth->add_option("--seed", so.seed, "changes categories, paths, textures, noise");
  synth->add_flag("!--no-noise", so.noise, "exact depth (no sensor noise or dropouts)");
  synth->footer(
      "\nWrites rgb/, depth/, masks/, rgb.txt, depth.txt, associations.txt, groundtruth.txt,\n"
      "calibration.yaml, gt/tracks_mot.txt, gt/tracks3d.jsonl, gt/events.jsonl, gt/objects.json.\n"
      "Then: dyn4d run --input OUT");

  auto* eval = app.add_subcommand("eval", "Evaluate against ground truth.");
  eval->require_subcommand(1);
  auto* eval_stereo = eval->add_subcommand(
      "stereo", "Middlebury bad-pixel rate (|d - gt| > 2 px) of stereo depth.");
  cli::StereoEvalOptions se;
  eval_stereo->add_option("--dataset", se.dataset, "aloe or motorcycle (in ../shared/data/stereo)")
      ->check(CLI::IsMember({"aloe", "motorcycle"}));
  eval_stereo->add_option("--shared", se.shared_dir,
                          "the shared data folder (default ../shared or $DYN4D_SHARED)");
  eval_stereo->add_option("--num-disparities", se.num_disparities,
                          "SGBM search range (multiple of 16)");
  eval_stereo->add_flag("!--no-wls", se.wls, "report plain SGBM instead of SGBM + WLS");
  auto* eval_traj = eval->add_subcommand(
      "traj", "ATE (after rigid Umeyama alignment, no scale) and RPE of a TUM trajectory.");
  cli::TrajectoryEvalOptions te;
  eval_traj->add_option("--gt", te.gt, "ground truth, TUM format")
      ->required()
      ->check(CLI::ExistingFile);
  eval_traj->add_option("--est", te.est, "estimate, TUM format")
      ->required()
      ->check(CLI::ExistingFile);
  eval_traj->add_option("--max-dt", te.max_dt_s, "association window, seconds");
  eval_traj->add_option("--delta", te.delta, "RPE step in frames")->check(CLI::PositiveNumber);
  eval_traj->footer("\nLast line: ate_rmse_m <value>.");
  cli::MotEvalOptions me;
  auto* eval_mot = eval->add_subcommand(
      "mot",
      "MOTChallenge metrics of tracker results (CLEAR-MOT: MOTA, MOTP, FP, FN, IDSW, FM,\n"
      "MT/PT/ML; IDF1; HOTA), devkit conventions: IoU >= 0.5, previous matches kept, the rest by\n"
      "optimal assignment. Several --gt/--res pairs are also evaluated together.\n"
      "  dyn4d eval mot --gt seq/gt/gt.txt --res results/seq.txt");
  eval_mot->add_option("--gt", me.gt, "ground truth, MOTChallenge text (repeatable)")
      ->required()
      ->check(CLI::ExistingFile);
  eval_mot->add_option("--res", me.res, "tracker results, MOTChallenge text (repeatable)")
      ->required()
      ->check(CLI::ExistingFile);
  eval_mot->add_option("--iou", me.iou, "match threshold")->check(CLI::Range(0.01, 1.0));
  eval_mot->footer(
      "\nAlso HOTA (DetA, AssA, LocA; TrackEval's definition, mean over alpha\n"
      "0.05..0.95). Last lines: idf1 <value>, mota <value>, hota <value>.");

  // calibrate
  auto* calibrate = app.add_subcommand("calibrate", "Measure sensor calibration from data.");
  calibrate->require_subcommand(1);
  cli::ColorCalibrationOptions cco;
  auto* calibrate_color = calibrate->add_subcommand(
      "color",
      "The colour camera of RGB-D data whose colour is not registered to depth (7-Scenes,\n"
      "raw Kinect v1): colour focal length, principal point and offset from the depth\n"
      "camera, found where colour edges best meet depth discontinuities. Prints the input\n"
      "node's color_* params. Example:\n"
      "  dyn4d calibrate color ../shared/data/7scenes_redkitchen");
  calibrate_color->add_option("path", cco.path, "RGB-D folder (or device)")->required();
  calibrate_color->add_option("--kind", cco.kind, "source kind (default: detect)");
  calibrate_color->add_option("--frames", cco.frames, "frames to use")->check(CLI::PositiveNumber);
  calibrate_color->add_option("--every", cco.every, "use every Nth frame")
      ->check(CLI::PositiveNumber);
  calibrate_color->footer("\nLast line: edge_gain <calibrated / as-if-registered edge strength>.");
  cli::DepthCalibrationOptions dco;
  auto* calibrate_depth = calibrate->add_subcommand(
      "depth",
      "The depth sensor's smooth distortion (Kinect v1, Xtion: depth a few per cent off\n"
      "towards the image's edges), from its own video of a static scene: dyn4d tracks the\n"
      "frames, then fits the distortion together with the relative poses of frame pairs\n"
      "so that overlapping depth agrees. Move the camera (pan, tilt, walk) over a scene\n"
      "with nothing moving, for as long as you can: fits from 40-frame windows of one\n"
      "sensor differ by up to 7 % at the image's corners. Prints the input node's depth_k*\n"
      "params and the share of the disagreement the distortion explains. Whether it helps\n"
      "depends on the sensor: Bonn's Xtion drifts 2.5x less with it, while on 7-Scenes'\n"
      "Kinect the ATE against the dataset's poses rises (README); check it on your data.\n"
      "Example (Bonn's excerpt has 50-60 frames before people come in):\n"
      "  dyn4d calibrate depth ../shared/data/bonn_crowd --frames 60");
  calibrate_depth->add_option("path", dco.path, "RGB-D folder (or device)")->required();
  calibrate_depth->add_option("--kind", dco.kind, "source kind (default: detect)");
  calibrate_depth->add_option("--start", dco.start, "frames to skip first")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  calibrate_depth->add_option("--frames", dco.frames, "consecutive frames to use")
      ->check(CLI::Range(20, 100000))
      ->capture_default_str();
  calibrate_depth->footer(
      "\nLast line: depth_factor_range <smallest> <largest> factor over the image.");

  // bench
  auto* bench = app.add_subcommand(
      "bench", "Benchmarks: figures against a baseline measured in the same run.");
  bench->require_subcommand(1);
  auto* bench_transport = bench->add_subcommand(
      "transport",
      "Throughput of 640x480 RGB-D frames through one edge, dyn4d vs a bare cppzmq loop,\n"
      "over inproc, ipc and tcp. Last line: transport_overhead_ratio (bare/dyn4d, tcp).");
  cli::TransportBenchOptions tb;
  bench_transport->add_option("--batch", tb.batch, "frames per batch (sent, then all received)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench_transport->add_option("--min-time", tb.min_time_s, "seconds per trial")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench_transport->add_option("--filter", tb.filter, "regex over the edges: inproc, ipc, tcp");

  auto* bench_io = bench->add_subcommand(
      "io", "Frames/s reading the TUM excerpt (decode included) and for dyn4d synth.");
  cli::IoBenchOptions ib;
  bench_io->add_option("--shared", ib.shared_dir, "the shared data folder");
  bench_io->add_option("--min-time", ib.min_time_s, "seconds per case");
  auto* bench_geometry = bench->add_subcommand(
      "geometry",
      "Camera tracking vs Open3D's RGB-D odometry on the same frames: ATE, RPE, frames/s.");
  cli::GeometryBenchOptions gb;
  bench_geometry->add_option("--dataset", gb.dataset,
                             "7scenes_redkitchen or tum_fr1_rpy (under ../shared/data)");
  bench_geometry->add_option("--shared", gb.shared_dir, "the shared data folder");
  bench_geometry->add_option("--frames", gb.max_frames, "use only the first N frames");
  bench_geometry->add_flag("--verbose", gb.verbose, "print each lost frame and why");
  bench_geometry->add_flag("--skip-open3d", gb.skip_open3d,
                           "only dyn4d (Open3D takes ~0.3 s a frame)");
  bench_geometry->add_option("--param", gb.params,
                             "KEY=VALUE for dyn4d's tracking, names as the geometry node's params\n"
                             "(e.g. --param sigma_intensity=1000 for depth only; repeatable)");
  bench_geometry->add_option(
      "--source-param", gb.source_params,
      "KEY=VALUE for the input, names as the input node's colour registration params\n"
      "(color_fx color_fy color_cx color_cy color_tx color_ty color_tz; see\n"
      "dyn4d calibrate color)");
  bench_geometry->add_option("--save", gb.save_dir,
                             "write groundtruth.txt, dyn4d.txt, open3d.txt (TUM format) into this\n"
                             "folder (created if missing)");
  bench_transport
      ->add_option("--repetitions", tb.repetitions,
                   "rounds of paired trials (dyn4d and bare, alternating order); medians")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  cli::DynamicBenchOptions dbo;
  auto* bench_pipeline = bench->add_subcommand(
      "pipeline",
      "The default graph end to end: frames/s, CPU, peak memory, capture->map latency\n"
      "p50/p95/p99, slowest node; the real RGB-D of ../shared (in one process, then split\n"
      "over processes) and the synthetic scene at 320x240 / 640x480 / 1280x720 with 1 / 10\n"
      "/ 50 objects; Bonn replayed at a third of its frame rate, offline and live graph.");
  cli::PipelineBenchOptions pbo;
  bench_pipeline->add_option("--shared", pbo.shared_dir,
                             "../shared (default: $DYN4D_SHARED or ../shared)");
  bench_pipeline->add_option("--config", pbo.config, "another graph than the default");
  bench_pipeline->add_option("--save", pbo.save_dir, "keep every run's outputs in DIR/<case>");
  bench_pipeline->add_option("--frames", pbo.frames, "synthetic frames per case")
      ->capture_default_str();
  bench_pipeline
      ->add_option("--paced-repeats", pbo.paced_repeats,
                   "runs of each paced graph (offline, live), alternating; medians reported")
      ->check(CLI::Range(1, 50))
      ->capture_default_str();
  bench_pipeline->add_option("--long", pbo.long_frames,
                             "instead: one run of N synthetic 160x120 frames, memory and open "
                             "files sampled each second (slope after warm-up), e.g. 10000");
  bench_pipeline
      ->add_option("--long-map-points", pbo.long_map_points,
                   "--long: the point map's cap (0: the graph's own, 2 M points, full after ~57 s)")
      ->capture_default_str();
  bench_pipeline
      ->add_option("--long-history-s", pbo.long_history_s,
                   "--long: the cognitive map's history in stream seconds (0: the graph's own)")
      ->capture_default_str();
  bench_pipeline
      ->add_option("--long-overlay-frames", pbo.long_overlay_frames,
                   "--long: the overlay video's frames per file (0: the graph's own)")
      ->capture_default_str();
  bench_pipeline->footer(
      "\nEach case is its own `dyn4d run` process: CPU time and peak memory are its own (wait4).\n"
      "Last lines: paced_live_p95_ms <median over the paced live runs>, pipeline_fps <median\n"
      "frames/s over the real 640x480 sequences>.");
  auto* bench_dynamic = bench->add_subcommand(
      "dynamic",
      "The default graph (configs/offline.yaml, as `dyn4d run --input` runs it) on the real\n"
      "RGB-D sequences in ../shared/data: on the static TUM fr1/rpy and 7-Scenes excerpts every\n"
      "moving track is a false positive; on Bonn crowd (three people walking past a moving\n"
      "camera) the camera's ATE/RPE against the ground truth and Open3D's odometry on the same\n"
      "frames, the moving tracks, the share of YOLOX person boxes (score >= 0.5, pseudo ground\n"
      "truth for this bench only) covered by a moving track (IoU >= 0.5), and the share of\n"
      "map vertices on people (a vertex most of whose sightings fall inside a person's box\n"
      "at the person's depth). Camera tracking and whole-graph frames/s per sequence.\n"
      "Bonn again with its depth distortion calibrated from its own first 60 frames (as\n"
      "`dyn4d calibrate depth`, no ground truth): ATE/RPE and moving tracks.\n"
      "Last lines: phantom_tracks_static, bonn_ate_m, bonn_ate_ratio_vs_open3d,\n"
      "bonn_moving_tracks, bonn_person_coverage.");
  bench_dynamic->add_option("--shared", dbo.shared_dir, "the shared data folder");
  bench_dynamic->add_option("--sequence", dbo.sequences,
                            "only these (tum_fr1_rpy, 7scenes_redkitchen, bonn_crowd; repeatable)");
  bench_dynamic->add_option(
      "--save", dbo.save_dir,
      "keep each sequence's outputs in DIR/<sequence> (default: a temp folder), with\n"
      "person_boxes.jsonl on Bonn: each YOLOX person box, its best moving track and IoU");
  bench_dynamic->add_option("--yolox", dbo.yolox, "YOLOX ONNX model for person boxes")
      ->check(CLI::ExistingFile);
  bench_dynamic
      ->add_option("--config", dbo.config,
                   "another graph than the default (configs/offline.yaml), e.g. one whose\n"
                   "geometry node has recognise_places: true; its geometry node's settings\n"
                   "also drive the camera tracking rows and --starts")
      ->check(CLI::ExistingFile);
  bench_dynamic->add_flag("--skip-open3d", dbo.skip_open3d,
                          "no Open3D baseline (it takes minutes)");
  bench_dynamic
      ->add_option(
          "--starts", dbo.starts,
          "also track each sequence with ground truth from N starts (0, 5, 10, ... frames\n"
          "later; camera tracking as in the graph): ATE per start and the median. On Bonn\n"
          "one start's ATE is one sample of a chaotic process (a rounding-level change moves\n"
          "it by a third); compare methods by the median of 13")
      ->check(CLI::Range(1, 100));

  cli::TrackingBenchOptions tbo;
  auto* bench_tracking = bench->add_subcommand(
      "tracking",
      "dyn4d's tracker (two-stage ByteTrack-style association, Kalman filter) and a SORT\n"
      "baseline on the public detections of every MOT15 sequence in --mot15: HOTA, MOTA,\n"
      "IDF1, IDSW, FP, FN, tracker-only frames/s, and the time per frame with 10/100/1000\n"
      "detections. Last line: hota_gain_vs_sort <points>.");
  cli::SynthTrackingBenchOptions sto;
  bool bench_tracking_synth = false;
  auto* mot15_opt =
      bench_tracking->add_option("--mot15", tbo.mot15_dir, "e.g. ../shared/data/mot15")
          ->check(CLI::ExistingDirectory);
  auto* synth_flag = bench_tracking->add_flag(
      "--synth", bench_tracking_synth,
      "instead: the full RGB-D path (odometry, geometric proposals, recognition, 3D tracker)\n"
      "on synthetic scenes with exact ground truth: HOTA, IDSW, recognition accuracy of the\n"
      "tracked objects, exit histogram. Last line: hota_synth <points>.");
  mot15_opt->excludes(synth_flag);
  auto* mot17_opt =
      bench_tracking
          ->add_option("--mot17", tbo.mot17_dir,
                       "instead: the RGB-only default graph (2D motion proposals, no detections)\n"
                       "on the MOT17 frames in DIR (e.g. ../shared/data/mot17_mini) next to the\n"
                       "tracker on their public detections. Last lines: hota_rgb_only,\n"
                       "hota_public_detections.")
          ->check(CLI::ExistingDirectory);
  mot17_opt->excludes(synth_flag)->excludes(mot15_opt);
  bench_tracking->add_option("--out", tbo.out_dir, "--mot17: where the graph writes its outputs");
  bench_tracking
      ->add_option("--seeds", sto.seeds, "--synth: scenes (seed 1 is the embedded default)")
      ->delimiter(',');
  bench_tracking->add_option("--frames", sto.frames, "--synth: frames per scene")
      ->check(CLI::Range(2, 100000));
  bench_tracking->add_option("--objects", sto.objects, "--synth: moving objects per scene (0-6)")
      ->check(CLI::Range(0, 6));
  bench_tracking
      ->add_option("--lookahead", sto.lookahead,
                   "--synth: frames the proposals may look ahead (0: causal, live)")
      ->check(CLI::Range(0, 1000));
  bench_tracking
      ->add_option("--model", sto.model,
                   "--synth: recognition model file (default: "
                   "configs/models/synthetic_objects_dyn_perceiver.yaml)")
      ->check(CLI::ExistingFile);
  bench_tracking->add_option("--threads", sto.threads, "--synth: torch threads (0: all cores)");
  bench_tracking->add_flag(
      "--gt-poses", sto.gt_poses,
      "--synth: ground-truth camera poses and motion proposals on them instead "
      "of the geometry node's tracker");
  cli::ReasoningBenchOptions rbo;
  auto* bench_reasoning = bench->add_subcommand(
      "reasoning",
      "Multiple-choice questions of the Dyn-Bench families (approaching, occlusion, relative\n"
      "direction, depth order, motion relative to the camera, leaving the view, stop-and-go,\n"
      "event order, counting, ordering) generated with known answers from synthetic scenes'\n"
      "ground truth, answered by the built-in reasoner from cognitive maps built from\n"
      "(a) ground-truth tracks and (b) the pipeline's own tracks. Accuracy per family.\n"
      "Last line: qa_accuracy_pipeline <fraction>.");
  bench_reasoning->add_option("--seeds", rbo.seeds, "synthetic scenes")->delimiter(',');
  bench_reasoning->add_option("--frames", rbo.frames, "frames per scene")
      ->check(CLI::Range(10, 100000));
  bench_reasoning->add_option("--objects", rbo.objects, "moving objects per scene (1-6)")
      ->check(CLI::Range(1, 6));
  bench_reasoning->add_option("--model", rbo.model, "recognition model file")
      ->check(CLI::ExistingFile);
  bench_reasoning->add_option("--threads", rbo.threads, "torch threads (0: all cores)");
  bench_reasoning->add_flag("--verbose", rbo.verbose, "print every wrong answer and why");
  cli::RecognitionLatencyOptions rl;
  bool bench_recognition_latency = false;
  auto* bench_recognition = bench->add_subcommand(
      "recognition",
      "Dyn-Perceiver on this CPU.\n"
      "Default: the Fashion-MNIST models of configs/models (Dyn-Perceiver, linear-exit\n"
      "baseline, static network) on the test set: accuracy and GFLOPs per exit, the\n"
      "accuracy-vs-expected-GFLOPs curves of dynamic inference (plotted to --plot), latency at\n"
      "batch 1 and throughput at batch 32, last line speedup_at_equal_accuracy.\n"
      "--latency: batch-1 latency (median) of mobilenetV3_0x75_t128 at 224x224: full forward,\n"
      "the paths that stop after exits 1, 2, 3, and the plain backbone; last lines\n"
      "latency_exit1_b1_ms and latency_full_b1_ms.\n"
      "--teacher yolox.onnx: the recognizer a teacher trained (--model, default\n"
      "configs/models/teacher_yolox_dyn_perceiver.yaml) on held-out real sequences of\n"
      "../shared (7-Scenes redkitchen, MOT17-10/11/13; or --sequence): agreement with the\n"
      "teacher per exit and dynamic, exit histogram, recognizer vs teacher time per frame;\n"
      "then with the teacher looking at every 30th frame to anchor the classes to the\n"
      "stream (--teacher-every), scored on the other frames; last lines\n"
      "cost_ratio_vs_teacher and teacher_agreement (the anchored recognizer's).");
  cli::TeacherBenchOptions tbo2;
  tbo2.model_file = std::string(DYN4D_CONFIG_DIR) + "/models/teacher_yolox_dyn_perceiver.yaml";
  bench_recognition->add_option("--teacher", tbo2.teacher, "YOLOX .onnx (teacher agreement)")
      ->check(CLI::ExistingFile);
  bench_recognition
      ->add_option("--model", tbo2.model_file, "--teacher: the recognizer's model file")
      ->check(CLI::ExistingFile);
  bench_recognition->add_option("--sequence", tbo2.sequences,
                                "--teacher: held-out inputs (repeatable)");
  bench_recognition->add_option("--shared", tbo2.shared_dir, "the shared data folder");
  bench_recognition->add_option("--teacher-score", tbo2.score, "teacher score threshold");
  bench_recognition->add_option("--max-frames", tbo2.max_frames, "--teacher: per sequence");
  bench_recognition
      ->add_option("--teacher-every", tbo2.teacher_every,
                   "--teacher: the teacher also looks at every N-th frame of each sequence, as "
                   "the recognize stage's `teacher_every` does, anchoring the classes to it; its "
                   "cost counts; 0: the recognizer alone")
      ->check(CLI::Range(0, 1000000));
  cli::RecognitionBenchOptions rb;
  rb.models_dir = std::string(DYN4D_CONFIG_DIR) + "/models";
  bench_recognition->add_option("--models", rb.models_dir, "folder with the model files");
  bench_recognition->add_option("--data", rb.data_dir, "Fashion-MNIST folder");
  bench_recognition->add_option("--plot", rb.plot, "where to draw the curves (PNG)");
  bench_recognition->add_option("--latency-images", rb.latency_images, "test images timed")
      ->check(CLI::Range(64, 10000));
  bench_recognition->add_flag("--latency", bench_recognition_latency, "latency figures");
  bench_recognition->add_option("--config", rl.config, "configuration name");
  bench_recognition->add_option("--weights", rl.weights, "state_dict .pt to load (optional)");
  bench_recognition->add_option("--threads", rl.threads, "torch threads (0 = all cores)");
  bench_recognition->add_option("--runs", rl.runs, "timed runs per path")
      ->check(CLI::Range(5, 100000));
  bench_recognition->add_flag("!--no-channels-last", rl.channels_last,
                              "keep convolutions NCHW (to measure what NHWC gains)");
  bench_recognition->add_flag("!--no-fold", rl.fold_batchnorm,
                              "keep BatchNorm as separate ops (to measure what folding gains)");

  // recognize
  auto* recognize = app.add_subcommand("recognize", "Dyn-Perceiver recognition (LibTorch).");
  recognize->require_subcommand(1);
  cli::RecognizeParityOptions rp;
  auto* recognize_parity = recognize->add_subcommand(
      "parity",
      "Load official weights (state_dict.pt) and compare all four exits with the official\n"
      "PyTorch outputs (io.pt); prints max |diff| per exit and the FLOPs per exit against\n"
      "flops.txt. Last line: parity_max_abs_diff <v> (exit 0 when <= 1e-4).");
  recognize_parity
      ->add_option("--ref", rp.ref_dir,
                   "parity folder, e.g. "
                   "../shared/parity/dynperceiver_mobilenetV3_0x75_t128")
      ->required();
  recognize_parity->add_option("--config", rp.config, "official configuration name");
  recognize_parity->add_option("--threads", rp.threads, "torch threads (0 = all cores)");
  std::string flops_config = "mobilenetV3_0x75_perceiver_t128";
  auto* recognize_flops = recognize->add_subcommand(
      "flops", "Cumulative GFLOPs per exit, official counting convention.");
  recognize_flops->add_option("config", flops_config, "configuration name");

  cli::CalibrateOptions cal;
  auto* recognize_calibrate = recognize->add_subcommand(
      "calibrate",
      "Early-exit thresholds for a compute budget, found as the official code does on a\n"
      "calibration set (the last 5000 Fashion-MNIST training images, held out of training),\n"
      "and written into the model file's `thresholds:` line.\n"
      "  dyn4d recognize calibrate configs/models/fashion_mnist_dyn_perceiver.yaml --gflops 0.01");
  recognize_calibrate->add_option("model", cal.model_file, "model file (configs/models/*.yaml)")
      ->required();
  auto* budget_gflops = recognize_calibrate->add_option("--gflops", cal.budget_gflops,
                                                        "budget: expected GFLOPs per image");
  auto* budget_ms = recognize_calibrate->add_option(
      "--ms", cal.budget_ms, "budget: expected batch-1 latency per image (measured here)");
  budget_gflops->excludes(budget_ms);
  recognize_calibrate->add_option("--data", cal.data,
                                  "as dyn4d train --data (the calibration split is used)");
  recognize_calibrate->add_option("--teacher", cal.teacher, "teacher models: the detector")
      ->check(CLI::ExistingFile);
  recognize_calibrate->add_option("--threads", cal.threads, "torch threads (0 = all cores)");
  recognize_calibrate->add_flag("--dry-run", cal.dry_run, "print, do not write the model file");

  // ask
  std::string ask_endpoint = "tcp://127.0.0.1:5650", ask_question;
  std::vector<std::string> ask_options;
  double ask_timeout = 60;
  std::optional<double> ask_from, ask_to;
  auto* ask = app.add_subcommand(
      "ask",
      "Ask a running reasoning node a question (ZeroMQ request/reply). A node serves when its\n"
      "YAML entry has `service: tcp://HOST:PORT` (and `service_linger_s: S` to stay up S seconds\n"
      "after the video ends, e.g. on the `reason` node of configs/offline.yaml). Prints the\n"
      "answer (the option letter for multiple\n"
      "choice), the justification and, for grounding questions, the track id whose masks are in\n"
      "tracks.jsonl. Last line: answer <letter or text>.\n"
      "  dyn4d ask \"Which object hides the ball?\" --option \"A. box\" --option \"B. dog\"");
  ask->add_option("question", ask_question, "the question")->required();
  ask->add_option("--option", ask_options, "a choice, \"A. ...\" (repeat for each)");
  ask->add_option("--endpoint", ask_endpoint, "the node's service endpoint");
  ask->add_option("--from", ask_from, "time window start, s");
  ask->add_option("--to", ask_to, "time window end, s");
  ask->add_option("--timeout", ask_timeout, "seconds to wait for the answer")
      ->check(CLI::PositiveNumber);

  // train
  cli::TrainOptions tr;
  auto* train = app.add_subcommand(
      "train",
      "Train a recognition model file's network on its `dataset:` - fashion_mnist (Debian's\n"
      "dataset-fashion-mnist), synthetic_objects (object crops rendered from synthetic\n"
      "scenes), image_folder (--data DIR: one sub-folder of crops per class, e.g. what\n"
      "`dyn4d label` wrote) or teacher (--teacher yolox.onnx --data VIDEO_OR_FOLDER...: the\n"
      "detector labels crops of the model's classes in your own frames, in memory) - with\n"
      "the official Dyn-Perceiver recipe: CE on every exit +\n"
      "self-distillation from the last, AdamW, cosine schedule with warm-up. Checkpoints go\n"
      "to --out; running the same command again resumes from the latest one. At the end\n"
      "the weights replace the model file's `weights:` (unless --no-install).\n"
      "  dyn4d train configs/models/fashion_mnist_dyn_perceiver.yaml\n"
      "  dyn4d train configs/models/synthetic_objects_dyn_perceiver.yaml\n"
      "  dyn4d train configs/models/teacher_yolox_dyn_perceiver.yaml --teacher yolox_nano.onnx \\\n"
      "      --data ../shared/data/bonn_crowd --data ../shared/data/tum_fr1_rpy");
  train->add_option("model", tr.model_file, "model file (configs/models/*.yaml)")->required();
  train->add_option("--out", tr.out_dir, "checkpoint folder (default out/train/<model>)");
  train->add_option("--data", tr.data,
                    "Fashion-MNIST folder (fashion_mnist models), the class folders "
                    "(image_folder models) or the videos/frame folders the teacher labels "
                    "(teacher models; repeatable)");
  train->add_option("--teacher", tr.teacher, "teacher models: the detector (YOLOX .onnx)")
      ->check(CLI::ExistingFile);
  train->add_option("--teacher-score", tr.teacher_score, "teacher score threshold (default 0.5)");
  train->add_option("--teacher-every", tr.teacher_every, "label every N-th frame (default 1)");
  cli::LabelOptions lo;
  auto* label = app.add_subcommand(
      "label",
      "A teacher detector labels the crops a recognizer learns: YOLOX (ONNX) runs over your own\n"
      "videos, frame folders or datasets and writes each box it finds (score >= --score, in\n"
      "--classes) to OUT/<class>/ as an image, the layout `dyn4d train` reads for models with\n"
      "`dataset: image_folder`. The teacher is needed only here, never at run time.\n"
      "  dyn4d label --teacher ../shared/models/yolox_nano.onnx --out crops VIDEO_OR_FOLDER...\n"
      "  dyn4d train my_model.yaml --data crops");
  label->add_option("inputs", lo.inputs, "videos, frame folders or datasets (as --input)")
      ->required();
  label->add_option("--teacher", lo.teacher, "YOLOX .onnx model")
      ->required()
      ->check(CLI::ExistingFile);
  label->add_option("--out", lo.out_dir, "crops folder (one sub-folder per class)")->required();
  label->add_option("--score", lo.score, "teacher score threshold (default 0.5)");
  // One class per --classes, so that inputs after it are not taken for classes.
  label
      ->add_option("--classes", lo.classes,
                   "keep only this teacher class (repeat: --classes person --classes chair)")
      ->allow_extra_args(false);
  label->add_option("--every", lo.every, "label every N-th frame (default 1)");
  label->add_option("--max-frames", lo.max_frames, "per input (default all)");
  label->add_option("--min-size", lo.min_size_px, "smallest box side in pixels (default 16)");
  train->add_option("--epochs", tr.epochs, "override training.epochs");
  train->add_option("--max-steps", tr.max_steps, "stop after this many steps in total");
  train->add_option("--threads", tr.threads, "torch threads (0 = all cores)");
  train->add_flag("--no-install", tr.no_install, "keep the weights in --out only");

  CLI11_PARSE(app, argc, argv);
  input.view_default = run->count("--view") > 0;
  input.report = !no_report;
  cli::Shard shard;
  if (!shard_text.empty()) {
    try {
      shard = cli::ParseShard(shard_text);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "dyn4d: %s\n", e.what());
      return kExitConfig;
    }
  }
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*run) {
    if (run_config.empty() && input.path.empty()) {
      std::fprintf(stderr, "dyn4d run: give --config C, --input PATH, or both\n");
      return kExitConfig;
    }
    if (!questions_file.empty()) {
      try {
        input.questions = cli::ReadQuestionsFile(questions_file);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "dyn4d run: %s\n", e.what());
        return kExitConfig;
      }
    }
    if (!input.path.empty()) {
      try {
        const std::string detected = io::DetectSourceKind(input.path);  // reads the folder once
        if (run_config.empty()) {
          const bool colour_only = cli::IsColourOnly(input, detected);
          run_config = cli::DefaultConfigFor(colour_only);
          if (colour_only)
            std::printf("colour-only input: the 2D graph %s (give --config for another)\n",
                        run_config.c_str());
        }
        if (detected == "video_folder")
          return RunVideoBatch(run_config, input.path, run_out.empty() ? "out/batch" : run_out,
                               input, shard);
        if (shard.given) {
          std::fprintf(stderr, "dyn4d: --shard splits a folder of videos; '%s' is %s\n",
                       input.path.c_str(), detected.c_str());
          return kExitConfig;
        }
      } catch (const io::SourceError& e) {
        std::fprintf(stderr, "dyn4d: input: %s\n", e.what());
        return kExitConfig;
      }
    }
    pipeline::RunOptions o;
    o.output_dir = run_out;
    o.status_line = !run_quiet;
    o.status_detail = status_nodes;
    if (run_trace) o.trace_file = "trace.csv";
    return RunGraph(run_config, o, run_quiet, input, input.report);
  }
  if (*summarize) return cli::RunSummarize(summarize_options);
  if (*report) {
    try {
      const io::ReportResult r = io::WriteReport(report_options);
      std::printf("report: %s (%zu KiB: %d frames, %d objects, %d thumbnails, %d map points)\n",
                  r.path.c_str(), r.bytes / 1024, r.frames, r.objects, r.thumbnails, r.map_points);
      for (const std::string& m : r.missing) std::printf("  not in the run: %s\n", m.c_str());
      return kExitOk;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dyn4d report: %s\n", e.what());
      return kExitFailed;
    }
  }
  if (*synth) return cli::RunSynth(so);
  if (*eval_stereo) return cli::RunStereoEval(se);
  if (*bench_io) return cli::RunIoBench(ib);
  if (*bench_geometry) return cli::RunGeometryBench(gb);
  if (*bench_dynamic) return cli::RunDynamicBench(dbo);
  if (*bench_pipeline) return cli::RunPipelineBench(pbo);
  if (*eval_traj) return cli::RunTrajectoryEval(te);
  if (*calibrate_color) return cli::RunColorCalibration(cco);
  if (*calibrate_depth) return cli::RunDepthCalibration(dco);
  if (*eval_mot) return cli::RunMotEval(me);
  if (*bench_reasoning) return cli::RunReasoningBench(rbo);
  if (*bench_tracking) {
    if (bench_tracking_synth) return cli::RunSynthTrackingBench(sto);
    if (!tbo.mot17_dir.empty()) return cli::RunMot17Bench(tbo);
    if (tbo.mot15_dir.empty()) {
      std::fprintf(stderr, "dyn4d bench tracking: give --mot15 DIR, --mot17 DIR or --synth\n");
      return 2;
    }
    return cli::RunTrackingBench(tbo);
  }
  if (*node) {
    pipeline::RunOptions o;
    o.output_dir = node_out;
    o.only_nodes = {node_name};
    o.status_line = true;
    o.stats_file = "stats." + node_name + ".jsonl";
    if (node_trace) o.trace_file = "trace." + node_name + ".csv";
    return RunGraph(node_config, o, false);
  }
  if (*check) {
    try {
      pipeline::GraphConfig config =
          pipeline::LoadGraphConfig(check_path, /*throw_on_problems=*/false);
      pipeline::StageRegistry registry = MakeRegistry();
      pipeline::RunOptions o;
      o.output_dir = (std::filesystem::temp_directory_path() / "dyn4d-config-check").string();
      pipeline::Graph graph(std::move(config), registry, o);  // builds every stage
      std::printf("%sconfig OK\n", graph.config().Describe().c_str());
      return kExitOk;
    } catch (const pipeline::ConfigError& e) {
      std::fprintf(stderr, "dyn4d: invalid configuration:\n%s\n", e.what());
      return kExitConfig;
    }
  }
  if (*stages) {
    for (const auto& [type, summary] : MakeRegistry().Types())
      std::printf("%-20s %s\n", type.c_str(), summary.c_str());
    return kExitOk;
  }
  if (*bench_transport) return cli::RunTransportBench(tb);
  if (*recognize_parity) return cli::RunRecognizeParity(rp);
  if (*bench_recognition) {
    if (!tbo2.teacher.empty()) {
      tbo2.threads = rl.threads;
      return cli::RunTeacherBench(tbo2);
    }
    if (!bench_recognition_latency) {
      rb.threads = rl.threads;
      return cli::RunRecognitionBench(rb);
    }
    return cli::RunRecognitionLatencyBench(rl);
  }
  if (*recognize_flops) return cli::RunRecognizeFlops(flops_config);
  if (*recognize_calibrate) {
    if (cal.budget_gflops <= 0 && cal.budget_ms <= 0) {
      std::fprintf(stderr, "dyn4d recognize calibrate: give a budget, --gflops or --ms\n");
      return kExitConfig;
    }
    return cli::RunRecognizeCalibrate(cal);
  }
  if (*ask) {
    try {
      pipeline::Query q;
      q.question = ask_question;
      q.options = ask_options;
      q.t_begin_s = ask_from;
      q.t_end_s = ask_to;
      q.request_id =
          static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
      const pipeline::Answer a = pipeline::AskService(ask_endpoint, q, ask_timeout);
      std::printf("because: %s\n", a.justification.c_str());
      if (a.track_id >= 0) std::printf("track: %lld\n", static_cast<long long>(a.track_id));
      std::printf("answer %s\n", a.answer.c_str());
      return a.answer == "error" ? 1 : 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dyn4d ask: %s\n", e.what());
      return 2;
    }
  }
  if (*train) return cli::RunTrain(tr);
  if (*label) return cli::RunLabel(lo);
  return kExitOk;
}
