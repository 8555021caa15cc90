#include "graph_run.h"

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

void ApplyInput(pipeline::GraphConfig& config, const InputOverride& in) {
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
