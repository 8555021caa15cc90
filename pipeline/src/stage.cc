#include "dyn4d/pipeline/stage.h"

namespace dyn4d::pipeline {

void StageRegistry::Register(const std::string& type, const std::string& summary, Factory factory) {
  entries_[type] = Entry{summary, std::move(factory)};
}

bool StageRegistry::Has(const std::string& type) const { return entries_.count(type) > 0; }

std::unique_ptr<Stage> StageRegistry::Create(const std::string& type, Params& params,
                                             const StageContext& ctx) const {
  auto it = entries_.find(type);
  if (it == entries_.end()) {
    std::string known;
    for (const auto& kv : entries_) known += (known.empty() ? "" : ", ") + kv.first;
    throw ConfigError({params.file() + ": " + params.path() + ": unknown stage type '" + type +
                       "' (known: " + known + ")"});
  }
  std::unique_ptr<Stage> stage = it->second.factory(params, ctx);
  params.Finish();  // unknown keys and invalid values, all at once
  return stage;
}

std::map<std::string, std::string> StageRegistry::Types() const {
  std::map<std::string, std::string> out;
  for (const auto& kv : entries_) out[kv.first] = kv.second.summary;
  return out;
}

}  // namespace dyn4d::pipeline
