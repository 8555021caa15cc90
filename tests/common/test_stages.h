#pragma once
// Small stages for runtime tests: they exercise the node runtime, not the
// algorithms, so each does one observable thing.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "dyn4d/pipeline/graph.h"
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::test {

using pipeline::Message;
using pipeline::Outputs;

/// Emits `count` RgbdFrames of width x height (zeroed; seq 0..count-1).
class CountingSource : public pipeline::Stage {
 public:
  CountingSource(int count, int width, int height, double rate_hz = 0)
      : count_(count), width_(width), height_(height), rate_hz_(rate_hz) {}
  std::vector<std::string> OutputPorts() const override { return {"out"}; }
  /// Paced like a camera: a live source.
  bool IsLive() const override { return rate_hz_ > 0; }
  std::optional<Outputs> Produce() override {
    if (next_ >= count_) return std::nullopt;
    if (rate_hz_ > 0) std::this_thread::sleep_for(std::chrono::duration<double>(1.0 / rate_hz_));
    pipeline::RgbdFrame f;
    f.meta.seq = next_++;
    f.meta.source_id = "counting";
    f.color = pipeline::Image::Allocate(width_, height_, pipeline::PixelEncoding::kBgr8);
    f.depth = pipeline::Image::Allocate(width_, height_, pipeline::PixelEncoding::kMono16);
    f.color.data.mutable_data()[0] = static_cast<uint8_t>(f.meta.seq);
    f.intrinsics = {500, 500, width_ / 2.0, height_ / 2.0, width_, height_};
    return Outputs{{"out", std::move(f)}};
  }

 private:
  int count_, width_, height_;
  double rate_hz_;
  int next_ = 0;
};

/// Forwards what it gets; throws on seq == fail_at (if >= 0).
class PassThrough : public pipeline::Stage {
 public:
  explicit PassThrough(int64_t fail_at = -1) : fail_at_(fail_at) {}
  std::vector<std::string> InputPorts() const override { return {"in"}; }
  std::vector<std::string> OutputPorts() const override { return {"out"}; }
  Outputs Process(const std::string&, const Message& m) override {
    if (static_cast<int64_t>(pipeline::Meta(m).seq) == fail_at_)
      throw std::runtime_error("injected failure");
    return {{"out", m}};
  }

 private:
  int64_t fail_at_;
};

/// Records the seqs it receives, optionally sleeping per message; writes them
/// to OUT/<file> at Finish (proving the flush happens).
class RecordingSink : public pipeline::Stage {
 public:
  RecordingSink(std::string path, double sleep_ms) : path_(std::move(path)), sleep_ms_(sleep_ms) {}
  std::vector<std::string> InputPorts() const override { return {"in"}; }
  Outputs Process(const std::string&, const Message& m) override {
    if (sleep_ms_ > 0)
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(sleep_ms_));
    seqs_.push_back(pipeline::Meta(m).seq);
    return {};
  }
  Outputs Finish() override {
    std::ofstream out(path_);
    for (uint64_t s : seqs_) out << s << "\n";
    return {};
  }

 private:
  std::string path_;
  double sleep_ms_;
  std::vector<uint64_t> seqs_;
};

inline pipeline::StageRegistry TestRegistry() {
  pipeline::StageRegistry r;
  r.Register("counting_source", "test", [](pipeline::Params& p, const pipeline::StageContext&) {
    int count = p.GetInt("count", 10, 0, 1000000);
    int w = p.GetInt("width", 64, 1, 4096), h = p.GetInt("height", 48, 1, 4096);
    double rate = p.GetDouble("rate_hz", 0, 0, 1e6);
    return std::make_unique<CountingSource>(count, w, h, rate);
  });
  r.Register("pass_through", "test", [](pipeline::Params& p, const pipeline::StageContext&) {
    return std::make_unique<PassThrough>(p.GetInt("fail_at", -1, -1, 1 << 30));
  });
  r.Register("recording_sink", "test", [](pipeline::Params& p, const pipeline::StageContext& ctx) {
    return std::make_unique<RecordingSink>(ctx.output_dir + "/" + p.GetString("file", "seqs.txt"),
                                           p.GetDouble("sleep_ms", 0, 0, 10000));
  });
  return r;
}

/// Runs a parsed graph to its end with `out_dir` as its output folder.
inline pipeline::RunResult RunGraphInto(const pipeline::GraphConfig& config,
                                        const pipeline::StageRegistry& registry,
                                        const std::string& out_dir) {
  pipeline::RunOptions o;
  o.output_dir = out_dir;
  pipeline::RunControl control;
  return pipeline::Graph(config, registry, o).Run(control);
}

/// A fresh, empty temporary directory.
inline std::string TempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  auto dir =
      std::filesystem::temp_directory_path() /
      ("dyn4d-test-" + std::to_string(::getpid()) + "-" + name + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::vector<uint64_t> ReadSeqs(const std::string& path) {
  std::ifstream in(path);
  std::vector<uint64_t> out;
  uint64_t s;
  while (in >> s) out.push_back(s);
  return out;
}

}  // namespace dyn4d::test
