#pragma once
/// \file
/// Dyn-Perceiver in LibTorch: module and parameter names identical to the
/// official state_dict, so official weights load unchanged. Heavy (torch)
/// header: include it only where the network itself is needed.
#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include "dyn4d/recognition/config.h"

namespace dyn4d::recognition {

/// nn::Sequential with a plain forward(Tensor), so Sequentials can nest
/// (LibTorch cannot store a templated forward in a Sequential).
class SeqImpl : public torch::nn::SequentialImpl {
 public:
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(x); }
};
TORCH_MODULE(Seq);

/// How often each part ran, and on how many samples: the proof that early
/// exits skip work.
struct ExecutionCounts {
  std::array<int64_t, 4> feature_stage_calls{}, feature_stage_samples{};  ///< F-stages 1..4
  std::array<int64_t, 4> latent_stage_calls{};                            ///< C-stages 1..4
  int64_t last_cross_attention_calls = 0;
  void Reset() { *this = ExecutionCounts(); }
};

/// Result of dynamic (early-exit) inference on a batch.
struct DynamicOutput {
  torch::Tensor logits;      ///< (B, K): the logits of the exit each sample left at
  torch::Tensor exit_index;  ///< (B,) int64, 0..3
  torch::Tensor confidence;  ///< (B,) max softmax at that exit
  torch::Tensor embedding;   ///< (B, C) mean latent at the exit (re-identification)
};

/// A classifier with exits in evaluation order: what training, threshold
/// calibration and the benchmarks need from Dyn-Perceiver and from the
/// linear-exit baseline alike.
class MultiExitNet : public torch::nn::Module {
 public:
  virtual int num_exits() const = 0;
  /// Computes only what exits 1..last_exit need and returns their logits.
  virtual std::vector<torch::Tensor> ForwardUntil(torch::Tensor images, int last_exit) = 0;
  /// Early exiting: exit k (0..num_exits-2) is taken by a sample when its max
  /// softmax >= thresholds[k]; the last exit takes everyone left. The batch
  /// shrinks as samples leave, and nothing past the last exit any sample
  /// still needs is computed.
  virtual DynamicOutput ForwardDynamic(torch::Tensor images,
                                       const std::vector<float>& thresholds) = 0;
  /// Cumulative GFLOPs (multiply-adds, official convention) to reach each exit.
  virtual std::vector<double> ExitGflops() const = 0;
  /// Folds BatchNorm etc. for inference; true when optimised kernels are used.
  virtual bool PrepareInference() = 0;
};

class DynPerceiverImpl : public MultiExitNet {
 public:
  explicit DynPerceiverImpl(DynPerceiverConfig config);

  /// All four exits (y_early3, y_att, y_cnn, y_merge), as the official forward().
  std::vector<torch::Tensor> forward(torch::Tensor images);
  int num_exits() const override { return kNumExits; }
  std::vector<torch::Tensor> ForwardUntil(torch::Tensor images, int last_exit) override;
  /// thresholds: exits 1..3 (y_early3, y_att, y_cnn).
  DynamicOutput ForwardDynamic(torch::Tensor images, const std::vector<float>& thresholds) override;
  std::vector<double> ExitGflops() const override;

  /// The feature branch alone with its own head (what a plain CNN costs).
  torch::Tensor ForwardBackbone(torch::Tensor images);
  /// Inference speed-up: folds every BatchNorm that follows a convolution
  /// into it (in eval mode those convolutions then skip the BN op). Loaded
  /// parameters are kept; call again after loading new weights.
  void FoldBatchNorm();

  /// FoldBatchNorm() plus, where Eigen was available at build time, the
  /// latent branch's attention layers as one pass per layer for inference
  /// (eval mode, no autograd; products on the system BLAS where the build
  /// has one, Eigen otherwise); returns whether that path is in use. Call
  /// after loading.
  bool PrepareInference() override;
  /// PrepareInference also stores convolution weights and runs the feature
  /// branch channels-last (NHWC), which oneDNN convolves without reorders.
  bool prefer_channels_last = true;

  /// Official FLOPs convention (forward_calc_flops): cumulative GFLOPs
  /// (multiply-accumulates / 1e9) per image to reach each exit.
  std::array<double, 4> CumulativeGflops() const;

  const DynPerceiverConfig& config() const { return config_; }
  ExecutionCounts& counts() { return counts_; }
  /// Latent widths C0..C3 and the feature branch's output channels.
  std::array<int64_t, 4> latent_channels() const { return channels_; }
  int64_t feature_channels() const { return out_channels_; }

