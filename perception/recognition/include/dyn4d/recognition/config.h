#pragma once
/// \file
/// Dyn-Perceiver configuration (Han et al., "Dynamic Perceiver for Efficient
/// Visual Recognition", ICCV 2023), mirroring the constructor of the official
/// code (LeapLabTHU/Dynamic_Perceiver). Torch-free so that pipeline code can
/// hold and validate configs without the heavy headers.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dyn4d::recognition {

enum class Backbone { kMobileNetV3Large, kRegNetY400MF, kRegNetY800MF, kResNet50 };

struct DynPerceiverConfig {
  Backbone backbone = Backbone::kMobileNetV3Large;
  double width_mult = 0.75;  ///< MobileNetV3 only (0.5, 0.75, 1.0, ...)
  int num_classes = 1000;
  int num_latents = 128;  ///< L: latent tokens in C-stage 1; divisible by 8
  std::array<int, 4> num_sa_heads = {1, 2, 4, 8};
  std::array<int, 4> depth_factor = {1, 1, 1, 3};  ///< self-attention layers = {3,3,9,3} * this
  int sa_widening_factor = 4;  ///< MLP width factor of the self-attention layers
  int in_channels = 3;         ///< image channels (1 for grey inputs such as Fashion-MNIST)
  int image_size = 224;        ///< the FLOPs counter's input size
  float dropout = 0.0f;        ///< attention and residual dropout (training only)
  /// Exit thresholds on max softmax, exits 1..3 (exit 4 always accepts).
  std::array<float, 3> thresholds = {2.f, 2.f, 2.f};  ///< > 1: never exit early

  /// Problems as "field: reason"; empty when valid.
  std::vector<std::string> Validate() const;
};

/// The configurations of the official README and factory names:
/// "mobilenetV3_0x75_perceiver_t128", "mobilenetV3_perceiver_t128",
/// "mobilenetV3_0x5_perceiver_t128", "reg800m_perceiver_t128",
/// "reg400m_perceiver_t128" (and other _t{32..512} latent counts), with the
/// README's depth factors. Throws std::invalid_argument for unknown names.
DynPerceiverConfig ConfigForName(const std::string& name);

/// What is trained.
enum class ModelKind {
  kDynPerceiver,  ///< all four exits, official loss
  kLinearExits,   ///< LinearExitCnn, CE on its three exits + distillation from the last
  kStatic,        ///< Dyn-Perceiver trained on its last exit only (no early exits)
};
ModelKind ParseModelKind(const std::string& name);  ///< dyn_perceiver|linear_exits|static
const char* ModelKindName(ModelKind kind);

/// Training recipe (official defaults where they fit a small CPU run).
struct TrainConfig {
  ModelKind kind = ModelKind::kDynPerceiver;
  DynPerceiverConfig net;
  int epochs = 6;
  int batch_size = 128;
  double lr = 2e-3;      ///< peak learning rate after warm-up
  double min_lr = 1e-6;  ///< end of the cosine
  double warmup_epochs = 0.5;
  double weight_decay = 0.05;  ///< AdamW, not on biases / 1-D parameters
  /// Official loss weights (README): exits y_cnn, y_att and y_early3, y_merge.
  double loss_cnn = 1.0, loss_att = 0.5, loss_merge = 1.0;
  double kd_alpha = 0.5, kd_temperature = 1.0;  ///< distillation from the last exit; 0 = off
  double label_smoothing = 0.1;
  bool augment = true;         ///< random shift by up to 2 px + horizontal flip
  /// RandAugment magnitude (the official recipe's `rand-m9-mstd0.5-inc1`: 9)
  /// and RandomErasing probability (official 0.25) after the shift and flip;
  /// 0 = off (small uniform datasets such as Fashion-MNIST need neither).
  double rand_augment = 0;
  double random_erasing = 0;
  int64_t max_steps = 0;       ///< stop after this many steps in total (0: all epochs)
  int checkpoint_every = 200;  ///< steps between checkpoints (and one per epoch end)
  uint64_t seed = 1;
  std::string out_dir;  ///< checkpoints and the final weights

  /// Problems as "field: reason"; empty when valid.
  std::vector<std::string> Validate() const;
};

/// Number of exits, in evaluation order: y_early3, y_att, y_cnn, y_merge.
constexpr int kNumExits = 4;
extern const char* const kExitNames[kNumExits];

}  // namespace dyn4d::recognition
