#pragma once
// Batches of videos split over jobs of a cluster scheduler (one array task
// per shard): which videos a shard takes, what marks a video done (so a
// rerun resumes), the per-shard summary and `dyn4d summarize`, which merges
// them.
#include <cstdint>
#include <string>
#include <vector>

namespace dyn4d::cli {

/// `--shard I/N`: this job takes the videos with io::ShardOf(video, N) == I.
struct Shard {
  int index = 0;
  int count = 1;
  bool given = false;
};
/// Parses "I/N" (0 <= I < N); throws std::invalid_argument naming the value.
Shard ParseShard(const std::string& text);

struct BatchRow {
  std::string video;   ///< file name
  std::string status;  ///< "ok", "complete" (done before: skipped), "FAILED: ...", "skipped: ...",
                       ///< "stopped"
  uint64_t frames = 0;
  double seconds = 0;
};

/// OUT/<video>/done.json, written after a video's outputs are complete. A
/// video whose done.json names it with the same size is not run again.
void MarkDone(const std::string& video_out_dir, const std::string& video_path, const BatchRow& row);
/// The row of a video done before (status "complete"), or false.
bool AlreadyDone(const std::string& video_out_dir, const std::string& video_path, BatchRow* row);

/// OUT/summary.json, or OUT/summary.shard-I-of-N.json for a shard; written
/// via a .partial file. Throws std::runtime_error naming the file.
std::string WriteBatchSummary(const std::string& out_dir, const std::string& input,
                              const Shard& shard, const std::vector<BatchRow>& rows);

/// The batch table: one row per video (frames, seconds, status).
void PrintBatchRows(const std::vector<BatchRow>& rows);

struct SummarizeOptions {
  std::string out_dir;
  std::string input;  ///< optional: the batch's folder, to list videos never processed
};
/// `dyn4d summarize OUT`: merges the shards' summaries into OUT/summary.json
/// and prints the table. Exit 0 when every shard reported and every video is
/// ok, 1 otherwise (missing shards, failed or unprocessed videos named).
int RunSummarize(const SummarizeOptions& options);

}  // namespace dyn4d::cli
