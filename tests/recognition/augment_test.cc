// RandAugment's operations and RandomErasing on uint8 crops.
// torch first, then drop glog's CHECK before Catch defines its own.
#include "dyn4d/recognition/augment.h"

#include "dyn4d/recognition/config.h"
#undef CHECK

#include <catch2/catch.hpp>

using namespace dyn4d::recognition;
using torch::Tensor;

namespace {

Tensor Constant(int c, int h, int w, int value) {
  return torch::full({c, h, w}, value, torch::kUInt8);
}

int At(const Tensor& image, int c, int y, int x) { return image[c][y][x].item<int>(); }

// A 3 x 16 x 16 gradient: every pixel differs from its neighbours.
Tensor Gradient() {
  return (torch::arange(3 * 16 * 16, torch::kLong) % 251).view({3, 16, 16}).to(torch::kUInt8);
}

}  // namespace

TEST_CASE("RandAugment's point operations map pixel values as timm's (PIL) do", "[recognition]") {
  Tensor image = Constant(3, 4, 4, 30);
  image[0][0][0] = 20;
  image[1][2][3] = 200;
  const Tensor inverted = ApplyAugmentOp(AugmentOp::kInvert, image, 9, false);
  CHECK(At(inverted, 0, 0, 0) == 235);
  CHECK(At(inverted, 1, 2, 3) == 55);

  // Solarize (increasing): at magnitude 9 the threshold is 256 - 230 = 26.
  const Tensor solarized = ApplyAugmentOp(AugmentOp::kSolarize, image, 9, false);
  CHECK(At(solarized, 0, 0, 0) == 20);
  CHECK(At(solarized, 0, 1, 1) == 225);
  CHECK(ApplyAugmentOp(AugmentOp::kSolarize, image, 0, false).equal(image));

  // Posterize (increasing): magnitude 9 keeps 4 - 3 = 1 bit.
  const Tensor posterized = ApplyAugmentOp(AugmentOp::kPosterize, image, 9, false);
  CHECK(At(posterized, 1, 2, 3) == 128);
  CHECK(At(posterized, 0, 1, 1) == 0);

  // SolarizeAdd: 99 added below 128 at magnitude 9.
  const Tensor added = ApplyAugmentOp(AugmentOp::kSolarizeAdd, image, 9, false);
  CHECK(At(added, 0, 1, 1) == 129);
  CHECK(At(added, 1, 2, 3) == 200);

  // Brightness: factor 1 + 0.9 * 0.5 at magnitude 5, 1 - 0.45 negated.
  const Tensor forty = Constant(3, 2, 2, 40);
  CHECK(At(ApplyAugmentOp(AugmentOp::kBrightness, forty, 5, false), 0, 1, 1) == 58);
  CHECK(At(ApplyAugmentOp(AugmentOp::kBrightness, forty, 5, true), 0, 1, 1) == 22);

  // AutoContrast stretches each channel to 0..255.
  const Tensor stretched = ApplyAugmentOp(AugmentOp::kAutoContrast, image, 9, false);
  CHECK(At(stretched, 0, 0, 0) == 0);
  CHECK(At(stretched, 0, 1, 1) == 255);
  CHECK(At(stretched, 1, 2, 3) == 255);
  CHECK(At(stretched, 2, 0, 0) == 30);  // one value: nothing to stretch

  // Equalize: two values in equal shares go to the ends of the range.
  Tensor halves = Constant(1, 32, 32, 10);
  halves.narrow(1, 16, 16).fill_(20);
  const Tensor equalized = ApplyAugmentOp(AugmentOp::kEqualize, halves, 9, false);
  CHECK(At(equalized, 0, 0, 0) == 0);
  CHECK(At(equalized, 0, 31, 0) == 255);

  // Colour: a grey image has nothing to saturate; a coloured one changes.
  CHECK(ApplyAugmentOp(AugmentOp::kColor, Constant(3, 4, 4, 90), 9, false)
            .equal(Constant(3, 4, 4, 90)));
  Tensor red = Constant(3, 4, 4, 0);
  red[2].fill_(200);  // BGR or RGB alike: one channel lit
  CHECK_FALSE(ApplyAugmentOp(AugmentOp::kColor, red, 9, false).equal(red));
}

