#pragma once
/// \file
/// Runs a graph (or some of its nodes) in this process: one thread per node
/// plus one I/O thread per node with inputs, all sharing one ZeroMQ context.
///
/// Lifecycle: stages are built and validated before any thread starts (a bad
/// config never half-runs). Sources run until exhausted or asked to stop, then
/// send EndOfStream; every node flushes (Stage::Finish) once all its inputs
/// have ended and forwards EndOfStream. A node that throws is reported by
/// name, the sources are stopped, the rest of the graph still flushes, and
/// the run fails.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/pipeline/config.h"
#include "dyn4d/pipeline/messages.h"
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::pipeline {

/// Shared stop switches; set from signal handlers or tests.
struct RunControl {
  /// Graceful: sources stop producing, the graph drains and flushes.
  std::atomic<bool> stop_sources{false};
  /// Immediate: every node returns as soon as it can (second Ctrl-C).
  std::atomic<bool> abort{false};
};

struct RunOptions {
  /// Overrides the config's output_dir when not empty.
  std::string output_dir;
  /// Run only these nodes (`dyn4d node NAME`); empty runs every node.
  std::vector<std::string> only_nodes;
  /// Print a one-line live status to stderr about once a second.
  bool status_line = false;
  /// The live line lists every node (fps, latency, queue) instead of the
  /// one-line summary (elapsed, progress, frames/s, slowest node, drops).
  bool status_detail = false;
  /// Stats log, relative to the output directory; empty disables it.
  std::string stats_file = "stats.jsonl";
  /// Per-message timing log, relative to the output directory; empty (the
  /// default) keeps none. One CSV line per message a node finished with:
  /// node, port, seq, and the CLOCK_MONOTONIC time in ns when it was done
  /// (a source: when it handed a message to that output port; any other
  /// node: when it had processed a message from that input port, before its
  /// outputs were sent, so that a consumer is never logged done first). The
  /// clock is the machine's, so the logs of a graph split over processes
  /// line up: `dyn4d bench pipeline` takes end-to-end latency from them.
  /// Kept in memory until the end (about 50 bytes a message).
  std::string trace_file;
  /// How often every node publishes Stats.
  double stats_period_s = 1.0;
  /// After a node fails, how long the others may take to flush before they
  /// are stopped hard.
  double failure_grace_s = 10.0;
  /// How often the heap's free pages are handed back to the system (glibc's
  /// malloc_trim); 0 never. Without it glibc keeps what nodes free inside its
  /// arenas and a long run's resident set creeps up (4-14 MiB a minute)
  /// although the memory in use is flat. Not often: the call runs off the
  /// nodes' threads, but it holds each arena's lock while it walks it, and
  /// the pages it returns are faulted in again by the next frames, so the
  /// frame in work then takes longer (Bonn, live graph at 10 frames/s: about
  /// 40 ms more, every 10th frame with a trim a second). A long run's slope
  /// was the same with a trim every 1, 10 or 30 s (3.9, 4.9, 3.9 MiB/min,
  /// `bench pipeline --long 20000`).
  double release_memory_period_s = 30.0;
};

struct RunResult {
  enum class Status {
    kOk,       ///< sources finished, everything flushed
    kStopped,  ///< stopped on request; everything processed was flushed
    kAborted,  ///< stopped hard (second signal): outputs may be incomplete
    kFailed,   ///< a node failed; see message
  };
  Status status = Status::kFailed;
  std::string message;
  std::string output_dir;
  std::map<std::string, Stats> final_stats;       ///< per node
  std::map<std::string, size_t> max_queue_depth;  ///< per node, over the run
  std::vector<std::string> sources;               ///< the source nodes (frames in)
  double elapsed_s = 0;
  /// How many times free heap pages were handed back (release_memory_period_s).
  int heap_releases = 0;

  /// 0 ok or stopped (flushed), 1 failed, 130 aborted (as for SIGINT).
  int ExitCode() const {
    return status == Status::kFailed ? 1 : status == Status::kAborted ? 130 : 0;
  }
};

/// The live status line for a terminal of `columns` (at most columns - 1
/// characters): elapsed time, progress of the sources with a known length
/// (`totals`: node -> items, <= 0 unknown), frames/s overall, the slowest
/// node (highest median latency) and all drops and errors.
std::string StatusLine(const std::map<std::string, Stats>& latest, double elapsed_s,
                       const std::map<std::string, int64_t>& totals, size_t columns);

class Graph {
 public:
  /// Validates the config against the registry and builds every stage.
  /// Throws ConfigError listing every problem.
  Graph(GraphConfig config, const StageRegistry& registry, RunOptions options = {});
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// Runs to completion. Call once.
  RunResult Run(RunControl& control);

  const GraphConfig& config() const;
  const std::string& output_dir() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::pipeline
