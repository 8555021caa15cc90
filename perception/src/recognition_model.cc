#include "dyn4d/perception/recognition_model.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "dyn4d/recognition/files.h"

namespace dyn4d::perception {
namespace fs = std::filesystem;
using recognition::Backbone;

namespace {

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  void Problem(const std::string& field, const std::string& reason) {
    problems_.push_back(file_ + ": " + field + ": " + reason);
  }
  template <typename T>
  void Get(const YAML::Node& node, const std::string& key, const std::string& field, T& value) {
    if (!node || !node[key]) return;
    try {
      value = node[key].as<T>();
    } catch (const YAML::Exception&) {
      Problem(field, "cannot read '" + YAML::Dump(node[key]) + "' as the expected type");
    }
  }
  template <size_t N>
  void GetArray(const YAML::Node& node, const std::string& key, const std::string& field,
                std::array<int, N>& value) {
    if (!node || !node[key]) return;
    std::vector<int> v;
    Get(node, key, field, v);
    if (v.size() != N)
      Problem(field, "needs " + std::to_string(N) + " values, got '" + YAML::Dump(node[key]) + "'");
    else
      std::copy(v.begin(), v.end(), value.begin());
  }
  void CheckKeys(const YAML::Node& node, const std::string& where,
                 const std::vector<std::string>& known) {
    if (!node || !node.IsMap()) return;
    for (const auto& kv : node) {
      const std::string k = kv.first.as<std::string>();
      if (std::find(known.begin(), known.end(), k) == known.end())
        Problem(where.empty() ? k : where + "." + k, "unknown field");
    }
  }
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::string file_;
  std::vector<std::string> problems_;
};

}  // namespace

bool RecognitionModelSpec::Covers(const std::string& source_id) const {
  for (const std::string& d : domains)
    if (!d.empty() && source_id.compare(0, d.size(), d) == 0) return true;
  return false;
}

