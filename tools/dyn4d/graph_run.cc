#include "graph_run.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "commands.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/io/stages.h"
#include "dyn4d/perception/stages.h"
#include "dyn4d/reasoning/stages.h"
#include "dyn4d/tracking/stages.h"

namespace dyn4d::cli {

pipeline::StageRegistry MakeRegistry() {
  pipeline::StageRegistry r;
  io::RegisterStages(r);
  perception::RegisterStages(r);
  tracking::RegisterStages(r);
  reasoning::RegisterStages(r);
  return r;
}

std::string ReadQuestionsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("questions file '" + path + "' cannot be read");
  std::string line, all;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (line.find(';') != std::string::npos)
      throw std::runtime_error("questions file '" + path + "': a question may not contain ';' (" +
                               line + ")");
    all += (all.empty() ? "" : "; ") + line;
  }
  return all;
}

void AddViewer(pipeline::GraphConfig& config, const std::string& spec) {
  // [ADDR:]PORT, or "" for 127.0.0.1:8765.
  std::string address = "127.0.0.1", port = "8765";
  if (!spec.empty()) {
    const size_t colon = spec.rfind(':');
    if (colon == std::string::npos)
      port = spec;
    else
      address = spec.substr(0, colon), port = spec.substr(colon + 1);
  }
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535)
    throw pipeline::ConfigError(
        {"--view '" + spec + "': give [ADDRESS:]PORT, e.g. 8765 or 0.0.0.0:8765"});
  // The viewer reads what the graph makes: each of its ports from the topic
  // a node publishes on the same-named port (a processing node before the
  // input's ground truth: estimated poses and tracks are what one watches).
  const std::map<std::string, std::string> ports = {{"frames", "frames"},
                                                    {"poses", "poses"},
                                                    {"clouds", "clouds"},
                                                    {"tracks", "tracks"},
                                                    {"maps", "cognitive_map"}};
  pipeline::NodeConfig viewer;
  viewer.name = "viewer";
  viewer.type = "viewer";
  viewer.location = "--view";
  for (const auto& [producer_port, viewer_port] : ports) {
    std::string topic, from_input;
    for (const auto& n : config.nodes) {
      const auto it = n.outputs.find(producer_port);
      if (it == n.outputs.end()) continue;
      (n.type == "input" || n.type == "synthetic_rgbd" ? from_input : topic) = it->second;
    }
    if (topic.empty()) topic = from_input;
    if (!topic.empty()) viewer.inputs[viewer_port] = topic;
  }
  if (viewer.inputs.empty())
    throw pipeline::ConfigError({config.file + ": --view: the graph publishes none of frames, "
                                               "poses, clouds, tracks, maps"});
  // Questions typed in a viewer go to the reasoning node's service (one is
  // added on a private ipc:// endpoint when the node has none).
  std::string ask;
  for (auto& n : config.nodes)
    if (n.type == "reason") {
      // A live view shows the cognitive map as it grows: one every half
      // second of 30 fps video unless the config sets its own.
      if (n.params->GetInt("publish_every", 0, 0, 1000000) == 0)
        n.params->Override("publish_every", "15");
      if (n.service.empty())
        n.service = "ipc://" + (std::filesystem::temp_directory_path() /
                                ("dyn4d-view-" + std::to_string(::getpid()) + "-" + n.name))
                                   .string();
      ask = n.service;
      break;
    }
  viewer.params = std::make_shared<pipeline::Params>(
      pipeline::Params::FromYaml("{address: \"" + address + "\", port: " + port +
                                     (ask.empty() ? "" : ", ask_endpoint: \"" + ask + "\"") + "}",
                                 "--view", "params"));
  config.nodes.push_back(std::move(viewer));
}

void ApplyInput(pipeline::GraphConfig& config, const InputOverride& in) {
  if (!in.view.empty() || in.view_default) AddViewer(config, in.view);
  if (!in.questions.empty()) {
    bool any = false;
    for (auto& n : config.nodes)
      if (n.type == "reason") n.params->Override("questions", in.questions), any = true;
    if (!any)
      throw pipeline::ConfigError(
          {config.file + ": --questions needs a node of type 'reason', found none"});
  }
  if (in.path.empty()) return;
  std::vector<pipeline::NodeConfig*> inputs;
  for (auto& n : config.nodes)
    if (n.type == "input") inputs.push_back(&n);
  if (inputs.size() != 1)
    throw pipeline::ConfigError({config.file +
                                 ": --input needs exactly one node of type 'input', found " +
                                 std::to_string(inputs.size())});
  pipeline::Params& p = *inputs[0]->params;
  p.Override("path", in.path);
  p.Override("kind", in.kind.empty() ? "auto" : in.kind);
  if (!in.calibration.empty()) p.Override("calibration", in.calibration);
  OverrideParams(p, "--input-param", in.params);
}

namespace {
std::string ShippedConfig(const std::string& name) {
  for (const std::string& c : {"configs/" + name, std::string(DYN4D_CONFIG_DIR "/") + name})
    if (std::filesystem::exists(c)) return c;
  return "configs/" + name;
}
}  // namespace

std::string DefaultOfflineConfig() { return ShippedConfig("offline.yaml"); }

bool IsColourOnly(const InputOverride& in, const std::string& detected_kind) {
  const std::string& kind = in.kind.empty() || in.kind == "auto" ? detected_kind : in.kind;
  if (kind == "video" || kind == "video_folder" || kind == "v4l2" || kind == "gstreamer")
    return true;
  if (kind != "images") return false;
  for (const std::string& kv : in.params)
    if (kv.rfind("depth_path=", 0) == 0) return false;
  return true;
}

std::string DefaultConfigFor(bool colour_only) {
  return colour_only ? ShippedConfig("video.yaml") : DefaultOfflineConfig();
}

}  // namespace dyn4d::cli
