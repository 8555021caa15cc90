#pragma once
/// \file
/// The graph configuration (configs/*.yaml): topics, nodes, their stages and
/// parameters. Loaded and validated once at start; every problem is reported
/// at once, each with the file, the key and the reason.

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dyn4d/pipeline/flow.h"

namespace dyn4d::pipeline {

/// A configuration mistake. what() lists every problem found, one per line,
/// as "FILE:LINE: KEY: REASON".
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::vector<std::string>& problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

/// Typed, validated access to one node's `params` map. Records which keys
/// were read so that a misspelt key is an error instead of a silent default.
/// Getters never throw: problems are collected, and Finish() throws them all.
class Params {
 public:
  /// An empty parameter map (for stages built in code and tests).
  Params();
  /// Parses `yaml` (a map) as the params at `path` in `file`.
  static Params FromYaml(const std::string& yaml, const std::string& file = "<inline>",
                         const std::string& path = "params");
  ~Params();
  Params(Params&&) noexcept;
  Params& operator=(Params&&) noexcept;

  int GetInt(const std::string& key, int default_value, int min_value, int max_value);
  double GetDouble(const std::string& key, double default_value, double min_value,
                   double max_value);
  bool GetBool(const std::string& key, bool default_value);
  std::string GetString(const std::string& key, const std::string& default_value);
  /// A file path: a relative one names the file beside the graph file when
  /// one exists there, else it stays relative to the working directory.
  std::string GetPath(const std::string& key, const std::string& default_value);
  /// A list: a YAML sequence of scalars, or one string of items separated
  /// by `separator` ("a, b, c"); items trimmed of spaces, empty ones dropped.
  std::vector<std::string> GetList(const std::string& key,
                                   const std::vector<std::string>& default_value,
                                   char separator = ',');
  /// A list of numbers (as GetList); with `count` > 0 exactly that many.
  std::vector<double> GetNumbers(const std::string& key, const std::vector<double>& default_value,
                                 size_t count = 0);
  /// A string that must be one of `choices`.
  std::string GetChoice(const std::string& key, const std::string& default_value,
                        const std::vector<std::string>& choices);
  /// Sets `key` to a scalar (command-line overrides such as --input).
  void Override(const std::string& key, const std::string& value);
  /// Adds a problem found by the caller (a cross-field rule).
  void AddProblem(const std::string& key, const std::string& reason);
  /// Throws ConfigError if any key was unknown or any value invalid.
  void Finish() const;

  const std::string& file() const;
  const std::string& path() const;

 private:
  friend class GraphConfigParser;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct TopicConfig {
  std::string name;
  /// Where the producer binds. inproc://NAME when not given; `dyn4d node`
  /// requires ipc:// or tcp:// for every topic it touches.
  std::string endpoint;
  bool endpoint_given = false;
  FlowPolicy flow = FlowPolicy::kLossless;
  /// False when `flow` was not set in the file: a live source then makes it
  /// `latest`.
  bool flow_given = false;
  /// Bounded queue capacity per subscriber, in messages (>= 1).
  int queue = 8;
  /// Subscribers outside this graph (a Python client, a viewer) that the
  /// producer waits for before the first message.
  int external_subscribers = 0;
};

struct NodeConfig {
  std::string name;
  std::string type;                            ///< a registered stage type
  std::map<std::string, std::string> inputs;   ///< port -> topic
  std::map<std::string, std::string> outputs;  ///< port -> topic
  std::shared_ptr<Params> params;              ///< consumed by the stage factory
  /// Request/reply endpoint (tcp:// or ipc://): Query messages that arrive
  /// there go to the stage's "requests" port and its first Answer on
  /// "replies" goes back (`dyn4d ask` is the client). Empty: none.
  std::string service;
  /// Seconds the service keeps answering after the node's inputs ended (an
  /// offline run that stays up for questions); a stop request ends it.
  double service_linger_s = 0;
  std::string location;  ///< "FILE:LINE: nodes.NAME", for messages
};

struct GraphConfig {
  std::string file;  ///< where it was loaded from, for messages
  std::string name = "dyn4d";
  std::string output_dir = "out";   ///< relative to the working directory
  double handshake_timeout_s = 30;  ///< how long producers wait for subscribers
  std::map<std::string, TopicConfig> topics;
  std::vector<NodeConfig> nodes;  ///< in file order
  /// Problems found while parsing, when parsed with throw_on_problems =
  /// false; Graph reports them together with the stage-level ones.
  std::vector<std::string> problems;

  const NodeConfig* FindNode(const std::string& name) const;
  /// Nodes of this graph consuming `topic`.
  std::vector<std::string> ConsumersOf(const std::string& topic) const;
  /// The node of this graph publishing `topic` (one per topic), or nullptr
  /// when it comes from outside (an endpoint under topics).
  const NodeConfig* ProducerOf(const std::string& topic) const;
  /// A human-readable dump of the effective configuration.
  std::string Describe() const;
};

/// Loads and validates a graph file. Throws ConfigError if the file cannot be
/// read or is not YAML; other problems too unless `throw_on_problems` is
/// false, in which case they are left in GraphConfig::problems (so that Graph
/// can report them together with stage parameter problems).
GraphConfig LoadGraphConfig(const std::string& path, bool throw_on_problems = true);
/// Same, from YAML text; `file` names it in messages.
GraphConfig ParseGraphConfig(const std::string& yaml, const std::string& file,
                             bool throw_on_problems = true);

}  // namespace dyn4d::pipeline
