#include "dyn4d/recognition/config.h"

#include <regex>
#include <stdexcept>

namespace dyn4d::recognition {

const char* const kExitNames[kNumExits] = {"y_early3", "y_att", "y_cnn", "y_merge"};

std::vector<std::string> DynPerceiverConfig::Validate() const {
  std::vector<std::string> p;
  if (num_classes < 2) p.push_back("num_classes: must be >= 2");
  if (num_latents < 8 || num_latents % 8) p.push_back("num_latents: must be a multiple of 8");
  for (int h : num_sa_heads)
    if (h < 1) p.push_back("num_sa_heads: must be >= 1");
  for (int d : depth_factor)
    if (d < 1) p.push_back("depth_factor: must be >= 1");
  if (sa_widening_factor < 1) p.push_back("sa_widening_factor: must be >= 1");
  if (in_channels != 1 && in_channels != 3) p.push_back("in_channels: must be 1 or 3");
  if (image_size < 32) p.push_back("image_size: must be >= 32");
  if (!(width_mult > 0)) p.push_back("width_mult: must be positive");
  if (!(dropout >= 0 && dropout < 1)) p.push_back("dropout: must be in [0, 1)");
  return p;
}

DynPerceiverConfig ConfigForName(const std::string& name) {
  static const std::regex re(
      R"(^(mobilenetV3(?:_(0x5|0x75|1x25|1x5|2x0))?|reg400m|reg800m|resnet50_0375)_perceiver_t(\d+)$)");
  std::smatch m;
  if (!std::regex_match(name, m, re))
    throw std::invalid_argument("unknown Dyn-Perceiver configuration '" + name +
                                "' (known: mobilenetV3[_0x5|_0x75|_1x25|_1x5|_2x0]_perceiver_tN, "
                                "reg400m_perceiver_tN, reg800m_perceiver_tN, "
                                "resnet50_0375_perceiver_tN)");
  DynPerceiverConfig c;
  c.num_latents = std::stoi(m[3]);
  const std::string family = m[1];
  if (family.rfind("mobilenetV3", 0) == 0) {
    c.backbone = Backbone::kMobileNetV3Large;
    const std::string w = m[2];
    c.width_mult = w.empty()     ? 1.0
                   : w == "0x5"  ? 0.5
                   : w == "0x75" ? 0.75
                   : w == "1x25" ? 1.25
                   : w == "1x5"  ? 1.5
                                 : 2.0;
    c.depth_factor = {1, 1, 1, 3};  // README: --depth_factor 1 1 1 3
  } else if (family == "resnet50_0375") {
    // ResNet-50 at 0.375 width (official constructor defaults otherwise).
    c.backbone = Backbone::kResNet50;
    c.width_mult = 0.375;
    c.depth_factor = {1, 1, 1, 1};
  } else if (family == "reg800m") {
    c.backbone = Backbone::kRegNetY800MF;
    c.depth_factor = {1, 1, 1, 2};  // README: --depth_factor 1 1 1 2
  } else {
    c.backbone = Backbone::kRegNetY400MF;
    c.depth_factor = {1, 1, 1, 1};
  }
  return c;
}

ModelKind ParseModelKind(const std::string& name) {
  if (name == "dyn_perceiver") return ModelKind::kDynPerceiver;
  if (name == "linear_exits") return ModelKind::kLinearExits;
  if (name == "static") return ModelKind::kStatic;
  throw std::invalid_argument("model kind must be dyn_perceiver, linear_exits or static, got '" +
                              name + "'");
}

const char* ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kDynPerceiver:
      return "dyn_perceiver";
    case ModelKind::kLinearExits:
      return "linear_exits";
    case ModelKind::kStatic:
      return "static";
  }
  return "?";
}

std::vector<std::string> TrainConfig::Validate() const {
  std::vector<std::string> p;
  for (const auto& q : net.Validate()) p.push_back("net." + q);
  if (epochs < 1) p.push_back("epochs: must be >= 1, got " + std::to_string(epochs));
  if (batch_size < 2)
    p.push_back("batch_size: must be >= 2 (BatchNorm), got " + std::to_string(batch_size));
  if (!(lr > 0)) p.push_back("lr: must be > 0");
  if (min_lr < 0 || min_lr > lr) p.push_back("min_lr: must be in [0, lr]");
  if (warmup_epochs < 0 || warmup_epochs > epochs)
    p.push_back("warmup_epochs: must be in [0, epochs]");
  if (weight_decay < 0) p.push_back("weight_decay: must be >= 0");
  if (!(rand_augment >= 0 && rand_augment <= 10))
    p.push_back("rand_augment: magnitude in [0, 10] (0 = off), got " +
                std::to_string(rand_augment));
  if (!(random_erasing >= 0 && random_erasing <= 1))
    p.push_back("random_erasing: probability in [0, 1], got " + std::to_string(random_erasing));
  if (kd_alpha < 0 || kd_temperature <= 0)
    p.push_back("kd_alpha/kd_temperature: alpha >= 0, T > 0");
  if (label_smoothing < 0 || label_smoothing >= 1)
    p.push_back("label_smoothing: must be in [0, 1)");
  if (checkpoint_every < 1) p.push_back("checkpoint_every: must be >= 1");
  if (out_dir.empty()) p.push_back("out_dir: required (checkpoints and weights go there)");
  return p;
}

}  // namespace dyn4d::recognition
