// Key frames for the MLLM: base64, spacing and thinning, the mask overlay.
#include "dyn4d/reasoning/key_frames.h"

#include <catch2/catch.hpp>

#include "dyn4d/pipeline/codec.h"

using namespace dyn4d;
using pipeline::Base64;

TEST_CASE("base64 (RFC 4648 test vectors)", "[reasoning]") {
  auto b = [](const std::string& s) { return Base64(s.data(), s.size()); };
  CHECK(b("") == "");
  CHECK(b("f") == "Zg==");
  CHECK(b("fo") == "Zm8=");
  CHECK(b("foo") == "Zm9v");
  CHECK(b("foob") == "Zm9vYg==");
  CHECK(b("foobar") == "Zm9vYmFy");
}

TEST_CASE("key frames: spread over the stream, the queried object highlighted", "[reasoning]") {
  reasoning::KeyFrames kf(4, 0.5);
  for (int i = 0; i < 300; ++i) {  // 10 s at 30 fps
    pipeline::RgbdFrame f;
    f.meta.seq = i;
    f.meta.stamp_ns = static_cast<int64_t>(i) * 33333333;
    f.color = pipeline::Image::Allocate(64, 48, pipeline::PixelEncoding::kBgr8);
    std::fill(f.color.data.mutable_data(), f.color.data.mutable_data() + 64 * 48 * 3, 100);
    pipeline::Tracks t;
    pipeline::Track a;
    a.track_id = 7;
    a.box = {10, 10, 20, 20};
    a.mask = pipeline::Image::Allocate(20, 20, pipeline::PixelEncoding::kMono8);
    std::fill(a.mask.data.mutable_data(), a.mask.data.mutable_data() + 400, 255);
    if (i < 150) t.items.push_back(a);  // seen in the first half only
    kf.Add(f, t);
  }
  CHECK(kf.size() >= 2);
  CHECK(kf.size() <= 4);
  const auto all = kf.DataUrls(-1);
  const auto with_7 = kf.DataUrls(7);
  CHECK(all.size() == kf.size());
  CHECK(with_7.size() < all.size());  // only the frames where #7 is seen
  CHECK_FALSE(with_7.empty());
  for (const auto& u : with_7) CHECK(u.rfind("data:image/jpeg;base64,/9j/", 0) == 0);
  CHECK(with_7[0] != all[0]);     // the overlay changed the image
  CHECK(kf.DataUrls(99) == all);  // never seen: plain frames
}