RecognitionModelSpec LoadRecognitionModelSpec(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw std::runtime_error(path + ": cannot open the model file");
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  if (!root.IsMap()) throw std::runtime_error(path + ": expected a map at the top level");
  Reader r(path);
  r.CheckKeys(root, "",
              {"kind", "base", "net", "weights", "classes", "thresholds", "training", "dataset",
               "domains", "crop"});
  RecognitionModelSpec s;
  s.file = path;
  std::string kind = "dyn_perceiver", base = "mobilenetV3_0x75_perceiver_t128";
  r.Get(root, "kind", "kind", kind);
  r.Get(root, "base", "base", base);
  try {
    s.kind = recognition::ParseModelKind(kind);
  } catch (const std::exception& e) {
    r.Problem("kind", e.what());
  }
  try {
    s.net = recognition::ConfigForName(base);
  } catch (const std::exception& e) {
    r.Problem("base", e.what());
  }
  const YAML::Node net = root["net"];
  r.CheckKeys(net, "net",
              {"width_mult", "num_classes", "num_latents", "num_sa_heads", "depth_factor",
               "sa_widening_factor", "in_channels", "image_size", "dropout"});
  r.Get(net, "width_mult", "net.width_mult", s.net.width_mult);
  r.Get(net, "num_classes", "net.num_classes", s.net.num_classes);
  r.Get(net, "num_latents", "net.num_latents", s.net.num_latents);
  r.GetArray(net, "num_sa_heads", "net.num_sa_heads", s.net.num_sa_heads);
  r.GetArray(net, "depth_factor", "net.depth_factor", s.net.depth_factor);
  r.Get(net, "sa_widening_factor", "net.sa_widening_factor", s.net.sa_widening_factor);
  r.Get(net, "in_channels", "net.in_channels", s.net.in_channels);
  r.Get(net, "image_size", "net.image_size", s.net.image_size);
  r.Get(net, "dropout", "net.dropout", s.net.dropout);
  for (const auto& p : s.net.Validate()) r.Problem("net", p);
  if (!root["weights"]) {
    r.Problem("weights", "required (the .pt tensor dict, relative to this file)");
  } else {
    r.Get(root, "weights", "weights", s.weights);
    if (!s.weights.empty() && fs::path(s.weights).is_relative())
      s.weights = (fs::path(path).parent_path() / s.weights).lexically_normal().string();
  }
  r.Get(root, "classes", "classes", s.classes);
  r.Get(root, "dataset", "dataset", s.dataset);
  if (s.dataset != "fashion_mnist" && s.dataset != "synthetic_objects" &&
      s.dataset != "image_folder" && s.dataset != "teacher")
    r.Problem("dataset", "'" + s.dataset +
                             "' is not fashion_mnist, synthetic_objects, image_folder or teacher");
  // What the training data covers: crops of the synthetic scene's objects
  // cover frames of that scene; Fashion-MNIST covers no video source.
  if (s.dataset == "synthetic_objects") s.domains = {"synthetic"};
  r.Get(root, "domains", "domains", s.domains);
  std::string crop = "stretch";
  r.Get(root, "crop", "crop", crop);
  if (crop != "stretch" && crop != "letterbox")
    r.Problem("crop", "'" + crop + "' is not stretch or letterbox");
  s.crop_keep_aspect = crop == "letterbox";
  if (!s.classes.empty() && int(s.classes.size()) != s.net.num_classes)
    r.Problem("classes", std::to_string(s.classes.size()) + " names for net.num_classes " +
                             std::to_string(s.net.num_classes));
  r.Get(root, "thresholds", "thresholds", s.thresholds);
  const int exits = s.kind == recognition::ModelKind::kLinearExits ? 3 : recognition::kNumExits;
  if (s.kind == recognition::ModelKind::kStatic && !s.thresholds.empty())
    r.Problem("thresholds", "a static model has no early exits");
  else if (!s.thresholds.empty() && int(s.thresholds.size()) != exits - 1)
    r.Problem("thresholds", "needs " + std::to_string(exits - 1) + " values (one per early exit)");
  for (float t : s.thresholds)
    if (!(t >= 0)) r.Problem("thresholds", "must be >= 0 (max softmax), got " + std::to_string(t));

  auto& t = s.training;
  t.kind = s.kind;
  t.net = s.net;
  const YAML::Node tr = root["training"];
  r.CheckKeys(tr, "training",
              {"epochs", "batch_size", "lr", "min_lr", "warmup_epochs", "weight_decay", "loss_cnn",
               "loss_att", "loss_merge", "kd_alpha", "kd_temperature", "label_smoothing", "augment",
               "rand_augment", "random_erasing", "checkpoint_every", "seed"});
  r.Get(tr, "epochs", "training.epochs", t.epochs);
  r.Get(tr, "batch_size", "training.batch_size", t.batch_size);
  r.Get(tr, "lr", "training.lr", t.lr);
  r.Get(tr, "min_lr", "training.min_lr", t.min_lr);
  r.Get(tr, "warmup_epochs", "training.warmup_epochs", t.warmup_epochs);
  r.Get(tr, "weight_decay", "training.weight_decay", t.weight_decay);
  r.Get(tr, "loss_cnn", "training.loss_cnn", t.loss_cnn);
  r.Get(tr, "loss_att", "training.loss_att", t.loss_att);
  r.Get(tr, "loss_merge", "training.loss_merge", t.loss_merge);
  r.Get(tr, "kd_alpha", "training.kd_alpha", t.kd_alpha);
  r.Get(tr, "kd_temperature", "training.kd_temperature", t.kd_temperature);
  r.Get(tr, "label_smoothing", "training.label_smoothing", t.label_smoothing);
  r.Get(tr, "augment", "training.augment", t.augment);
  r.Get(tr, "rand_augment", "training.rand_augment", t.rand_augment);
  r.Get(tr, "random_erasing", "training.random_erasing", t.random_erasing);
  r.Get(tr, "checkpoint_every", "training.checkpoint_every", t.checkpoint_every);
  r.Get(tr, "seed", "training.seed", t.seed);
  t.out_dir = "<set by the caller>";
  for (const auto& p : t.Validate()) r.Problem("training", p);

  if (!r.problems().empty()) {
    std::string msg;
    for (const auto& p : r.problems()) msg += (msg.empty() ? "" : "\n") + p;
    throw std::runtime_error(msg);
  }
  return s;
}

void WriteThresholds(const std::string& path, const std::vector<float>& thresholds,
                     const std::string& note) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open the model file");
  std::stringstream text;
  text << in.rdbuf();
  std::string line, out;
  bool replaced = false;
  std::ostringstream value;
  value << "thresholds: [";
  for (size_t i = 0; i < thresholds.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6g", thresholds[i]);
    value << (i ? ", " : "") << buf;
  }
  value << "]";
  if (!note.empty()) value << "  # " << note;
  while (std::getline(text, line)) {
    if (!replaced && line.rfind("thresholds:", 0) == 0) {
      line = value.str();
      replaced = true;
    }
    out += line + "\n";
  }
  if (!replaced) out += value.str() + "\n";
  recognition::WriteFileAtomically(path, out);
}

}  // namespace dyn4d::perception
