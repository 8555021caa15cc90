#pragma once
// The fuzzer's input format, shared with the seed writer: one byte with the
// number of frames, then per frame a 4-byte little-endian length and the
// bytes (lengths are clamped to what is left, so every input is usable).
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dyn4d/pipeline/codec.h"

namespace dyn4d::fuzz {

inline std::vector<pipeline::Buffer> Split(const uint8_t* data, size_t size) {
  std::vector<pipeline::Buffer> frames;
  if (size == 0) return frames;
  const int n = data[0] % 16;
  size_t pos = 1;
  for (int i = 0; i < n; ++i) {
    uint32_t len = 0;
    if (pos + 4 <= size) std::memcpy(&len, data + pos, 4);
    pos = std::min(size, pos + 4);
    len = static_cast<uint32_t>(std::min<size_t>(len, size - pos));
    frames.push_back(pipeline::Buffer::CopyOf(data + pos, len));
    pos += len;
  }
  return frames;
}

inline std::string Join(const pipeline::WireMessage& w) {
  std::vector<std::string> frames = {w.topic, std::string(w.header.begin(), w.header.end())};
  for (const auto& b : w.payload) frames.emplace_back(b.view());
  std::string out(1, static_cast<char>(frames.size()));
  for (const std::string& f : frames) {
    uint32_t len = static_cast<uint32_t>(f.size());
    out.append(reinterpret_cast<const char*>(&len), 4);
    out += f;
  }
  return out;
}

}  // namespace dyn4d::fuzz
