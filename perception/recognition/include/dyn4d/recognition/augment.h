#pragma once
// Training-time image augmentation after the official Dyn-Perceiver recipe
// (timm `create_transform`: RandAugment `rand-m9-mstd0.5-inc1` and
// RandomErasing p 0.25 'pixel'), on the small uint8 crops dyn4d trains on.
// Every random draw comes from the caller's generator, so a run seeded by
// (seed, step) is reproduced exactly when training resumes.
#include <torch/torch.h>

#include <random>

namespace dyn4d::recognition {

/// RandAugment's operations, in timm's `_RAND_INCREASING_TRANSFORMS` order
/// (the "increasing" variants: a larger magnitude is always a stronger change).
enum class AugmentOp {
  kAutoContrast,
  kEqualize,
  kInvert,
  kRotate,
  kPosterize,
  kSolarize,
  kSolarizeAdd,
  kColor,
  kContrast,
  kBrightness,
  kSharpness,
  kShearX,
  kShearY,
  kTranslateX,
  kTranslateY,
};
constexpr int kNumAugmentOps = 15;

/// One operation on one image (C x H x W, uint8), magnitude in [0, 10]
/// (timm's scale); `negate` flips the direction of the signed ones (rotate,
/// shear, translate, and the blend factor of color/contrast/brightness/
/// sharpness). Rotation and shear turn about the image centre (timm's PIL
/// shear pivots on the corner; a letterboxed crop's content is centred).
/// Pixels moved in from outside the image are 0, as the letterbox padding.
torch::Tensor ApplyAugmentOp(AugmentOp op, const torch::Tensor& image_u8, double magnitude,
                             bool negate);

struct AugmentConfig {
  /// RandAugment magnitude (official 9); 0 turns RandAugment off.
  double rand_augment_magnitude = 0;
  double rand_augment_magnitude_std = 0.5;  ///< "mstd0.5": magnitude drawn per op
  int rand_augment_ops = 2;                 ///< operations per image (each applied with p 0.5)
  /// RandomErasing: probability (official 0.25) that one rectangle of 2-33 %
  /// of the image, aspect 0.3-3.3, is replaced by random pixels; 0 = off.
  double random_erasing = 0;
};

/// RandAugment, then RandomErasing, on a batch (N x C x H x W, uint8).
torch::Tensor RandAugmentBatch(const torch::Tensor& images_u8, const AugmentConfig& config,
                               std::mt19937_64& rng);

}  // namespace dyn4d::recognition
