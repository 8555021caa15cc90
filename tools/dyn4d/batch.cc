#include "batch.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <stdexcept>

#include "dyn4d/io/sources.h"
#include "dyn4d/io/writers.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json RowJson(const BatchRow& r) {
  return {{"video", r.video}, {"status", r.status}, {"frames", r.frames}, {"seconds", r.seconds}};
}
BatchRow RowFrom(const json& j) {
  return {j.value("video", ""), j.value("status", ""), j.value("frames", uint64_t(0)),
          j.value("seconds", 0.0)};
}
bool Ok(const std::string& status) { return status == "ok" || status == "complete"; }

void WriteJson(const fs::path& path, const json& j) {
  io::AtomicFile out(path.string());
  out.stream() << j.dump(2) << "\n";
  if (!out.stream().flush()) {
    out.Discard();
    throw std::runtime_error("write to '" + path.string() + "' failed (disk full?)");
  }
  out.Commit();
}

std::uintmax_t SizeOf(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

}  // namespace

Shard ParseShard(const std::string& text) {
  static const std::regex kShard(R"((\d+)/(\d+))");
  std::smatch m;
  Shard s;
  if (std::regex_match(text, m, kShard)) {
    s.index = std::stoi(m[1]);
    s.count = std::stoi(m[2]);
    s.given = true;
    if (s.count >= 1 && s.index < s.count) return s;
  }
  throw std::invalid_argument("--shard '" + text +
                              "': give I/N with 0 <= I < N, e.g. $SLURM_ARRAY_TASK_ID/4");
}

void MarkDone(const std::string& video_out_dir, const std::string& video_path,
              const BatchRow& row) {
  json j = RowJson(row);
  j["bytes"] = SizeOf(video_path);
  WriteJson(fs::path(video_out_dir) / "done.json", j);
}

bool AlreadyDone(const std::string& video_out_dir, const std::string& video_path, BatchRow* row) {
  std::ifstream in(fs::path(video_out_dir) / "done.json");
  if (!in) return false;
  const json j = json::parse(in, nullptr, false);
  if (!j.is_object() || j.value("status", "") != "ok" ||
      j.value("video", "") != fs::path(video_path).filename().string() ||
      j.value("bytes", std::uintmax_t(0)) != SizeOf(video_path))
    return false;  // another video under that name, or a changed one: run it
  *row = RowFrom(j);
  row->status = "complete";
  return true;
}

std::string WriteBatchSummary(const std::string& out_dir, const std::string& input,
                              const Shard& shard, const std::vector<BatchRow>& rows) {
  json j = {{"input", input}, {"shard", shard.index}, {"shards", shard.count}};
  j["videos"] = json::array();
  for (const BatchRow& r : rows) j["videos"].push_back(RowJson(r));
  const fs::path path =
      fs::path(out_dir) / (shard.given ? "summary.shard-" + std::to_string(shard.index) + "-of-" +
                                             std::to_string(shard.count) + ".json"
                                       : std::string("summary.json"));
  fs::create_directories(out_dir);
  WriteJson(path, j);
  return path.string();
}

void PrintBatchRows(const std::vector<BatchRow>& rows) {
  std::printf("%-32s %8s %8s  %s\n", "video", "frames", "seconds", "status");
  for (const BatchRow& r : rows)
    std::printf("%-32s %8llu %8.1f  %s\n", r.video.c_str(),
                static_cast<unsigned long long>(r.frames), r.seconds,
                r.status.substr(0, 160).c_str());
}

int RunSummarize(const SummarizeOptions& o) {
  const fs::path dir(o.out_dir);
  static const std::regex kShardFile(R"(summary\.shard-(\d+)-of-(\d+)\.json)");
  std::map<int, json> shards;
  std::set<int> counts;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!std::regex_match(name, m, kShardFile)) continue;
    std::ifstream in(e.path());
    json j = json::parse(in, nullptr, false);
    if (!j.is_object() || !j.contains("videos")) {
      std::fprintf(stderr, "dyn4d summarize: %s is not a shard summary; left out\n",
                   e.path().c_str());
      continue;
    }
    counts.insert(std::stoi(m[2]));
    shards[std::stoi(m[1])] = std::move(j);
  }
  std::vector<std::string> problems;
  std::map<std::string, BatchRow> rows;  // by video: one row each, sorted
  std::string input = o.input;
  int count = 0;
  if (shards.empty()) {
    // An unsharded batch: its own summary.
    std::ifstream in(dir / "summary.json");
    const json j = json::parse(in, nullptr, false);
    if (!j.is_object() || !j.contains("videos")) {
      std::fprintf(stderr,
                   "dyn4d summarize: no summary.shard-I-of-N.json or summary.json in %s (a batch "
                   "run with --input FOLDER [--shard I/N] writes them)\n",
                   o.out_dir.c_str());
      return 1;
    }
    for (const auto& v : j["videos"]) rows[v.value("video", "")] = RowFrom(v);
    if (input.empty()) input = j.value("input", "");
  } else {
    if (counts.size() > 1)
      problems.push_back(
          "shard summaries of different splits (N = " + std::to_string(*counts.begin()) + " and " +
          std::to_string(*counts.rbegin()) + "): remove the stale ones");
    count = *counts.rbegin();
    for (int i = 0; i < count; ++i)
      if (!shards.count(i))
        problems.push_back("shard " + std::to_string(i) + "/" + std::to_string(count) +
                           " has no summary: not run, or not finished");
    for (const auto& [index, j] : shards) {
      if (input.empty()) input = j.value("input", "");
      for (const auto& v : j["videos"]) {
        BatchRow r = RowFrom(v);
        auto it = rows.find(r.video);
        if (it == rows.end() || (!Ok(it->second.status) && Ok(r.status))) rows[r.video] = r;
      }
    }
  }
  // Videos of the folder that no shard reported.
  if (!o.input.empty()) {
    for (const std::string& v : io::ListVideos(o.input)) {
      const std::string name = fs::path(v).filename().string();
      if (!rows.count(name)) problems.push_back(name + ": not processed by any shard");
    }
  }
  std::vector<BatchRow> merged;
  for (const auto& [name, r] : rows) merged.push_back(r);
  PrintBatchRows(merged);
  uint64_t frames = 0;
  double seconds = 0;
  int ok = 0, failed = 0;
  for (const BatchRow& r : merged) {
    frames += r.frames;
    seconds += r.seconds;
    (Ok(r.status) ? ok : failed) += 1;
  }
  std::printf(
      "\n%zu video(s): %d ok, %d not; %llu frames in %.1f s of processing (%.1f frames/s)\n",
      rows.size(), ok, failed, static_cast<unsigned long long>(frames), seconds,
      seconds > 0 ? frames / seconds : 0.0);
  if (!shards.empty()) {
    try {
      std::printf("merged %zu shard summar%s into %s\n", shards.size(),
                  shards.size() == 1 ? "y" : "ies",
                  WriteBatchSummary(o.out_dir, input, Shard{}, merged).c_str());
    } catch (const std::exception& e) {
      problems.push_back(e.what());
    }
  }
  for (const std::string& p : problems) std::fprintf(stderr, "dyn4d summarize: %s\n", p.c_str());
  return problems.empty() && failed == 0 ? 0 : 1;
}

}  // namespace dyn4d::cli
