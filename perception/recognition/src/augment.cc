#include "dyn4d/recognition/augment.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dyn4d::recognition {
using torch::Tensor;

namespace {

constexpr double kMaxLevel = 10;  // timm's _LEVEL_DENOM

// ITU-R 601-2 luma, as PIL's convert("L").
Tensor Luma(const Tensor& x) {
  if (x.size(0) != 3) return x.mean(0, true);
  return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0);
}

Tensor Blend(const Tensor& degenerate, const Tensor& x, double factor) {
  return degenerate + factor * (x - degenerate);
}

// Samples the image (float, C x H x W) through `a`, a 2x2 map from an output
// pixel's offset to the centre to the input's, plus `shift` pixels; outside
// is 0 (the letterbox padding).
Tensor Affine(const Tensor& x, double a00, double a01, double a10, double a11, double shift_x,
              double shift_y) {
  const double w = x.size(2), h = x.size(1);
  // align_corners=false: normalised u = (pixel - centre) / (size / 2).
  const Tensor theta =
      torch::tensor({{a00, a01 * h / w, 2 * shift_x / w}, {a10 * w / h, a11, 2 * shift_y / h}},
                    torch::kFloat)
          .unsqueeze(0);
  namespace F = torch::nn::functional;
  const Tensor grid = F::affine_grid(theta, {1, x.size(0), x.size(1), x.size(2)}, false);
  return F::grid_sample(x.unsqueeze(0), grid,
                        F::GridSampleFuncOptions()
                            .mode(torch::kBilinear)
                            .padding_mode(torch::kZeros)
                            .align_corners(false))
      .squeeze(0);
}

// PIL ImageOps.equalize on one channel of values 0..255.
Tensor EqualizeChannel(const Tensor& c) {
  const Tensor idx = c.round().clamp(0, 255).to(torch::kLong).flatten();
  const Tensor hist = torch::bincount(idx, {}, 256);
  const auto* h = hist.data_ptr<int64_t>();
  int64_t last = 255;
  while (last > 0 && h[last] == 0) --last;
  const int64_t total = hist.sum().item<int64_t>();
  const int64_t step = (total - h[last]) / 255;
  if (step == 0) return c;
  std::vector<float> lut(256);
  int64_t n = step / 2;
  for (int i = 0; i < 256; ++i) {
    lut[i] = static_cast<float>(std::min<int64_t>(255, n / step));
    n += h[i];
  }
  const Tensor table = torch::tensor(lut);
  return table.index_select(0, idx).view_as(c);
}

double Signed(double v, bool negate) { return negate ? -v : v; }

}  // namespace

Tensor ApplyAugmentOp(AugmentOp op, const Tensor& image_u8, double magnitude, bool negate) {
  if (image_u8.dim() != 3 || image_u8.scalar_type() != torch::kUInt8)
    throw std::invalid_argument("ApplyAugmentOp: expects one C x H x W uint8 image");
  const double level = std::clamp(magnitude, 0.0, kMaxLevel) / kMaxLevel;
  const Tensor x = image_u8.to(torch::kFloat);
  // timm's enhance ops: factor 1 +- 0.9 * level (a factor of 1 changes nothing).
  const double factor = 1.0 + Signed(0.9 * level, negate);
  Tensor y;
  switch (op) {
    case AugmentOp::kAutoContrast: {
      const Tensor lo = std::get<0>(x.flatten(1).min(1)).view({-1, 1, 1});
      const Tensor hi = std::get<0>(x.flatten(1).max(1)).view({-1, 1, 1});
      const Tensor range = hi - lo;
      y = torch::where(range > 0, (x - lo) * 255.0 / range.clamp_min(1), x);
      break;
    }
    case AugmentOp::kEqualize: {
      std::vector<Tensor> channels;
      for (int64_t c = 0; c < x.size(0); ++c) channels.push_back(EqualizeChannel(x[c]));
      y = torch::stack(channels);
      break;
    }
    case AugmentOp::kInvert:
      y = 255.0 - x;
      break;
    case AugmentOp::kRotate: {
      const double a = Signed(30.0 * level, negate) * M_PI / 180.0;
      y = Affine(x, std::cos(a), -std::sin(a), std::sin(a), std::cos(a), 0, 0);
      break;
    }
    case AugmentOp::kPosterize: {  // increasing: 4 bits at level 0 down to 0
      const int bits = 4 - static_cast<int>(level * 4);
      const int64_t mask = (0xFF << (8 - bits)) & 0xFF;
      y = image_u8.bitwise_and(mask).to(torch::kFloat);
      break;
    }
    case AugmentOp::kSolarize: {  // increasing: threshold 256 at level 0 down to 0
      const double threshold = 256 - static_cast<int>(level * 256);
      y = torch::where(x >= threshold, 255.0 - x, x);
      break;
    }
    case AugmentOp::kSolarizeAdd: {
      const double add = static_cast<int>(level * 110);
      y = torch::where(x < 128, (x + add).clamp_max(255), x);
      break;
    }
    case AugmentOp::kColor:
      y = Blend(Luma(x).expand_as(x), x, factor);
      break;
    case AugmentOp::kContrast:
      y = Blend(torch::full_like(x, std::round(Luma(x).mean().item<double>())), x, factor);
      break;
    case AugmentOp::kBrightness:
      y = x * factor;
      break;
    case AugmentOp::kSharpness: {  // PIL's SMOOTH kernel; the border stays as it is
      const Tensor k = torch::tensor({1.f, 1.f, 1.f, 1.f, 5.f, 1.f, 1.f, 1.f, 1.f})
                           .view({1, 1, 3, 3})
                           .div(13)
                           .expand({x.size(0), 1, 3, 3});
      namespace F = torch::nn::functional;
      Tensor smooth = x.clone();
      if (x.size(1) > 2 && x.size(2) > 2) {
        const Tensor inner =
            F::conv2d(x.unsqueeze(0), k.contiguous(), F::Conv2dFuncOptions().groups(x.size(0)))
                .squeeze(0);
        smooth.narrow(1, 1, x.size(1) - 2).narrow(2, 1, x.size(2) - 2).copy_(inner);
      }
      y = Blend(smooth, x, factor);
      break;
    }
    case AugmentOp::kShearX:
      y = Affine(x, 1, Signed(0.3 * level, negate), 0, 1, 0, 0);
      break;
    case AugmentOp::kShearY:
      y = Affine(x, 1, 0, Signed(0.3 * level, negate), 1, 0, 0);
      break;
    case AugmentOp::kTranslateX:  // content moves by 0.45 * level of the width
      y = Affine(x, 1, 0, 0, 1, -Signed(0.45 * level * x.size(2), negate), 0);
      break;
    case AugmentOp::kTranslateY:
      y = Affine(x, 1, 0, 0, 1, 0, -Signed(0.45 * level * x.size(1), negate));
      break;
  }
  return y.round().clamp(0, 255).to(torch::kUInt8);
}