 private:
  struct State;  // everything carried from one exit to the next
  void RunToExit1(State& s);
  void RunToExit2(State& s);
  void RunToExit3(State& s);
  void RunToExit4(State& s);
  torch::Tensor Transition(int index, torch::Tensor& x, torch::Tensor z);
  torch::Tensor Tokens(int index, const torch::Tensor& x);

  DynPerceiverConfig config_;
  std::array<int64_t, 4> channels_{};
  int64_t out_channels_ = 0, last_channel_ = 0;
  std::array<int64_t, 4> feature_stride_{};  // stride of the map entering F-stage i+1
  bool mobilenet_ = true;
  ExecutionCounts counts_;
  bool channels_last_ = false;  // set by PrepareInference

  torch::Tensor latent_;
  Seq stem_{nullptr};
  std::array<Seq, 4> stages_{nullptr, nullptr, nullptr, nullptr};
  std::array<torch::nn::Conv2d, 4> dwc_{nullptr, nullptr, nullptr, nullptr};
  // Set by PrepareInference: dwc_[i] followed by the 7x7 average pooling as
  // one strided depthwise convolution, for a map of h x w (multiples of 7).
  struct PooledDwc {
    torch::Tensor weight;
    int64_t h = 0, w = 0;
  };
  std::array<PooledDwc, 4> pooled_dwc_;
  std::array<std::shared_ptr<torch::nn::Module>, 4> x2z_, z2x_, self_att_;
  std::shared_ptr<torch::nn::Module> last_z2x_;
  torch::nn::Linear early_classifier3_{nullptr}, classifier_att_{nullptr};
  Seq isc3_{nullptr}, isc4_{nullptr}, classifier_cnn_{nullptr}, classifier_merge_{nullptr};
  torch::nn::Linear classifier_cnn_linear_{nullptr};  // RegNet: a single Linear
  torch::nn::ModuleList token_expander_{nullptr}, token_mixer_{nullptr};
};
TORCH_MODULE(DynPerceiver);

/// The multi-exit design Dyn-Perceiver argues against: the same CNN branch
/// with linear classifiers (global average pool + Linear) on the features
/// after F-stages 2 and 3, and the backbone's own head after F-stage 4 —
/// the exits sit where Dyn-Perceiver's exits 1-3 do.
class LinearExitCnnImpl : public MultiExitNet {
 public:
  explicit LinearExitCnnImpl(DynPerceiverConfig config);
  std::vector<torch::Tensor> forward(torch::Tensor images) { return ForwardUntil(images, 3); }
  int num_exits() const override { return 3; }
  std::vector<torch::Tensor> ForwardUntil(torch::Tensor images, int last_exit) override;
  DynamicOutput ForwardDynamic(torch::Tensor images, const std::vector<float>& thresholds) override;
  std::vector<double> ExitGflops() const override;
  bool PrepareInference() override;
  const ExecutionCounts& counts() const { return counts_; }

 private:
  DynPerceiverConfig config_;
  int64_t out_channels_ = 0, last_channel_ = 0;
  std::array<int64_t, 4> channels_{};
  Seq stem_{nullptr}, head_{nullptr};
  std::array<Seq, 4> stages_{nullptr, nullptr, nullptr, nullptr};
  torch::nn::Linear exit1_{nullptr}, exit2_{nullptr};
  ExecutionCounts counts_;
};
TORCH_MODULE(LinearExitCnn);

/// Sets torch's intra-op thread count; 0 = every core (Debian's torch
/// defaults to one thread).
void SetTorchThreads(int threads);

/// Loads a plain tensor dict saved by torch.save(state_dict) (what
/// `torch.save(ckpt['model'], path)` writes). Strict: a missing or
/// unexpected key or a shape mismatch throws std::runtime_error naming it.
void LoadStateDict(torch::nn::Module& model, const std::string& path);
/// Saves parameters and buffers as such a dict (readable by torch.load).
/// `half`: floating-point tensors as float16 (half the file, for shipping;
/// LoadStateDict converts back to the model's float32).
void SaveStateDict(const torch::nn::Module& model, const std::string& path, bool half = false);
/// Loads a .pt tensor dict (torch.save of a dict of tensors) as name -> tensor.
std::vector<std::pair<std::string, torch::Tensor>> LoadTensorDict(const std::string& path);

/// (name, shape) of every parameter and buffer, in state_dict order.
std::vector<std::pair<std::string, std::vector<int64_t>>> StateDictShapes(
    const torch::nn::Module& model);

}  // namespace dyn4d::recognition
