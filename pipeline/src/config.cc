#include "dyn4d/pipeline/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

namespace dyn4d::pipeline {
namespace {

// Why a ZeroMQ endpoint cannot work, or "" when it can: tcp://HOST:PORT
// (PORT 1-65535, or * for any), ipc://PATH, inproc://NAME.
std::string EndpointProblem(const std::string& e, bool allow_inproc) {
  const auto rest_after = [&](const char* scheme) { return e.substr(std::string(scheme).size()); };
  if (e.rfind("tcp://", 0) == 0) {
    const std::string rest = rest_after("tcp://");
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return "'" + e + "' needs a host and a port (tcp://HOST:PORT, e.g. tcp://127.0.0.1:5555)";
    const std::string port = rest.substr(colon + 1);
    if (port == "*") return "";
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
        std::stoi(port) > 65535)
      return "'" + e + "': port '" + port + "' is not 1-65535 (or *)";
    return "";
  }
  if (e.rfind("ipc://", 0) == 0)
    return rest_after("ipc://").empty() ? "'" + e + "' needs a path (ipc:///tmp/NAME)" : "";
  if (allow_inproc && e.rfind("inproc://", 0) == 0)
    return rest_after("inproc://").empty() ? "'" + e + "' needs a name" : "";
  return "'" + e + "' is not " +
         (allow_inproc ? "an inproc://, ipc:// or tcp://" : "a tcp:// or ipc://") + " endpoint";
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" : "") + lines[i];
  return out;
}

std::string Where(const std::string& file, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  if (m.line < 0) return file;
  return file + ":" + std::to_string(m.line + 1);
}

// How a value looks in an error message.
std::string Shown(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  return n.IsMap() ? "<map>" : n.IsSequence() ? "<list>" : "<empty>";
}

// Converts a YAML scalar to T within [lo, hi]; on failure returns nullopt and
// says why ("expected an integer, got 'x'", "value 0 out of range [1, 8]").
template <typename T>
std::optional<T> ScalarInRange(const YAML::Node& n, T lo, T hi, const char* expected,
                               std::string* why) {
  T x;
  try {
    if (!n.IsScalar()) throw YAML::BadConversion(n.Mark());
    x = n.as<T>();
  } catch (const YAML::Exception&) {
    *why = std::string("expected ") + expected + ", got '" + Shown(n) + "'";
    return std::nullopt;
  }
  if (!(x >= lo && x <= hi)) {
    std::ostringstream os;
    os << "value " << x << " out of range [" << lo << ", " << hi << "]";
    *why = os.str();
    return std::nullopt;
  }
  return x;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out;
}

}  // namespace

ConfigError::ConfigError(const std::vector<std::string>& problems)
    : std::runtime_error(JoinLines(problems)), problems_(problems) {}

// ---- Params -------------------------------------------------------------------

struct Params::Impl {
  YAML::Node node;
  std::string file = "<code>";
  std::string path = "params";
  std::set<std::string> used;
  std::vector<std::string> problems;

