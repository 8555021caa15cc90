#include "dyn4d/recognition/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <stdexcept>

#include "dyn4d/recognition/augment.h"
#include "dyn4d/recognition/files.h"

namespace dyn4d::recognition {
namespace fs = std::filesystem;
using torch::Tensor;

std::shared_ptr<MultiExitNet> MakeNet(ModelKind kind, const DynPerceiverConfig& net) {
  if (kind == ModelKind::kLinearExits) return std::make_shared<LinearExitCnnImpl>(net);
  return std::make_shared<DynPerceiverImpl>(net);
}

namespace {

// Fashion-MNIST statistics of the training split (pixel / 255).
constexpr double kMean = 0.2860, kStd = 0.3530;

Tensor PadTo(const Tensor& x, int size) {
  const int64_t h = x.size(2), w = x.size(3);
  if (h > size || w > size)
    throw std::invalid_argument("images are " + std::to_string(h) + "x" + std::to_string(w) +
                                ", larger than the network input " + std::to_string(size));
  const int64_t top = (size - h) / 2, left = (size - w) / 2;
  return torch::constant_pad_nd(x, {left, size - w - left, top, size - h - top}, 0);
}

// Random shift by up to `shift` pixels and horizontal flip, per sample.
Tensor Augment(const Tensor& u8, int shift, std::mt19937_64& rng) {
  const int64_t n = u8.size(0), h = u8.size(2), w = u8.size(3);
  const Tensor padded = torch::constant_pad_nd(u8, {shift, shift, shift, shift}, 0);
  Tensor out = torch::empty_like(u8);
  std::uniform_int_distribution<int> offset(0, 2 * shift), coin(0, 1);
  for (int64_t i = 0; i < n; ++i) {
    Tensor crop = padded[i].narrow(1, offset(rng), h).narrow(2, offset(rng), w);
    if (coin(rng)) crop = crop.flip({2});
    out[i].copy_(crop);
  }
  return out;
}

Tensor KlToTeacher(const Tensor& student, const Tensor& teacher_probs, double t) {
  // F.kl_div(log_softmax(s/T), softmax(teacher/T), reduction='batchmean')
  return torch::kl_div(torch::log_softmax(student / t, 1), teacher_probs, at::Reduction::Sum) /
         student.size(0);
}

Tensor Loss(const TrainConfig& c, const std::vector<Tensor>& y, const Tensor& target) {
  namespace F = torch::nn::functional;
  const auto ce = [&](const Tensor& logits) {
    return F::cross_entropy(logits, target,
                            F::CrossEntropyFuncOptions().label_smoothing(c.label_smoothing));
  };
  if (c.kind == ModelKind::kStatic) return c.loss_merge * ce(y.back());
  Tensor loss;
  if (c.kind == ModelKind::kDynPerceiver) {
    // engine.py: a_cnn CE(y_cnn) + a_att (CE(y_att) + CE(y_early3)) + a_merge CE(y_merge)
    loss = c.loss_cnn * ce(y[2]) + c.loss_att * (ce(y[1]) + ce(y[0])) + c.loss_merge * ce(y[3]);
  } else {
    // Linear exits: the intermediate exits weighted as Dyn-Perceiver's early
    // exits, the backbone head as its CNN exit.
    loss = c.loss_att * (ce(y[0]) + ce(y[1])) + c.loss_cnn * ce(y[2]);
  }
  if (c.kd_alpha > 0) {
    const double t = c.kd_temperature;
    const Tensor teacher = torch::softmax(y.back().detach() / t, 1);
    Tensor kd = torch::zeros({}, loss.options());
    for (size_t k = 0; k + 1 < y.size(); ++k) kd = kd + KlToTeacher(y[k], teacher, t);
    loss = loss + c.kd_alpha * t * t * kd;
  }
  return loss;
}

double LearningRate(const TrainConfig& c, int64_t step, int64_t total, int64_t warmup) {
  if (step < warmup) return c.lr * double(step + 1) / double(warmup);
  const double progress = double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
  return c.min_lr + 0.5 * (c.lr - c.min_lr) * (1 + std::cos(M_PI * std::min(1.0, progress)));
}

std::string CheckpointName(int64_t step) { return "checkpoint-" + std::to_string(step) + ".pt"; }
std::string OptimizerName(int64_t step) { return "optimizer-" + std::to_string(step) + ".pt"; }

}  // namespace

Tensor NormalizeAndPad(const Tensor& images01, int image_size) {
  const Tensor x = PadTo(images01, image_size);
  if (x.size(1) == 1) return (x - kMean) / kStd;
  const Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const Tensor std = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  return (x - mean) / std;
}

Tensor PrepareImages(const Tensor& images_u8, int image_size) {
  return NormalizeAndPad(images_u8.to(torch::kFloat) / 255.0, image_size);
}

TrainResult Train(const TrainConfig& c, const ImageDataset& train,
                  const std::function<void(const TrainProgress&)>& on_step) {
  TrainResult result;
  const auto problems = c.Validate();
  if (!problems.empty()) {
    result.status = TrainResult::Status::kFailed;
    result.message = "TrainConfig: " + problems.front();
    return result;
  }
  if (train.size() < c.batch_size) {
    result.status = TrainResult::Status::kFailed;
    result.message = "training set has " + std::to_string(train.size()) +
                     " images, fewer than one batch of " + std::to_string(c.batch_size);
    return result;
  }
  const fs::path dir(c.out_dir);
  fs::create_directories(dir);
  torch::manual_seed(c.seed);  // initial weights
  auto net = MakeNet(c.kind, c.net);
  net->train();

  std::vector<Tensor> decay, no_decay;  // optim_factory: no decay on 1-D params and biases
  for (const auto& p : net->named_parameters())
    (p.value().dim() <= 1 ? no_decay : decay).push_back(p.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay,
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(c.lr).eps(1e-8).weight_decay(c.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(c.lr).eps(1e-8).weight_decay(0)));
  torch::optim::AdamW optimizer(groups);

  const int64_t per_epoch = train.size() / c.batch_size;  // last partial batch dropped
  int64_t total = per_epoch * c.epochs;
  const int64_t warmup = static_cast<int64_t>(c.warmup_epochs * per_epoch);
  const int64_t stop_at = c.max_steps > 0 ? std::min(total, c.max_steps) : total;

  int64_t step = 0;
  if (std::ifstream latest(dir / "latest"); latest) {
    if (!(latest >> step) || step < 0)
      throw std::runtime_error((dir / "latest").string() + ": expected a step number");
    LoadStateDict(*net, (dir / CheckpointName(step)).string());
    torch::load(optimizer, (dir / OptimizerName(step)).string());
    result.resumed_from_step = step;
  }

  auto save_checkpoint = [&](int64_t at) {
    SaveStateDict(*net, (dir / CheckpointName(at)).string());
    torch::save(optimizer, (dir / (OptimizerName(at) + ".partial")).string());
    fs::rename(dir / (OptimizerName(at) + ".partial"), dir / OptimizerName(at));
    int64_t previous = -1;
    if (std::ifstream in(dir / "latest"); in) in >> previous;
    WriteFileAtomically((dir / "latest").string(), std::to_string(at) + "\n");
    if (previous >= 0 && previous != at) {
      fs::remove(dir / CheckpointName(previous));
      fs::remove(dir / OptimizerName(previous));
    }
  };

  const auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  double loss_avg = 0;
  std::vector<int64_t> order(train.size());
  int current_epoch = -1;
  while (step < stop_at) {
    const int epoch = static_cast<int>(step / per_epoch);
    if (epoch != current_epoch) {  // the epoch's order depends on (seed, epoch) only
      std::iota(order.begin(), order.end(), 0);
      std::mt19937_64 shuffle_rng(c.seed * 7919 + epoch);
      std::shuffle(order.begin(), order.end(), shuffle_rng);
      current_epoch = epoch;
    }
    const int64_t first = (step % per_epoch) * c.batch_size;
    const Tensor idx = torch::from_blob(order.data() + first, {c.batch_size}, torch::kLong).clone();
    Tensor images = train.images.index_select(0, idx);
    const Tensor labels = train.labels.index_select(0, idx);
    std::mt19937_64 rng(c.seed * 1000003 + step);
    if (c.augment) images = Augment(images, 2, rng);
    if (c.rand_augment > 0 || c.random_erasing > 0) {
      AugmentConfig a;
      a.rand_augment_magnitude = c.rand_augment;
      a.random_erasing = c.random_erasing;
      images = RandAugmentBatch(images, a, rng);
    }
    torch::manual_seed(c.seed * 1000003 + step);  // dropout
    const double lr = LearningRate(c, step, total, warmup);
    for (auto& g : optimizer.param_groups())
      static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    const auto outputs =
        net->ForwardUntil(PrepareImages(images, c.net.image_size), net->num_exits());
    const Tensor loss = Loss(c, outputs, labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    ++step;
    const double l = loss.item<double>();
    if (!std::isfinite(l)) {
      result.status = TrainResult::Status::kFailed;
      result.message = "loss became " + std::to_string(l) + " at step " + std::to_string(step) +
                       " (lr " + std::to_string(lr) + "); last checkpoint kept";
      return result;
    }
    loss_avg = loss_avg == 0 ? l : 0.98 * loss_avg + 0.02 * l;
    const bool epoch_end = step % per_epoch == 0;
    if (step % c.checkpoint_every == 0 || epoch_end || step == stop_at) save_checkpoint(step);
    if (on_step) {
      const auto now = std::chrono::steady_clock::now();
      TrainProgress p;
      p.step = step, p.total_steps = stop_at, p.epoch = epoch, p.loss = loss_avg, p.lr = lr;
      p.images_per_s = c.batch_size / std::chrono::duration<double>(now - last).count();
      last = now;
      on_step(p);
    }
  }
  result.steps = step;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.weights_path = (dir / "weights.pt").string();
  SaveStateDict(*net, result.weights_path);
  return result;
}

Tensor ExitLogits(MultiExitNet& net, const ImageDataset& data, int image_size, int batch_size) {
  torch::NoGradGuard no_grad;
  net.eval();
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < data.size(); i += batch_size) {
    const int64_t n = std::min<int64_t>(batch_size, data.size() - i);
    const auto outs =
        net.ForwardUntil(PrepareImages(data.images.narrow(0, i, n), image_size), net.num_exits());
    parts.push_back(torch::stack(outs, 1));
  }
  return torch::cat(parts, 0);
}

}  // namespace dyn4d::recognition