TEST_CASE("RandAugment's geometric operations move content, and nothing at magnitude 0",
          "[recognition]") {
  const Tensor gradient = Gradient();
  for (AugmentOp op : {AugmentOp::kRotate, AugmentOp::kShearX, AugmentOp::kShearY,
                       AugmentOp::kTranslateX, AugmentOp::kTranslateY, AugmentOp::kColor,
                       AugmentOp::kContrast, AugmentOp::kBrightness, AugmentOp::kSharpness}) {
    CAPTURE(static_cast<int>(op));
    CHECK(ApplyAugmentOp(op, gradient, 0, false).equal(gradient));
    CHECK_FALSE(ApplyAugmentOp(op, gradient, 9, false).equal(gradient));
  }
  // Translate: 0.45 * 10/10 of 20 px = 9 px, right or (negated) left; what
  // comes in from outside is 0, as the letterbox padding.
  Tensor dot = Constant(1, 20, 20, 0);
  dot[0][10][5] = 255;
  const Tensor right = ApplyAugmentOp(AugmentOp::kTranslateX, dot, 10, false);
  CHECK(At(right, 0, 10, 14) == 255);
  CHECK(right.sum().item<int64_t>() == 255);
  const Tensor left = ApplyAugmentOp(AugmentOp::kTranslateX, dot, 10, true);
  CHECK(left.sum().item<int64_t>() == 0);  // 5 - 9: out of the image
  const Tensor down = ApplyAugmentOp(AugmentOp::kTranslateY, dot, 10, false);
  CHECK(At(down, 0, 19, 5) == 255);
  // Rotation turns about the centre: a centred disc stays, a corner goes.
  Tensor filled = Constant(1, 21, 21, 255);
  const Tensor rotated = ApplyAugmentOp(AugmentOp::kRotate, filled, 10, false);
  CHECK(At(rotated, 0, 10, 10) == 255);
  CHECK(At(rotated, 0, 0, 0) == 0);
  CHECK_THROWS_WITH(ApplyAugmentOp(AugmentOp::kInvert, torch::zeros({4, 4}), 1, false),
                    Catch::Contains("uint8"));
}

TEST_CASE("RandAugmentBatch is reproduced by its seed, and off at magnitude 0", "[recognition]") {
  const Tensor batch = Gradient().unsqueeze(0).repeat({8, 1, 1, 1});
  AugmentConfig off;
  std::mt19937_64 rng(5);
  CHECK(RandAugmentBatch(batch, off, rng).equal(batch));

  AugmentConfig on;
  on.rand_augment_magnitude = 9;
  on.random_erasing = 0.25;
  std::mt19937_64 a(11), b(11), c(12);
  const Tensor first = RandAugmentBatch(batch, on, a);
  CHECK(first.equal(RandAugmentBatch(batch, on, b)));
  CHECK_FALSE(first.equal(RandAugmentBatch(batch, on, c)));
  CHECK(first.sizes() == batch.sizes());
  CHECK(first.scalar_type() == torch::kUInt8);
  int changed = 0;
  for (int i = 0; i < 8; ++i) changed += first[i].equal(batch[i]) ? 0 : 1;
  CHECK(changed >= 2);  // each image: two ops at p 0.5 each, erasing at 0.25

  // Erasing alone, always: one rectangle of 2-33 % of the image, random pixels.
  AugmentConfig erase;
  erase.random_erasing = 1;
  std::mt19937_64 e(3);
  const Tensor zeros = torch::zeros({4, 1, 30, 30}, torch::kUInt8);
  const Tensor erased = RandAugmentBatch(zeros, erase, e);
  for (int i = 0; i < 4; ++i) {
    const double share = erased[i].ne(0).sum().item<double>() / (30 * 30);
    CAPTURE(i, share);
    CHECK(share > 0.015);
    CHECK(share < 0.34);
  }
  CHECK_THROWS_WITH(RandAugmentBatch(torch::zeros({2, 3, 4}, torch::kUInt8), on, e),
                    Catch::Contains("N x C x H x W"));
}

TEST_CASE("the training recipe checks its augmentation settings", "[recognition]") {
  TrainConfig c;
  c.out_dir = "unused";
  CHECK(c.Validate().empty());
  c.rand_augment = 11;
  c.random_erasing = 1.5;
  const auto problems = c.Validate();
  REQUIRE(problems.size() == 2);
  CHECK_THAT(problems[0], Catch::Contains("rand_augment"));
  CHECK_THAT(problems[1], Catch::Contains("random_erasing"));
}
