// libFuzzer entry: Decode must never crash, hang or read out of bounds, and
// whatever it accepts must re-encode to something it accepts again.
#include <cstdlib>

#include "fuzz_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dyn4d::pipeline;
  DecodeResult r = Decode(dyn4d::fuzz::Split(data, size));
  if (!r.ok()) {
    if (r.error.empty()) std::abort();  // every rejection must say why
    return 0;
  }
  WireMessage w = Encode(r.topic, r.message);
  std::vector<Buffer> frames = {Buffer::CopyOf(w.topic),
                                Buffer::CopyOf(w.header.data(), w.header.size())};
  frames.insert(frames.end(), w.payload.begin(), w.payload.end());
  DecodeResult again = Decode(frames);
  if (!again.ok() || TypeName(again.message) != TypeName(r.message)) std::abort();
  return 0;
}
