#pragma once
/// \file
/// Training Dyn-Perceiver (and the baselines it is measured against) in C++
/// with the official recipe: cross-entropy on every exit plus
/// self-distillation from the last exit, AdamW (no decay on 1-D parameters),
/// per-step cosine schedule with linear warm-up, checkpoints to resume from.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/recognition/config.h"
#include "dyn4d/recognition/datasets.h"
#include "dyn4d/recognition/dyn_perceiver.h"

namespace dyn4d::recognition {

/// Builds the network of `kind` for `net`.
std::shared_ptr<MultiExitNet> MakeNet(ModelKind kind, const DynPerceiverConfig& net);

/// Progress of one step, for a progress bar.
struct TrainProgress {
  int64_t step = 0, total_steps = 0;
  int epoch = 0;
  double loss = 0, lr = 0, images_per_s = 0;
};

struct TrainResult {
  enum class Status { kOk, kFailed } status = Status::kOk;
  std::string message;
  int64_t steps = 0;               ///< steps done in total (including resumed ones)
  int64_t resumed_from_step = -1;  ///< -1: started from scratch
  double seconds = 0;              ///< this run only
  std::string weights_path;        ///< <out_dir>/weights.pt (tensor dict)
};

/// Preprocessing shared by training, evaluation and inference: uint8
/// (N,C,h,w) -> float, zero-padded (centred) to image_size x image_size,
/// normalised (1 channel: Fashion-MNIST mean/std; 3: ImageNet's).
torch::Tensor PrepareImages(const torch::Tensor& images_u8, int image_size);
/// The same for float images in [0, 1].
torch::Tensor NormalizeAndPad(const torch::Tensor& images01, int image_size);

/// Trains on `train` (resuming from <out_dir>/latest when it exists) and
/// writes <out_dir>/weights.pt at the end. Deterministic per (seed, step),
/// so an interrupted and resumed run ends where an uninterrupted one does.
TrainResult Train(const TrainConfig& config, const ImageDataset& train,
                  const std::function<void(const TrainProgress&)>& on_step = nullptr);

/// Logits of every exit over a dataset in eval mode: (N, exits, K).
torch::Tensor ExitLogits(MultiExitNet& net, const ImageDataset& data, int image_size,
                         int batch_size = 256);

}  // namespace dyn4d::recognition