  void Problem(const std::string& key, const std::string& reason) {
    YAML::Node at = (node.IsMap() && node[key]) ? node[key] : node;
    problems.push_back(Where(file, at) + ": " + path + (key.empty() ? "" : "." + key) + ": " +
                       reason);
  }
  // The value for `key`, or an undefined node when absent.
  YAML::Node Lookup(const std::string& key) {
    used.insert(key);
    if (!node || !node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    return node[key];
  }
};

Params::Params() : impl_(std::make_unique<Impl>()) {}
Params::~Params() = default;
Params::Params(Params&&) noexcept = default;
Params& Params::operator=(Params&&) noexcept = default;

Params Params::FromYaml(const std::string& yaml, const std::string& file, const std::string& path) {
  Params p;
  p.impl_->file = file;
  p.impl_->path = path;
  try {
    p.impl_->node = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw ConfigError({file + ": " + path + ": invalid YAML: " + e.what()});
  }
  if (p.impl_->node && !p.impl_->node.IsNull() && !p.impl_->node.IsMap())
    throw ConfigError(
        {Where(file, p.impl_->node) + ": " + path + ": expected a map of parameters"});
  return p;
}

int Params::GetInt(const std::string& key, int default_value, int min_value, int max_value) {
  YAML::Node v = impl_->Lookup(key);
  if (!v || v.IsNull()) return default_value;
  std::string why;
  std::optional<int> x = ScalarInRange(v, min_value, max_value, "an integer", &why);
  if (!x) impl_->Problem(key, why);
  return x.value_or(default_value);
}

double Params::GetDouble(const std::string& key, double default_value, double min_value,
                         double max_value) {
  YAML::Node v = impl_->Lookup(key);
  if (!v || v.IsNull()) return default_value;
  std::string why;
  std::optional<double> x = ScalarInRange(v, min_value, max_value, "a number", &why);
  if (!x) impl_->Problem(key, why);
  return x.value_or(default_value);
}

bool Params::GetBool(const std::string& key, bool default_value) {
  YAML::Node v = impl_->Lookup(key);
  if (!v || v.IsNull()) return default_value;
  std::string why;
  std::optional<bool> x = ScalarInRange(v, false, true, "true or false", &why);
  if (!x) impl_->Problem(key, why);
  return x.value_or(default_value);
}

std::string Params::GetString(const std::string& key, const std::string& default_value) {
  YAML::Node v = impl_->Lookup(key);
  if (!v || v.IsNull()) return default_value;
  if (!v.IsScalar()) {
    impl_->Problem(key, "expected a string");
    return default_value;
  }
  return v.Scalar();
}

std::vector<std::string> Params::GetList(const std::string& key,
                                         const std::vector<std::string>& default_value,
                                         char separator) {
  YAML::Node v = impl_->Lookup(key);
  if (!v || v.IsNull()) return default_value;
  std::vector<std::string> raw;
  if (v.IsSequence()) {
    for (const YAML::Node& item : v) {
      if (!item.IsScalar()) {
        impl_->Problem(key, "expected a list of scalars");
        return default_value;
      }
      raw.push_back(item.Scalar());
    }
  } else if (v.IsScalar()) {
    std::stringstream ss(v.Scalar());
    for (std::string item; std::getline(ss, item, separator);) raw.push_back(item);
  } else {
    impl_->Problem(key, "expected a list or a string");
    return default_value;
  }
  std::vector<std::string> out;
  for (std::string& item : raw) {
    const size_t b = item.find_first_not_of(" \t\n"), e = item.find_last_not_of(" \t\n");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::vector<double> Params::GetNumbers(const std::string& key,
                                       const std::vector<double>& default_value, size_t count) {
  YAML::Node v = impl_->Lookup(key);
  if (!v || v.IsNull()) return default_value;
  std::vector<double> out;
  for (const std::string& item : GetList(key, {})) {
    char* end = nullptr;
    const double x = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0' || !std::isfinite(x)) {
      impl_->Problem(key, "'" + item + "' is not a number");
      return default_value;
    }
    out.push_back(x);
  }
  if (count > 0 && out.size() != count) {
    impl_->Problem(
        key, "expected " + std::to_string(count) + " numbers, got " + std::to_string(out.size()));
    return default_value;
  }
  return out;
}

std::string Params::GetChoice(const std::string& key, const std::string& default_value,
                              const std::vector<std::string>& choices) {
  std::string s = GetString(key, default_value);
  if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
    impl_->Problem(key, "'" + s + "' is not one of: " + Join(choices));
    return default_value;
  }
  return s;
}

void Params::Override(const std::string& key, const std::string& value) {
  if (!impl_->node || !impl_->node.IsMap()) impl_->node = YAML::Node(YAML::NodeType::Map);
  impl_->node[key] = value;
}

void Params::AddProblem(const std::string& key, const std::string& reason) {
  impl_->Problem(key, reason);
}

void Params::Finish() const {
  std::vector<std::string> problems = impl_->problems;
  if (impl_->node && impl_->node.IsMap()) {
    std::vector<std::string> known(impl_->used.begin(), impl_->used.end());
    for (const auto& kv : impl_->node) {
      const std::string key = kv.first.as<std::string>();
      if (!impl_->used.count(key))
        problems.push_back(Where(impl_->file, kv.first) + ": " + impl_->path + "." + key +
                           ": unknown key (known: " + (known.empty() ? "none" : Join(known)) + ")");
    }
  }
  if (!problems.empty()) throw ConfigError(problems);
}

std::string Params::GetPath(const std::string& key, const std::string& default_value) {
  std::string path = GetString(key, default_value);
  if (!path.empty() && path[0] != '/') {
    const auto beside = std::filesystem::path(impl_->file).parent_path() / path;
    if (std::filesystem::exists(beside)) path = beside.lexically_normal().string();
  }
  return path;
}

const std::string& Params::file() const { return impl_->file; }
const std::string& Params::path() const { return impl_->path; }

// ---- graph --------------------------------------------------------------------

class GraphConfigParser {
 public:
  explicit GraphConfigParser(std::string file) : file_(std::move(file)) {}