Tensor RandAugmentBatch(const Tensor& images_u8, const AugmentConfig& config,
                        std::mt19937_64& rng) {
  if (images_u8.dim() != 4 || images_u8.scalar_type() != torch::kUInt8)
    throw std::invalid_argument("RandAugmentBatch: expects N x C x H x W uint8 images");
  Tensor out = images_u8.clone();
  std::uniform_int_distribution<int> pick(0, kNumAugmentOps - 1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::normal_distribution<double> gauss(0.0, 1.0);
  const int64_t h = out.size(2), w = out.size(3);
  for (int64_t i = 0; i < out.size(0); ++i) {
    Tensor image = out[i];
    if (config.rand_augment_magnitude > 0) {
      for (int k = 0; k < config.rand_augment_ops; ++k) {
        const auto op = static_cast<AugmentOp>(pick(rng));
        const bool apply = unit(rng) < 0.5;
        const double m = std::clamp(
            config.rand_augment_magnitude + config.rand_augment_magnitude_std * gauss(rng), 0.0,
            kMaxLevel);
        const bool negate = unit(rng) < 0.5;
        if (apply) image = ApplyAugmentOp(op, image, m, negate);
      }
    }
    if (config.random_erasing > 0 && unit(rng) < config.random_erasing) {
      for (int attempt = 0; attempt < 10; ++attempt) {  // timm RandomErasing
        const double area = (0.02 + unit(rng) * (1.0 / 3 - 0.02)) * h * w;
        const double aspect =
            std::exp(std::log(0.3) + unit(rng) * (std::log(1 / 0.3) - std::log(0.3)));
        const int64_t eh = std::lround(std::sqrt(area * aspect));
        const int64_t ew = std::lround(std::sqrt(area / aspect));
        if (eh < 1 || ew < 1 || eh >= h || ew >= w) continue;
        const int64_t top = std::uniform_int_distribution<int64_t>(0, h - eh)(rng);
        const int64_t left = std::uniform_int_distribution<int64_t>(0, w - ew)(rng);
        std::vector<uint8_t> noise(static_cast<size_t>(image.size(0) * eh * ew));
        std::uniform_int_distribution<int> byte(0, 255);
        for (auto& v : noise) v = static_cast<uint8_t>(byte(rng));
        // `image` is this batch's own copy (out[i], or an op's result).
        image.narrow(1, top, eh)
            .narrow(2, left, ew)
            .copy_(torch::from_blob(noise.data(), {image.size(0), eh, ew}, torch::kUInt8));
        break;
      }
    }
    out[i].copy_(image);
  }
  return out;
}

}  // namespace dyn4d::recognition
