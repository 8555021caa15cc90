// dyn4d: one binary, every job. See `dyn4d --help` and README.md.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/pipeline/graph.h"

namespace {

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

pipeline::StageRegistry MakeRegistry() {
  pipeline::StageRegistry r;
  io::RegisterStages(r);
  perception::RegisterStages(r);
  return r;
}

void PrintSummary(const pipeline::RunResult& r) {
  std::printf("\n%-20s %10s %10s %10s %8s %8s %10s\n", "node", "processed", "emitted", "dropped",
              "errors", "max_q", "fps(last)");
  for (const auto& [name, s] : r.final_stats)
    std::printf("%-20s %10llu %10llu %10llu %8llu %8zu %10.1f\n", name.c_str(),
                static_cast<unsigned long long>(s.processed),
                static_cast<unsigned long long>(s.emitted),
                static_cast<unsigned long long>(s.dropped),
                static_cast<unsigned long long>(s.errors), r.max_queue_depth.at(name), s.fps);
  std::printf("\noutputs in %s/:\n", r.output_dir.c_str());
  std::error_code ec;
  std::vector<std::filesystem::directory_entry> files;
  for (const auto& e : std::filesystem::directory_iterator(r.output_dir, ec))
    if (e.is_regular_file()) files.push_back(e);
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  for (const auto& e : files)
    std::printf("  %-24s %10llu bytes\n", e.path().filename().c_str(),
                static_cast<unsigned long long>(e.file_size()));
  std::printf("\n%s (%.2f s): %s\n",
              r.status == pipeline::RunResult::Status::kOk        ? "done"
              : r.status == pipeline::RunResult::Status::kStopped ? "stopped"
              : r.status == pipeline::RunResult::Status::kAborted ? "ABORTED"
                                                                  : "FAILED",
              r.elapsed_s, r.message.c_str());
}

int RunGraph(const std::string& config_path, pipeline::RunOptions options, bool quiet) {
  pipeline::RunControl control;
  try {
    pipeline::GraphConfig config =
        pipeline::LoadGraphConfig(config_path, /*throw_on_problems=*/false);
    pipeline::StageRegistry registry = MakeRegistry();
    pipeline::Graph graph(std::move(config), registry, options);
    if (!quiet) std::printf("%s", graph.config().Describe().c_str());
    InstallSignalHandlers(&control);
    pipeline::RunResult result = graph.Run(control);
    InstallSignalHandlers(nullptr);
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
      "  dyn4d bench transport                       measure edge throughput\n",
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
  run->add_option("-c,--config", run_config, "graph YAML, e.g. configs/demo.yaml")
      ->required()
      ->check(CLI::ExistingFile);
  run->add_option("-o,--out", run_out, "output directory (overrides output_dir in the config)");
  run->add_flag("-q,--quiet", run_quiet, "no graph description, status line or summary");
  run->footer(
      "\nPrints a live status line (fps, p50/p95 latency, queue depth, drops, errors per node),\n"
      "writes OUT/stats.jsonl (one line per node per second) and a summary at the end.\n"
      "Ctrl-C once: sources stop, every node flushes, exit 0. Twice: abort.\n"
      "Exit codes: 0 done, 1 a node failed (named on stderr), 2 invalid configuration.");

  // node
  auto* node = app.add_subcommand("node", "Run one node of a graph (for multi-process graphs).");
  std::string node_name, node_config, node_out;
  node->add_option("name", node_name, "node name as in the config's nodes: map")->required();
  node->add_option("-c,--config", node_config, "graph YAML")->required()->check(CLI::ExistingFile);
  node->add_option("-o,--out", node_out, "output directory (overrides output_dir)");
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

  // bench
  auto* bench = app.add_subcommand("bench", "Benchmarks (Google Benchmark).");
  bench->require_subcommand(1);
  auto* bench_transport = bench->add_subcommand(
      "transport",
      "Throughput of 640x480 RGB-D frames through one edge, dyn4d vs a bare cppzmq loop,\n"
      "over inproc, ipc and tcp. Last line: transport_overhead_ratio (bare/dyn4d, tcp).");
  cli::TransportBenchOptions tb;
  bench_transport->add_option("--batch", tb.batch, "frames per timed batch")
      ->check(CLI::PositiveNumber);
  bench_transport->add_option("--min-time", tb.min_time_s, "seconds per case")
      ->check(CLI::PositiveNumber);
  bench_transport->add_option("--filter", tb.filter, "regex over case names");
  bench_transport->add_option("--repetitions", tb.repetitions, "median over this many runs")
      ->check(CLI::PositiveNumber);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*run) {
    pipeline::RunOptions o;
    o.output_dir = run_out;
    o.status_line = !run_quiet;
    return RunGraph(run_config, o, run_quiet);
  }
  if (*node) {
    pipeline::RunOptions o;
    o.output_dir = node_out;
    o.only_nodes = {node_name};
    o.status_line = true;
    o.stats_file = "stats." + node_name + ".jsonl";
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
  return kExitOk;
}