  GraphConfig Parse(const std::string& text, bool throw_on_problems) {
    GraphConfig g;
    g.file = file_;
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw ConfigError(
          {file_ + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg});
    }
    if (!root.IsMap()) throw ConfigError({file_ + ": expected a map at the top level"});

    CheckKeys(root, "",
              {"version", "name", "output_dir", "handshake_timeout_s", "topics", "nodes"});
    if (!root["version"]) {
      Problem(root, "version", "missing (this build reads version: 1)");
    } else if (Scalar(root["version"], "version") != "1") {
      Problem(root["version"], "version",
              "unsupported config version '" + root["version"].Scalar() + "' (this build reads 1)");
    }
    if (root["name"]) g.name = Scalar(root["name"], "name");
    if (root["output_dir"]) g.output_dir = Scalar(root["output_dir"], "output_dir");
    if (root["handshake_timeout_s"])
      g.handshake_timeout_s = Number(root["handshake_timeout_s"], "handshake_timeout_s", 0, 1e6);

    if (root["topics"]) ParseTopics(root["topics"], g);
    if (!root["nodes"] || !root["nodes"].IsMap() || root["nodes"].size() == 0) {
      Problem(root, "nodes", "missing or empty: a graph needs at least one node");
    } else {
      for (const auto& kv : root["nodes"]) ParseNode(kv.first.as<std::string>(), kv.second, g);
    }
    CheckTopics(root, g);
    if (!problems_.empty() && throw_on_problems) throw ConfigError(problems_);
    g.problems = problems_;
    return g;
  }

 private:
  void Problem(const YAML::Node& at, const std::string& key, const std::string& reason) {
    problems_.push_back(Where(file_, at) + ": " + key + ": " + reason);
  }

  void CheckKeys(const YAML::Node& map, const std::string& prefix,
                 const std::vector<std::string>& allowed) {
    for (const auto& kv : map) {
      const std::string key = kv.first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        Problem(kv.first, prefix + key, "unknown key (allowed: " + Join(allowed) + ")");
    }
  }

  std::string Scalar(const YAML::Node& n, const std::string& key) {
    if (!n.IsScalar()) {
      Problem(n, key, "expected a string or number");
      return "";
    }
    return n.Scalar();
  }

  double Number(const YAML::Node& n, const std::string& key, double lo, double hi) {
    std::string why;
    std::optional<double> x = ScalarInRange(n, lo, hi, "a number", &why);
    if (!x) Problem(n, key, why);
    return x.value_or(lo);
  }

  int Int(const YAML::Node& n, const std::string& key, int lo, int hi) {
    std::string why;
    std::optional<int> x = ScalarInRange(n, lo, hi, "an integer", &why);
    if (!x) Problem(n, key, why);
    return x.value_or(lo);
  }

