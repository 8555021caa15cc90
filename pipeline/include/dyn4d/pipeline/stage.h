#pragma once
/// \file
/// A Stage is the unit of work: a plain C++ class that turns input messages
/// into output messages, testable without any socket. A node (node.h) wraps it
/// with queues, threads and transport.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dyn4d/pipeline/config.h"
#include "dyn4d/pipeline/messages.h"

namespace dyn4d::pipeline {

/// One message for one output port.
struct Output {
  std::string port;
  Message message;
};
using Outputs = std::vector<Output>;

/// The message on input `port` as a T, or std::invalid_argument saying
/// "input 'PORT' expects T, got U" (topics are untyped in YAML, so a
/// mis-wired graph shows up here, at run time).
template <typename T>
const T& Expect(const Message& message, const std::string& port) {
  if (const T* value = std::get_if<T>(&message)) return *value;
  throw std::invalid_argument("input '" + port + "' expects " + TypeNameOf<T>() + ", got " +
                              TypeName(message));
}

/// What a stage may know about where it runs.
struct StageContext {
  std::string node_name;
  std::string output_dir;  ///< where sinks write; created before the stage starts
  std::map<std::string, std::string> inputs;   ///< connected input port -> topic
  std::map<std::string, std::string> outputs;  ///< connected output port -> topic
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::vector<std::string> InputPorts() const { return {}; }
  virtual std::vector<std::string> OutputPorts() const { return {}; }
  /// Inputs that may be left unconnected (a subset of InputPorts).
  virtual std::vector<std::string> OptionalInputPorts() const { return {}; }
  /// Sources: how many items they will produce, -1 if unknown (progress).
  virtual int64_t ProgressTotal() const { return -1; }
  /// Items this stage skipped so far (bad frames...); counted as errors in
  /// Stats and in the run summary.
  virtual uint64_t SkippedCount() const { return 0; }
  /// Stage-specific totals published in Stats.counters (e.g. an exit
  /// histogram). Called from the node's thread, between Process calls.
  virtual std::map<std::string, double> Counters() const { return {}; }
  bool IsSource() const { return InputPorts().empty(); }
  /// Live sources default their outputs to `latest` edges.
  virtual bool IsLive() const { return false; }

  /// Sources: the next batch of outputs, or nullopt when exhausted.
  virtual std::optional<Outputs> Produce() { return std::nullopt; }
  /// Others: handle one message that arrived on `port`. Throwing fails the
  /// node (and the run); per-item problems belong in the outputs or stats.
  virtual Outputs Process(const std::string& port, const Message& message) {
    (void)port;
    (void)message;
    return {};
  }
  /// End of stream on every input (or stop): flush what is held, write files.
  virtual Outputs Finish() { return {}; }
  /// Every node's Stats in this process, as the run collects them (once a
  /// stats period per node), for stages that show them (the live viewer).
  /// Called on the run's stats thread, concurrently with Process and after
  /// Finish: an override must be thread-safe. Default: ignored.
  virtual void OnRunStats(const Stats& stats) { (void)stats; }
};

/// Maps stage type names (YAML `type:`) to factories. Each module registers
/// its stages explicitly (no static-initialisation magic).
class StageRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Stage>(Params& params, const StageContext& ctx)>;
  void Register(const std::string& type, const std::string& summary, Factory factory);
  bool Has(const std::string& type) const;
  /// Builds a stage and checks its params (throws ConfigError).
  std::unique_ptr<Stage> Create(const std::string& type, Params& params,
                                const StageContext& ctx) const;
  /// type -> one-line summary, for `--help` and error messages.
  std::map<std::string, std::string> Types() const;

 private:
  struct Entry {
    std::string summary;
    Factory factory;
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace dyn4d::pipeline
