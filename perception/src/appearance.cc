#include "dyn4d/perception/appearance.h"

#include <algorithm>
#include <cmath>

namespace dyn4d::perception {

namespace {
constexpr int kHueBins = 12, kSatBins = 4, kGreyBins = 4;
// Below this saturation (of 255) hue is noise: such pixels count by brightness.
constexpr int kMinSaturation = 40;
}  // namespace

std::vector<float> ColourSignature(const pipeline::Image& color, const pipeline::Box2D& box,
                                   const pipeline::Image& mask) {
  const bool bgr = color.encoding == pipeline::PixelEncoding::kBgr8;
  if (!bgr && color.encoding != pipeline::PixelEncoding::kRgb8) return {};
  const int x0 = std::max(0, static_cast<int>(box.x)), y0 = std::max(0, static_cast<int>(box.y));
  const int x1 = std::min(color.width, static_cast<int>(box.x + box.w));
  const int y1 = std::min(color.height, static_cast<int>(box.y + box.h));
  const bool use_mask = !mask.empty() && mask.encoding == pipeline::PixelEncoding::kMono8;
  std::vector<double> h(kHueBins * kSatBins + kGreyBins, 0.0);
  int n = 0;
  const uint8_t* px = color.data.data();
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      if (use_mask) {
        const int mx = x - static_cast<int>(box.x), my = y - static_cast<int>(box.y);
        if (mx < 0 || my < 0 || mx >= mask.width || my >= mask.height ||
            !mask.data.data()[static_cast<size_t>(my) * mask.width + mx])
          continue;
      }
      const uint8_t* p = px + (static_cast<size_t>(y) * color.width + x) * 3;
      const int r = bgr ? p[2] : p[0], g = p[1], b = bgr ? p[0] : p[2];
      const int mx = std::max({r, g, b}), mn = std::min({r, g, b});
      const int sat = mx == 0 ? 0 : 255 * (mx - mn) / mx;
      if (sat < kMinSaturation || mx - mn == 0) {
        h[kHueBins * kSatBins + std::min(kGreyBins - 1, mx * kGreyBins / 256)] += 1;
      } else {
        double hue;  // degrees
        if (mx == r)
          hue = 60.0 * (g - b) / (mx - mn);
        else if (mx == g)
          hue = 120.0 + 60.0 * (b - r) / (mx - mn);
        else
          hue = 240.0 + 60.0 * (r - g) / (mx - mn);
        if (hue < 0) hue += 360;
        const int hb = std::min(kHueBins - 1, static_cast<int>(hue / 360 * kHueBins));
        const int sb =
            std::min(kSatBins - 1, (sat - kMinSaturation) * kSatBins / (256 - kMinSaturation));
        h[hb * kSatBins + sb] += 1;
      }
      ++n;
    }
  if (n < 20) return {};
  std::vector<float> out(h.size());
  for (size_t k = 0; k < h.size(); ++k) out[k] = static_cast<float>(std::sqrt(h[k] / n));
  return out;  // unit norm: sum of (sqrt(p_k))^2 = 1
}

}  // namespace dyn4d::perception