  void ParseTopics(const YAML::Node& topics, GraphConfig& g) {
    if (!topics.IsMap()) {
      Problem(topics, "topics", "expected a map of topic name to settings");
      return;
    }
    for (const auto& kv : topics) {
      TopicConfig t;
      t.name = kv.first.as<std::string>();
      const std::string prefix = "topics." + t.name;
      const YAML::Node& n = kv.second;
      if (n.IsNull()) {
        g.topics[t.name] = t;
        continue;
      }
      if (!n.IsMap()) {
        Problem(n, prefix, "expected a map (endpoint, flow, queue, external_subscribers)");
        continue;
      }
      CheckKeys(n, prefix + ".", {"endpoint", "flow", "queue", "external_subscribers"});
      if (n["endpoint"]) {
        t.endpoint = Scalar(n["endpoint"], prefix + ".endpoint");
        t.endpoint_given = true;
        if (const std::string why = EndpointProblem(t.endpoint, true); !why.empty())
          Problem(n["endpoint"], prefix + ".endpoint", why);
      }
      if (n["flow"]) {
        const std::string f = Scalar(n["flow"], prefix + ".flow");
        t.flow_given = true;
        if (auto p = FlowPolicyFromString(f))
          t.flow = *p;
        else
          Problem(n["flow"], prefix + ".flow", "'" + f + "' is not one of: lossless, latest");
      }
      if (n["queue"]) t.queue = Int(n["queue"], prefix + ".queue", 1, 100000);
      if (n["external_subscribers"])
        t.external_subscribers =
            Int(n["external_subscribers"], prefix + ".external_subscribers", 0, 1000);
      g.topics[t.name] = t;
    }
  }

  void ParsePorts(const YAML::Node& n, const std::string& key,
                  std::map<std::string, std::string>& ports) {
    if (!n.IsMap()) {
      Problem(n, key, "expected a map of port name to topic name");
      return;
    }
    for (const auto& kv : n) {
      const std::string port = kv.first.as<std::string>();
      std::string topic = Scalar(kv.second, key + "." + port);
      if (topic.empty()) Problem(kv.second, key + "." + port, "empty topic name");
      ports[port] = topic;
    }
  }

  void ParseNode(const std::string& name, const YAML::Node& n, GraphConfig& g) {
    const std::string prefix = "nodes." + name;
    if (!n.IsMap()) {
      Problem(n, prefix, "expected a map (type, inputs, outputs, params)");
      return;
    }
    CheckKeys(n, prefix + ".",
              {"type", "inputs", "outputs", "params", "service", "service_linger_s"});
    NodeConfig node;
    node.name = name;
    node.location = Where(file_, n) + ": " + prefix;
    if (!n["type"])
      Problem(n, prefix + ".type", "missing: which stage this node runs");
    else
      node.type = Scalar(n["type"], prefix + ".type");
    if (n["inputs"]) ParsePorts(n["inputs"], prefix + ".inputs", node.inputs);
    if (n["outputs"]) ParsePorts(n["outputs"], prefix + ".outputs", node.outputs);
    if (n["service"]) {
      node.service = Scalar(n["service"], prefix + ".service");
      if (const std::string why = EndpointProblem(node.service, false); !why.empty())
        Problem(n["service"], prefix + ".service", why);
    }
    if (n["service_linger_s"]) {
      std::string why;
      const auto v = ScalarInRange<double>(n["service_linger_s"], 0, 1e7, "a number", &why);
      if (!v)
        Problem(n["service_linger_s"], prefix + ".service_linger_s", why);
      else
        node.service_linger_s = *v;
    }
    auto params = std::make_shared<Params>();
    params->impl_->file = file_;
    params->impl_->path = prefix + ".params";
    if (n["params"]) {
      if (!n["params"].IsMap() && !n["params"].IsNull())
        Problem(n["params"], prefix + ".params", "expected a map");
      else
        params->impl_->node = n["params"];
    }
    node.params = std::move(params);
    g.nodes.push_back(std::move(node));
  }

  void CheckTopics(const YAML::Node& root, GraphConfig& g) {
    std::map<std::string, std::string> producer;
    std::set<std::string> used;
    for (const NodeConfig& n : g.nodes) {
      for (const auto& [port, topic] : n.outputs) {
        used.insert(topic);
        if (producer.count(topic))
          problems_.push_back(n.location + ".outputs." + port + ": topic '" + topic +
                              "' is already produced by node '" + producer[topic] +
                              "' (one producer per topic)");
        else
          producer[topic] = n.name;
      }
      for (const auto& kv : n.inputs) used.insert(kv.second);
    }
    for (const NodeConfig& n : g.nodes) {
      for (const auto& [port, topic] : n.inputs) {
        auto it = g.topics.find(topic);
        const bool external = it != g.topics.end() && it->second.endpoint_given;
        if (!producer.count(topic) && !external)
          problems_.push_back(n.location + ".inputs." + port + ": topic '" + topic +
                              "' has no producer in this graph and no endpoint under topics." +
                              topic + ".endpoint");
      }
    }
    for (const auto& [name, t] : g.topics)
      if (!used.count(name))
        problems_.push_back(Where(file_, root["topics"]) + ": topics." + name +
                            ": not used by any node (misspelt?)");
    for (const std::string& topic : used) {
      TopicConfig& t = g.topics[topic];
      t.name = topic;
      if (!t.endpoint_given) t.endpoint = "inproc://" + topic;
    }
  }

  std::string file_;
  std::vector<std::string> problems_;
};

GraphConfig ParseGraphConfig(const std::string& yaml, const std::string& file,
                             bool throw_on_problems) {
  // Whatever a malformed file makes the YAML reader throw is reported as a
  // problem of that file, with the place when the reader knows it.
  try {
    return GraphConfigParser(file).Parse(yaml, throw_on_problems);
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {
    const std::string where = e.mark.is_null() ? file
                                               : file + ":" + std::to_string(e.mark.line + 1) +
                                                     ":" + std::to_string(e.mark.column + 1);
    throw ConfigError({where + ": " + (e.msg.empty() ? std::string(e.what()) : e.msg)});
  } catch (const std::exception& e) {
    throw ConfigError({file + ": " + e.what()});
  }
}

GraphConfig LoadGraphConfig(const std::string& path, bool throw_on_problems) {
  std::ifstream in(path);
  if (!in) throw ConfigError({path + ": cannot open config file"});
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseGraphConfig(ss.str(), path, throw_on_problems);
}

const NodeConfig* GraphConfig::FindNode(const std::string& name) const {
  for (const NodeConfig& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

std::vector<std::string> GraphConfig::ConsumersOf(const std::string& topic) const {
  std::vector<std::string> out;
  for (const NodeConfig& n : nodes)
    for (const auto& kv : n.inputs)
      if (kv.second == topic) {
        out.push_back(n.name);
        break;
      }
  return out;
}

const NodeConfig* GraphConfig::ProducerOf(const std::string& topic) const {
  for (const NodeConfig& n : nodes)
    for (const auto& kv : n.outputs)
      if (kv.second == topic) return &n;
  return nullptr;
}

std::string GraphConfig::Describe() const {
  std::ostringstream os;
  os << "graph '" << name << "' from " << file << ", output_dir " << output_dir << "\n";
  for (const NodeConfig& n : nodes) {
    os << "  node " << n.name << " (" << n.type << ")";
    for (const auto& [p, t] : n.inputs) os << "  in " << p << "<-" << t;
    for (const auto& [p, t] : n.outputs) os << "  out " << p << "->" << t;
    os << "\n";
  }
  for (const auto& [name, t] : topics)
    os << "  topic " << name << " " << t.endpoint << " " << ToString(t.flow) << " queue " << t.queue
       << (t.external_subscribers ? " external " + std::to_string(t.external_subscribers) : "")
       << "\n";
  return os.str();
}

}  // namespace dyn4d::pipeline
